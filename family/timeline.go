package family

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	dto "github.com/prometheus/client_model/go"
)

// Timeline collects samples of metric families over time and writes them as
// OpenMetrics with timestamps, for promtool's "tsdb create-blocks-from
// openmetrics". promtool wants each family's samples contiguous, while they
// are gathered step by step across all families; so each family's samples
// are appended to a temporary file of its own and the files are joined at
// the end. Memory holds only the set of series seen (for their zero
// samples), not the samples.
type Timeline struct {
	dir      string
	families map[string]*timelineFamily
	order    []string // family names in first-seen order, sorted at the end
	prev     time.Time
	hasPrev  bool
	start    time.Time // time of the zero samples of the first Sample's series
}

// timelineFamily is the samples of one family, in its temporary file.
type timelineFamily struct {
	typ, help string
	file      *os.File
	buf       *bufio.Writer
	seen      map[string]bool // series (label sets) already written
}

// NewTimeline returns a Timeline keeping its temporary files in a new directory
// under dir (os.TempDir when empty). Close removes them.
func NewTimeline(dir string) (*Timeline, error) {
	d, err := os.MkdirTemp(dir, "mirrord-backfill-")
	if err != nil {
		return nil, fmt.Errorf("temporary directory: %w", err)
	}
	return &Timeline{dir: d, families: map[string]*timelineFamily{}}, nil
}

// Close removes the temporary files.
func (w *Timeline) Close() error {
	for _, f := range w.families {
		f.file.Close()
	}
	return os.RemoveAll(w.dir)
}

// Sample records the value of every counter, gauge and histogram series of
// families at t, which must be later than the previous call's. A counter or
// histogram series seen for the first time also gets a zero sample at the
// previous step's time, so that increase() over a range covering its birth
// counts its first events instead of taking them as the starting value.
func (w *Timeline) Sample(families []*dto.MetricFamily, t time.Time) error {
	if w.hasPrev && Millis(t) <= Millis(w.prev) {
		return fmt.Errorf("sample at %s is not after the previous one at %s", t, w.prev)
	}
	zeroAt, zero := w.prev, w.hasPrev
	if !zero && !w.start.IsZero() && Millis(w.start) < Millis(t) {
		zeroAt, zero = w.start, true
	}
	for _, mf := range families {
		typ, ok := typeName(mf.GetType())
		if !ok {
			continue
		}
		f, err := w.family(mf, typ)
		if err != nil {
			return err
		}
		for _, m := range mf.GetMetric() {
			labels := labelString(m.GetLabel())
			if !f.seen[labels] {
				f.seen[labels] = true
				if typ != "gauge" && zero {
					writeTimedMetric(f.buf, mf.GetName(), typ, labels, zeroOf(m), zeroAt)
				}
			}
			writeTimedMetric(f.buf, mf.GetName(), typ, labels, m, t)
		}
	}
	w.prev, w.hasPrev = t, true
	return nil
}

// Start sets the time of the zero samples of the series seen in the first
// Sample: the step boundary at or before the first event.
func (w *Timeline) Start(t time.Time) { w.start = t }

func (w *Timeline) family(mf *dto.MetricFamily, typ string) (*timelineFamily, error) {
	name := mf.GetName()
	if f, ok := w.families[name]; ok {
		return f, nil
	}
	file, err := os.CreateTemp(w.dir, "family-")
	if err != nil {
		return nil, fmt.Errorf("temporary file of %s: %w", name, err)
	}
	f := &timelineFamily{typ: typ, help: mf.GetHelp(), file: file, buf: bufio.NewWriterSize(file, 64<<10), seen: map[string]bool{}}
	w.families[name] = f
	w.order = append(w.order, name)
	return f, nil
}

// WriteTo writes every family, sorted by name, with its TYPE and HELP, and
// the closing # EOF.
func (w *Timeline) WriteTo(out io.Writer) (int64, error) {
	bw := bufio.NewWriterSize(out, 64<<10)
	cw := &countWriter{w: bw}
	names := append([]string(nil), w.order...)
	sort.Strings(names)
	for _, name := range names {
		f := w.families[name]
		if err := f.buf.Flush(); err != nil {
			return cw.n, fmt.Errorf("write samples of %s: %w", name, err)
		}
		if _, err := f.file.Seek(0, io.SeekStart); err != nil {
			return cw.n, fmt.Errorf("rewind samples of %s: %w", name, err)
		}
		fname := openMetricsName(name, f.typ)
		fmt.Fprintf(cw, "# TYPE %s %s\n", fname, f.typ)
		if f.help != "" {
			fmt.Fprintf(cw, "# HELP %s %s\n", fname, appendEscaped(nil, f.help, false))
		}
		if _, err := io.Copy(cw, f.file); err != nil {
			return cw.n, fmt.Errorf("copy samples of %s: %w", name, err)
		}
	}
	io.WriteString(cw, "# EOF\n")
	if err := bw.Flush(); err != nil {
		return cw.n, fmt.Errorf("write OpenMetrics: %w", err)
	}
	return cw.n, nil
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

func typeName(t dto.MetricType) (string, bool) {
	switch t {
	case dto.MetricType_COUNTER:
		return "counter", true
	case dto.MetricType_GAUGE:
		return "gauge", true
	case dto.MetricType_HISTOGRAM:
		return "histogram", true
	}
	return "", false
}

// openMetricsName is the OpenMetrics family name: a counter's samples end in
// _total, its family name does not.
func openMetricsName(name, typ string) string {
	if typ == "counter" {
		return strings.TrimSuffix(name, "_total")
	}
	return name
}

// zeroOf is m with every value at zero: a series before its first event.
func zeroOf(m *dto.Metric) *dto.Metric {
	z := &dto.Metric{Counter: &dto.Counter{Value: new(float64)}}
	if h := m.GetHistogram(); h != nil {
		zh := &dto.Histogram{SampleCount: new(uint64), SampleSum: new(float64)}
		for _, b := range h.GetBucket() {
			zh.Bucket = append(zh.Bucket, &dto.Bucket{UpperBound: b.UpperBound, CumulativeCount: new(uint64)})
		}
		z = &dto.Metric{Histogram: zh}
	}
	return z
}

func writeTimedMetric(w *bufio.Writer, name, typ, labels string, m *dto.Metric, t time.Time) {
	ts := formatTime(t)
	switch typ {
	case "counter":
		writeTimedSample(w, name, labels, "", m.GetCounter().GetValue(), ts)
	case "gauge":
		writeTimedSample(w, name, labels, "", m.GetGauge().GetValue(), ts)
	case "histogram":
		h := m.GetHistogram()
		infSeen := false
		var le []byte
		for _, b := range h.GetBucket() {
			if math.IsInf(b.GetUpperBound(), +1) {
				infSeen = true
			}
			le = appendFloat(append(le[:0], `le="`...), b.GetUpperBound(), PrometheusText)
			writeTimedSample(w, name+"_bucket", labels, string(append(le, '"')), float64(b.GetCumulativeCount()), ts)
		}
		if !infSeen {
			writeTimedSample(w, name+"_bucket", labels, `le="+Inf"`, float64(h.GetSampleCount()), ts)
		}
		writeTimedSample(w, name+"_sum", labels, "", h.GetSampleSum(), ts)
		writeTimedSample(w, name+"_count", labels, "", float64(h.GetSampleCount()), ts)
	}
}

// writeTimedSample writes a sample line. The value is written as in the
// Prometheus text format (no ".0" on integers), which promtool reads.
func writeTimedSample(w *bufio.Writer, name, labels, extra string, v float64, ts string) {
	w.WriteString(name)
	if labels != "" || extra != "" {
		w.WriteByte('{')
		w.WriteString(labels)
		if labels != "" && extra != "" {
			w.WriteByte(',')
		}
		w.WriteString(extra)
		w.WriteByte('}')
	}
	w.WriteByte(' ')
	var b [32]byte
	w.Write(appendFloat(b[:0], v, PrometheusText))
	w.WriteByte(' ')
	w.WriteString(ts)
	w.WriteByte('\n')
}

// labelString writes labels sorted by name, values escaped as OpenMetrics
// wants (backslash, double quote, newline).
func labelString(labels []*dto.LabelPair) string {
	pairs := append([]*dto.LabelPair(nil), labels...)
	sort.Slice(pairs, func(i, j int) bool { return pairs[i].GetName() < pairs[j].GetName() })
	var b []byte
	for i, l := range pairs {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, l.GetName()...)
		b = append(b, `="`...)
		b = appendEscaped(b, l.GetValue(), true)
		b = append(b, '"')
	}
	return string(b)
}

// Millis is t in the milliseconds Prometheus stores, rounded up so that a
// final sample a fraction of a millisecond after a step boundary still comes
// after that boundary's sample.
func Millis(t time.Time) int64 {
	ms := t.UnixMilli()
	if time.UnixMilli(ms).Before(t) {
		ms++
	}
	return ms
}

// formatTime is t in seconds since the epoch, as OpenMetrics wants.
func formatTime(t time.Time) string {
	return strconv.FormatFloat(float64(Millis(t))/1e3, 'f', -1, 64)
}
