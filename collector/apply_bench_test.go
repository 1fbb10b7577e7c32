package collector

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/common/expfmt"

	"github.com/mirrord-exporter/mirrord-exporter/decode"
	"github.com/mirrord-exporter/mirrord-exporter/family"
	"github.com/mirrord-exporter/mirrord-exporter/internal/loggen"
)

// benchCollector returns a Collector with the default labels and a fixed
// clock, on a fresh registry.
func benchCollector(b *testing.B, maxSeries int) (*Collector, *decode.Decoder, *prometheus.Registry) {
	b.Helper()
	reg := prometheus.NewRegistry()
	labels := mustLabels(b, nil, nil)
	fixed := time.Date(2026, 8, 17, 0, 0, 0, 0, time.UTC)
	c, err := New(Config{Labels: labels, Registerer: reg, Limits: Limits{MaxSeries: maxSeries}, Now: func() time.Time { return fixed }})
	if err != nil {
		b.Fatal(err)
	}
	return c, decode.New(labels), reg
}

// decodeAll decodes records that must all be events.
func decodeAll(b *testing.B, d *decode.Decoder, records []string) []decode.Event {
	b.Helper()
	evs := make([]decode.Event, len(records))
	for i, r := range records {
		if ok, reason := d.Decode([]byte(r), &evs[i]); !ok {
			b.Fatalf("record not decoded (reason %q): %s", reason, r)
		}
	}
	return evs
}

// sessionStory is one session's events as the operator logs them: a Start,
// a steal, a mirror, a release, a message and an End, for one of 20 users
// on one of 10 targets.
func sessionStory(i int) []string {
	user := fmt.Sprintf(`"client_user":"user%d@corp.example","client_name":"User %d","client_hostname":"host%d","target_namespace":"ns%d","target_type":"deployment","target_name":"svc%d"`, i%20, i%20, i%20, i%10, i%10)
	id := fmt.Sprintf(`"session_id":"%016X"`, i)
	ts := `"timestamp":"2026-08-17T18:15:08.583869Z","level":"INFO"`
	return []string{
		`{` + ts + `,"fields":{"message":"Session Start",` + user + `,` + id + `},"target":"operator_session"}`,
		`{` + ts + `,"fields":{"message":"Port Steal",` + user + `,` + id + `,"port":8080,"http_filter":"path=/api"},"target":"operator_session::steal"}`,
		`{` + ts + `,"fields":{"message":"Port Mirror",` + user + `,` + id + `,"port":9090},"target":"operator_session::mirror"}`,
		`{` + ts + `,"fields":{"message":"Port Release",` + user + `,` + id + `,"port":8080},"target":"operator_session::steal"}`,
		`{` + ts + `,"fields":{"message":"Message Processing","event_type":"steal","mode":"filtered","queue_type":"http","response_status":200},"target":"operator_session"}`,
		`{` + ts + `,"fields":{"message":"Session End",` + user + `,` + id + `,"session_duration":312.5},"target":"operator_session"}`,
	}
}

// BenchmarkApply measures updating state and metrics for one event, on a
// realistic mix (the six events of a session, repeated over 1000 sessions
// of 20 users on 10 targets). Series exist after the first pass, as on a
// long-running exporter.
func BenchmarkApply(b *testing.B) {
	c, d, _ := benchCollector(b, 10_000)
	var records []string
	for i := range 1000 {
		records = append(records, sessionStory(i)...)
	}
	evs := decodeAll(b, d, records)
	for i := range evs {
		ev := evs[i]
		c.Apply(&ev)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		ev := evs[i]
		c.Apply(&ev)
		if i++; i == len(evs) {
			i = 0
		}
	}
}

// BenchmarkDecodeApply measures decode then apply of one event line, the
// consumer-side cost of an event without the channel.
func BenchmarkDecodeApply(b *testing.B) {
	c, d, _ := benchCollector(b, 10_000)
	var records [][]byte
	for i := range 1000 {
		for _, r := range sessionStory(i) {
			records = append(records, []byte(r))
		}
	}
	var ev decode.Event
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if ok, _ := d.Decode(records[i], &ev); ok {
			c.Apply(&ev)
		}
		if i++; i == len(records) {
			i = 0
		}
	}
}

// BenchmarkOpenSessions measures the memory 100k open sessions hold: 100k
// Session Starts with distinct ids (and 100 users on 100 targets), applied to
// a fresh Collector. heap-MB is the live heap after a GC, less the heap
// before the Collector was made; B/session is the same per session.
func BenchmarkOpenSessions(b *testing.B) {
	const n = 100_000
	records := make([][]byte, n)
	for i := range records {
		records[i] = fmt.Appendf(nil, `{"timestamp":"2026-08-17T18:15:08.583869Z","level":"INFO","fields":{"message":"Session Start","client_user":"user%d@corp.example","client_name":"User %d","target_namespace":"ns%d","target_type":"deployment","target_name":"svc%d","session_id":"%016X"},"target":"operator_session"}`, i%100, i%100, i/100%100, i/100%100, i)
	}
	b.ReportAllocs()
	for b.Loop() {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		c, d, _ := benchCollector(b, 0)
		var ev decode.Event
		for _, r := range records {
			if ok, reason := d.Decode(r, &ev); !ok {
				b.Fatalf("not decoded: %q", reason)
			}
			c.Apply(&ev)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		if got := c.tracked.Load(); got != n {
			b.Fatalf("%d sessions tracked, want %d", got, n)
		}
		live := float64(after.HeapAlloc) - float64(before.HeapAlloc)
		b.ReportMetric(live/(1<<20), "heap-MB")
		b.ReportMetric(live/n, "B/session")
		runtime.KeepAlive(c)
		runtime.KeepAlive(d)
	}
}

// distinctSessionsState is the state of the 10k-series scrape benchmarks:
// loggen.DistinctSessions applied to a collector capped at 10,000 series
// per family.
func distinctSessionsState(b *testing.B) (*Collector, *prometheus.Registry) {
	b.Helper()
	c, d, reg := benchCollector(b, 10_000)
	for _, r := range loggen.DistinctSessions(1700) {
		var ev decode.Event
		if ok, reason := d.Decode(r, &ev); !ok {
			b.Fatalf("not decoded (%q): %s", reason, r)
		}
		c.Apply(&ev)
	}
	return c, reg
}

// BenchmarkPrintText prints the capped families of the 10k-series state in
// the text format, as --once does: straight from their series ("direct"),
// and through client_golang's Gather and expfmt as before ("gather").
func BenchmarkPrintText(b *testing.B) {
	c, reg := distinctSessionsState(b)
	capped := map[string]bool{}
	for _, f := range c.Families() {
		capped[f.Name()] = true
	}
	b.Run("direct", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			for _, f := range c.Families() {
				if err := f.WriteExposition(io.Discard, family.PrometheusText); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
	b.Run("gather", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			mfs, err := reg.Gather()
			if err != nil {
				b.Fatal(err)
			}
			for _, mf := range mfs {
				if !capped[mf.GetName()] {
					continue
				}
				if _, err := expfmt.MetricFamilyToText(io.Discard, mf); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
}

// BenchmarkScrape measures one /metrics scrape, through promhttp with the
// exporter's handler options, of a registry holding about 10k series:
// 1700 sessions, each a distinct user on a distinct target, leave six
// series each (started, ended, duration, active, stolen, ports active)
// beside the fixed ones.
func BenchmarkScrape(b *testing.B) {
	for _, format := range []struct{ name, accept string }{
		{"text", "text/plain"},
		{"gzip", "text/plain"},
		{"openmetrics", "application/openmetrics-text; version=1.0.0"},
		{"protobuf", "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited"},
	} {
		b.Run(format.name, func(b *testing.B) {
			_, reg := distinctSessionsState(b)
			mfs, err := reg.Gather()
			if err != nil {
				b.Fatal(err)
			}
			series := 0
			for _, mf := range mfs {
				series += len(mf.GetMetric())
			}
			h := promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError, EnableOpenMetrics: true})
			req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
			req.Header.Set("Accept", format.accept)
			if format.name == "gzip" {
				req.Header.Set("Accept-Encoding", "gzip")
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
				_, _ = io.Copy(io.Discard, w.Body)
			}
			b.ReportMetric(float64(series), "series")
			b.ReportMetric(float64(size), "body-B")
		})
	}
}
