// Package prometheustest finds the Prometheus binaries that the project's
// end-to-end and rule tests run, pinned to one version.
package prometheustest

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// Pinned is the version of Debian 12's prometheus package, which the tests
// are pinned to: rule-test and range semantics differ in 3.x.
const Pinned = "version 2.42."

// Tool returns the path of a Prometheus binary ("prometheus", "promtool") of
// the pinned version. A developer without it skips the test; CI must have
// installed it (.ci/run), so there the test fails.
func Tool(t testing.TB, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err == nil {
		out, _ := exec.Command(path, "--version").CombinedOutput()
		if !strings.Contains(string(out), Pinned) {
			err = fmt.Errorf("%s is not %s: %s", path, Pinned, out)
		}
	}
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s (apt-get install -y prometheus): %v", name, err)
		}
		t.Skipf("%s (apt-get install -y prometheus): %v", name, err)
	}
	return path
}
