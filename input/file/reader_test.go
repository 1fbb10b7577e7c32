package file

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mirrord-exporter/mirrord-exporter/input"
)

// event is what an input.Sink saw: a line, or the size of a skipped one.
type event struct {
	line    string
	tooLong int
}

type eventSink struct{ events []event }

func (s *eventSink) Line(l []byte)     { s.events = append(s.events, event{line: string(l)}) }
func (s *eventSink) LineTooLong(n int) { s.events = append(s.events, event{tooLong: n}) }
func (s *eventSink) Flush()            {}
func (s *eventSink) Close()            {}

// The reader hands an input.Sink lines up to max bytes, and the size of longer
// ones (the splitting itself is tested in linesplit).
func TestLineReaderDeliversToSink(t *testing.T) {
	sink := &eventSink{}
	lr := newLineReader(sink, 5, false)
	for _, in := range []string{"abc\nfive5\nsix666\n", strings.Repeat("x", 100), "x\nend"} {
		n := copy(lr.Space(), in)
		lr.commit(n)
	}
	lr.flush()
	want := []event{{line: "abc"}, {line: "five5"}, {tooLong: 6}, {tooLong: 101}, {line: "end"}}
	if len(sink.events) != len(want) {
		t.Fatalf("%d events %v, want %v", len(sink.events), sink.events, want)
	}
	for i := range want {
		if sink.events[i] != want[i] {
			t.Fatalf("event %d = %+v, want %+v", i, sink.events[i], want[i])
		}
	}
}

type nopSink struct{ n int }

func (s *nopSink) Line([]byte)     { s.n++ }
func (s *nopSink) LineTooLong(int) {}
func (s *nopSink) Flush()          {}
func (s *nopSink) Close()          {}

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
	lr := newLineReader(sink, 1<<20, false)
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
		m, err := New(Config{Paths: []string{file}, Once: true, NewSink: func(string, string) input.Sink { return &nopSink{} }})
		if err != nil {
			b.Fatal(err)
		}
		if err := m.Run(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
}

// batchSink keeps every line of a batch as the slice it was given, and
// checks at Flush that none changed since Line: lines stay valid until
// Flush. It records each batch's size in bytes.
type batchSink struct {
	t       *testing.T
	held    [][]byte
	copies  []string
	batches []int
	lines   int
}

func (s *batchSink) Line(l []byte) {
	s.held = append(s.held, l)
	s.copies = append(s.copies, string(l))
}
func (s *batchSink) LineTooLong(int) { s.t.Error("no line is too long here") }
func (s *batchSink) Flush() {
	size := 0
	for i, l := range s.held {
		if string(l) != s.copies[i] {
			s.t.Fatalf("line %d changed before Flush: %q, was %q", s.lines+i, l, s.copies[i])
		}
		size += len(l) + 1
	}
	s.lines += len(s.held)
	s.batches = append(s.batches, size)
	s.held, s.copies = s.held[:0], s.copies[:0]
}
func (s *batchSink) Close() {}

// A reader of a stream read to its end grows its buffer over a backlog, so
// that its sink gets batches of up to backlogBufSize, and shrinks it once
// caught up; every line stays as it was until Flush. A followed file's
// reader keeps its buffer.
func TestBacklogGrowsBatches(t *testing.T) {
	var in strings.Builder
	lines := 0
	for in.Len() < 4*backlogBufSize {
		fmt.Fprintf(&in, `{"n":%d,"pad":"%s"}`+"\n", lines, strings.Repeat("x", lines%300))
		lines++
	}
	read := func(lr *lineReader) {
		r := strings.NewReader(in.String())
		for {
			n, err := r.Read(lr.Space())
			if n > 0 {
				lr.commit(n)
			}
			if err != nil {
				break
			}
		}
		lr.flush()
	}
	// A followed file's reader keeps its buffer.
	followed := newLineReader(&batchSink{t: t}, 1<<20, false)
	read(followed)
	if n := len(followed.Space()); n != minBufSize {
		t.Errorf("a followed file's buffer grew to %d bytes", n)
	}

	sink := &batchSink{t: t}
	lr := newLineReader(sink, 1<<20, true)
	read(lr)
	if sink.lines != lines {
		t.Fatalf("%d lines delivered, want %d", sink.lines, lines)
	}
	if largest := slices.Max(sink.batches); largest <= minBufSize || largest > backlogBufSize {
		t.Errorf("largest batch %d bytes, want more than %d and at most %d", largest, minBufSize, backlogBufSize)
	}
	if n := len(lr.Space()); n != minBufSize {
		t.Errorf("buffer of %d bytes once caught up, want it back to %d", n, minBufSize)
	}

	// A file read as it grows, each read catching up, keeps the small buffer.
	for range 2 * backlogReads {
		lr.commit(copy(lr.Space(), "a short burst\n"))
	}
	if n := len(lr.Space()); n > minBufSize {
		t.Errorf("buffer of %d bytes after short reads, want at most %d", n, minBufSize)
	}
}
