package exporter_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mirrord-exporter/mirrord-exporter/exporter"
	"github.com/mirrord-exporter/mirrord-exporter/internal/loggen"
	"github.com/mirrord-exporter/mirrord-exporter/report"
)

var updateScreenshot = flag.Bool("update", false, "write docs/report.png from the HTML report test")

// reportAs runs ReportAs on cfg's inputs over [from, to).
func reportAs(t *testing.T, cfg exporter.Config, f report.Format, top int, from, to time.Time) []byte {
	t.Helper()
	cfg.Once, cfg.InTimeOrder = true, true
	e, err := exporter.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := e.ReportAs(context.Background(), &out, f, top, from, to); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// reportJSON is the JSON report over [from, to), decoded.
func reportJSON(t *testing.T, path string, top int, from, to time.Time) *report.Data {
	t.Helper()
	out := reportAs(t, config(io.Discard, path), report.FormatJSON, top, from, to)
	var d report.Data
	dec := json.NewDecoder(bytes.NewReader(out))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&d); err != nil {
		t.Fatalf("JSON report: %v\n%s", err, out)
	}
	return &d
}

// usersActive is the client_user values whose sessions started or ended
// grew from before to after.
func usersActive(t *testing.T, after, before map[string]float64) map[string]bool {
	t.Helper()
	re := regexp.MustCompile(`client_user="((?:[^"\\]|\\.)*)"`)
	users := map[string]bool{}
	for k, v := range after {
		if !strings.HasPrefix(k, "mirrord_sessions_started_total{") && !strings.HasPrefix(k, "mirrord_sessions_ended_total{") {
			continue
		}
		if v-before[k] <= 0 {
			continue
		}
		m := re.FindStringSubmatch(k)
		if m == nil {
			t.Fatalf("no client_user in %s", k)
		}
		u, err := strconv.Unquote(`"` + m[1] + `"`)
		if err != nil {
			t.Fatal(err)
		}
		users[u] = true
	}
	return users
}

// calendarLog is a generated raw log of 9 days from 2026-08-27 (a
// Thursday): it crosses an ISO week and a month.
func calendarLog(t *testing.T) (path string, log []byte) {
	t.Helper()
	cfg := loggen.Config{
		Seed: 61, Sessions: 400, Start: time.Date(2026, 8, 27, 5, 0, 0, 0, time.UTC), Span: 9 * 24 * time.Hour, NoiseRatio: 0.2,
	}
	var buf bytes.Buffer
	if _, err := loggen.Generate(&buf, cfg); err != nil {
		t.Fatal(err)
	}
	path = filepath.Join(t.TempDir(), "operator.log")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path, buf.Bytes()
}

// TestReportCalendar: the distinct users per day, week and month of the
// JSON and CSV reports are the users whose sessions started or ended
// between --once on the log cut at the bucket's ends (clipped to the
// period).
func TestReportCalendar(t *testing.T) {
	path, log := calendarLog(t)
	day := func(d int) time.Time { return time.Date(2026, 8, d, 0, 0, 0, 0, time.UTC) }
	cache := map[time.Time]map[string]float64{}
	at := func(t0 time.Time) map[string]float64 {
		if m, ok := cache[t0]; ok {
			return m
		}
		m := onceBefore(t, log, t0)
		cache[t0] = m
		return m
	}
	for _, c := range []struct {
		name     string
		from, to time.Time
	}{
		{"whole", time.Time{}, time.Time{}},
		{"cut off midnight", day(29).Add(7 * time.Hour), day(34).Add(3 * time.Hour)}, // 2026-09-03
	} {
		t.Run(c.name, func(t *testing.T) {
			d := reportJSON(t, path, -1, c.from, c.to)
			rows := csvRows(t, reportAs(t, config(io.Discard, path), report.FormatCSV, -1, c.from, c.to))
			// Each bucket's users: between the bucket's ends, clipped.
			expect := func(start, end time.Time) int {
				lo, hi := start, end
				if lo.Before(d.From) {
					lo = d.From
				}
				var before, after map[string]float64
				if c.from.IsZero() && !lo.After(d.From) {
					before = map[string]float64{}
				} else {
					before = at(lo)
				}
				if c.to.IsZero() && !hi.Before(d.To) {
					after = at(time.Time{})
				} else {
					if hi.After(d.To) {
						hi = d.To
					}
					after = at(hi)
				}
				return len(usersActive(t, after, before))
			}
			for _, u := range []struct {
				section string
				list    []report.Bucket
				next    func(time.Time) time.Time
				want    []string
			}{
				{"distinct_users_per_day", d.DistinctUsersPerDay, func(s time.Time) time.Time { return s.AddDate(0, 0, 1) }, nil},
				{"distinct_users_per_week", d.DistinctUsersPerWeek, func(s time.Time) time.Time { return s.AddDate(0, 0, 7) }, nil},
				{"distinct_users_per_month", d.DistinctUsersPerMonth, func(s time.Time) time.Time { return s.AddDate(0, 1, 0) }, []string{"2026-08", "2026-09"}},
			} {
				if len(u.list) < 2 {
					t.Errorf("%s: %d buckets, want the period's several", u.section, len(u.list))
				}
				if u.want != nil {
					var got []string
					for _, b := range u.list {
						got = append(got, b.Period)
					}
					if strings.Join(got, " ") != strings.Join(u.want, " ") {
						t.Errorf("%s: %v, want %v", u.section, got, u.want)
					}
				}
				for i, b := range u.list {
					if i > 0 && !b.Start.Equal(u.next(u.list[i-1].Start)) {
						t.Errorf("%s: %s does not follow %s", u.section, b.Period, u.list[i-1].Period)
					}
					want := expect(b.Start, u.next(b.Start))
					if b.DistinctUsers != want {
						t.Errorf("%s %s: %d users, want %d", u.section, b.Period, b.DistinctUsers, want)
					}
					if got := rows[[3]string{u.section, b.Period, "distinct_users"}]; got != strconv.Itoa(want) {
						t.Errorf("CSV %s %s: %q users, want %d", u.section, b.Period, got, want)
					}
				}
			}
			if d.DistinctUsersPerWeek[0].Period != "2026-W35" {
				t.Errorf("first week %s, want 2026-W35", d.DistinctUsersPerWeek[0].Period)
			}
			// The whole period's distinct users, too.
			if want := expect(d.From, d.To.Add(time.Nanosecond)); d.DistinctUsers != want && c.to.IsZero() {
				t.Errorf("distinct_users %d, want %d", d.DistinctUsers, want)
			}
		})
	}
}

// csvRows reads a CSV report into its values by section, name and field.
func csvRows(t *testing.T, out []byte) map[[3]string]string {
	t.Helper()
	records, err := csv.NewReader(bytes.NewReader(out)).ReadAll()
	if err != nil {
		t.Fatalf("CSV report: %v\n%s", err, out)
	}
	if len(records) == 0 || strings.Join(records[0], ",") != "section,name,field,value" {
		t.Fatalf("CSV report header %v", records[:min(1, len(records))])
	}
	rows := map[[3]string]string{}
	for _, r := range records[1:] {
		k := [3]string{r[0], r[1], r[2]}
		if _, dup := rows[k]; dup {
			t.Errorf("CSV report: row %v twice", k)
		}
		rows[k] = r[3]
	}
	return rows
}

// TestReportJSONAndCSV: the JSON and CSV reports give what --once gives on
// the log cut at the period's ends, users, teams and targets included.
func TestReportJSONAndCSV(t *testing.T) {
	path, log, first, _ := periodLog(t)
	hour := func(h time.Duration) time.Time { return first.Truncate(time.Hour).Add(h * time.Hour) }
	for _, c := range []struct {
		name     string
		from, to time.Time
	}{
		{"whole", time.Time{}, time.Time{}},
		{"from and to", hour(4), hour(13)},
	} {
		t.Run(c.name, func(t *testing.T) {
			d := reportJSON(t, path, -1, c.from, c.to)
			rows := csvRows(t, reportAs(t, config(io.Discard, path), report.FormatCSV, -1, c.from, c.to))
			after := onceBefore(t, log, c.to)
			before := map[string]float64{}
			if !c.from.IsZero() {
				before = onceBefore(t, log, c.from)
			}
			diff := func(name string) float64 { return sumSeries(after, name) - sumSeries(before, name) }
			deltaUsers, deltaTargets := seriesShares(t, seriesDelta(after, before))
			distinct := 0
			for _, v := range deltaUsers {
				if v[0] > 0 || v[1] > 0 {
					distinct++
				}
			}
			for _, f := range []struct {
				field     string
				got, want float64
			}{
				{"sessions_started", d.SessionsStarted, diff("mirrord_sessions_started_total")},
				{"sessions_ended", d.SessionsEnded, diff("mirrord_sessions_ended_total")},
				{"sessions_active", d.SessionsActive, sumSeries(after, "mirrord_sessions_active")},
				{"distinct_users", float64(d.DistinctUsers), float64(distinct)},
				{"session_hours", d.SessionHours, diff("mirrord_session_duration_seconds_sum") / 3600},
				{"sessions_with_duration", d.SessionsWithDuration, diff("mirrord_session_duration_seconds_count")},
				{"ports_stolen", d.PortsStolen, diff("mirrord_ports_stolen_total")},
				{"ports_stolen_http_filtered", d.PortsStolenHTTPFiltered, sumLabelled(after, "mirrord_ports_stolen_total", `http_filtered="true"`) - sumLabelled(before, "mirrord_ports_stolen_total", `http_filtered="true"`)},
				{"ports_mirrored", d.PortsMirrored, diff("mirrord_ports_mirrored_total")},
				{"targets_copied", d.TargetsCopied, diff("mirrord_targets_copied_total")},
				{"seat_limit_reached", d.SeatLimitReached, diff("mirrord_seat_limit_reached_total")},
			} {
				if math.Abs(f.got-f.want) > 1e-6 {
					t.Errorf("%s: %v, want %v", f.field, f.got, f.want)
				}
				csvValue, err := strconv.ParseFloat(rows[[3]string{"summary", "", f.field}], 64)
				if err != nil || math.Abs(csvValue-f.want) > 1e-6 {
					t.Errorf("CSV %s: %q, want %v", f.field, rows[[3]string{"summary", "", f.field}], f.want)
				}
			}
			if d.SessionsStarted == 0 || d.PortsStolen == 0 || d.PortsMirrored == 0 {
				t.Fatal("a period without sessions or ports: the test checks little")
			}
			if c.from.IsZero() {
				// The whole log is shorter than 30 days: the peaks are
				// --once's 30d window.
				if want := sumLabelled(after, "mirrord_sessions_concurrent_peak", `window="30d"`); float64(d.SessionsConcurrentPeak) != want || want == 0 {
					t.Errorf("sessions_concurrent_peak %d, want %v", d.SessionsConcurrentPeak, want)
				}
				if want := sumLabelled(after, "mirrord_users_concurrent_peak", `window="30d"`); float64(d.UsersConcurrentPeak) != want || want == 0 {
					t.Errorf("users_concurrent_peak %d, want %v", d.UsersConcurrentPeak, want)
				}
			} else if d.SessionsConcurrentPeak <= 0 || d.UsersConcurrentPeak <= 0 || d.UsersConcurrentPeak > d.SessionsConcurrentPeak {
				t.Errorf("peaks %d sessions, %d users", d.SessionsConcurrentPeak, d.UsersConcurrentPeak)
			}
			// Users and targets: all of them, with their shares.
			teams := teamShares(t, seriesDelta(after, before))
			for _, list := range []struct {
				section string
				got     []report.Share
				want    map[string][2]float64
			}{{"users", d.Users, deltaUsers}, {"targets", d.Targets, deltaTargets}, {"teams", d.Teams, teams}} {
				n := 0
				for _, v := range list.want {
					if v[0] > 0 || v[1] > 0 {
						n++
					}
				}
				if len(list.got) != n {
					t.Errorf("%s: %d listed, want %d", list.section, len(list.got), n)
				}
				for i, s := range list.got {
					w := list.want[s.Name]
					if s.SessionsStarted != w[0] || math.Abs(s.SessionHours-w[1]/3600) > 1e-6 {
						t.Errorf("%s %q: %v sessions, %v hours; want %v, %v", list.section, s.Name, s.SessionsStarted, s.SessionHours, w[0], w[1]/3600)
					}
					if i > 0 && (list.got[i-1].SessionsStarted < s.SessionsStarted) {
						t.Errorf("%s: %q before %q, not busiest first", list.section, list.got[i-1].Name, s.Name)
					}
					if got := rows[[3]string{list.section, s.Name, "sessions_started"}]; got != strconv.FormatFloat(w[0], 'f', -1, 64) {
						t.Errorf("CSV %s %q sessions_started %q, want %v", list.section, s.Name, got, w[0])
					}
				}
			}
			// CLI versions: the family's increase by client_cli_version,
			// or null without the family.
			versionRE := regexp.MustCompile(`client_cli_version="((?:[^"\\]|\\.)*)"`)
			wantVersions, hasFamily := map[string]float64{}, false
			for k, v := range seriesDelta(after, before) {
				if strings.HasPrefix(k, "mirrord_sessions_started_by_cli_version_total{") {
					hasFamily = true
					if m := versionRE.FindStringSubmatch(k); m != nil && v > 0 {
						wantVersions[m[1]] += v
					}
				}
			}
			switch {
			case !hasFamily && d.CLIVersions != nil:
				t.Errorf("cli_versions %v without the family", d.CLIVersions)
			case hasFamily:
				if len(d.CLIVersions) != len(wantVersions) {
					t.Errorf("cli_versions %v, want %v", d.CLIVersions, wantVersions)
				}
				for _, v := range d.CLIVersions {
					if v.SessionsStarted != wantVersions[v.Version] {
						t.Errorf("cli_versions %q: %v sessions, want %v", v.Version, v.SessionsStarted, wantVersions[v.Version])
					}
					if got := rows[[3]string{"cli_versions", v.Version, "sessions_started"}]; got != strconv.FormatFloat(v.SessionsStarted, 'f', -1, 64) {
						t.Errorf("CSV cli_versions %q: %q", v.Version, got)
					}
				}
			}
		})
	}
	// The text report is the JSON's numbers too.
	text := string(reportAs(t, config(io.Discard, path), report.FormatText, 3, time.Time{}, time.Time{}))
	d := reportJSON(t, path, 3, time.Time{}, time.Time{})
	if want := fmt.Sprintf("Distinct users:      %d\n", d.DistinctUsers); !strings.Contains(text, want) {
		t.Errorf("text report lacks %q:\n%s", want, text)
	}
	if text != runReport(t, path, 3) {
		t.Error("ReportAs text differs from Report")
	}
}

// chromium is the headless browser of the HTML report's test: skipped
// without it, except in CI.
func chromium(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("chromium")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("chromium not found: CI must install it (apt-get install chromium)")
		}
		t.Skip("chromium not found")
	}
	return bin
}

// runChromium runs headless Chromium with args and returns its standard
// output.
func runChromium(t *testing.T, bin string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	home := t.TempDir()
	cmd := exec.CommandContext(ctx, bin, append([]string{
		"--headless", "--disable-gpu", "--no-sandbox", "--no-first-run", "--disable-dev-shm-usage",
		"--user-data-dir=" + filepath.Join(home, "profile"),
	}, args...)...)
	cmd.Env = append(os.Environ(), "HOME="+home)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium %v: %v\n%s", args, err, stderr.String())
	}
	return stdout.String()
}

// TestReportHTML opens the HTML report in headless Chromium and checks the
// numbers of the rendered page against the JSON report's; with -update it
// writes docs/report.png, the README's screenshot.
func TestReportHTML(t *testing.T) {
	bin := chromium(t)
	path, _ := calendarLog(t)
	d := reportJSON(t, path, 10, time.Time{}, time.Time{})
	page := reportAs(t, config(io.Discard, path), report.FormatHTML, 10, time.Time{}, time.Time{})
	for _, banned := range []string{"http://", "https://", "<script", "@import", "url("} {
		if i := bytes.Index(page, []byte(banned)); i >= 0 && !bytes.HasPrefix(page[i:], []byte("http://www.w3.org/2000/svg")) {
			t.Errorf("the page is not self-contained: %q at %d", banned, i)
		}
	}
	file := filepath.Join(t.TempDir(), "report.html")
	if err := os.WriteFile(file, page, 0o644); err != nil {
		t.Fatal(err)
	}
	dom := runChromium(t, bin, "--dump-dom", "file://"+file)
	if !strings.Contains(dom, "</html>") {
		t.Fatalf("chromium dumped no page:\n%s", dom)
	}

	// Headline numbers: an element per JSON field, its data-value the
	// JSON's and its text as shown.
	valueRE := regexp.MustCompile(`id="([a-z_]+)" data-value="([^"]*)"[^>]*>([^<]*)<`)
	values := map[string]string{}
	for _, m := range valueRE.FindAllStringSubmatch(dom, -1) {
		values[m[1]] = m[2]
	}
	var fields map[string]any
	js, _ := json.Marshal(d)
	if err := json.Unmarshal(js, &fields); err != nil {
		t.Fatal(err)
	}
	checked := 0
	for k, v := range fields {
		f, ok := v.(float64)
		if !ok {
			continue
		}
		got, ok := values[k]
		if !ok {
			t.Errorf("the page shows no %s", k)
			continue
		}
		if g, err := strconv.ParseFloat(got, 64); err != nil || math.Abs(g-f) > 1e-9 {
			t.Errorf("the page's %s is %q, the JSON's %v", k, got, f)
		}
		checked++
	}
	if checked < 14 {
		t.Errorf("%d headline numbers checked, want every one", checked)
	}
	if values["seat_limit_hits"] != strconv.FormatFloat(d.SeatLimitReached, 'f', -1, 64) {
		t.Errorf("seat limit hits %q, want %v", values["seat_limit_hits"], d.SeatLimitReached)
	}
	if g, _ := strconv.ParseFloat(values["mirror"], 64); g != d.PortsMirrored {
		t.Errorf("steal against mirror: %q mirrored, want %v", values["mirror"], d.PortsMirrored)
	}

	// The bar chart: a bar per day, each as high as its users.
	barRE := regexp.MustCompile(`<rect class="bar" data-period="([0-9-]+)" data-users="(\d+)"[^>]* height="([0-9.]+)"`)
	bars := barRE.FindAllStringSubmatch(dom, -1)
	if len(bars) != len(d.DistinctUsersPerDay) {
		t.Fatalf("%d bars, want %d days", len(bars), len(d.DistinctUsersPerDay))
	}
	var maxUsers, maxHeight float64
	for i, b := range bars {
		day := d.DistinctUsersPerDay[i]
		if b[1] != day.Period || b[2] != strconv.Itoa(day.DistinctUsers) {
			t.Errorf("bar %d: %s %s users, want %s %d", i, b[1], b[2], day.Period, day.DistinctUsers)
		}
		h, _ := strconv.ParseFloat(b[3], 64)
		if float64(day.DistinctUsers) > maxUsers {
			maxUsers, maxHeight = float64(day.DistinctUsers), h
		}
	}
	for i, b := range bars {
		h, _ := strconv.ParseFloat(b[3], 64)
		if want := float64(d.DistinctUsersPerDay[i].DistinctUsers) / maxUsers * maxHeight; math.Abs(h-want) > 0.1 {
			t.Errorf("bar %s is %v high, want %v", b[1], h, want)
		}
	}

	// The tables: their rows, in the JSON's order, the names escaped
	// back to the logs' values by the browser.
	for _, tbl := range []struct {
		id   string
		list []report.Share
	}{{"users", d.Users}, {"teams", d.Teams}, {"targets", d.Targets}} {
		start := strings.Index(dom, `<table id="`+tbl.id+`"`)
		if start < 0 {
			t.Errorf("no table %s", tbl.id)
			continue
		}
		body := dom[start:]
		body = body[:strings.Index(body, "</table>")]
		rowRE := regexp.MustCompile(`<tr data-name="([^"]*)" data-sessions-started="([^"]*)" data-session-hours="([^"]*)"`)
		rows := rowRE.FindAllStringSubmatch(body, -1)
		if len(rows) != len(tbl.list) || len(rows) == 0 {
			t.Errorf("table %s: %d rows, want %d", tbl.id, len(rows), len(tbl.list))
			continue
		}
		for i, r := range rows {
			s := tbl.list[i]
			if unescape(r[1]) != s.Name || r[2] != strconv.FormatFloat(s.SessionsStarted, 'f', -1, 64) {
				t.Errorf("table %s row %d: %q %s, want %q %v", tbl.id, i, unescape(r[1]), r[2], s.Name, s.SessionsStarted)
			}
		}
	}
	if d.CLIVersions == nil && !strings.Contains(dom, `id="cli_versions">No sessions by CLI version`) {
		t.Error("no CLI versions: the page does not say so")
	}
	cliRE := regexp.MustCompile(`<tr data-name="([^"]*)" data-sessions-started="([^"]*)"><td>`)
	var cliRows [][]string
	if i := strings.Index(dom, `<table id="cli_versions"`); i >= 0 {
		body := dom[i:]
		cliRows = cliRE.FindAllStringSubmatch(body[:strings.Index(body, "</table>")], -1)
	}
	if len(cliRows) != len(d.CLIVersions) {
		t.Errorf("%d CLI versions shown, want %d", len(cliRows), len(d.CLIVersions))
	}
	for i, r := range cliRows {
		if i < len(d.CLIVersions) && (unescape(r[1]) != d.CLIVersions[i].Version || r[2] != strconv.FormatFloat(d.CLIVersions[i].SessionsStarted, 'f', -1, 64)) {
			t.Errorf("CLI version row %d: %q %s, want %+v", i, r[1], r[2], d.CLIVersions[i])
		}
	}

	if *updateScreenshot {
		shot := filepath.Join("..", "docs", "report.png")
		abs, err := filepath.Abs(shot)
		if err != nil {
			t.Fatal(err)
		}
		runChromium(t, bin, "--hide-scrollbars", "--screenshot="+abs, "--window-size=1200,1600", "file://"+file)
		if fi, err := os.Stat(abs); err != nil || fi.Size() == 0 {
			t.Fatalf("no screenshot at %s: %v", abs, err)
		}
	}
}

// unescape reads back the entities Chromium's DOM dump keeps in attributes.
func unescape(s string) string {
	return strings.NewReplacer("&quot;", `"`, "&amp;", "&", "&lt;", "<", "&gt;", ">", "&nbsp;", "\u00a0").Replace(s)
}

// sumLabelled adds up the series of one name whose labels include label.
func sumLabelled(series map[string]float64, name, label string) float64 {
	sum := 0.0
	for k, v := range series {
		if strings.HasPrefix(k, name+"{") && strings.Contains(k, label) {
			sum += v
		}
	}
	return sum
}

// teamShares adds up per target_namespace ("(none)" without one) the
// sessions started and session seconds of the series.
func teamShares(t *testing.T, series map[string]float64) map[string][2]float64 {
	t.Helper()
	re := regexp.MustCompile(`target_namespace="((?:[^"\\]|\\.)*)"`)
	teams := map[string][2]float64{}
	for k, v := range series {
		i := 0
		switch {
		case strings.HasPrefix(k, "mirrord_sessions_started_total{"):
		case strings.HasPrefix(k, "mirrord_session_duration_seconds_sum{"):
			i = 1
		default:
			continue
		}
		ns := "(none)"
		if m := re.FindStringSubmatch(k); m != nil && m[1] != "" {
			u, err := strconv.Unquote(`"` + m[1] + `"`)
			if err != nil {
				t.Fatal(err)
			}
			ns = u
		}
		tv := teams[ns]
		tv[i] += v
		teams[ns] = tv
	}
	return teams
}
