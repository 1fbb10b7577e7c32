package exporter_test

import (
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mirrord-exporter/mirrord-exporter/exporter"
	"github.com/mirrord-exporter/mirrord-exporter/internal/exportertest"
	"github.com/mirrord-exporter/mirrord-exporter/internal/loggen"
)

// TestRunReadsFilesThatAppearLater: with nothing to read yet the exporter
// is ready at once; a literal path created later, and a later file matching
// a glob, are read from their start. Scraped over real HTTP.
func TestRunReadsFilesThatAppearLater(t *testing.T) {
	dir := t.TempDir()
	literal := filepath.Join(dir, "later.log")
	globbed := filepath.Join(dir, "pods", "operator-1.log")
	if err := os.Mkdir(filepath.Dir(globbed), 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := config(io.Discard, literal, filepath.Join(dir, "pods", "*.log"))
	cfg.PollInterval = 50 * time.Millisecond
	r := start(t, cfg, true)
	select {
	case <-r.e.Ready():
	case <-time.After(30 * time.Second):
		t.Fatal("not ready with nothing to read")
	}
	startLine := func(user string) string {
		return `{"timestamp":"2026-08-17T10:00:00Z","level":"INFO","fields":{"message":"Session Start","session_id":"` + user + `","client_user":"` + user + `"}}`
	}
	exportertest.AppendLines(t, literal, []string{startLine("alice")})
	exportertest.AppendLines(t, globbed, []string{startLine("bob")})
	for _, user := range []string{"alice", "bob"} {
		series := `mirrord_sessions_active{client_name="",client_user="` + user + `",target_name="",target_namespace="",target_type="targetless"}`
		exportertest.WaitFor(t, user+"'s session", func() bool {
			code, body := get(t, r.url)
			return code == http.StatusOK && exportertest.Sample(t, body, series) == 1
		})
	}
	_, body := get(t, r.url)
	if !strings.Contains(body, "\ngo_goroutines") {
		t.Error("Run serves no Go runtime metrics")
	}
	r.shutdown(t)
	// The server was shut down first.
	if _, err := http.Get(r.url); err == nil {
		t.Error("still serving after Run returned")
	}
}

// TestSnapshotNeedsAStateFile: without a state file the inputs deliver
// through no gate, and there is nothing to snapshot.
func TestSnapshotNeedsAStateFile(t *testing.T) {
	cfg := config(io.Discard, "-")
	cfg.Stdin = strings.NewReader("")
	e, err := exporter.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.Snapshot(); err == nil {
		t.Error("Snapshot without a state file: no error")
	}
}

// stateConfig follows live with a state file in dir.
func stateConfig(dir, live string) exporter.Config {
	cfg := config(io.Discard, live)
	cfg.PollInterval = 20 * time.Millisecond
	cfg.StateFile = filepath.Join(dir, "exporter.state")
	return cfg
}

// TestStateAcrossTwoRotationsWhileDown stops the exporter (as SIGTERM
// does, which saves), writes the rest of the live file and two more
// generations while it is down, and restarts it: it reads the rest of the
// saved generation, the generation in between and the new live file, and
// its metrics equal the generator's truth.
func TestStateAcrossTwoRotationsWhileDown(t *testing.T) {
	dir := t.TempDir()
	live := filepath.Join(dir, "operator.log")
	lines, truth := exportertest.GeneratedLines(t, exportertest.GenConfig(loggen.CRI, 22))
	cfg := stateConfig(dir, live)
	cfg.SessionMaxAge = 0
	w := &exportertest.RotatingWriter{T: t, Path: live}

	quarter := len(lines) / 4
	w.Write(lines[:quarter])
	r := start(t, cfg, false)
	exportertest.WaitFor(t, "the first quarter", func() bool {
		return exportertest.Sample(t, r.scrape(t), loggen.SeriesKey("mirrord_exporter_log_lines_total", map[string]string{"input": live})) == float64(quarter)
	})
	r.shutdown(t)
	if !strings.Contains(r.logs.String(), "Saved the state file") {
		t.Errorf("no save at shutdown:\n%s", r.logs)
	}

	w.Write(lines[quarter : 2*quarter])
	w.RenameRotate()
	w.Write(lines[2*quarter : 3*quarter])
	w.RenameRotate()
	w.Write(lines[3*quarter:])

	r = start(t, cfg, false)
	body := r.caughtUp(t, live, len(lines), truth)
	exportertest.RequireTruth(t, body, truth)
	if got := exportertest.Sample(t, body, "mirrord_exporter_state_restored"); got != 1 {
		t.Errorf("mirrord_exporter_state_restored = %v, want 1", got)
	}
	if !strings.Contains(r.logs.String(), "Resuming from the state file") {
		t.Errorf("resuming not logged:\n%s", r.logs)
	}
	if !strings.Contains(r.logs.String(), "newer_generations=1") {
		t.Errorf("the generation in between was not read from its rotated name:\n%s", r.logs)
	}
	r.shutdown(t)
}

// TestStateJoinsRecordSplitAcrossRestart stops the exporter between the
// parts of a CRI record split by the runtime: after the restart the record
// is joined and counted once, not lost as unterminated.
func TestStateJoinsRecordSplitAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	live := filepath.Join(dir, "operator.log")
	cfg := stateConfig(dir, live)
	record := `{"timestamp":"2026-08-17T10:00:00Z","level":"INFO","fields":{"message":"Session Start","session_id":"s1","client_user":"alice"}}`
	half := len(record) / 2
	exportertest.AppendLines(t, live, []string{"2026-08-17T10:00:00.000000000Z stdout P " + record[:half]})
	r := start(t, cfg, false)
	exportertest.WaitFor(t, "the first part", func() bool {
		return exportertest.Sample(t, r.scrape(t), loggen.SeriesKey("mirrord_exporter_log_lines_total", map[string]string{"input": live})) == 1
	})
	r.shutdown(t)

	exportertest.AppendLines(t, live, []string{"2026-08-17T10:00:00.000000001Z stdout F " + record[half:]})
	r = start(t, cfg, false)
	series := `mirrord_sessions_started_total{client_name="",client_user="alice",target_name="",target_namespace="",target_type="targetless"}`
	exportertest.WaitFor(t, "the joined record", func() bool { return exportertest.Sample(t, r.scrape(t), series) == 1 })
	body := r.scrape(t)
	for series, want := range map[string]float64{
		`mirrord_exporter_malformed_lines_total{reason="unterminated_partial"}`:                0,
		`mirrord_exporter_log_records_total{wrapper="cri"}`:                                    1,
		loggen.SeriesKey("mirrord_exporter_log_lines_total", map[string]string{"input": live}): 2,
	} {
		if got := exportertest.Sample(t, body, series); got != want {
			t.Errorf("%s = %v, want %v", series, got, want)
		}
	}
	r.shutdown(t)
}

// TestStateCorruptFileIsSetAside: a state file that cannot be used is
// logged, kept under another name, and the exporter starts afresh and
// saves a good one.
func TestStateCorruptFileIsSetAside(t *testing.T) {
	for name, content := range map[string]string{
		"garbage":         "\x00not json",
		"truncated":       `{"version":1,"collector":{"labels":[`,
		"unknown version": `{"version":99,"collector":{}}`,
		"invalid counter": `{"version":1,"collector":{"labels":["client_user"],"seat_limit_reached":-1}}`,
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			live := filepath.Join(dir, "operator.log")
			cfg := stateConfig(dir, live)
			cfg.SaveInterval, cfg.SessionMaxAge = 50*time.Millisecond, 0
			if err := os.WriteFile(cfg.StateFile, []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
			lines, truth := exportertest.GeneratedLines(t, exportertest.GenConfig(loggen.Raw, 23))
			exportertest.AppendLines(t, live, lines)
			r := start(t, cfg, false)
			body := r.caughtUp(t, live, len(lines), truth)
			exportertest.RequireTruth(t, body, truth)
			if got := exportertest.Sample(t, body, "mirrord_exporter_state_restored"); got != 0 {
				t.Errorf("mirrord_exporter_state_restored = %v, want 0", got)
			}
			exportertest.WaitFor(t, "a good save", func() bool {
				return exportertest.Sample(t, r.scrape(t), "mirrord_exporter_state_saves_total") > 0
			})
			aside, _ := filepath.Glob(cfg.StateFile + ".corrupt-*")
			if len(aside) != 1 {
				t.Fatalf("set-aside copies: %v, want one", aside)
			}
			if b, _ := os.ReadFile(aside[0]); string(b) != content {
				t.Errorf("the set-aside copy holds %q, want the original", b)
			}
			if !strings.Contains(r.logs.String(), "The state file cannot be used") {
				t.Errorf("not logged:\n%s", r.logs)
			}
			r.shutdown(t)
		})
	}
}

// TestStateSaveFailureIsCounted: a state file that cannot be written is
// logged (once while saves fail) and counted, and the exporter goes on, and
// stops cleanly, saying that the save at shutdown failed too and what that
// means for the restart.
func TestStateSaveFailureIsCounted(t *testing.T) {
	dir := t.TempDir()
	live := filepath.Join(dir, "operator.log")
	exportertest.AppendLines(t, live, []string{`{"timestamp":"2026-08-17T10:00:00Z","level":"INFO","fields":{"message":"Max seat count reached!","active_users":3}}`})
	cfg := config(io.Discard, live)
	cfg.StateFile, cfg.SaveInterval = filepath.Join(dir, "missing-dir", "state"), 20*time.Millisecond
	r := start(t, cfg, false)
	exportertest.WaitFor(t, "a failed save", func() bool {
		return exportertest.Sample(t, r.scrape(t), "mirrord_exporter_state_save_failures_total") >= 2
	})
	if got := exportertest.Sample(t, r.scrape(t), "mirrord_seat_limit_reached_total"); got != 1 {
		t.Errorf("mirrord_seat_limit_reached_total = %v, want 1", got)
	}
	if n := strings.Count(r.logs.String(), "Saving the state file failed"); n != 1 {
		t.Errorf("the failure was logged %d times, want once while it persists:\n%s", n, r.logs)
	}
	// A failing final save is no failure of Run's.
	r.shutdown(t)
	if !strings.Contains(r.logs.String(), `level=error msg="Saving the state file at shutdown failed; there is no saved state: after a restart the exporter starts afresh"`) {
		t.Errorf("the failure of the last save is not logged:\n%s", r.logs)
	}
}

// TestShutdownSavesFirstAndHoldsTheInputs: with a client holding the HTTP
// server's shutdown, the state is saved at once, the inputs read nothing
// more while the server still answers (every scrape then shows the state
// saved, so no counter goes back after the restart), and Run returns once
// the client's connection is closed, a few seconds later.
func TestShutdownSavesFirstAndHoldsTheInputs(t *testing.T) {
	dir := t.TempDir()
	live := filepath.Join(dir, "operator.log")
	line := `{"timestamp":"2026-08-17T10:00:00Z","level":"INFO","fields":{"message":"Max seat count reached!","active_users":3}}`
	exportertest.AppendLines(t, live, []string{line})
	cfg := stateConfig(dir, live)
	cfg.SaveInterval = time.Hour
	r := start(t, cfg, true)
	linesRead := loggen.SeriesKey("mirrord_exporter_log_lines_total", map[string]string{"input": live})
	exportertest.WaitFor(t, "the first line", func() bool { return exportertest.Sample(t, r.scrape(t), linesRead) == 1 })

	// A request whose headers never end keeps its connection active.
	conn, err := net.Dial("tcp", strings.TrimPrefix(strings.TrimSuffix(r.url, "/metrics"), "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, "GET /metrics HTTP/1.1\r\n"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond) // for the server to read it

	stopped := time.Now()
	r.stop()
	exportertest.WaitFor(t, "the last save", func() bool {
		return strings.Contains(r.logs.String(), `level=info msg="Saved the state file"`) // not the first save's debug line
	})
	saved := time.Since(stopped)
	exportertest.AppendLines(t, live, []string{line, line})
	time.Sleep(20 * cfg.PollInterval)
	select {
	case <-r.done:
		t.Fatal("Run returned before the client's connection was closed")
	default:
	}
	if got := exportertest.Sample(t, r.scrape(t), linesRead); got != 1 {
		t.Errorf("while the server shuts down, %s = %v, want the 1 saved", linesRead, got)
	}
	r.shutdown(t)
	returned := time.Since(stopped)
	t.Logf("saved after %v, returned after %v", saved.Round(time.Millisecond), returned.Round(time.Millisecond))
	if saved > time.Second || returned > 5*time.Second {
		t.Errorf("saved after %v, returned after %v: want within 1s and 5s", saved, returned)
	}
	if !strings.Contains(r.logs.String(), "closing their connections") {
		t.Errorf("closing the client's connection is not logged:\n%s", r.logs)
	}
}
