package loggen

import (
	"strconv"
	"unicode/utf8"
)

// appendJSONString appends s as a JSON string, byte for byte what
// encoding/json writes with SetEscapeHTML(false): the records must be valid
// JSON whatever the user names hold, and this runs for every line of noise,
// where going through reflection would dominate the generator's time.
func appendJSONString[T ~string | ~[]byte](b []byte, s T) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(string(s[i:min(i+utf8.UTFMax, len(s))]))
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xf])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// rec builds one JSON object by appending to a byte slice. Keys are written
// without escaping: they are all plain identifiers chosen in this package.
type rec struct {
	b    []byte
	more bool // a member was written at this nesting level: the next needs a comma
}

func (r *rec) begin() {
	r.b = append(r.b, '{')
	r.more = false
}

func (r *rec) end() {
	r.b = append(r.b, '}')
	r.more = true
}

func (r *rec) key(k string) {
	if r.more {
		r.b = append(r.b, ',')
	}
	r.more = true
	r.b = append(r.b, '"')
	r.b = append(r.b, k...)
	r.b = append(r.b, '"', ':')
}

func (r *rec) str(k, v string) {
	r.key(k)
	r.b = appendJSONString(r.b, v)
}

// raw writes v, which must already be a JSON value (a number, a bool).
func (r *rec) raw(k, v string) {
	r.key(k)
	r.b = append(r.b, v...)
}

func (r *rec) int(k string, v int64) {
	r.key(k)
	r.b = strconv.AppendInt(r.b, v, 10)
}

// open starts an object member; close it with end.
func (r *rec) open(k string) {
	r.key(k)
	r.begin()
}

// openArray starts an array member; members are added with elem and the
// array is closed with endArray.
func (r *rec) openArray(k string) {
	r.key(k)
	r.b = append(r.b, '[')
	r.more = false
}

// elem starts the next array element (an object, closed with end).
func (r *rec) elem() {
	if r.more {
		r.b = append(r.b, ',')
	}
	r.begin()
}

func (r *rec) endArray() {
	r.b = append(r.b, ']')
	r.more = true
}
