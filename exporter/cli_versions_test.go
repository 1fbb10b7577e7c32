package exporter_test

import (
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/mirrord-exporter/mirrord-exporter/internal/exportertest"
	"github.com/mirrord-exporter/mirrord-exporter/internal/loggen"
)

// TestOnceSessionsByCLIVersion: on a generated log, --once counts sessions
// and distinct users by CLI version as the generator wrote them (the empty
// version for clients that send none), and the versions-newer gauge ranks
// the generator's versions, the empty one oldest.
func TestOnceSessionsByCLIVersion(t *testing.T) {
	path := filepath.Join(t.TempDir(), "operator.log")
	truth := exportertest.WriteLog(t, path, exportertest.GenConfig(loggen.CRI, 2026))
	out := onceOf(t, path)

	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(strings.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	sessions, users, newer := map[string]float64{}, map[string]float64{}, map[string]float64{}
	for _, m := range families["mirrord_sessions_started_by_cli_version_total"].GetMetric() {
		version := ""
		for _, l := range m.GetLabel() {
			if l.GetName() == "client_cli_version" {
				version = l.GetValue()
			}
		}
		sessions[version] += m.GetCounter().GetValue()
		if m.GetCounter().GetValue() > 0 {
			users[version]++
		}
	}
	for _, m := range families["mirrord_cli_versions_newer"].GetMetric() {
		version := ""
		for _, l := range m.GetLabel() {
			if l.GetName() == "client_cli_version" {
				version = l.GetValue()
			}
		}
		newer[version] = m.GetGauge().GetValue()
	}

	want := truth.SessionsByCLIVersion()
	if _, ok := want[""]; !ok || len(want) < 3 {
		t.Fatalf("the generated log lacks clients without a version or several versions: %v", want)
	}
	if !maps.Equal(sessions, want) {
		t.Errorf("sessions by version %v, want %v", sessions, want)
	}
	if w := truth.UsersByCLIVersion(); !maps.Equal(users, w) {
		t.Errorf("users by version %v, want %v", users, w)
	}
	// Ranked: the empty version has every other newer, the newest none.
	versions := slices.Sorted(maps.Keys(want))
	if got := newer[""]; got != float64(len(versions)-1) {
		t.Errorf("versions newer than the empty one: %v, want %d (%v)", got, len(versions)-1, newer)
	}
	zero := 0
	for _, v := range versions {
		if newer[v] == 0 {
			zero++
		}
	}
	if zero != 1 || len(newer) != len(versions) {
		t.Errorf("versions newer %v: want one newest among %v", newer, versions)
	}
	exportertest.RequireTruth(t, out, truth)
}
