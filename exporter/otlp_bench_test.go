package exporter_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/go-kit/log"
	"google.golang.org/protobuf/proto"

	"github.com/mirrord-exporter/mirrord-exporter/exporter"
	"github.com/mirrord-exporter/mirrord-exporter/internal/otlptest"
)

// BenchmarkOTLPReceiver is the whole OTLP path in one process: requests of
// 500 records of a generated workload (protobuf) through the receiver,
// ingest, decode and the collector, reported in records/s; one client at a
// time, as the SDK's batch processor sends. The sessions repeat from the
// second pass on; what they cost the collector does not.
func BenchmarkOTLPReceiver(b *testing.B) { benchmarkOTLP(b, false) }

// BenchmarkOTLPReceiverParallel is BenchmarkOTLPReceiver with GOMAXPROCS
// clients at once: requests are decoded and mapped in parallel, delivered
// one at a time.
func BenchmarkOTLPReceiverParallel(b *testing.B) { benchmarkOTLP(b, true) }

func benchmarkOTLP(b *testing.B, parallel bool) {
	recs, _ := otlptest.Workload(b, 7)
	var bodies [][]byte
	for _, req := range otlptest.Batches(recs, 500) {
		body, err := proto.Marshal(req)
		if err != nil {
			b.Fatal(err)
		}
		bodies = append(bodies, body)
	}
	perBody := func(i int) int { return min(500, len(recs)-(i%len(bodies))*500) }
	cfg := config(io.Discard)
	cfg.Logger = log.NewNopLogger()
	cfg.OTLP = &exporter.OTLP{MaxRequestBytes: 4 << 20, MaxInFlight: 64}
	e, err := exporter.New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx, nil) }()
	defer func() { stop(); <-done }()
	h := e.OTLPHandler()
	send := func(i int) {
		req := httptest.NewRequest(http.MethodPost, "/v1/logs", bytes.NewReader(bodies[i%len(bodies)]))
		req.Header.Set("Content-Type", "application/x-protobuf")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			b.Errorf("code %d: %s", w.Code, w.Body)
		}
	}
	b.SetBytes(int64(len(bodies[0])))
	b.ResetTimer()
	var records atomic.Int64
	if parallel {
		var next atomic.Int64
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				i := int(next.Add(1))
				send(i)
				records.Add(int64(perBody(i)))
			}
		})
	} else {
		for i := 0; i < b.N; i++ {
			send(i)
			records.Add(int64(perBody(i)))
		}
	}
	b.ReportMetric(float64(records.Load())/b.Elapsed().Seconds(), "records/s")
}
