package dashboards

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
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
// exporter's backfill command writing TSDB blocks, as the README tells) and
// runs every usage panel at the end of it, instant and over the last day:
// each must run within the sample budget, and the Users table must count
// every user's sessions of the day as --once on the log shows them. The log
// is backfilled twice, into two Prometheus run side by side: dense, every
// series at every step, where the counts are exact; and sparse, as the
// backfill's default leaves out idle series, where Prometheus' extrapolation
// may add a little but never takes away.
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

	// The end: the last step boundary, so that the day's increase() has
	// samples at both ends of its range and does not extrapolate.
	end := from.Add(69 * time.Hour)

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
	if len(want) == 0 {
		t.Fatalf("no session in the last day: the check checks nothing")
	}
	t.Logf("%d users with sessions in the last day, %d of them new in it", len(want), newUsers)
	var expr string
	for _, p := range users().Panels {
		if p.Title == "Users" {
			expr = historySubstitutions.Replace(p.Queries[0].Expr)
		}
	}

	var samples [2]int64
	t.Run("group", func(t *testing.T) {
		t.Run("dense", func(t *testing.T) {
			t.Parallel()
			promURL, n := historyPrometheus(ctx, t, bin, filepath.Join(dir, "dense"), log.Bytes(), denseHistory...)
			samples[0] = n
			checkBudget(ctx, t, promURL, end)
			got := usersTable(ctx, t, promURL, expr, end)
			for user, n := range want {
				if got[user] != n {
					t.Errorf("Users table over the last day: %q has %v sessions, want %v", user, got[user], n)
				}
			}
			if len(got) != len(want) {
				t.Errorf("Users table over the last day: %d users, want %d", len(got), len(want))
			}
		})
		t.Run("sparse", func(t *testing.T) {
			t.Parallel()
			promURL, n := historyPrometheus(ctx, t, bin, filepath.Join(dir, "sparse"), log.Bytes(), sparseHistory...)
			samples[1] = n
			checkBudget(ctx, t, promURL, end)
			got := usersTable(ctx, t, promURL, expr, end)
			// Extrapolation only adds: increase() stretches a
			// series' samples to the range's ends where it was idle
			// there, by half a step at most (the samples' interval
			// is the step), and a series written at all is written
			// for at least idle (60 steps) around its change. Half a
			// step at both ends over 60 steps is 1/60, 1.7% (what
			// the measurement at 1m found); a user's sum mixes its
			// series' ratios, no larger; 2% is above that.
			const tolerance = 0.02
			var worst float64
			var worstUser string
			for user, n := range want {
				g, ok := got[user]
				dev := (g - n) / n
				if !ok || g < n || dev > tolerance {
					t.Errorf("Users table over the last day on sparse blocks: %q has %v sessions, want %v to %.2f%% more", user, g, n, 100*tolerance)
				}
				if dev > worst || worstUser == "" {
					worst, worstUser = dev, user
				}
			}
			for user, g := range got {
				if _, ok := want[user]; !ok {
					t.Errorf("Users table over the last day on sparse blocks: %q has %v sessions, want none", user, g)
				}
			}
			t.Logf("Users table over the last day on sparse blocks: largest deviation %+.3f%% (%s: %v, want %v)", 100*worst, worstUser, got[worstUser], want[worstUser])
		})
	})
	t.Logf("samples in the blocks: %d dense, %d sparse (%.1f%%)", samples[0], samples[1], 100*float64(samples[1])/float64(samples[0]))
	if !t.Failed() && samples[1] >= samples[0] {
		t.Errorf("the sparse blocks hold %d samples, not fewer than the dense ones' %d", samples[1], samples[0])
	}
}

// denseHistory backfills every series at every step, exactly as scraped:
// the range counts of the tables read raw counters at the range's ends (see
// the README's backfill section on --tsdb.series-idle).
var denseHistory = []string{"--tsdb.series-idle=0"}

// sparseHistory backfills as the default does at its 1m step, in steps: the
// default's idle of 1h is 60 steps, and its lead, capped at half its 2h
// block, 60 steps too; at the history's 10m step that is an idle of 10h and
// a block of at least 20h. Blocks are 2h times a power of 3: 18h would cap
// the lead at 54 steps, so 54h, whose half does not cap it.
var sparseHistory = []string{"--tsdb.series-idle=10h", "--tsdb.block-duration=54h"}

// usersTable runs the Users table's query at end and gives its users with
// sessions.
func usersTable(ctx context.Context, t *testing.T, promURL, expr string, end time.Time) map[string]float64 {
	t.Helper()
	got := vectorAt(ctx, t, promURL, expr, end)
	for user, n := range got {
		if n == 0 {
			delete(got, user)
		}
	}
	return got
}

// historyPrometheus backfills a log into TSDB blocks in dir, with the
// backfill flags given (denseHistory, sparseHistory), and starts a
// Prometheus on them; it gives the Prometheus' URL and the samples in the
// blocks.
func historyPrometheus(ctx context.Context, t *testing.T, bin, dir string, log []byte, flags ...string) (string, int64) {
	t.Helper()
	promBin := prometheustest.Tool(t, "prometheus")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(dir, "operator.log")
	if err := os.WriteFile(logPath, log, 0o644); err != nil {
		t.Fatal(err)
	}
	tsdb := filepath.Join(dir, "tsdb")
	args := append([]string{"backfill", "--input.path=" + logPath, "--tsdb.path=" + tsdb, "--step=" + historyStep.String()}, flags...)
	if out, err := exec.CommandContext(ctx, bin, args...).CombinedOutput(); err != nil {
		t.Fatalf("backfill %s: %v\n%s", strings.Join(flags, " "), err, lastBytes(out, 4000))
	}
	// Before Prometheus compacts them.
	samples := blockSamples(t, tsdb)
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

	return promURL, samples
}

// blockSamples sums the samples of the blocks in a TSDB directory, as their
// meta.json count them.
func blockSamples(t *testing.T, tsdb string) int64 {
	t.Helper()
	metas, err := filepath.Glob(filepath.Join(tsdb, "*", "meta.json"))
	if err != nil || len(metas) == 0 {
		t.Fatalf("no block in %s: %v", tsdb, err)
	}
	var total int64
	for _, path := range metas {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		var meta struct {
			Stats struct {
				NumSamples int64 `json:"numSamples"`
			} `json:"stats"`
		}
		if err := json.Unmarshal(b, &meta); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		total += meta.Stats.NumSamples
	}
	return total
}

// checkBudget runs every usage panel at end, instant and over the day
// before, and fails on a panel over the sample budget.
func checkBudget(ctx context.Context, t *testing.T, promURL string, end time.Time) {
	t.Helper()
	// The series of the day: on sparse blocks (--tsdb.series-idle) an
	// instant count at end finds only those written within the lookback
	// before it, not the idle ones the day's queries read too.
	series := queryAt(ctx, t, promURL, `count(last_over_time({__name__=~"mirrord_.+"}[1d]))`, end)
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
	promURL, _ := historyPrometheus(ctx, t, bin, dir, log.Bytes(), denseHistory...)
	checkBudget(ctx, t, promURL, from.Add(span).Truncate(historyStep))
}
