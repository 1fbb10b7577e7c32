package otlp

import (
	"math"
	"strconv"
	"time"
	"unicode/utf8"

	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	logspb "go.opentelemetry.io/proto/otlp/logs/v1"
)

// AppendRecord appends rec as one line of the operator's nested tracing JSON
// ({"timestamp":…,"level":…,"fields":{"message":…,…}}), so that decode stays
// the one place that knows which records are events and how lenient their
// fields are. The nested layout keeps an attribute named like a top-level
// key (target, level) among the fields. now stands in for a record without
// any time.
//
// The body is the message; a record with an empty body may carry it in a
// message attribute instead. Scalar attributes keep their JSON type; arrays,
// maps and bytes are no field of any event and are left out.
func AppendRecord(b []byte, rec *logspb.LogRecord, now time.Time) []byte {
	ns := rec.GetTimeUnixNano()
	if ns == 0 {
		ns = rec.GetObservedTimeUnixNano()
	}
	t := now
	if ns != 0 && ns <= math.MaxInt64 {
		t = time.Unix(0, int64(ns))
	}
	b = append(b, `{"timestamp":"`...)
	b = t.UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","level":`...)
	lvl := rec.GetSeverityText()
	if lvl == "" {
		lvl = "INFO"
	}
	b = appendString(b, lvl)
	b = append(b, `,"fields":{"message":`...)
	msg := rec.GetBody().GetStringValue()
	bodyIsMessage := msg != ""
	if !bodyIsMessage {
		for _, kv := range rec.GetAttributes() {
			if kv.GetKey() == "message" {
				msg = kv.GetValue().GetStringValue()
				break
			}
		}
	}
	b = appendString(b, msg)
	for _, kv := range rec.GetAttributes() {
		if kv.GetKey() == "message" {
			continue
		}
		b = appendAttribute(b, kv)
	}
	return append(b, "}}"...)
}

// appendAttribute appends ,"key":value for a scalar attribute.
func appendAttribute(b []byte, kv *commonpb.KeyValue) []byte {
	v := kv.GetValue()
	if v == nil {
		return b
	}
	start := len(b)
	b = append(b, ',')
	b = appendString(b, kv.GetKey())
	b = append(b, ':')
	switch x := v.GetValue().(type) {
	case *commonpb.AnyValue_StringValue:
		return appendString(b, x.StringValue)
	case *commonpb.AnyValue_IntValue:
		return strconv.AppendInt(b, x.IntValue, 10)
	case *commonpb.AnyValue_BoolValue:
		return strconv.AppendBool(b, x.BoolValue)
	case *commonpb.AnyValue_DoubleValue:
		if math.IsNaN(x.DoubleValue) || math.IsInf(x.DoubleValue, 0) {
			// JSON has no such numbers; a string the decoder rejects
			// where it wants a number, as it would a text log's.
			return appendString(b, strconv.FormatFloat(x.DoubleValue, 'g', -1, 64))
		}
		return strconv.AppendFloat(b, x.DoubleValue, 'g', -1, 64)
	}
	return b[:start]
}

const hex = "0123456789abcdef"

// appendString appends s as a JSON string; invalid UTF-8 becomes U+FFFD,
// as encoding/json writes it.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c < 0x20:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 {
			b = append(b, "\ufffd"...)
		} else {
			b = append(b, s[i:i+n]...)
		}
		i += n
	}
	return append(b, '"')
}
