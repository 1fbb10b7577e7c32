package decode

import (
	"bytes"
	"encoding/binary"
)

// escapedMessageKey is messageKey as it appears inside a JSON string: in
// valid escaped text every quote of the record is written \".
var escapedMessageKey = []byte(`\"message\"`)

// NoEventInEscaped judges a record still in the escaped form of a JSON
// string's content (as in the "log" of a Docker json-file line, escapes
// included). It returns true only when Decode of the unescaped record, taken
// without its final newline, would surely return (false, ReasonNone) because
// no "message" key has an event value; false when it may be an event, or
// when it cannot tell cheaply. e must be valid string content; for any
// other input the answer means nothing.
//
// It mirrors hasEventMessage on the escaped bytes, so that the lines that
// are no event (most of a debug log) skip both the unescape and the decode.
func NoEventInEscaped(e []byte) bool {
	// A \u escape can hide a quote, a backslash or a key, which the byte
	// search of NoEventInSimplyEscaped would not see. (hasBackslashU also
	// finds \\u, which only costs the slow path.)
	return !hasBackslashU(e) && NoEventInSimplyEscaped(e)
}

// NoEventInSimplyEscaped is NoEventInEscaped for text known to hold no \u
// escape; on other text its answer means nothing. It suits
// unwrap.Stream.SkipRecord: the stream's validating scan finds \u escapes
// anyway and ignores the answer on text that holds one.
func NoEventInSimplyEscaped(e []byte) bool {
	n := len(e)
	// A record Decode would take to hasEventMessage: '{' ... '}' then the
	// \n escape Docker ends a record with. TrimSpace is then a no-op, since
	// neither brace is whitespace nor part of an escape.
	if n < 4 || e[0] != '{' || e[n-3] != '}' || e[n-2] != '\\' || e[n-1] != 'n' {
		return false
	}
	e = e[:n-2] // the record Decode sees has no final newline
	for from := 0; ; {
		i := indexEscapedKey(e, from)
		if i < 0 {
			return true
		}
		// As hasEventMessage: resume just after the key, not the value.
		from = i + len(escapedMessageKey)
		switch escapedMessageValue(e[from:]) {
		case valueEvent:
			return false
		case valueUnterminated:
			return true
		}
	}
}

// escapedKeyG is the index in escapedMessageKey of its only 'g'.
const escapedKeyG = 7

// indexEscapedKey is indexMessageKey for escapedMessageKey. Without \u
// escapes, each "message" of the unescaped record is one \"message\" here,
// in the same order: a \" pair in valid escaped text is always the quote
// escape (a raw quote would end the string), and the letters in between are
// plain bytes.
func indexEscapedKey(e []byte, from int) int {
	return indexAnchored(e, from, escapedMessageKey, escapedKeyG)
}

// escapedMessageValue is messageValue on escaped text. valueEvent also
// stands for "cannot tell": any escape in the value other than the closing
// quote, or a backslash where the unescaped text would have none.
func escapedMessageValue(rest []byte) messageVerdict {
	j := skipEscapedSpace(rest, 0)
	if j >= len(rest) || rest[j] != ':' {
		// Whatever escape or byte is here, it unescapes to something other
		// than ':' (\u is excluded), as messageValue's valueOther.
		return valueOther
	}
	j = skipEscapedSpace(rest, j+1)
	if j+1 >= len(rest) || rest[j] != '\\' || rest[j+1] != '"' {
		return valueOther
	}
	val := rest[j+2:]
	end := bytes.IndexByte(val, '\\')
	if end < 0 {
		// No escape left, so no quote: the unescaped value never ends.
		return valueUnterminated
	}
	if end+1 >= len(val) || val[end+1] != '"' {
		// \\ would put a backslash in the value (messageValue then
		// answers event or unterminated); \/ \t and the like change the
		// value's bytes. Rare: leave them to the slow path.
		return valueEvent
	}
	if _, ok := messageKinds[string(val[:end])]; ok {
		return valueEvent
	}
	return valueOther
}

// skipEscapedSpace skips what unescapes to isSpace bytes: spaces and the
// \t \n \r escapes.
func skipEscapedSpace(e []byte, j int) int {
	for j < len(e) {
		switch {
		case e[j] == ' ':
			j++
		case e[j] == '\\' && j+1 < len(e) && (e[j+1] == 't' || e[j+1] == 'n' || e[j+1] == 'r'):
			j += 2
		default:
			return j
		}
	}
	return j
}

// hasBackslashU reports whether e holds a backslash followed by 'u'. It
// compares eight byte pairs at a time (a word and the word one byte on): a
// record has a backslash every few bytes, one per quote, so a search that
// stops at each one is slow.
func hasBackslashU(e []byte) bool {
	const (
		lanes1    = 0x0101010101010101
		lanesHigh = 0x8080808080808080
	)
	i := 0
	for ; i+9 <= len(e); i += 8 {
		// A zero byte in z is a backslash whose next byte is 'u'.
		z := (binary.LittleEndian.Uint64(e[i:]) ^ lanes1*'\\') | (binary.LittleEndian.Uint64(e[i+1:]) ^ lanes1*'u')
		if (z-lanes1)&^z&lanesHigh != 0 {
			return true
		}
	}
	for ; i+1 < len(e); i++ {
		if e[i] == '\\' && e[i+1] == 'u' {
			return true
		}
	}
	return false
}
