package main

import (
	"bytes"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/mirrord-exporter/mirrord-exporter/internal/loggen"
)

// genConfig is a generated log with every nasty part real logs have.
func genConfig(w loggen.Wrapper, seed int64) loggen.Config {
	return loggen.Config{
		Seed:       seed,
		Sessions:   300,
		Start:      time.Date(2026, 8, 17, 8, 0, 0, 0, time.UTC),
		Span:       4 * time.Hour,
		Wrapper:    w,
		NoiseRatio: 0.8,
		BigLines:   true,
		Nasty:      true,
	}
}

func writeLog(t *testing.T, path string, cfg loggen.Config) loggen.Truth {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	truth, err := loggen.Generate(f, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return truth
}

// runOnce runs the exporter in --once mode and returns its exposition.
func runOnce(t *testing.T, stdin io.Reader, args ...string) string {
	t.Helper()
	var stdout, stderr bytes.Buffer
	if code := run(append([]string{"--once"}, args...), stdin, &stdout, &stderr); code != 0 {
		t.Fatalf("exit code %d; stderr:\n%s", code, stderr.String())
	}
	return stdout.String()
}

// requireTruth fails on every series of the exposition that differs from
// the generator's truth.
func requireTruth(t *testing.T, exposition string, truth loggen.Truth) {
	t.Helper()
	diffs, err := truth.Diff(strings.NewReader(exposition))
	if err != nil {
		t.Fatal(err)
	}
	for i, d := range diffs {
		if i == 30 {
			t.Errorf("... and %d more", len(diffs)-30)
			break
		}
		t.Error(d)
	}
}

// requireSortedFamilies fails unless the exposition parses, with each
// family once and the families sorted by name, as a Gather writes them: the
// capped families, printed straight from their series, are merged in.
func requireSortedFamilies(t *testing.T, exposition string) {
	t.Helper()
	p := expfmt.NewTextParser(model.LegacyValidation)
	families, err := p.TextToMetricFamilies(strings.NewReader(exposition))
	if err != nil {
		t.Fatalf("exposition does not parse: %v", err)
	}
	var names []string
	for _, line := range strings.Split(exposition, "\n") {
		if rest, ok := strings.CutPrefix(line, "# TYPE "); ok {
			names = append(names, strings.Fields(rest)[0])
		}
	}
	if len(names) != len(families) || !slices.IsSorted(names) {
		t.Errorf("families not once each in name order (%d parsed): %v", len(families), names)
	}
	if _, ok := families["mirrord_sessions_started_total"]; !ok {
		t.Errorf("no mirrord_sessions_started_total in %v", names)
	}
}

// sample returns the value of one series of a text exposition.
func sample(t *testing.T, exposition, series string) float64 {
	t.Helper()
	for _, line := range strings.Split(exposition, "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("%s: %v", line, err)
			}
			return f
		}
	}
	return math.NaN()
}

// TestOnceMatchesGeneratorTruth: what --once prints (the exporter's
// metrics, the capped families merged in) is the generator's truth, each
// family once in name order. The exporter package tests the wiring behind.
func TestOnceMatchesGeneratorTruth(t *testing.T) {
	for name, w := range map[string]loggen.Wrapper{"raw": loggen.Raw} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "operator.log")
			truth := writeLog(t, path, genConfig(w, 42))
			out := runOnce(t, nil, "--log.path="+path)
			requireTruth(t, out, truth)
			requireSortedFamilies(t, out)
			lines := loggen.SeriesKey("mirrord_exporter_log_lines_total", map[string]string{"input": path})
			if got := sample(t, out, lines); got != float64(truth.Lines) {
				t.Errorf("%s = %v, want %d", lines, got, truth.Lines)
			}
		})
	}
}

func TestOnceForcedFormatAndStdin(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "operator.log")
	truth := writeLog(t, path, genConfig(loggen.CRI, 7))
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	requireTruth(t, runOnce(t, f, "--log.path=-", "--log.format=cri"), truth)
}

func TestOnceRejectsBadFlags(t *testing.T) {
	for name, tc := range map[string]struct {
		args []string
		want string // in the error output
	}{
		"required label":   {[]string{"--no-label=client_user", "--log.path=-"}, "cannot be removed"},
		"missing file":     {[]string{"--log.path=/nonexistent/operator.log"}, "/nonexistent/operator.log"},
		"bad format":       {[]string{"--log.format=xml", "--log.path=-"}, "must be one of auto,json,docker,cri"},
		"tiny line limit":  {[]string{"--log.max-line-bytes=10B", "--log.path=-"}, "--log.max-line-bytes"},
		"no inputs at all": {nil, "no input"},
		"kubernetes once":  {[]string{"--kubernetes", "--log.path=-"}, "cannot follow --kubernetes"},
	} {
		t.Run(name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if code := run(append([]string{"--once"}, tc.args...), strings.NewReader(""), &stdout, &stderr); code == 0 {
				t.Errorf("exit code 0, want failure; stderr:\n%s", stderr.String())
			}
			if !strings.Contains(stderr.String(), tc.want) {
				t.Errorf("error output lacks %q:\n%s", tc.want, stderr.String())
			}
			if stdout.Len() != 0 {
				t.Errorf("printed metrics on failure:\n%s", stdout.String())
			}
		})
	}
}
