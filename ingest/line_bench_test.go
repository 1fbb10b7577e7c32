package ingest

import (
	"bytes"
	"io"
	"testing"
	"time"

	"github.com/go-kit/log"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/mirrord-exporter/mirrord-exporter/collector"
	"github.com/mirrord-exporter/mirrord-exporter/decode"
	"github.com/mirrord-exporter/mirrord-exporter/internal/loggen"
	"github.com/mirrord-exporter/mirrord-exporter/unwrap"
)

// benchLines generates a log with loggen and splits it into lines.
func benchLines(b *testing.B, cfg loggen.Config) ([][]byte, int64) {
	b.Helper()
	var buf bytes.Buffer
	if _, err := loggen.Generate(&buf, cfg); err != nil {
		b.Fatal(err)
	}
	size := int64(buf.Len())
	lines := bytes.Split(bytes.TrimSuffix(buf.Bytes(), []byte("\n")), []byte("\n"))
	return lines, size
}

// BenchmarkLine measures the whole line path of one stream, as --once runs
// it: the sink (counting, unwrap, decode, on GOMAXPROCS lanes), the events
// over the channel, and Collector.Apply on a consumer goroutine. One
// op is one line of a loggen log; B/op and allocs/op are per line, both
// goroutines included. The workloads are the ones of bench/run.sh: debug
// (-noise 0.95, about 5% events) and info (-noise 0.6 -big, about 40% events
// and some 20-60 KiB records), in each wrapper.
func BenchmarkLine(b *testing.B) {
	for _, wl := range []struct {
		name  string
		noise float64
		big   bool
	}{{"debug", 0.95, false}, {"info", 0.6, true}} {
		for _, w := range []loggen.Wrapper{loggen.Raw, loggen.Docker, loggen.CRI} {
			b.Run(wl.name+"/"+w.String(), func(b *testing.B) {
				lines, size := benchLines(b, loggen.Config{Seed: 1, Sessions: 200, NoiseRatio: wl.noise, BigLines: wl.big, Wrapper: w})
				benchmarkLine(b, lines, size)
			})
		}
	}
}

// BenchmarkLineNonEvent measures the line path of a debug line that is not
// an event: it must not allocate.
func BenchmarkLineNonEvent(b *testing.B) {
	line := []byte(`{"timestamp":"2026-08-17T18:15:08.583869Z","level":"DEBUG","fields":{"message":"polling pods","count":3},"target":"kube_runtime::controller","filename":"src/controller.rs","line_number":42,"threadId":"ThreadId(7)"}`)
	benchmarkLine(b, [][]byte{line}, int64(len(line)+1))
}

func benchmarkLine(b *testing.B, lines [][]byte, size int64) {
	labels, err := decode.NewLabelConfig(nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	fixed := time.Date(2026, 8, 17, 0, 0, 0, 0, time.UTC)
	c, err := collector.New(collector.Config{Labels: labels, Registerer: reg, Limits: collector.Limits{MaxSeries: 10_000}, Now: func() time.Time { return fixed }})
	if err != nil {
		b.Fatal(err)
	}
	events := make(chan decode.Event, 1024)
	p, err := New(Config{
		Format: unwrap.Auto, MaxLineBytes: 1 << 20, Labels: labels, Events: events,
		Logger: log.NewLogfmtLogger(io.Discard), Registerer: reg,
		Now: func() time.Time { return fixed },
	})
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		c.Run(events, nil, nil)
		close(done)
	}()
	s := p.NewSink("bench", "bench.log")
	b.SetBytes(size / int64(len(lines)))
	b.ReportAllocs()
	// Sources flush their Sink after every chunk read: 1 MiB while a file
	// is caught up, as in --once.
	i, unflushed := 0, 0
	for b.Loop() {
		s.Line(lines[i])
		if unflushed += len(lines[i]) + 1; unflushed >= 1<<20 {
			s.Flush()
			unflushed = 0
		}
		if i++; i == len(lines) {
			i = 0
		}
	}
	s.Flush()
	close(events)
	<-done
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "lines/s")
}
