package main

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/mirrord-exporter/mirrord-exporter/internal/exportertest"
	"github.com/mirrord-exporter/mirrord-exporter/internal/loggen"
)

// runOnce runs the exporter in --once mode and returns its exposition.
func runOnce(t *testing.T, stdin io.Reader, args ...string) string {
	t.Helper()
	var stdout, stderr bytes.Buffer
	if code := run(append([]string{"--once"}, args...), stdin, &stdout, &stderr); code != 0 {
		t.Fatalf("exit code %d; stderr:\n%s", code, stderr.String())
	}
	return stdout.String()
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

// TestOnceMatchesGeneratorTruth: what --once prints (the exporter's
// metrics, the capped families merged in) is the generator's truth, each
// family once in name order. The exporter package tests the wiring behind.
func TestOnceMatchesGeneratorTruth(t *testing.T) {
	for name, w := range map[string]loggen.Wrapper{"raw": loggen.Raw} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "operator.log")
			truth := exportertest.WriteLog(t, path, exportertest.GenConfig(w, 42))
			out := runOnce(t, nil, "--input.path="+path)
			exportertest.RequireTruth(t, out, truth)
			requireSortedFamilies(t, out)
			lines := loggen.SeriesKey("mirrord_exporter_log_lines_total", map[string]string{"input": path})
			if got := exportertest.Sample(t, out, lines); got != float64(truth.Lines) {
				t.Errorf("%s = %v, want %d", lines, got, truth.Lines)
			}
		})
	}
}

func TestOnceForcedFormatAndStdin(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "operator.log")
	truth := exportertest.WriteLog(t, path, exportertest.GenConfig(loggen.CRI, 7))
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	exportertest.RequireTruth(t, runOnce(t, f, "--input.path=-", "--input.format=cri"), truth)
}

func TestOnceRejectsBadFlags(t *testing.T) {
	for name, tc := range map[string]struct {
		args []string
		want string // in the error output
	}{
		"required label":   {[]string{"--no-label=client_user", "--input.path=-"}, "cannot be removed"},
		"missing file":     {[]string{"--input.path=/nonexistent/operator.log"}, "/nonexistent/operator.log"},
		"bad format":       {[]string{"--input.format=xml", "--input.path=-"}, "must be one of auto,json,docker,cri"},
		"tiny line limit":  {[]string{"--input.max-line-bytes=10B", "--input.path=-"}, "--input.max-line-bytes"},
		"no inputs at all": {nil, "no input"},
		"kubernetes once":  {[]string{"--kubernetes", "--input.path=-"}, "cannot follow --kubernetes"},
		// Spellings of earlier releases name their replacement.
		"old log.path":            {[]string{"--log.path=-"}, "--log.path was renamed --input.path"},
		"old log.path twice":      {[]string{"--log.path=a", "--log.path=b"}, "--log.path was renamed --input.path"},
		"old log.from":            {[]string{"--log.from=end", "--input.path=-"}, "--log.from was renamed --input.from"},
		"old log.max-line-bytes":  {[]string{"--log.max-line-bytes=2MiB", "--input.path=-"}, "--log.max-line-bytes was renamed --input.max-line-bytes"},
		"old log.poll-interval":   {[]string{"--log.poll-interval=1s", "--input.path=-"}, "--log.poll-interval was renamed --input.poll-interval"},
		"old no-log.inotify":      {[]string{"--no-log.inotify", "--input.path=-"}, "--log.inotify was renamed --input.inotify"},
		"old exporter.log.level":  {[]string{"--exporter.log.level=debug", "--input.path=-"}, "--exporter.log.level was renamed --log.level"},
		"old exporter.log.format": {[]string{"--exporter.log.format=json", "--input.path=-"}, "--exporter.log.format was renamed --log.format"},
		// --log.format=cri by habit from earlier releases: not silently
		// taken for the exporter's own log format.
		"wrapper in log.format": {[]string{"--log.format=cri", "--input.path=-"}, "the operator log's wrapper is now --input.format"},
		"bad log format":        {[]string{"--log.format=xml", "--input.path=-"}, "--log.format must be logfmt or json"},
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
