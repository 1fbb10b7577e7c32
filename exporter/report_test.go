package exporter_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mirrord-exporter/mirrord-exporter/exporter"
	"github.com/mirrord-exporter/mirrord-exporter/internal/exportertest"
	"github.com/mirrord-exporter/mirrord-exporter/internal/loggen"
)

// truthSum adds up the truth's series of one name, across label sets.
func truthSum(truth loggen.Truth, name string) float64 {
	sum := 0.0
	for k, v := range truth.Series {
		if k == name || strings.HasPrefix(k, name+"{") {
			sum += v
		}
	}
	return sum
}

// truthUsers counts the client_user values with a session started or ended.
func truthUsers(truth loggen.Truth) int {
	re := regexp.MustCompile(`client_user="((?:[^"\\]|\\.)*)"`)
	users := map[string]bool{}
	for k := range truth.Series {
		if strings.HasPrefix(k, "mirrord_sessions_started_total{") || strings.HasPrefix(k, "mirrord_session_duration_seconds_sum{") {
			if m := re.FindStringSubmatch(k); m != nil {
				users[m[1]] = true
			}
		}
	}
	return len(users)
}

func TestReport(t *testing.T) {
	cfg := exportertest.GenConfig(loggen.CRI, 47)
	// Shorter than --session.max-age: the truth does not expire sessions.
	cfg.Sessions, cfg.Span = 150, 20*time.Hour
	path := filepath.Join(t.TempDir(), "operator.log")
	truth := exportertest.WriteLog(t, path, cfg)

	report := runReport(t, path, 3)
	want := []string{
		fmt.Sprintf("%.0f started, %.0f ended, %.0f active at the end",
			truthSum(truth, "mirrord_sessions_started_total"), truthSum(truth, "mirrord_sessions_ended_total"),
			truthSum(truth, "mirrord_sessions_active")),
		fmt.Sprintf("Distinct users:      %d\n", truthUsers(truth)),
		fmt.Sprintf("%.1f (over %.0f ended sessions", truthSum(truth, "mirrord_session_duration_seconds_sum")/3600,
			truthSum(truth, "mirrord_session_duration_seconds_count")),
		fmt.Sprintf("%.0f stolen", truthSum(truth, "mirrord_ports_stolen_total")),
		fmt.Sprintf("%.0f mirrored", truthSum(truth, "mirrord_ports_mirrored_total")),
		fmt.Sprintf("Copied targets:      %.0f ", truthSum(truth, "mirrord_targets_copied_total")),
		"Period:              2026-08-17T",
	}
	for _, w := range want {
		if !strings.Contains(report, w) {
			t.Errorf("report lacks %q:\n%s", w, report)
		}
	}
	// Three users and three targets, busiest first: by sessions started,
	// then by session hours.
	for _, section := range []string{"\nTop users ", "\nTop targets "} {
		entries := topEntries(t, report, section)
		if len(entries) != 3 {
			t.Errorf("%s: %d entries, want 3:\n%s", strings.TrimSpace(section), len(entries), report)
		}
		for i := 1; i < len(entries); i++ {
			a, b := entries[i-1], entries[i]
			if a.sessions < b.sessions || a.sessions == b.sessions && a.hours < b.hours {
				t.Errorf("%s: %v listed before %v: not busiest first:\n%s", strings.TrimSpace(section), a, b, report)
			}
		}
	}
	// And they are the busiest of all: the session counts of the three
	// users listed are the three highest of the generator's truth.
	perUser := truthPerUser(truth)
	slices.Sort(perUser)
	slices.Reverse(perUser)
	for i, e := range topEntries(t, report, "\nTop users ") {
		if i < len(perUser) && e.sessions != perUser[i] {
			t.Errorf("user %d listed (%s) has %v sessions; the truth's #%d has %v:\n%s", i+1, e.name, e.sessions, i+1, perUser[i], report)
		}
	}

	// The same logs give the same report.
	if again := runReport(t, path, 3); again != report {
		t.Errorf("second report differs:\n%s", again)
	}
}

// runReport runs Report on the log at path.
func runReport(t *testing.T, path string, top int) string {
	t.Helper()
	return runReportPeriod(t, config(io.Discard, path), top, time.Time{}, time.Time{})
}

// runReportPeriod runs Report on cfg's inputs over [from, to).
func runReportPeriod(t *testing.T, cfg exporter.Config, top int, from, to time.Time) string {
	t.Helper()
	out, err := reportPeriod(cfg, top, from, to)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func reportPeriod(cfg exporter.Config, top int, from, to time.Time) (string, error) {
	cfg.Once, cfg.InTimeOrder = true, true
	e, err := exporter.New(cfg)
	if err != nil {
		return "", err
	}
	var out bytes.Buffer
	err = e.Report(context.Background(), &out, top, from, to)
	return out.String(), err
}

// topEntry is one line of a report's top list.
type topEntry struct {
	name            string
	sessions, hours float64
}

// topEntries parses the list of the report under the heading section.
func topEntries(t *testing.T, report, section string) []topEntry {
	t.Helper()
	_, rest, ok := strings.Cut(report, section)
	if !ok {
		t.Fatalf("no %q section:\n%s", strings.TrimSpace(section), report)
	}
	var entries []topEntry
	for _, l := range strings.Split(rest, "\n")[1:] {
		if !strings.HasPrefix(l, "  ") {
			break
		}
		f := strings.Fields(l)
		if len(f) < 3 {
			t.Fatalf("top entry %q: want a name, sessions and hours", l)
		}
		e := topEntry{name: strings.Join(f[:len(f)-2], " ")}
		var err1, err2 error
		e.sessions, err1 = strconv.ParseFloat(f[len(f)-2], 64)
		e.hours, err2 = strconv.ParseFloat(f[len(f)-1], 64)
		if err1 != nil || err2 != nil {
			t.Fatalf("top entry %q: %v %v", l, err1, err2)
		}
		entries = append(entries, e)
	}
	return entries
}

// truthPerUser is the sessions started of every user of the truth.
func truthPerUser(truth loggen.Truth) []float64 {
	re := regexp.MustCompile(`client_user="((?:[^"\\]|\\.)*)"`)
	users := map[string]float64{}
	for k, v := range truth.Series {
		if strings.HasPrefix(k, "mirrord_sessions_started_total{") {
			if m := re.FindStringSubmatch(k); m != nil {
				users[m[1]] += v
			}
		}
	}
	var out []float64
	for _, v := range users {
		out = append(out, v)
	}
	return out
}

// periodLog is a generated raw log of 20 hours (shorter than
// --session.max-age, so that no session expires), every line stamped, for
// exportertest.LogUntil; its path, bytes and the times of its first and
// last events (the period of its uncut report: noise records are no
// events).
func periodLog(t *testing.T) (path string, log []byte, first, last time.Time) {
	t.Helper()
	cfg := loggen.Config{
		Seed: 53, Sessions: 150, Start: time.Date(2026, 8, 17, 8, 0, 0, 0, time.UTC), Span: 20 * time.Hour, NoiseRatio: 0.3,
	}
	var buf bytes.Buffer
	if _, err := loggen.Generate(&buf, cfg); err != nil {
		t.Fatal(err)
	}
	path = filepath.Join(t.TempDir(), "operator.log")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`Period: +(\S+) to (\S+) `).FindStringSubmatch(runReport(t, path, 0))
	if m == nil {
		t.Fatal("no period in the report of the whole log")
	}
	var err1, err2 error
	first, err1 = time.Parse(time.RFC3339, m[1])
	last, err2 = time.Parse(time.RFC3339, m[2])
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	return path, buf.Bytes(), first, last
}

// onceBefore is what --once prints for the log cut before its first record
// stamped at or after t (the whole log for a zero t): the metrics at t in
// the sense of report --from and --to.
func onceBefore(t *testing.T, log []byte, at time.Time) map[string]float64 {
	t.Helper()
	if !at.IsZero() {
		log = exportertest.LogUntil(t, log, at.Add(-time.Nanosecond))
	}
	c := config(io.Discard, "-")
	c.Stdin = bytes.NewReader(log)
	return usageSeries(t, once(t, c))
}

// seriesDelta is each series' increase from before to after.
func seriesDelta(after, before map[string]float64) map[string]float64 {
	d := map[string]float64{}
	for k, v := range after {
		d[k] = v - before[k]
	}
	return d
}

// seriesShares adds up per user and per target the sessions started and
// the session seconds of the series of a --once exposition, or of their
// increases (seriesDelta).
func seriesShares(t *testing.T, series map[string]float64) (users, targets map[string][2]float64) {
	t.Helper()
	labelRE := regexp.MustCompile(`(\w+)="((?:[^"\\]|\\.)*)"`)
	users, targets = map[string][2]float64{}, map[string][2]float64{}
	for k, v := range series {
		i := 0
		switch {
		case strings.HasPrefix(k, "mirrord_sessions_started_total{"):
		case strings.HasPrefix(k, "mirrord_session_duration_seconds_sum{"):
			i = 1
		default:
			continue
		}
		l := map[string]string{}
		for _, m := range labelRE.FindAllStringSubmatch(k, -1) {
			u, err := strconv.Unquote(`"` + m[2] + `"`)
			if err != nil {
				t.Fatalf("label %s in %s: %v", m[0], k, err)
			}
			l[m[1]] = u
		}
		var parts []string
		for _, name := range []string{"target_namespace", "target_type", "target_name"} {
			if l[name] != "" {
				parts = append(parts, l[name])
			}
		}
		target := strings.Join(parts, "/")
		if target == "" {
			target = "(none)"
		}
		u, tg := users[l["client_user"]], targets[target]
		u[i] += v
		tg[i] += v
		users[l["client_user"]], targets[target] = u, tg
	}
	return users, targets
}

// TestReportPeriod: a report over a cut period counts what --once counts on
// the log cut at --to minus what it counts on the log cut at --from, lists
// only the users and targets active in between, and gives the gauge at
// --to and the period clipped to the logs.
func TestReportPeriod(t *testing.T) {
	path, log, first, last := periodLog(t)
	at := func(d time.Duration) time.Time { return first.Truncate(time.Hour).Add(d) }
	for _, c := range []struct {
		name     string
		from, to time.Time
	}{
		{"from and to", at(5 * time.Hour), at(12 * time.Hour)},
		{"from only, off the second", at(5*time.Hour + 17*time.Minute + 3500*time.Millisecond), time.Time{}},
		{"to only", time.Time{}, at(9 * time.Hour)},
		{"before the logs' start to the middle", first.Add(-48 * time.Hour), at(10 * time.Hour)},
		{"one hour", at(14 * time.Hour), at(15 * time.Hour)},
	} {
		t.Run(c.name, func(t *testing.T) {
			report := runReportPeriod(t, config(io.Discard, path), -1, c.from, c.to)
			after := onceBefore(t, log, c.to)
			before := map[string]float64{}
			if !c.from.IsZero() {
				before = onceBefore(t, log, c.from)
			}
			diff := func(name string) float64 { return sumSeries(after, name) - sumSeries(before, name) }
			if diff("mirrord_sessions_started_total") == 0 {
				t.Fatal("no session started in the period: the test checks nothing")
			}
			wantFirst, wantLast := first, last
			if c.from.After(first) {
				wantFirst = c.from
			}
			if !c.to.IsZero() {
				wantLast = c.to
			}
			// Per series, then per user and target: an unchanged series
			// adds exactly 0, whatever the order of the sums.
			deltaUsers, deltaTargets := seriesShares(t, seriesDelta(after, before))
			activeUsers := 0
			for _, v := range deltaUsers {
				if v[0] > 0 || v[1] > 0 {
					activeUsers++
				}
			}
			want := []string{
				fmt.Sprintf("Period:              %s to %s (", wantFirst.UTC().Format(time.RFC3339), wantLast.UTC().Format(time.RFC3339)),
				fmt.Sprintf("Sessions:            %.0f started, %.0f ended, %.0f active at the end\n",
					diff("mirrord_sessions_started_total"), diff("mirrord_sessions_ended_total"), sumSeries(after, "mirrord_sessions_active")),
				fmt.Sprintf("Distinct users:      %d\n", activeUsers),
				fmt.Sprintf("(over %.0f ended sessions", diff("mirrord_session_duration_seconds_count")),
				fmt.Sprintf("Ports:               %.0f stolen", diff("mirrord_ports_stolen_total")),
				fmt.Sprintf(", %.0f mirrored\n", diff("mirrord_ports_mirrored_total")),
				fmt.Sprintf("Copied targets:      %.0f ", diff("mirrord_targets_copied_total")),
				fmt.Sprintf("Seat limit reached:  %.0f times", diff("mirrord_seat_limit_reached_total")),
			}
			for _, w := range want {
				if !strings.Contains(report, w) {
					t.Errorf("report lacks %q:\n%s", w, report)
				}
			}
			if strings.Contains(report, "Note:") {
				t.Errorf("a period with events has a note:\n%s", report)
			}
			hours := diff("mirrord_session_duration_seconds_sum") / 3600
			if got := reportHours(t, report); math.Abs(got-hours) > 0.05+1e-9 {
				t.Errorf("session hours %v, want %.3f:\n%s", got, hours, report)
			}
			// Every user and target active in the period, and only those,
			// with their sessions and hours in it.
			for _, list := range []struct {
				section string
				delta   map[string][2]float64
			}{
				{"\nTop users ", deltaUsers},
				{"\nTop targets ", deltaTargets},
			} {
				wantShares := map[string][2]float64{}
				for k, v := range list.delta {
					if v[0] > 0 || v[1] > 0 {
						wantShares[k] = v
					}
				}
				entries := topEntries(t, report, list.section)
				if len(entries) != len(wantShares) {
					t.Errorf("%s: %d entries, want %d:\n%s", strings.TrimSpace(list.section), len(entries), len(wantShares), report)
				}
				for _, e := range entries {
					w, ok := wantShares[e.name]
					switch {
					case !ok:
						t.Errorf("%s: %s listed, with no activity in the period", strings.TrimSpace(list.section), e.name)
					case e.sessions != w[0] || math.Abs(e.hours-w[1]/3600) > 0.05+1e-9:
						t.Errorf("%s: %s has %v sessions, %v hours; want %v, %.3f", strings.TrimSpace(list.section), e.name, e.sessions, e.hours, w[0], w[1]/3600)
					}
				}
			}
		})
	}
}

// sumSeries adds up the series of one name.
func sumSeries(series map[string]float64, name string) float64 {
	sum := 0.0
	for k, v := range series {
		if k == name || strings.HasPrefix(k, name+"{") {
			sum += v
		}
	}
	return sum
}

// reportHours is the session hours of a report.
func reportHours(t *testing.T, report string) float64 {
	t.Helper()
	m := regexp.MustCompile(`Session hours: +([0-9.]+) `).FindStringSubmatch(report)
	if m == nil {
		t.Fatalf("no session hours:\n%s", report)
	}
	v, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestReportEmptyPeriod: a period without events is a report that says so,
// with the sessions still open then; logs without events are an error.
func TestReportEmptyPeriod(t *testing.T) {
	path, log, first, last := periodLog(t)
	whole := onceBefore(t, log, time.Time{})
	for _, c := range []struct {
		name       string
		from, to   time.Time
		period     string
		active     float64
		noteSuffix string
	}{
		{"after the logs", last.Add(time.Hour), time.Time{},
			last.Add(time.Hour).Format(time.RFC3339) + " to " + last.Add(time.Hour).Format(time.RFC3339) + " (0s)",
			sumSeries(whole, "mirrord_sessions_active"), "the logs run from " + first.Format(time.RFC3339) + " to " + last.Format(time.RFC3339)},
		{"before the logs", first.Add(-3 * time.Hour), first.Add(-time.Hour),
			first.Add(-3*time.Hour).Format(time.RFC3339) + " to " + first.Add(-time.Hour).Format(time.RFC3339) + " (2h0m0s)",
			0, "the logs start at " + first.Format(time.RFC3339)},
		{"to before the logs", time.Time{}, first.Add(-time.Hour),
			first.Format(time.RFC3339) + " to " + first.Format(time.RFC3339) + " (0s)",
			0, "is at " + first.Format(time.RFC3339)},
	} {
		t.Run(c.name, func(t *testing.T) {
			report := runReportPeriod(t, config(io.Discard, path), 3, c.from, c.to)
			for _, w := range []string{
				"Period:              " + c.period + "\n",
				"Note:                no event in this period; ",
				c.noteSuffix,
				fmt.Sprintf("Sessions:            0 started, 0 ended, %.0f active at the end\n", c.active),
				"Distinct users:      0\n",
				"Top users  sessions  hours\n\nTop targets",
			} {
				if !strings.Contains(report, w) {
					t.Errorf("report lacks %q:\n%s", w, report)
				}
			}
		})
	}

	// Logs without an event at all are still an error, cut or not.
	noEvents := filepath.Join(t.TempDir(), "empty.log")
	if err := os.WriteFile(noEvents, []byte("not a log\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := reportPeriod(config(io.Discard, noEvents), 3, first, last); err == nil {
		t.Errorf("a report on logs without events succeeded:\n%s", out)
	}
}

// endlessReader serves r, then blocks until done is closed: standard input
// whose writer never ends it.
type endlessReader struct {
	r    io.Reader
	done chan struct{}
}

func (e *endlessReader) Read(p []byte) (int, error) {
	if n, err := e.r.Read(p); err != io.EOF {
		return n, err
	}
	<-e.done
	return 0, io.EOF
}

// TestReportStopsReadingAtTo: with --to, report stops reading at the first
// event at or after it: on standard input that never ends, it returns, with
// the report of the same period on the file.
func TestReportStopsReadingAtTo(t *testing.T) {
	path, log, first, _ := periodLog(t)
	from, to := first.Add(2*time.Hour), first.Add(6*time.Hour)
	want := runReportPeriod(t, config(io.Discard, path), 5, from, to)

	done := make(chan struct{})
	t.Cleanup(func() { close(done) })
	cfg := config(io.Discard, "-")
	cfg.Stdin = &endlessReader{r: bytes.NewReader(log), done: done}
	type result struct {
		out string
		err error
	}
	res := make(chan result, 1)
	go func() {
		out, err := reportPeriod(cfg, 5, from, to)
		res <- result{out, err}
	}()
	select {
	case r := <-res:
		if r.err != nil {
			t.Fatal(r.err)
		}
		if r.out != want {
			t.Errorf("report on standard input:\n%s\nwant, as on the file:\n%s", r.out, want)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("report --to still reads, 60s after it was started, an input that never ends")
	}
}
