package input

import "sync"

// Gate lets the state saver stop every input at a point where what an input
// has delivered down the line path and the position it has published agree,
// so that a saved position never replays a line the saved metrics already
// counted, nor skips one they did not.
//
// Gate is entered by inputs around each delivery (lines handed to their
// Sink, then the position published) and closed by the saver while it takes
// a snapshot. A nil *Gate is open and costs nothing: the exporter without a
// state file.
type Gate struct{ mu sync.RWMutex }

// Enter blocks while the gate is closed; every Enter needs a Leave.
func (g *Gate) Enter() {
	if g != nil {
		g.mu.RLock()
	}
}

// Leave ends a delivery.
func (g *Gate) Leave() {
	if g != nil {
		g.mu.RUnlock()
	}
}

// Close waits for the deliveries under way to end and keeps new ones out
// until Open. Inputs blocked on a full events channel inside a delivery
// still finish it: the consumer keeps draining while Close waits.
func (g *Gate) Close() { g.mu.Lock() }

// Open lets inputs deliver again.
func (g *Gate) Open() { g.mu.Unlock() }
