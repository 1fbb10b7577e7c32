package unwrap

import (
	"bytes"
	"encoding/binary"
	"math/bits"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/mirrord-exporter/mirrord-exporter/internal/jsonstring"
)

// dockerFields is what the json-file scanner extracts from one line.
type dockerFields struct {
	// log is the decoded "log" string without its final newline, if any: a
	// slice of the line, or of the buffer given to scanDocker when it holds
	// escapes other than that newline.
	log []byte
	// final is whether the "log" string ended with a newline, which Docker
	// writes at the end of a record, and only there.
	final bool
	// logBad is whether the "log" string holds an invalid escape.
	logBad bool
	stream streamID
	// logStart is the index in the line of the "log" string's content.
	logStart int
	// logU is whether the "log" string holds a \u escape; only set by
	// checkLog.
	logU bool
}

// scanDocker scans one Docker json-file line: a JSON object with a string
// "log" and a "stream" of "stdout" or "stderr", keys in any order, other keys
// allowed (their values are skipped, not validated in depth). Duplicate keys:
// the last wins, as with encoding/json. The "log" string is decoded as it is
// scanned, into *buf when it must be copied. It does not allocate once *buf
// has grown to the longest line.
func scanDocker(line []byte, buf *[]byte) (d dockerFields, ok bool) {
	return scanDockerAs(line, buf, false)
}

// scanDockerEscaped is scanDocker leaving the "log" string as it is: d.log
// is its escaped content, final included (d.final tells whether it ends with
// the \n escape). Validation is the same, so ok and logBad are scanDocker's.
func scanDockerEscaped(line []byte) (d dockerFields, ok bool) {
	return scanDockerAs(line, nil, true)
}

func scanDockerAs(line []byte, buf *[]byte, escaped bool) (d dockerFields, ok bool) {
	var hasLog, hasStream bool
	i := skipWS(line, 0)
	if i >= len(line) || line[i] != '{' {
		return d, false
	}
	i = skipWS(line, i+1)
	if i < len(line) && line[i] == '}' {
		return d, false // an empty object has no "log"
	}
	for {
		if i >= len(line) || line[i] != '"' {
			return d, false
		}
		kEnd, kEsc, ok := scanString(line, i+1)
		if !ok {
			return d, false
		}
		key := classifyKey(line[i+1:kEnd], kEsc >= 0)
		i = skipWS(line, kEnd+1)
		if i >= len(line) || line[i] != ':' {
			return d, false
		}
		i = skipWS(line, i+1)
		switch key {
		case keyLog, keyStream:
			if i >= len(line) || line[i] != '"' {
				return d, false // both must be strings
			}
			var vEnd int
			if key == keyLog {
				d.logStart = i + 1
				if escaped {
					vEnd, ok = checkLog(line, i+1, &d)
				} else {
					vEnd, ok = readLog(line, i+1, buf, &d)
				}
				hasLog = true
			} else {
				var vEsc int
				if vEnd, vEsc, ok = scanString(line, i+1); ok {
					d.stream, hasStream = classifyStream(line[i+1:vEnd], vEsc >= 0)
				}
			}
			if !ok {
				return d, false
			}
			i = vEnd + 1
		default:
			if i, ok = skipValue(line, i); !ok {
				return d, false
			}
		}
		i = skipWS(line, i)
		if i >= len(line) {
			return d, false
		}
		if line[i] == '}' {
			break
		}
		if line[i] != ',' {
			return d, false
		}
		i = skipWS(line, i+1)
	}
	if skipWS(line, i+1) != len(line) || !hasLog || !hasStream {
		return d, false
	}
	return d, true
}

type dockerKey int

const (
	keyOther dockerKey = iota
	keyLog
	keyStream
)

// maxEscapedName bounds the raw length of an escaped key or stream value
// worth decoding: "stdout" written entirely as \uXXXX escapes.
const maxEscapedName = 6 * 6

// unescapeName decodes a short escaped string into buf without allocating.
// It returns nil when raw is too long or invalid to be one of our names.
func unescapeName(buf *[maxEscapedName]byte, raw []byte) []byte {
	if len(raw) > maxEscapedName {
		return nil
	}
	// Decoding never grows the text, so it fits in buf and append won't
	// allocate.
	out, ok := appendUnescaped(buf[:0], raw)
	if !ok {
		return nil
	}
	return out
}

// classifyKey tells the keys we need from the others. Escaped keys are
// decoded first, since JSON allows writing "log" as "\u006cog".
func classifyKey(raw []byte, escaped bool) dockerKey {
	if escaped {
		var buf [maxEscapedName]byte
		raw = unescapeName(&buf, raw)
	}
	switch string(raw) {
	case "log":
		return keyLog
	case "stream":
		return keyStream
	}
	return keyOther
}

// classifyStream maps a "stream" value to a streamID; ok is false for any
// value other than stdout and stderr.
func classifyStream(raw []byte, escaped bool) (streamID, bool) {
	if escaped {
		var buf [maxEscapedName]byte
		raw = unescapeName(&buf, raw)
	}
	return parseStreamName(raw)
}

// skipWS returns the index of the first non JSON whitespace byte at or after i.
func skipWS(b []byte, i int) int {
	for i < len(b) {
		switch b[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// scanString finds the closing quote of the JSON string whose content starts
// at i. It returns its index and the index of the first backslash (-1 if
// none). Escapes are only checked for shape here (a backslash is followed by
// something); appendUnescaped validates them. Raw control characters are
// invalid JSON, so they fail the scan.
func scanString(b []byte, i int) (end, firstEsc int, ok bool) {
	firstEsc = -1
	for {
		i += jsonstring.Stop(b[i:])
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

// readLog reads the "log" string whose content starts at line[i] into d, in
// one pass: plain runs are found a word at a time and escapes decoded as they
// come. A string without escapes, or whose only escape is the final \n (the
// common unsplit line), is returned in place; any other is decoded into *buf.
// It returns the index of the closing quote. An invalid escape sets d.logBad
// and leaves the scan to scanString, which finds the end as before.
func readLog(line []byte, i int, buf *[]byte, d *dockerFields) (end int, ok bool) {
	start := i
	i += jsonstring.Stop(line[i:])
	if i >= len(line) || line[i] < 0x20 {
		return 0, false
	}
	d.logBad = false
	if line[i] == '"' {
		d.log, d.final = line[start:i], false
		return i, true
	}
	if i+2 < len(line) && line[i+1] == 'n' && line[i+2] == '"' {
		d.log, d.final = line[start:i], true
		return i + 2, true
	}
	out, end, ok := unescapeFrom(line, start, i, (*buf)[:0])
	if !ok {
		return 0, false
	}
	if out == nil {
		d.logBad = true
		end, _, ok = scanString(line, start)
		return end, ok
	}
	*buf = out
	d.log, d.final = out, false
	if n := len(out); n > 0 && out[n-1] == '\n' {
		d.log, d.final = out[:n-1], true
	}
	return end, true
}

// checkLog is readLog without the copy: it validates every escape of the
// "log" string whose content starts at line[i] and sets d.log to that content,
// still escaped. It finds the same end and the same validity as readLog (an
// invalid escape is skipped by its shape, as scanString does).
//
// Escapes come every few bytes (each quote of the record is one), so rather
// than stopping at each, it takes eight bytes at a time: a word whose only
// escapes are \" is checked whole; any other escape sends just that word
// through checkBytes.
func checkLog(line []byte, i int, d *dockerFields) (end int, ok bool) {
	start := i
	d.logBad, d.logU = false, false
	// carry has the high bit of byte 0 set when the previous word ended
	// with a backslash, so line[i] is that escape's character.
	var carry uint64
	for i+8 <= len(line) {
		w := binary.LittleEndian.Uint64(line[i:])
		bs, q, ctl := eqMask(w, '\\'), eqMask(w, '"'), ctlMask(w)
		esc := bs<<8 | carry // the escaped characters
		if bs|q|ctl|carry == 0 {
			i += 8
			continue
		}
		if bs&esc != 0 || esc&^q != 0 {
			// An escaped backslash (so a backslash that may escape
			// nothing) or an escape other than \": byte by byte, from
			// the backslash if it was in the previous word.
			p := i - int(carry>>7)
			var closed bool
			if i, closed, ok = checkBytes(line, p, i+8, d); !ok {
				return 0, false
			}
			if closed {
				return d.endLog(line, start, i), true
			}
			carry = 0
			continue
		}
		// Every escape here is \"; any other quote ends the string.
		if stop := q&^esc | ctl; stop != 0 {
			i += bits.TrailingZeros64(stop) / 8
			if line[i] != '"' {
				return 0, false // a control character
			}
			return d.endLog(line, start, i), true
		}
		carry = bs >> 56
		i += 8
	}
	i, closed, ok := checkBytes(line, i-int(carry>>7), len(line), d)
	if !ok || !closed {
		return 0, false
	}
	return d.endLog(line, start, i), true
}

// endLog sets d.log to the escaped content line[start:end] and d.final to
// whether it ends with a \n escape (an odd run of backslashes before 'n').
func (d *dockerFields) endLog(line []byte, start, end int) int {
	d.log = line[start:end]
	n := 0
	if end-start >= 2 && line[end-1] == 'n' {
		for p := end - 2; p >= start && line[p] == '\\'; p-- {
			n++
		}
	}
	d.final = n%2 == 1
	return end
}

// checkBytes checks string content from line[p], byte by byte, at least up
// to limit: it stops there (or just past an escape that straddles it), or at
// the closing quote (closed true). ok is false for a string that cannot end
// well: a control character, or a backslash at the end of the line.
func checkBytes(line []byte, p, limit int, d *dockerFields) (i int, closed, ok bool) {
	for p < limit {
		switch c := line[p]; {
		case c == '"':
			return p, true, true
		case c < 0x20:
			return 0, false, false
		case c == '\\':
			if p+1 >= len(line) {
				return 0, false, false
			}
			switch line[p+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				// The hex digits are plain bytes: the scan goes on
				// over them.
				d.logU = true
				if _, good := hex4(line[p+2:]); !good {
					d.logBad = true
				}
			default:
				d.logBad = true
			}
			p += 2
		default:
			p++
		}
	}
	return p, false, true
}

// Bytes repeated in every lane of a word.
const (
	lanes1    = 0x0101010101010101
	lanes7f   = 0x7f7f7f7f7f7f7f7f
	lanesHigh = 0x8080808080808080
)

// eqMask sets the high bit of each byte of w (little-endian) that is c,
// exactly: unlike a borrow trick, no lane disturbs the next.
func eqMask(w uint64, c byte) uint64 {
	z := w ^ lanes1*uint64(c)
	return ^(z&lanes7f + lanes7f | z) & lanesHigh
}

// ctlMask sets the high bit of each byte of w below 0x20, exactly.
func ctlMask(w uint64) uint64 {
	return ^(w&lanes7f + lanes1*(0x80-0x20) | w) & lanesHigh
}

// unescapeFrom decodes into dst the string whose content starts at
// line[start] and has its first backslash at line[i]. It returns the text and
// the index of the closing quote; a nil text for an invalid escape, and ok
// false for a string that does not end (or holds a control character).
//
// Plain runs are copied a word at a time: each word is stored whole, then
// the output only advances to its first special byte. dst is grown first to
// leave room for that overshoot, since the text is never longer than the
// escaped string.
func unescapeFrom(line []byte, start, i int, dst []byte) (text []byte, end int, ok bool) {
	if need := len(line) - start + 8; cap(dst) < need {
		dst = make([]byte, 0, need)
	}
	out := dst[:cap(dst)]
	n := copy(out, line[start:i])
	for {
		// line[i] is a backslash.
		if i+1 < len(line) && (line[i+1] == '"' || line[i+1] == '\\' || line[i+1] == '/') {
			out[n] = line[i+1] // the escapes in JSON text, by far the most common
			n, i = n+1, i+2
		} else {
			dec, rest, good := unescapeOne(out[:n], line[i:])
			if !good {
				return nil, 0, true
			}
			out, n, i = dec[:cap(dec)], len(dec), len(line)-len(rest)
		}
		i, n = copyRun(line, i, out, n)
		if i >= len(line) || line[i] < 0x20 {
			return nil, 0, false
		}
		if line[i] == '"' {
			return out[:n], i, true
		}
	}
}

// copyRun copies the plain run of string content at line[i] to out[n],
// returning the indexes just past it in each. A word is stored whole before
// it is tested, so out needs 8 bytes of room past the run.
func copyRun(line []byte, i int, out []byte, n int) (int, int) {
	for i+8 <= len(line) {
		w := binary.LittleEndian.Uint64(line[i:])
		binary.LittleEndian.PutUint64(out[n:], w)
		if m := jsonstring.StopMask(w); m != 0 {
			k := bits.TrailingZeros64(m) / 8
			return i + k, n + k
		}
		i, n = i+8, n+8
	}
	for ; i < len(line); i, n = i+1, n+1 {
		c := line[i]
		if c == '"' || c == '\\' || c < 0x20 {
			break
		}
		out[n] = c
	}
	return i, n
}

// skipValue returns the index just past the JSON value starting at i.
// Objects and arrays are skipped by counting brackets outside strings
// (without checking that they pair up): their content does not matter to us,
// only that the scan ends where the value ends.
func skipValue(b []byte, i int) (int, bool) {
	if i >= len(b) {
		return 0, false
	}
	switch b[i] {
	case '"':
		end, _, ok := scanString(b, i+1)
		return end + 1, ok
	case '{', '[':
		depth := 0
		for i < len(b) {
			switch b[i] {
			case '"':
				end, _, ok := scanString(b, i+1)
				if !ok {
					return 0, false
				}
				i = end
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1, true
				}
			}
			i++
		}
		return 0, false
	}
	// A number, true, false or null: a run of the bytes these are made of.
	start := i
	for i < len(b) && isLiteralByte(b[i]) {
		i++
	}
	return i, i > start
}

func isLiteralByte(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '+' || c == '-' || c == '.'
}

// appendUnescaped appends the decoded content of a JSON string (the bytes
// between the quotes) to dst. It fails on an invalid escape. As with
// encoding/json, a surrogate that is not part of a valid pair decodes to
// U+FFFD; other bytes are copied as they are (no UTF-8 validation). The
// decoded text is never longer than src.
func appendUnescaped(dst, src []byte) ([]byte, bool) {
	for len(src) > 0 {
		j := bytes.IndexByte(src, '\\')
		if j < 0 {
			return append(dst, src...), true
		}
		dst = append(dst, src[:j]...)
		var ok bool
		if dst, src, ok = unescapeOne(dst, src[j:]); !ok {
			return dst, false
		}
	}
	return dst, true
}

// unescapeOne decodes the escape at the start of src (which starts with a
// backslash), appending it to dst, and returns the rest of src.
func unescapeOne(dst, src []byte) ([]byte, []byte, bool) {
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
		r, ok := hex4(src[2:])
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
// start of *src, consuming it. Anything else leaves *src alone (it is decoded
// on its own) and yields U+FFFD.
func pairWithNext(r rune, src *[]byte) rune {
	s := *src
	if len(s) < 6 || s[0] != '\\' || s[1] != 'u' {
		return utf8.RuneError
	}
	r2, ok := hex4(s[2:])
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

// hex4 decodes the 4 hex digits starting b.
func hex4(b []byte) (rune, bool) {
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
