package family

import (
	"bytes"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// The capped families can write themselves in the Prometheus text,
// OpenMetrics and protobuf formats, for --once and /metrics. Gathering them through
// client_golang builds a dto.Metric with its label pairs for every series
// before expfmt prints it: on the info-level benchmark log that took a fifth
// of the replay's time, on one goroutine, and raised its peak RSS from 55 to
// 83 MB; a serving exporter's RSS doubled at each scrape. The output is
// expfmt's, byte for byte (TestExpositionMatchesExpfmt).

// Format is an exposition format.
type Format int

const (
	// PrometheusText is text/plain; version=0.0.4.
	PrometheusText Format = iota
	// OpenMetricsText is application/openmetrics-text, versions 0.0.1
	// and 1.0.0, without created samples.
	OpenMetricsText
	// ProtobufDelimited is application/vnd.google.protobuf, delimited
	// io.prometheus.client.MetricFamily messages.
	ProtobufDelimited
)

// Exposer is a metric family that writes its own exposition, and can be
// gathered as any other.
type Exposer interface {
	prometheus.Collector
	Name() string
	// WriteExposition writes the family as expfmt writes what Gather
	// makes of it: the series sorted by label values; nothing when it has
	// no series, as Gather leaves out such families.
	WriteExposition(w io.Writer, f Format) error
}

// Metric is the metric of a series of an Vec, which writes its
// value in each format; the labels are the series' and the family's.
type Metric interface {
	// writeValue sets out's value fields, for a family of type typ.
	writeValue(out *dto.Metric, typ dto.MetricType)
	// appendExposition appends its sample lines in a text format.
	appendExposition(b []byte, ls *labelSet, values []string, f Format) []byte
	// appendProtobuf appends its Metric message.
	appendProtobuf(b []byte, ls *labelSet, values []string, sc *protoScratch) []byte
}

// flushSize is how many bytes WriteExposition gathers before each write.
const flushSize = 32 << 10

// Name returns the family's name.
func (v *Vec[T]) Name() string { return v.labels.name }

// WriteExposition implements Exposer.
func (v *Vec[T]) WriteExposition(w io.Writer, f Format) error {
	v.mu.Lock()
	series := make([]*Series[T], 0, v.series.len())
	for s := range v.series.all {
		series = append(series, s)
	}
	v.mu.Unlock()
	if len(series) == 0 {
		return nil
	}
	// A series' label values never change, and its value is read as a
	// scrape reads it: the lock is not needed past the copy.
	order := v.labels.order
	slices.SortFunc(series, func(a, b *Series[T]) int {
		for _, j := range order {
			if c := strings.Compare(a.values[j], b.values[j]); c != 0 {
				return c
			}
		}
		return 0
	})
	if f == ProtobufDelimited {
		return v.writeProtobuf(w, series)
	}
	b := v.labels.appendHeader(make([]byte, 0, flushSize+4096), f)
	for _, s := range series {
		b = s.metric.appendExposition(b, v.labels, s.values, f)
		if len(b) >= flushSize {
			if _, err := w.Write(b); err != nil {
				return err
			}
			b = b[:0]
		}
	}
	_, err := w.Write(b)
	return err
}

// appendHeader appends the family's HELP and TYPE lines. OpenMetrics names
// a counter family without its _total suffix and escapes quotes in HELP.
func (ls *labelSet) appendHeader(b []byte, f Format) []byte {
	name, typ := ls.name, strings.ToLower(ls.typ.String())
	if f == OpenMetricsText && ls.typ == dto.MetricType_COUNTER {
		var ok bool
		if name, ok = strings.CutSuffix(name, "_total"); !ok {
			typ = "unknown"
		}
	}
	b = append(b, "# HELP "...)
	b = append(b, name...)
	b = append(b, ' ')
	b = appendEscaped(b, ls.help, f == OpenMetricsText)
	b = append(b, "\n# TYPE "...)
	b = append(b, name...)
	b = append(b, ' ')
	b = append(b, typ...)
	return append(b, '\n')
}

// appendSeries appends the start of a sample line: the family's name with
// suffix, the series' labels (and le, when not empty, last) and a space.
func (ls *labelSet) appendSeries(b []byte, suffix string, values []string, le []byte) []byte {
	b = append(b, ls.name...)
	b = append(b, suffix...)
	if len(values) > 0 || len(le) > 0 {
		sep := byte('{')
		for i, j := range ls.order {
			b = append(b, sep)
			b = append(b, *ls.names[i]...)
			b = append(b, '=', '"')
			b = appendEscaped(b, values[j], true)
			b = append(b, '"')
			sep = ','
		}
		if len(le) > 0 {
			b = append(b, sep)
			b = append(b, `le="`...)
			b = append(b, le...)
			b = append(b, '"')
		}
		b = append(b, '}')
	}
	return append(b, ' ')
}

// appendEscaped appends s escaped as the text format wants: backslash and
// newline always, the double quote in label values.
func appendEscaped(b []byte, s string, quoted bool) []byte {
	if !strings.ContainsAny(s, "\\\n\"") {
		return append(b, s...)
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\':
			b = append(b, `\\`...)
		case c == '\n':
			b = append(b, `\n`...)
		case c == '"' && quoted:
			b = append(b, `\"`...)
		default:
			b = append(b, c)
		}
	}
	return b
}

// appendFloat appends f as expfmt writes it in format f.
func appendFloat(b []byte, v float64, f Format) []byte {
	switch {
	case math.IsNaN(v):
		return append(b, "NaN"...)
	case math.IsInf(v, +1):
		return append(b, "+Inf"...)
	case math.IsInf(v, -1):
		return append(b, "-Inf"...)
	case v == 0 && f == OpenMetricsText:
		return append(b, "0.0"...) // -0 included
	case v == 0:
		return append(b, '0')
	}
	start := len(b)
	b = strconv.AppendFloat(b, v, 'g', -1, 64)
	if f == OpenMetricsText && !bytes.ContainsAny(b[start:], "e.") {
		b = append(b, '.', '0')
	}
	return b
}

// appendCount appends a count: as a float in the Prometheus format, as an
// integer in OpenMetrics.
func appendCount(b []byte, n uint64, f Format) []byte {
	if f == OpenMetricsText {
		return strconv.AppendUint(b, n, 10)
	}
	return appendFloat(b, float64(n), f)
}

func (s *Scalar) appendExposition(b []byte, ls *labelSet, values []string, f Format) []byte {
	b = ls.appendSeries(b, "", values, nil)
	return append(appendFloat(b, s.Value(), f), '\n')
}

func (h *Histogram) appendExposition(b []byte, ls *labelSet, values []string, f Format) []byte {
	h.mu.Lock()
	defer h.mu.Unlock()
	var le [32]byte
	var cum uint64
	for i, upper := range h.upper {
		cum += h.buckets[i]
		b = ls.appendSeries(b, "_bucket", values, appendFloat(le[:0], upper, f))
		b = append(appendCount(b, cum, f), '\n')
	}
	if len(h.upper) == 0 || !math.IsInf(h.upper[len(h.upper)-1], +1) {
		b = ls.appendSeries(b, "_bucket", values, appendFloat(le[:0], math.Inf(+1), f))
		b = append(appendCount(b, h.count, f), '\n')
	}
	b = ls.appendSeries(b, "_sum", values, nil)
	b = append(appendFloat(b, h.sum, f), '\n')
	b = ls.appendSeries(b, "_count", values, nil)
	return append(appendCount(b, h.count, f), '\n')
}
