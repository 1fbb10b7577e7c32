package ingest

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/mirrord-exporter/mirrord-exporter/collector"
)

// TestEveryBadLineIsCountedAndTheNextCounts feeds each kind of bad line the
// issue lists, followed by a good one, through a sink: the bad line counts
// once under its reason, and the good line after it is still an event.
func TestEveryBadLineIsCountedAndTheNextCounts(t *testing.T) {
	const cri = "2026-08-17T10:00:00.000000000Z stdout "
	for name, tc := range map[string]struct {
		lines  []string
		reason collector.Reason
	}{
		"not json":                 {[]string{"thread 'main' panicked at src/main.rs:1:1"}, collector.ReasonNotJSON},
		"truncated json":           {[]string{`{"fields":{"message":"Session Start","session_id":"T`}, collector.ReasonInvalidJSON},
		"json array":               {[]string{`[{"fields":{"message":"Session Start","session_id":"A"}}]`}, collector.ReasonNotJSON},
		"json string":              {[]string{`"Session Start"`}, collector.ReasonNotJSON},
		"fields a string":          {[]string{`{"fields":"x","message":"Session Start","session_id":"A"}`}, collector.ReasonInvalidField},
		"fields an array":          {[]string{`{"fields":[{"message":"Session Start","session_id":"A"}]}`}, collector.ReasonInvalidField},
		"missing session id":       {[]string{`{"fields":{"message":"Session Start"}}`}, collector.ReasonMissingField},
		"session id wrong type":    {[]string{`{"fields":{"message":"Session End","session_id":[1]}}`}, collector.ReasonInvalidField},
		"port not a number":        {[]string{`{"fields":{"message":"Port Steal","session_id":"A","port":"http"}}`}, collector.ReasonInvalidField},
		"negative duration":        {[]string{`{"fields":{"message":"Session End","session_id":"A","session_duration":-3}}`}, collector.ReasonInvalidField},
		"NaN duration":             {[]string{`{"fields":{"message":"Session End","session_id":"A","session_duration":"NaN"}}`}, collector.ReasonInvalidField},
		"NUL bytes":                {[]string{"\x00\x00\x00\x00"}, collector.ReasonNotJSON},
		"NUL inside json":          {[]string{"{\"fields\":{\"message\":\"Session Start\",\"session_id\":\"\x00\"}}"}, collector.ReasonInvalidJSON},
		"docker line cut":          {[]string{`{"log":"{\"fields\":{\"message\":\"Session Start\"`}, ReasonInvalidWrapper},
		"longer than the limit":    {[]string{cri + "F " + strings.Repeat("x", 2000)}, ReasonTooLong},
		"partial never terminated": {[]string{cri + "P {\"fields\":", "2026-08-17T10:00:00.000000000Z stderr P more"}, ReasonUnterminatedPartial},
	} {
		t.Run(name, func(t *testing.T) {
			var logs bytes.Buffer
			now := time.Date(2026, 8, 17, 0, 0, 0, 0, time.UTC)
			p, _, events := newTestPipeline(t, &logs, &now)
			s := p.NewSink("-", "-")
			for _, l := range tc.lines {
				s.Line([]byte(l))
			}
			s.Line([]byte(`{"fields":{"message":"Session Start","session_id":"GOOD"}}`))
			s.Flush()
			if tc.reason == ReasonUnterminatedPartial {
				// Partials of other streams are only known to be lost at
				// the end of the input.
				s.Close()
			}
			if n := len(events); n != 1 {
				t.Fatalf("%d events after the bad line, want 1", n)
			}
			if ev := <-events; ev.SessionID != "GOOD" {
				t.Errorf("event of session %q, want GOOD", ev.SessionID)
			}
			if got := testutil.ToFloat64(p.malformed.WithLabelValues(string(tc.reason))); got < 1 {
				t.Errorf("malformed{reason=%q} = %v, want at least 1", tc.reason, got)
			}
			if got := sumCounter(t, p); got != float64(len(tc.lines)) {
				t.Errorf("%v malformed lines in all, want %d", got, len(tc.lines))
			}
			if !strings.Contains(logs.String(), "level=warn") {
				t.Errorf("bad line not logged at warn (first of its reason):\n%s", logs.String())
			}
		})
	}
}

func sumCounter(t *testing.T, p *Pipeline) float64 {
	t.Helper()
	sum := 0.0
	for _, r := range append(collector.DecodeReasons, ReasonTooLong, ReasonInvalidWrapper, ReasonUnterminatedPartial) {
		sum += testutil.ToFloat64(p.malformed.WithLabelValues(string(r)))
	}
	return sum
}

// TestBadLinesAreLoggedAtDebug: every bad line is logged at debug level,
// only the first of each reason per interval at warn.
func TestBadLinesAreLoggedAtDebug(t *testing.T) {
	var logs bytes.Buffer
	now := time.Date(2026, 8, 17, 0, 0, 0, 0, time.UTC)
	p, _, _ := newTestPipeline(t, &logs, &now)
	s := p.NewSink("-", "-")
	for i := range 10 {
		s.Line(fmt.Appendf(nil, "junk %d", i))
	}
	s.Flush()
	if n := strings.Count(logs.String(), "level=debug"); n != 10 {
		t.Errorf("%d debug lines, want 10", n)
	}
	if n := strings.Count(logs.String(), "level=warn"); n != 1 {
		t.Errorf("%d warn lines, want 1", n)
	}
}
