package input

// A Splitter splits a byte stream into newline-terminated lines inside one
// reusable, bounded buffer, so that steady-state splitting allocates nothing
// and an over-long line cannot grow memory without limit.

import (
	"bytes"
	"io"
)

// EmitFunc receives one line without its newline. For a line longer than
// the splitter's limit, line holds only its first bytes (up to the head
// size given to New, possibly none) and size is the full length; otherwise
// size is len(line). The line stays valid until the next call to Space,
// Resize or Split's next read: every line of one Commit is there until then.
type EmitFunc func(line []byte, size int) error

// Splitter splits a stream into lines handed to an EmitFunc as sub-slices
// of its own buffer. It never holds more than limit+1 bytes of one line: a
// longer one is discarded as it arrives, keeping only its head, and
// reported by size once its newline comes.
type Splitter struct {
	limit int
	buf   []byte
	// buf[start:end] is the pending, not yet terminated, line.
	start, end int
	// While discarding an over-long line: its head and the bytes seen.
	skipping bool
	skipped  int
	head     []byte // len is the configured head size
	headLen  int
}

// New returns a Splitter delivering lines of up to limit bytes whole, and
// the first head bytes of longer ones (at most limit: no more of a skipped
// line is ever held). bufSize is the initial buffer, at least 1: it grows
// up to limit+1 as a long line needs.
func NewSplitter(limit, head, bufSize int) *Splitter {
	return &Splitter{
		limit: limit,
		buf:   make([]byte, max(1, bufSize)),
		head:  make([]byte, max(0, min(head, limit))),
	}
}

// Split reads r to its end, emitting every complete line. It returns the
// error that ended the stream (io.EOF for a clean end) or emit's error.
func (s *Splitter) Split(r io.Reader, emit EmitFunc) error {
	for {
		n, err := r.Read(s.Space())
		if n > 0 {
			if eerr := s.Commit(n, emit); eerr != nil {
				return eerr
			}
		}
		if err != nil {
			return err
		}
	}
}

// Space returns the free buffer after the pending bytes, for the next read.
// It compacts the pending line to the front, or grows the buffer (up to
// limit+1) when one pending line fills all of it.
func (s *Splitter) Space() []byte {
	if s.start == s.end {
		s.start, s.end = 0, 0
	}
	if s.end == len(s.buf) {
		if s.start > 0 {
			s.end = copy(s.buf, s.buf[s.start:s.end])
			s.start = 0
		} else {
			// One pending line fills the buffer, so it is at most limit
			// bytes (Commit starts skipping beyond): there is room to grow.
			nb := make([]byte, min(2*len(s.buf), s.limit+1))
			copy(nb, s.buf[:s.end])
			s.buf = nb
		}
	}
	return s.buf[s.end:]
}

// Resize makes the buffer size bytes long, keeping the pending line: a
// reader with a backlog then reads more per call and hands over larger
// batches of lines, and one that caught up gives the memory back. It does
// nothing when the pending line would not fit in size bytes.
func (s *Splitter) Resize(size int) {
	pending := s.end - s.start
	if size == len(s.buf) || pending >= size {
		return
	}
	nb := make([]byte, size)
	s.end = copy(nb, s.buf[s.start:s.end])
	s.start, s.buf = 0, nb
}

// Commit processes n bytes just read into the slice Space returned,
// emitting the lines they complete. It returns emit's first error at once,
// with the rest of the input unsplit: Reset before using the Splitter again.
func (s *Splitter) Commit(n int, emit EmitFunc) error {
	scan := s.end
	s.end += n
	for {
		i := bytes.IndexByte(s.buf[scan:s.end], '\n')
		if i < 0 {
			break
		}
		nl := scan + i
		line := s.buf[s.start:nl]
		var err error
		switch {
		case s.skipping:
			err = emit(s.head[:s.headLen], s.skipped+len(line))
			s.skipping, s.skipped = false, 0
		case len(line) > s.limit:
			err = emit(line[:min(len(line), len(s.head))], len(line))
		default:
			err = emit(line, len(line))
		}
		s.start = nl + 1
		scan = s.start
		if err != nil {
			return err
		}
	}
	pending := s.end - s.start
	switch {
	case s.skipping:
		s.skipped += pending
		s.start, s.end = 0, 0
	case pending > s.limit:
		s.headLen = copy(s.head, s.buf[s.start:s.end])
		s.skipping, s.skipped = true, pending
		s.start, s.end = 0, 0
	}
	return nil
}

// Flush emits the final, unterminated line, if any (the stream it came from
// is over), and resets the Splitter.
func (s *Splitter) Flush(emit EmitFunc) error {
	pending := s.end - s.start
	var err error
	switch {
	case s.skipping:
		err = emit(s.head[:s.headLen], s.skipped+pending)
	case pending > 0:
		err = emit(s.buf[s.start:s.end], pending)
	}
	s.Reset()
	return err
}

// Reset drops the pending line, for a stream that was cut off.
func (s *Splitter) Reset() {
	s.start, s.end = 0, 0
	s.skipping, s.skipped, s.headLen = false, 0, 0
}

// Pending is the number of bytes consumed from the input that belong to a
// line not yet emitted.
func (s *Splitter) Pending() int {
	return s.end - s.start + s.skipped
}

// SkipFragment makes the Splitter discard input up to the next newline and
// emit it as too long, counting already bytes that were passed over (more
// than the limit, or the line would not read as too long). Its head is
// empty: the line's start was never seen.
func (s *Splitter) SkipFragment(already int) {
	s.Reset()
	s.skipping, s.skipped = true, already
}
