package file

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// permissionChildDir, when set, makes TestOpenPermissionDenied run its body
// in that directory: it is the unprivileged child started by the test when
// running as root.
const permissionChildDir = "MIRRORD_EXPORTER_PERMISSION_CHILD_DIR"

// Opening a file without permission is counted and logged; the follower
// retries and reads the file once permitted. Readiness is not held back by
// the unreadable file.
func TestOpenPermissionDenied(t *testing.T) {
	if dir := os.Getenv(permissionChildDir); dir != "" {
		permissionDenied(t, dir)
		return
	}
	if os.Geteuid() != 0 {
		permissionDenied(t, sameDir(t))
		return
	}
	// chmod 000 does not deny root (CAP_DAC_OVERRIDE): run this test again
	// as nobody, from a copy of the test binary nobody can execute.
	dir, err := os.MkdirTemp("", "permission")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "source.test")
	if err := copyExecutable(bin); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-test.run=^TestOpenPermissionDenied$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), permissionChildDir+"="+dir)
	cmd.Dir = dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	var exitErr *exec.ExitError
	switch {
	case err != nil && !errors.As(err, &exitErr):
		t.Skipf("running as root, and cannot run the test as an unprivileged user (%v): root is never denied opening a file", err)
	case err != nil:
		t.Fatalf("unprivileged run failed: %v\n%s", err, out)
	case !strings.Contains(string(out), "--- PASS: TestOpenPermissionDenied"):
		t.Fatalf("unprivileged run did not pass:\n%s", out)
	}
}

func copyExecutable(to string) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	return copyFileMode(self, to, 0o755)
}

func permissionDenied(t *testing.T, dir string) {
	file := filepath.Join(dir, "secret.log")
	writeFile(t, file, "l1\nl2\n")
	if err := os.Chmod(file, 0); err != nil {
		t.Fatal(err)
	}
	if f, err := os.Open(file); err == nil {
		f.Close()
		t.Skip("opening a mode 000 file succeeded: cannot provoke permission denied here")
	}
	h := startManager(t, Config{Paths: []string{file}, PollInterval: 10 * time.Millisecond})
	h.waitFor("an open error", func() bool { return h.fileErrors(opOpen) >= 2 })
	h.waitCaughtUp()
	if err := os.Chmod(file, 0o644); err != nil {
		t.Fatal(err)
	}
	h.waitLines(file, "l1", "l2")
	logs := h.logs.String()
	// At error level, saying what to do: nothing is read until someone acts.
	if n := strings.Count(logs, `level=error msg="the exporter may not read this operator log file; retrying.`); n != 1 ||
		!strings.Contains(logs, "path="+file) || !strings.Contains(logs, "permission denied") || !strings.Contains(logs, "root group") {
		t.Fatalf("want the error logged once with the path and what to do, got %d times:\n%s", n, logs)
	}
}
