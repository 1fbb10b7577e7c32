package ingest

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/go-kit/log"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/mirrord-exporter/mirrord-exporter/collector"
	"github.com/mirrord-exporter/mirrord-exporter/decode"
	"github.com/mirrord-exporter/mirrord-exporter/unwrap"
)

// fuzzMaxSeries is a tiny cap, so that the fuzzer reaches the overflow path.
const fuzzMaxSeries = 3

// maxOverflowSeries is how many overflow series a family can have: one per
// value of its fixed labels (response_status_class has seven: "", 1xx to
// 5xx and other).
func maxOverflowSeries(family string) int {
	if family == "mirrord_messages_processed_total" {
		return 7
	}
	return 2
}

// FuzzLinePath runs arbitrary bytes through the whole line path: split into
// lines, unwrapped, decoded and applied to a Collector with a series cap. It
// must never panic, and the counters must show what a plain reading of the
// same bytes finds (lineRef): every line and byte counted, every record, and
// every event, by event, delivered and applied; no active gauge below zero
// and no family past its cap (plus its overflow series).
func FuzzLinePath(f *testing.F) {
	const cri = "2026-08-17T10:00:00.000000000Z stdout "
	for _, seed := range []string{
		`{"timestamp":"2026-08-17T10:00:00Z","fields":{"message":"Session Start","session_id":"S1","client_user":"alice","client_name":"a","target":"deployment/api/container/main"}}`,
		cri + `P {"fields":{"message":"Port Steal",` + "\n" + cri + `F "session_id":"S1","port":80,"http_filter":"x"}}`,
		`{"log":"{\"fields\":{\"message\":\"Session End\",\"session_id\":\"S1\",\"session_duration\":3}}\n","stream":"stdout","time":"2026-08-17T10:00:01Z"}`,
		`{"fields":{"message":"Session Start","session_id":"A","client_name":"1"}}` + "\n" +
			`{"fields":{"message":"Session Start","session_id":"B","client_name":"2"}}` + "\n" +
			`{"fields":{"message":"Session Start","session_id":"C","client_name":"3"}}` + "\n" +
			`{"fields":{"message":"Session Start","session_id":"D","client_name":"4"}}` + "\n" +
			`{"fields":{"message":"Port Mirror","session_id":"D","port":1,"client_name":"4"}}` + "\n" +
			`{"fields":{"message":"Session End","session_id":"D","client_name":"4"}}`,
		`{"fields":{"message":"Port Release","session_id":"X","port":"80"}}` + "\n" + `{"fields":{"message":"Session End","session_id":"X"}}`,
		"2026-08-17T18:15:08.583869Z  INFO a::b: Port Steal session_id=1 port=80 client_user=\"a\\u{e9}\"",
		`{"fields":"x","message":"Session Start","session_id":"A"}` + "\n\x00\x00\n[1,2]\n" + `{"fields":{"message":"Session End","session_id":"A","session_duration":"NaN"}}`,
		cri + "P " + strings.Repeat("x", 300) + "\n" + cri + "P " + strings.Repeat("y", 300),
	} {
		for _, format := range []uint8{uint8(unwrap.Auto), uint8(unwrap.CRI)} {
			f.Add(format, []byte(seed))
		}
	}
	f.Fuzz(func(t *testing.T, format uint8, data []byte) {
		labels, err := decode.NewLabelConfig([]string{"client_hostname"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		reg := prometheus.NewRegistry()
		now := time.Date(2026, 8, 17, 0, 0, 0, 0, time.UTC)
		clock := func() time.Time { return now }
		c, err := collector.New(collector.Config{
			Labels: labels, SessionMaxAge: time.Hour, Registerer: reg, Now: clock,
			Limits: collector.Limits{MaxSeries: fuzzMaxSeries, SeriesTTL: time.Minute},
		})
		if err != nil {
			t.Fatal(err)
		}
		events := make(chan decode.Event, 1) // a line yields at most one event
		p, err := New(Config{
			Format: unwrap.Format(format % 4), MaxLineBytes: 512, Labels: labels, Events: events,
			Logger: log.NewNopLogger(), Registerer: reg, Now: clock,
		})
		if err != nil {
			t.Fatal(err)
		}
		s := p.NewSink("fuzz", "fuzz")
		lines, applied := 0, 0
		for line := range bytes.SplitSeq(data, []byte("\n")) {
			s.Line(line)
			s.Flush()
			lines++
			select {
			case ev := <-events:
				c.Apply(&ev)
				applied++
			default:
			}
			if lines%4 == 0 {
				// Expiry interleaved with events, as the tick does.
				now = now.Add(time.Minute)
				c.Expire(now)
				c.ExpireSeries(now)
			}
		}
		s.Close()
		ref := lineRef(unwrap.Format(format%4), labels, data)
		if applied != ref.total() {
			t.Fatalf("%d events applied, %d in the bytes", applied, ref.total())
		}
		checkCounters(t, reg, ref)
	})
}

// refCounts is what the bytes hold, found by lineRef.
type refCounts struct {
	lines, bytes, records int
	events                map[string]int // by event label
}

func (r refCounts) total() int {
	n := 0
	for _, v := range r.events {
		n += v
	}
	return n
}

// lineRef reads data the plain way, independently of the Sink: lines are
// counted from the newlines, and every line goes through one unwrap.Stream
// (without the Docker fast path that skips records) and one Decoder, with no
// batching, lanes or counters to get wrong.
func lineRef(format unwrap.Format, labels decode.LabelConfig, data []byte) refCounts {
	newlines := bytes.Count(data, []byte("\n"))
	r := refCounts{
		lines:  newlines + 1,  // the last line need not end with one
		bytes:  len(data) + 1, // each line counts its newline, the last one's too
		events: map[string]int{},
	}
	st := unwrap.NewStream(format, 512)
	dec := decode.New(labels)
	var ev decode.Event
	rest := data
	for range r.lines {
		line, after, _ := bytes.Cut(rest, []byte("\n"))
		rest = after
		rec, status := st.Push(line)
		if status != unwrap.Record {
			continue
		}
		r.records++
		if ok, _ := dec.Decode(rec, &ev); ok {
			r.events[ev.Kind.String()]++
		}
	}
	return r
}

func checkCounters(t *testing.T, reg *prometheus.Registry, ref refCounts) {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	sum := map[string]float64{}
	series := map[string]int{}
	events := map[string]float64{}
	for _, mf := range families {
		for _, m := range mf.GetMetric() {
			v := m.GetCounter().GetValue() + m.GetGauge().GetValue()
			sum[mf.GetName()] += v
			series[mf.GetName()]++
			if mf.GetName() == "mirrord_exporter_events_total" {
				events[m.GetLabel()[0].GetValue()] = v
			}
			if strings.HasSuffix(mf.GetName(), "_active") && v < 0 {
				t.Fatalf("%s%v = %v", mf.GetName(), labelPairs(m), v)
			}
			if mf.GetName() == "mirrord_exporter_series" && v > float64(fuzzMaxSeries+maxOverflowSeries(m.GetLabel()[0].GetValue())) {
				t.Fatalf("%v series of %v, cap %d", v, labelPairs(m), fuzzMaxSeries)
			}
		}
	}
	if got := sum["mirrord_exporter_log_lines_total"]; got != float64(ref.lines) {
		t.Fatalf("lines counted %v, %d in the bytes", got, ref.lines)
	}
	if got := sum["mirrord_exporter_log_bytes_total"]; got != float64(ref.bytes) {
		t.Fatalf("bytes counted %v, %d in the bytes", got, ref.bytes)
	}
	if got := sum["mirrord_exporter_log_records_total"]; got != float64(ref.records) {
		t.Fatalf("records counted %v, %d in the bytes", got, ref.records)
	}
	for event, got := range events {
		if want := ref.events[event]; got != float64(want) {
			t.Fatalf("events{event=%q} counted %v, %d in the bytes", event, got, want)
		}
	}
	for event, want := range ref.events {
		if _, ok := events[event]; !ok {
			t.Fatalf("events{event=%q} missing, %d in the bytes", event, want)
		}
	}
	for name, n := range series {
		if strings.HasPrefix(name, "mirrord_") && !strings.HasPrefix(name, "mirrord_exporter_") && n > fuzzMaxSeries+maxOverflowSeries(name) {
			t.Fatalf("%d series of %s, cap %d", n, name, fuzzMaxSeries)
		}
	}
}

func labelPairs(m *dto.Metric) string {
	var b strings.Builder
	for _, l := range m.GetLabel() {
		b.WriteString(l.GetName() + "=" + l.GetValue() + " ")
	}
	return b.String()
}
