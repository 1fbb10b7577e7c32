package kube

import (
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/go-kit/log"

	"github.com/mirrord-exporter/mirrord-exporter/input"
)

// memSink keeps what it is given.
type memSink struct {
	lines   []string
	tooLong []int
	closed  bool
}

func (s *memSink) Line(l []byte)        { s.lines = append(s.lines, string(l)) }
func (s *memSink) LineTooLong(size int) { s.tooLong = append(s.tooLong, size) }
func (s *memSink) Flush()               {}
func (s *memSink) Close()               { s.closed = true }

type nopSink struct{}

func (nopSink) Line([]byte)     {}
func (nopSink) LineTooLong(int) {}
func (nopSink) Flush()          {}
func (nopSink) Close()          {}

func testInstance(sink input.Sink, maxLine int) *instance {
	in := &instance{
		f:    &Follower{cfg: Config{MaxLineBytes: maxLine}, logger: log.NewNopLogger()},
		sink: sink,
		lr:   newLineReader(maxLine + tsPrefixMax),
	}
	in.emit = in.line
	return in
}

func TestLineStripsTimestampsAndSkipsLongLines(t *testing.T) {
	sink := &memSink{}
	in := testInstance(sink, 64)
	long := strings.Repeat("L", 200)
	input := "2026-08-17T10:00:00.1Z first\n" +
		"2026-08-17T10:00:00.2Z " + long + "\n" +
		"2026-08-17T10:00:00.2Z " + strings.Repeat("m", 64) + "\n" +
		"2026-08-17T12:00:00.3+02:00 \n" +
		"no timestamp\n"
	if err := in.lr.Split(strings.NewReader(input), in.emit); !errors.Is(err, io.EOF) {
		t.Fatal(err)
	}
	want := []string{"first", strings.Repeat("m", 64), "", "no timestamp"}
	if strings.Join(sink.lines, "|") != strings.Join(want, "|") {
		t.Errorf("lines %q, want %q", sink.lines, want)
	}
	if len(sink.tooLong) != 1 || sink.tooLong[0] != len(long) {
		t.Errorf("too long %v, want [%d]: the size without the timestamp", sink.tooLong, len(long))
	}
	// All five lines count, the skipped one too: a resumed stream resends it.
	if in.pos.Skip != 5 || in.pos.Last.Nanosecond() != 300_000_000 {
		t.Errorf("position %+v, want 5 lines in the window, the last at .3", in.pos)
	}
}

func TestLineAllocatesNothing(t *testing.T) {
	in := testInstance(nopSink{}, DefaultMaxLineBytes)
	raw := []byte(`2026-08-17T10:00:00.123456789Z {"timestamp":"2026-08-17T10:00:00.123456Z","level":"INFO","fields":{"message":"Session Start","session_id":"a1"}}`)
	if n := testing.AllocsPerRun(1000, func() { in.line(raw, len(raw)) }); n != 0 {
		t.Errorf("%v allocations per line, want 0", n)
	}
}
