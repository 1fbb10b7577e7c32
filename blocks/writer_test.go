package blocks

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
)

func TestCompatibleBlockDuration(t *testing.T) {
	for _, c := range []struct{ in, want time.Duration }{
		{0, 2 * time.Hour},
		{time.Hour, 2 * time.Hour},
		{2 * time.Hour, 2 * time.Hour},
		{5 * time.Hour, 2 * time.Hour},
		{6 * time.Hour, 6 * time.Hour},
		{24 * time.Hour, 18 * time.Hour},
		{100 * 24 * time.Hour, 54 * 27 * time.Hour}, // the largest of promtool's ranges not above
	} {
		if got := CompatibleBlockDuration(c.in); got != c.want {
			t.Errorf("CompatibleBlockDuration(%s) = %s, want %s", c.in, got, c.want)
		}
	}
}

// writeSamples writes one series with a sample every minute over span from
// t0 into dir, and finishes.
func writeSamples(t *testing.T, cfg Config, t0 time.Time, span time.Duration) (int, error) {
	t.Helper()
	w, err := Open(cfg)
	if err != nil {
		return 0, err
	}
	fs := newFloatSeries(labels.FromStrings("__name__", "x_total", "user", "a"))
	for at := t0; !at.After(t0.Add(span)); at = at.Add(time.Minute) {
		if err := w.Float(&fs, at.UnixMilli(), float64(at.Sub(t0)/time.Minute)); err != nil {
			t.Fatal(err)
		}
		if err := w.Commit(at.UnixMilli()); err != nil {
			t.Fatal(err)
		}
	}
	return w.Finish()
}

func TestBlocksAlignedAndPublished(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "new") // created
	t0 := time.Date(2026, 8, 17, 17, 30, 0, 0, time.UTC)
	n, err := writeSamples(t, Config{Dir: dir}, t0, 5*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	// 17:30-18:00 in [16:00, 18:00), then [18:00, 20:00), [20:00, 22:00),
	// and 22:00-22:30: four blocks, as promtool cuts them.
	if n != 4 {
		t.Errorf("%d blocks, want 4", n)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 4 {
		t.Errorf("%d entries in the directory, want the 4 blocks and no staging directory", len(entries))
	}
	for _, e := range entries {
		if !isBlockName(e.Name()) {
			t.Errorf("%s is not a block", e.Name())
		}
		if _, err := os.Stat(filepath.Join(dir, e.Name(), "meta.json")); err != nil {
			t.Errorf("block %s: %v", e.Name(), err)
		}
	}
}

func TestDirectoryChecks(t *testing.T) {
	t0 := time.Date(2026, 8, 17, 18, 0, 0, 0, time.UTC)
	dir := t.TempDir()
	if _, err := writeSamples(t, Config{Dir: dir}, t0, time.Hour); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadDir(dir)

	// Blocks there: refused without Overwrite, and left alone.
	_, err := writeSamples(t, Config{Dir: dir}, t0, time.Hour)
	if err == nil || !strings.Contains(err.Error(), "--tsdb.overwrite") {
		t.Errorf("a directory with blocks: %v, want a refusal naming --tsdb.overwrite", err)
	}
	if after, _ := os.ReadDir(dir); len(after) != len(before) || after[0].Name() != before[0].Name() {
		t.Error("the refused run changed the directory")
	}
	// Replaced with it.
	if _, err := writeSamples(t, Config{Dir: dir, Overwrite: true}, t0, time.Hour); err != nil {
		t.Fatal(err)
	}
	if after, _ := os.ReadDir(dir); len(after) != 1 || after[0].Name() == before[0].Name() {
		t.Errorf("overwrite left %d entries (first %s), want one new block", len(after), after[0].Name())
	}

	// A Prometheus data directory is refused even with Overwrite.
	prom := t.TempDir()
	if err := os.Mkdir(filepath.Join(prom, "wal"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(Config{Dir: prom, Overwrite: true}); err == nil || !strings.Contains(err.Error(), "data directory of a Prometheus") {
		t.Errorf("a directory with wal/: %v, want a refusal", err)
	}
	// So is one with other files.
	other := t.TempDir()
	if err := os.WriteFile(filepath.Join(other, "notes.txt"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(Config{Dir: other, Overwrite: true}); err == nil || !strings.Contains(err.Error(), "notes.txt") {
		t.Errorf("a directory with a file: %v, want a refusal naming it", err)
	}
	// A killed run's staging directory is not a reason to refuse.
	killed := t.TempDir()
	if err := os.MkdirAll(filepath.Join(killed, stagingName, "01M91PPZ5XTDV8VPJ8431ZKDDQ"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := writeSamples(t, Config{Dir: killed}, t0, time.Hour); err != nil {
		t.Errorf("after a killed run: %v", err)
	}
	if _, err := os.Stat(filepath.Join(killed, stagingName)); !os.IsNotExist(err) {
		t.Errorf("the staging directory is still there: %v", err)
	}
}

func TestAbortLeavesNoBlock(t *testing.T) {
	dir := t.TempDir()
	w, err := Open(Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 8, 17, 18, 0, 0, 0, time.UTC)
	fs := newFloatSeries(labels.FromStrings("__name__", "x_total"))
	// Past three block boundaries: two blocks written to the staging
	// directory before the failure.
	for at := t0; at.Before(t0.Add(5 * time.Hour)); at = at.Add(time.Minute) {
		if err := w.Float(&fs, at.UnixMilli(), 1); err != nil {
			t.Fatal(err)
		}
		if err := w.Commit(at.UnixMilli()); err != nil {
			t.Fatal(err)
		}
	}
	if staged, _ := os.ReadDir(filepath.Join(dir, stagingName)); len(staged) < 2 {
		t.Fatalf("%d blocks staged, want at least 2 for the test to mean something", len(staged))
	}
	if err := w.Abort(); err != nil {
		t.Fatal(err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("%d entries left after Abort, want none", len(entries))
	}
}
