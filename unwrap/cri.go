package unwrap

import "bytes"

// criFields is what parseCRI extracts from one line.
type criFields struct {
	stream  streamID
	partial bool   // tag P: more parts follow; F: last part
	text    []byte // aliases the line; never nil
}

// parseCRI parses `<RFC3339Nano time> <stdout|stderr> <tag> <text>`. The tag
// is ':'-separated flags whose first is P or F; the others are ignored. The
// text may be empty, with or without the space before it. A line that fails
// here is not CRI: auto detection uses the same check, so there is a single
// definition of the shape.
func parseCRI(line []byte) (c criFields, ok bool) {
	n := timestampLen(line)
	if n == 0 || n >= len(line) || line[n] != ' ' {
		return c, false
	}
	rest := line[n+1:]
	if len(rest) < 7 || rest[6] != ' ' {
		return c, false
	}
	if c.stream, ok = parseStreamName(rest[:6]); !ok {
		return c, false
	}
	rest = rest[7:]
	if len(rest) == 0 {
		return c, false
	}
	switch rest[0] {
	case 'P':
		c.partial = true
	case 'F':
	default:
		return c, false
	}
	switch {
	case len(rest) == 1:
		c.text = rest[1:]
	case rest[1] == ' ':
		c.text = rest[2:]
	case rest[1] == ':':
		sp := bytes.IndexByte(rest, ' ')
		if sp < 0 {
			c.text = rest[len(rest):]
		} else {
			c.text = rest[sp+1:]
		}
	default:
		return c, false
	}
	return c, true
}

// timestampLen returns the length of the RFC 3339 timestamp starting line,
// or 0. It checks the fixed "2006-01-02T15:04:05" part digit by digit and
// only the byte set of the variable rest (fraction, Z or offset): a cheap
// test that plain text and JSON records do not pass.
func timestampLen(line []byte) int {
	const fixed = "dddd-dd-ddTdd:dd:dd"
	// 64 is far beyond any real timestamp; it keeps a run of digits from
	// being scanned to the end of a long line.
	const maxLen = 64
	if len(line) < len(fixed)+1 {
		return 0
	}
	for i := 0; i < len(fixed); i++ {
		c := line[i]
		switch fixed[i] {
		case 'd':
			if c < '0' || c > '9' {
				return 0
			}
		case 'T':
			if c != 'T' && c != 't' {
				return 0
			}
		default:
			if c != fixed[i] {
				return 0
			}
		}
	}
	i := len(fixed)
	for i < len(line) && i < maxLen && isTimestampTail(line[i]) {
		i++
	}
	return i
}

func isTimestampTail(c byte) bool {
	return c >= '0' && c <= '9' || c == '.' || c == ':' || c == '+' || c == '-' || c == 'Z' || c == 'z'
}
