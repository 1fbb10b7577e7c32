package main

import (
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/go-kit/log"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/mirrord-exporter/mirrord-exporter/collector"
	"github.com/mirrord-exporter/mirrord-exporter/decode"
	"github.com/mirrord-exporter/mirrord-exporter/family"
	"github.com/mirrord-exporter/mirrord-exporter/internal/loggen"
)

// TestMetricsGzip scrapes the real binary with and without gzip: the
// decompressed body holds the same metrics.
func TestMetricsGzip(t *testing.T) {
	p := startExporter(t, "--log.path="+filepath.Join("..", "..", "examples", "operator.log"))
	waitFor(t, "readiness", func() bool { code, _ := p.get(t, "/-/ready"); return code == http.StatusOK })
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

// distinctSessionsHandler is the /metrics handler as the exporter builds it,
// over a collector that holds about 10,000 series: 1700 sessions, each a
// distinct user on a distinct target, then the extra records applied.
func distinctSessionsHandler(tb testing.TB, extra ...[]byte) http.Handler {
	tb.Helper()
	reg, capped := prometheus.NewRegistry(), prometheus.NewRegistry()
	labels, err := decode.NewLabelConfig(nil, nil)
	if err != nil {
		tb.Fatal(err)
	}
	coll, err := collector.New(collector.Config{
		Labels: labels, Registerer: reg, CappedRegisterer: capped,
		Limits: collector.Limits{MaxSeries: collector.DefaultMaxSeries},
	})
	if err != nil {
		tb.Fatal(err)
	}
	dec := decode.New(labels)
	for _, r := range append(loggen.DistinctSessions(1700), extra...) {
		var ev decode.Event
		if ok, reason := dec.Decode(r, &ev); !ok {
			tb.Fatalf("not decoded (%q): %s", reason, r)
		}
		coll.Apply(&ev)
	}
	return family.NewHandler(family.HandlerOpts{
		Registry: reg, Capped: capped, Own: coll.Families(),
		MaxRequests: 40, ErrorLog: promhttpLogger{log.NewNopLogger()},
	})
}

// protobufAccept is what Prometheus asks for when native histograms are on.
const protobufAccept = "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.8,application/openmetrics-text;version=1.0.0;q=0.5,text/plain;version=0.0.4;q=0.1"

// BenchmarkServeScrape measures a scrape through the exporter's own /metrics
// handler (the capped families written directly, gzip at its fastest level, the in-flight
// limit) of about 10,000 series: text, gzipped text, protobuf.
func BenchmarkServeScrape(b *testing.B) {
	h := distinctSessionsHandler(b)
	for _, c := range []struct{ name, accept, encoding string }{
		{"identity", "", "identity"},
		{"gzip", "", "gzip"},
		{"protobuf", protobufAccept, "identity"},
	} {
		b.Run(c.name, func(b *testing.B) {
			req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
			req.Header.Set("Accept-Encoding", c.encoding)
			if c.accept != "" {
				req.Header.Set("Accept", c.accept)
			}
			var size int
			b.ReportAllocs()
			for b.Loop() {
				w := httptest.NewRecorder()
				h.ServeHTTP(w, req)
				if w.Code != http.StatusOK {
					b.Fatalf("status %d", w.Code)
				}
				size = w.Body.Len()
			}
			b.ReportMetric(float64(size), "body-B")
		})
	}
}
