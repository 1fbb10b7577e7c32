package ingest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-kit/log"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"

	"github.com/mirrord-exporter/mirrord-exporter/decode"
	"github.com/mirrord-exporter/mirrord-exporter/internal/loggen"
	"github.com/mirrord-exporter/mirrord-exporter/unwrap"
)

// laneRun is what a sink made of lines: its self-metrics in the text
// format, its events and its log (JSON, one object a line), in order.
type laneRun struct {
	metrics string
	events  []decode.Event
	logs    string
}

// runBatches runs lines through one sink with the given lanes, flushing
// after each batch (batch sizes in turn, cycling), every batch spread over
// the lanes when lanes > 1, however small.
func runBatches(t testing.TB, format unwrap.Format, maxBytes, lanes int, lines [][]byte, batches []int) laneRun {
	t.Helper()
	labels, err := decode.NewLabelConfig([]string{"client_id", "port"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	events := make(chan decode.Event, 8) // small: lanes wait for the consumer
	fixed := time.Date(2026, 8, 17, 0, 0, 0, 0, time.UTC)
	var logs bytes.Buffer
	p, err := New(Config{
		Format: format, MaxLineBytes: maxBytes, Labels: labels, Events: events,
		Logger: log.NewJSONLogger(&logs), Registerer: reg,
		Now: func() time.Time { return fixed }, Lanes: lanes,
	})
	if err != nil {
		t.Fatal(err)
	}
	p.parallelMin = 1
	var got []decode.Event
	var wg sync.WaitGroup
	wg.Go(func() {
		for ev := range events {
			got = append(got, ev)
		}
	})
	s := p.NewSink("input", "file")
	for i, b := 0, 0; i < len(lines); b++ {
		n := min(batches[b%len(batches)], len(lines)-i)
		for _, l := range lines[i : i+n] {
			if len(l) > maxBytes {
				s.LineTooLong(len(l)) // as the reader reports it
			} else {
				s.Line(l)
			}
		}
		i += n
		s.Flush()
	}
	s.Close()
	close(events)
	wg.Wait()
	return laneRun{metricsText(t, reg), got, logs.String()}
}

// metricsText gathers reg in the text format.
func metricsText(t testing.TB, reg *prometheus.Registry) string {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	for _, mf := range mfs {
		if _, err := expfmt.MetricFamilyToText(&out, mf); err != nil {
			t.Fatal(err)
		}
	}
	return out.String()
}

// compareRuns fails unless two runs are the same.
func compareRuns(t testing.TB, got, want laneRun) {
	t.Helper()
	if got.metrics != want.metrics {
		t.Errorf("metrics differ; with lanes:\n%s\non one goroutine:\n%s", got.metrics, want.metrics)
	}
	if !reflect.DeepEqual(got.events, want.events) {
		first := 0
		for first < min(len(got.events), len(want.events)) && reflect.DeepEqual(got.events[first], want.events[first]) {
			first++
		}
		t.Errorf("%d events with lanes, %d on one goroutine; first difference at %d", len(got.events), len(want.events), first)
	}
	if got.logs != want.logs {
		t.Errorf("logs differ; with lanes:\n%s\non one goroutine:\n%s", got.logs, want.logs)
	}
}

// TestLanesMatchOneGoroutine runs generated logs, nasty and with records
// split by Docker and CRI (stderr lines between their parts), through a sink
// that spreads every batch over three lanes and one that keeps them on one
// goroutine: same counters, same events in the same order, same log lines.
// Random batch sizes put the cuts everywhere, inside split records too.
func TestLanesMatchOneGoroutine(t *testing.T) {
	for seed := int64(1); seed <= 3; seed++ {
		for w, forced := range map[loggen.Wrapper]unwrap.Format{loggen.Raw: unwrap.JSON, loggen.Docker: unwrap.Docker, loggen.CRI: unwrap.CRI} {
			for _, format := range []unwrap.Format{unwrap.Auto, forced} {
				for _, maxBytes := range []int{1 << 20, 30_000} {
					cfg := loggen.Config{Seed: seed, Sessions: 150, NoiseRatio: []float64{0.95, 0.6}[seed%2], BigLines: true, Nasty: true, Wrapper: w}
					t.Run(fmt.Sprintf("seed=%d/%v/%v/max=%d", seed, w, format, maxBytes), func(t *testing.T) {
						var buf bytes.Buffer
						if _, err := loggen.Generate(&buf, cfg); err != nil {
							t.Fatal(err)
						}
						lines := bytes.Split(bytes.TrimSuffix(buf.Bytes(), []byte("\n")), []byte("\n"))
						rng := rand.New(rand.NewPCG(uint64(seed), 7))
						batches := make([]int, 50)
						for i := range batches {
							batches[i] = 1 + rng.IntN(40)
						}
						want := runBatches(t, format, maxBytes, 1, lines, batches)
						got := runBatches(t, format, maxBytes, 3, lines, batches)
						compareRuns(t, got, want)
						if len(want.events) == 0 {
							t.Fatalf("no events; metrics:\n%s", want.metrics)
						}
					})
				}
			}
		}
	}
}

// TestRejectionsSayWhere: every unusable line of generated nasty logs,
// read in batches spread over lanes, is logged at the position of its line
// (for a record joined from parts, its last line): the line number and the
// byte offset of the same line in the input. For unwrapped lines the debug
// record is that line's start.
func TestRejectionsSayWhere(t *testing.T) {
	for _, w := range []loggen.Wrapper{loggen.Raw, loggen.CRI, loggen.Docker} {
		t.Run(w.String(), func(t *testing.T) {
			var buf bytes.Buffer
			if _, err := loggen.Generate(&buf, loggen.Config{Seed: 5, Sessions: 100, NoiseRatio: 0.6, BigLines: true, Nasty: true, Wrapper: w}); err != nil {
				t.Fatal(err)
			}
			lines := bytes.Split(bytes.TrimSuffix(buf.Bytes(), []byte("\n")), []byte("\n"))
			starts := make([]int, len(lines)) // byte offset of each line
			for i := 1; i < len(lines); i++ {
				starts[i] = starts[i-1] + len(lines[i-1]) + 1
			}
			rng := rand.New(rand.NewPCG(5, 7))
			batches := make([]int, 50)
			for i := range batches {
				batches[i] = 1 + rng.IntN(400)
			}
			got := runBatches(t, unwrap.Auto, 30_000, 3, lines, batches)
			reasons := map[string]int{}
			for entry := range strings.Lines(got.logs) {
				var e struct {
					Level, Reason, Record string
					Line, Offset          *int
				}
				if err := json.Unmarshal([]byte(entry), &e); err != nil {
					t.Fatalf("%v: %s", err, entry)
				}
				if e.Level != "debug" || e.Reason == "" {
					continue
				}
				reasons[e.Reason]++
				if e.Reason == string(ReasonUnterminatedPartial) {
					if e.Line != nil {
						t.Errorf("position given for an unterminated partial: %s", entry)
					}
					continue
				}
				if e.Line == nil || e.Offset == nil || *e.Line < 1 || *e.Line > len(lines) {
					t.Fatalf("no or a wrong position: %s", entry)
				}
				line := lines[*e.Line-1]
				if *e.Offset != starts[*e.Line-1] {
					t.Fatalf("line %d starts at offset %d, logged at %d: %s", *e.Line, starts[*e.Line-1], *e.Offset, entry)
				}
				if e.Reason == string(ReasonTooLong) {
					// Docker and CRI records joined from parts may be
					// too long when each line is not.
					if w == loggen.Raw && len(line) <= 30_000 {
						t.Errorf("line %d of %d bytes, logged as too long", *e.Line, len(line))
					}
					continue
				}
				if w == loggen.Raw || e.Reason == string(ReasonInvalidWrapper) {
					if record := strings.TrimSuffix(e.Record, "…"); !bytes.HasPrefix(line, []byte(record)) {
						t.Errorf("line %d is %.80q, logged as %.80q", *e.Line, line, e.Record)
					}
				}
			}
			t.Logf("rejections by reason: %v", reasons)
			if len(reasons) < 3 {
				t.Errorf("rejections of only %d reasons: %v", len(reasons), reasons)
			}
		})
	}
}

// TestLanesRedoARunThatStartsInsideARecord: the cut falls after a stdout
// line that ends its record while a stderr record is still split across it,
// so the second lane starts in the wrong state and its run must go again.
func TestLanesRedoARunThatStartsInsideARecord(t *testing.T) {
	const ts = "2026-08-17T10:00:00.000000000Z "
	lines := [][]byte{
		[]byte(ts + `stderr P {"fields":{"message":"Session Start",`),
		[]byte(ts + `stdout F {"fields":{"message":"Session Start","session_id":"A"}}`),
		[]byte(ts + `stderr F "session_id":"B"}}`),
		[]byte(ts + `stdout F {"fields":{"message":"Session End","session_id":"A"}}`),
	}
	want := runBatches(t, unwrap.CRI, 1<<20, 1, lines, []int{4})
	got := runBatches(t, unwrap.CRI, 1<<20, 2, lines, []int{4})
	compareRuns(t, got, want)
	var ids []string
	for _, ev := range got.events {
		ids = append(ids, ev.SessionID)
	}
	if strings.Join(ids, ",") != "A,B,A" {
		t.Errorf("events of sessions %v, want A, B, A", ids)
	}
}

// TestLanesCountCutValuesOnce: a run whose events have values to cut, run
// again on the main lane because it did not start idle, counts each cut
// once, as one goroutine does.
func TestLanesCountCutValuesOnce(t *testing.T) {
	const ts = "2026-08-17T10:00:00.000000000Z "
	long := strings.Repeat("u", 300)
	lines := [][]byte{
		[]byte(ts + `stderr P {"fields":{"message":"Session Start",`),
		[]byte(ts + `stdout F {"fields":{"message":"Session Start","session_id":"A","client_user":"` + long + `"}}`),
		[]byte(ts + `stderr F "session_id":"B","client_user":"` + long + `"}}`),
		[]byte(ts + `stdout F {"fields":{"message":"Session End","session_id":"A","client_user":"` + long + `"}}`),
	}
	want := runBatches(t, unwrap.CRI, 1<<20, 1, lines, []int{4})
	got := runBatches(t, unwrap.CRI, 1<<20, 2, lines, []int{4})
	compareRuns(t, got, want)
	if !strings.Contains(want.metrics, `mirrord_exporter_label_values_truncated_total{field="client_user"} 3`) {
		t.Errorf("cut values not counted once each:\n%s", want.metrics)
	}
}

// TestLanesCarryARecordSplitAtTheEndOfABatch: the last run of a batch ends
// inside a split record, which the next batch completes: the lane that ran
// it hands its state on.
func TestLanesCarryARecordSplitAtTheEndOfABatch(t *testing.T) {
	const ts = "2026-08-17T10:00:00.000000000Z "
	lines := [][]byte{
		[]byte(ts + `stdout F {"fields":{"message":"Session Start","session_id":"A"}}`),
		[]byte(ts + `stdout F {"fields":{"message":"Port Steal","session_id":"A","port":80}}`),
		[]byte(ts + `stdout F {"fields":{"message":"Port Steal","session_id":"A","port":81}}`),
		[]byte(ts + `stdout P {"fields":{"message":"Session Start",`),
		[]byte(ts + `stdout F "session_id":"B"}}`),
	}
	want := runBatches(t, unwrap.CRI, 1<<20, 1, lines, []int{4, 1})
	got := runBatches(t, unwrap.CRI, 1<<20, 2, lines, []int{4, 1})
	compareRuns(t, got, want)
	if n := len(got.events); n != 4 {
		t.Errorf("%d events, want 4:\n%s", n, got.metrics)
	}
}

// FuzzLanes checks lanes against one goroutine on any input, cut into
// batches of the sizes the fuzzer picks.
func FuzzLanes(f *testing.F) {
	const cri = "2026-08-17T10:00:00.000000000Z "
	for _, seed := range []string{
		cri + "stderr P {\"fields\":\n" + cri + "stdout F {\"fields\":{\"message\":\"Session Start\",\"session_id\":\"A\"}}\n" + cri + "stderr F \"x\"}\n" + cri + "stdout F {}",
		`{"log":"{\"fields\":{\"message\":\"Session Start\",","stream":"stdout","time":"2026-08-17T10:00:00Z"}` + "\n" +
			`{"log":"\"session_id\":\"S1\"}}\n","stream":"stdout","time":"2026-08-17T10:00:00Z"}` + "\n" +
			`{"log":"x\n","stream":"stderr","time":"2026-08-17T10:00:00Z"}`,
		`{"fields":{"message":"Port Steal","session_id":"A","port":80}}` + "\n" + "junk\n\n" + `{"fields":{"message":"Session End","session_id":"A"}}`,
	} {
		f.Add(uint8(unwrap.Auto), uint8(3), []byte(seed))
	}
	f.Fuzz(func(t *testing.T, format, batch uint8, data []byte) {
		lines := bytes.Split(data, []byte("\n"))
		batches := []int{1 + int(batch%16), 1 + int(batch/16)}
		want := runBatches(t, unwrap.Format(format%4), 256, 1, lines, batches)
		got := runBatches(t, unwrap.Format(format%4), 256, 3, lines, batches)
		compareRuns(t, got, want)
	})
}

// TestLineFlushedAloneAllocatesNothing: a non-event line flushed on its own,
// as Kubernetes streams and followed files deliver them, allocates nothing.
func TestLineFlushedAloneAllocatesNothing(t *testing.T) {
	var logs bytes.Buffer
	now := time.Date(2026, 8, 17, 0, 0, 0, 0, time.UTC)
	p, _, _ := newTestPipeline(t, &logs, &now)
	s := p.NewSink("-", "-")
	line := []byte(`{"timestamp":"2026-08-17T18:15:08.583869Z","level":"DEBUG","fields":{"message":"polling pods","count":3},"target":"kube_runtime::controller"}`)
	if n := testing.AllocsPerRun(1000, func() {
		s.Line(line)
		s.Flush()
	}); n != 0 {
		t.Errorf("%v allocations per line, want 0", n)
	}
}
