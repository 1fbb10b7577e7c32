// Package jsonstring finds where plain JSON string content ends, eight bytes
// at a time: string contents are most of an operator log record and of a
// Docker log line, and both the decoder and the Docker unwrapper skip them.
package jsonstring

import (
	"encoding/binary"
	"math/bits"
)

// Bytes repeated in every lane of a word.
const (
	lanes1    = 0x0101010101010101
	lanesHigh = 0x8080808080808080
)

// Stop returns the index of the first byte of b that ends a run of plain
// string content: '"', '\\' or a control character; len(b) if none.
func Stop(b []byte) int {
	i := 0
	for ; i+8 <= len(b); i += 8 {
		if m := StopMask(binary.LittleEndian.Uint64(b[i:])); m != 0 {
			return i + bits.TrailingZeros64(m)/8
		}
	}
	for ; i < len(b); i++ {
		if c := b[i]; c == '"' || c == '\\' || c < 0x20 {
			return i
		}
	}
	return i
}

// StopMask sets the high bit of each byte of w (little-endian) that is '"',
// '\\' or below 0x20. A borrow can also flag a byte above a true one, never
// below, so the lowest flagged byte is always exact:
// bits.TrailingZeros64(m)/8 is its index.
func StopMask(w uint64) uint64 {
	q := w ^ (lanes1 * '"')
	bs := w ^ (lanes1 * '\\')
	return ((q-lanes1)&^q | (bs-lanes1)&^bs | (w-lanes1*0x20)&^w) & lanesHigh
}
