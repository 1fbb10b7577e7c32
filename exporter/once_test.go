package exporter_test

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mirrord-exporter/mirrord-exporter/exporter"
	"github.com/mirrord-exporter/mirrord-exporter/internal/exportertest"
	"github.com/mirrord-exporter/mirrord-exporter/internal/loggen"
	"github.com/mirrord-exporter/mirrord-exporter/unwrap"
)

func TestOnceMatchesGeneratorTruth(t *testing.T) {
	for name, w := range map[string]loggen.Wrapper{"raw": loggen.Raw, "docker": loggen.Docker, "cri": loggen.CRI} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "operator.log")
			truth := exportertest.WriteLog(t, path, exportertest.GenConfig(w, 42))
			out := onceOf(t, path)
			exportertest.RequireTruth(t, out, truth)
			lines := loggen.SeriesKey("mirrord_exporter_log_lines_total", map[string]string{"input": path})
			if got := exportertest.Sample(t, out, lines); got != float64(truth.Lines) {
				t.Errorf("%s = %v, want %d", lines, got, truth.Lines)
			}
		})
	}
}

func TestOnceForcedFormatAndStdin(t *testing.T) {
	path := filepath.Join(t.TempDir(), "operator.log")
	truth := exportertest.WriteLog(t, path, exportertest.GenConfig(loggen.CRI, 7))
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cfg := config(io.Discard, "-")
	cfg.Stdin, cfg.Format = f, unwrap.CRI
	exportertest.RequireTruth(t, once(t, cfg), truth)
}

func TestOnceSeveralFilesAddUp(t *testing.T) {
	dir := t.TempDir()
	a := exportertest.WriteLog(t, filepath.Join(dir, "a.log"), exportertest.GenConfig(loggen.Raw, 1))
	b := exportertest.WriteLog(t, filepath.Join(dir, "b.log"), exportertest.GenConfig(loggen.Docker, 2))
	out := onceOf(t, filepath.Join(dir, "*.log"))
	for ev := range a.Events {
		k := loggen.SeriesKey("mirrord_exporter_events_total", map[string]string{"event": ev})
		if got, want := exportertest.Sample(t, out, k), a.Events[ev]+b.Events[ev]; got != want {
			t.Errorf("%s = %v, want %v", k, got, want)
		}
	}
}

// TestOnceRejectsBadConfig: what cannot run is refused, by New or Once,
// with the flag to change named.
func TestOnceRejectsBadConfig(t *testing.T) {
	for name, tc := range map[string]struct {
		change func(*exporter.Config)
		want   string
	}{
		"required label":   {func(c *exporter.Config) { c.NoLabels = []string{"client_user"} }, "cannot be removed"},
		"missing file":     {func(c *exporter.Config) { c.Paths = []string{"/nonexistent/operator.log"} }, "/nonexistent/operator.log"},
		"no inputs at all": {func(c *exporter.Config) { c.Paths = nil }, "no input"},
		"kubernetes once":  {func(c *exporter.Config) { c.Kubernetes = &exporter.Kubernetes{} }, "cannot follow --kubernetes"},
	} {
		t.Run(name, func(t *testing.T) {
			cfg := config(io.Discard, "-")
			cfg.Once, cfg.Stdin = true, strings.NewReader("")
			tc.change(&cfg)
			e, err := exporter.New(cfg)
			if err == nil {
				err = e.Once(context.Background())
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("%v, want an error with %q", err, tc.want)
			}
		})
	}
}

func TestPlainTextLogWarnsOnceNamingTheHelmValue(t *testing.T) {
	logText := strings.Repeat("2026-08-17T18:15:08.583869Z  INFO kube_runtime::controller: reconciling\n", 3) +
		"2026-08-17T18:15:09.000000Z  INFO operator_session::controller: Session Start session_id=5EF7 client_user=\"alice\"\n"
	var logs exportertest.LockedBuffer
	cfg := config(&logs, "-")
	cfg.Stdin = strings.NewReader(logText)
	out := once(t, cfg)
	if n := strings.Count(logs.String(), "operator.jsonLog"); n != 1 {
		t.Errorf("warning naming operator.jsonLog logged %d times, want 1:\n%s", n, logs.String())
	}
	if k := `mirrord_exporter_malformed_lines_total{reason="plain_text"}`; exportertest.Sample(t, out, k) != 3 {
		t.Errorf("%s = %v, want 3", k, exportertest.Sample(t, out, k))
	}
	// What can be read is still counted.
	if k := `mirrord_sessions_started_total{client_name="",client_user="alice",target_name="",target_namespace="",target_type="targetless"}`; exportertest.Sample(t, out, k) != 1 {
		t.Errorf("%s = %v, want 1", k, exportertest.Sample(t, out, k))
	}
}

// TestOnceSeriesCap: past MaxSeries, new label values go to the
// __overflow__ series and are counted.
func TestOnceSeriesCap(t *testing.T) {
	var log strings.Builder
	for _, name := range []string{"a", "b", "c", "d"} {
		log.WriteString(`{"fields":{"message":"Session Start","session_id":"` + name + `","client_user":"u","client_name":"` + name + `"}}` + "\n")
	}
	cfg := config(io.Discard, "-")
	cfg.Stdin, cfg.MaxSeries = strings.NewReader(log.String()), 2
	out := once(t, cfg)
	for series, want := range map[string]float64{
		`mirrord_sessions_started_total{client_name="a",client_user="u",target_name="",target_namespace="",target_type="targetless"}`:                                                 1,
		`mirrord_sessions_started_total{client_name="__overflow__",client_user="__overflow__",target_name="__overflow__",target_namespace="__overflow__",target_type="__overflow__"}`: 2,
		`mirrord_exporter_series{metric="mirrord_sessions_started_total"}`:                                                                                                            3,
		`mirrord_exporter_series_overflow_total{metric="mirrord_sessions_started_total"}`:                                                                                             2,
	} {
		if got := exportertest.Sample(t, out, series); got != want {
			t.Errorf("%s = %v, want %v", series, got, want)
		}
	}
}

// TestOnceHasNoProcessMetrics: Once prints the log's metrics and the
// exporter's own, not the Go runtime's, which Run serves.
func TestOnceHasNoProcessMetrics(t *testing.T) {
	cfg := config(io.Discard, "-")
	cfg.Stdin, cfg.Once = strings.NewReader(""), true
	e, err := exporter.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Once(context.Background()); err != nil {
		t.Fatal(err)
	}
	all := exposition(t, e.Gatherer(), nil)
	if strings.Contains(all, "go_goroutines") || !strings.Contains(all, "mirrord_exporter_build_info") {
		t.Errorf("Once gathers:\n%s", all)
	}
}
