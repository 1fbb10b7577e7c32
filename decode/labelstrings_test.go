package decode

import (
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
	"unsafe"
)

func TestLabelStringsReuseValidValues(t *testing.T) {
	var ls labelStrings
	a, _ := ls.get([]byte("alice@corp.example"))
	b, cut := ls.get([]byte("alice@corp.example"))
	if a != "alice@corp.example" || unsafe.StringData(a) != unsafe.StringData(b) || cut {
		t.Errorf("a repeated value was not handed out again: %q %q", a, b)
	}
	// Values labelValue changes are converted each time and never found
	// by their raw bytes.
	for _, raw := range [][]byte{[]byte("bad\xffbyte"), []byte(strings.Repeat("x", MaxLabelValueBytes+10))} {
		for range 2 {
			got, gotCut := ls.get(raw)
			if want, wantCut := labelValue(raw); got != want || gotCut != wantCut {
				t.Errorf("get(%.20q) = %.20q %v, want %.20q %v", raw, got, gotCut, want, wantCut)
			}
		}
	}
	if len(ls.m) != 1 {
		t.Errorf("%d strings kept, want only the valid one", len(ls.m))
	}
}

func TestLabelStringsBounded(t *testing.T) {
	var ls labelStrings
	for i := range 3 * maxLabelStrings {
		ls.get([]byte(strings.Repeat("u", 1+i%300) + string(rune('a'+i%26)) + string(rune(i))))
		if len(ls.m) > maxLabelStrings {
			t.Fatalf("%d strings kept, more than %d", len(ls.m), maxLabelStrings)
		}
	}
}

// TestLabelTuplesShareRepeatedValues: the same label values come back in the
// slice handed out before, never in the caller's scratch; any values come
// back equal, however many share a slot of the table.
func TestLabelTuplesShareRepeatedValues(t *testing.T) {
	var lt labelTuples
	scratch := []string{"alice", "shop"}
	a := lt.get(scratch)
	scratch[0] = "bob"
	b := lt.get(scratch)
	if a[0] != "alice" || b[0] != "bob" || &a[0] == &scratch[0] || &b[0] == &scratch[0] {
		t.Fatalf("got %q and %q: the caller's scratch was kept", a, b)
	}
	if again := lt.get([]string{"alice", "shop"}); &again[0] != &a[0] {
		t.Error("repeated values were handed out in a new slice")
	}
	for i := range 3 * labelTupleSlots {
		v := []string{strconv.Itoa(i % (2 * labelTupleSlots)), "t"}
		if got := lt.get(v); !slices.Equal(got, v) {
			t.Fatalf("get(%q) = %q", v, got)
		}
	}
	if len(lt.slots) != labelTupleSlots {
		t.Errorf("%d slots, want %d", len(lt.slots), labelTupleSlots)
	}
}

func TestLabelValueTruncation(t *testing.T) {
	long := strings.Repeat("é", MaxLabelValueBytes) // 2 bytes each
	// hashOf is the cut value's suffix for the whole value v.
	hashOf := func(v string) string {
		sum := sha256.Sum256([]byte(v))
		return "…" + hex.EncodeToString(sum[:4])
	}
	for name, tc := range map[string]struct {
		in, want string
		cut      bool
	}{
		"short":         {"alice", "alice", false},
		"exact":         {strings.Repeat("a", MaxLabelValueBytes), strings.Repeat("a", MaxLabelValueBytes), false},
		"one over":      {strings.Repeat("a", MaxLabelValueBytes+1), strings.Repeat("a", 245) + hashOf(strings.Repeat("a", MaxLabelValueBytes+1)), true},
		"ascii":         {strings.Repeat("a", 10*MaxLabelValueBytes), strings.Repeat("a", 245) + hashOf(strings.Repeat("a", 10*MaxLabelValueBytes)), true},
		"rune boundary": {"x" + long, "x" + long[:244] + hashOf("x"+long), true},
		// The hash is of the value made valid: what a valid value spelling
		// the same text would give.
		"invalid": {strings.Repeat("\xffa", 1000), strings.Repeat("\uFFFDa", 61) + hashOf(strings.Repeat("\uFFFDa", 1000)), true},
		// Valid once replaced, and longer than the limit only then.
		"invalid grows": {strings.Repeat("\xffa", 100), strings.Repeat("\uFFFDa", 61) + hashOf(strings.Repeat("\uFFFDa", 100)), true},
	} {
		t.Run(name, func(t *testing.T) {
			got, cut := labelValue([]byte(tc.in))
			if got != tc.want || cut != tc.cut {
				t.Errorf("labelValue = %q (%d bytes) %v, want %q %v", got, len(got), cut, tc.want, tc.cut)
			}
			if !utf8.ValidString(got) || len(got) > MaxLabelValueBytes {
				t.Errorf("invalid or too long: %d bytes", len(got))
			}
		})
	}
	// Through the decoder, for every configured label.
	d := New(mustLabels(t, nil, nil))
	var ev Event
	rec := `{"fields":{"message":"Session Start","session_id":"A","client_user":"` + strings.Repeat("u", 5000) + `","client_name":"` + strings.Repeat("\\u00e9", 5000) + `"}}`
	if ok, reason := d.Decode([]byte(rec), &ev); !ok {
		t.Fatalf("not decoded: %q", reason)
	}
	for _, v := range ev.Labels {
		if len(v) > MaxLabelValueBytes {
			t.Errorf("label value of %d bytes", len(v))
		}
	}
	if want := []string{"client_user", "client_name"}; !slices.Equal(ev.Cut, want) {
		t.Errorf("Cut = %q, want %q", ev.Cut, want)
	}
}

// TestLongValuesStayApart: values, session ids and targets that share
// their first MaxLabelValueBytes bytes are still told apart, each the same
// way every time and by every decoder (a state file keeps label values
// across restarts); the fields cut are named on the event.
func TestLongValuesStayApart(t *testing.T) {
	shared := strings.Repeat("p", 300)
	rec := func(v string) string {
		return `{"fields":{"message":"Port Steal","port":80,"session_id":"` + v + `","client_user":"` + v + `","target":"deployment/` + v + `/container/c"}}`
	}
	decode := func(d *Decoder, v string) Event {
		t.Helper()
		var ev Event
		if ok, reason := d.Decode([]byte(rec(v)), &ev); !ok {
			t.Fatalf("not decoded: %q", reason)
		}
		return ev
	}
	d := New(mustLabels(t, nil, nil))
	a, b := decode(d, shared+"a"), decode(d, shared+"b")
	if a.SessionID == b.SessionID {
		t.Errorf("two sessions became one: %q", a.SessionID)
	}
	if a.Labels[0] == b.Labels[0] || a.Labels[4] == b.Labels[4] {
		t.Errorf("two users or targets became one: %q", a.Labels)
	}
	if a.Labels[3] != "deployment" {
		t.Errorf("target type %q, want deployment", a.Labels[3])
	}
	again := decode(New(mustLabels(t, nil, nil)), shared+"a")
	if again.SessionID != a.SessionID || !slices.Equal(again.Labels, a.Labels) {
		t.Errorf("cut differently by another decoder: %q %q, then %q %q", a.SessionID, a.Labels, again.SessionID, again.Labels)
	}
	if want := []string{"session_id", "client_user", "target_name"}; !slices.Equal(a.Cut, want) {
		t.Errorf("Cut = %q, want %q", a.Cut, want)
	}
	for _, v := range append([]string{a.SessionID}, a.Labels...) {
		if len(v) > MaxLabelValueBytes || !utf8.ValidString(v) {
			t.Errorf("value of %d bytes, or not valid UTF-8", len(v))
		}
	}
	if short := decode(d, "s"); short.Cut != nil {
		t.Errorf("Cut = %q after a short event", short.Cut)
	}
}
