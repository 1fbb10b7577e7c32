package ingest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/mirrord-exporter/mirrord-exporter/decode"
	"github.com/mirrord-exporter/mirrord-exporter/internal/loggen"
	"github.com/mirrord-exporter/mirrord-exporter/unwrap"
)

// TestEveryBadLineIsCountedAndTheNextCounts feeds each kind of bad line the
// issue lists, followed by a good one, through a sink: the bad line counts
// once under its reason, and the good line after it is still an event.
func TestEveryBadLineIsCountedAndTheNextCounts(t *testing.T) {
	const cri = "2026-08-17T10:00:00.000000000Z stdout "
	for name, tc := range map[string]struct {
		lines  []string
		reason Reason
	}{
		"not json":                 {[]string{"thread 'main' panicked at src/main.rs:1:1"}, Reason(decode.ReasonNotJSON)},
		"truncated json":           {[]string{`{"fields":{"message":"Session Start","session_id":"T`}, Reason(decode.ReasonInvalidJSON)},
		"json array":               {[]string{`[{"fields":{"message":"Session Start","session_id":"A"}}]`}, Reason(decode.ReasonNotJSON)},
		"json string":              {[]string{`"Session Start"`}, Reason(decode.ReasonNotJSON)},
		"fields a string":          {[]string{`{"fields":"x","message":"Session Start","session_id":"A"}`}, Reason(decode.ReasonInvalidField)},
		"fields an array":          {[]string{`{"fields":[{"message":"Session Start","session_id":"A"}]}`}, Reason(decode.ReasonInvalidField)},
		"missing session id":       {[]string{`{"fields":{"message":"Session Start"}}`}, Reason(decode.ReasonMissingField)},
		"session id wrong type":    {[]string{`{"fields":{"message":"Session End","session_id":[1]}}`}, Reason(decode.ReasonInvalidField)},
		"port not a number":        {[]string{`{"fields":{"message":"Port Steal","session_id":"A","port":"http"}}`}, Reason(decode.ReasonInvalidField)},
		"negative duration":        {[]string{`{"fields":{"message":"Session End","session_id":"A","session_duration":-3}}`}, Reason(decode.ReasonInvalidField)},
		"NaN duration":             {[]string{`{"fields":{"message":"Session End","session_id":"A","session_duration":"NaN"}}`}, Reason(decode.ReasonInvalidField)},
		"NUL bytes":                {[]string{"\x00\x00\x00\x00"}, Reason(decode.ReasonNotJSON)},
		"NUL inside json":          {[]string{"{\"fields\":{\"message\":\"Session Start\",\"session_id\":\"\x00\"}}"}, Reason(decode.ReasonInvalidJSON)},
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
	for _, r := range Reasons() {
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

// TestMalformedReasonLabels pins the values of the reason label, the
// decoder's and the wrapper's, which dashboards and alerts match, and checks
// that the counter shows each at zero from the start.
func TestMalformedReasonLabels(t *testing.T) {
	want := []string{"not_json", "plain_text", "invalid_json", "missing_field", "invalid_field", "too_long", "invalid_wrapper", "unterminated_partial"}
	var got []string
	for _, r := range Reasons() {
		got = append(got, string(r))
	}
	if !slices.Equal(got, want) {
		t.Errorf("Reasons() = %q, want %q", got, want)
	}
	now := time.Date(2026, 8, 17, 0, 0, 0, 0, time.UTC)
	_, reg, _ := newTestPipeline(t, new(bytes.Buffer), &now)
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var shown []string
	for _, f := range families {
		if f.GetName() != "mirrord_exporter_malformed_lines_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			if v := m.GetCounter().GetValue(); v != 0 {
				t.Errorf("%v at start: %v", m.GetLabel(), v)
			}
			shown = append(shown, m.GetLabel()[0].GetValue())
		}
	}
	slices.Sort(shown)
	slices.Sort(want)
	if !slices.Equal(shown, want) {
		t.Errorf("reason labels shown at start: %q, want %q", shown, want)
	}
}

// TestWarningsSayWhyAndWhereNotWhat: a warning about an unusable record
// names the reason, the field at fault, the stream and the line's position,
// and holds nothing of the record, whose values (users, names, hosts,
// session ids) reach the exporter's log only at debug level.
func TestWarningsSayWhyAndWhereNotWhat(t *testing.T) {
	const canary = "canary.7f3a@corp.example"
	var logs bytes.Buffer
	now := time.Date(2026, 8, 17, 0, 0, 0, 0, time.UTC)
	p, _, _ := newTestPipeline(t, &logs, &now)
	s := p.NewSink("/var/log/op*.log", "/var/log/op.log")
	lines := []string{
		`{"fields":{"message":"Session Start","client_user":"` + canary + `","client_name":"` + canary + `"}}`,
		`{"fields":{"message":"Port Steal","session_id":"` + canary + `","port":"` + canary + `","client_user":"` + canary + `"}}`,
	}
	for _, l := range lines {
		s.Line([]byte(l))
	}
	s.Flush()
	var warnings, debug []string
	for l := range strings.Lines(logs.String()) {
		switch {
		case strings.HasPrefix(l, "level=warn "):
			warnings = append(warnings, l)
		case strings.HasPrefix(l, "level=debug "):
			debug = append(debug, l)
		}
	}
	want := []string{
		`level=warn msg="Skipping unusable log line; every one is logged at debug level, with its content" reason=missing_field field=session_id file=/var/log/op.log line=1 offset=0 unreported_since_last_warning=0` + "\n",
		`level=warn msg="Skipping unusable log line; every one is logged at debug level, with its content" reason=invalid_field field=port file=/var/log/op.log line=2 offset=` + fmt.Sprint(len(lines[0])+1) + ` unreported_since_last_warning=0` + "\n",
	}
	if !slices.Equal(warnings, want) {
		t.Errorf("warnings:\n%s\nwant:\n%s", strings.Join(warnings, ""), strings.Join(want, ""))
	}
	if len(debug) != 2 || !strings.Contains(debug[0], canary) || !strings.Contains(debug[1], canary) {
		t.Errorf("the records are not logged at debug:\n%s", strings.Join(debug, ""))
	}
}

// TestWarningsHoldOnlyKnownKeys: on a generated log with every kind of bad
// line, every warning holds only the keys that say why and where, with
// values from the fixed lists of reasons and fields.
func TestWarningsHoldOnlyKnownKeys(t *testing.T) {
	for _, w := range []loggen.Wrapper{loggen.Raw, loggen.Docker, loggen.CRI} {
		var buf bytes.Buffer
		if _, err := loggen.Generate(&buf, loggen.Config{Seed: 3, Sessions: 100, NoiseRatio: 0.6, BigLines: true, Nasty: true, Wrapper: w}); err != nil {
			t.Fatal(err)
		}
		lines := bytes.Split(bytes.TrimSuffix(buf.Bytes(), []byte("\n")), []byte("\n"))
		got := runBatches(t, unwrap.Auto, 30_000, 1, lines, []int{100})
		warned := 0
		for entry := range strings.Lines(got.logs) {
			var e map[string]any
			if err := json.Unmarshal([]byte(entry), &e); err != nil {
				t.Fatal(err)
			}
			if e["level"] != "warn" {
				continue
			}
			warned++
			for k, v := range e {
				switch k {
				case "level", "msg", "file", "line", "offset", "unreported_since_last_warning":
				case "reason":
					if !slices.Contains(Reasons(), Reason(v.(string))) {
						t.Errorf("reason %q", v)
					}
				case "field":
					if !slices.Contains([]string{"session_id", "port", "session_duration", "scale_down", "active_users", "fields"}, v.(string)) {
						t.Errorf("field %q", v)
					}
				default:
					t.Errorf("%v: warning with key %q: %s", w, k, entry)
				}
			}
		}
		if warned < 4 {
			t.Errorf("%v: %d warnings, want one per reason found", w, warned)
		}
	}
}
