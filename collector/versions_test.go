package collector

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/mirrord-exporter/mirrord-exporter/decode"
)

func TestCompareVersions(t *testing.T) {
	// Oldest first; the versions of one inner slice are as new as each other.
	order := [][]string{
		{""},
		{"dev", "x.1", "3.x", "03.166.00", "3.170.1.1"}, // not semantic versions
		{"3.9.0"},
		{"3.10.0"},
		{"3.166", "3.166.0", "v3.166.0", "3.166.0+build.7"},
		{"3.170.1-1"},
		{"3.170.1-alpha"},
		{"3.170.1-alpha.1"},
		{"3.170.1-alpha.beta"},
		{"3.170.1-rc1"},
		{"3.170.1-rc2"},
		{"3.170.1"},
		{"3.188.2"},
		{"18446744073709551616.0"}, // past uint64
	}
	for i, group := range order {
		for _, a := range group {
			for j, other := range order {
				for _, b := range other {
					want := 0
					if i < j {
						want = -1
					} else if i > j {
						want = 1
					}
					if got := compareVersions(a, b); got != want {
						t.Errorf("compareVersions(%q, %q) = %d, want %d", a, b, got, want)
					}
				}
			}
		}
	}
}

// cliStart is a Session Start of user with CLI version v; v "-" leaves the
// field out.
func cliStart(id, user, v string) string {
	f := sid(id) + `,"client_user":"` + user + `"`
	if v != "-" {
		f += `,"client_cli_version":"` + v + `"`
	}
	return record("10:00:00", "Session Start", f)
}

// TestCLIVersionMetrics holds the exposition of the two families by CLI
// version: the empty version of records without the field, the order of
// versions behind mirrord_cli_versions_newer, and the overflow series past
// the cap of series, while the versions themselves are tracked up to the
// same cap.
func TestCLIVersionMetrics(t *testing.T) {
	now := time.Date(2026, 8, 17, 10, 0, 0, 0, time.UTC)
	c, d, reg := limitedCollector(t, Limits{MaxSeries: 6}, &now)
	apply(t, c, d,
		cliStart("A1", "alice", "3.166.0"),
		cliStart("A2", "alice", "3.166.0"),
		cliStart("B1", "bob", "3.9.0"),
		cliStart("B2", "bob", "3.10.0"),
		cliStart("C1", "carol", "-"), // an older CLI sends no version
		cliStart("C2", "carol", "3.170.1-rc1"),
		cliStart("D1", "dave", "3.170.1"),
		// Past the cap of 6 series: the overflow series takes them.
		cliStart("E1", "erin", "3.170.1"),
		cliStart("E2", "erin", "3.188.2"),
		// Port events do not count as sessions.
		record("10:00:01", "Port Steal", withPort("D1", "dave", 80)+`,"client_cli_version":"9.9.9"`),
	)
	want := `
# HELP mirrord_cli_versions_newer For each mirrord CLI version (client_cli_version) that started a session, how many distinct versions seen are newer: 0 for the newest. Versions compare as semantic versions, a pre-release older than its release; a value that is not a version is older than every version, and the empty version (a CLI before 3.166 sends none) older still. At most --metrics.max-series versions are tracked.
# TYPE mirrord_cli_versions_newer gauge
mirrord_cli_versions_newer{client_cli_version=""} 5
mirrord_cli_versions_newer{client_cli_version="3.10.0"} 3
mirrord_cli_versions_newer{client_cli_version="3.166.0"} 2
mirrord_cli_versions_newer{client_cli_version="3.170.1"} 0
mirrord_cli_versions_newer{client_cli_version="3.170.1-rc1"} 1
mirrord_cli_versions_newer{client_cli_version="3.9.0"} 4
# HELP mirrord_sessions_started_by_cli_version_total mirrord sessions started (Session Start records) by the client's mirrord CLI version (client_cli_version, empty for a CLI before 3.166, which sends none) and client_user.
# TYPE mirrord_sessions_started_by_cli_version_total counter
mirrord_sessions_started_by_cli_version_total{client_cli_version="",client_user="carol"} 1
mirrord_sessions_started_by_cli_version_total{client_cli_version="3.10.0",client_user="bob"} 1
mirrord_sessions_started_by_cli_version_total{client_cli_version="3.166.0",client_user="alice"} 2
mirrord_sessions_started_by_cli_version_total{client_cli_version="3.170.1",client_user="dave"} 1
mirrord_sessions_started_by_cli_version_total{client_cli_version="3.170.1-rc1",client_user="carol"} 1
mirrord_sessions_started_by_cli_version_total{client_cli_version="3.9.0",client_user="bob"} 1
mirrord_sessions_started_by_cli_version_total{client_cli_version="__overflow__",client_user="__overflow__"} 2
# HELP mirrord_exporter_series_overflow_total Updates of each capped metric family routed to its __overflow__ series because --metrics.max-series was reached.
# TYPE mirrord_exporter_series_overflow_total counter
mirrord_exporter_series_overflow_total{metric="mirrord_sessions_started_by_cli_version_total"} 2
`
	// 3.188.2 came after the cap of 6 versions: it is not tracked.
	got := func() error {
		return testutil.GatherAndCompare(reg, strings.NewReader(want),
			"mirrord_cli_versions_newer", "mirrord_sessions_started_by_cli_version_total")
	}
	if err := got(); err != nil {
		t.Error(err)
	}
	if v := testutil.ToFloat64(c.m.series.Overflow.WithLabelValues("mirrord_sessions_started_by_cli_version_total")); v != 2 {
		t.Errorf("overflowed %v, want 2", v)
	}

	// Restored from the state, both families are exactly as they were, and
	// the versions go on being ordered.
	snap := roundTrip(t, c.Snapshot())
	if !slices.Equal(snap.CLIVersions, []string{"", "3.9.0", "3.10.0", "3.166.0", "3.170.1-rc1", "3.170.1"}) {
		t.Errorf("state's versions %q", snap.CLIVersions)
	}
	restored, d2, reg2 := limitedCollector(t, Limits{MaxSeries: 7}, &now)
	if err := restored.Restore(snap); err != nil {
		t.Fatal(err)
	}
	reg = reg2
	if err := got(); err != nil {
		t.Errorf("after restore: %v", err)
	}
	apply(t, restored, d2, cliStart("F1", "frank", "3.190.0"))
	want = strings.Replace(want, `mirrord_cli_versions_newer{client_cli_version="3.9.0"} 4`,
		`mirrord_cli_versions_newer{client_cli_version="3.9.0"} 5`+"\n"+`mirrord_cli_versions_newer{client_cli_version="3.190.0"} 0`, 1)
	for _, v := range []struct{ version, was, is string }{{`""`, "5", "6"}, {`"3.10.0"`, "3", "4"}, {`"3.166.0"`, "2", "3"}, {`"3.170.1"`, "0", "1"}, {`"3.170.1-rc1"`, "1", "2"}} {
		line := fmt.Sprintf(`mirrord_cli_versions_newer{client_cli_version=%s} `, v.version)
		want = strings.Replace(want, line+v.was+"\n", line+v.is+"\n", 1)
	}
	want = strings.Replace(want, `{client_cli_version="3.9.0",client_user="bob"} 1`+"\n",
		`{client_cli_version="3.9.0",client_user="bob"} 1`+"\n"+`mirrord_sessions_started_by_cli_version_total{client_cli_version="3.190.0",client_user="frank"} 1`+"\n", 1)
	if err := got(); err != nil {
		t.Errorf("after restore and a newer version: %v", err)
	}
}

// TestStateWithoutCLIVersions: a state file written before the families by
// CLI version existed still loads, and they start empty.
func TestStateWithoutCLIVersions(t *testing.T) {
	labels := mustLabels(t, nil, nil)
	var now time.Time
	orig, _ := stateCollector(t, labels, &now)
	storyBeforeSnapshot(t, orig, decode.New(labels), &now)
	apply(t, orig, decode.New(labels), record("10:40:00", "Session Start", sid("V")+","+who("alice")+`,"client_cli_version":"3.170.1"`))
	old := roundTrip(t, orig.Snapshot())
	old.CLIVersions = nil
	old.Families = slices.DeleteFunc(old.Families, func(f FamilyState) bool {
		return f.Name == "mirrord_sessions_started_by_cli_version_total"
	})
	for _, restore := range []string{"all", "unlabelled"} {
		c, reg := stateCollector(t, labels, &now)
		var err error
		if restore == "all" {
			err = c.Restore(old)
		} else {
			_, err = c.RestoreUnlabelled(old)
		}
		if err != nil {
			t.Fatalf("%s: %v", restore, err)
		}
		if err := testutil.GatherAndCompare(reg, strings.NewReader(""), "mirrord_cli_versions_newer", "mirrord_sessions_started_by_cli_version_total"); err != nil {
			t.Errorf("%s: %v", restore, err)
		}
		if s := c.Snapshot(); s.CLIVersions != nil {
			t.Errorf("%s: versions %q", restore, s.CLIVersions)
		}
	}

	// A state with the versions broken is refused.
	for name, versions := range map[string][]string{
		"twice":        {"3.1", "3.1"},
		"invalid utf8": {"\xff"},
		"too long":     {strings.Repeat("9", decode.MaxLabelValueBytes+1)},
	} {
		bad := roundTrip(t, orig.Snapshot())
		bad.CLIVersions = versions
		c, _ := stateCollector(t, labels, &now)
		if err := c.Restore(bad); err == nil || !strings.Contains(err.Error(), "cli_versions") {
			t.Errorf("%s: Restore = %v", name, err)
		}
	}
}
