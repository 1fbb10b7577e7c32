package kube

import (
	"context"
	"math/rand/v2"
	"time"
)

// backoff is an exponential delay between reconnects, with jitter so that
// the streams of several pods cut at once do not reconnect in lockstep.
type backoff struct {
	min, max time.Duration
	next     time.Duration
}

func newBackoff(min, max time.Duration) *backoff {
	return &backoff{min: min, max: max, next: min}
}

// delay returns the wait before the next attempt and doubles the one after.
func (b *backoff) delay() time.Duration {
	d := b.next
	b.next = min(2*b.next, b.max)
	// Up to 25% more, never beyond max.
	if j := int64(d / 4); j > 0 {
		d += time.Duration(rand.Int64N(j))
	}
	return min(d, b.max)
}

// reset starts over from min, after an attempt that worked.
func (b *backoff) reset() { b.next = b.min }

// sleep waits d, or less if wake is closed; it reports false if ctx ended.
func sleep(ctx context.Context, d time.Duration, wake <-chan struct{}) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
	case <-wake:
	}
	return true
}
