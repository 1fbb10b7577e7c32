package decode

import (
	"bytes"
	"strconv"
	"time"
	"unicode/utf8"
)

// tracing-subscriber's text format, written when operator.jsonLog is false:
//
//	2026-08-17T18:15:08.583869Z  INFO span{a=1}: operator_session::controller: Session Start client_user="alice" port=80
//
// The message follows the last ": " of the prefix; fields follow as key=value,
// strings quoted in Rust's Debug form. ANSI colours may wrap any part.

// decodeText reads a functional event out of a plain-text record; it returns
// (false, ReasonPlainText) for every other plain-text record.
func (d *Decoder) decodeText(rec []byte, ev *Event) (bool, Reason) {
	if bytes.IndexByte(rec, 0x1b) >= 0 {
		d.text = stripANSI(d.text[:0], rec)
		rec = d.text
	}
	kind, rest, ok := textMessage(rec)
	if !ok {
		return false, ReasonPlainText
	}
	d.nested = d.nested[:0]
	for len(rest) > 0 {
		var m member
		if m, rest, ok = textField(rest); !ok {
			// The message matched but the fields do not read as fields.
			return false, ReasonPlainText
		}
		d.nested = append(d.nested, m)
	}
	*ev = Event{Kind: kind}
	if sp := bytes.IndexByte(rec, ' '); sp > 0 {
		if t, err := time.Parse(time.RFC3339Nano, string(rec[:sp])); err == nil {
			ev.Time = t
		}
	}
	return d.finish(ev, eventFields{members: d.nested})
}

// textMessage finds an event message right after a ": " and followed by the
// end of the line or its fields.
func textMessage(rec []byte) (Kind, []byte, bool) {
	for rest := rec; ; {
		i := bytes.Index(rest, []byte(": "))
		if i < 0 {
			return KindNone, nil, false
		}
		rest = rest[i+2:]
		for msg, kind := range messageKinds {
			if !bytes.HasPrefix(rest, []byte(msg)) {
				continue
			}
			after := rest[len(msg):]
			if len(after) == 0 || after[0] == ' ' {
				return kind, after, true
			}
		}
	}
}

// textField reads ` key=value`; a quoted value is unescaped.
func textField(b []byte) (member, []byte, bool) {
	b = bytes.TrimLeft(b, " ")
	if len(b) == 0 {
		return member{}, nil, true
	}
	eq := bytes.IndexByte(b, '=')
	if eq <= 0 || bytes.IndexByte(b[:eq], ' ') >= 0 {
		return member{}, nil, false
	}
	m := member{key: b[:eq], kind: kindString}
	b = b[eq+1:]
	if len(b) > 0 && b[0] == '"' {
		val, rest, ok := unquoteRust(nil, b)
		if !ok {
			return member{}, nil, false
		}
		m.val = val
		return m, rest, true
	}
	end := bytes.IndexByte(b, ' ')
	if end < 0 {
		end = len(b)
	}
	m.val = b[:end]
	return m, b[end:], true
}

// unquoteRust reads a string in Rust's Debug form: "...", with \" \\ \n \r
// \t \0 \' and \u{XXXX} escapes.
func unquoteRust(dst, b []byte) ([]byte, []byte, bool) {
	for i := 1; i < len(b); i++ {
		switch c := b[i]; c {
		case '"':
			return dst, b[i+1:], true
		case '\\':
			if i+1 >= len(b) {
				return nil, nil, false
			}
			i++
			switch e := b[i]; e {
			case 'n':
				dst = append(dst, '\n')
			case 'r':
				dst = append(dst, '\r')
			case 't':
				dst = append(dst, '\t')
			case '0':
				dst = append(dst, 0)
			case 'u':
				end := bytes.IndexByte(b[i:], '}')
				if i+1 >= len(b) || b[i+1] != '{' || end < 0 {
					return nil, nil, false
				}
				r, err := strconv.ParseUint(string(b[i+2:i+end]), 16, 32)
				if err != nil {
					return nil, nil, false
				}
				dst = utf8.AppendRune(dst, rune(r))
				i += end
			default:
				dst = append(dst, e)
			}
		default:
			dst = append(dst, c)
		}
	}
	return nil, nil, false
}

// stripANSI drops terminal escape sequences (ESC [ ... final byte).
func stripANSI(dst, b []byte) []byte {
	for i := 0; i < len(b); i++ {
		if b[i] != 0x1b {
			dst = append(dst, b[i])
			continue
		}
		if i+1 < len(b) && b[i+1] == '[' {
			i += 2
			for i < len(b) && (b[i] < 0x40 || b[i] > 0x7e) {
				i++
			}
		}
	}
	return dst
}
