package ingest

import (
	"bytes"
	"fmt"
	"io"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/go-kit/log"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/mirrord-exporter/mirrord-exporter/decode"
	"github.com/mirrord-exporter/mirrord-exporter/internal/loggen"
	"github.com/mirrord-exporter/mirrord-exporter/unwrap"
)

// TestSkipRecordChangesNoCount runs the same generated Docker logs through
// a sink that judges records still escaped (as every sink does) and one that
// unescapes and decodes them all: the counters and the events must be the
// same, and the first must have skipped most lines.
func TestSkipRecordChangesNoCount(t *testing.T) {
	for seed := int64(1); seed <= 4; seed++ {
		for _, format := range []unwrap.Format{unwrap.Auto, unwrap.Docker} {
			for _, maxBytes := range []int{1 << 20, 30_000} {
				cfg := loggen.Config{Seed: seed, Sessions: 40, NoiseRatio: []float64{0.95, 0.6}[seed%2], BigLines: seed >= 2, Nasty: seed != 1, Wrapper: loggen.Docker}
				t.Run(fmt.Sprintf("seed=%d/%v/max=%d", seed, format, maxBytes), func(t *testing.T) {
					var log bytes.Buffer
					if _, err := loggen.Generate(&log, cfg); err != nil {
						t.Fatal(err)
					}
					lines := bytes.Split(bytes.TrimSuffix(log.Bytes(), []byte("\n")), []byte("\n"))
					var skipped int
					judge := func(e []byte) bool {
						no := decode.NoEventInSimplyEscaped(e)
						if no {
							skipped++
						}
						return no
					}
					filtered, fEvents := runLines(t, format, maxBytes, lines, judge)
					plain, pEvents := runLines(t, format, maxBytes, lines, nil)
					if filtered != plain {
						t.Errorf("metrics differ; with the filter:\n%s\nwithout:\n%s", filtered, plain)
					}
					if !reflect.DeepEqual(fEvents, pEvents) {
						t.Errorf("%d events with the filter, %d without, or they differ", len(fEvents), len(pEvents))
					}
					if skipped < len(lines)/3 {
						t.Errorf("only %d of %d lines skipped", skipped, len(lines))
					}
					if len(pEvents) == 0 || !strings.Contains(plain, `wrapper="docker"} `) {
						t.Errorf("%d events, metrics:\n%s", len(pEvents), plain)
					}
				})
			}
		}
	}
}

// runLines runs lines through one sink whose stream has the given
// SkipRecord, and returns the pipeline's self-metrics in the text format
// and the events in order.
func runLines(t *testing.T, format unwrap.Format, maxBytes int, lines [][]byte, skip func([]byte) bool) (string, []decode.Event) {
	t.Helper()
	labels, err := decode.NewLabelConfig([]string{"client_id", "port"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	events := make(chan decode.Event, 64)
	fixed := time.Date(2026, 8, 17, 0, 0, 0, 0, time.UTC)
	p, err := New(Config{
		Format: format, MaxLineBytes: maxBytes, Labels: labels, Events: events,
		Logger: log.NewLogfmtLogger(io.Discard), Registerer: reg,
		Now:   func() time.Time { return fixed },
		Lanes: 1, // the main lane's stream is the one given skip
	})
	if err != nil {
		t.Fatal(err)
	}
	var got []decode.Event
	done := make(chan struct{})
	go func() {
		for ev := range events {
			got = append(got, ev)
		}
		close(done)
	}()
	s := p.NewSink("input", "file").(*sink)
	s.main.stream.SkipRecord = skip
	for i, l := range lines {
		s.Line(l)
		if i%100 == 0 {
			s.Flush()
		}
	}
	s.Close()
	close(events)
	<-done
	return metricsText(t, reg), got
}
