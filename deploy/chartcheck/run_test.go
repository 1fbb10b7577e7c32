package chartcheck

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// helmModule is the pinned helm, run with go run so that no helm binary
// needs installing.
const helmModule = "helm.sh/helm/v3/cmd/helm@v3.22.0"

const (
	repoRoot = "../.."
	chartDir = "../helm/mirrord-exporter"
)

// run runs a command with a hang guard; the first go run of helm compiles it.
func run(t *testing.T, dir string, env []string, name string, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, stderr.Bytes())
	}
	return stdout.Bytes()
}

// helm runs the pinned helm from deploy/helm. GOWORK=off: go run pkg@version
// resolves helm's own module graph, not this workspace's.
func helm(t *testing.T, args ...string) []byte {
	t.Helper()
	return run(t, filepath.Dir(chartDir), []string{"GOWORK=off"}, "go", append([]string{"run", helmModule}, args...)...)
}

func TestMain(m *testing.M) {
	code := m.Run()
	if exporterPath != "" {
		os.RemoveAll(filepath.Dir(exporterPath))
	}
	os.Exit(code)
}
