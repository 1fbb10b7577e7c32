package unwrap

import (
	"bytes"
	"strconv"

	"github.com/mirrord-exporter/mirrord-exporter/jsonstring"
)

// Status tells what Push did with a line.
type Status int

const (
	// Record: the payload holds one complete record.
	Record Status = iota
	// Pending: the line was a part of a split record, kept for joining (or
	// swallowed, after TooLong, until the record's final part); no record yet.
	Pending
	// Invalid: the line claims a wrapper but is broken; nothing returned and
	// any pending join is left as it was.
	Invalid
	// TooLong: a record grew past the limit and is dropped whole. It is
	// reported once per record, by the line that crosses the limit; the
	// record's later parts return Pending.
	TooLong
	// Skipped: the line was a complete record that Stream.SkipRecord
	// turned down before it was unescaped; nothing returned. It counts as
	// a record.
	Skipped
)

// String returns a lower-case name for st, fit for a metric label.
func (st Status) String() string {
	switch st {
	case Record:
		return "record"
	case Pending:
		return "pending"
	case Invalid:
		return "invalid"
	case TooLong:
		return "too_long"
	case Skipped:
		return "skipped"
	}
	return "Status(" + strconv.Itoa(int(st)) + ")"
}

// DefaultMaxBytes is the record size limit NewStream uses for a maxBytes
// that is not positive.
const DefaultMaxBytes = 1 << 20

// streamID is the output stream of the container a wrapped line came from.
// Runtimes split each one separately, so each has its own join.
type streamID int

const (
	stdout streamID = iota
	stderr
	numStreams
)

func parseStreamName(b []byte) (streamID, bool) {
	switch string(b) {
	case "stdout":
		return stdout, true
	case "stderr":
		return stderr, true
	}
	return 0, false
}

// joinState is where a split record is.
type joinState int

const (
	idle     joinState = iota
	joining            // parts are in buf, waiting for the final one
	dropping           // the record went past the limit; skip to its final part
)

// join accumulates the parts of one split record.
type join struct {
	buf   []byte
	state joinState
}

// Stream unwraps the lines of one input, in order. It is not safe for
// concurrent use.
type Stream struct {
	// SkipRecord, if set, lets Push turn down a Docker line that is a
	// whole record (no join pending on its stream, its "log" ending with
	// the \n escape) before unescaping it: Push returns Skipped when
	// SkipRecord returns true on the "log" text, still escaped, final \n
	// included, the line is valid, and that text holds no \u escape (one
	// can spell any byte, which a filter of escaped text would have to
	// decode to see). SkipRecord is asked before the line is validated, so
	// that the records it keeps are scanned once: it may see text that is
	// not valid, not whole, or holds \u escapes, and its answer on those
	// counts for nothing.
	SkipRecord func(escaped []byte) bool

	format  Format
	max     int
	wrapper Format
	// scratch receives the unescaped "log" text of Docker lines; reused so
	// that steady state does not allocate.
	scratch []byte
	// joins is indexed by wrapper (Docker, CRI) then stream, so that
	// stdout and stderr (and, in auto mode, the unlikely mix of wrappers)
	// never disturb each other's pending parts.
	joins [2][numStreams]join
}

// NewStream returns a Stream for lines in format f whose records may be at
// most maxBytes long (DefaultMaxBytes if maxBytes <= 0). An unknown f is
// taken as Auto.
func NewStream(f Format, maxBytes int) *Stream {
	if f < Auto || f > CRI {
		f = Auto
	}
	if maxBytes <= 0 {
		maxBytes = DefaultMaxBytes
	}
	s := &Stream{format: f, max: maxBytes, wrapper: f}
	if f == Auto {
		s.wrapper = JSON
	}
	return s
}

// Push takes one physical line, without its newline, and returns the record
// it completes, if any. A trailing '\r' is stripped from every record (CRLF
// files, or applications writing CRLF).
//
// The payload is only valid until the next call on s (joined records and
// unescaped Docker text live in buffers s reuses), and it may alias line
// (raw lines, unsplit CRI lines and Docker lines without escapes are returned
// without a copy), so it is also only valid as long as line is. Copy it to
// keep it.
func (s *Stream) Push(line []byte) (payload []byte, st Status) {
	w := s.format
	if w == Auto {
		switch {
		case isDockerLine(line):
			w = Docker
		default:
			// Only digits can start a timestamp; the test keeps the
			// parse off the path of JSON and most text lines.
			if len(line) > 0 && line[0] >= '0' && line[0] <= '9' {
				if c, ok := parseCRI(line); ok {
					s.wrapper = CRI
					return s.part(&s.joins[1][c.stream], c.text, !c.partial)
				}
			}
			w = JSON
		}
	}
	s.wrapper = w
	switch w {
	case Docker:
		return s.pushDocker(line)
	case CRI:
		c, ok := parseCRI(line)
		if !ok {
			return nil, Invalid
		}
		return s.part(&s.joins[1][c.stream], c.text, !c.partial)
	}
	line = trimCR(line)
	if len(line) > s.max {
		return nil, TooLong
	}
	return line, Record
}

// pushDocker handles one json-file line. Docker ends the "log" of the last
// part of a record (or of an unsplit one) with "\n", and only that one.
func (s *Stream) pushDocker(line []byte) ([]byte, Status) {
	if s.SkipRecord != nil {
		if st, done := s.trySkip(line); done {
			return nil, st
		}
	}
	d, ok := scanDocker(line, &s.scratch)
	if !ok || d.logBad {
		return nil, Invalid
	}
	text, final := d.log, d.final
	return s.part(&s.joins[0][d.stream], text, final)
}

// dockerHead is how Docker starts a json-file line.
const dockerHead = `{"log":"`

// trySkip offers line to SkipRecord; done is true when that settled it:
// Skipped, or Invalid found on the way. The filter is asked first, on the
// "log" text where Docker writes it (first key, its \n escape then the
// quote before "stream" and "time" at the end of the line), so that a record
// it keeps (an event) is scanned once, as without a filter; only a record it
// turns down is then validated, and skipped if the validated "log" is that
// same text, whole, its join idle. Any other line goes the usual way, which
// gives the same result, only slower.
func (s *Stream) trySkip(line []byte) (st Status, done bool) {
	if len(line) < len(dockerHead)+dockerTail || string(line[:len(dockerHead)]) != dockerHead {
		return 0, false
	}
	end := finalLogEnd(line) // the closing quote, if the guess is right
	if end < 0 {
		return 0, false
	}
	// The unescaped record is no longer than its escaped text less the
	// final \n, so within this bound it cannot be TooLong.
	if end-2-len(dockerHead) > s.max || !s.SkipRecord(line[len(dockerHead):end]) {
		return 0, false
	}
	if stream, ok := dockerTailAsWritten(line[end:]); ok {
		// The line is {"log":"…","stream":"…","time":"…"} exactly, as
		// Docker writes it: if the "log" string is valid and ends at end,
		// scanDockerEscaped would find what checkLog finds, for more work.
		var d dockerFields
		if logEnd, ok := checkLog(line, len(dockerHead), &d); ok && logEnd == end && !d.logBad {
			if d.final && !d.logU && s.joins[0][stream].state == idle {
				return Skipped, true
			}
			return 0, false
		}
	}
	d, ok := scanDockerEscaped(line)
	if !ok || d.logBad {
		return Invalid, true
	}
	if d.logStart == len(dockerHead) && len(d.log) == end-len(dockerHead) && d.final && !d.logU && s.joins[0][d.stream].state == idle {
		return Skipped, true
	}
	return 0, false
}

// dockerTail is how far from its end a Docker line is searched for the end
// of a "log" that ends with the \n escape:
// `\n","stream":"stdout","time":"2026-08-17T18:15:08.583869123Z"}` is 62
// bytes; 64 is also as far as bytes.Index takes its fastest path.
const dockerTail = 64

// finalLogEnd guesses, without validating, where the "log" of a Docker line
// ends if it ends with the \n escape (the last part of a record): the index
// of its closing quote, or -1.
func finalLogEnd(line []byte) int {
	from := max(0, len(line)-dockerTail)
	k := bytes.Index(line[from:], []byte(`\n","`))
	if k < 0 {
		return -1
	}
	return from + k + 2
}

// dockerTailAsWritten reports whether tail, which starts at the closing quote
// of a "log" string, is the rest of a line as Docker writes it:
// ","stream":"stdout" (or stderr),"time":"…"} with a time of plain bytes
// (no quote, backslash or control character), nothing after. It returns the
// stream.
func dockerTailAsWritten(tail []byte) (streamID, bool) {
	const streamKey, timeKey = `","stream":"`, `","time":"`
	if len(tail) < len(streamKey)+len("stdout")+len(timeKey)+2 || string(tail[:len(streamKey)]) != streamKey {
		return 0, false
	}
	tail = tail[len(streamKey):]
	stream, ok := parseStreamName(tail[:len("stdout")])
	tail = tail[len("stdout"):]
	if !ok || string(tail[:len(timeKey)]) != timeKey {
		return 0, false
	}
	t := tail[len(timeKey):]
	n := jsonstring.Stop(t)
	return stream, n == len(t)-2 && string(t[n:]) == `"}`
}

// part adds one part of a record to j and returns the record if final.
func (s *Stream) part(j *join, text []byte, final bool) ([]byte, Status) {
	if j.state == dropping {
		// TooLong was already reported for this record: swallow the
		// rest of it, and be ready for the next one after its end.
		if final {
			j.state = idle
		}
		return nil, Pending
	}
	if !final {
		if len(j.buf)+len(text) > s.max {
			// Drop now rather than at the end, so that memory stays
			// bounded by s.max.
			j.buf, j.state = j.buf[:0], dropping
			return nil, TooLong
		}
		j.buf, j.state = append(j.buf, text...), joining
		return nil, Pending
	}
	if j.state == idle {
		// An unsplit record: returned in place.
		rec := trimCR(text)
		if len(rec) > s.max {
			return nil, TooLong
		}
		return rec, Record
	}
	n := len(j.buf) + len(text)
	if endsWithCR(j.buf, text) {
		n--
	}
	if n > s.max {
		j.buf, j.state = j.buf[:0], idle
		return nil, TooLong
	}
	// Appending then cutting at n drops the trailing '\r', if any.
	rec := append(j.buf, text...)[:n]
	j.buf, j.state = rec[:0], idle
	return rec, Record
}

// Flush ends the input: it drops the pending joins, returning how many
// records they were (one per output stream with parts waiting for their
// final part). A record already reported TooLong is not counted again. It
// also releases the buffers; s may be used again afterwards.
func (s *Stream) Flush() (unterminated int) {
	for w := range s.joins {
		for i := range s.joins[w] {
			if s.joins[w][i].state == joining {
				unterminated++
			}
			s.joins[w][i] = join{}
		}
	}
	s.scratch = nil
	return unterminated
}

// Idle reports whether s holds no part of a split record: it is then in the
// same state as a new Stream, so lines pushed to it give what they would give
// to a new one.
func (s *Stream) Idle() bool {
	for w := range s.joins {
		for i := range s.joins[w] {
			if s.joins[w][i].state != idle {
				return false
			}
		}
	}
	return true
}

// EndsRecord guesses, from its wrapper alone, whether line (in format f) is
// the last or only part of its record, so that a run of lines can be cut
// where no record is split: a JSON line always is, a CRI line when tagged F,
// a Docker line when its "log" ends with the \n escape. It does not validate
// the line and cannot see the other output stream's joins: Idle tells for
// sure once the lines are pushed.
func EndsRecord(f Format, line []byte) bool {
	switch {
	case f == Docker || (f == Auto && isDockerLine(line)):
		return finalLogEnd(line) >= 0
	case f == CRI || (f == Auto && len(line) > 0 && line[0] >= '0' && line[0] <= '9'):
		c, ok := parseCRI(line)
		return !ok || !c.partial
	}
	return true
}

// Wrapper returns the wrapper of the last line pushed: the forced format,
// or, in auto mode, the detected one (JSON before the first line). It is
// never Auto.
func (s *Stream) Wrapper() Format {
	return s.wrapper
}

func trimCR(b []byte) []byte {
	if n := len(b); n > 0 && b[n-1] == '\r' {
		return b[:n-1]
	}
	return b
}

// endsWithCR reports whether the concatenation of a and b ends with '\r'.
func endsWithCR(a, b []byte) bool {
	if len(b) > 0 {
		return b[len(b)-1] == '\r'
	}
	return len(a) > 0 && a[len(a)-1] == '\r'
}
