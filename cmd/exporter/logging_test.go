package main

import (
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mirrord-exporter/mirrord-exporter/internal/exportertest"
)

// TestOwnLogOneFormat: every line the exporter writes, exporter-toolkit's and
// net/http's included (a TLS listener, a plain-HTTP client and one that
// does not trust the certificate make both speak), is in the one format
// --log.format asks for, stamped under the one key ts.
func TestOwnLogOneFormat(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, pool := selfSignedCert(t, dir)
	webConfig := filepath.Join(dir, "web.yml")
	if err := os.WriteFile(webConfig, fmt.Appendf(nil, "tls_server_config:\n  cert_file: %s\n  key_file: %s\n", certFile, keyFile), 0o600); err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(dir, "operator.log")
	exportertest.AppendLines(t, logPath, []string{`{"fields":{"message":"Session Start","session_id":"A","client_user":"alice"}}`, `not json`})

	for _, format := range []string{"logfmt", "json"} {
		t.Run(format, func(t *testing.T) {
			addr := freeAddress(t)
			var logs exportertest.LockedBuffer
			cmd := exec.Command(exporterBinary, "--web.listen-address="+addr, "--web.config.file="+webConfig,
				"--input.path="+logPath, "--log.format="+format, "--log.level=debug")
			cmd.Stderr = &logs
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer func() {
				if cmd.ProcessState == nil {
					cmd.Process.Kill()
					cmd.Wait()
				}
			}()
			trusting := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
			exportertest.WaitFor(t, "the exporter to serve TLS", func() bool {
				resp, err := trusting.Get("https://" + addr + "/metrics")
				if err != nil {
					return false
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				return resp.StatusCode == http.StatusOK
			})
			if resp, err := http.Get("http://" + addr + "/metrics"); err == nil {
				resp.Body.Close()
			}
			if resp, err := http.Get("https://" + addr + "/metrics"); err == nil {
				resp.Body.Close()
			}
			exportertest.WaitFor(t, "net/http's TLS handshake error in the log", func() bool {
				return strings.Contains(logs.String(), "TLS handshake error")
			})
			if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			if err := cmd.Wait(); err != nil {
				t.Fatalf("exit: %v\n%s", err, logs.String())
			}

			out := logs.String()
			// exporter-toolkit's, net/http's and the exporter's own lines.
			for _, want := range []string{"Listening on", "TLS is enabled", "TLS handshake error", "Starting mirrord_exporter"} {
				if !strings.Contains(out, want) {
					t.Errorf("no line with %q:\n%s", want, out)
				}
			}
			for _, line := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
				if err := checkLogLine(format, line); err != nil {
					t.Errorf("%v: %s", err, line)
				}
			}
		})
	}
}

var logfmtKey = regexp.MustCompile(`(?:^| )([a-z_]+)=`)

// checkLogLine: the line is in format, with a ts, a level and a msg, and no
// other time key.
func checkLogLine(format, line string) error {
	keys := map[string]bool{}
	switch format {
	case "json":
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			return fmt.Errorf("not JSON: %w", err)
		}
		for k := range m {
			keys[k] = true
		}
	default:
		if strings.HasPrefix(line, "{") {
			return fmt.Errorf("JSON in a logfmt log")
		}
		for _, m := range logfmtKey.FindAllStringSubmatch(line, -1) {
			keys[m[1]] = true
		}
	}
	for _, k := range []string{"ts", "level", "msg"} {
		if !keys[k] {
			return fmt.Errorf("no %s key", k)
		}
	}
	if keys["time"] {
		return fmt.Errorf("a time key beside ts")
	}
	return nil
}

// TestLandingPageLinks: every link of the landing page answers 200, with
// Go's profiles served (--web.enable-pprof) or not (no profile links then).
func TestLandingPageLinks(t *testing.T) {
	for name, args := range map[string][]string{"default": nil, "pprof": {"--web.enable-pprof"}} {
		t.Run(name, func(t *testing.T) {
			p := startExporter(t, append([]string{"--input.path=" + filepath.Join("..", "..", "examples", "operator.log")}, args...)...)
			exportertest.WaitFor(t, "readiness", func() bool { code, _ := p.get(t, "/-/ready"); return code == http.StatusOK })
			code, page := p.get(t, "/")
			if code != http.StatusOK {
				t.Fatalf("landing page: %d", code)
			}
			links := regexp.MustCompile(`href="([^"]+)"`).FindAllStringSubmatch(page, -1)
			profiles := 0
			for _, l := range links {
				link := l[1]
				if strings.HasPrefix(link, "http") {
					continue // documentation elsewhere
				}
				if strings.Contains(link, "debug/pprof") {
					profiles++
					// The page's CPU profile lasts 60s; one second tells as much.
					link = strings.Replace(link, "seconds=60", "seconds=1", 1)
				}
				if !strings.HasPrefix(link, "/") {
					link = "/" + link
				}
				if code, _ := p.get(t, link); code != http.StatusOK {
					t.Errorf("link %s: %d", l[1], code)
				}
			}
			if want := name == "pprof"; (profiles > 0) != want {
				t.Errorf("%d profile links with pprof %v", profiles, want)
			}
			p.stop(t)
		})
	}
}
