package decode

import "github.com/mirrord-exporter/mirrord-exporter/jsonstring"

// valueKind is the JSON type of a scanned value.
type valueKind uint8

const (
	kindString valueKind = iota
	kindNumber
	kindBool
	kindNull
	kindComposite // an object or array, kept as its raw text
)

// member is one key/value pair of a scanned object. Strings are unescaped;
// key and val point into the record or into the scanner's scratch buffer and
// are valid until the next scan.
type member struct {
	key  []byte
	val  []byte
	kind valueKind
}

// scanner is a small JSON reader for the one shape the operator writes: an
// object whose members are scalars, a "fields" object of scalars, and nested
// values we skip. It validates what it reads, never allocates in steady state
// and never panics: every index is checked before use.
type scanner struct {
	b       []byte
	i       int
	scratch []byte // unescaped strings; sized up front so slices into it stay valid
	// failed is set by a nested reader that found a syntax error.
	failed bool
}

// maxDepth bounds nesting so hostile input cannot exhaust the stack.
const maxDepth = 64

func (s *scanner) reset(b []byte) {
	s.b = b
	s.i = 0
	s.failed = false
	// An unescaped string is never longer than its escaped form, so a
	// scratch buffer as long as the record, plus the 8 bytes of room
	// jsonstring.Unescape writes past its text, never reallocates mid-scan.
	if cap(s.scratch) < len(b)+8 {
		s.scratch = make([]byte, 0, len(b)+8)
	}
	s.scratch = s.scratch[:0]
}

func (s *scanner) skipSpace() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// consume skips white space and then the byte c, reporting whether it was there.
func (s *scanner) consume(c byte) bool {
	s.skipSpace()
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

func (s *scanner) peek() byte {
	s.skipSpace()
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

// str reads a string whose opening quote is at s.i and returns its
// unescaped contents.
func (s *scanner) str() ([]byte, bool) {
	if s.i >= len(s.b) || s.b[s.i] != '"' {
		return nil, false
	}
	start := s.i + 1
	s.i = start + jsonstring.Stop(s.b[start:])
	if s.i >= len(s.b) {
		return nil, false
	}
	switch s.b[s.i] {
	case '"':
		out := s.b[start:s.i]
		s.i++
		return out, true
	case '\\':
		// Unescaped after what earlier strings left in the scratch
		// buffer, whose room reset made sure of: no reallocation.
		from := len(s.scratch)
		text, end, ok := jsonstring.Unescape(s.scratch[from:], s.b, start, s.i)
		if !ok || text == nil {
			return nil, false
		}
		s.scratch = s.scratch[:from+len(text)]
		s.i = end + 1
		return text[:len(text):len(text)], true
	}
	return nil, false // a control character
}

// number reads a JSON number literal.
func (s *scanner) number() ([]byte, bool) {
	start := s.i
	if s.i < len(s.b) && s.b[s.i] == '-' {
		s.i++
	}
	digits := s.digits()
	if digits == 0 || (digits > 1 && s.b[s.i-digits] == '0') {
		return nil, false
	}
	if s.i < len(s.b) && s.b[s.i] == '.' {
		s.i++
		if s.digits() == 0 {
			return nil, false
		}
	}
	if s.i < len(s.b) && (s.b[s.i] == 'e' || s.b[s.i] == 'E') {
		s.i++
		if s.i < len(s.b) && (s.b[s.i] == '+' || s.b[s.i] == '-') {
			s.i++
		}
		if s.digits() == 0 {
			return nil, false
		}
	}
	return s.b[start:s.i], true
}

func (s *scanner) digits() int {
	n := 0
	for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
		s.i++
		n++
	}
	return n
}

func (s *scanner) literal(word string) bool {
	if len(s.b)-s.i < len(word) || string(s.b[s.i:s.i+len(word)]) != word {
		return false
	}
	s.i += len(word)
	return true
}

// value reads any value. Scalars come back as their text; composites are
// validated and returned as raw JSON.
func (s *scanner) value(depth int) ([]byte, valueKind, bool) {
	switch c := s.peek(); {
	case c == '"':
		v, ok := s.str()
		return v, kindString, ok
	case c == '-' || (c >= '0' && c <= '9'):
		v, ok := s.number()
		return v, kindNumber, ok
	case c == 't':
		return s.b[s.i : s.i+min(4, len(s.b)-s.i)], kindBool, s.literal("true")
	case c == 'f':
		return s.b[s.i : s.i+min(5, len(s.b)-s.i)], kindBool, s.literal("false")
	case c == 'n':
		return nil, kindNull, s.literal("null")
	case c == '{' || c == '[':
		start := s.i
		ok := s.skipComposite(depth + 1)
		return s.b[start:s.i], kindComposite, ok
	default:
		return nil, kindNull, false
	}
}

// skipComposite validates an object or array without keeping anything.
func (s *scanner) skipComposite(depth int) bool {
	if depth > maxDepth {
		return false
	}
	if s.consume('[') {
		if s.consume(']') {
			return true
		}
		for {
			if _, _, ok := s.value(depth); !ok {
				return false
			}
			if s.consume(']') {
				return true
			}
			if !s.consume(',') {
				return false
			}
		}
	}
	ok := true
	s.object(func([]byte) bool { return false }, func(member) {}, depth, &ok)
	return ok
}

// object reads an object at s.i. For each member, nested(key) may claim a
// nested object value (returning true after reading it); every other member
// goes to add. ok is cleared on a syntax error.
func (s *scanner) object(nested func(key []byte) bool, add func(member), depth int, ok *bool) {
	if depth > maxDepth || !s.consume('{') {
		*ok = false
		return
	}
	if s.consume('}') {
		return
	}
	for {
		s.skipSpace()
		key, good := s.str()
		if !good || !s.consume(':') {
			*ok = false
			return
		}
		if s.peek() == '{' && nested(key) {
			if s.failed {
				*ok = false
				return
			}
		} else {
			v, kind, good := s.value(depth)
			if !good {
				*ok = false
				return
			}
			add(member{key: key, val: v, kind: kind})
		}
		if s.consume('}') {
			return
		}
		if !s.consume(',') {
			*ok = false
			return
		}
	}
}
