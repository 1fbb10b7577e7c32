package source

import (
	"bytes"
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// event is what a Sink saw: a line, or the size of a skipped one.
type event struct {
	line    string
	tooLong int
}

type eventSink struct{ events []event }

func (s *eventSink) Line(l []byte)     { s.events = append(s.events, event{line: string(l)}) }
func (s *eventSink) LineTooLong(n int) { s.events = append(s.events, event{tooLong: n}) }
func (s *eventSink) Close()            {}

// feed pushes data through lr in chunks of random sizes.
func feed(lr *lineReader, data []byte, rng *rand.Rand, maxChunk int) {
	for len(data) > 0 {
		p := lr.space()
		n := min(len(p), len(data), 1+rng.IntN(maxChunk))
		copy(p, data[:n])
		lr.commit(n)
		data = data[n:]
	}
}

// The reader delivers exactly what splitting on newlines gives, however the
// input is chunked, and never holds more than max+1 bytes.
func TestLineReaderChunking(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	const maxLine = 300
	for round := range 200 {
		var data bytes.Buffer
		var want []event
		for range rng.IntN(200) {
			n := rng.IntN(2 * maxLine)
			if rng.IntN(10) == 0 {
				n = maxLine + rng.IntN(2) // right at the limit
			}
			line := strings.Repeat(string(rune('a'+rng.IntN(26))), n)
			data.WriteString(line + "\n")
			if n > maxLine {
				want = append(want, event{tooLong: n})
			} else {
				want = append(want, event{line: line})
			}
		}
		tail := strings.Repeat("z", rng.IntN(2*maxLine))
		data.WriteString(tail)
		switch {
		case len(tail) > maxLine:
			want = append(want, event{tooLong: len(tail)})
		case len(tail) > 0:
			want = append(want, event{line: tail})
		}

		sink := &eventSink{}
		lr := newLineReader(sink, maxLine)
		feed(lr, data.Bytes(), rng, 1+rng.IntN(3*maxLine))
		lr.flush()
		if len(sink.events) != len(want) {
			t.Fatalf("round %d: %d events, want %d", round, len(sink.events), len(want))
		}
		for i := range want {
			if sink.events[i] != want[i] {
				t.Fatalf("round %d: event %d = %+v, want %+v", round, i, sink.events[i], want[i])
			}
		}
	}
}

// An over-long line is skipped without the buffer growing past max+1.
func TestLineReaderBounded(t *testing.T) {
	const maxLine = 100 << 10
	sink := &eventSink{}
	lr := newLineReader(sink, maxLine)
	rng := rand.New(rand.NewPCG(3, 4))
	data := []byte(strings.Repeat("a", 90<<10) + "\n" + strings.Repeat("b", 3<<20) + "\nend\n")
	for len(data) > 0 {
		p := lr.space()
		n := min(len(p), len(data), 1+rng.IntN(32<<10))
		copy(p, data[:n])
		lr.commit(n)
		data = data[n:]
		if len(lr.buf) > maxLine+1 {
			t.Fatalf("buffer grew to %d bytes", len(lr.buf))
		}
	}
	want := []event{{line: strings.Repeat("a", 90<<10)}, {tooLong: 3 << 20}, {line: "end"}}
	if len(sink.events) != 3 || sink.events[0] != want[0] || sink.events[1] != want[1] || sink.events[2] != want[2] {
		t.Fatalf("events %d, want 3 (long line, skipped, end)", len(sink.events))
	}
}

type nopSink struct{ n int }

func (s *nopSink) Line([]byte)     { s.n++ }
func (s *nopSink) LineTooLong(int) {}
func (s *nopSink) Close()          {}

// Steady-state reading allocates nothing per line.
func TestLineReaderZeroAllocs(t *testing.T) {
	chunk := []byte(strings.Repeat("some log line of moderate length\n", 1000) + "partial")
	lr := newLineReader(&nopSink{}, 1<<20)
	step := func() {
		data := chunk
		for len(data) > 0 {
			p := lr.space()
			n := copy(p, data)
			lr.commit(n)
			data = data[n:]
		}
	}
	step()
	if allocs := testing.AllocsPerRun(100, step); allocs != 0 {
		t.Fatalf("%v allocations per %d lines", allocs, 1000)
	}
}

// Reading a followed file (pread, fingerprint check, split, deliver) also
// allocates nothing per line: one look over a large backlog allocates a
// bounded, line-count independent amount.
func TestFileReadAllocsIndependentOfLines(t *testing.T) {
	file := filepath.Join(t.TempDir(), "a.log")
	writeFile(t, file, strings.Repeat("0123456789 abcdefghij klmnopqrstuvwxyz\n", 100_000))
	of, err := openRegular(file)
	if err != nil {
		t.Fatal(err)
	}
	defer of.close()
	sink := &nopSink{}
	lr := newLineReader(sink, 1<<20)
	allocs := testing.AllocsPerRun(3, func() {
		of.off, of.fpLen = 0, 0
		for {
			_, eof, err := of.readChunk(lr)
			if err != nil {
				t.Fatal(err)
			}
			if eof {
				return
			}
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocations reading 100000 lines", allocs)
	}
}

func BenchmarkLineReader(b *testing.B) {
	chunk := []byte(strings.Repeat("2026-11-24T00:30:00.000000000Z stdout F some log line of moderate length\n", 800))
	lr := newLineReader(&nopSink{}, 1<<20)
	b.SetBytes(int64(len(chunk)))
	b.ReportAllocs()
	for b.Loop() {
		data := chunk
		for len(data) > 0 {
			p := lr.space()
			n := copy(p, data)
			lr.commit(n)
			data = data[n:]
		}
	}
}

// BenchmarkOnceFile reads a 100k-line file end to end through a Manager.
func BenchmarkOnceFile(b *testing.B) {
	file := filepath.Join(b.TempDir(), "a.log")
	line := "2026-11-24T00:30:00.000000000Z stdout F some log line of moderate length\n"
	if err := os.WriteFile(file, []byte(strings.Repeat(line, 100_000)), 0o644); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(line) * 100_000))
	b.ReportAllocs()
	for b.Loop() {
		m, err := New(Config{Paths: []string{file}, Once: true, NewSink: func(string, string) Sink { return &nopSink{} }})
		if err != nil {
			b.Fatal(err)
		}
		if err := m.Run(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
}
