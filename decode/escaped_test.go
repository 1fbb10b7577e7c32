package decode

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/mirrord-exporter/mirrord-exporter/internal/loggen"
)

// escapedForm is a record r written as the content of a JSON string, as
// Docker writes r+"\n" in the "log" of a json-file line; rec is what that
// content unescapes to, without the final newline: the record Decode sees.
type escapedForm struct {
	e, rec []byte
}

// escapedForms returns ways of escaping r+"\n": encoding/json's (with and
// without HTML escaping, as Docker's encoder may do either) and a hand-made
// one, whose choices come from rnd: \u0022 for quotes, \/, \u escapes for
// whitespace, backslashes and any ASCII byte, and so on.
func escapedForms(t testing.TB, r []byte, rnd *rand.Rand) []escapedForm {
	t.Helper()
	var forms []escapedForm
	s := string(r) + "\n"
	for _, html := range []bool{true, false} {
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(html)
		if err := enc.Encode(s); err != nil {
			t.Fatal(err)
		}
		quoted := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
		var back string
		if err := json.Unmarshal(quoted, &back); err != nil {
			t.Fatal(err)
		}
		// Invalid UTF-8 comes back as U+FFFD, so the record is what it
		// unescapes to.
		forms = append(forms, escapedForm{e: quoted[1 : len(quoted)-1], rec: []byte(strings.TrimSuffix(back, "\n"))})
	}
	forms = append(forms, escapedForm{e: handEscape(s, rnd), rec: r})
	return forms
}

// handEscape escapes every byte of s in one of the ways JSON allows, chosen
// by rnd. Bytes from 0x80 up are copied, so that the escaped text
// unescapes to s exactly.
func handEscape(s string, rnd *rand.Rand) []byte {
	var out []byte
	u := func(c byte) {
		out = append(out, `\u00`...)
		out = append(out, "0123456789abcdef"[c>>4], "0123456789ABCDEF"[c&15])
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x80 && rnd.IntN(40) == 0 {
			u(c) // any ASCII byte may be a \u escape
			continue
		}
		switch c {
		case '"':
			if rnd.IntN(8) == 0 {
				u(c)
			} else {
				out = append(out, `\"`...)
			}
		case '\\':
			out = append(out, `\\`...)
		case '/':
			if rnd.IntN(2) == 0 {
				out = append(out, `\/`...)
			} else {
				out = append(out, c)
			}
		case '\n':
			out = append(out, `\n`...)
		case '\t':
			out = append(out, `\t`...)
		case '\r':
			out = append(out, `\r`...)
		case '\b':
			out = append(out, `\b`...)
		case '\f':
			out = append(out, `\f`...)
		default:
			if c < 0x20 {
				u(c)
			} else {
				out = append(out, c)
			}
		}
	}
	return out
}

// hasUEscape reports whether the string content e holds a \u escape.
func hasUEscape(e []byte) bool {
	for i := 0; i+1 < len(e); i++ {
		if e[i] == '\\' {
			if e[i+1] == 'u' {
				return true
			}
			i++
		}
	}
	return false
}

// checkNoEventInEscaped checks both judges on f: whenever one says no
// event, Decode must agree. It returns whether NoEventInEscaped said so.
func checkNoEventInEscaped(t *testing.T, d *Decoder, f escapedForm) bool {
	t.Helper()
	skip := NoEventInEscaped(f.e)
	simple := !hasUEscape(f.e) && NoEventInSimplyEscaped(f.e)
	if !skip && !simple {
		return false
	}
	var ev Event
	if ok, reason := d.Decode(f.rec, &ev); ok || reason != ReasonNone {
		t.Fatalf("NoEventInEscaped %v, NoEventInSimplyEscaped %v for %q, but Decode(%q) = %v, %q", skip, simple, f.e, f.rec, ok, reason)
	}
	return skip
}

// fuzzSeeds are the records of the FuzzDecode corpus and of loggen logs.
func fuzzSeeds(t testing.TB) [][]byte {
	t.Helper()
	var seeds [][]byte
	files, err := filepath.Glob("testdata/fuzz/*/*")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(b), "\n")[1:] {
			if arg, ok := strings.CutPrefix(line, "[]byte("); ok {
				if s, err := strconv.Unquote(strings.TrimSuffix(arg, ")")); err == nil {
					seeds = append(seeds, []byte(s))
				}
			}
		}
	}
	for seed := int64(1); seed <= 3; seed++ {
		var buf bytes.Buffer
		cfg := loggen.Config{Seed: seed, Sessions: 20, NoiseRatio: 0.9, BigLines: seed == 2, Nasty: seed != 1}
		if _, err := loggen.Generate(&buf, cfg); err != nil {
			t.Fatal(err)
		}
		seeds = append(seeds, bytes.Split(buf.Bytes(), []byte("\n"))...)
	}
	return seeds
}

// FuzzNoEventInEscaped: whenever NoEventInEscaped (or NoEventInSimplyEscaped,
// on text without \u escapes) says a record in escaped form is no event,
// Decode of the record must return (false, ReasonNone). The input is taken
// as a record, escaped in several ways, and also as escaped text itself.
func FuzzNoEventInEscaped(f *testing.F) {
	for i, s := range fuzzSeeds(f) {
		f.Add(s, uint64(i))
	}
	f.Add([]byte(`{"fields":{"message":"Session Start"}}`), uint64(0))
	f.Add([]byte(`{"message" :	"x","message":"Port Stolen"}`), uint64(0))
	labels, err := NewLabelConfig([]string{"client_id", "port"}, nil)
	if err != nil {
		f.Fatal(err)
	}
	d := New(labels)
	f.Fuzz(func(t *testing.T, data []byte, seed uint64) {
		rnd := rand.New(rand.NewPCG(seed, 1))
		for _, form := range escapedForms(t, data, rnd) {
			checkNoEventInEscaped(t, d, form)
		}
		// data as escaped text, if it is valid string content.
		if !utf8.Valid(data) {
			return
		}
		var s string
		if json.Unmarshal([]byte(`"`+string(data)+`"`), &s) != nil || !strings.HasSuffix(s, "\n") {
			return
		}
		checkNoEventInEscaped(t, d, escapedForm{e: data, rec: []byte(strings.TrimSuffix(s, "\n"))})
	})
}

// TestNoEventInEscapedRandom runs the check of FuzzNoEventInEscaped on the
// seeds and on random mutations of them that stress what escapes change:
// keys, colons, whitespace, quotes, backslashes and event messages dropped
// in at random places. It also checks that most loggen noise is judged no
// event, or the skip would be useless.
func TestNoEventInEscapedRandom(t *testing.T) {
	labels, err := NewLabelConfig(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	d := New(labels)
	rnd := rand.New(rand.NewPCG(20261124, 7))
	pieces := []string{`"message"`, `"message":`, `:`, ` `, "\t", "\n", "\r", `"`, `\`, `\\`, `\"`, `/`, `{`, `}`, `"Session Start"`, `"Port Stolen"`, `"message": "Session End"`, `"fields":{`, "\u00e9", "\xff"}
	seeds := fuzzSeeds(t)
	var judged, skipped int
	for _, seed := range seeds {
		for _, form := range escapedForms(t, seed, rnd) {
			judged++
			if checkNoEventInEscaped(t, d, form) {
				skipped++
			}
		}
		for range 20 {
			r := append([]byte(nil), seed...)
			for range 1 + rnd.IntN(4) {
				p := rnd.IntN(len(r) + 1)
				piece := pieces[rnd.IntN(len(pieces))]
				if rnd.IntN(3) == 0 && p < len(r) {
					r = append(r[:p:p], r[p+1:]...) // or drop a byte
				}
				r = append(r[:p:p], append([]byte(piece), r[p:]...)...)
			}
			for _, form := range escapedForms(t, r, rnd) {
				checkNoEventInEscaped(t, d, form)
			}
		}
	}
	if skipped < judged/2 {
		t.Errorf("only %d of %d escaped seeds judged no event", skipped, judged)
	}
}
