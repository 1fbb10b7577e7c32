package collector

import (
	"strings"
	"testing"
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
