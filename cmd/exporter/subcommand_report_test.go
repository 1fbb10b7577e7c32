package main

import (
	"bytes"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

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
	cfg := genConfig(loggen.CRI, 47)
	// Shorter than --session.max-age: the truth does not expire sessions.
	cfg.Sessions, cfg.Span = 150, 20*time.Hour
	path := filepath.Join(t.TempDir(), "operator.log")
	truth := writeLog(t, path, cfg)

	var stdout, stderr bytes.Buffer
	if code := run([]string{"report", "--log.path=" + path, "--top=3"}, nil, &stdout, &stderr); code != 0 {
		t.Fatalf("exit code %d; stderr:\n%s", code, stderr.String())
	}
	report := stdout.String()
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
	// Three users and three targets, busiest first.
	for _, section := range []string{"\nTop users ", "\nTop targets "} {
		_, rest, ok := strings.Cut(report, section)
		if !ok {
			t.Fatalf("no %q section:\n%s", strings.TrimSpace(section), report)
		}
		lines := strings.Split(rest, "\n")[1:]
		n := 0
		for _, l := range lines {
			if !strings.HasPrefix(l, "  ") {
				break
			}
			n++
		}
		if n != 3 {
			t.Errorf("%s: %d entries, want 3:\n%s", strings.TrimSpace(section), n, report)
		}
	}

	// The same logs give the same report.
	var again bytes.Buffer
	if code := run([]string{"report", "--log.path=" + path, "--top=3"}, nil, &again, &stderr); code != 0 || again.String() != report {
		t.Errorf("second report differs (exit code %d):\n%s", code, again.String())
	}
}
