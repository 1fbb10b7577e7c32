package main

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/mirrord-exporter/mirrord-exporter/internal/exportertest"
)

// TestKubeletLogsAsNonRoot: the kubelet's log files are root:root 0640. The
// exporter as a non-root user (the image's 65532) reads them with the root
// group as a supplemental group, as the chart's files mode runs it; without
// it, it says at error level what to do, counts the failed opens and
// follows no file (what MirrordExporterNoLogFile watches).
func TestKubeletLogsAsNonRoot(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root, to make root-owned files and to run the exporter as another user")
	}
	dir := t.TempDir()
	for _, d := range []string{dir, filepath.Dir(dir), filepath.Dir(exporterBinary)} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	logPath := filepath.Join(dir, "0.log")
	exportertest.AppendLines(t, logPath, []string{`{"fields":{"message":"Session Start","session_id":"A","client_user":"alice"}}`})
	if err := os.Chmod(logPath, 0o640); err != nil {
		t.Fatal(err)
	}

	for name, groups := range map[string][]uint32{"root group": {0}, "no root group": nil} {
		t.Run(name, func(t *testing.T) {
			p := startExporterAs(t, &syscall.Credential{Uid: 65532, Gid: 65532, Groups: groups}, "--input.path="+filepath.Join(dir, "*.log"))
			exportertest.WaitFor(t, "readiness", func() bool { code, _ := p.get(t, "/-/ready"); return code == http.StatusOK })
			if groups != nil {
				exportertest.WaitFor(t, "alice's session", func() bool {
					_, body := p.get(t, "/metrics")
					return strings.Contains(body, `client_user="alice"`) && exportertest.Sample(t, body, "mirrord_exporter_files_followed") == 1
				})
			} else {
				exportertest.WaitFor(t, "the error that says what to do", func() bool {
					return strings.Contains(p.stderr.String(), "level=error") && strings.Contains(p.stderr.String(), "root group")
				})
				_, body := p.get(t, "/metrics")
				if n := exportertest.Sample(t, body, `mirrord_exporter_file_errors_total{op="open"}`); !(n > 0) {
					t.Errorf("open errors counted: %v", n)
				}
				if n := exportertest.Sample(t, body, "mirrord_exporter_files_followed"); n != 0 {
					t.Errorf("files followed: %v, want 0", n)
				}
			}
			p.stop(t)
		})
	}
}
