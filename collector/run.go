package collector

import "time"

// Run applies events until the channel is closed; on every tick it expires
// sessions older than the maximum age, and series idle for longer than the
// series TTL, at the tick's time. Run is the one goroutine that owns the
// Collector's state.
func (c *Collector) Run(events <-chan Event, ticks <-chan time.Time) {
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
		}
	}
}
