package family_test

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	_ "github.com/prometheus/client_golang/prometheus/promhttp/zstd" // promhttp offers zstd, as we do
	"github.com/prometheus/common/expfmt"

	"github.com/mirrord-exporter/mirrord-exporter/collector"
	"github.com/mirrord-exporter/mirrord-exporter/decode"
	"github.com/mirrord-exporter/mirrord-exporter/family"
	"github.com/mirrord-exporter/mirrord-exporter/internal/loggen"
)

// Accept headers scrapers send.
const (
	// Prometheus 2.42's default.
	prometheus2Accept = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
	// Prometheus 2 with native histograms on.
	prometheus2Protobuf = "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.8,application/openmetrics-text;version=1.0.0;q=0.5,text/plain;version=0.0.4;q=0.1"
	// Prometheus 3's default, UTF-8 names allowed.
	prometheus3Accept = "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.5,application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.3,text/plain;version=0.0.4;q=0.2,*/*;q=0.1"
	// Prometheus 3 with the legacy name validation.
	prometheus3Legacy = "application/openmetrics-text;version=1.0.0;escaping=underscores;q=0.5,application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=1.0.0;escaping=underscores;q=0.3,text/plain;version=0.0.4;q=0.2,*/*;q=0.1"
	// Prometheus 3 with PrometheusProto first (native histograms).
	prometheus3Protobuf = "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;escaping=allow-utf-8;q=0.5,application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.4,application/openmetrics-text;version=0.0.1;q=0.3,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.2,text/plain;version=0.0.4;q=0.1,*/*;q=0.05"
)

// fixture is a collector's registries, about 2,000 series, and records that
// need escaping.
func fixture(tb testing.TB) (reg, capped *prometheus.Registry, own []family.Exposer) {
	tb.Helper()
	return distinctSessions(tb, 300,
		[]byte(`{"timestamp":"2026-08-17T10:00:00Z","fields":{"message":"Session Start","session_id":"Q","client_user":"q\"uo\\te","client_name":"new\nline ünï","target":"pod/x"}}`),
		[]byte(`{"timestamp":"2026-08-17T10:00:01Z","fields":{"message":"Session End","session_id":"Q","session_duration":0.25,"client_user":"q\"uo\\te","client_name":"new\nline ünï","target":"pod/x"}}`),
		[]byte(`{"timestamp":"2026-08-17T10:00:02Z","fields":{"message":"Max seat count reached!","active_users":"25"}}`),
		[]byte(`{"timestamp":"2026-08-17T10:00:03Z","fields":{"message":"Message Processing","event_type":"http","mode":"steal","response_status_code":200}}`),
	)
}

// distinctSessions is a collector's registries after n sessions, each a
// distinct user on a distinct target (six series each), then the extra
// records.
func distinctSessions(tb testing.TB, n int, extra ...[]byte) (reg, capped *prometheus.Registry, own []family.Exposer) {
	tb.Helper()
	reg, capped = prometheus.NewRegistry(), prometheus.NewRegistry()
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
	for _, r := range append(loggen.DistinctSessions(n), extra...) {
		var ev decode.Event
		if ok, reason := dec.Decode(r, &ev); !ok {
			tb.Fatalf("not decoded (%q): %s", reason, r)
		}
		coll.Apply(&ev)
	}
	return reg, capped, coll.Families()
}

// protobufAccept is what Prometheus 2 asks for when native histograms are on.
const protobufAccept = "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.8,application/openmetrics-text;version=1.0.0;q=0.5,text/plain;version=0.0.4;q=0.1"

// BenchmarkServeScrape measures a scrape through the /metrics handler as the
// exporter builds it (the capped families written directly, gzip at its
// fastest level, the in-flight limit) of about 10,000 series: 1700 sessions
// of distinct users on distinct targets. Text, gzipped text, protobuf.
func BenchmarkServeScrape(b *testing.B) {
	reg, capped, own := distinctSessions(b, 1700)
	h := family.NewHandler(family.HandlerOpts{Registry: reg, Capped: capped, Own: own, MaxRequests: 40})
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

// TestExpositionMatchesPromhttp: whatever format and compression a scraper
// asks for, with or without the name[] filter, /metrics answers exactly as
// promhttp does over every metric with the same formats offered: status,
// content type, content encoding and body (decompressed), byte for byte.
// The capped families are written by themselves in every format but
// OpenMetrics 2.0 and the protobuf text formats.
func TestExpositionMatchesPromhttp(t *testing.T) {
	reg, capped, own := fixture(t)
	ours := family.NewUninstrumentedHandler(family.HandlerOpts{
		Registry: reg, Capped: capped, Own: own, MaxRequests: 40, ErrorLog: testLogger{t},
	})
	theirs := promhttp.HandlerFor(prometheus.Gatherers{reg, capped}, promhttp.HandlerOpts{
		ErrorHandling:   promhttp.ContinueOnError,
		AcceptedFormats: append(expfmt.DefaultOpenMetricsAcceptedFormats(), expfmt.FmtOpenMetrics_2_0_0),
	})
	for _, accept := range []string{
		"",
		"text/plain;version=0.0.4",
		"text/plain;version=0.0.4;escaping=underscores",
		"text/plain;version=1.0.0;escaping=allow-utf-8",
		"application/openmetrics-text;version=1.0.0",
		"application/openmetrics-text;version=1.0.0;escaping=allow-utf-8",
		"application/openmetrics-text;version=0.0.1",
		"application/openmetrics-text;version=2.0.0",
		"application/openmetrics-text;version=2.0.0;escaping=underscores",
		prometheus2Accept, prometheus2Protobuf, prometheus3Accept, prometheus3Legacy, prometheus3Protobuf,
		"application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=text",
		"*/*",
		"application/json",
	} {
		for _, query := range []string{"", "?name[]=mirrord_sessions_started_total&name[]=mirrord_exporter_series&name[]=mirrord_session_duration_seconds"} {
			for _, encoding := range []string{"", "identity", "gzip", "zstd", "gzip, zstd", "zstd;q=1.0, gzip;q=0.5", "br"} {
				name := "Accept " + accept + query + " Accept-Encoding " + encoding
				req := httptest.NewRequest(http.MethodGet, "/metrics"+query, nil)
				if accept != "" {
					req.Header.Set("Accept", accept)
				}
				if encoding != "" {
					req.Header.Set("Accept-Encoding", encoding)
				}
				got, want := httptest.NewRecorder(), httptest.NewRecorder()
				ours.ServeHTTP(got, req)
				theirs.ServeHTTP(want, req)
				for _, h := range []string{"Content-Type", "Content-Encoding"} {
					if g, w := got.Header().Get(h), want.Header().Get(h); g != w {
						t.Errorf("%s: %s %q, promhttp's %q", name, h, g, w)
					}
				}
				if got.Code != want.Code {
					t.Errorf("%s: status %d, promhttp's %d", name, got.Code, want.Code)
					continue
				}
				gotBody, wantBody := decompressed(t, got), decompressed(t, want)
				if !bytes.Equal(gotBody, wantBody) {
					t.Errorf("%s: body differs from promhttp's (%d bytes, %d)", name, len(gotBody), len(wantBody))
				}
				if len(wantBody) < 100 {
					t.Errorf("%s: body of %d bytes", name, len(wantBody))
				}
			}
		}
	}
}

// decompressed returns the response's body, decompressed.
func decompressed(t *testing.T, r *httptest.ResponseRecorder) []byte {
	t.Helper()
	var rd io.Reader = r.Body
	switch r.Header().Get("Content-Encoding") {
	case "gzip":
		zr, err := gzip.NewReader(rd)
		if err != nil {
			t.Fatal(err)
		}
		rd = zr
	case "zstd":
		zr, err := zstd.NewReader(rd)
		if err != nil {
			t.Fatal(err)
		}
		defer zr.Close()
		rd = zr
	}
	b, err := io.ReadAll(rd)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestHandlerLimitsRequestsInFlight: past MaxRequests scrapes at once, a
// scrape is answered 503, as promhttp answers it.
func TestHandlerLimitsRequestsInFlight(t *testing.T) {
	reg := prometheus.NewRegistry()
	block, entered := make(chan struct{}), make(chan struct{})
	reg.MustRegister(blockingCollector{entered, block})
	h := family.NewHandler(family.HandlerOpts{Registry: reg, Capped: prometheus.NewRegistry(), MaxRequests: 1, ErrorLog: testLogger{t}})
	done := make(chan struct{})
	go func() {
		defer close(done)
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/metrics", nil))
	}()
	<-entered
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	close(block)
	<-done
	if w.Code != http.StatusServiceUnavailable || !strings.Contains(w.Body.String(), "Limit of concurrent requests reached (1)") {
		t.Errorf("second scrape: %d %q, want 503 and promhttp's message", w.Code, w.Body.String())
	}
}

// blockingCollector's Collect waits for block, once entered.
type blockingCollector struct{ entered, block chan struct{} }

func (c blockingCollector) Describe(chan<- *prometheus.Desc) {}
func (c blockingCollector) Collect(chan<- prometheus.Metric) {
	close(c.entered)
	<-c.block
}

type testLogger struct{ t *testing.T }

func (l testLogger) Println(v ...any) { l.t.Error(v...) }
