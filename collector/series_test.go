package collector

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/mirrord-exporter/mirrord-exporter/decode"
)

// limitedCollector is a Collector with series limits and a clock the test
// moves.
func limitedCollector(t testing.TB, lim Limits, now *time.Time) (*Collector, *decode.Decoder, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	labels := mustLabels(t, nil, nil)
	c, err := New(Config{Labels: labels, Limits: lim, Registerer: reg, Now: func() time.Time { return *now }})
	if err != nil {
		t.Fatal(err)
	}
	return c, decode.New(labels), reg
}

func startOf(id, name string) string {
	return `{"fields":{"message":"Session Start","session_id":"` + id + `","client_user":"u","client_name":"` + name + `","target":"pod/p"}}`
}

func portOf(msg, id, name string, port int) string {
	return fmt.Sprintf(`{"fields":{"message":%q,"session_id":%q,"port":%d,"client_user":"u","client_name":%q,"target":"pod/p"}}`, msg, id, port, name)
}

func endOf(id, name string) string {
	return `{"fields":{"message":"Session End","session_id":"` + id + `","session_duration":5,"client_user":"u","client_name":"` + name + `","target":"pod/p"}}`
}

func TestSeriesCapRoutesToOverflowAndGaugesBalance(t *testing.T) {
	now := time.Date(2026, 8, 17, 0, 0, 0, 0, time.UTC)
	c, d, reg := limitedCollector(t, Limits{MaxSeries: 2}, &now)
	// a and b get series of their own; c and d go to the overflow series, and
	// the gauges they raise come down on the same series at their end.
	for _, n := range []string{"a", "b", "c", "d"} {
		apply(t, c, d, startOf("S"+n, n), portOf("Port Steal", "S"+n, n, 80))
	}
	apply(t, c, d, endOf("Sc", "c"), portOf("Port Release", "Sd", "d", 80))
	want := `
# HELP mirrord_sessions_active mirrord sessions started and not yet ended (distinct session ids).
# TYPE mirrord_sessions_active gauge
mirrord_sessions_active{client_name="__overflow__",client_user="__overflow__",target_name="__overflow__",target_namespace="__overflow__",target_type="__overflow__"} 1
mirrord_sessions_active{client_name="a",client_user="u",target_name="p",target_namespace="",target_type="pod"} 1
mirrord_sessions_active{client_name="b",client_user="u",target_name="p",target_namespace="",target_type="pod"} 1
# HELP mirrord_ports_active Ports currently stolen or mirrored, released by Port Release or by the end of their session.
# TYPE mirrord_ports_active gauge
mirrord_ports_active{client_name="__overflow__",client_user="__overflow__",mode="steal",target_name="__overflow__",target_namespace="__overflow__",target_type="__overflow__"} 0
mirrord_ports_active{client_name="a",client_user="u",mode="steal",target_name="p",target_namespace="",target_type="pod"} 1
mirrord_ports_active{client_name="b",client_user="u",mode="steal",target_name="p",target_namespace="",target_type="pod"} 1
# HELP mirrord_ports_stolen_total Ports stolen by mirrord sessions (Port Steal records); http_filtered tells whether the client set an HTTP filter.
# TYPE mirrord_ports_stolen_total counter
mirrord_ports_stolen_total{client_name="__overflow__",client_user="__overflow__",http_filtered="false",target_name="__overflow__",target_namespace="__overflow__",target_type="__overflow__"} 2
mirrord_ports_stolen_total{client_name="a",client_user="u",http_filtered="false",target_name="p",target_namespace="",target_type="pod"} 1
mirrord_ports_stolen_total{client_name="b",client_user="u",http_filtered="false",target_name="p",target_namespace="",target_type="pod"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want),
		"mirrord_sessions_active", "mirrord_ports_active", "mirrord_ports_stolen_total"); err != nil {
		t.Error(err)
	}
	for metric, want := range map[string]float64{
		"mirrord_sessions_started_total": 2, "mirrord_sessions_active": 2, "mirrord_ports_active": 2,
		"mirrord_ports_released_total": 0, "mirrord_sessions_ended_total": 0,
	} {
		if got := testutil.ToFloat64(c.m.series.Overflow.WithLabelValues(metric)); got != want {
			t.Errorf("overflow of %s = %v, want %v", metric, got, want)
		}
	}
	if got := testutil.ToFloat64(c.m.series.Series.WithLabelValues("mirrord_sessions_started_total")); got != 3 {
		t.Errorf("series of mirrord_sessions_started_total = %v, want 3 (2 + overflow)", got)
	}
	// Ending every session brings every gauge series back to zero.
	apply(t, c, d, endOf("Sa", "a"), endOf("Sb", "b"), endOf("Sd", "d"))
	if got := total(t, c.m.sessionsActive.Vec()); got != 0 {
		t.Errorf("sessions active = %v after every end", got)
	}
}

func TestSeriesTTL(t *testing.T) {
	now := time.Date(2026, 8, 17, 0, 0, 0, 0, time.UTC)
	c, d, reg := limitedCollector(t, Limits{MaxSeries: 1, SeriesTTL: time.Hour}, &now)
	apply(t, c, d, startOf("A", "a"), startOf("B", "b"), endOf("B", "b"))
	now = now.Add(2 * time.Hour)
	// a's session is still active: its gauge series is held, its counter
	// series expires. The overflow series of b have gone to zero and expire.
	if n := c.ExpireSeries(now); n == 0 {
		t.Fatal("nothing expired")
	}
	want := `
# HELP mirrord_sessions_active mirrord sessions started and not yet ended (distinct session ids).
# TYPE mirrord_sessions_active gauge
mirrord_sessions_active{client_name="a",client_user="u",target_name="p",target_namespace="",target_type="pod"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want),
		"mirrord_sessions_active", "mirrord_sessions_started_total", "mirrord_sessions_ended_total"); err != nil {
		t.Error(err)
	}
	if got := testutil.ToFloat64(c.m.series.Expired.WithLabelValues("mirrord_sessions_active")); got != 1 {
		t.Errorf("expired sessions_active series = %v, want 1 (the overflow one)", got)
	}
	// Expiry frees room under the cap: a new name gets its own series again.
	apply(t, c, d, startOf("C", "c"))
	if err := testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP mirrord_sessions_started_total mirrord sessions started (Session Start records).
# TYPE mirrord_sessions_started_total counter
mirrord_sessions_started_total{client_name="c",client_user="u",target_name="p",target_namespace="",target_type="pod"} 1
`), "mirrord_sessions_started_total"); err != nil {
		t.Error(err)
	}
	// The held gauge still comes down at its end, and then may expire.
	apply(t, c, d, endOf("A", "a"), endOf("C", "c"))
	now = now.Add(2 * time.Hour)
	c.ExpireSeries(now)
	if n := testutil.CollectAndCount(c.m.sessionsActive.Vec()); n != 0 {
		t.Errorf("%d sessions_active series left, want 0", n)
	}
}

func TestSeriesTTLZeroNeverExpires(t *testing.T) {
	now := time.Date(2026, 8, 17, 0, 0, 0, 0, time.UTC)
	c, d, _ := limitedCollector(t, Limits{}, &now)
	apply(t, c, d, startOf("A", "a"), endOf("A", "a"))
	if n := c.ExpireSeries(now.Add(1000 * time.Hour)); n != 0 {
		t.Errorf("expired %d series with no TTL", n)
	}
}

// TestMillionClientNames is the cardinality proof: a million sessions, each
// with its own client_name, keep every family at the cap plus its overflow
// series, count every event, and hold the heap to a few MiB.
func TestMillionClientNames(t *testing.T) {
	const maxSeries = DefaultMaxSeries
	names := 1_000_000
	if raceDetector {
		// The race detector makes this single-goroutine test ten times
		// slower (40s) and finds nothing in it; CI also runs it without.
		names = 100_000
	}
	now := time.Date(2026, 8, 17, 0, 0, 0, 0, time.UTC)
	c, d, _ := limitedCollector(t, Limits{MaxSeries: maxSeries}, &now)
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	var ev decode.Event
	var peak uint64
	for i := range names {
		name := fmt.Sprintf("laptop-%07d", i)
		for _, rec := range []string{startOf(name, name), endOf(name, name)} {
			if ok, reason := d.Decode([]byte(rec), &ev); !ok {
				t.Fatalf("not decoded (%q): %s", reason, rec)
			}
			c.Apply(&ev)
		}
		if i%100_000 == 0 {
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapInuse)
		}
	}
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	peak = max(peak, after.HeapInuse)
	for _, metric := range []string{"mirrord_sessions_started_total", "mirrord_sessions_ended_total", "mirrord_session_duration_seconds", "mirrord_sessions_active"} {
		if got := testutil.ToFloat64(c.m.series.Series.WithLabelValues(metric)); got != maxSeries+1 {
			t.Errorf("%s: %v series, want %d (cap + overflow)", metric, got, maxSeries+1)
		}
		if got := testutil.ToFloat64(c.m.series.Overflow.WithLabelValues(metric)); got != float64(names-maxSeries) {
			t.Errorf("%s: %v updates to overflow, want %d", metric, got, names-maxSeries)
		}
	}
	if got := total(t, c.m.sessionsStarted.Vec()); got != float64(names) {
		t.Errorf("sessions started = %v, want %d", got, names)
	}
	if got := total(t, c.m.sessionsActive.Vec()); got != 0 {
		t.Errorf("sessions active = %v, want 0", got)
	}
	t.Logf("%d client names, cap %d: heap in use %.1f MiB before, %.1f MiB after, %.1f MiB sampled peak; %d GCs",
		names, maxSeries, mib(before.HeapInuse), mib(after.HeapInuse), mib(peak), after.NumGC-before.NumGC)
	// The families at the cap hold a few tens of MiB at most; without the cap
	// a million series of the histogram alone would take gigabytes.
	if limit := uint64(256 << 20); after.HeapInuse-min(after.HeapInuse, before.HeapInuse) > limit {
		t.Errorf("heap grew by %.1f MiB, want at most %.0f", mib(after.HeapInuse-before.HeapInuse), mib(limit))
	}
}

func mib(b uint64) float64 { return float64(b) / (1 << 20) }

// total sums the values of every series of a counter or gauge family.
func total(t testing.TB, c prometheus.Collector) float64 {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(c); err != nil {
		t.Fatal(err)
	}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	for _, mf := range families {
		for _, m := range mf.GetMetric() {
			sum += m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	return sum
}

// TestRunExpiresSeriesOnTick: the collector's own goroutine sweeps idle
// series on each tick, between events.
func TestRunExpiresSeriesOnTick(t *testing.T) {
	now := time.Date(2026, 8, 17, 0, 0, 0, 0, time.UTC)
	c, d, _ := limitedCollector(t, Limits{MaxSeries: 10, SeriesTTL: time.Hour}, &now)
	var ev decode.Event
	if ok, _ := d.Decode([]byte(startOf("A", "a")), &ev); !ok {
		t.Fatal("not decoded")
	}
	events, ticks := make(chan decode.Event), make(chan time.Time)
	done := make(chan struct{})
	go func() {
		c.Run(events, ticks, nil)
		close(done)
	}()
	events <- ev
	ticks <- now.Add(2 * time.Hour)
	close(events)
	<-done
	if got := testutil.ToFloat64(c.m.series.Expired.WithLabelValues("mirrord_sessions_started_total")); got != 1 {
		t.Errorf("expired started series = %v, want 1", got)
	}
	if got := testutil.ToFloat64(c.m.series.Expired.WithLabelValues("mirrord_sessions_active")); got != 0 {
		t.Errorf("expired active series = %v, want 0: the session is still active", got)
	}
}

// TestSeriesTTLRecreatedSeriesGetsNewMetric: a series updated again after it
// expired starts from zero on a new metric, in the exposition and in the
// state, rather than updating the metric its family held before expiry.
func TestSeriesTTLRecreatedSeriesGetsNewMetric(t *testing.T) {
	now := time.Date(2026, 8, 17, 0, 0, 0, 0, time.UTC)
	c, d, reg := limitedCollector(t, Limits{SeriesTTL: time.Hour}, &now)
	apply(t, c, d, startOf("A", "a"), portOf("Port Steal", "A", "a", 80), startOf("A2", "a"), endOf("A2", "a"), endOf("A", "a"))
	now = now.Add(2 * time.Hour)
	if n := c.ExpireSeries(now); n != 7 {
		t.Fatalf("expired %d series, want 7: started, started by version, ended, duration, active, stolen, ports active", n)
	}
	families := []string{"mirrord_sessions_started_total", "mirrord_sessions_active", "mirrord_ports_stolen_total", "mirrord_ports_active", "mirrord_session_duration_seconds"}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(""), families...); err != nil {
		t.Errorf("expired series still exposed: %v", err)
	}
	apply(t, c, d, startOf("B", "a"), portOf("Port Steal", "B", "a", 80))
	want := `
# HELP mirrord_ports_active Ports currently stolen or mirrored, released by Port Release or by the end of their session.
# TYPE mirrord_ports_active gauge
mirrord_ports_active{client_name="a",client_user="u",mode="steal",target_name="p",target_namespace="",target_type="pod"} 1
# HELP mirrord_ports_stolen_total Ports stolen by mirrord sessions (Port Steal records); http_filtered tells whether the client set an HTTP filter.
# TYPE mirrord_ports_stolen_total counter
mirrord_ports_stolen_total{client_name="a",client_user="u",http_filtered="false",target_name="p",target_namespace="",target_type="pod"} 1
# HELP mirrord_sessions_active mirrord sessions started and not yet ended (distinct session ids).
# TYPE mirrord_sessions_active gauge
mirrord_sessions_active{client_name="a",client_user="u",target_name="p",target_namespace="",target_type="pod"} 1
# HELP mirrord_sessions_started_total mirrord sessions started (Session Start records).
# TYPE mirrord_sessions_started_total counter
mirrord_sessions_started_total{client_name="a",client_user="u",target_name="p",target_namespace="",target_type="pod"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), families...); err != nil {
		t.Error(err)
	}
	// The state reads the new metrics too.
	for _, fs := range c.Snapshot().Families {
		for _, ss := range fs.Series {
			if ss.Value != nil && *ss.Value != 1 {
				t.Errorf("state of %s %q: value %v, want 1", fs.Name, ss.Values, *ss.Value)
			}
		}
	}
	// The gauges come down on the new metrics.
	apply(t, c, d, endOf("B", "a"))
	if got := total(t, c.m.sessionsActive.Vec()) + total(t, c.m.portsActive.Vec()); got != 0 {
		t.Errorf("active gauges sum to %v after the end, want 0", got)
	}
}
