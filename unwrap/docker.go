package unwrap

import (
	"bytes"
	"unicode/utf16"
	"unicode/utf8"
)

// dockerFields is what the json-file scanner extracts from one line.
type dockerFields struct {
	// log is the raw content of the "log" string, still escaped.
	log []byte
	// logEsc is the index in log of its first backslash, -1 if none.
	logEsc int
	stream streamID
}

// scanDocker scans one Docker json-file line: a JSON object with a string
// "log" and a "stream" of "stdout" or "stderr", keys in any order, other keys
// allowed (their values are skipped, not validated in depth). Duplicate keys:
// the last wins, as with encoding/json. It does not allocate.
func scanDocker(line []byte) (d dockerFields, ok bool) {
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
			vEnd, vEsc, ok := scanString(line, i+1)
			if !ok {
				return d, false
			}
			if key == keyLog {
				d.log, d.logEsc, hasLog = line[i+1:vEnd], vEsc, true
			} else {
				d.stream, hasStream = classifyStream(line[i+1:vEnd], vEsc >= 0)
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
	for i < len(b) {
		switch c := b[i]; {
		case c == '"':
			return i, firstEsc, true
		case c == '\\':
			if firstEsc < 0 {
				firstEsc = i
			}
			i += 2
		case c < 0x20:
			return 0, 0, false
		default:
			i++
		}
	}
	return 0, 0, false
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
		src = src[j:]
		if len(src) < 2 {
			return dst, false
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
				return dst, false
			}
			src = src[6:]
			if utf16.IsSurrogate(r) {
				r = pairWithNext(r, &src)
			}
			dst = utf8.AppendRune(dst, r)
			continue
		default:
			return dst, false
		}
		dst = append(dst, c)
		src = src[2:]
	}
	return dst, true
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
