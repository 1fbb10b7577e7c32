package loggen

import (
	"strconv"
	"strings"
)

// versionsNewer gives, for each CLI version, how many of the others are
// newer, as mirrord_cli_versions_newer does. The generator's versions are
// plain dotted numbers or empty (older than all), so this is written
// independently of the exporter's fuller ordering.
func versionsNewer(versions map[string]bool) map[string]int {
	out := make(map[string]int, len(versions))
	for v := range versions {
		for w := range versions {
			if olderVersion(v, w) {
				out[v]++
			}
		}
		out[v] += 0
	}
	return out
}

// olderVersion tells whether a is older than b.
func olderVersion(a, b string) bool {
	if a == "" || b == "" {
		return a == "" && b != ""
	}
	pa, pb := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < len(pa) || i < len(pb); i++ {
		var x, y int
		if i < len(pa) {
			x, _ = strconv.Atoi(pa[i])
		}
		if i < len(pb) {
			y, _ = strconv.Atoi(pb[i])
		}
		if x != y {
			return x < y
		}
	}
	return false
}

// SessionsByCLIVersion is the number of sessions started by each
// client_cli_version ("" for records without one), summed over users.
func (t Truth) SessionsByCLIVersion() map[string]float64 {
	out := map[string]float64{}
	for key, v := range t.Series {
		if version, ok := cliVersionOf(key); ok {
			out[version] += v
		}
	}
	return out
}

// UsersByCLIVersion is the number of distinct client_user values that
// started a session with each client_cli_version.
func (t Truth) UsersByCLIVersion() map[string]float64 {
	out := map[string]float64{}
	for key, v := range t.Series {
		if version, ok := cliVersionOf(key); ok && v > 0 {
			out[version]++
		}
	}
	return out
}

// cliVersionOf reads the version of a series of
// mirrord_sessions_started_by_cli_version_total from its key; the
// generator's versions need no escaping and sort before client_user.
func cliVersionOf(key string) (string, bool) {
	rest, ok := strings.CutPrefix(key, mByVersion+`{client_cli_version="`)
	if !ok {
		return "", false
	}
	version, _, ok := strings.Cut(rest, `"`)
	return version, ok
}

// CLIVersionsNewer is mirrord_cli_versions_newer by client_cli_version:
// how many of the versions that started sessions are newer.
func (t Truth) CLIVersionsNewer() map[string]float64 {
	out := map[string]float64{}
	for key, v := range t.Series {
		rest, ok := strings.CutPrefix(key, mNewer+`{client_cli_version="`)
		if !ok {
			continue
		}
		version, _, _ := strings.Cut(rest, `"`)
		out[version] = v
	}
	return out
}
