package exporter_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"net"
	"net/http"
	"strconv"
	"testing"
	"time"

	"go.opentelemetry.io/otel/exporters/otlp/otlplog/otlploghttp"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/mirrord-exporter/mirrord-exporter/exporter"
	"github.com/mirrord-exporter/mirrord-exporter/internal/exportertest"
	"github.com/mirrord-exporter/mirrord-exporter/internal/otlptest"
)

// startOTLP runs an exporter whose only input is OTLP (with stateFile, if
// not empty), served on a loopback port whose host:port it returns.
func startOTLP(t *testing.T, o exporter.OTLP, stateFile string) (*running, string) {
	t.Helper()
	cfg := config(nil)
	cfg.OTLP = &o
	cfg.StateFile = stateFile
	r := start(t, cfg, false)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: r.e.OTLPHandler(), ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	select {
	case <-r.e.Ready():
	case <-time.After(10 * time.Second):
		t.Fatal("an exporter with OTLP alone is not ready")
	}
	return r, l.Addr().String()
}

// TestOTLPWithTheSDK sends a generated workload with the OpenTelemetry Go
// SDK's OTLP/HTTP log exporter (protobuf, plain and gzip) and requires every
// metric to equal the generator's truth.
func TestOTLPWithTheSDK(t *testing.T) {
	for _, c := range []struct {
		name string
		opt  otlploghttp.Option
	}{
		{"protobuf", otlploghttp.WithCompression(otlploghttp.NoCompression)},
		{"protobuf gzip", otlploghttp.WithCompression(otlploghttp.GzipCompression)},
	} {
		t.Run(c.name, func(t *testing.T) {
			recs, truth := otlptest.Workload(t, 7)
			r, addr := startOTLP(t, exporter.OTLP{MaxRequestBytes: 4 << 20}, "")
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			if err := otlptest.Send(ctx, addr, recs, otlploghttp.WithInsecure(), c.opt); err != nil {
				t.Fatal(err)
			}
			body := r.caughtUp(t, "otlp", len(recs), truth)
			exportertest.RequireTruth(t, body, truth)
			requireOTLPCounts(t, body, len(recs))
		})
	}
}

// TestOTLPJSON posts the workload as protojson requests, every other one
// gzipped, and requires the truth.
func TestOTLPJSON(t *testing.T) {
	recs, truth := otlptest.Workload(t, 8)
	r, addr := startOTLP(t, exporter.OTLP{MaxRequestBytes: 4 << 20}, "")
	for i, req := range otlptest.Batches(recs, 700) {
		body, err := protojson.Marshal(req)
		if err != nil {
			t.Fatal(err)
		}
		gz := i%2 == 1
		if gz {
			var b bytes.Buffer
			w := gzip.NewWriter(&b)
			w.Write(body)
			w.Close()
			body = b.Bytes()
		}
		hreq, err := http.NewRequest(http.MethodPost, "http://"+addr+"/v1/logs", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		hreq.Header.Set("Content-Type", "application/json")
		if gz {
			hreq.Header.Set("Content-Encoding", "gzip")
		}
		resp, err := http.DefaultClient.Do(hreq)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/json" {
			t.Fatalf("request %d: %s, Content-Type %q", i, resp.Status, resp.Header.Get("Content-Type"))
		}
	}
	body := r.caughtUp(t, "otlp", len(recs), truth)
	exportertest.RequireTruth(t, body, truth)
	requireOTLPCounts(t, body, len(recs))
}

func requireOTLPCounts(t *testing.T, body string, records int) {
	t.Helper()
	if got := exportertest.Sample(t, body, "mirrord_exporter_otlp_log_records_total"); got != float64(records) {
		t.Errorf("mirrord_exporter_otlp_log_records_total = %v, want %d", got, records)
	}
	if got := exportertest.Sample(t, body, `mirrord_exporter_otlp_requests_total{code="200"}`); !(got > 0) {
		t.Errorf(`mirrord_exporter_otlp_requests_total{code="200"} = %v, want some`, got)
	}
	for _, code := range []int{400, 413, 503} {
		series := `mirrord_exporter_otlp_requests_total{code="` + strconv.Itoa(code) + `"}`
		if got := exportertest.Sample(t, body, series); got != 0 {
			t.Errorf("%s = %v, want 0", series, got)
		}
	}
}

// TestOTLPBusyThenRetried holds the one request slot with a client that
// sends headers but no body, so that the SDK's requests are answered 503
// with Retry-After; once the slot is free the SDK's retries are applied,
// each record once, and the metrics equal the truth.
func TestOTLPBusyThenRetried(t *testing.T) {
	recs, truth := otlptest.Workload(t, 9)
	r, addr := startOTLP(t, exporter.OTLP{MaxRequestBytes: 4 << 20, MaxInFlight: 1}, "")
	slow, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	if _, err := io.WriteString(slow, "POST /v1/logs HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\nContent-Length: 100\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	const busy = `mirrord_exporter_otlp_requests_total{code="503"}`
	exportertest.WaitFor(t, "a request to be refused as busy", func() bool {
		resp, err := http.Post("http://"+addr+"/v1/logs", "application/x-protobuf", nil)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusServiceUnavailable && resp.Header.Get("Retry-After") != ""
	})
	sent := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		sent <- otlptest.Send(ctx, addr, recs, otlploghttp.WithInsecure(), otlploghttp.WithRetry(otlploghttp.RetryConfig{
			Enabled: true, InitialInterval: 50 * time.Millisecond, MaxInterval: time.Second, MaxElapsedTime: 50 * time.Second,
		}))
	}()
	before := exportertest.Sample(t, r.scrape(t), busy)
	exportertest.WaitFor(t, "the SDK to be refused as busy", func() bool {
		return exportertest.Sample(t, r.scrape(t), busy) > before
	})
	slow.Close() // its request fails reading the body; the slot is free
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
	body := r.caughtUp(t, "otlp", len(recs), truth)
	exportertest.RequireTruth(t, body, truth)
	if got := exportertest.Sample(t, body, "mirrord_exporter_otlp_log_records_total"); got != float64(len(recs)) {
		t.Errorf("mirrord_exporter_otlp_log_records_total = %v, want %d: a refused request was applied", got, len(recs))
	}
}

// TestOTLPStateFileAcrossRestart sends half the workload, stops the exporter
// as SIGTERM does, starts another from the state file and sends the rest:
// every record answered 200 before the stop is in the state saved, and the
// metrics at the end equal the truth.
func TestOTLPStateFileAcrossRestart(t *testing.T) {
	recs, truth := otlptest.Workload(t, 10)
	stateFile := t.TempDir() + "/state"
	half := len(recs) / 2
	for i, part := range [][]otlptest.Record{recs[:half], recs[half:]} {
		r, addr := startOTLP(t, exporter.OTLP{MaxRequestBytes: 4 << 20}, stateFile)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		err := otlptest.Send(ctx, addr, part, otlploghttp.WithInsecure())
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		if i == 1 {
			body := r.caughtUp(t, "otlp", len(recs), truth)
			exportertest.RequireTruth(t, body, truth)
		}
		r.shutdown(t)
	}
}
