package decode

import (
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
	"unsafe"
)

func TestLabelStringsReuseValidValues(t *testing.T) {
	var ls labelStrings
	a := ls.get([]byte("alice@corp.example"))
	b := ls.get([]byte("alice@corp.example"))
	if a != "alice@corp.example" || unsafe.StringData(a) != unsafe.StringData(b) {
		t.Errorf("a repeated value was not handed out again: %q %q", a, b)
	}
	// Values labelValue changes are converted each time and never found
	// by their raw bytes.
	for _, raw := range [][]byte{[]byte("bad\xffbyte"), []byte(strings.Repeat("x", MaxLabelValueBytes+10))} {
		for range 2 {
			if got, want := ls.get(raw), labelValue(raw); got != want {
				t.Errorf("get(%.20q) = %.20q, want %.20q", raw, got, want)
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
	for name, tc := range map[string]struct{ in, want string }{
		"short":         {"alice", "alice"},
		"exact":         {strings.Repeat("a", MaxLabelValueBytes), strings.Repeat("a", MaxLabelValueBytes)},
		"ascii":         {strings.Repeat("a", 10*MaxLabelValueBytes), strings.Repeat("a", MaxLabelValueBytes)},
		"rune boundary": {"x" + long, "x" + long[:MaxLabelValueBytes-2]},
		"invalid":       {strings.Repeat("\xffa", 1000), strings.Repeat("\uFFFDa", MaxLabelValueBytes/4)},
	} {
		t.Run(name, func(t *testing.T) {
			got := labelValue([]byte(tc.in))
			if got != tc.want {
				t.Errorf("labelValue = %q (%d bytes), want %q", got, len(got), tc.want)
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
}
