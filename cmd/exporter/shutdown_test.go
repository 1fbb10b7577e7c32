package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mirrord-exporter/mirrord-exporter/internal/exportertest"
	"github.com/mirrord-exporter/mirrord-exporter/statefile"
)

// TestSIGTERMWithStalledScrapersSavesInTime: scrapers that stopped reading
// a large response hold the HTTP server's shutdown, yet the state is saved
// at once on SIGTERM, with the position of the last line read, and the
// process exits within a few seconds: well inside a short termination grace
// period, whatever the scrapers do.
func TestSIGTERMWithStalledScrapersSavesInTime(t *testing.T) {
	state := filepath.Join(t.TempDir(), "exporter.state")
	// An hour between saves: the only saves are the first one, before any
	// line is read, and the last one.
	p := startWithManySeries(t, "--state.file="+state, "--state.save-interval=1h")
	// Each returns with its handler writing a response it does not take.
	for range 4 {
		exportertest.StalledScrape(t, strings.TrimPrefix(p.base, "http://"), "/metrics")
	}

	sent := time.Now()
	p.stop(t)
	exited := time.Since(sent)

	saved, err := statefile.Load(state)
	if err != nil || saved == nil {
		t.Fatalf("state file after SIGTERM: %v, %v", saved, err)
	}
	savedAfter := saved.SavedAt.Sub(sent)
	t.Logf("saved %v after SIGTERM, exited after %v", savedAfter.Round(time.Millisecond), exited.Round(time.Millisecond))
	if savedAfter < 0 || savedAfter > 1500*time.Millisecond {
		t.Errorf("the last save was taken %v after SIGTERM, want within 1.5s: before waiting on the scrapers", savedAfter)
	}
	if exited > 5*time.Second {
		t.Errorf("the exporter exited %v after SIGTERM, want within 5s", exited)
	}
	if len(saved.Files) != 1 {
		t.Fatalf("saved positions %+v, want one file", saved.Files)
	}
	fi, err := os.Stat(saved.Files[0].Path)
	if err != nil {
		t.Fatal(err)
	}
	if saved.Files[0].Offset != fi.Size() {
		t.Errorf("saved offset %d, want the end of the log, %d: the last save is not the final position", saved.Files[0].Offset, fi.Size())
	}
	if !strings.Contains(p.stderr.String(), "Saved the state file") {
		t.Errorf("the last save is not logged:\n%s", p.stderr.String())
	}
}
