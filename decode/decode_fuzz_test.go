package decode

import (
	"bytes"
	"reflect"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzDecode: no record makes the decoder panic, every event it accepts has
// one valid UTF-8 value of at most MaxLabelValueBytes per configured label
// (and such a session id), and names only its value fields as cut,
// the fast path never turns away a record that the full decode accepts (keys
// written with escapes, which the operator never writes, aside), and the
// decoder that saw every earlier input (its label strings and tuple tables
// filled) decodes each record as a fresh one does.
func FuzzDecode(f *testing.F) {
	for _, seed := range []string{
		`{"timestamp":"2026-08-17T18:15:08.583869Z","level":"INFO","fields":{"message":"Session Start","client_user":"alice","session_id":"5EF7"},"target":"operator_session::controller"}`,
		`{"message":"Port Stolen","session_id":"B","port":"8080","http_filter":"path=/api","target":"deployment/app/container/main"}`,
		`{"fields":{"message":"Session End","session_id":"C","session_duration":"12.5","client_user":"j\u00f6rg \ud83d\ude00"}}`,
		`{"fields":{"message":"Copy Target","target":"pod/x","scale_down":true}}`,
		`{"fields":{"message":"Message Processing","event_type":"http","response_status_code":"503"}}`,
		"2026-08-17T18:15:08.583869Z  INFO a::b: Port Steal session_id=1 port=80 client_user=\"a\\u{e9}\"",
		"\x1b[2m2026-08-17T18:15:08Z\x1b[0m INFO x: Session End session_id=5",
		`{"fields":{"message":"Session Start","session_id":[{"a":[1,2,{"b":null}]}]}}`,
	} {
		f.Add([]byte(seed))
	}
	// Values long enough to be cut.
	long := strings.Repeat("é", MaxLabelValueBytes/2)
	f.Add([]byte(`{"fields":{"message":"Port Steal","port":1,"session_id":"` + long + `x","client_user":"` + long + `","target":"pod/` + long + `/container/c"}}`))
	labels, err := NewLabelConfig([]string{"client_id", "port"}, nil)
	if err != nil {
		f.Fatal(err)
	}
	d := New(labels)
	f.Fuzz(func(t *testing.T, rec []byte) {
		var ev Event
		trimmed := bytes.TrimSpace(rec)
		if hasEventMessage(rec) != hasEventMessageRef(rec) {
			t.Fatalf("fast path and its reference disagree on %q", rec)
		}
		if len(trimmed) > 1 && trimmed[0] == '{' && trimmed[len(trimmed)-1] == '}' &&
			bytes.Contains(trimmed, messageKey) && !hasEventMessage(trimmed) {
			if ok, _ := d.decodeCandidate(trimmed, &ev); ok {
				t.Fatalf("fast path rejected an event the full decode accepts: %q", rec)
			}
		}
		ok, reason := d.Decode(rec, &ev)
		var fresh Event
		freshOK, freshReason := New(labels).Decode(rec, &fresh)
		if ok != freshOK || reason != freshReason || (ok && !reflect.DeepEqual(ev, fresh)) {
			t.Fatalf("%q: decoded as %v %q %+v, by a fresh decoder as %v %q %+v", rec, ok, reason, ev, freshOK, freshReason, fresh)
		}
		if ok && reason != ReasonNone {
			t.Fatalf("accepted with reason %q", reason)
		}
		if !ok || !ev.Kind.Functional() {
			return
		}
		if len(ev.Labels) != len(labels.names) {
			t.Fatalf("%d label values for %d labels", len(ev.Labels), len(labels.names))
		}
		for _, v := range append([]string{ev.SessionID}, ev.Labels...) {
			if !utf8.ValidString(v) {
				t.Fatalf("label value %q is not valid UTF-8", v)
			}
			if len(v) > MaxLabelValueBytes {
				t.Fatalf("label value of %d bytes, max %d", len(v), MaxLabelValueBytes)
			}
		}
		for _, field := range ev.Cut {
			if !slices.Contains(labels.ValueFields(), field) {
				t.Fatalf("Cut names %q, not one of %q", field, labels.ValueFields())
			}
		}
	})
}
