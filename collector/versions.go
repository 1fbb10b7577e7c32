package collector

import (
	"cmp"
	"slices"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/mod/semver"
)

// compareVersions orders mirrord CLI versions (client_cli_version) as
// semantic versions, with golang.org/x/mod/semver, returning -1, 0 or +1 as
// a is older than, as new as, or newer than b: numbers by value (3.9.0 <
// 3.10.0 < 3.166.0), a missing part as 0 (3.170 = 3.170.0), a leading "v"
// and build metadata ignored, a pre-release older than its release
// (3.170.1-rc1 < 3.170.1). A value that is not a semantic version (dev,
// 3.x) is older than every version and as old as any other such value; the
// empty version (a CLI older than 3.166 sends none) is older still.
func compareVersions(a, b string) int {
	switch {
	case a == b:
		return 0
	case a == "":
		return -1
	case b == "":
		return 1
	}
	return semver.Compare(withV(a), withV(b))
}

// withV gives v the leading "v" semver wants.
func withV(v string) string {
	if strings.HasPrefix(v, "v") {
		return v
	}
	return "v" + v
}

// cliVersions are the distinct client_cli_version values of the Session
// Start records applied, behind mirrord_cli_versions_newer: for each, how
// many of the others are newer (compareVersions). At most max are kept (0:
// no limit); versions seen once it is full are not.
type cliVersions struct {
	max int
	// sorted holds the versions, oldest first; versions as new as each
	// other are in byte order.
	sorted []string
	gauge  *prometheus.GaugeVec
}

func newCLIVersions(max int) *cliVersions {
	return &cliVersions{max: max, gauge: prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "mirrord_cli_versions_newer",
		Help: "For each mirrord CLI version (client_cli_version) that started a session, how many distinct versions seen are newer: 0 for the newest. Versions compare as semantic versions, a pre-release older than its release; a value that is not a version is older than every version, and the empty version (a CLI before 3.166 sends none) older still. At most --metrics.max-series versions are tracked.",
	}, []string{"client_cli_version"})}
}

func orderVersions(a, b string) int { return cmp.Or(compareVersions(a, b), strings.Compare(a, b)) }

// add records a version seen, and reports whether it was new and kept.
func (vs *cliVersions) add(v string) bool {
	i, found := slices.BinarySearchFunc(vs.sorted, v, orderVersions)
	if found || vs.max > 0 && len(vs.sorted) >= vs.max {
		return false
	}
	vs.sorted = slices.Insert(vs.sorted, i, v)
	vs.update()
	return true
}

// update sets the gauge of every version: the number of versions newer.
func (vs *cliVersions) update() {
	n := len(vs.sorted)
	for i := n - 1; i >= 0; {
		j := i
		for j > 0 && compareVersions(vs.sorted[j-1], vs.sorted[i]) == 0 {
			j--
		}
		for k := j; k <= i; k++ {
			vs.gauge.WithLabelValues(vs.sorted[k]).Set(float64(n - 1 - i))
		}
		i = j - 1
	}
}

// list returns the versions, oldest first.
func (vs *cliVersions) list() []string { return slices.Clone(vs.sorted) }
