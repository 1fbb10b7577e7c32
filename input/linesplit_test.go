package input

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
	"testing/iotest"
)

// bufSize is the initial buffer the tests use, as the readers in source and
// podlogs do.
const bufSize = 64 << 10

// tsHead is the head podlogs keeps: its longest timestamp prefix.
const tsHead = len("2006-01-02T15:04:05.999999999+07:00 ")

// emitted is one call of an EmitFunc.
type emitted struct {
	line string
	size int
}

// collect returns an EmitFunc appending to *got.
func collect(got *[]emitted) EmitFunc {
	return func(line []byte, size int) error {
		*got = append(*got, emitted{string(line), size})
		return nil
	}
}

// feed pushes data through s in chunks of random sizes.
func feed(s *Splitter, emit EmitFunc, data []byte, rng *rand.Rand, maxChunk int) {
	for len(data) > 0 {
		p := s.Space()
		n := min(len(p), len(data), 1+rng.IntN(maxChunk))
		copy(p, data[:n])
		if err := s.Commit(n, emit); err != nil {
			panic(err)
		}
		data = data[n:]
	}
}

// feedWhole pushes data through s in chunks as large as its buffer allows.
func feedWhole(s *Splitter, emit EmitFunc, data []byte) {
	for len(data) > 0 {
		n := copy(s.Space(), data)
		_ = s.Commit(n, emit)
		data = data[n:]
	}
}

// The splitter emits exactly what splitting on newlines gives, however the
// input is chunked: long lines by their head and size.
func TestChunking(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	const maxLine = 300
	for round := range 200 {
		head := []int{0, 1, tsHead, maxLine}[rng.IntN(4)]
		var data bytes.Buffer
		var want []emitted
		for range rng.IntN(200) {
			n := rng.IntN(2 * maxLine)
			if rng.IntN(10) == 0 {
				n = maxLine + rng.IntN(2) // right at the limit
			}
			var line strings.Builder
			for range n {
				line.WriteByte(byte('a' + rng.IntN(26)))
			}
			data.WriteString(line.String() + "\n")
			if n > maxLine {
				want = append(want, emitted{line.String()[:min(n, head)], n})
			} else {
				want = append(want, emitted{line.String(), n})
			}
		}
		tail := strings.Repeat("z", rng.IntN(2*maxLine))
		data.WriteString(tail)
		switch {
		case len(tail) > maxLine:
			want = append(want, emitted{tail[:min(len(tail), head)], len(tail)})
		case len(tail) > 0:
			want = append(want, emitted{tail, len(tail)})
		}

		var got []emitted
		emit := collect(&got)
		s := NewSplitter(maxLine, head, bufSize)
		feed(s, emit, data.Bytes(), rng, 1+rng.IntN(3*maxLine))
		if err := s.Flush(emit); err != nil {
			t.Fatal(err)
		}
		if len(got) != len(want) {
			t.Fatalf("round %d: %d lines, want %d", round, len(got), len(want))
		}
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("round %d: line %d = %+v, want %+v", round, i, got[i], want[i])
			}
		}
	}
}

// An over-long line is skipped without the buffer growing past limit+1.
func TestBounded(t *testing.T) {
	const maxLine = 100 << 10
	var got []emitted
	emit := collect(&got)
	s := NewSplitter(maxLine, 0, bufSize)
	rng := rand.New(rand.NewPCG(3, 4))
	data := []byte(strings.Repeat("a", 90<<10) + "\n" + strings.Repeat("b", 3<<20) + "\nend\n")
	for len(data) > 0 {
		p := s.Space()
		n := min(len(p), len(data), 1+rng.IntN(32<<10))
		copy(p, data[:n])
		if err := s.Commit(n, emit); err != nil {
			t.Fatal(err)
		}
		data = data[n:]
		if len(s.buf) > maxLine+1 {
			t.Fatalf("buffer grew to %d bytes", len(s.buf))
		}
	}
	want := []emitted{{strings.Repeat("a", 90<<10), 90 << 10}, {"", 3 << 20}, {"end", 3}}
	if len(got) != 3 || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] {
		t.Fatalf("lines %d, want 3 (long line, skipped, end)", len(got))
	}
}

// Steady-state splitting allocates nothing per line.
func TestZeroAllocs(t *testing.T) {
	chunk := []byte(strings.Repeat("some log line of moderate length\n", 1000) + "partial")
	s := NewSplitter(1<<20, tsHead, bufSize)
	lines := 0
	emit := EmitFunc(func([]byte, int) error { lines++; return nil })
	step := func() { feedWhole(s, emit, chunk) }
	step()
	if allocs := testing.AllocsPerRun(100, step); allocs != 0 {
		t.Fatalf("%v allocations per %d lines", allocs, 1000)
	}
}

// readAll splits r with Split, then Flush, and returns what each emitted.
func readAll(t *testing.T, r io.Reader, limit int) ([]emitted, []emitted) {
	t.Helper()
	s := NewSplitter(limit, tsHead, min(bufSize, limit+1))
	var got []emitted
	emit := collect(&got)
	if err := s.Split(r, emit); !errors.Is(err, io.EOF) {
		t.Fatalf("Split: %v", err)
	}
	lines := got
	got = nil
	if err := s.Flush(emit); err != nil {
		t.Fatal(err)
	}
	return lines, got
}

func TestSplitsAndSkipsLongLinesKeepingHead(t *testing.T) {
	const limit = 100
	long := "2026-08-17T10:00:00.5Z " + strings.Repeat("x", 150)
	exact := strings.Repeat("e", limit)
	input := "a\n\n" + long + "\n" + exact + "\n" + strings.Repeat("y", 5*bufSize) + "\nlast"
	want := []emitted{
		{"a", 1}, {"", 0},
		{long[:tsHead], len(long)},
		{exact, limit},
		{strings.Repeat("y", tsHead), 5 * bufSize},
	}
	for name, r := range map[string]func() io.Reader{
		"whole":    func() io.Reader { return strings.NewReader(input) },
		"one byte": func() io.Reader { return iotest.OneByteReader(strings.NewReader(input)) },
		"halves":   func() io.Reader { return iotest.HalfReader(strings.NewReader(input)) },
	} {
		lines, flushed := readAll(t, r(), limit)
		if fmt.Sprint(lines) != fmt.Sprint(want) {
			t.Errorf("%s: got %.300v, want %.300v", name, lines, want)
		}
		if len(flushed) != 1 || flushed[0] != (emitted{"last", 4}) {
			t.Errorf("%s: flushed %v, want the unterminated last line", name, flushed)
		}
	}
}

func TestFlushesLongUnterminatedLine(t *testing.T) {
	_, flushed := readAll(t, strings.NewReader("ok\n"+strings.Repeat("z", 300)), 100)
	if len(flushed) != 1 || flushed[0].size != 300 {
		t.Errorf("flushed %v, want one line of size 300", flushed)
	}
}

func TestResetDropsPartialLine(t *testing.T) {
	s := NewSplitter(100, tsHead, 101)
	var got []string
	emit := func(line []byte, _ int) error { got = append(got, string(line)); return nil }
	_ = s.Split(strings.NewReader("one\ntw"), emit)
	s.Reset()
	_ = s.Split(strings.NewReader("two\n"), emit)
	if fmt.Sprint(got) != "[one two]" {
		t.Errorf("got %q, want [one two]", got)
	}
}

// An emit error ends Commit after the line that caused it; after a Reset
// the Splitter starts afresh.
func TestEmitErrorStops(t *testing.T) {
	s := NewSplitter(100, 0, 101)
	stop := errors.New("stop")
	var got []string
	emit := func(line []byte, _ int) error {
		got = append(got, string(line))
		if string(line) == "b" {
			return stop
		}
		return nil
	}
	n := copy(s.Space(), "a\nb\nc\n")
	if err := s.Commit(n, emit); !errors.Is(err, stop) {
		t.Fatalf("Commit: %v, want the emit error", err)
	}
	s.Reset()
	n = copy(s.Space(), "d\n")
	if err := s.Commit(n, emit); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != "[a b d]" {
		t.Errorf("got %q, want [a b d]", got)
	}
}

// Pending counts the consumed bytes of the line not yet emitted, skipped
// ones included; SkipFragment reports the rest of a line whose start was
// passed over as too long.
func TestPendingAndSkipFragment(t *testing.T) {
	s := NewSplitter(4, tsHead, 5)
	var got []emitted
	emit := collect(&got)
	write := func(in string) {
		t.Helper()
		for len(in) > 0 {
			n := copy(s.Space(), in)
			if err := s.Commit(n, emit); err != nil {
				t.Fatal(err)
			}
			in = in[n:]
		}
	}
	write("ab")
	if p := s.Pending(); p != 2 {
		t.Errorf("Pending = %d, want 2", p)
	}
	write("cdefg")
	if p := s.Pending(); p != 7 {
		t.Errorf("Pending while skipping = %d, want 7", p)
	}
	s.SkipFragment(10)
	write("xyz\nok\n")
	if p := s.Pending(); p != 0 {
		t.Errorf("Pending after the lines = %d, want 0", p)
	}
	want := []emitted{{"", 13}, {"ok", 2}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

func BenchmarkSplitter(b *testing.B) {
	chunk := []byte(strings.Repeat("2026-11-24T00:30:00.000000000Z stdout F some log line of moderate length\n", 800))
	s := NewSplitter(1<<20, 0, bufSize)
	emit := EmitFunc(func([]byte, int) error { return nil })
	b.SetBytes(int64(len(chunk)))
	b.ReportAllocs()
	for b.Loop() {
		feedWhole(s, emit, chunk)
	}
}

// Resize changes the buffer's size and keeps the line pending in it, but
// not to a size that cannot hold that line.
func TestResizeKeepsPendingLine(t *testing.T) {
	s := NewSplitter(1<<20, 0, 8)
	var got []string
	emit := func(line []byte, _ int) error { got = append(got, string(line)); return nil }
	if err := s.Commit(copy(s.Space(), "ab\ncd"), emit); err != nil {
		t.Fatal(err)
	}
	s.Resize(1024)
	if n := len(s.Space()); n != 1024-2 {
		t.Fatalf("space after Resize(1024) = %d, want 1022", n)
	}
	if err := s.Commit(copy(s.Space(), "e\nfghij"), emit); err != nil {
		t.Fatal(err)
	}
	s.Resize(4) // "fghij" does not fit
	if n := len(s.Space()); n != 1024-9 {
		t.Fatalf("space after Resize(4) = %d, want 1015: unchanged, a 5-byte line is pending", n)
	}
	s.Resize(16)
	if n := len(s.Space()); n != 16-5 {
		t.Fatalf("space after Resize(16) = %d, want 11", n)
	}
	if err := s.Commit(copy(s.Space(), "k\n"), emit); err != nil {
		t.Fatal(err)
	}
	if strings.Join(got, ",") != "ab,cde,fghijk" {
		t.Errorf("lines %q, want ab, cde, fghijk", got)
	}
}
