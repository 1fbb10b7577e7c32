package backfill

import (
	"container/heap"
	"errors"
	"sync"
	"time"

	"github.com/mirrord-exporter/mirrord-exporter/decode"
)

// streamBuffer is how many events a stream may decode ahead of the merge.
// A stream waits while its buffer is full, so memory is bounded by the
// number of streams, not by the logs' length: a rotated archive's later
// files wait while the earlier ones are read.
const streamBuffer = 512

// Merge puts the events of several streams (files, standard input) in the
// operator's time order without holding the logs in memory. Each stream is
// taken to be in time order, as a process writes its log; the merge takes
// the earliest of the streams' next events, the earlier stream first for
// equal times.
//
// Streams are opened (Stream) before any is read, then the set is sealed
// (Seal); Events yields the merged events. An event without a timestamp
// takes the timestamp of the event before it in its stream; those at a
// stream's start take its first timestamp, or the earliest of all when the
// stream has none.
type Merge struct {
	mu       sync.Mutex
	streams  []chan decode.Event
	sealed   chan struct{}
	sealOnce sync.Once
	err      error
}

// NewMerge returns a Merge with no stream.
func NewMerge() *Merge { return &Merge{sealed: make(chan struct{})} }

// Stream opens a stream; its writer closes the channel at the stream's
// end. The name is for the caller: streams are merged in the order opened.
func (m *Merge) Stream(string) chan<- decode.Event {
	ch := make(chan decode.Event, streamBuffer)
	m.mu.Lock()
	m.streams = append(m.streams, ch)
	m.mu.Unlock()
	return ch
}

// Seal says every stream is open. Later calls do nothing.
func (m *Merge) Seal() { m.sealOnce.Do(func() { close(m.sealed) }) }

// ErrNoTimestamp is Err's error when no event had a timestamp: there is no
// time to replay them in.
var ErrNoTimestamp = errors.New("no event with a timestamp in the logs")

// Err returns why Events stopped early, after Events ended.
func (m *Merge) Err() error { return m.err }

// Events yields the merged events until every stream ended, or until yield
// returns false; then the remaining events are drained so that the
// streams' writers end. It waits for Seal.
func (m *Merge) Events(yield func(*decode.Event) bool) {
	<-m.sealed
	m.mu.Lock()
	chans := m.streams
	m.mu.Unlock()
	h := make(heads, 0, len(chans))
	var untimed []*head // streams that ended with no timed event
	first := time.Time{}
	for i, ch := range chans {
		s := &head{ch: ch, order: i}
		if s.fill() {
			h = append(h, s)
			if first.IsZero() || s.ev.Time.Before(first) {
				first = s.ev.Time
			}
		} else if len(s.lead) > 0 {
			untimed = append(untimed, s)
		}
	}
	defer func() {
		for _, s := range h {
			s.drain()
		}
	}()
	if len(h) == 0 {
		if len(untimed) > 0 {
			m.err = ErrNoTimestamp
		}
		return
	}
	for _, s := range untimed {
		for i := range s.lead {
			s.lead[i].Time = first
			if !yield(&s.lead[i]) {
				return
			}
		}
	}
	heap.Init(&h)
	for len(h) > 0 {
		s := h[0]
		for i := range s.lead {
			s.lead[i].Time = s.ev.Time
			if !yield(&s.lead[i]) {
				return
			}
		}
		s.lead = s.lead[:0]
		ev := s.ev
		if !yield(&ev) {
			return
		}
		if s.next() {
			heap.Fix(&h, 0)
		} else {
			heap.Pop(&h)
		}
	}
}

// head is a stream and its next event.
type head struct {
	ch    chan decode.Event
	order int
	ev    decode.Event
	// lead holds the events without a timestamp before the stream's first
	// timed one, which take its time.
	lead []decode.Event
}

// fill reads up to the stream's first timed event, keeping the untimed ones
// before it in lead; false when the stream ended before one.
func (s *head) fill() bool {
	for ev := range s.ch {
		if !ev.Time.IsZero() {
			s.ev = ev
			return true
		}
		s.lead = append(s.lead, ev)
	}
	return false
}

// next reads the stream's next event, stamped with the previous event's time
// if it has none; false at the stream's end.
func (s *head) next() bool {
	prev := s.ev.Time
	ev, ok := <-s.ch
	if !ok {
		return false
	}
	if ev.Time.IsZero() {
		ev.Time = prev
	}
	s.ev = ev
	return true
}

func (s *head) drain() {
	for range s.ch {
	}
}

// heads is a min-heap of streams by their next event's time.
type heads []*head

func (h heads) Len() int { return len(h) }
func (h heads) Less(i, j int) bool {
	if c := h[i].ev.Time.Compare(h[j].ev.Time); c != 0 {
		return c < 0
	}
	return h[i].order < h[j].order
}
func (h heads) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *heads) Push(x any)   { *h = append(*h, x.(*head)) }
func (h *heads) Pop() any {
	old := *h
	s := old[len(old)-1]
	*h = old[:len(old)-1]
	return s
}
