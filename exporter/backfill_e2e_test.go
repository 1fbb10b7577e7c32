package exporter_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mirrord-exporter/mirrord-exporter/internal/exportertest"
	"github.com/mirrord-exporter/mirrord-exporter/internal/loggen"
	"github.com/mirrord-exporter/mirrord-exporter/internal/prometheustest"
)

// lastTimestamp is the timestamp of the last line of a raw log.
func lastTimestamp(t *testing.T, log []byte) time.Time {
	t.Helper()
	lines := bytes.Split(bytes.TrimSuffix(log, []byte("\n")), []byte("\n"))
	var rec struct {
		Timestamp time.Time `json:"timestamp"`
	}
	if err := json.Unmarshal(lines[len(lines)-1], &rec); err != nil {
		t.Fatal(err)
	}
	return rec.Timestamp
}

// sumOf adds up the series of one name in a --once exposition.
func sumOf(t *testing.T, exposition, name string) float64 {
	t.Helper()
	sum := 0.0
	for series, v := range usageSeries(t, exposition) {
		if series == name || strings.HasPrefix(series, name+"{") {
			sum += v
		}
	}
	return sum
}

// promQuery evaluates an instant query at ts and returns its single value.
func promQuery(ctx context.Context, t *testing.T, promURL, expr string, ts time.Time) float64 {
	t.Helper()
	u := promURL + "/api/v1/query?" + url.Values{"query": {expr}, "time": {strconv.FormatFloat(float64(ts.Add(time.Millisecond-1).Truncate(time.Millisecond).UnixMilli())/1e3, 'f', -1, 64)}}.Encode()
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
				Value [2]any `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &r); err != nil || r.Status != "success" {
		t.Fatalf("%s at %s: %v %s", expr, ts, err, body)
	}
	if len(r.Data.Result) != 1 {
		t.Fatalf("%s at %s: %d results, want 1: %s", expr, ts, len(r.Data.Result), body)
	}
	s, _ := r.Data.Result[0].Value[1].(string)
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		t.Fatalf("%s at %s: %v", expr, ts, err)
	}
	return v
}

// TestBackfillIntoPrometheus backfills a three-day log, turns it into TSDB
// blocks with promtool, starts Prometheus on them and checks counters,
// increase() and gauges at chosen instants against --once on the log cut at
// those instants.
func TestBackfillIntoPrometheus(t *testing.T) {
	promtool := prometheustest.Tool(t, "promtool")
	promBin := prometheustest.Tool(t, "prometheus")
	// Hang guard only: the processes are killed when the context ends.
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	t.Cleanup(cancel)
	dir := t.TempDir()

	start := time.Date(2026, 8, 17, 18, 0, 0, 0, time.UTC)
	var log bytes.Buffer
	if _, err := loggen.Generate(&log, loggen.Config{
		Seed: 7, Sessions: 80, Start: start, Span: 72 * time.Hour, NoiseRatio: 0.3,
	}); err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(dir, "operator.log")
	if err := os.WriteFile(logPath, log.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	const step = 10 * time.Minute
	om := runBackfill(t, step, logPath)
	tsdb := filepath.Join(dir, "tsdb")
	if out, err := exec.CommandContext(ctx, promtool, "tsdb", "create-blocks-from", "openmetrics", om, tsdb).CombinedOutput(); err != nil {
		t.Fatalf("promtool: %v\n%s", err, lastOf(out))
	}

	promConfig := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(promConfig, []byte("global: {}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := freeAddress(t)
	var promOut bytes.Buffer
	// The samples are months old: a long retention keeps the blocks.
	prom := exec.CommandContext(ctx, promBin, "--config.file="+promConfig, "--storage.tsdb.path="+tsdb,
		"--storage.tsdb.retention.time=100y", "--web.listen-address="+addr)
	prom.Stdout, prom.Stderr = &promOut, &promOut
	if err := prom.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		prom.Process.Kill()
		prom.Wait()
		if t.Failed() {
			t.Logf("prometheus output:\n%s", lastOf(promOut.Bytes()))
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

	// The truth at an instant is --once on the log as it was then.
	onceAt := func(end time.Time) string {
		c := config(io.Discard, "-")
		c.Stdin = bytes.NewReader(exportertest.LogUntil(t, log.Bytes(), end))
		return once(t, c)
	}
	const window = 6 * time.Hour
	// Step boundaries, for increase() to see samples at both ends of its
	// range (no extrapolation), and the final event, past the last boundary.
	final := lastTimestamp(t, log.Bytes())
	for _, ts := range []time.Time{
		start.Add(7 * time.Hour), start.Add(30 * time.Hour), start.Add(49*time.Hour + 20*time.Minute), start.Add(66 * time.Hour), final,
	} {
		now, before := onceAt(ts), onceAt(ts.Add(-window))
		checks := []struct {
			expr string
			want float64
		}{
			{"sum(mirrord_sessions_started_total)", sumOf(t, now, "mirrord_sessions_started_total")},
			{"sum(mirrord_sessions_ended_total)", sumOf(t, now, "mirrord_sessions_ended_total")},
			{"sum(mirrord_session_duration_seconds_count)", sumOf(t, now, "mirrord_session_duration_seconds_count")},
			{"sum(mirrord_sessions_active)", sumOf(t, now, "mirrord_sessions_active")},
			{`sum(mirrord_ports_active{mode="steal"})`, sumOf(t, now, `mirrord_ports_active`) - sumMode(t, now, "mirror")},
			{"sum(increase(mirrord_sessions_started_total[6h]))",
				sumOf(t, now, "mirrord_sessions_started_total") - sumOf(t, before, "mirrord_sessions_started_total")},
			{"sum(increase(mirrord_ports_stolen_total[6h]))",
				sumOf(t, now, "mirrord_ports_stolen_total") - sumOf(t, before, "mirrord_ports_stolen_total")},
		}
		if ts.Equal(final) {
			// The range of increase() there starts between two samples.
			checks = checks[:5]
		}
		for _, c := range checks {
			got := promQuery(ctx, t, promURL, c.expr, ts)
			if math.Abs(got-c.want) > 1e-9*math.Max(1, math.Abs(c.want)) {
				t.Errorf("%s at %s: Prometheus %v, --once on the log until then %v", c.expr, ts.Format(time.RFC3339), got, c.want)
			}
		}
		if sumOf(t, now, "mirrord_sessions_started_total") == 0 {
			t.Errorf("no session started by %s: the instant checks nothing", ts)
		}
	}
}

// sumMode adds up the mirrord_ports_active series of one mode.
func sumMode(t *testing.T, exposition, mode string) float64 {
	t.Helper()
	sum := 0.0
	for series, v := range usageSeries(t, exposition) {
		if strings.HasPrefix(series, "mirrord_ports_active{") && strings.Contains(series, `mode="`+mode+`"`) {
			sum += v
		}
	}
	return sum
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
