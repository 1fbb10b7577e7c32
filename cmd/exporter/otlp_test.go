package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/exporters/otlp/otlplog/otlploghttp"
	"google.golang.org/protobuf/proto"

	"github.com/mirrord-exporter/mirrord-exporter/internal/exportertest"
	"github.com/mirrord-exporter/mirrord-exporter/internal/otlptest"
)

// TestOTLPAloneBehindTLSAndBasicAuth runs the real binary with OTLP as its
// only input, behind a --web.config.file with TLS and basic auth, sends a
// generated workload with the OpenTelemetry Go SDK and requires the
// generator's truth; without credentials the SDK is refused, and a body
// over --otlp.max-request-bytes is answered 413.
func TestOTLPAloneBehindTLSAndBasicAuth(t *testing.T) {
	dir := t.TempDir()
	webConfig, pool := tlsAuthWebConfig(t, dir, "operator", "s3cret")
	addr, otlpAddr := freeAddress(t), freeAddress(t)
	startProcess(t, "--web.listen-address="+addr, "--web.config.file="+webConfig,
		"--otlp.listen-address="+otlpAddr, "--otlp.max-request-bytes=1MiB")
	tlsConfig := &tls.Config{RootCAs: pool}
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: tlsConfig}}
	do := func(method, url string, body []byte) (int, string, error) {
		req, err := http.NewRequest(method, url, bytes.NewReader(body))
		if err != nil {
			return 0, "", err
		}
		req.SetBasicAuth("operator", "s3cret")
		req.Header.Set("Content-Type", "application/x-protobuf")
		resp, err := client.Do(req)
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), err
	}
	exportertest.WaitFor(t, "the exporter to be ready", func() bool {
		code, _, err := do(http.MethodGet, "https://"+addr+"/-/ready", nil)
		return err == nil && code == http.StatusOK
	})
	recs, truth := otlptest.Workload(t, 11)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	tlsOpt := otlploghttp.WithTLSClientConfig(tlsConfig)

	// No credentials: refused, and no retries of a 401.
	if err := otlptest.Send(ctx, otlpAddr, recs[:10], tlsOpt, otlploghttp.WithRetry(otlploghttp.RetryConfig{Enabled: false})); err == nil || !strings.Contains(err.Error(), "401") {
		t.Errorf("without credentials the SDK got %v, want a 401", err)
	}
	auth := otlploghttp.WithHeaders(map[string]string{"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte("operator:s3cret"))})
	if err := otlptest.Send(ctx, otlpAddr, recs, tlsOpt, auth, otlploghttp.WithCompression(otlploghttp.GzipCompression)); err != nil {
		t.Fatal(err)
	}
	metrics := func() string {
		_, body, err := do(http.MethodGet, "https://"+addr+"/metrics", nil)
		if err != nil {
			return ""
		}
		return body
	}
	body := exportertest.CaughtUp(t, addr, metrics, "otlp", len(recs), truth)
	exportertest.RequireTruth(t, body, truth)
	if got := exportertest.Sample(t, body, "mirrord_exporter_otlp_log_records_total"); got != float64(len(recs)) {
		t.Errorf("mirrord_exporter_otlp_log_records_total = %v, want %d", got, len(recs))
	}

	big, err := proto.Marshal(otlptest.Request([]otlptest.Record{{Time: time.Now(), Message: strings.Repeat("x", 2<<20)}}))
	if err != nil {
		t.Fatal(err)
	}
	if code, msg, err := do(http.MethodPost, "https://"+otlpAddr+"/v1/logs", big); err != nil || code != http.StatusRequestEntityTooLarge {
		t.Errorf("a 2MiB body: %d %q, %v; want 413", code, msg, err)
	}
	if code, _, err := do(http.MethodGet, "https://"+otlpAddr+"/v1/logs", nil); err != nil || code != http.StatusMethodNotAllowed {
		t.Errorf("GET /v1/logs: %d, %v; want 405", code, err)
	}
	// The metrics are not served on the OTLP address.
	if code, _, err := do(http.MethodGet, "https://"+otlpAddr+"/metrics", nil); err != nil || code != http.StatusNotFound {
		t.Errorf("GET /metrics on the OTLP address: %d, %v; want 404", code, err)
	}
}

// TestOTLPRefusedWithOnce: OTLP is served; --once and the commands that read
// saved logs refuse it.
func TestOTLPRefusedWithOnce(t *testing.T) {
	for _, args := range [][]string{
		{"--once", "--otlp.listen-address=:0"},
		{"report", "--input.path=x", "--otlp.listen-address=:0"},
	} {
		if _, err := parseFlags(args); err == nil || !strings.Contains(err.Error(), "otlp.listen-address") {
			t.Errorf("%v: %v, want an error naming --otlp.listen-address", args, err)
		}
	}
	if _, err := parseFlags([]string{"--otlp.listen-address=:4318", "--otlp.max-request-bytes=1KiB"}); err != nil {
		t.Errorf("OTLP alone: %v", err)
	}
	if _, err := parseFlags([]string{"--otlp.listen-address=:4318", "--otlp.max-request-bytes=10B"}); err == nil {
		t.Error("--otlp.max-request-bytes=10B accepted")
	}
}
