// Package decode is the only place that knows the operator's record: message
// names in both spellings, field names, lenient types, the fast path that
// rejects most lines before any JSON is decoded, and the reasons a record is
// malformed.
package decode

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"hash/maphash"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Reason says why a record was not usable. Its values are values of the
// reason label of mirrord_exporter_malformed_lines_total, whose full list
// (these and the wrapper's) belongs to the ingest package that counts them.
type Reason string

// The reasons Decode returns.
const (
	ReasonNone         Reason = ""
	ReasonNotJSON      Reason = "not_json"
	ReasonPlainText    Reason = "plain_text"
	ReasonInvalidJSON  Reason = "invalid_json"
	ReasonMissingField Reason = "missing_field"
	ReasonInvalidField Reason = "invalid_field"
)

// Reasons lists every Reason Decode returns (ReasonNone aside), so that
// self-metrics can show them at zero from the start.
func Reasons() []Reason {
	return []Reason{ReasonNotJSON, ReasonPlainText, ReasonInvalidJSON, ReasonMissingField, ReasonInvalidField}
}

// Decoder turns one log record into an Event. It is the only place that
// knows the operator's JSON: message names, field names and their lenient
// types. It keeps scratch buffers, so each input stream needs its own.
type Decoder struct {
	labels   LabelConfig
	scan     scanner
	top      []member // top-level members, for the flattened layout
	nested   []member // members of "fields"
	ts       []byte
	inFields bool
	text     []byte // a plain-text record without its colours
	strings  labelStrings
	values   []string // scratch for labels
	tuples   labelTuples
	pseudo   map[string]string // pseudonyms made, by raw value (pseudonyms.go)
	cut      []string          // fields of the event being decoded whose values were cut
	// field is the field of the last ReasonMissingField or
	// ReasonInvalidField: a byte, which every record clears without the
	// write barrier a string would take.
	field field
}

// field is a field a rejection can name.
type field uint8

const (
	noField field = iota
	fieldSessionID
	fieldPort
	fieldSessionDuration
	fieldScaleDown
	fieldActiveUsers
	fieldFields
	fieldClientCLIVersion
)

// fieldKeys are the fields' keys in the operator's records.
var fieldKeys = [...]string{
	noField:               "",
	fieldSessionID:        "session_id",
	fieldPort:             "port",
	fieldSessionDuration:  "session_duration",
	fieldScaleDown:        "scale_down",
	fieldActiveUsers:      "active_users",
	fieldFields:           "fields",
	fieldClientCLIVersion: "client_cli_version",
}

// New returns a Decoder that fills Event.Labels for the given labels.
func New(labels LabelConfig) *Decoder {
	return &Decoder{labels: labels}
}

var messageKey = []byte(`"message"`)

// Decode reads one record. It returns (true, ReasonNone) with ev filled for
// a functional event, (false, ReasonNone) for a record that is not one, and
// (false, reason) for a record that cannot be read or is an event with bad
// fields. Records that cannot be events are rejected without being parsed.
// Plain-text records (operator.jsonLog off) still yield their events; the
// others count as ReasonPlainText.
func (d *Decoder) Decode(rec []byte, ev *Event) (bool, Reason) {
	d.field = noField
	rec = bytes.TrimSpace(rec)
	if len(rec) == 0 {
		return false, ReasonNone
	}
	if rec[0] != '{' {
		if looksLikePlainTextLog(rec) {
			return d.decodeText(rec, ev)
		}
		return false, ReasonNotJSON
	}
	if rec[len(rec)-1] != '}' {
		// Cut mid-way, typically by a crash or a lost part.
		return false, ReasonInvalidJSON
	}
	if !hasEventMessage(rec) {
		return false, ReasonNone
	}
	return d.decodeCandidate(rec, ev)
}

// hasEventMessage is the fast path: it looks for a "message" key whose value
// is one of the event messages, without decoding the record. It may accept a
// record that the full decode then rejects, never the other way round.
//
// Keys are found left to right, each search resuming just after the last
// key found (as repeated bytes.Index calls would), and a key counts only if
// a string value follows it.
func hasEventMessage(rec []byte) bool {
	for from := 0; ; {
		i := indexMessageKey(rec, from)
		if i < 0 {
			return false
		}
		from = i + len(messageKey)
		switch messageValue(rec[from:]) {
		case valueEvent:
			return true
		case valueUnterminated:
			return false
		}
	}
}

// messageKeyG is the index in messageKey of its only 'g', the byte the search
// anchors on: JSON is full of quotes (every key and string starts one, so an
// anchor on '"' stops every few bytes), a 'g' is rare.
const messageKeyG = 6

// indexMessageKey returns the index of the first messageKey in rec at or
// after from, or -1.
func indexMessageKey(rec []byte, from int) int {
	return indexAnchored(rec, from, messageKey, messageKeyG)
}

// indexAnchored returns the index of the first key in rec at or after from,
// or -1, searching for key's byte at anchor and comparing around it.
func indexAnchored(rec []byte, from int, key []byte, anchor int) int {
	for p := from + anchor; p < len(rec); p++ {
		j := bytes.IndexByte(rec[p:], key[anchor])
		if j < 0 {
			return -1
		}
		p += j
		start := p - anchor
		if start+len(key) <= len(rec) && string(rec[start:start+len(key)]) == string(key) {
			return start
		}
	}
	return -1
}

// messageVerdict is what follows a "message" key.
type messageVerdict int

const (
	valueOther        messageVerdict = iota // not a string, or not an event message
	valueEvent                              // an event message, or escaped text to judge in full
	valueUnterminated                       // a string that never ends: nothing after it can match
)

// messageValue judges the text after a "message" key: `: "value"`.
func messageValue(rest []byte) messageVerdict {
	j := 0
	for j < len(rest) && isSpace(rest[j]) {
		j++
	}
	if j >= len(rest) || rest[j] != ':' {
		return valueOther
	}
	j++
	for j < len(rest) && isSpace(rest[j]) {
		j++
	}
	if j >= len(rest) || rest[j] != '"' {
		return valueOther
	}
	val := rest[j+1:]
	end := bytes.IndexByte(val, '"')
	if end < 0 {
		return valueUnterminated
	}
	if bytes.IndexByte(val[:end], '\\') >= 0 {
		// Escaped text: let the full decode unescape and judge it.
		return valueEvent
	}
	if _, ok := messageKinds[string(val[:end])]; ok {
		return valueEvent
	}
	return valueOther
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// looksLikePlainTextLog recognises tracing-subscriber's text format
// ("2026-08-17T18:15:08.583869Z  INFO target: message"), possibly coloured,
// which the operator writes when operator.jsonLog is false.
func looksLikePlainTextLog(rec []byte) bool {
	if bytes.HasPrefix(rec, []byte("\x1b[")) {
		return true
	}
	if rec[0] < '0' || rec[0] > '9' {
		return false
	}
	head := rec[:min(len(rec), 80)]
	for _, lvl := range [...]string{" INFO ", " WARN ", " DEBUG ", " ERROR ", " TRACE "} {
		if bytes.Contains(head, []byte(lvl)) {
			return true
		}
	}
	return false
}

func (d *Decoder) decodeCandidate(rec []byte, ev *Event) (bool, Reason) {
	d.scan.reset(rec)
	d.top = d.top[:0]
	d.nested = d.nested[:0]
	d.ts = nil
	ok := true
	d.inFields = false
	d.scan.object(d.claimFields, d.addTop, 0, &ok)
	if !ok || d.scanRest() {
		return false, ReasonInvalidJSON
	}

	if _, found := find(d.top, "fields"); found {
		// "fields" that is not an object (or a second one): not what any
		// tracing formatter writes, so the event's fields cannot be trusted.
		d.field = fieldFields
		return false, ReasonInvalidField
	}
	// tracing-subscriber nests the event's fields under "fields"; other
	// formatter settings flatten them to the top level.
	fields, flattened := d.nested, false
	if msg, found := find(d.nested, "message"); !found || msg.kind != kindString {
		fields, flattened = d.top, true
	}
	msg, found := find(fields, "message")
	if !found || msg.kind != kindString {
		return false, ReasonNone
	}
	kind, known := messageKinds[string(msg.val)]
	if !known {
		return false, ReasonNone
	}
	*ev = Event{Kind: kind}
	if t, err := time.Parse(time.RFC3339Nano, string(d.ts)); err == nil {
		ev.Time = t
	}
	return d.finish(ev, eventFields{members: fields, flattened: flattened})
}

// Field names the field that made the last Decode return
// ReasonMissingField or ReasonInvalidField: "session_id", "port",
// "session_duration", "scale_down", "active_users", "client_cli_version"
// (not a string), or "fields" when that is not an object. It is "" after any other result. The name is the key
// the operator writes, never a value, so it may be logged at any level.
func (d *Decoder) Field() string { return fieldKeys[d.field] }

// finish validates and types the fields of an event whose kind is known, and
// extracts its labels.
func (d *Decoder) finish(ev *Event, f eventFields) (bool, Reason) {
	d.cut = d.cut[:0]
	f.strings, f.cut = &d.strings, &d.cut
	if reason, bad := f.fill(ev); reason != ReasonNone {
		d.field = bad
		return false, reason
	}
	if ev.Kind.Functional() {
		version, ok := f.cliVersion()
		if !ok {
			d.field = fieldClientCLIVersion
			return false, ReasonInvalidField
		}
		ev.ClientCLIVersion = version
		d.values = f.labels(d.labels, d.values)
		p := d.labels.pseudonyms
		if p != nil {
			// Before the values are kept anywhere: nothing downstream
			// sees a raw value of a pseudonymized field.
			d.pseudonymizeLabels(d.values)
		}
		ev.Labels = d.tuples.get(d.values)
		// Taken from the labels when they hold them, which spares a second
		// lookup; client_user always is one (requiredLabel).
		if i := d.labels.userAt; i > 0 {
			ev.ClientUser = ev.Labels[i-1]
		} else {
			ev.ClientUser = f.text(requiredLabel)
			if p != nil && p.user {
				ev.ClientUser = d.pseudonym(ev.ClientUser)
			}
		}
		if i := d.labels.clientAt; i > 0 {
			ev.ClientID = ev.Labels[i-1]
		} else {
			ev.ClientID = f.text("client_id")
			if p != nil && p.client {
				ev.ClientID = d.pseudonym(ev.ClientID)
			}
		}
	}
	if len(d.cut) > 0 {
		// Rare (a hostile or broken record): its own slice, as the event
		// outlives the decoder's scratch.
		ev.Cut = slices.Clone(d.cut)
	}
	return true, ReasonNone
}

// scanRest reports whether anything but white space follows the object.
func (d *Decoder) scanRest() bool {
	d.scan.skipSpace()
	return d.scan.i != len(d.scan.b)
}

// claimFields reads the "fields" object into d.nested; other nested objects
// are left to the scanner to skip.
func (d *Decoder) claimFields(key []byte) bool {
	if string(key) != "fields" || d.inFields {
		return false
	}
	d.inFields = true
	ok := true
	d.scan.object(func([]byte) bool { return false }, d.addNested, 1, &ok)
	d.scan.failed = !ok
	return true
}

func (d *Decoder) addNested(m member) { d.nested = append(d.nested, m) }

func (d *Decoder) addTop(m member) {
	if string(m.key) == "timestamp" && m.kind == kindString {
		d.ts = m.val
		return
	}
	d.top = append(d.top, m)
}

func find(ms []member, key string) (member, bool) {
	for _, m := range ms {
		if string(m.key) == key {
			return m, true
		}
	}
	return member{}, false
}

// eventFields reads typed values out of an event's members.
type eventFields struct {
	members   []member
	flattened bool
	strings   *labelStrings // nil: every value is a new string
	cut       *[]string     // where the fields of values cut are noted; nil: nowhere
}

func (f *eventFields) get(key string) (member, bool) {
	if key == "target" && f.flattened {
		return f.sessionTarget()
	}
	m, ok := find(f.members, key)
	if ok && m.kind == kindNull {
		return member{}, false
	}
	return m, ok
}

// sessionTarget finds the session's target in a flattened record, where the
// top-level "target" may also be the Rust module path that logged it
// ("operator_session::controller"); mirrord targets contain a slash or are
// "targetless".
func (f *eventFields) sessionTarget() (member, bool) {
	for _, m := range f.members {
		if string(m.key) == "target" && m.kind == kindString &&
			(bytes.IndexByte(m.val, '/') >= 0 || string(m.val) == "targetless") {
			return m, true
		}
	}
	return member{}, false
}

// fill validates and types the event's fields; a rejection names its field.
func (f *eventFields) fill(ev *Event) (Reason, field) {
	switch ev.Kind {
	case SessionStart:
		return f.sessionID(ev)
	case SessionEnd:
		if r, bad := f.sessionID(ev); r != ReasonNone {
			return r, bad
		}
		m, ok := f.get("session_duration")
		if !ok {
			return ReasonNone, noField
		}
		d, good := number(m)
		if !good || d < 0 {
			return ReasonInvalidField, fieldSessionDuration
		}
		ev.Duration, ev.HasDuration = d, true
	case PortSteal, PortMirror, PortRelease:
		if r, bad := f.sessionID(ev); r != ReasonNone {
			return r, bad
		}
		m, ok := f.get("port")
		if !ok {
			return ReasonMissingField, fieldPort
		}
		p, good := portNumber(m)
		if !good {
			return ReasonInvalidField, fieldPort
		}
		ev.Port = p
		if ev.Kind == PortSteal {
			filter, ok := f.get("http_filter")
			ev.HTTPFiltered = ok && !(filter.kind == kindString && len(filter.val) == 0)
		}
	case CopyTarget:
		m, ok := f.get("scale_down")
		if !ok {
			return ReasonMissingField, fieldScaleDown
		}
		b, good := boolean(m)
		if !good {
			return ReasonInvalidField, fieldScaleDown
		}
		ev.ScaleDown = b
	case SeatLimit:
		m, ok := f.get("active_users")
		if !ok {
			return ReasonMissingField, fieldActiveUsers
		}
		n, good := number(m)
		if !good || n < 0 {
			return ReasonInvalidField, fieldActiveUsers
		}
		ev.ActiveUsers = n
	case MessageProcessing:
		ev.EventType = f.text("event_type")
		ev.Mode = f.text("mode")
		ev.QueueType = f.text("queue_type")
		if m, ok := f.get("response_status_code"); ok {
			ev.StatusClass = statusClass(m)
		}
	}
	return ReasonNone, noField
}

func (f *eventFields) sessionID(ev *Event) (Reason, field) {
	m, ok := f.get("session_id")
	if !ok || len(m.val) == 0 {
		return ReasonMissingField, fieldSessionID
	}
	if m.kind != kindString && m.kind != kindNumber {
		return ReasonInvalidField, fieldSessionID
	}
	// Not through f.strings: every session has its own id, which would
	// only crowd out the labels that repeat.
	id, cut := labelValue(m.val)
	f.noteCut("session_id", cut)
	ev.SessionID = id
	return ReasonNone, noField
}

// cliVersion returns the client_cli_version field as a label value, "" when
// absent (a CLI older than operator 3.166's header sends none); false when
// it is not a string: tracing writes the header's text as one, so a number
// or an object is a broken record.
func (f *eventFields) cliVersion() (string, bool) {
	m, ok := f.get("client_cli_version")
	if !ok {
		return "", true
	}
	if m.kind != kindString {
		return "", false
	}
	return f.value("client_cli_version", m.val), true
}

// text returns a field as a label value, "" when absent.
func (f *eventFields) text(key string) string {
	m, ok := f.get(key)
	if !ok {
		return ""
	}
	return f.value(key, m.val)
}

// value returns b as the value of the field name, noting a cut.
func (f *eventFields) value(name string, b []byte) string {
	var s string
	var cut bool
	if f.strings == nil {
		s, cut = labelValue(b)
	} else {
		s, cut = f.strings.get(b)
	}
	f.noteCut(name, cut)
	return s
}

func (f *eventFields) noteCut(name string, cut bool) {
	if cut && f.cut != nil {
		*f.cut = append(*f.cut, name)
	}
}

// labelStrings hands out the same string for a label value seen before:
// users, hosts and targets repeat from event to event, and a new string
// for each would be an allocation and garbage per label per event.
type labelStrings struct{ m map[string]string }

// maxLabelStrings bounds the table: when full it starts afresh, so that a
// stream of distinct values costs no more than without it.
const maxLabelStrings = 4096

// get returns labelValue(b); a value found in the table was not cut.
func (t *labelStrings) get(b []byte) (string, bool) {
	if s, ok := t.m[string(b)]; ok { // no allocation for the lookup
		return s, false
	}
	s, cut := labelValue(b)
	if cut || !utf8.Valid(b) {
		return s, cut // not b's own text: not a key to find it by
	}
	if t.m == nil || len(t.m) >= maxLabelStrings {
		t.m = make(map[string]string, 64)
	}
	t.m[s] = s
	return s, false
}

// labelTuples hands out the same slice for label values seen before, as
// labelStrings does for each value, from a table of fixed size that a tuple
// of the same hash takes over: an event whose user and target came before
// then costs no allocation.
type labelTuples struct {
	seed  maphash.Seed
	slots [][]string
}

// labelTupleSlots is the size of the table, a power of two. Every stream's
// decoder (each lane's too) has one, so it stays small: 24 KiB. On the
// info-level benchmark log, with 5,400 users and targets, 4096 slots left
// the peak RSS where 1024 do.
const labelTupleSlots = 1024

// hashValues hashes label values with seed; the 0xff between them never
// occurs in UTF-8, so values cannot run into each other.
func hashValues(seed maphash.Seed, values []string) uint64 {
	var h maphash.Hash
	h.SetSeed(seed)
	for _, v := range values {
		h.WriteString(v)
		h.WriteByte(0xff)
	}
	return h.Sum64()
}

// get returns a slice holding values, which the caller must not change.
func (t *labelTuples) get(values []string) []string {
	if t.slots == nil {
		t.seed, t.slots = maphash.MakeSeed(), make([][]string, labelTupleSlots)
	}
	slot := &t.slots[hashValues(t.seed, values)&(labelTupleSlots-1)]
	if *slot == nil || !slices.Equal(*slot, values) {
		*slot = slices.Clone(values)
	}
	return *slot
}

// labels returns the configured label values, in buf's array when it is
// large enough. target_type and target_name fall back to the documented
// "target" string when the record has neither.
func (f *eventFields) labels(cfg LabelConfig, buf []string) []string {
	out := slices.Grow(buf[:0], len(cfg.names))[:len(cfg.names)]
	var derivedType, derivedName string
	derived := false
	for i, name := range cfg.names {
		if name == "target_type" || name == "target_name" {
			if !derived {
				derivedType, derivedName = f.target()
				derived = true
			}
			if name == "target_type" {
				out[i] = derivedType
			} else {
				out[i] = derivedName
			}
			continue
		}
		out[i] = f.text(name)
	}
	return out
}

// target returns the session target's type and name.
func (f *eventFields) target() (string, string) {
	typ, hasType := f.get("target_type")
	name, hasName := f.get("target_name")
	if hasType || hasName {
		return f.value("target_type", typ.val), f.value("target_name", name.val)
	}
	t, ok := f.get("target")
	if !ok || len(t.val) == 0 || string(t.val) == "targetless" {
		// A targetless session has no target at all.
		return "targetless", ""
	}
	// "type/name[/container/c]": split before the values are made, so
	// that each is cut on its own and the hash of a long name is kept.
	// ('/' is never part of a UTF-8 sequence: splitting raw bytes then
	// replacing invalid ones is the same as the other way round.)
	typBytes, rest, found := bytes.Cut(t.val, []byte("/"))
	if !found {
		return f.value("target_type", typBytes), ""
	}
	nameBytes, _, _ := bytes.Cut(rest, []byte("/"))
	return f.value("target_type", typBytes), f.value("target_name", nameBytes)
}

// MaxLabelValueBytes is the longest label value (and session id) kept. No
// real user, host or target name comes near it; a value that does is
// hostile or broken and must not make every series it is in that large. A
// longer value is cut (see labelValue) so that it still stands for itself
// alone: two users sharing a long start stay two series.
const MaxLabelValueBytes = 256

// A value cut short ends with cutMark and the first cutHashHex hex digits
// of the SHA-256 of the whole value (after invalid UTF-8 became U+FFFD).
const (
	cutMark    = "…"
	cutHashHex = 8
	// cutKeep is the most of the value's start a cut value keeps.
	cutKeep = MaxLabelValueBytes - len(cutMark) - cutHashHex
)

// labelValue copies a value into a string that is valid UTF-8 (invalid bytes
// become U+FFFD) and at most MaxLabelValueBytes long, and reports whether it
// had to be cut. A longer value keeps its start, cut on a character
// boundary, followed by cutMark and a hash of the whole value: the same
// value is always cut the same way (state files keep label values across
// restarts), and values that share their first cutKeep bytes stay apart.
func labelValue(b []byte) (string, bool) {
	if utf8.Valid(b) {
		if len(b) <= MaxLabelValueBytes {
			return string(b), false
		}
		// Hashed in place, so that a huge value is never copied whole.
		return cutValue(b[:runeCut(b, cutKeep)], sha256.Sum256(b)), true
	}
	// Rare: the copy is bounded by --input.max-line-bytes.
	s := strings.ToValidUTF8(string(b), "\uFFFD")
	if len(s) <= MaxLabelValueBytes {
		return s, false
	}
	return cutValue(s[:runeCut(s, cutKeep)], sha256.Sum256([]byte(s))), true
}

// cutValue is the start kept of a value cut short, then cutMark and the
// first cutHashHex hex digits of sum, the whole value's SHA-256.
func cutValue[T string | []byte](start T, sum [sha256.Size]byte) string {
	var buf [MaxLabelValueBytes]byte
	n := copy(buf[:], start)
	n += copy(buf[n:], cutMark)
	n += hex.Encode(buf[n:], sum[:cutHashHex/2])
	return string(buf[:n])
}

// runeCut is the length of the longest prefix of valid UTF-8 b that is at
// most max bytes long and ends on a character boundary.
func runeCut[T string | []byte](b T, max int) int {
	if len(b) <= max {
		return len(b)
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(b[cut]) {
		cut--
	}
	return cut
}

// number accepts a JSON number or a numeric string: the operator's types for
// these fields are not documented.
func number(m member) (float64, bool) {
	if m.kind != kindNumber && m.kind != kindString {
		return 0, false
	}
	v, err := strconv.ParseFloat(strings.TrimSpace(string(m.val)), 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, false
	}
	return v, true
}

func portNumber(m member) (uint16, bool) {
	if m.kind != kindNumber && m.kind != kindString {
		return 0, false
	}
	p, err := strconv.ParseUint(strings.TrimSpace(string(m.val)), 10, 16)
	if err != nil {
		return 0, false
	}
	return uint16(p), true
}

func boolean(m member) (bool, bool) {
	if m.kind != kindBool && m.kind != kindString {
		return false, false
	}
	switch strings.ToLower(strings.TrimSpace(string(m.val))) {
	case "true":
		return true, true
	case "false":
		return false, true
	}
	return false, false
}

// statusClass maps an HTTP status code to "1xx".."5xx", or "other".
func statusClass(m member) string {
	code, ok := number(m)
	if !ok || code < 100 || code >= 600 || code != math.Trunc(code) {
		return "other"
	}
	return strconv.Itoa(int(code)/100) + "xx"
}
