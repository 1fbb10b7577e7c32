package main

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/mirrord-exporter/mirrord-exporter/internal/exportertest"
)

// TestSIGHUPSavesAndLooksForNewFiles: SIGHUP, as logrotate's postrotate or
// systemd's ExecReload send it, does not stop the exporter: it says so,
// saves the state file at once (the save interval is an hour) and follows a
// new file matching the glob at once (so is the poll interval).
func TestSIGHUPSavesAndLooksForNewFiles(t *testing.T) {
	dir := t.TempDir()
	exportertest.AppendLines(t, filepath.Join(dir, "a.log"), []string{`{"fields":{"message":"Session Start","session_id":"A","client_user":"alice"}}`})
	state := filepath.Join(dir, "state.json")
	p := startExporter(t, "--input.path="+filepath.Join(dir, "*.log"), "--state.file="+state,
		"--state.save-interval=1h", "--input.poll-interval=1h")
	exportertest.WaitFor(t, "readiness", func() bool { code, _ := p.get(t, "/-/ready"); return code == http.StatusOK })
	saves := func() float64 {
		_, body := p.get(t, "/metrics")
		return exportertest.Sample(t, body, "mirrord_exporter_state_saves_total")
	}
	exportertest.AppendLines(t, filepath.Join(dir, "b.log"), []string{`{"fields":{"message":"Session Start","session_id":"B","client_user":"bob"}}`})

	for range 2 { // a second SIGHUP is as harmless as the first
		before := saves()
		if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		exportertest.WaitFor(t, "bob's session from the new file", func() bool {
			_, body := p.get(t, "/metrics")
			return strings.Contains(body, `client_user="bob"`)
		})
		exportertest.WaitFor(t, "a save", func() bool { return saves() > before })
	}
	// The second save came after b.log was followed: its position is kept.
	if b, err := os.ReadFile(state); err != nil || !strings.Contains(string(b), "b.log") {
		t.Errorf("state file after SIGHUP holds no position of b.log (%v):\n%s", err, b)
	}
	if code, _ := p.get(t, "/-/healthy"); code != http.StatusOK {
		t.Errorf("after SIGHUP /-/healthy answers %d", code)
	}
	if n := strings.Count(p.stderr.String(), `msg="SIGHUP:`); n != 2 {
		t.Errorf("%d log lines about SIGHUP, want 2:\n%s", n, p.stderr.String())
	}
	p.stop(t)
}
