package loggen

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func configs() map[string]Config {
	return map[string]Config{
		"empty":           {Seed: 1},
		"one session":     {Seed: 2, Sessions: 1, NoiseRatio: 0.6},
		"quiet":           {Seed: 3, Sessions: 40},
		"info":            {Seed: 4, Sessions: 120, NoiseRatio: 0.6, Nasty: true},
		"debug big":       {Seed: 5, Sessions: 200, NoiseRatio: 0.95, BigLines: true},
		"everything":      {Seed: 6, Sessions: 300, NoiseRatio: 0.8, BigLines: true, Nasty: true},
		"nasty no noise":  {Seed: 7, Sessions: 30, BigLines: true, Nasty: true, Span: 10 * time.Minute},
		"nasty only":      {Seed: 8, Nasty: true, BigLines: true},
		"short span":      {Seed: 9, Sessions: 50, NoiseRatio: 0.5, Nasty: true, Span: 2 * time.Second},
		"negative seed":   {Seed: -77, Sessions: 60, NoiseRatio: 0.9, Nasty: true, BigLines: true, Span: 6 * time.Hour},
		"another instant": {Seed: 10, Sessions: 20, NoiseRatio: 0.6, Start: time.Date(2025, 12, 31, 23, 59, 59, 999999000, time.UTC)},
	}
}

// TestRereadMatchesTruth is the main guard: for every configuration and
// wrapper, an independent reading of the bytes gives the generator's truth.
func TestRereadMatchesTruth(t *testing.T) {
	for name, cfg := range configs() {
		for _, w := range []Wrapper{Raw, Docker, CRI} {
			t.Run(name+"/"+w.String(), func(t *testing.T) {
				cfg.Wrapper = w
				log, want := generate(t, cfg)
				got := reread(t, log, w)
				if d := diffTruth(want, got); len(d) > 0 {
					t.Errorf("re-reading the log disagrees with the truth:\n%s", strings.Join(d, "\n"))
				}
			})
		}
	}
}

func TestDeterministic(t *testing.T) {
	cfg := Config{Seed: 42, Sessions: 100, NoiseRatio: 0.9, BigLines: true, Nasty: true, Wrapper: Docker}
	a, ta := generate(t, cfg)
	b, tb := generate(t, cfg)
	if !bytes.Equal(a, b) || !reflect.DeepEqual(ta, tb) {
		t.Fatal("the same config gave different logs")
	}
	cfg.Seed++
	if c, _ := generate(t, cfg); bytes.Equal(a, c) {
		t.Fatal("another seed gave the same log")
	}
}

// TestWrappersAgree: the wrapper changes how records are stored, never
// which records there are.
func TestWrappersAgree(t *testing.T) {
	cfg := Config{Seed: 11, Sessions: 150, NoiseRatio: 0.9, BigLines: true, Nasty: true}
	_, raw := generate(t, cfg)
	if raw.Lines != raw.Records {
		t.Errorf("raw: %d lines for %d records", raw.Lines, raw.Records)
	}
	for _, w := range []Wrapper{Docker, CRI} {
		cfg.Wrapper = w
		_, got := generate(t, cfg)
		if got.Lines <= raw.Lines {
			t.Errorf("%s: %d lines, want more than raw's %d (split records)", w, got.Lines, raw.Lines)
		}
		got.Lines = raw.Lines
		if d := diffTruth(raw, got); len(d) > 0 {
			t.Errorf("%s truth differs from raw:\n%s", w, strings.Join(d, "\n"))
		}
	}
}

// TestTruthConsistent checks the truth against itself: every counter family
// sums to its event count, gauges are within bounds.
func TestTruthConsistent(t *testing.T) {
	for name, cfg := range configs() {
		t.Run(name, func(t *testing.T) {
			_, tr := generate(t, cfg)
			sum := func(prefix string) float64 {
				var s float64
				for k, v := range tr.Series {
					if strings.HasPrefix(k, prefix+"{") {
						s += v
					}
				}
				return s
			}
			for family, event := range map[string]string{
				mStarted: "session_start", mEnded: "session_end", mStolen: "port_steal", mMirrored: "port_mirror",
				mReleased: "port_release", mCopied: "copy_target", mMessages: "message_processing",
			} {
				if got, want := sum(family), tr.Events[event]; got != want {
					t.Errorf("%s sums to %v, events{%s} = %v", family, got, event, want)
				}
			}
			if got, want := tr.Series[mSeatReached], tr.Events["seat_limit"]; got != want {
				t.Errorf("%s = %v, events = %v", mSeatReached, got, want)
			}
			if sum(mDuration+"_count") > tr.Events["session_end"] {
				t.Errorf("more durations observed than Ends")
			}
			if a := sum(mActive); a > tr.Events["session_start"] {
				t.Errorf("%v active sessions from %v Starts", a, tr.Events["session_start"])
			}
			for k, v := range tr.Series {
				if v < 0 {
					t.Errorf("%s = %v", k, v)
				}
			}
			checkBuckets(t, tr)
			for r := range tr.Malformed {
				if r != "not_json" && r != "invalid_json" && r != "missing_field" && r != "invalid_field" {
					t.Errorf("unknown malformed reason %q", r)
				}
			}
			if cfg.Sessions > 0 && len(tr.Events) != 8 {
				t.Errorf("events that occur: %v, want all eight", slices.Sorted(maps.Keys(tr.Events)))
			}
		})
	}
}

// TestAllEventsOccur: even one session gives every event, so a truth never
// has to say whether an exporter shows an event it never saw.
func TestAllEventsOccur(t *testing.T) {
	for seed := range int64(100) {
		_, tr := generate(t, Config{Seed: seed, Sessions: 1})
		if len(tr.Events) != 8 {
			t.Fatalf("seed %d: events %v", seed, slices.Sorted(maps.Keys(tr.Events)))
		}
	}
}

// TestNastyParts checks that Nasty and BigLines produce every part they
// promise, so the re-reading test exercises them.
func TestNastyParts(t *testing.T) {
	cfg := Config{Seed: 12, Sessions: 100, NoiseRatio: 0.9, BigLines: true, Nasty: true, Wrapper: Docker}
	log, tr := generate(t, cfg)
	for _, r := range []string{"not_json", "invalid_json", "missing_field", "invalid_field"} {
		if tr.Malformed[r] == 0 {
			t.Errorf("no malformed %s", r)
		}
	}
	recs, _ := unwrap(t, log, Docker)
	var blank, big, bigFunctional, stderrBetween, nearMiss, flat, strNum, spell, orphanEnd, repeated int
	started := map[string]int{}
	ended := map[string]bool{}
	lines := strings.Split(string(log), "\n")
	for i := 1; i+1 < len(lines); i++ {
		if strings.Contains(lines[i], `"stream":"stderr"`) &&
			strings.Contains(lines[i-1], `"stream":"stdout"`) && !strings.Contains(lines[i-1], `\n","stream"`) {
			stderrBetween++
		}
	}
	for _, r := range recs {
		switch {
		case r.text == "":
			blank++
			continue
		case len(r.text) > partMax:
			big++
			if strings.Contains(r.text, `"message":"Port St`) || strings.Contains(r.text, `"message":"Session Start`) {
				bigFunctional++
			}
		}
		var m map[string]any
		if json.Unmarshal([]byte(r.text), &m) != nil {
			continue
		}
		f, ok := m["fields"].(map[string]any)
		if !ok {
			f = m
			flat++
		}
		msg, _ := f["message"].(string)
		sid, _ := f["session_id"].(string)
		if slices.Contains(nearMissMessages(), msg) {
			nearMiss++
		}
		switch msg {
		case "Session Started", "Port Stolen", "Port Released":
			spell++
		}
		switch msg {
		case "Session Start", "Session Started":
			started[sid]++
			if started[sid] == 2 {
				repeated++
			}
		case "Session End", "Session Ended":
			if started[sid] == 0 && !ended[sid] && sid != "" {
				orphanEnd++
			}
			ended[sid] = true
		}
		if _, ok := f["port"].(string); ok {
			strNum++
		}
	}
	for what, n := range map[string]int{
		"blank records": blank, "big records": big, "big functional records": bigFunctional,
		"stderr lines between parts": stderrBetween, "near-miss messages": nearMiss, "flattened records": flat,
		"ports as strings": strNum, "docs spellings": spell, "Ends without a Start": orphanEnd, "repeated Starts": repeated,
	} {
		if n == 0 {
			t.Errorf("no %s", what)
		}
	}
}

func TestNoiseRatio(t *testing.T) {
	for _, r := range []float64{0, 0.6, 0.95} {
		_, tr := generate(t, Config{Seed: 13, Sessions: 200, NoiseRatio: r})
		var functional float64
		for _, v := range tr.Events {
			functional += v
		}
		functional += tr.Malformed["missing_field"] + tr.Malformed["invalid_field"]
		got := 1 - functional/float64(tr.Records)
		if got < r-0.01 || got > r+0.01 {
			t.Errorf("noise ratio %v gave %.3f", r, got)
		}
	}
}

// TestTimestamps: record timestamps strictly increase, in tracing's format,
// and the log covers about the span.
func TestTimestamps(t *testing.T) {
	cfg := Config{Seed: 14, Sessions: 200, NoiseRatio: 0.8, Nasty: true, Span: 2 * time.Hour}
	log, _ := generate(t, cfg)
	var first, last time.Time
	for i, line := range strings.Split(strings.TrimSpace(string(log)), "\n") {
		var m struct{ Timestamp string }
		if json.Unmarshal([]byte(line), &m) != nil || m.Timestamp == "" {
			continue
		}
		if len(m.Timestamp) != len("2026-08-17T18:15:08.583869Z") || !strings.HasSuffix(m.Timestamp, "Z") {
			t.Fatalf("line %d: timestamp %q", i+1, m.Timestamp)
		}
		ts, err := time.Parse(time.RFC3339Nano, m.Timestamp)
		if err != nil {
			t.Fatal(err)
		}
		if !ts.After(last) {
			t.Fatalf("line %d: timestamp %s after %s", i+1, m.Timestamp, last)
		}
		if first.IsZero() {
			first = ts
		}
		last = ts
	}
	if d := last.Sub(first); d < 100*time.Minute || d > 140*time.Minute {
		t.Errorf("log covers %s, want about 2h", d)
	}
}

func TestGenerateRejects(t *testing.T) {
	for name, cfg := range map[string]Config{
		"negative sessions": {Sessions: -1},
		"noise 1":           {NoiseRatio: 1},
		"noise NaN":         {NoiseRatio: math.NaN()},
		"wrapper":           {Wrapper: 7},
		"span":              {Span: -time.Second},
	} {
		if _, err := Generate(&bytes.Buffer{}, cfg); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestParseWrapper(t *testing.T) {
	for _, w := range []Wrapper{Raw, Docker, CRI} {
		if got, err := ParseWrapper(w.String()); err != nil || got != w {
			t.Errorf("ParseWrapper(%q) = %v, %v", w.String(), got, err)
		}
	}
	if _, err := ParseWrapper("json"); err == nil {
		t.Error("ParseWrapper(json): no error")
	}
}

func TestSeriesKey(t *testing.T) {
	for name, tc := range map[string]struct {
		labels map[string]string
		want   string
	}{
		"no labels":  {nil, `m`},
		"sorted":     {map[string]string{"b": "2", "a": "1"}, `m{a="1",b="2"}`},
		"empty":      {map[string]string{"a": ""}, `m{a=""}`},
		"escaped":    {map[string]string{"u": "CORP\\dave \"x\"\nz"}, `m{u="CORP\\dave \"x\"\nz"}`},
		"non-ascii":  {map[string]string{"u": "zoë 田中"}, `m{u="zoë 田中"}`},
		"empty map":  {map[string]string{}, `m`},
		"two quotes": {map[string]string{"x": `""`}, `m{x="\"\""}`},
	} {
		if got := SeriesKey("m", tc.labels); got != tc.want {
			t.Errorf("%s: SeriesKey = %s, want %s", name, got, tc.want)
		}
	}
}

func TestAppendJSONString(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	alphabet := []string{"a", "\"", "\\", "\n", "\t", "\r", "\b", "\f", "\x00", "\x1f", "\x7f", "<", "&", "é", "田", "\u2028", "\u2029", "\xff", "\xe2\x80", "🚨", " "}
	cases := []string{"", "plain", `C:\temp "x"`}
	for range 2000 {
		var b strings.Builder
		for range rng.IntN(12) {
			b.WriteString(alphabet[rng.IntN(len(alphabet))])
		}
		cases = append(cases, b.String())
	}
	for _, s := range cases {
		checkJSONString(t, s)
	}
}

func FuzzAppendJSONString(f *testing.F) {
	f.Add("plain")
	f.Add("\x00\"\\\u2028\xff")
	f.Fuzz(checkJSONString)
}

func checkJSONString(t *testing.T, s string) {
	var want bytes.Buffer
	enc := json.NewEncoder(&want)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(s); err != nil {
		t.Fatal(err)
	}
	if got := appendJSONString(nil, s); string(got) != strings.TrimSuffix(want.String(), "\n") {
		t.Errorf("appendJSONString(%q) = %s, want %s", s, got, want.String())
	}
	if got := appendJSONString(nil, []byte(s)); string(got) != strings.TrimSuffix(want.String(), "\n") {
		t.Errorf("appendJSONString([]byte(%q)) = %s", s, got)
	}
}

// TestDockerSplitsOnRunes: a multi-byte rune straddling 16 KiB stays whole
// in the Docker wrapper (CRI may cut it, as the kubelet does).
func TestDockerSplitsOnRunes(t *testing.T) {
	for _, pad := range []int{partMax - 1, partMax - 2, partMax - 3, partMax, partMax + 1} {
		rec := []byte(strings.Repeat("x", pad) + "田中 zoë" + strings.Repeat("y", partMax))
		for _, w := range []Wrapper{Docker, CRI} {
			var buf bytes.Buffer
			s := newSink(bufioWriter(&buf), w, 1)
			s.record(rec, false, 0, [][]byte{[]byte("panic")})
			s.w.Flush()
			recs, _ := unwrap(t, buf.Bytes(), w)
			if len(recs) != 2 || recs[1].text != string(rec) || recs[0].text != "panic" || !recs[0].stderr {
				t.Fatalf("%s, pad %d: records do not join back", w, pad)
			}
			if w == Docker {
				for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
					var d struct{ Log string }
					json.Unmarshal([]byte(line), &d)
					if !utf8.ValidString(d.Log) {
						t.Fatalf("pad %d: a part with a split rune", pad)
					}
				}
			}
		}
	}
}

// TestBlankAndExactSizes covers the edges of splitting.
func TestBlankAndExactSizes(t *testing.T) {
	for _, n := range []int{0, 1, partMax - 1, partMax, partMax + 1, 2 * partMax, 3*partMax - 1} {
		rec := []byte(strings.Repeat("z", n))
		for _, w := range []Wrapper{Raw, Docker, CRI} {
			var buf bytes.Buffer
			s := newSink(bufioWriter(&buf), w, 1)
			s.record(rec, false, 0, nil)
			s.w.Flush()
			recs, lines := unwrap(t, buf.Bytes(), w)
			if len(recs) != 1 || recs[0].text != string(rec) || lines != s.lines {
				t.Fatalf("%s, %d bytes: got %d records, %d lines (sink says %d)", w, n, len(recs), lines, s.lines)
			}
		}
	}
}

func TestDiff(t *testing.T) {
	_, tr := generate(t, Config{Seed: 15, Sessions: 30, NoiseRatio: 0.5, Nasty: true})
	expo := exposition(tr)
	if d, err := tr.Diff(strings.NewReader(expo)); err != nil || len(d) > 0 {
		t.Fatalf("Diff of the truth's own exposition: %v %v", err, d)
	}
	// An exporter may initialise its self-metrics' label values at 0.
	if d, _ := tr.Diff(strings.NewReader(expo + "mirrord_exporter_malformed_lines_total{reason=\"too_long\"} 0\n")); len(d) > 0 {
		t.Errorf("a zero self-metric was reported: %v", d)
	}
	spoiled := strings.Replace(expo, "\nmirrord_seat_limit_reached_total ", "\nmirrord_seat_limit_reached_total 1", 1)
	spoiled += "mirrord_sessions_active{client_name=\"x\",client_user=\"x\",target_name=\"\",target_namespace=\"\",target_type=\"targetless\"} 0\n"
	var started string
	for k := range tr.Series {
		if strings.HasPrefix(k, mStarted) {
			started = k
			break
		}
	}
	spoiled = strings.Replace(spoiled, started+" ", "# "+started+" ", 1)
	d, err := tr.Diff(strings.NewReader(spoiled))
	if err != nil || len(d) != 3 {
		t.Fatalf("Diff of a spoiled exposition: %v\n%s", err, strings.Join(d, "\n"))
	}
	// A classic bucket off, count and sum right, is a difference too.
	var bucket string
	for k := range tr.Series {
		if strings.HasPrefix(k, mDuration+"_bucket") && !strings.Contains(k, `le="+Inf"`) {
			bucket = k
			break
		}
	}
	if bucket == "" {
		t.Fatal("no duration bucket in the truth")
	}
	off := strings.Replace(expo, "\n"+bucket+" ", "\n"+bucket+" 1", 1)
	if d, err := tr.Diff(strings.NewReader(off)); err != nil || len(d) != 1 || !strings.Contains(d[0], "_bucket") {
		t.Fatalf("Diff of an exposition with a bucket off: %v\n%s", err, strings.Join(d, "\n"))
	}
}

// checkBuckets checks every duration histogram of tr: its classic buckets
// are all there, cumulative, and the +Inf one holds its count.
func checkBuckets(t *testing.T, tr Truth) {
	t.Helper()
	for k, count := range tr.Series {
		rest, ok := strings.CutPrefix(k, mDuration+"_count")
		if !ok {
			continue
		}
		labels := parseLabels(rest)
		if SeriesKey(mDuration+"_count", labels) != k {
			t.Fatalf("labels of %s read back as %v", k, labels)
		}
		prev := 0.0
		for _, b := range append(slices.Clone(durationBuckets), math.Inf(1)) {
			labels["le"] = bucketLabel(b)
			v, ok := tr.Series[SeriesKey(mDuration+"_bucket", labels)]
			if !ok || v < prev {
				t.Errorf("%s: bucket le=%s = %v (present %v), previous %v", k, labels["le"], v, ok, prev)
			}
			prev = v
		}
		if prev != count {
			t.Errorf("%s = %v, +Inf bucket %v", k, count, prev)
		}
	}
}

// parseLabels reads back the labels SeriesKey wrote: {a="x",b="y"}.
func parseLabels(s string) map[string]string {
	labels := map[string]string{}
	s = strings.TrimSuffix(strings.TrimPrefix(s, "{"), "}")
	for s != "" {
		name, rest, _ := strings.Cut(s, `="`)
		var v strings.Builder
		i := 0
		for ; i < len(rest) && rest[i] != '"'; i++ {
			c := rest[i]
			if c == '\\' && i+1 < len(rest) {
				i++
				if c = rest[i]; c == 'n' {
					c = '\n'
				}
			}
			v.WriteByte(c)
		}
		labels[name] = v.String()
		s = strings.TrimPrefix(rest[min(i+1, len(rest)):], ",")
	}
	return labels
}

// exposition writes a truth as the text format, histograms as a real
// histogram family.
func exposition(tr Truth) string {
	var b strings.Builder
	hist := map[string]bool{}
	families := map[string][]string{}
	for k := range tr.Series {
		if rest, ok := strings.CutPrefix(k, mDuration+"_count"); ok {
			hist[rest] = true
			continue
		}
		if strings.HasPrefix(k, mDuration+"_sum") || strings.HasPrefix(k, mDuration+"_bucket") {
			continue
		}
		name, _, _ := strings.Cut(k, "{")
		families[name] = append(families[name], k)
	}
	for name, keys := range families {
		fmt.Fprintf(&b, "# TYPE %s gauge\n", name)
		for _, k := range keys {
			fmt.Fprintf(&b, "%s %v\n", k, tr.Series[k])
		}
	}
	b.WriteString("# TYPE " + mDuration + " histogram\n")
	for k, v := range tr.Series {
		if strings.HasPrefix(k, mDuration+"_bucket") {
			fmt.Fprintf(&b, "%s %v\n", k, v)
		}
	}
	for labels := range hist {
		count := tr.Series[mDuration+"_count"+labels]
		fmt.Fprintf(&b, "%s_sum%s %v\n%s_count%s %v\n", mDuration, labels, tr.Series[mDuration+"_sum"+labels], mDuration, labels, count)
	}
	b.WriteString("# TYPE mirrord_exporter_events_total counter\n")
	for k, v := range tr.Events {
		fmt.Fprintf(&b, "mirrord_exporter_events_total{event=%q} %v\n", k, v)
	}
	b.WriteString("# TYPE mirrord_exporter_malformed_lines_total counter\n")
	for k, v := range tr.Malformed {
		fmt.Fprintf(&b, "mirrord_exporter_malformed_lines_total{reason=%q} %v\n", k, v)
	}
	b.WriteString("# TYPE mirrord_exporter_lines_total counter\nmirrord_exporter_lines_total 12345\n")
	return b.String()
}

func bufioWriter(w io.Writer) *bufio.Writer { return bufio.NewWriter(w) }

// BenchmarkGenerate measures the noise path, which dominates the ~300 MB
// logs of the exporter's benchmarks.
func BenchmarkGenerate(b *testing.B) {
	for _, w := range []Wrapper{Raw, Docker, CRI} {
		b.Run(w.String(), func(b *testing.B) {
			cfg := Config{Seed: 1, Sessions: 500, NoiseRatio: 0.95, Wrapper: w, BigLines: true, Nasty: true}
			var n countingWriter
			for b.Loop() {
				tr, err := Generate(&n, cfg)
				if err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(float64(tr.Lines), "lines/op")
			}
			b.SetBytes(n.n / int64(b.N))
		})
	}
}

type countingWriter struct{ n int64 }

func (c *countingWriter) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	return len(p), nil
}
