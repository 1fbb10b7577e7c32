package main

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mirrord-exporter/mirrord-exporter/internal/exportertest"
	"github.com/mirrord-exporter/mirrord-exporter/internal/loggen"
)

// TestBackfillFlags: the subcommands refuse what they cannot do (exit code
// 2, as kingpin's own errors).
func TestBackfillFlags(t *testing.T) {
	for _, args := range [][]string{
		{"backfill", "--input.path=x"},                            // no --output
		{"backfill", "--input.path=x", "--output=y", "--step=0s"}, // step too small
		{"backfill", "--input.path=x", "--output=y", "--once"},
		{"report", "--kubernetes"},
	} {
		var stdout, stderr bytes.Buffer
		if code := run(args, nil, &stdout, &stderr); code != 2 {
			t.Errorf("%v: exit code %d, want 2; stderr:\n%s", args, code, stderr.String())
		}
	}
}

// TestReportPeriodFlags: report --from and --to take RFC 3339 times or
// dates (midnight UTC); a bad value or an empty period fails at start with
// exit code 2, naming the flag, and a good one cuts the report.
func TestReportPeriodFlags(t *testing.T) {
	for _, c := range []struct {
		args     []string
		from, to time.Time
	}{
		{[]string{"--from=2026-08-01"}, time.Date(2026, 8, 1, 0, 0, 0, 0, time.UTC), time.Time{}},
		{[]string{"--to=2026-08-01T09:30:00+02:00"}, time.Time{}, time.Date(2026, 8, 1, 7, 30, 0, 0, time.UTC)},
		{[]string{"--from=2026-08-01T00:00:00.5Z", "--to=2026-08-02"},
			time.Date(2026, 8, 1, 0, 0, 0, 5e8, time.UTC), time.Date(2026, 8, 2, 0, 0, 0, 0, time.UTC)},
	} {
		o, err := parseFlags(append([]string{"report", "--input.path=x"}, c.args...))
		if err != nil {
			t.Errorf("%v: %v", c.args, err)
			continue
		}
		if !o.report.from.Equal(c.from) || !o.report.to.Equal(c.to) {
			t.Errorf("%v: period %s to %s, want %s to %s", c.args, o.report.from, o.report.to, c.from, c.to)
		}
	}

	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--from=yesterday"}, "--from must be an RFC 3339 time"},
		{[]string{"--to=2026-08-01 10:00"}, "--to must be an RFC 3339 time"},
		{[]string{"--from=2026-13-01"}, "--from must be"},
		{[]string{"--from=2026-08-01T10:00:00"}, "--from must be"}, // no zone
		{[]string{"--from=2026-08-02", "--to=2026-08-01"}, "--from (2026-08-02) must be before --to (2026-08-01)"},
		{[]string{"--from=2026-08-01", "--to=2026-08-01T00:00:00Z"}, "must be before --to"},
		{[]string{"--format=xml"}, `--format: unknown report format "xml": want one of text, json, csv, html`},
		{[]string{"--format=JSON"}, "--format: unknown report format"},
	} {
		var stdout, stderr bytes.Buffer
		args := append([]string{"report", "--input.path=x"}, c.args...)
		if code := run(args, nil, &stdout, &stderr); code != 2 || !strings.Contains(stderr.String(), c.want) {
			t.Errorf("%v: exit code %d, stderr %q; want 2 and %q", args, code, stderr.String(), c.want)
		}
	}

	// The binary's path from the flags to the report.
	cfg := exportertest.GenConfig(loggen.Raw, 5)
	cfg.Sessions, cfg.Span = 40, 6*time.Hour
	path := filepath.Join(t.TempDir(), "operator.log")
	exportertest.WriteLog(t, path, cfg)
	var stdout, stderr bytes.Buffer
	if code := run([]string{"report", "--input.path=" + path, "--from=2026-08-17T10:00:00Z", "--to=2026-08-17T12:00:00Z"}, nil, &stdout, &stderr); code != 0 {
		t.Fatalf("exit code %d; stderr:\n%s", code, stderr.String())
	}
	if want := "Period:              2026-08-17T10:00:00Z to 2026-08-17T12:00:00Z (2h0m0s)\n"; !strings.HasPrefix(stdout.String(), want) {
		t.Errorf("report starts %q, want %q:\n%s", strings.SplitAfter(stdout.String(), "\n")[0], want, stdout.String())
	}
	// --format reaches the report.
	stdout.Reset()
	if code := run([]string{"report", "--input.path=" + path, "--format=json", "--from=2026-08-17T10:00:00Z", "--to=2026-08-17T12:00:00Z"}, nil, &stdout, &stderr); code != 0 {
		t.Fatalf("exit code %d; stderr:\n%s", code, stderr.String())
	}
	if want := `"from": "2026-08-17T10:00:00Z",`; !strings.Contains(stdout.String(), want) {
		t.Errorf("JSON report lacks %q:\n%s", want, stdout.String())
	}
}
