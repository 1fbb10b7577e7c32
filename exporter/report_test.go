package exporter_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
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
	cfg := config(io.Discard, path)
	cfg.Once = true
	e, err := exporter.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := e.Report(context.Background(), &out, top); err != nil {
		t.Fatal(err)
	}
	return out.String()
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
