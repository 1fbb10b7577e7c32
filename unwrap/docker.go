package unwrap

import (
	"encoding/binary"
	"math/bits"

	"github.com/mirrord-exporter/mirrord-exporter/jsonstring"
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
		kEnd, kEsc, ok := jsonstring.End(line, i+1)
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
				if vEnd, vEsc, ok = jsonstring.End(line, i+1); ok {
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
	out, ok := jsonstring.Append(buf[:0], raw)
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

// readLog reads the "log" string whose content starts at line[i] into d, in
// one pass: plain runs are found a word at a time and escapes decoded as they
// come. A string without escapes, or whose only escape is the final \n (the
// common unsplit line), is returned in place; any other is decoded into *buf.
// It returns the index of the closing quote. An invalid escape sets d.logBad
// and leaves the scan to jsonstring.End, which finds the end as before.
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
	out, end, ok := jsonstring.Unescape((*buf)[:0], line, start, i)
	if !ok {
		return 0, false
	}
	if out == nil {
		d.logBad = true
		end, _, ok = jsonstring.End(line, start)
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
// invalid escape is skipped by its shape, as jsonstring.End does).
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
				if _, good := jsonstring.Hex4(line[p+2:]); !good {
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
		end, _, ok := jsonstring.End(b, i+1)
		return end + 1, ok
	case '{', '[':
		depth := 0
		for i < len(b) {
			switch b[i] {
			case '"':
				end, _, ok := jsonstring.End(b, i+1)
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
