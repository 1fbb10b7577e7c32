package jsonstring

import (
	"math/rand/v2"
	"testing"
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
