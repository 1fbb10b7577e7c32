package dashboards

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
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

// historyStep is the backfill's sample interval, standing for the scrape
// interval: the history test's Prometheus holds a sample of every series
// every historyStep.
const historyStep = 10 * time.Minute

// historySubstitutions stand for Grafana's variables on a 24h dashboard over
// the history: $__rate_interval is four scrape intervals, as Grafana makes
// it, and a bar an hour.
var historySubstitutions = strings.NewReplacer(
	"[$__interval]", "[1h]", // a bar: the panels' minimum is below the history's step
	"$__rate_interval", "40m",
	"$__range", "1d",
	"$__interval", "10m",
	"$namespace", ".*", "$target_type", ".*", "$target", ".*", "$user", ".*",
	"$job", ".*", "$instance", ".*", "$cluster", ".*",
)

// sampleBudget is how many samples one panel query may read, per series
// Prometheus holds, on a 24h dashboard over the history, as the panel runs
// it (instant, or ranged at its step): Prometheus' stats=all
// totalQueryableSamples divided by the series count, so that the figure
// does not depend on the generated population. Every sample of the day is
// 145 per series at the history's 10m interval: the budget is about that,
// each sample read once, with room for a rate window a scrape longer than
// the step. A panel over it reads samples again and again (a ranged query
// over [$__range], a window much longer than its step). The duration
// percentiles come closest: they read every bucket of every user's
// histogram, and the buckets are most of the series. Samples per series
// grow with the scrape interval (ten times at 1m than at 10m), the total
// with the series: at 10,000 series scraped every minute, 15M samples.
const sampleBudget = 150

// TestHistory backfills a generated three-day log into Prometheus (the
// exporter's backfill command and promtool, as the README tells users) and
// runs every usage panel at the end of it, instant and over the last day:
// each must run within the sample budget, and the Users table must count
// every user's sessions of the day as --once on the log shows them.
func TestHistory(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	dir := t.TempDir()

	bin := buildExporter(ctx, t, dir)
	from := time.Date(2026, 8, 17, 18, 0, 0, 0, time.UTC)
	var log bytes.Buffer
	if _, err := loggen.Generate(&log, loggen.Config{Seed: 7, Sessions: 120, Start: from, Span: 72 * time.Hour, NoiseRatio: 0.3}); err != nil {
		t.Fatal(err)
	}
	promURL := historyPrometheus(ctx, t, bin, dir, log.Bytes())

	// The end: the last step boundary, so that the day's increase() has
	// samples at both ends of its range and does not extrapolate.
	end := from.Add(69 * time.Hour)
	checkBudget(ctx, t, promURL, end)

	// The day's sessions per user: --once at the end less --once a day
	// before, users new in the day included.
	want := onceSessionsByUser(ctx, t, bin, dir, exportertest.LogUntil(t, log.Bytes(), end))
	before := onceSessionsByUser(ctx, t, bin, dir, exportertest.LogUntil(t, log.Bytes(), end.Add(-24*time.Hour)))
	for user, n := range before {
		want[user] -= n
	}
	var newUsers int
	for user, n := range want {
		if n == 0 {
			delete(want, user)
		} else if _, ok := before[user]; !ok {
			newUsers++
		}
	}
	var expr string
	for _, p := range users().Panels {
		if p.Title == "Users" {
			expr = historySubstitutions.Replace(p.Queries[0].Expr)
		}
	}
	got := vectorAt(ctx, t, promURL, expr, end)
	for user, n := range got {
		if n == 0 {
			delete(got, user)
		}
	}
	for user, n := range want {
		if got[user] != n {
			t.Errorf("Users table over the last day: %q has %v sessions, want %v", user, got[user], n)
		}
	}
	if len(got) != len(want) {
		t.Errorf("Users table over the last day: %d users, want %d", len(got), len(want))
	}
	if len(want) == 0 {
		t.Errorf("no session in the last day: the check checks nothing")
	}
	t.Logf("%d users with sessions in the last day, %d of them new in it", len(want), newUsers)
}

// historyPrometheus backfills a log into TSDB blocks and starts a
// Prometheus on them; it gives the Prometheus' URL.
func historyPrometheus(ctx context.Context, t *testing.T, bin, dir string, log []byte) string {
	t.Helper()
	promtool := prometheustest.Tool(t, "promtool")
	promBin := prometheustest.Tool(t, "prometheus")
	logPath := filepath.Join(dir, "operator.log")
	if err := os.WriteFile(logPath, log, 0o644); err != nil {
		t.Fatal(err)
	}
	om := filepath.Join(dir, "history.om")
	if out, err := exec.CommandContext(ctx, bin, "backfill", "--input.path="+logPath, "--output="+om, "--step="+historyStep.String()).CombinedOutput(); err != nil {
		t.Fatalf("backfill: %v\n%s", err, lastBytes(out, 4000))
	}
	tsdb := filepath.Join(dir, "tsdb")
	if out, err := exec.CommandContext(ctx, promtool, "tsdb", "create-blocks-from", "openmetrics", om, tsdb).CombinedOutput(); err != nil {
		t.Fatalf("promtool: %v\n%s", err, lastBytes(out, 4000))
	}
	config := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(config, []byte("global: {}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	// The samples are months old: a long retention keeps the blocks.
	start(ctx, t, "prometheus", promBin, "--config.file="+config, "--storage.tsdb.path="+tsdb,
		"--storage.tsdb.retention.time=100y", "--web.listen-address="+addr)
	promURL := "http://" + addr
	waitFor(ctx, t, "prometheus ready", func() bool { return httpOK(promURL + "/-/ready") })

	return promURL
}

// checkBudget runs every usage panel at end, instant and over the day
// before, and fails on a panel over the sample budget.
func checkBudget(ctx context.Context, t *testing.T, promURL string, end time.Time) {
	t.Helper()
	series := queryAt(ctx, t, promURL, `count({__name__=~"mirrord_.+"})`, end)
	if series < 100 {
		t.Fatalf("%v series in the history, too few for a test", series)
	}

	var costs []cost
	for _, d := range []Dashboard{overview(), users(), targets()} {
		for _, p := range d.Panels {
			for _, q := range p.Queries {
				// Grafana's step is the panel's interval: at least its
				// minimum, and the scrape interval; $__rate_interval
				// is that plus a scrape interval.
				expr := q.Expr
				step := historyStep
				if p.Interval != "" {
					expr = strings.ReplaceAll(expr, "$__rate_interval", "70m")
					step = time.Hour
				}
				expr = historySubstitutions.Replace(expr)
				_, instant := queryStatsWindow(ctx, t, promURL, expr, end.Add(-24*time.Hour), end, step, false)
				_, ranged := queryStatsWindow(ctx, t, promURL, expr, end.Add(-24*time.Hour), end, step, true)
				c := newCost(d.UID, p, instant, ranged)
				costs = append(costs, c)
				if perSeries := float64(c.shown) / series; perSeries > sampleBudget {
					t.Errorf("panel %q reads %d samples, %.0f per series of the history, over the budget of %d: %s",
						p.Title, c.shown, perSeries, sampleBudget, expr)
				}
			}
		}
	}
	t.Logf("%v series; budget %d samples per series", series, sampleBudget)
	logCosts(t, costs)

}

// onceSessionsByUser runs the exporter with --once on a log and gives its
// sessions started per user.
func onceSessionsByUser(ctx context.Context, t *testing.T, bin, dir string, log []byte) map[string]float64 {
	t.Helper()
	path := filepath.Join(dir, "cut.log")
	if err := os.WriteFile(path, log, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.CommandContext(ctx, bin, "--once", "--input.path="+path).Output()
	if err != nil {
		t.Fatalf("--once: %v", err)
	}
	series := map[string]float64{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "mirrord_sessions_started_total{") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatal(err)
		}
		series[line[:i]] = v
	}
	return sessionsByUser(t, loggen.Truth{Series: series})
}

// queryAt runs an instant query at ts and gives its single value.
func queryAt(ctx context.Context, t *testing.T, promURL, expr string, ts time.Time) float64 {
	t.Helper()
	v := vectorAt(ctx, t, promURL, expr, ts)
	if len(v) != 1 {
		t.Fatalf("%s: %d series, want 1", expr, len(v))
	}
	for _, x := range v {
		return x
	}
	return 0
}

// vectorAt runs an instant query at ts and gives its values by client_user.
func vectorAt(ctx context.Context, t *testing.T, promURL, expr string, ts time.Time) map[string]float64 {
	t.Helper()
	return vectorByAt(ctx, t, promURL, expr, "client_user", ts)
}

// TestHistoryScale is TestHistory's sample budget at about 10,000 series:
// 500 users (DASHBOARDS_SCALE_USERS to change it), 20 series each, 17 of
// them the duration histogram's. Each has one session on a target of its
// own, with a port stolen and an end a minute later, but every tenth, left
// running; the sessions are spread over 25 hours, and every usage panel
// runs over the last day.
func TestHistoryScale(t *testing.T) {
	users := 500
	if n, err := strconv.Atoi(os.Getenv("DASHBOARDS_SCALE_USERS")); err == nil && n > 0 {
		users = n
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	t.Cleanup(cancel)
	dir := t.TempDir()
	bin := buildExporter(ctx, t, dir)
	from := time.Date(2026, 8, 17, 18, 0, 0, 0, time.UTC)
	span := 25 * time.Hour
	var log bytes.Buffer
	for i := range users {
		at := from.Add(span * time.Duration(i) / time.Duration(users))
		who := fmt.Sprintf(`"client_user":"user%d","client_name":"User %d","client_id":"%016x","target_namespace":"ns%d","target_type":"deployment","target_name":"svc%d","session_id":"%016X"`, i, i, i, i%50, i, i)
		line := func(at time.Time, fields string) {
			fmt.Fprintf(&log, `{"timestamp":"%s","level":"INFO","fields":{%s}}`+"\n", at.Format("2006-01-02T15:04:05.000000Z"), fields)
		}
		line(at, `"message":"Session Start",`+who)
		line(at.Add(time.Second), `"message":"Port Steal",`+who+`,"port":80`)
		if i%10 != 0 {
			line(at.Add(time.Minute), `"message":"Session End",`+who+`,"session_duration":60`)
		}
	}
	// The ends are out of time order; backfill sorts events by time.
	promURL := historyPrometheus(ctx, t, bin, dir, log.Bytes())
	checkBudget(ctx, t, promURL, from.Add(span).Truncate(historyStep))
}
