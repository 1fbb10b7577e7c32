package collector

import (
	"cmp"
	"slices"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
)

// compareVersions orders mirrord CLI versions (client_cli_version) as
// semver-like dotted numbers, returning -1, 0 or +1 as a is older than,
// as new as, or newer than b:
//
//   - The empty version (a CLI older than 3.166 sends none) is older than
//     every other.
//   - A leading "v" is ignored, and so is build metadata after a "+".
//   - The version is its core, dotted parts up to the first "-", then an
//     optional pre-release after it. Core parts compare one by one: two
//     numbers by value (any length, leading zeros ignored); a part that is
//     not a number is older than a number ("3.x" < "3.0"), and two such
//     parts compare as bytes; a missing part counts as 0 ("3.170" is as
//     new as "3.170.0").
//   - With equal cores, a version with a pre-release is older than one
//     without ("3.170.1-rc1" < "3.170.1", as in semver), and two
//     pre-releases compare as semver's: dotted identifiers one by one,
//     numbers by value and older than other identifiers, which compare as
//     bytes, and the shorter list older when one is a prefix of the other.
//
// So 3.9.0 < 3.10.0 < 3.166.0 < 3.170.1-rc1 < 3.170.1.
func compareVersions(a, b string) int {
	if a == "" || b == "" {
		return emptyOrder(a, b)
	}
	coreA, preA := splitVersion(a)
	coreB, preB := splitVersion(b)
	if c := compareParts(coreA, coreB, true); c != 0 {
		return c
	}
	switch {
	case preA == "" && preB == "":
		return 0
	case preA == "":
		return 1
	case preB == "":
		return -1
	}
	return compareParts(preA, preB, false)
}

// emptyOrder compares two versions of which at least one is empty.
func emptyOrder(a, b string) int {
	switch {
	case a == b:
		return 0
	case a == "":
		return -1
	}
	return 1
}

// splitVersion returns a version's core and pre-release, without a leading
// "v" and build metadata.
func splitVersion(v string) (core, pre string) {
	v = strings.TrimPrefix(v, "v")
	v, _, _ = strings.Cut(v, "+")
	core, pre, _ = strings.Cut(v, "-")
	return core, pre
}

// compareParts compares dotted parts one by one. In a core (core true) a
// missing part is 0 and a part that is not a number is older than a
// number; in a pre-release a number is older than other identifiers, and
// the list that ends first is older.
func compareParts(a, b string, core bool) int {
	for a != "" || b != "" {
		var pa, pb string
		pa, a, _ = strings.Cut(a, ".")
		pb, b, _ = strings.Cut(b, ".")
		if !core {
			switch {
			case pa == "" && pb == "":
				continue
			case pa == "":
				return -1
			case pb == "":
				return 1
			}
		} else {
			if pa == "" {
				pa = "0"
			}
			if pb == "" {
				pb = "0"
			}
		}
		na, nb := isNumber(pa), isNumber(pb)
		var c int
		switch {
		case na && nb:
			c = compareNumbers(pa, pb)
		case na != nb:
			// A number is newer than a word in a core, older in a
			// pre-release (semver's rule).
			c = 1
			if nb {
				c = -1
			}
			if !core {
				c = -c
			}
		default:
			c = strings.Compare(pa, pb)
		}
		if c != 0 {
			return c
		}
	}
	return 0
}

func isNumber(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// compareNumbers compares two decimal numbers of any length.
func compareNumbers(a, b string) int {
	a, b = strings.TrimLeft(a, "0"), strings.TrimLeft(b, "0")
	return cmp.Or(cmp.Compare(len(a), len(b)), strings.Compare(a, b))
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
		Help: "For each mirrord CLI version (client_cli_version) that started a session, how many distinct versions seen are newer: 0 for the newest. Versions compare as dotted numbers, a pre-release older than its release, and the empty version (a CLI before 3.166 sends none) older than every other. At most --metrics.max-series versions are tracked.",
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
