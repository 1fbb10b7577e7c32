package exporter_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mirrord-exporter/mirrord-exporter/blocks"
	"github.com/mirrord-exporter/mirrord-exporter/exporter"
	"github.com/mirrord-exporter/mirrord-exporter/family"
	"github.com/mirrord-exporter/mirrord-exporter/internal/exportertest"
	"github.com/mirrord-exporter/mirrord-exporter/internal/loggen"
	"github.com/mirrord-exporter/mirrord-exporter/internal/prometheustest"
)

// durationFamily is the duration histogram; under its own name, in the
// TSDB-written blocks, is its native series.
const durationFamily = "mirrord_session_duration_seconds"

// rawStream is the raw (unwrapped) lines of one input file, their
// timestamps, and which are functional records (events).
type rawStream struct {
	lines      [][]byte
	times      []time.Time
	functional []bool
}

// functionalMessages are the messages of the operator's records that the
// exporter takes as events, in both spellings.
var functionalMessages = []string{
	"Session Start", "Session Started", "Session End", "Session Ended", "Port Steal", "Port Stolen",
	"Port Mirror", "Port Mirrored", "Port Release", "Port Released", "Copy Target", "Target Copied",
	"Max seat count reached!", "Message Processing",
}

// writeReplica writes the log cfg describes, in cfg's wrapper, as parts
// files cut by time (a rotated log: name.log.2, name.log.1, name.log), and
// returns their paths, the raw lines of each part (the same records: loggen's
// records do not depend on the wrapper) and the truth of the whole log.
func writeReplica(t *testing.T, dir, name string, cfg loggen.Config, parts int) ([]string, []rawStream, loggen.Truth) {
	t.Helper()
	var wrapped, raw bytes.Buffer
	if _, err := loggen.Generate(&wrapped, cfg); err != nil {
		t.Fatal(err)
	}
	rawCfg := cfg
	rawCfg.Wrapper = loggen.Raw
	truth, err := loggen.Generate(&raw, rawCfg)
	if err != nil {
		t.Fatal(err)
	}
	lines := func(b []byte) [][]byte {
		l := bytes.SplitAfter(b, []byte("\n"))
		return l[:len(l)-1] // each with its newline
	}
	wLines, rLines := lines(wrapped.Bytes()), lines(raw.Bytes())
	// Without big lines or nasty parts, a record is one line in every wrapper.
	if len(wLines) != len(rLines) {
		t.Fatalf("%s: %d lines in %s, %d raw", name, len(wLines), cfg.Wrapper, len(rLines))
	}
	var paths []string
	var streams []rawStream
	for p := range parts {
		lo, hi := p*len(rLines)/parts, (p+1)*len(rLines)/parts
		path := filepath.Join(dir, name+".log")
		if n := parts - 1 - p; n > 0 {
			path += "." + strconv.Itoa(n)
		}
		if err := os.WriteFile(path, bytes.Join(wLines[lo:hi], nil), 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, path)
		s := rawStream{lines: rLines[lo:hi]}
		for _, line := range s.lines {
			var rec struct {
				Timestamp time.Time `json:"timestamp"`
				Message   string    `json:"message"`
				Fields    struct {
					Message string `json:"message"`
				} `json:"fields"`
			}
			if err := json.Unmarshal(line, &rec); err != nil || rec.Timestamp.IsZero() {
				t.Fatalf("line without a timestamp in the generated log: %q (%v)", line, err)
			}
			s.times = append(s.times, rec.Timestamp)
			s.functional = append(s.functional, slices.Contains(functionalMessages, rec.Message+rec.Fields.Message))
		}
		streams = append(streams, s)
	}
	return paths, streams, truth
}

// mergedLog is the raw lines of several streams in one time order, as an
// independent model of the backfill's merge: the stream whose next line is
// earliest first, the earlier stream for equal times.
type mergedLog struct {
	log   []byte
	ends  []int // ends[i]: end of line i in log
	times []time.Time
	// last is the time of the last event: that of the backfill's last
	// sample; records of other kinds may follow.
	last time.Time
}

func mergeStreams(streams []rawStream) mergedLog {
	var m mergedLog
	next := make([]int, len(streams))
	for {
		best := -1
		for i, s := range streams {
			if next[i] < len(s.lines) && (best < 0 || s.times[next[i]].Before(streams[best].times[next[best]])) {
				best = i
			}
		}
		if best < 0 {
			return m
		}
		s := streams[best]
		m.log = append(m.log, s.lines[next[best]]...)
		m.ends = append(m.ends, len(m.log))
		m.times = append(m.times, s.times[next[best]])
		if s.functional[next[best]] {
			m.last = s.times[next[best]]
		}
		next[best]++
	}
}

// until is the merged log up to its first line stamped after end, as
// exportertest.LogUntil cuts one: the logs as the operators had written
// them at end.
func (m mergedLog) until(end time.Time) []byte {
	n := 0
	for i, ts := range m.times {
		if ts.After(end) {
			break
		}
		n = m.ends[i]
	}
	return m.log[:n]
}

// backfill replays cfg's inputs once, in time order, into out.
func backfill(cfg exporter.Config, step time.Duration, out exporter.BackfillOutputs) error {
	cfg.Once, cfg.InTimeOrder = true, true
	e, err := exporter.New(cfg)
	if err != nil {
		return err
	}
	return e.Backfill(context.Background(), out, step)
}

// tsdbStats is the samples of the blocks in dir, as their meta.json count
// them, and the bytes of its files.
func tsdbStats(t *testing.T, dir string) (samples, size int64) {
	t.Helper()
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		size += info.Size()
		if d.Name() == "meta.json" {
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			var meta struct {
				Stats struct {
					NumSamples int64 `json:"numSamples"`
				} `json:"stats"`
			}
			if err := json.Unmarshal(b, &meta); err != nil {
				return fmt.Errorf("%s: %w", path, err)
			}
			samples += meta.Stats.NumSamples
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return samples, size
}

// startPrometheus runs Prometheus on the data directory until the test ends
// (or ctx, a hang guard) and returns its URL once it is ready.
func startPrometheus(ctx context.Context, t *testing.T, bin, data string, flags ...string) string {
	t.Helper()
	promConfig := filepath.Join(t.TempDir(), "prometheus.yml")
	if err := os.WriteFile(promConfig, []byte("global: {}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := freeAddress(t)
	var out bytes.Buffer
	// The samples are months old: a long retention keeps the blocks.
	args := append([]string{"--config.file=" + promConfig, "--storage.tsdb.path=" + data,
		"--storage.tsdb.retention.time=100y", "--web.listen-address=" + addr}, flags...)
	prom := exec.CommandContext(ctx, bin, args...)
	prom.Stdout, prom.Stderr = &out, &out
	if err := prom.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		prom.Process.Kill()
		prom.Wait()
		if t.Failed() {
			t.Logf("prometheus on %s output:\n%s", data, lastOf(out.Bytes()))
		}
	})
	promURL := "http://" + addr
	exportertest.WaitFor(t, "prometheus ready", func() bool {
		resp, err := http.Get(promURL + "/-/ready")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	return promURL
}

// promSample is one element of an instant vector.
type promSample struct {
	metric map[string]string
	value  float64
}

// promVector evaluates an instant query at ts (rounded up to the
// millisecond, as the samples' times are).
func promVector(ctx context.Context, t *testing.T, promURL, expr string, ts time.Time) []promSample {
	t.Helper()
	at := strconv.FormatFloat(float64(family.Millis(ts))/1e3, 'f', -1, 64)
	u := promURL + "/api/v1/query?" + url.Values{"query": {expr}, "time": {at}}.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s: %v", expr, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var r struct {
		Status string `json:"status"`
		Data   struct {
			Result []struct {
				Metric map[string]string `json:"metric"`
				Value  [2]any            `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &r); err != nil || r.Status != "success" {
		t.Fatalf("%s at %s: %v %s", expr, ts, err, lastOf(body))
	}
	out := make([]promSample, 0, len(r.Data.Result))
	for _, res := range r.Data.Result {
		s, _ := res.Value[1].(string)
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			t.Fatalf("%s at %s: value %v: %v", expr, ts, res.Value[1], err)
		}
		out = append(out, promSample{res.Metric, v})
	}
	return out
}

// promQuery evaluates an instant query at ts and returns its single value.
func promQuery(ctx context.Context, t *testing.T, promURL, expr string, ts time.Time) float64 {
	t.Helper()
	r := promVector(ctx, t, promURL, expr, ts)
	if len(r) != 1 {
		t.Fatalf("%s at %s: %d results, want 1: %v", expr, ts, len(r), r)
	}
	return r[0].value
}

// promSum evaluates an instant query of at most one value at ts; ok is
// false if it has none (a sum over no series).
func promSum(ctx context.Context, t *testing.T, promURL, expr string, ts time.Time) (v float64, ok bool) {
	t.Helper()
	r := promVector(ctx, t, promURL, expr, ts)
	if len(r) > 1 {
		t.Fatalf("%s at %s: %d results, want one: %v", expr, ts, len(r), r)
	}
	if len(r) == 0 {
		return 0, false
	}
	return r[0].value, true
}

// parseSeries reads a series as an exposition writes it: its name and
// labels, unescaped.
func parseSeries(t *testing.T, series string) (string, map[string]string) {
	t.Helper()
	name, rest, ok := strings.Cut(series, "{")
	labels := map[string]string{}
	if !ok {
		return name, labels
	}
	for rest != "}" {
		k, v, ok := strings.Cut(rest, `="`)
		if !ok {
			t.Fatalf("series %q: no label at %q", series, rest)
		}
		var b strings.Builder
		i := 0
		for ; i < len(v) && v[i] != '"'; i++ {
			if v[i] == '\\' && i+1 < len(v) {
				i++
				if v[i] == 'n' {
					b.WriteByte('\n')
					continue
				}
			}
			b.WriteByte(v[i])
		}
		if i == len(v) {
			t.Fatalf("series %q: unterminated label value", series)
		}
		labels[k] = b.String()
		rest = strings.TrimPrefix(v[i+1:], ",")
	}
	return name, labels
}

// seriesKey names a series as Prometheus stores it: without the labels
// whose values are empty.
func seriesKey(name string, labels map[string]string) string {
	var parts []string
	for k, v := range labels {
		if k != "__name__" && v != "" {
			parts = append(parts, k+"="+strconv.Quote(v))
		}
	}
	slices.Sort(parts)
	return name + "{" + strings.Join(parts, ",") + "}"
}

// onceSeries is usageSeries keyed by seriesKey.
func onceSeries(t *testing.T, exposition string) map[string]float64 {
	t.Helper()
	out := map[string]float64{}
	for series, v := range usageSeries(t, exposition) {
		name, labels := parseSeries(t, series)
		out[seriesKey(name, labels)] = v
	}
	return out
}

// sumOf adds up the series of one name in a --once exposition whose labels
// include match.
func sumOf(t *testing.T, exposition, name string, match ...string) float64 {
	t.Helper()
	sum := 0.0
	for series, v := range usageSeries(t, exposition) {
		n, labels := parseSeries(t, series)
		if n != name {
			continue
		}
		ok := true
		for i := 0; i+1 < len(match); i += 2 {
			ok = ok && labels[match[i]] == match[i+1]
		}
		if ok {
			sum += v
		}
	}
	return sum
}

// bucket is a classic bucket: its upper bound and cumulative count.
type bucket struct{ le, count float64 }

// durationBuckets are the duration histogram's classic buckets summed by le
// over its series, as sum by (le) gives them.
func durationBuckets(t *testing.T, exposition string) []bucket {
	t.Helper()
	byLe := map[float64]float64{}
	for series, v := range usageSeries(t, exposition) {
		name, labels := parseSeries(t, series)
		if name != durationFamily+"_bucket" {
			continue
		}
		le, err := strconv.ParseFloat(labels["le"], 64)
		if err != nil {
			t.Fatalf("%s: %v", series, err)
		}
		byLe[le] += v
	}
	var bs []bucket
	for le, c := range byLe {
		bs = append(bs, bucket{le, c})
	}
	sort.Slice(bs, func(i, j int) bool { return bs[i].le < bs[j].le })
	return bs
}

// classicQuantile is histogram_quantile over classic buckets as Prometheus
// 2.42 computes it: linear within the bucket where the rank falls (the first
// bucket from 0), the largest finite bound past it. It also returns that
// bucket's bounds.
func classicQuantile(t *testing.T, q float64, bs []bucket) (v, lo, hi float64) {
	t.Helper()
	if len(bs) < 2 || !math.IsInf(bs[len(bs)-1].le, +1) || bs[len(bs)-1].count == 0 {
		t.Fatalf("no usable duration buckets: %v", bs)
	}
	rank := q * bs[len(bs)-1].count
	b := sort.Search(len(bs)-1, func(i int) bool { return bs[i].count >= rank })
	if b == len(bs)-1 {
		return bs[b-1].le, bs[b-1].le, math.Inf(1)
	}
	count := bs[b].count
	if b > 0 {
		lo = bs[b-1].le
		count -= bs[b-1].count
		rank -= bs[b-1].count
	}
	return lo + (bs[b].le-lo)*(rank/count), lo, bs[b].le
}

func near(got, want float64) bool {
	return got == want || math.Abs(got-want) <= 1e-9*math.Max(1, math.Abs(want))
}

// promDir is a data directory of blocks and the Prometheus on it.
type promDir struct {
	name, data, url string
	out             exporter.BackfillOutputs
	native          bool // written by the blocks writer, with native histograms
	// sparse: written with an idle time, so idle series are missing, and
	// increase() is extrapolated where a series' samples start (or end)
	// within the range, by at most a factor 1+inflation.
	sparse    bool
	inflation float64
	// The largest relative deviations seen, of increase() and of quantiles
	// over it, and where.
	maxIncrease, maxQuantile     float64
	whereIncrease, whereQuantile string
}

// checkKind is what a check's value is made of, which says what a sparse
// directory promises of it.
type checkKind int

const (
	counterSum     checkKind = iota // a sum of counter or histogram series: idle ones missing
	gaugeSum                        // a sum of gauges: idle ones are at zero, exact
	bucketQuantile                  // over raw buckets: idle ones missing
	windowIncrease                  // sum of increase(): extrapolated, never less
	windowQuantile                  // a quantile over increase()
)

// TestBackfillIntoPrometheus backfills two weeks of three operator replicas'
// logs (Docker, CRI rotated in three files, raw; overlapping in time) into
// OpenMetrics, made blocks by promtool, and into TSDB blocks directly (2h
// blocks), with every series at every step and sparse (TSDBIdle); starts a
// Prometheus on each; and checks instant sums, increase(), classic and
// native histogram quantiles and every series at step boundaries across the
// weeks and at the final event against --once on the logs, merged by time
// independently of the backfill, cut at those instants: exactly on the
// dense directories, as far as the design promises on the sparse ones.
func TestBackfillIntoPrometheus(t *testing.T) {
	promtool := prometheustest.Tool(t, "promtool")
	promBin := prometheustest.Tool(t, "prometheus")
	// Hang guard only: the processes are killed when the context ends.
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	t.Cleanup(cancel)
	dir := t.TempDir()

	// The replay's cost grows with the series: the session labels but
	// client_user (which keeps label escaping tested) are left out. No
	// session expires within the span: --once expires sessions only at its
	// end, the replay at each step, so over logs longer than
	// --session.max-age they disagree on the concurrent peaks and on ports
	// taken after a session expired.
	exporterConfig := func(paths ...string) exporter.Config {
		c := config(io.Discard, paths...)
		c.NoLabels = []string{"client_name", "target_namespace", "target_type", "target_name"}
		c.SessionMaxAge = 60 * 24 * time.Hour
		return c
	}
	start := time.Date(2026, 8, 3, 6, 0, 0, 0, time.UTC)
	const span = 14 * 24 * time.Hour
	var paths []string
	var streams []rawStream
	var truths []loggen.Truth
	for _, r := range []struct {
		name  string
		cfg   loggen.Config
		parts int
	}{
		{"a", loggen.Config{Seed: 101, Sessions: 120, Start: start, Span: span, Wrapper: loggen.Docker, NoiseRatio: 0.5}, 1},
		{"b", loggen.Config{Seed: 202, Sessions: 120, Start: start, Span: span, Wrapper: loggen.CRI, NoiseRatio: 0.5}, 3},
		// A replica that ran for a week in the middle.
		{"c", loggen.Config{Seed: 303, Sessions: 60, Start: start.Add(4 * 24 * time.Hour), Span: 7 * 24 * time.Hour, Wrapper: loggen.Raw, NoiseRatio: 0.5}, 1},
	} {
		p, s, truth := writeReplica(t, dir, r.name, r.cfg, r.parts)
		paths, streams, truths = append(paths, p...), append(streams, s...), append(truths, truth)
	}
	merged := mergeStreams(streams)

	const step = 15 * time.Minute
	// The CLI's default idle, 1h, is 60 of its default 1m steps but 4 of
	// this test's: series would go idle and come back within each 6h range
	// of the increase() checks. An idle of that range, 24 steps, writes a
	// series changed within a range to its end, so that only the range's
	// start is extrapolated: a series idle there is written from the lead
	// (1h, half a 2h block) before its change, and Prometheus extends it
	// by half a step (or the whole step between the range's start and its
	// first sample), at most 7.5m over at least 60m sampled. With the
	// default, a stretch written (lead+idle-step) may also end within the
	// range: 15m at its start and 7.5m at its end over 105m at worst.
	const idle, cliIdle = 6 * time.Hour, time.Hour
	om := filepath.Join(dir, "backfill.om")
	dirs := []*promDir{
		{name: "promtool", data: filepath.Join(dir, "promtool")},
		{name: "idle 0", data: filepath.Join(dir, "dense"), native: true},
		{name: "idle " + idle.String(), data: filepath.Join(dir, "sparse"), native: true, sparse: true, inflation: 7.5 / 60},
		{name: "idle " + cliIdle.String(), data: filepath.Join(dir, "cli"), native: true, sparse: true, inflation: 22.5 / 105},
	}
	dirs[1].out = exporter.BackfillOutputs{OpenMetrics: om, TSDB: &blocks.Config{Dir: dirs[1].data}}
	dirs[2].out = exporter.BackfillOutputs{TSDB: &blocks.Config{Dir: dirs[2].data}, TSDBIdle: idle}
	dirs[3].out = exporter.BackfillOutputs{TSDB: &blocks.Config{Dir: dirs[3].data}, TSDBIdle: cliIdle}
	// The replays are independent: in parallel, they take about as long as
	// the longest, the first, followed by promtool.
	errs := make([]error, len(dirs))
	var wg sync.WaitGroup
	for i, d := range dirs[1:] {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if errs[i] = backfill(exporterConfig(paths...), step, d.out); errs[i] != nil || i > 0 {
				return
			}
			// promtool reads the whole file for each block: longer blocks
			// than the TSDB output's 2h keep it fast.
			if out, err := exec.CommandContext(ctx, promtool, "tsdb", "create-blocks-from", "openmetrics", "--max-block-duration=168h", om, dirs[0].data).CombinedOutput(); err != nil {
				errs[len(dirs)-1] = fmt.Errorf("promtool: %v\n%s", err, lastOf(out))
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	var samples []int64
	for _, d := range dirs {
		// Before Prometheus adds its own files.
		n, size := tsdbStats(t, d.data)
		samples = append(samples, n)
		t.Logf("%s: %d samples, %d bytes", d.name, n, size)
	}
	if samples[2] >= samples[1] || samples[3] >= samples[2] {
		t.Errorf("samples %v (promtool, idle 0, %s, %s): idle series are not left out", samples, idle, cliIdle)
	}
	for _, d := range dirs {
		var flags []string
		if d.native {
			flags = append(flags, "--enable-feature=native-histograms")
		}
		d.url = startPrometheus(ctx, t, promBin, d.data, flags...)
	}

	// The truth at an instant is --once on the merged logs as they were then.
	onceAt := func(end time.Time) string {
		c := exporterConfig("-")
		c.Stdin = bytes.NewReader(merged.until(end))
		return once(t, c)
	}
	final := merged.last
	whole := onceAt(merged.times[len(merged.times)-1])
	// --once on the merged logs agrees with the generator on the counters.
	for _, name := range []string{"mirrord_sessions_started_total", "mirrord_ports_stolen_total", durationFamily + "_count"} {
		want := 0.0
		for _, truth := range truths {
			for key, v := range truth.Series {
				if key == name || strings.HasPrefix(key, name+"{") {
					want += v
				}
			}
		}
		if got := sumOf(t, whole, name); got != want {
			t.Errorf("%s: --once %v, the generator %v", name, got, want)
		}
	}

	const window = 6 * time.Hour
	// Step boundaries, so that increase() has samples at both ends of its
	// range (no extrapolation on the dense directories), across the two
	// weeks, and the final event.
	day := 24 * time.Hour
	instants := []time.Time{
		start.Add(day + 7*time.Hour + 15*time.Minute), start.Add(4*day + 13*time.Hour + 30*time.Minute),
		start.Add(6*day + 20*time.Hour + 45*time.Minute), start.Add(9*day + 3*time.Hour),
		start.Add(11*day + 16*time.Hour + 15*time.Minute), start.Add(13*day + 12*time.Hour), final,
	}
	var activeSeen, portsSeen float64
	for _, ts := range instants {
		at := ts.Format(time.RFC3339)
		isFinal := ts.Equal(final)
		now := whole
		if !isFinal {
			now = onceAt(ts)
		}
		if n := sumOf(t, now, "mirrord_sessions_started_total"); n < 20 {
			t.Fatalf("%v sessions started by %s: the instant checks little", n, ts)
		}
		activeSeen += sumOf(t, now, "mirrord_sessions_active")
		portsSeen += sumOf(t, now, "mirrord_ports_active")
		type check struct {
			expr string
			want float64
			kind checkKind
			// A windowQuantile's q and the window's true buckets.
			q       float64
			buckets []bucket
		}
		checks := []check{
			{expr: "sum(mirrord_sessions_started_total)", want: sumOf(t, now, "mirrord_sessions_started_total"), kind: counterSum},
			{expr: "sum(mirrord_sessions_ended_total)", want: sumOf(t, now, "mirrord_sessions_ended_total"), kind: counterSum},
			{expr: "sum(mirrord_ports_stolen_total)", want: sumOf(t, now, "mirrord_ports_stolen_total"), kind: counterSum},
			{expr: "sum(mirrord_messages_processed_total)", want: sumOf(t, now, "mirrord_messages_processed_total"), kind: counterSum},
			{expr: "sum(mirrord_session_duration_seconds_count)", want: sumOf(t, now, durationFamily+"_count"), kind: counterSum},
			{expr: "sum(mirrord_session_duration_seconds_sum)", want: sumOf(t, now, durationFamily+"_sum"), kind: counterSum},
			{expr: "sum(mirrord_sessions_active)", want: sumOf(t, now, "mirrord_sessions_active"), kind: gaugeSum},
			{expr: `sum(mirrord_ports_active{mode="steal"})`, want: sumOf(t, now, "mirrord_ports_active", "mode", "steal"), kind: gaugeSum},
			{expr: `sum(mirrord_ports_active{mode="mirror"})`, want: sumOf(t, now, "mirrord_ports_active", "mode", "mirror"), kind: gaugeSum},
		}
		bs := durationBuckets(t, now)
		for _, q := range []float64{0.5, 0.9} {
			want, _, _ := classicQuantile(t, q, bs)
			checks = append(checks, check{expr: fmt.Sprintf("histogram_quantile(%v, sum by (le) (%s_bucket))", q, durationFamily), want: want, kind: bucketQuantile})
		}
		if !isFinal {
			// The final event is off the step boundaries: there the range
			// of increase() starts between two samples.
			before := onceAt(ts.Add(-window))
			for _, name := range []string{"mirrord_sessions_started_total", "mirrord_ports_stolen_total", "mirrord_messages_processed_total"} {
				checks = append(checks, check{expr: "sum(increase(" + name + "[6h]))", want: sumOf(t, now, name) - sumOf(t, before, name), kind: windowIncrease})
			}
			if inWindow := bucketsMinus(bs, durationBuckets(t, before)); inWindow[len(inWindow)-1].count > 0 {
				for _, q := range []float64{0.5, 0.9} {
					want, _, _ := classicQuantile(t, q, inWindow)
					checks = append(checks, check{fmt.Sprintf("histogram_quantile(%v, sum by (le) (increase(%s_bucket[6h])))", q, durationFamily), want, windowQuantile, q, inWindow})
				}
			}
		}
		want := onceSeries(t, now)
		for _, d := range dirs {
			// At the final event every series has a sample.
			sparse := d.sparse && !isFinal
			for _, c := range checks {
				got, ok := promSum(ctx, t, d.url, c.expr, ts)
				if !ok && !sparse {
					t.Errorf("%s, %s at %s: no value, --once on the logs until then %v", d.name, c.expr, at, c.want)
					continue
				}
				switch {
				case !sparse || c.kind == gaugeSum:
					if !near(got, c.want) {
						t.Errorf("%s, %s at %s: Prometheus %v, --once on the logs until then %v", d.name, c.expr, at, got, c.want)
					}
				case c.kind == counterSum:
					if got > c.want {
						t.Errorf("%s, %s at %s: Prometheus %v, more than --once on the logs until then %v", d.name, c.expr, at, got, c.want)
					}
				case c.kind == windowIncrease:
					dev := relativeDeviation(got, c.want)
					if dev > d.maxIncrease {
						d.maxIncrease, d.whereIncrease = dev, fmt.Sprintf("%s at %s: %v, truth %v", c.expr, at, got, c.want)
					}
					// Each series' increase is exact or extrapolated, by
					// at most the inflation; less is a change not written.
					if got < c.want*(1-1e-9) || dev > d.inflation+1e-9 {
						t.Errorf("%s, %s at %s: Prometheus %v, --once on the logs %v: not within [1, %.4f] times", d.name, c.expr, at, got, c.want, 1+d.inflation)
					}
				case c.kind == windowQuantile:
					dev := relativeDeviation(got, c.want)
					if dev > d.maxQuantile {
						d.maxQuantile, d.whereQuantile = dev, fmt.Sprintf("%s at %s: %v, truth %v", c.expr, at, got, c.want)
					}
					// Every bucket is inflated by at most the inflation:
					// the quantile is in the buckets of the true ones at
					// q/(1+inflation) and q*(1+inflation), not nearer: a
					// small window may have empty buckets around the rank.
					_, lo, _ := classicQuantile(t, c.q/(1+d.inflation), c.buckets)
					hi := math.Inf(1)
					if q := c.q * (1 + d.inflation); q <= 1 {
						_, _, hi = classicQuantile(t, q, c.buckets)
					}
					if !(got >= lo && got <= hi) {
						t.Errorf("%s, %s at %s: Prometheus %v, --once on the logs %v: not in [%v, %v]", d.name, c.expr, at, got, c.want, lo, hi)
					}
				}
			}
			requireSeriesEqualOnce(ctx, t, d.name, d.url, ts, want, sparse)
			if d.native && !sparse {
				requireNative(ctx, t, d.url, ts, now, bs)
			}
		}
	}
	// Not a check of Prometheus, but of the test: the gauges were not all 0.
	if activeSeen == 0 || portsSeen == 0 {
		t.Errorf("sessions active %v, ports active %v summed over the instants: the gauges are hardly checked", activeSeen, portsSeen)
	}
	for _, d := range dirs {
		if d.sparse {
			t.Logf("%s: increase() off by at most %.2f%% (%s), quantiles over it by %.2f%% (%s)",
				d.name, 100*d.maxIncrease, d.whereIncrease, 100*d.maxQuantile, d.whereQuantile)
		}
	}
}

// bucketsMinus is the buckets of a window: those at its end less those at
// its start (none before the first session ended).
func bucketsMinus(end, start []bucket) []bucket {
	byLe := map[float64]float64{}
	for _, b := range start {
		byLe[b.le] = b.count
	}
	out := make([]bucket, len(end))
	for i, b := range end {
		out[i] = bucket{b.le, b.count - byLe[b.le]}
	}
	return out
}

// relativeDeviation is |got-want| relative to want; any deviation from 0
// is infinite.
func relativeDeviation(got, want float64) float64 {
	switch {
	case near(got, want):
		return 0
	case want == 0 || math.IsNaN(got):
		return math.Inf(1)
	}
	return math.Abs(got-want) / math.Abs(want)
}

// requireNative checks the native duration histogram at ts against --once's
// classic one: count and sum exactly, quantiles within the classic bucket
// of the true one widened by a native bucket (their bounds differ).
func requireNative(ctx context.Context, t *testing.T, promURL string, ts time.Time, now string, bs []bucket) {
	t.Helper()
	at := ts.Format(time.RFC3339)
	if got, want := promQuery(ctx, t, promURL, "histogram_count(sum("+durationFamily+"))", ts), sumOf(t, now, durationFamily+"_count"); got != want {
		t.Errorf("native histogram_count at %s: %v, --once %v", at, got, want)
	}
	if got, want := promQuery(ctx, t, promURL, "histogram_sum(sum("+durationFamily+"))", ts), sumOf(t, now, durationFamily+"_sum"); !near(got, want) {
		t.Errorf("native histogram_sum at %s: %v, --once %v", at, got, want)
	}
	factor := math.Exp2(math.Exp2(-family.NativeSchema))
	for _, q := range []float64{0.5, 0.9} {
		_, lo, hi := classicQuantile(t, q, bs)
		got := promQuery(ctx, t, promURL, fmt.Sprintf("histogram_quantile(%v, sum(%s))", q, durationFamily), ts)
		if !(got > lo/factor && got <= hi*factor) {
			t.Errorf("native histogram_quantile(%v) at %s: %v, the true one is in the classic bucket (%v, %v]", q, at, got, lo, hi)
		}
	}
}

// usageGauges are the gauges: on a sparse directory, a series of them not
// at zero is never left out.
var usageGauges = []string{"mirrord_sessions_active", "mirrord_ports_active", "mirrord_seat_limit_active_users", "mirrord_last_event_timestamp_seconds"}

// requireSeriesEqualOnce fails unless every usage series in Prometheus at ts
// (the native one aside) has --once's value, and --once's series are all
// there; with sparse, but for the idle ones: counters, histograms and
// gauges at zero. A series may be in Prometheus only at 0: counters and
// histograms get a zero sample one step before their first event.
func requireSeriesEqualOnce(ctx context.Context, t *testing.T, name, promURL string, ts time.Time, once map[string]float64, sparse bool) {
	t.Helper()
	if len(once) < 100 {
		t.Fatalf("--once printed %d usage series, too few for a test", len(once))
	}
	at := ts.Format(time.RFC3339)
	got := map[string]float64{}
	for _, s := range promVector(ctx, t, promURL, `{__name__=~"mirrord_.+",__name__!="`+durationFamily+`"}`, ts) {
		key := seriesKey(s.metric["__name__"], s.metric)
		got[key] = s.value
		if v, ok := once[key]; !ok && s.value != 0 {
			t.Errorf("%s at %s: %s = %v in Prometheus, not in --once", name, at, key, s.value)
		} else if ok && v != s.value {
			t.Errorf("%s at %s: %s = %v in Prometheus, --once %v", name, at, key, s.value, v)
		}
	}
	for key, v := range once {
		if _, ok := got[key]; ok {
			continue
		}
		if gauge := slices.Contains(usageGauges, key[:strings.IndexByte(key, '{')]); !sparse || gauge && v != 0 {
			t.Errorf("%s at %s: %s = %v in --once, not in Prometheus", name, at, key, v)
		}
	}
}

func freeAddress(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func lastOf(b []byte) []byte {
	if len(b) > 4000 {
		return b[len(b)-4000:]
	}
	return b
}
