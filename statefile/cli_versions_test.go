package statefile

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/expfmt"

	"github.com/mirrord-exporter/mirrord-exporter/collector"
	"github.com/mirrord-exporter/mirrord-exporter/decode"
)

// cliCollector is a collector with a cap of 3 series, on its own registry.
func cliCollector(t *testing.T) (*collector.Collector, *prometheus.Registry, decode.LabelConfig) {
	t.Helper()
	labels, err := decode.NewLabelConfig(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	now := time.Date(2026, 8, 17, 10, 0, 0, 0, time.UTC)
	c, err := collector.New(collector.Config{Labels: labels, Registerer: reg,
		Limits: collector.Limits{MaxSeries: 3}, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	return c, reg, labels
}

var cliFamilies = []string{"mirrord_sessions_started_by_cli_version_total", "mirrord_cli_versions_newer", "mirrord_exporter_series_overflow_total"}

// TestCLIVersionsSurviveTheStateFile: the sessions by CLI version (the
// empty version and the overflow series included) and the versions behind
// mirrord_cli_versions_newer go through a state file written and loaded,
// and a state file written before they existed still loads, with them
// empty.
func TestCLIVersionsSurviveTheStateFile(t *testing.T) {
	orig, reg, labels := cliCollector(t)
	d := decode.New(labels)
	for i, rec := range []string{
		`{"fields":{"message":"Session Start","session_id":"1","client_user":"alice","client_cli_version":"3.170.1"}}`,
		`{"fields":{"message":"Session Start","session_id":"2","client_user":"bob","client_cli_version":"3.170.1-rc1"}}`,
		`{"fields":{"message":"Session Start","session_id":"3","client_user":"carol"}}`,
		`{"fields":{"message":"Session Start","session_id":"4","client_user":"dave","client_cli_version":"3.9.0"}}`,
	} {
		var ev decode.Event
		if ok, reason := d.Decode([]byte(rec), &ev); !ok {
			t.Fatalf("record %d: %s", i, reason)
		}
		orig.Apply(&ev)
	}
	if n := testutil.CollectAndCount(reg, "mirrord_sessions_started_by_cli_version_total"); n != 4 {
		t.Fatalf("%d series by CLI version, want 3 and the overflow one", n)
	}

	path := filepath.Join(t.TempDir(), "state.json")
	f := sampleFile()
	f.Collector = orig.Snapshot()
	if _, err := Write(path, f); err != nil {
		t.Fatal(err)
	}
	loaded, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	restored, reg2, _ := cliCollector(t)
	if err := restored.Restore(loaded.Collector); err != nil {
		t.Fatal(err)
	}
	for _, name := range cliFamilies {
		got, err := testutil.CollectAndFormat(reg2, expfmt.TypeTextPlain, name)
		if err != nil {
			t.Fatal(err)
		}
		was, err := testutil.CollectAndFormat(reg, expfmt.TypeTextPlain, name)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, was) || len(was) == 0 {
			t.Errorf("%s after the state file:\n%s\nwant\n%s", name, got, was)
		}
	}

	// The same file as an exporter without the CLI versions wrote it.
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	old := loaded.Collector
	old.CLIVersions = nil
	kept := old.Families[:0]
	for _, fs := range old.Families {
		if fs.Name != "mirrord_sessions_started_by_cli_version_total" {
			kept = append(kept, fs)
		}
	}
	old.Families = kept
	if _, err := Write(path, loaded); err != nil {
		t.Fatal(err)
	}
	if again, _ := os.ReadFile(path); bytes.Equal(again, raw) || strings.Contains(string(again), "cli_version") {
		t.Fatal("the rewritten state file still has the CLI versions")
	}
	loaded, err = Load(path)
	if err != nil {
		t.Fatal(err)
	}
	fresh, reg3, _ := cliCollector(t)
	if err := fresh.Restore(loaded.Collector); err != nil {
		t.Fatalf("a state file without the CLI versions: %v", err)
	}
	if n := testutil.CollectAndCount(reg3, "mirrord_sessions_started_by_cli_version_total", "mirrord_cli_versions_newer"); n != 0 {
		t.Errorf("%d series by CLI version from an old state file, want none", n)
	}
	if n := testutil.CollectAndCount(reg3, "mirrord_sessions_started_total"); n != 4 {
		t.Errorf("the rest of the old state file not restored: %d series started, want 3 and the overflow one", n)
	}
}
