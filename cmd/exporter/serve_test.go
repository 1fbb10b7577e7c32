package main

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mirrord-exporter/mirrord-exporter/internal/exportertest"
	"github.com/mirrord-exporter/mirrord-exporter/internal/loggen"
)

// exporterBinary is the real exporter, built once for the tests that run it
// as a process.
var exporterBinary string

func TestMain(m *testing.M) {
	if out := os.Getenv(peakRSSFileEnv); out != "" {
		os.Exit(runMeasured(out, os.Args[1:]))
	}
	dir, err := os.MkdirTemp("", "mirrord-exporter-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	exporterBinary = filepath.Join(dir, "exporter")
	args := []string{"build", "-o", exporterBinary}
	if raceDetector {
		// Under go test -race the process tests check the binary for data
		// races too: a race makes it exit non-zero, which stop reports.
		args = append(args, "-race")
	}
	build := exec.Command("go", append(args, ".")...)
	build.Stdout, build.Stderr = os.Stdout, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build exporter:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func freeAddress(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// exporterProcess is a running exporter and its log output.
type exporterProcess struct {
	cmd    *exec.Cmd
	base   string
	stderr *exportertest.LockedBuffer
}

func startExporter(t *testing.T, args ...string) *exporterProcess {
	t.Helper()
	return startExporterAs(t, nil, args...)
}

// startExporterAs is startExporter with the process run as cred's user and
// groups (nil: this process's).
func startExporterAs(t *testing.T, cred *syscall.Credential, args ...string) *exporterProcess {
	t.Helper()
	addr := freeAddress(t)
	p := &exporterProcess{base: "http://" + addr, stderr: &exportertest.LockedBuffer{}}
	p.cmd = exec.Command(exporterBinary, append([]string{"--web.listen-address=" + addr}, args...)...)
	p.cmd.Stderr = p.stderr
	if cred != nil {
		p.cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			p.cmd.Process.Kill()
			p.cmd.Wait()
		}
		if t.Failed() {
			t.Logf("exporter log:\n%s", p.stderr.String())
		}
	})
	exportertest.WaitFor(t, "the exporter to answer", func() bool {
		resp, err := http.Get(p.base + "/-/healthy")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	return p
}

func (p *exporterProcess) get(t *testing.T, path string) (int, string) {
	t.Helper()
	resp, err := http.Get(p.base + path)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	return resp.StatusCode, string(body)
}

// stop sends SIGTERM and requires a clean exit.
func (p *exporterProcess) stop(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("exporter exited with %v after SIGTERM", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("exporter did not stop within 30s of SIGTERM")
	}
}

// caughtUp waits until the exporter at base has read lines lines of input
// and applied the events of truth, and returns its exposition.
func caughtUp(t *testing.T, base, input string, lines int, truth loggen.Truth) string {
	t.Helper()
	return exportertest.CaughtUp(t, base, func() string { return scrape(t, base) }, input, lines, truth)
}

func scrape(t *testing.T, base string) string {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	if _, err := b.ReadFrom(resp.Body); err != nil {
		return ""
	}
	return b.String()
}

// TestServeFollowsGrowingAndRotatedFile runs the real binary on a glob,
// grows the file, rotates it by rename (as the kubelet does) and scrapes
// /metrics over HTTP until it equals the generator's truth.
func TestServeFollowsGrowingAndRotatedFile(t *testing.T) {
	dir := t.TempDir()
	live := filepath.Join(dir, "operator.log")
	cfg := exportertest.GenConfig(loggen.CRI, 11)
	cfg.BigLines = false // a P/F sequence split by the test's rotation point would not be the generator's truth
	lines, truth := exportertest.GeneratedLines(t, cfg)

	// A backlog is present at start; the rest arrives while following.
	third := len(lines) / 3
	exportertest.AppendLines(t, live, lines[:third])
	p := startExporter(t, "--input.path="+filepath.Join(dir, "*.log"), "--input.poll-interval=50ms")
	exportertest.WaitFor(t, "readiness", func() bool { code, _ := p.get(t, "/-/ready"); return code == http.StatusOK })

	exportertest.AppendLines(t, live, lines[third:2*third])
	if err := os.Rename(live, live+".20260817-120000"); err != nil {
		t.Fatal(err)
	}
	exportertest.AppendLines(t, live, lines[2*third:])

	body := caughtUp(t, p.base, filepath.Join(dir, "*.log"), truth.Lines, truth)
	exportertest.RequireTruth(t, body, truth)
	for _, name := range []string{"go_goroutines", "process_resident_memory_bytes", "mirrord_exporter_build_info", "promhttp_metric_handler_requests_total"} {
		if !strings.Contains(body, "\n"+name) {
			t.Errorf("/metrics lacks %s", name)
		}
	}
	if code, page := p.get(t, "/"); code != http.StatusOK || !strings.Contains(page, `href="/metrics"`) {
		t.Errorf("landing page: %d\n%s", code, page)
	}
	p.stop(t)
}
