package main

import (
	"compress/gzip"
	"io"
	"net/http"
	"path/filepath"
	"testing"

	"github.com/mirrord-exporter/mirrord-exporter/internal/exportertest"
)

// TestMetricsGzip scrapes the real binary with and without gzip: the
// decompressed body holds the same metrics.
func TestMetricsGzip(t *testing.T) {
	p := startExporter(t, "--input.path="+filepath.Join("..", "..", "examples", "operator.log"))
	exportertest.WaitFor(t, "readiness", func() bool { code, _ := p.get(t, "/-/ready"); return code == http.StatusOK })
	_, plain := p.get(t, "/metrics")

	req, err := http.NewRequest(http.MethodGet, p.base+"/metrics", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept-Encoding", "gzip")
	// A transport of its own, which does not decompress behind our back.
	resp, err := (&http.Transport{DisableCompression: true}).RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if got := resp.Header.Get("Content-Encoding"); got != "gzip" {
		t.Fatalf("Content-Encoding %q, want gzip", got)
	}
	zr, err := gzip.NewReader(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := logMetrics(string(body)), logMetrics(plain); got != want || want == "" {
		t.Errorf("gzip body differs from the plain one:\n%s", lineDiff(want, got))
	}
	p.stop(t)
}
