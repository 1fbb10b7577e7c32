// Package jsonstring scans and unescapes JSON string content, for both the
// Docker unwrapper and the decoder: where plain content ends (eight bytes at
// a time, as string contents are most of an operator record and of a Docker
// line), where a string with escapes ends, and what its escapes decode to,
// \uXXXX surrogate pairs included.
//
// The Docker unwrapper's check of a "log" string still escaped
// (unwrap.checkLog) keeps its own word masks: it validates escapes a word at
// a time without decoding them, a job no other caller has.
package jsonstring

import (
	"bytes"
	"encoding/binary"
	"math/bits"
	"unicode/utf16"
	"unicode/utf8"
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

// End finds the closing quote of the string whose content starts at b[i].
// It returns its index and the index of the first backslash (-1 if none).
// Escapes are only checked for shape here (a backslash is followed by
// something); Append and Unescape validate them. Raw control characters are
// invalid JSON, so they fail the scan.
func End(b []byte, i int) (end, firstEsc int, ok bool) {
	firstEsc = -1
	for {
		i += Stop(b[i:])
		if i >= len(b) {
			return 0, 0, false
		}
		switch c := b[i]; {
		case c == '"':
			return i, firstEsc, true
		case c == '\\':
			if firstEsc < 0 {
				firstEsc = i
			}
			i += 2
			if i > len(b) {
				return 0, 0, false
			}
		default:
			return 0, 0, false // a control character
		}
	}
}

// Unescape decodes into dst the string whose content starts at b[start] and
// has its first backslash at b[esc]. It returns the text and the index of the
// closing quote; a nil text for an invalid escape, and ok false for a string
// that does not end (or holds a control character).
//
// Plain runs are copied a word at a time: each word is stored whole, then
// the output only advances to its first special byte. The text is written
// from dst[0], in dst's array when its capacity is at least
// len(b)-start+8 (the text is never longer than the escaped string; the 8
// is room for that overshoot), else in a new one.
func Unescape(dst, b []byte, start, esc int) (text []byte, end int, ok bool) {
	if need := len(b) - start + 8; cap(dst) < need {
		dst = make([]byte, 0, need)
	}
	out := dst[:cap(dst)]
	n := copy(out, b[start:esc])
	i := esc
	for {
		// b[i] is a backslash.
		if i+1 < len(b) && (b[i+1] == '"' || b[i+1] == '\\' || b[i+1] == '/') {
			out[n] = b[i+1] // the escapes in JSON text, by far the most common
			n, i = n+1, i+2
		} else {
			dec, rest, good := AppendEscape(out[:n], b[i:])
			if !good {
				return nil, 0, true
			}
			out, n, i = dec[:cap(dec)], len(dec), len(b)-len(rest)
		}
		i, n = copyRun(b, i, out, n)
		if i >= len(b) || b[i] < 0x20 {
			return nil, 0, false
		}
		if b[i] == '"' {
			return out[:n], i, true
		}
	}
}

// copyRun copies the plain run of string content at b[i] to out[n],
// returning the indexes just past it in each. A word is stored whole before
// it is tested, so out needs 8 bytes of room past the run.
func copyRun(b []byte, i int, out []byte, n int) (int, int) {
	for i+8 <= len(b) {
		w := binary.LittleEndian.Uint64(b[i:])
		binary.LittleEndian.PutUint64(out[n:], w)
		if m := StopMask(w); m != 0 {
			k := bits.TrailingZeros64(m) / 8
			return i + k, n + k
		}
		i, n = i+8, n+8
	}
	for ; i < len(b); i, n = i+1, n+1 {
		c := b[i]
		if c == '"' || c == '\\' || c < 0x20 {
			break
		}
		out[n] = c
	}
	return i, n
}

// Append appends the decoded content of a JSON string (the bytes between
// the quotes) to dst. It fails on an invalid escape. As with encoding/json,
// a surrogate that is not part of a valid pair decodes to U+FFFD; other
// bytes are copied as they are (no UTF-8 validation). The decoded text is
// never longer than src.
func Append(dst, src []byte) ([]byte, bool) {
	for len(src) > 0 {
		j := bytes.IndexByte(src, '\\')
		if j < 0 {
			return append(dst, src...), true
		}
		dst = append(dst, src[:j]...)
		var ok bool
		if dst, src, ok = AppendEscape(dst, src[j:]); !ok {
			return dst, false
		}
	}
	return dst, true
}

// AppendEscape decodes the escape at the start of src (which starts with a
// backslash), appending it to dst, and returns the rest of src. A \uXXXX
// high surrogate takes the low surrogate escape that follows it; without
// one, it decodes to U+FFFD and the next escape is left to decode on its
// own, as encoding/json does.
func AppendEscape(dst, src []byte) ([]byte, []byte, bool) {
	if len(src) < 2 {
		return dst, src, false
	}
	c := src[1]
	switch c {
	case '"', '\\', '/':
	case 'b':
		c = '\b'
	case 'f':
		c = '\f'
	case 'n':
		c = '\n'
	case 'r':
		c = '\r'
	case 't':
		c = '\t'
	case 'u':
		r, ok := Hex4(src[2:])
		if !ok {
			return dst, src, false
		}
		src = src[6:]
		if utf16.IsSurrogate(r) {
			r = pairWithNext(r, &src)
		}
		return utf8.AppendRune(dst, r), src, true
	default:
		return dst, src, false
	}
	return append(dst, c), src[2:], true
}

// pairWithNext combines the surrogate r with a low surrogate escape at the
// start of *src, consuming it. Anything else leaves *src alone and yields
// U+FFFD.
func pairWithNext(r rune, src *[]byte) rune {
	s := *src
	if len(s) < 6 || s[0] != '\\' || s[1] != 'u' {
		return utf8.RuneError
	}
	r2, ok := Hex4(s[2:])
	if !ok {
		return utf8.RuneError
	}
	dec := utf16.DecodeRune(r, r2)
	if dec == utf8.RuneError {
		return utf8.RuneError
	}
	*src = s[6:]
	return dec
}

// Hex4 decodes the 4 hex digits at the start of b, as in a \uXXXX escape.
func Hex4(b []byte) (rune, bool) {
	if len(b) < 4 {
		return 0, false
	}
	var r rune
	for _, c := range b[:4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		case c >= 'A' && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}
