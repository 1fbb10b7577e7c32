package unwrap

import (
	"bytes"
	"encoding/json"
	"testing"
	"unicode/utf8"

	"github.com/mirrord-exporter/mirrord-exporter/jsonstring"
)

// FuzzStreamPush feeds arbitrary lines to a Stream of any format and limit.
// Push must never panic, never return more than max bytes, and never hold a
// pending join of more than max bytes; every status and record it returns,
// joined or not, and Flush's count must be refStream's.
func FuzzStreamPush(f *testing.F) {
	seeds := []string{
		tracingLine,
		dockerLine(tracingInLog+`\n`, "stdout"),
		dockerLine(`aa`, "stdout") + "\n" + dockerLine(`bb`, "stderr") + "\n" + dockerLine(`cc\n`, "stdout"),
		dockerLine(`\ud83d\ude00\ud800\u0041\n`, "stderr"),
		`{"log":"a\`,
		`{"time":"x","attrs":{"a":[1,{"b":"]"}]},"stream":"stderr","log":"b\n"}`,
		criLine("stdout", "P", "aa") + "\n" + criLine("stdout", "P:x", "bb") + "\n" + criLine("stdout", "F", "cc\r"),
		criLine("stderr", "F", "") + "\n" + ts + " stdout F",
		"plain\r\n\r\n",
		dockerLine(`{\"a\":1}\n`, "stdout") + "\n" + dockerLine(`{\"b\"`, "stdout") + "\n" + dockerLine(`:2}\r\n`, "stdout") + "\n" + dockerLine(`{\"c\\\\n`, "stderr"),
		dockerLine(`{\"\u0061\":1}\n`, "stdout") + "\n" + dockerLine(`{\"x\":\"\\\"\"}\\\n`, "stdout") + "\n" + dockerLine(`{\"x\":\"\q\"}\n`, "stdout"),
	}
	for i, s := range seeds {
		for _, format := range []uint8{uint8(Auto), uint8(JSON), uint8(Docker), uint8(CRI)} {
			f.Add(format, uint16(4+i*3), []byte(s))
		}
	}
	f.Fuzz(func(t *testing.T, format uint8, max uint16, data []byte) {
		limit := int(max%512) + 1
		s := NewStream(Format(format%5), limit)
		ref := newRefStream(Format(format%5), limit)
		// filtered is s with a SkipRecord that turns down some of what it
		// is offered: it must behave as s, but for Skipped where s returns
		// that very record.
		filtered := NewStream(Format(format%5), limit)
		var offered []byte
		filtered.SkipRecord = func(e []byte) bool {
			offered = append(offered[:0], e...)
			return len(e)%3 != 0
		}
		for line := range bytes.SplitSeq(data, []byte("\n")) {
			checkReadLog(t, line)
			checkCheckLog(t, line)
			offered = nil
			fPayload, fSt := filtered.Push(line)
			fPayload = bytes.Clone(fPayload)
			wantPayload, wantSt := ref.push(line)
			payload, st := s.Push(line)
			if st != wantSt || string(payload) != string(wantPayload) {
				t.Fatalf("%q: %v %q, reference %v %q", line, st, payload, wantSt, wantPayload)
			}
			checkFiltered(t, line, payload, st, fPayload, fSt, offered)
			if s.Wrapper() != filtered.Wrapper() {
				t.Fatalf("%q: wrapper %v, filtered %v", line, s.Wrapper(), filtered.Wrapper())
			}
			switch st {
			case Record:
				if len(payload) > limit {
					t.Fatalf("payload of %d bytes, max %d", len(payload), limit)
				}
			case Pending, Invalid, TooLong, Skipped:
				if payload != nil {
					t.Fatalf("status %v with payload %q", st, payload)
				}
			default:
				t.Fatalf("unknown status %v", st)
			}
			if w := s.Wrapper(); w == Auto || w > CRI {
				t.Fatalf("Wrapper() = %v", w)
			}
			for _, joins := range s.joins {
				for _, j := range joins {
					if len(j.buf) > limit {
						t.Fatalf("pending join of %d bytes, max %d", len(j.buf), limit)
					}
				}
			}
		}
		n := s.Flush()
		if n < 0 || n > 4 || n != ref.flush() {
			t.Fatalf("Flush() = %d, reference %d", n, ref.flush())
		}
		if fn := filtered.Flush(); fn != n {
			t.Fatalf("Flush() = %d, filtered %d", n, fn)
		}
	})
}

// refStream is Stream written plainly, as the reference for FuzzStreamPush:
// one buffer per wrapper and output stream, parts appended, the record cut
// of its final '\r' and measured once whole, nothing returned in place and
// no fast path. It takes a line's fields from scanDocker and parseCRI, which
// FuzzDockerVsEncodingJSON and checkReadLog hold to encoding/json.
type refStream struct {
	format Format
	max    int
	joins  map[[2]int]*refJoin // by wrapper and output stream
}

type refJoin struct {
	parts    []byte
	joining  bool // parts wait for a final one
	dropping bool // past the limit: swallow parts until the final one
}

func newRefStream(f Format, max int) *refStream {
	if f > CRI {
		f = Auto
	}
	return &refStream{format: f, max: max, joins: map[[2]int]*refJoin{}}
}

func (r *refStream) push(line []byte) ([]byte, Status) {
	w := r.format
	if w == Auto {
		switch {
		case bytes.HasPrefix(line, []byte(`{"log":`)):
			w = Docker
		case len(line) > 0 && line[0] >= '0' && line[0] <= '9':
			if _, ok := parseCRI(line); ok {
				w = CRI
			} else {
				w = JSON
			}
		default:
			w = JSON
		}
	}
	switch w {
	case Docker:
		var buf []byte
		d, ok := scanDocker(line, &buf)
		if !ok || d.logBad {
			return nil, Invalid
		}
		return r.part([2]int{0, int(d.stream)}, d.log, d.final)
	case CRI:
		c, ok := parseCRI(line)
		if !ok {
			return nil, Invalid
		}
		return r.part([2]int{1, int(c.stream)}, c.text, !c.partial)
	}
	rec := bytes.TrimSuffix(line, []byte("\r"))
	if len(rec) > r.max {
		return nil, TooLong
	}
	return rec, Record
}

func (r *refStream) part(key [2]int, text []byte, final bool) ([]byte, Status) {
	j := r.joins[key]
	if j == nil {
		j = &refJoin{}
		r.joins[key] = j
	}
	if j.dropping {
		j.dropping = !final
		return nil, Pending
	}
	j.parts = append(j.parts, text...)
	if !final {
		if len(j.parts) > r.max {
			*j = refJoin{dropping: true}
			return nil, TooLong
		}
		j.joining = true
		return nil, Pending
	}
	rec := bytes.TrimSuffix(j.parts, []byte("\r"))
	*j = refJoin{}
	if len(rec) > r.max {
		return nil, TooLong
	}
	return rec, Record
}

// flush is Stream.Flush: how many records were left waiting for their end.
func (r *refStream) flush() int {
	n := 0
	for _, j := range r.joins {
		if j.joining {
			n++
		}
	}
	return n
}

// FuzzDockerVsEncodingJSON checks the json-file scanner and unescaper
// against encoding/json on single lines: whatever encoding/json accepts as a
// Docker line must be accepted with the same text. (The scanner may accept
// more: it does not validate the values of keys it ignores.)
func FuzzDockerVsEncodingJSON(f *testing.F) {
	f.Add([]byte(dockerLine(tracingInLog+`\n`, "stdout")))
	f.Add([]byte(dockerLine(`q\" bs\\ sl\/ b\b f\f n\n r\r t\t\n`, "stderr")))
	f.Add([]byte(dockerLine(`\ud83d\ude00\ud800\u0041\udc00\ud800\ud83d\ude00\n`, "stdout")))
	f.Add([]byte(`{"\u006cog":"a","str\u0065am":"std\u006fut","x":{"y":[1,"]"]}}`))
	f.Fuzz(func(t *testing.T, line []byte) {
		var buf []byte
		d, ok := scanDocker(line, &buf)
		ok = ok && !d.logBad
		text := d.log
		if d.final {
			text = append(text[:len(text):len(text)], '\n')
		}
		if !utf8.Valid(line) {
			return // encoding/json replaces invalid UTF-8; we pass it through
		}
		var m map[string]any
		if err := json.Unmarshal(line, &m); err != nil {
			return
		}
		log, isStr := m["log"].(string)
		stream, _ := m["stream"].(string)
		if !isStr || (stream != "stdout" && stream != "stderr") {
			if ok {
				t.Fatalf("accepted %q, encoding/json finds log %v stream %v", line, m["log"], m["stream"])
			}
			return
		}
		if !ok {
			t.Fatalf("rejected %q, encoding/json accepts it", line)
		}
		if string(text) != log {
			t.Fatalf("text %q, encoding/json %q", text, log)
		}
		wantStream := stdout
		if stream == "stderr" {
			wantStream = stderr
		}
		if d.stream != wantStream {
			t.Fatalf("stream %v, encoding/json %q", d.stream, stream)
		}
	})
}

// checkReadLog checks the one-pass reader of the "log" string against the
// two passes it replaced, jsonstring.End then jsonstring.Append, on b taken as the
// content of a string: same end, same validity, same text.
func checkReadLog(t *testing.T, b []byte) {
	t.Helper()
	var buf []byte
	var d dockerFields
	end, ok := readLog(b, 0, &buf, &d)
	wantEnd, _, wantOK := jsonstring.End(b, 0)
	if ok != wantOK || (ok && end != wantEnd) {
		t.Fatalf("readLog(%q) = %d, %v; jsonstring.End: %d, %v", b, end, ok, wantEnd, wantOK)
	}
	if !ok {
		return
	}
	want, good := jsonstring.Append(nil, b[:wantEnd])
	if d.logBad != !good {
		t.Fatalf("readLog(%q): logBad %v, jsonstring.Append ok %v", b, d.logBad, good)
	}
	if !good {
		return
	}
	got := append(append([]byte(nil), d.log...), "\n"[:boolInt(d.final)]...)
	if string(got) != string(want) {
		t.Fatalf("readLog(%q): text %q final %v, jsonstring.Append %q", b, d.log, d.final, want)
	}
	if d.final != (len(got) > 0 && got[len(got)-1] == '\n') {
		t.Fatalf("readLog(%q): final %v for %q", b, d.final, got)
	}
}

// checkCheckLog checks checkLog, the validating scan that does not copy,
// against readLog on b taken as the content of a string.
func checkCheckLog(t *testing.T, b []byte) {
	t.Helper()
	var buf []byte
	var d, c dockerFields
	end, ok := readLog(b, 0, &buf, &d)
	cEnd, cOK := checkLog(b, 0, &c)
	if cOK != ok || (ok && cEnd != end) {
		t.Fatalf("checkLog(%q) = %d, %v; readLog: %d, %v", b, cEnd, cOK, end, ok)
	}
	if !ok {
		return
	}
	if c.logBad != d.logBad {
		t.Fatalf("checkLog(%q): logBad %v, readLog %v", b, c.logBad, d.logBad)
	}
	if string(c.log) != string(b[:end]) {
		t.Fatalf("checkLog(%q): log %q, want %q", b, c.log, b[:end])
	}
	if c.logBad {
		return
	}
	if c.logU != hasUEscape(c.log) {
		t.Fatalf("checkLog(%q): logU %v", b, c.logU)
	}
	// final is the \n escape at the end, which readLog also sees; a
	// final \u000a only readLog does.
	wantFinal := d.final && bytes.HasSuffix(c.log, []byte(`\n`))
	if c.final != wantFinal {
		t.Fatalf("checkLog(%q): final %v, want %v", b, c.final, wantFinal)
	}
}

// checkFiltered compares what a Stream with a SkipRecord returned for line
// (fPayload, fSt, having offered the text offered, nil if none) with what
// one without returned (payload, st): the same, or Skipped for a whole
// record without \u escapes, offered as it is.
func checkFiltered(t *testing.T, line, payload []byte, st Status, fPayload []byte, fSt Status, offered []byte) {
	t.Helper()
	if fSt != Skipped {
		if fSt != st || string(fPayload) != string(payload) || (fPayload == nil) != (payload == nil) {
			t.Fatalf("%q: %v %q, unfiltered %v %q", line, fSt, fPayload, st, payload)
		}
		return
	}
	if fPayload != nil {
		t.Fatalf("%q: Skipped with payload %q", line, fPayload)
	}
	if offered == nil || hasUEscape(offered) {
		t.Fatalf("%q: Skipped, offered %q", line, offered)
	}
	text, ok := jsonstring.Append(nil, offered)
	if !ok || st != Record || len(text) == 0 || text[len(text)-1] != '\n' || string(trimCR(text[:len(text)-1])) != string(payload) {
		t.Fatalf("%q: Skipped, offered %q (%q), unfiltered %v %q", line, offered, text, st, payload)
	}
}

// hasUEscape reports whether the string content b holds a \u escape.
func hasUEscape(b []byte) bool {
	for i := 0; i+1 < len(b); i++ {
		if b[i] == '\\' {
			if b[i+1] == 'u' {
				return true
			}
			i++
		}
	}
	return false
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
