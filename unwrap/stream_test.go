package unwrap

import (
	"fmt"
	"strings"
	"testing"
)

// result is what one Push is expected to return.
type result struct {
	payload string
	st      Status
}

func rec(s string) result { return result{payload: s, st: Record} }

var (
	pending = result{st: Pending}
	invalid = result{st: Invalid}
	tooLong = result{st: TooLong}
)

func (r result) String() string {
	if r.st == Record {
		return fmt.Sprintf("Record %q", r.payload)
	}
	return r.st.String()
}

// pushCase is a sequence of lines pushed into one Stream.
type pushCase struct {
	format    Format
	max       int // DefaultMaxBytes if 0
	lines     []string
	want      []result
	wantFlush int
}

func runPushCases(t *testing.T, tests map[string]pushCase) {
	t.Helper()
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if len(tc.lines) != len(tc.want) {
				t.Fatalf("bad test: %d lines, %d results", len(tc.lines), len(tc.want))
			}
			s := NewStream(tc.format, tc.max)
			for i, line := range tc.lines {
				payload, st := s.Push([]byte(line))
				got := result{payload: string(payload), st: st}
				if got != tc.want[i] {
					t.Errorf("line %d %q: got %v, want %v", i, line, got, tc.want[i])
				}
				if st != Record && payload != nil {
					t.Errorf("line %d: status %v with payload %q", i, st, payload)
				}
			}
			if got := s.Flush(); got != tc.wantFlush {
				t.Errorf("Flush() = %d, want %d", got, tc.wantFlush)
			}
		})
	}
}

const (
	ts           = "2026-08-17T18:15:08.583869123Z"
	tracingLine  = `{"timestamp":"2026-08-17T18:15:08.583869Z","level":"INFO","fields":{"message":"Session Start","session_id":"abc"},"target":"operator::session"}`
	tracingInLog = `{\"timestamp\":\"2026-08-17T18:15:08.583869Z\",\"level\":\"INFO\",\"fields\":{\"message\":\"Session Start\",\"session_id\":\"abc\"},\"target\":\"operator::session\"}`
)

// dockerLine wraps an already escaped log value as Docker writes it.
func dockerLine(escapedLog, stream string) string {
	return `{"log":"` + escapedLog + `","stream":"` + stream + `","time":"` + ts + `"}`
}

func criLine(stream, tag, text string) string {
	return ts + " " + stream + " " + tag + " " + text
}

func TestPushRaw(t *testing.T) {
	runPushCases(t, map[string]pushCase{
		"tracing json": {
			lines: []string{tracingLine},
			want:  []result{rec(tracingLine)},
		},
		"plain text": {
			lines: []string{"starting operator v3.1", "  indented", "junk {\"log\""},
			want:  []result{rec("starting operator v3.1"), rec("  indented"), rec("junk {\"log\"")},
		},
		"empty line": {
			lines: []string{""},
			want:  []result{rec("")},
		},
		"crlf stripped": {
			lines: []string{tracingLine + "\r", "\r", "a\r\r"},
			want:  []result{rec(tracingLine), rec(""), rec("a\r")},
		},
		"too long": {
			max:   10,
			lines: []string{"0123456789", "0123456789\r", "0123456789a", "ok"},
			want:  []result{rec("0123456789"), rec("0123456789"), tooLong, rec("ok")},
		},
		"docker without log first is raw in auto": {
			lines: []string{`{"stream":"stdout","log":"x\n"}`},
			want:  []result{rec(`{"stream":"stdout","log":"x\n"}`)},
		},
		"cri-like with unknown stream is raw in auto": {
			lines: []string{ts + " stdin F x", ts + " stdout X x", ts + " stdout Fx", "2026-08-17 stdout F x"},
			want:  []result{rec(ts + " stdin F x"), rec(ts + " stdout X x"), rec(ts + " stdout Fx"), rec("2026-08-17 stdout F x")},
		},
		"forced json returns cri as is": {
			format: JSON,
			lines:  []string{criLine("stdout", "P", "a"), criLine("stdout", "F", "b")},
			want:   []result{rec(criLine("stdout", "P", "a")), rec(criLine("stdout", "F", "b"))},
		},
		"forced json returns docker as is": {
			format: JSON,
			lines:  []string{dockerLine(`x`, "stdout")},
			want:   []result{rec(dockerLine(`x`, "stdout"))},
		},
	})
}

func TestPushRawSameSlice(t *testing.T) {
	s := NewStream(Auto, 0)
	line := []byte(tracingLine + "\r")
	payload, st := s.Push(line)
	if st != Record || len(payload) != len(line)-1 || &payload[0] != &line[0] {
		t.Errorf("raw line not returned in place: status %v, payload %q", st, payload)
	}
}

func TestPushDocker(t *testing.T) {
	runPushCases(t, map[string]pushCase{
		"simple": {
			lines: []string{dockerLine(`hello\n`, "stdout")},
			want:  []result{rec("hello")},
		},
		"tracing json": {
			lines: []string{dockerLine(tracingInLog+`\n`, "stderr")},
			want:  []result{rec(tracingLine)},
		},
		"all escapes": {
			lines: []string{dockerLine(`q\" bs\\ sl\/ b\b f\f n\n r\r t\t\n`, "stdout")},
			want:  []result{rec("q\" bs\\ sl/ b\b f\f n\n r\r t\t")},
		},
		"unicode escapes": {
			lines: []string{dockerLine(`\u0041\u00e9\u00E9\u20ac\u003chtml\u003e\u0026\u0000\n`, "stdout")},
			want:  []result{rec("Aéé€<html>&\x00")},
		},
		"surrogate pair": {
			lines: []string{dockerLine(`\ud83d\ude00 \uD834\uDD1E\n`, "stdout")},
			want:  []result{rec("😀 𝄞")},
		},
		"lone surrogates become U+FFFD": {
			lines: []string{
				dockerLine(`a\ud800b\n`, "stdout"),
				dockerLine(`\udc00\n`, "stdout"),
				dockerLine(`\ud800\u0041\n`, "stdout"),
				dockerLine(`\ud800\ud83d\ude00\n`, "stdout"),
				dockerLine(`\ud800\n`, "stdout"),
			},
			want: []result{rec("a\uFFFDb"), rec("\uFFFD"), rec("\uFFFDA"), rec("\uFFFD😀"), rec("\uFFFD")},
		},
		"raw utf-8 passes through": {
			lines: []string{dockerLine("héllo ✓\\n", "stdout")},
			want:  []result{rec("héllo ✓")},
		},
		"invalid escapes": {
			lines: []string{
				dockerLine(`bad \x\n`, "stdout"),
				dockerLine(`bad \u12G4\n`, "stdout"),
				dockerLine(`bad \u12`, "stdout"),
				dockerLine(`bad \ud800\u12\n`, "stdout"),
				dockerLine(`bad \'\n`, "stdout"),
			},
			want: []result{invalid, invalid, invalid, invalid, invalid},
		},
		"empty text": {
			lines: []string{dockerLine(`\n`, "stdout"), dockerLine(`\r\n`, "stdout")},
			want:  []result{rec(""), rec("")},
		},
		"crlf content": {
			lines: []string{dockerLine(`x\r\n`, "stdout"), dockerLine(`x\r\r\n`, "stdout")},
			want:  []result{rec("x"), rec("x\r")},
		},
		"crlf after the object": {
			lines: []string{dockerLine(`x\n`, "stdout") + "\r", dockerLine(`y\n`, "stdout") + " \t"},
			want:  []result{rec("x"), rec("y")},
		},
		"join three parts": {
			lines: []string{dockerLine(`aa`, "stdout"), dockerLine(`b\"b`, "stdout"), dockerLine(`cc\n`, "stdout")},
			want:  []result{pending, pending, rec(`aab"bcc`)},
		},
		"join with crlf at the end": {
			lines: []string{dockerLine(`aa`, "stdout"), dockerLine(`bb\r`, "stdout"), dockerLine(`\n`, "stdout")},
			want:  []result{pending, pending, rec("aabb")},
		},
		"join of empty parts": {
			lines: []string{dockerLine(``, "stdout"), dockerLine(`\n`, "stdout")},
			want:  []result{pending, rec("")},
		},
		"join split inside an escaped record": {
			lines: []string{dockerLine(`{\"a\":\"`, "stdout"), dockerLine(`\u00e9\"}\n`, "stdout")},
			want:  []result{pending, rec(`{"a":"é"}`)},
		},
		"interleaved streams": {
			lines: []string{
				dockerLine(`o1`, "stdout"),
				dockerLine(`e1`, "stderr"),
				dockerLine(`o2`, "stdout"),
				dockerLine(`single\n`, "stderr"),
				dockerLine(`o3\n`, "stdout"),
				dockerLine(`e2\n`, "stderr"),
			},
			want: []result{pending, pending, pending, rec("e1single"), rec("o1o2o3"), rec("e2")},
		},
		"raw json while a join is pending": {
			lines: []string{dockerLine(`aa`, "stdout"), tracingLine, dockerLine(`bb\n`, "stdout")},
			want:  []result{pending, rec(tracingLine), rec("aabb")},
		},
		"invalid line keeps the join": {
			lines: []string{dockerLine(`aa`, "stdout"), `{"log":"broken`, dockerLine(`bb\n`, "stdout")},
			want:  []result{pending, invalid, rec("aabb")},
		},
		"any key order and extra keys": {
			format: Docker,
			lines: []string{
				`{"stream":"stdout","time":"` + ts + `","log":"a\n"}`,
				`{"time":"` + ts + `","attrs":{"tag":"x}","n":[1,{"b":"]"}],"e":{}},"stream":"stderr","log":"b\n","n":-1.5e3,"t":true,"f":false,"z":null,"a":[]}`,
				` { "log" : "c\n" , "stream" : "stdout" } `,
			},
			want: []result{rec("a"), rec("b"), rec("c")},
		},
		"escaped keys and stream": {
			format: Docker,
			lines:  []string{`{"\u006cog":"a\n","str\u0065am":"std\u006fut"}`},
			want:   []result{rec("a")},
		},
		"duplicate keys: last wins": {
			format: Docker,
			lines:  []string{`{"log":"a\n","stream":"stdout","log":"b\n","stream":"bogus","stream":"stderr"}`},
			want:   []result{rec("b")},
		},
		"invalid wrappers": {
			lines: []string{
				`{"log":"abc`,
				`{"log":"abc\n","stream":"stdout"`,
				`{"log":"abc\n","stream":"stdout"}x`,
				`{"log":"abc\n"}`,
				`{"log":"abc\n","stream":"stdin"}`,
				`{"log":"abc\n","stream":1}`,
				`{"log":1,"stream":"stdout"}`,
				`{"log":"abc\n","stream":"stdout",}`,
				`{"log":"abc\n" "stream":"stdout"}`,
				`{"log":"abc\n","stream" "stdout"}`,
				"{\"log\":\"a\tb\\n\",\"stream\":\"stdout\"}",
				`{"log":"abc\n","stream":"stdout","x":}`,
				`{"log":"abc\n","stream":"stdout","x":[1,2}`,
				`{"log":"abc\n","stream":"stdout","x":"a}`,
				`{"log":"abc\n","stream":"stdout","x":{"y":"}`,
				`{"log":"abc\n","stream":"stdout",x:1}`,
				`{"log":`,
				`{"log":"a\`,
			},
			want: []result{
				invalid, invalid, invalid, invalid, invalid, invalid, invalid, invalid, invalid,
				invalid, invalid, invalid, invalid, invalid, invalid, invalid, invalid, invalid,
			},
		},
		"forced docker rejects other lines": {
			format: Docker,
			lines:  []string{tracingLine, "plain text", "", "{}", criLine("stdout", "F", "x"), `{"stream":"stdout"}`},
			want:   []result{invalid, invalid, invalid, invalid, invalid, invalid},
		},
		"too long single line": {
			max:   5,
			lines: []string{dockerLine(`12345\n`, "stdout"), dockerLine(`123456\n`, "stdout"), dockerLine(`12345\r\n`, "stdout"), dockerLine(`ok\n`, "stdout")},
			want:  []result{rec("12345"), tooLong, rec("12345"), rec("ok")},
		},
		"too long join dropped once": {
			max: 10,
			lines: []string{
				dockerLine(`aaaaaa`, "stdout"),
				dockerLine(`bbbbbb`, "stdout"), // 12 > 10
				dockerLine(`cccccc`, "stdout"),
				dockerLine(`dd\n`, "stdout"),
				dockerLine(`next\n`, "stdout"),
			},
			want: []result{pending, tooLong, pending, pending, rec("next")},
		},
		"unterminated join is flushed": {
			lines:     []string{dockerLine(`aa`, "stdout"), dockerLine(`bb`, "stderr"), dockerLine(`cc`, "stdout")},
			want:      []result{pending, pending, pending},
			wantFlush: 2,
		},
	})
}

func TestPushCRI(t *testing.T) {
	runPushCases(t, map[string]pushCase{
		"full line": {
			lines: []string{criLine("stdout", "F", tracingLine)},
			want:  []result{rec(tracingLine)},
		},
		"other timestamps": {
			lines: []string{
				"2026-08-17T18:15:08.583869123+02:00 stderr F a",
				"2026-08-17T18:15:08Z stdout F b",
				"2026-08-17T18:15:08-05:00 stdout F c",
			},
			want: []result{rec("a"), rec("b"), rec("c")},
		},
		"text keeps its spaces": {
			lines: []string{criLine("stdout", "F", " two  spaces ")},
			want:  []result{rec(" two  spaces ")},
		},
		"empty text": {
			lines: []string{ts + " stdout F ", ts + " stdout F", ts + " stdout F:x", ts + " stdout F:x "},
			want:  []result{rec(""), rec(""), rec(""), rec("")},
		},
		"more tag flags": {
			lines: []string{criLine("stdout", "P:x", "a"), criLine("stdout", "F:x:y", "b")},
			want:  []result{pending, rec("ab")},
		},
		"join three parts": {
			lines: []string{criLine("stdout", "P", "aa "), criLine("stdout", "P", "bb "), criLine("stdout", "P", ""), criLine("stdout", "F", "cc")},
			want:  []result{pending, pending, pending, rec("aa bb cc")},
		},
		"crlf": {
			lines: []string{criLine("stdout", "F", "x\r"), criLine("stdout", "P", "a\r"), criLine("stdout", "F", "b\r")},
			want:  []result{rec("x"), pending, rec("a\rb")},
		},
		"interleaved streams": {
			lines: []string{
				criLine("stdout", "P", "o1"),
				criLine("stderr", "P", "e1"),
				criLine("stderr", "F", "e2"),
				criLine("stdout", "P", "o2"),
				criLine("stderr", "F", "e3"),
				criLine("stdout", "F", "o3"),
			},
			want: []result{pending, pending, rec("e1e2"), pending, rec("e3"), rec("o1o2o3")},
		},
		"raw json while a join is pending": {
			lines: []string{criLine("stdout", "P", "aa"), tracingLine, "plain", criLine("stdout", "F", "bb")},
			want:  []result{pending, rec(tracingLine), rec("plain"), rec("aabb")},
		},
		"docker and cri joins are separate": {
			lines: []string{criLine("stdout", "P", "c1"), dockerLine(`d1`, "stdout"), criLine("stdout", "F", "c2"), dockerLine(`d2\n`, "stdout")},
			want:  []result{pending, pending, rec("c1c2"), rec("d1d2")},
		},
		"forced cri rejects other lines": {
			format: CRI,
			lines: []string{
				tracingLine,
				"",
				ts + " stdin F x",
				ts + " stdout X x",
				ts + " stdout Fx",
				ts + " stdout ",
				ts + " stdout",
				ts + "stdout F x",
				"2026-08-17 stdout F x",
				"2026-08-17T18:15:08.5Q stdout F x",
				dockerLine(`x\n`, "stdout"),
			},
			want: []result{invalid, invalid, invalid, invalid, invalid, invalid, invalid, invalid, invalid, invalid, invalid},
		},
		"forced cri invalid keeps the join": {
			format: CRI,
			lines:  []string{criLine("stdout", "P", "a"), "junk", criLine("stdout", "F", "b")},
			want:   []result{pending, invalid, rec("ab")},
		},
		"too long single line": {
			max:   5,
			lines: []string{criLine("stdout", "F", "12345"), criLine("stdout", "F", "123456"), criLine("stdout", "F", "12345\r"), criLine("stdout", "F", "ok")},
			want:  []result{rec("12345"), tooLong, rec("12345"), rec("ok")},
		},
		"too long join dropped once": {
			max: 10,
			lines: []string{
				criLine("stdout", "P", "aaaaaa"),
				criLine("stdout", "P", "bbbbbb"), // 12 > 10
				criLine("stdout", "P", "cccccc"),
				criLine("stdout", "P", "dddddd"),
				criLine("stdout", "F", "ee"),
				criLine("stdout", "F", "next"),
			},
			want: []result{pending, tooLong, pending, pending, pending, rec("next")},
		},
		"too long on the first part": {
			max:   4,
			lines: []string{criLine("stdout", "P", "12345"), criLine("stdout", "F", "x"), criLine("stdout", "P", "ab"), criLine("stdout", "F", "cd")},
			want:  []result{tooLong, pending, pending, rec("abcd")},
		},
		"too long on the final part": {
			max:   10,
			lines: []string{criLine("stdout", "P", "aaaaaa"), criLine("stdout", "F", "bbbbbb"), criLine("stdout", "F", "next")},
			want:  []result{pending, tooLong, rec("next")},
		},
		"join of exactly max bytes": {
			max:   6,
			lines: []string{criLine("stdout", "P", "aaa"), criLine("stdout", "P", "bbb"), criLine("stdout", "F", ""), criLine("stdout", "P", "aaa"), criLine("stdout", "F", "bbb\r")},
			want:  []result{pending, pending, rec("aaabbb"), pending, rec("aaabbb")},
		},
		"dropping does not disturb the other stream": {
			max: 6,
			lines: []string{
				criLine("stdout", "P", "aaaa"),
				criLine("stderr", "P", "eee"),
				criLine("stdout", "P", "bbbb"),
				criLine("stderr", "F", "fff"),
				criLine("stdout", "F", "c"),
				criLine("stdout", "F", "next"),
			},
			want: []result{pending, pending, tooLong, rec("eeefff"), pending, rec("next")},
		},
		"dropped record is not counted by flush": {
			max:   4,
			lines: []string{criLine("stdout", "P", "12345"), criLine("stdout", "P", "6")},
			want:  []result{tooLong, pending},
		},
		"unterminated joins are flushed": {
			lines:     []string{criLine("stdout", "P", "a"), criLine("stderr", "P", "b"), dockerLine(`c`, "stdout"), criLine("stdout", "P", "d")},
			want:      []result{pending, pending, pending, pending},
			wantFlush: 3,
		},
	})
}

func TestFlushResets(t *testing.T) {
	s := NewStream(Auto, 0)
	s.Push([]byte(criLine("stdout", "P", "old")))
	s.Push([]byte(dockerLine(`old`, "stderr")))
	if got := s.Flush(); got != 2 {
		t.Fatalf("Flush() = %d, want 2", got)
	}
	if got := s.Flush(); got != 0 {
		t.Errorf("second Flush() = %d, want 0", got)
	}
	if payload, st := s.Push([]byte(criLine("stdout", "F", "new"))); st != Record || string(payload) != "new" {
		t.Errorf("after Flush: got %v %q, want Record \"new\"", st, payload)
	}
	if payload, st := s.Push([]byte(dockerLine(`new\n`, "stderr"))); st != Record || string(payload) != "new" {
		t.Errorf("after Flush: got %v %q, want Record \"new\"", st, payload)
	}
}

func TestWrapper(t *testing.T) {
	tests := map[string]struct {
		format Format
		lines  []string
		want   []Format
	}{
		"auto": {
			format: Auto,
			lines:  []string{tracingLine, dockerLine(`x\n`, "stdout"), criLine("stdout", "F", "x"), `{"log":"broken`, "text"},
			want:   []Format{JSON, Docker, CRI, Docker, JSON},
		},
		"forced": {
			format: CRI,
			lines:  []string{tracingLine, criLine("stdout", "F", "x")},
			want:   []Format{CRI, CRI},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			s := NewStream(tc.format, 0)
			for i, line := range tc.lines {
				s.Push([]byte(line))
				if got := s.Wrapper(); got != tc.want[i] {
					t.Errorf("line %d: Wrapper() = %v, want %v", i, got, tc.want[i])
				}
			}
		})
	}
}

func TestNewStreamDefaults(t *testing.T) {
	tests := map[string]struct {
		format      Format
		max         int
		wantFormat  Format
		wantWrapper Format
		wantMax     int
	}{
		"auto":           {format: Auto, wantFormat: Auto, wantWrapper: JSON, wantMax: DefaultMaxBytes},
		"forced":         {format: Docker, max: 7, wantFormat: Docker, wantWrapper: Docker, wantMax: 7},
		"negative max":   {format: CRI, max: -1, wantFormat: CRI, wantWrapper: CRI, wantMax: DefaultMaxBytes},
		"unknown format": {format: Format(9), wantFormat: Auto, wantWrapper: JSON, wantMax: DefaultMaxBytes},
		"negative fmt":   {format: Format(-1), wantFormat: Auto, wantWrapper: JSON, wantMax: DefaultMaxBytes},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			s := NewStream(tc.format, tc.max)
			if s.format != tc.wantFormat || s.Wrapper() != tc.wantWrapper || s.max != tc.wantMax {
				t.Errorf("got format %v wrapper %v max %d, want %v %v %d",
					s.format, s.Wrapper(), s.max, tc.wantFormat, tc.wantWrapper, tc.wantMax)
			}
		})
	}
}

// TestPendingMemoryBounded checks that a never ending split record does not
// hold more than max bytes.
func TestPendingMemoryBounded(t *testing.T) {
	const max = 1000
	s := NewStream(CRI, max)
	part := []byte(criLine("stdout", "P", strings.Repeat("x", 99)))
	tooLongs := 0
	for range 10000 {
		if _, st := s.Push(part); st == TooLong {
			tooLongs++
		}
		if n := len(s.joins[1][stdout].buf); n > max {
			t.Fatalf("pending join holds %d bytes, max %d", n, max)
		}
	}
	if tooLongs != 1 {
		t.Errorf("got %d TooLong, want 1", tooLongs)
	}
	if got := s.Flush(); got != 0 {
		t.Errorf("Flush() = %d, want 0", got)
	}
}

func TestSkipRecord(t *testing.T) {
	skipAll := func([]byte) bool { return true }
	for name, tc := range map[string]struct {
		max    int
		before []string
		line   string
		want   Status
		offer  string // what SkipRecord saw, if Skipped
	}{
		"whole record":      {line: dockerLine(`{\"a\":\"b\"}\n`, "stdout"), want: Skipped, offer: `{\"a\":\"b\"}\n`},
		"no final newline":  {line: dockerLine(`{\"a\"`, "stdout"), want: Pending},
		"escaped backslash": {line: dockerLine(`{\"a\"}\\n`, "stdout"), want: Pending},
		"u escape":          {line: dockerLine(`{\"\u0061\"}\n`, "stdout"), want: Record},
		"invalid escape":    {line: dockerLine(`{\"\q\"}\n`, "stdout"), want: Invalid},
		"invalid u escape":  {line: dockerLine(`{\"\u00g1\"}\n`, "stdout"), want: Invalid},
		"missing stream":    {line: `{"log":"{}\n","time":"` + ts + `"}`, want: Invalid},
		"raw control char":  {line: "{\"log\":\"{\x01}\\n\",\"stream\":\"stdout\"}", want: Invalid},
		"join pending":      {before: []string{dockerLine(`{\"a\"`, "stdout")}, line: dockerLine(`:1}\n`, "stdout"), want: Record},
		"other stream's join": {
			before: []string{dockerLine(`{\"a\"`, "stderr")},
			line:   dockerLine(`{}\n`, "stdout"), want: Skipped, offer: `{}\n`,
		},
		// The filter sees the text from the first "log" to the \n near the
		// end, which is not the "log" that counts.
		"two logs":           {line: `{"log":"{\"a\":1}\n","stream":"stdout","log":"{}\n","time":"` + ts + `"}`, want: Record},
		"log not at the end": {line: `{"log":"{}\n","time":"` + ts + `","x":"` + strings.Repeat("x", 64) + `","stream":"stdout"}`, want: Record},
		// The line's end is as Docker writes it, but the "log" ends earlier.
		"earlier key ending in \\n": {line: `{"log":"{}\n","x":"{}\n","stream":"stdout","time":"` + ts + `"}`, want: Record},
		// Not as Docker writes it, yet valid: the full scan skips it.
		"escaped time":     {line: `{"log":"{\"a\":1}\n","stream":"stderr","time":"\u0032` + ts[5:] + `"}`, want: Skipped, offer: `{\"a\":1}\n`},
		"space at the end": {line: dockerLine(`{}\n`, "stderr") + " ", want: Skipped, offer: `{}\n`},
		"bad stream":       {line: dockerLine(`{}\n`, "stdin"), want: Invalid},
		"over the limit":   {max: 3, line: dockerLine(`{\"\"}\n`, "stdout"), want: TooLong},
		// Escaped, 8 bytes less the \n: not offered, since only the
		// unescaped record tells whether it is within the limit.
		"within the limit unescaped": {max: 5, line: dockerLine(`{\"\"}\n`, "stdout"), want: Record},
		"at the limit escaped":       {max: 6, line: dockerLine(`{\"\"}\n`, "stdout"), want: Skipped, offer: `{\"\"}\n`},
		"raw line":                   {line: `{"a":1}`, want: Record},
		"cri line":                   {line: criLine("stdout", "F", `{"a":1}`), want: Record},
	} {
		t.Run(name, func(t *testing.T) {
			s := NewStream(Auto, tc.max)
			var offered string
			s.SkipRecord = func(e []byte) bool {
				offered = string(e)
				return skipAll(e)
			}
			for _, l := range tc.before {
				s.Push([]byte(l))
			}
			offered = ""
			payload, st := s.Push([]byte(tc.line))
			if st != tc.want || (st == Skipped && offered != tc.offer) {
				t.Fatalf("got %v (%q), offered %q; want %v, offered %q", st, payload, offered, tc.want, tc.offer)
			}
			if st == Skipped && payload != nil {
				t.Fatalf("Skipped with payload %q", payload)
			}
		})
	}
}

func TestSkipRecordZeroAllocs(t *testing.T) {
	s := NewStream(Docker, 0)
	// Skips the first line, offers the second but keeps it.
	s.SkipRecord = func(e []byte) bool { return len(e) == len(tracingInLog)+2 }
	skipped := []byte(dockerLine(tracingInLog+`\n`, "stdout"))
	kept := []byte(dockerLine(tracingInLog+` \n`, "stdout"))
	if _, st := s.Push(skipped); st != Skipped {
		t.Fatalf("status %v, want Skipped", st)
	}
	if _, st := s.Push(kept); st != Record {
		t.Fatalf("status %v, want Record", st)
	}
	if allocs := testing.AllocsPerRun(1000, func() {
		s.Push(skipped)
		s.Push(kept)
	}); allocs != 0 {
		t.Errorf("%v allocations per pair of lines, want 0", allocs)
	}
}

// Idle is true while no record is being joined; EndsRecord guesses from
// the wrapper whether a line ends its record.
func TestIdleAndEndsRecord(t *testing.T) {
	const ts = "2026-08-17T10:00:00.000000000Z "
	for _, tc := range []struct {
		format Format
		line   string
		ends   bool // EndsRecord
		idle   bool // Idle after pushing line to a new Stream
	}{
		{JSON, `{"fields":{"message":"x"}}`, true, true},
		{Auto, `not json at all`, true, true},
		{CRI, ts + `stdout F {"a":1}`, true, true},
		{CRI, ts + `stdout P {"a":`, false, false},
		{Auto, ts + `stderr P {"a":`, false, false},
		{CRI, `broken cri`, true, true},
		{Docker, `{"log":"{\"a\":1}\n","stream":"stdout","time":"2026-08-17T10:00:00.000000000Z"}`, true, true},
		{Auto, `{"log":"{\"a\":","stream":"stdout","time":"2026-08-17T10:00:00.000000000Z"}`, false, false},
		{Docker, `{"log":"{\"a\":","stream":"stderr","time":"2026-08-17T10:00:00.000000000Z"}`, false, false},
	} {
		if got := EndsRecord(tc.format, []byte(tc.line)); got != tc.ends {
			t.Errorf("EndsRecord(%v, %s) = %v, want %v", tc.format, tc.line, got, tc.ends)
		}
		s := NewStream(tc.format, 0)
		if !s.Idle() {
			t.Fatal("a new Stream is not idle")
		}
		s.Push([]byte(tc.line))
		if got := s.Idle(); got != tc.idle {
			t.Errorf("Idle after %v %s = %v, want %v", tc.format, tc.line, got, tc.idle)
		}
	}
}
