package ingest

import (
	"sync"

	"github.com/mirrord-exporter/mirrord-exporter/decode"
	"github.com/mirrord-exporter/mirrord-exporter/unwrap"
)

// A large batch of lines (a chunk read from a file that is being caught up)
// is cut into runs, one per lane, that are unwrapped and decoded at the same
// time; their results are delivered in line order. Only unwrapping carries
// state from line to line (the split record being joined), and a record is
// rarely split, so every run but the first starts as if no record were
// split at its start: once the runs before it are done, if the stream is
// indeed idle there, the run's results are exactly what one goroutine would
// have found, and they are delivered; otherwise they are dropped and the run
// goes again on the stream's real state. Runs are cut where the wrapper says
// a record ends, so that this is rare.

// minParallelBytes is the smallest batch spread over lanes: below it, a
// goroutine's start and the wait for it cost about what they save (64 KiB
// batches gained nothing). The 1 MiB batches of a file read to its end are
// spread; a followed file's (64 KiB at most) stay on its goroutine.
const minParallelBytes = 128 << 10

// maxLanes bounds the lanes of one stream: one goroutine applies every
// event, and more lanes would only wait for it.
const maxLanes = 4

// pendingLine is a line delivered since the last Flush, still in the
// reader's buffer, or a line too long to be held.
type pendingLine struct {
	line []byte
	// skipped is the size of a line too long to be held (longer than the
	// reader's limit, so never 0); 0 for a held line.
	skipped int
}

// size is the line's length in the stream, without its newline.
func (pl *pendingLine) size() int { return len(pl.line) + pl.skipped }

// lane unwraps and decodes a run of lines with its own stream state and
// decoder. The main lane delivers what it finds at once; a spare lane holds
// it until its run is known to have started in the right state.
type lane struct {
	stream  *unwrap.Stream
	decoder *decode.Decoder
	ev      decode.Event
	records *[3]int64 // by wrapper: JSON, Docker, CRI

	// What a spare lane holds; for the main lane, deliver and rejected
	// hand results on at once. A rejection holds an excerpt, not the
	// record: that may live in a buffer the lane reuses.
	events   []decode.Event
	rejects  []rejection
	counted  [3]int64
	deliver  func(*decode.Event)
	rejected func(rejection)
}

// run is a run of pending lines and where its first line starts.
type run struct {
	lines []pendingLine
	at    position
}

func (s *sink) newLane(held bool) *lane {
	l := &lane{
		stream:  unwrap.NewStream(s.p.cfg.Format, s.p.cfg.MaxLineBytes),
		decoder: decode.New(s.p.cfg.Labels),
	}
	// Most Docker lines are no event: judged still escaped, they skip the
	// unescape and the decode, which would only reject them. (Only Docker
	// lines consult it, so it is harmless on JSON and CRI streams.)
	// Stream ignores its answer on text with \u escapes.
	l.stream.SkipRecord = decode.NoEventInSimplyEscaped
	if held {
		l.records = &l.counted
		l.deliver = func(ev *decode.Event) { l.events = append(l.events, *ev) }
		l.rejected = func(r rejection) { l.rejects = append(l.rejects, r) }
	} else {
		l.records = &s.newRecords
		l.deliver = s.send
		l.rejected = s.rejectRecord
	}
	return l
}

// run takes a run of lines through the line path: unwrap, then decode.
func (l *lane) run(r run) {
	// Positions are worked out only for the lines rejected: adding up
	// every line's size as it goes by would cost each good line.
	lines, where := r.lines, cursor{at: r.at}
	for i := range lines {
		pl := &lines[i]
		if pl.skipped > 0 {
			l.rejected(rejection{reason: ReasonTooLong, at: where.of(lines, i)})
			continue
		}
		payload, st := l.stream.Push(pl.line)
		switch st {
		case unwrap.Record:
			l.countRecord()
			if reason := l.record(payload); reason != decode.ReasonNone {
				l.rejected(rejection{reason: Reason(reason), field: l.decoder.Field(), at: where.of(lines, i), record: excerpt(payload)})
			}
		case unwrap.Skipped:
			l.countRecord() // a record that Decode would have turned down silently
		case unwrap.Invalid:
			l.rejected(rejection{reason: ReasonInvalidWrapper, at: where.of(lines, i), record: excerpt(pl.line)})
		case unwrap.TooLong:
			l.rejected(rejection{reason: ReasonTooLong, at: where.of(lines, i), record: excerpt(pl.line)})
		}
	}
}

// cursor finds the positions of lines of a run, in order: at is where the
// line numbered next starts.
type cursor struct {
	at   position
	next int
}

// of returns where lines[i] starts; i must not go back.
func (c *cursor) of(lines []pendingLine, i int) position {
	for ; c.next < i; c.next++ {
		c.at.advance(lines[c.next].size())
	}
	return c.at
}

func (l *lane) countRecord() {
	switch l.stream.Wrapper() {
	case unwrap.Docker:
		l.records[1]++
	case unwrap.CRI:
		l.records[2]++
	default:
		l.records[0]++
	}
}

// record decodes a record and delivers its event; it returns why a record
// is unusable, ReasonNone for an event or a record that is none.
func (l *lane) record(rec []byte) decode.Reason {
	ok, reason := l.decoder.Decode(rec, &l.ev)
	if ok {
		l.deliver(&l.ev)
	}
	return reason
}

// drop forgets what a spare lane held.
func (l *lane) drop() {
	clear(l.events) // the labels' strings
	l.events, l.rejects, l.counted = l.events[:0], l.rejects[:0], [3]int64{}
}

// runPending runs the lines since the last Flush, in order.
func (s *sink) runPending() {
	if runs := s.cut(); runs != nil {
		s.runLanes(runs)
	} else {
		s.main.run(run{s.pending, s.read})
	}
	clear(s.pending) // let go of the reader's buffer
	s.pending, s.pendingBytes = s.pending[:0], 0
}

// cut divides the pending lines into runs of about equal bytes, one per
// lane, each ending where a record seems to end; nil, for one run on the
// stream's goroutine, unless the batch is large.
func (s *sink) cut() []run {
	lanes := s.p.lanes
	if lanes < 2 || s.pendingBytes < s.p.parallelMin || len(s.pending) < 2*lanes {
		return nil
	}
	runs := make([]run, 0, lanes)
	share := s.pendingBytes / lanes
	start, bytes := 0, 0
	first, at := s.read, s.read
	for i := range s.pending {
		pl := &s.pending[i]
		bytes += len(pl.line) + 1
		at.advance(pl.size())
		if bytes >= share && len(runs) < lanes-1 && i+1 < len(s.pending) && pl.skipped == 0 && unwrap.EndsRecord(s.p.cfg.Format, pl.line) {
			runs = append(runs, run{s.pending[start : i+1], first})
			start, bytes, first = i+1, 0, at
		}
	}
	if len(runs) == 0 {
		return nil // no line seemed to end a record
	}
	return append(runs, run{s.pending[start:], first})
}

// runLanes runs the first run on the main lane and the others on spare
// lanes at the same time, then delivers the spares' results in order, or
// runs again on the main lane a run that did not start idle.
func (s *sink) runLanes(runs []run) {
	for len(s.spares) < len(runs)-1 {
		s.spares = append(s.spares, s.newLane(true))
	}
	var wg sync.WaitGroup
	for i, rn := range runs[1:] {
		l := s.spares[i]
		wg.Go(func() { l.run(rn) })
	}
	s.main.run(runs[0])
	wg.Wait()
	for i, rn := range runs[1:] {
		l := s.spares[i]
		if !s.main.stream.Idle() {
			// A record was split across the cut: l began in the wrong
			// state. It is made idle again (what it holds belongs to the
			// record cut short) and the main lane runs its lines.
			l.stream.Flush()
			l.drop()
			s.main.run(rn)
			continue
		}
		for j := range l.events {
			s.send(&l.events[j])
		}
		for _, r := range l.rejects {
			s.rejectRecord(r)
		}
		for w, n := range l.counted {
			s.newRecords[w] += n
		}
		l.drop()
		// l's stream carries on from where l's run ends; the main one,
		// idle, becomes the spare.
		s.main.stream, l.stream = l.stream, s.main.stream
	}
}
