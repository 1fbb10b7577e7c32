package collector

import (
	"time"

	"github.com/mirrord-exporter/mirrord-exporter/decode"
)

// Run applies events until the channel is closed; on every tick it expires
// sessions older than the maximum age, and series idle for longer than the
// series TTL, at the tick's time. On every snapshot request it sends the
// state on the request's channel, once it has applied every event already
// in events: the caller pauses the producers first, so that the state
// covers exactly what they sent. The state is not sorted (State.Sort), so
// that the pause is no longer than the copy. Run is the one goroutine that
// owns the Collector's state; nil ticks or snapshots are never ready.
func (c *Collector) Run(events <-chan decode.Event, ticks <-chan time.Time, snapshots <-chan chan<- *Snapshot) {
	for {
		select {
		case ev, ok := <-events:
			if !ok {
				return
			}
			c.Apply(&ev)
		case now := <-ticks:
			c.Expire(now)
			c.ExpireSeries(now)
		case req := <-snapshots:
			closed := c.drain(events)
			req <- c.capture()
			if closed {
				return
			}
		}
	}
}

// drain applies the events in the channel's buffer without waiting for more,
// and reports whether the channel was closed.
func (c *Collector) drain(events <-chan decode.Event) bool {
	for {
		select {
		case ev, ok := <-events:
			if !ok {
				return true
			}
			c.Apply(&ev)
		default:
			return false
		}
	}
}
