package jsonstring

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"testing"
	"unicode/utf8"
)

// stopRef is Stop a byte at a time.
func stopRef(b []byte) int {
	for i, c := range b {
		if c == '"' || c == '\\' || c < 0x20 {
			return i
		}
	}
	return len(b)
}

// TestStopMatchesReference checks the word-at-a-time search on every
// length up to a few words and every byte value next to the ones it looks
// for, at every position, so that a wrong lane or borrow would show.
func TestStopMatchesReference(t *testing.T) {
	alphabet := []byte{0x00, 0x1f, 0x20, 0x21, '"', '#', '[', '\\', ']', 'a', 0x7f, 0x80, 0x9f, 0xa0, 0xdc, 0xff}
	r := rand.New(rand.NewPCG(3, 4))
	for range 300000 {
		b := make([]byte, r.IntN(40))
		for i := range b {
			// Mostly plain bytes, so that stops fall in every lane.
			if r.IntN(8) == 0 {
				b[i] = alphabet[r.IntN(len(alphabet))]
			} else {
				b[i] = byte(0x21 + r.IntN(0xff-0x21))
				if b[i] == '"' || b[i] == '\\' {
					b[i] = 'x'
				}
			}
		}
		if got, want := Stop(b), stopRef(b); got != want {
			t.Fatalf("Stop(%q) = %d, want %d", b, got, want)
		}
	}
}

// checkAgainstEncodingJSON checks End, Unescape and Append on b, taken as
// string content followed by anything, against encoding/json: where the
// string ends, whether it is valid, and (for valid UTF-8) what it decodes to.
func checkAgainstEncodingJSON(t *testing.T, b []byte) {
	t.Helper()
	end, esc, ok := End(b, 0)
	if !ok {
		if q := bytes.IndexByte(b, '"'); q >= 0 && utf8.Valid(b[:q]) && bytes.IndexByte(b[:q], '\\') < 0 {
			var s string
			if json.Unmarshal([]byte(`"`+string(b[:q])+`"`), &s) == nil {
				t.Fatalf("End(%q) failed, encoding/json reads %q", b, s)
			}
		}
		return
	}
	if b[end] != '"' || esc >= end || (esc < 0) != (bytes.IndexByte(b[:end], '\\') < 0) {
		t.Fatalf("End(%q) = %d, %d", b, end, esc)
	}
	appended, good := Append(nil, b[:end])
	if esc >= 0 {
		text, uend, uok := Unescape(nil, b, 0, esc)
		if !uok || (text != nil) != good || (text != nil && (uend != end || !bytes.Equal(text, appended))) {
			t.Fatalf("Unescape(%q) = %q, %d, %v; Append %q, %v; End %d", b, text, uend, uok, appended, good, end)
		}
	}
	var want string
	err := json.Unmarshal([]byte(`"`+string(b[:end])+`"`), &want)
	if (err == nil) != good {
		t.Fatalf("Append(%q) ok %v, encoding/json: %v", b[:end], good, err)
	}
	if good && utf8.Valid(b[:end]) && string(appended) != want {
		t.Fatalf("Append(%q) = %q, encoding/json %q", b[:end], appended, want)
	}
}

// TestScanMatchesEncodingJSON runs the check on random strings built from
// escapes (surrogate pairs, lone and broken ones among them), quotes,
// control characters and plain text.
func TestScanMatchesEncodingJSON(t *testing.T) {
	pieces := []string{`a`, `é`, `\"`, `\\`, `\/`, `\b`, `\f`, `\n`, `\r`, `\t`, `\u00e9`, `\u0022`, `\uD83D\uDE00`,
		`\ud83d`, `\ude00`, `\uD83Dx`, `\uD83D\u0041`, `\u12`, `\uZZZZ`, `\x`, `\`, `"`, "\x01", "\x7f", `plain text, longer than a word`}
	r := rand.New(rand.NewPCG(5, 6))
	for range 200000 {
		var b []byte
		for n := r.IntN(12); n >= 0; n-- {
			b = append(b, pieces[r.IntN(len(pieces))]...)
		}
		if r.IntN(2) == 0 {
			b = append(b, '"')
		}
		checkAgainstEncodingJSON(t, b)
	}
}

func FuzzScan(f *testing.F) {
	for _, s := range []string{`plain"`, `a\"b\\c\/d"`, `\uD83D\uDE00 \ud83d x"`, `\u00e9\n"`, `\x"`, "a\x01\""} {
		f.Add([]byte(s))
	}
	f.Fuzz(checkAgainstEncodingJSON)
}
