// Package backfill replays a saved operator log in the operator's own time,
// sampling the metrics the live exporter would have exposed at a fixed step
// (family.Timeline writes them as OpenMetrics with timestamps for promtool's
// "tsdb create-blocks-from openmetrics").
package backfill

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/mirrord-exporter/mirrord-exporter/collector"
	"github.com/mirrord-exporter/mirrord-exporter/decode"
)

// Order stamps every event without a timestamp with the timestamp of the
// event received before it (the first timestamp of all for leading ones),
// then sorts the events by time, keeping the received order for equal
// times. Archives read concurrently are not globally ordered; sorting is
// what makes the samples follow the operator's time. It fails when no event
// has a timestamp, since there is no time to sample at.
func Order(events []decode.Event) error {
	var last time.Time
	for i := range events {
		if events[i].Time.IsZero() {
			events[i].Time = last
		} else {
			last = events[i].Time
		}
	}
	if last.IsZero() {
		return errors.New("no event with a timestamp in the logs")
	}
	first := time.Time{}
	for _, ev := range events {
		if !ev.Time.IsZero() {
			first = ev.Time
			break
		}
	}
	for i := range events {
		if !events[i].Time.IsZero() {
			break
		}
		events[i].Time = first
	}
	slices.SortStableFunc(events, func(a, b decode.Event) int { return a.Time.Compare(b.Time) })
	return nil
}

// Replay applies the ordered events to c. Before the first event later than
// a step boundary (multiples of step since the Unix epoch) it expires
// sessions at that boundary, as a live exporter's clock would, and calls
// sample with it; so a boundary's sample holds every event stamped at or
// before it. After the last event it expires sessions at the newest
// functional event's time, as --once does, and calls sample at the last
// event's time. A nil sample only replays.
//
// Expiry at a boundary never goes past the newest functional event, the
// time --once expires at: a boundary crossed by a trailing seat-limit or
// message record would otherwise drop sessions --once keeps, and the last
// sample would differ from --once.
func Replay(events []decode.Event, c *collector.Collector, step time.Duration, sample func(time.Time) error) error {
	if step <= 0 {
		return fmt.Errorf("step must be positive, got %s", step)
	}
	if len(events) == 0 {
		return errors.New("no events to replay")
	}
	next := events[0].Time.Truncate(step).Add(step)
	for i := range events {
		for events[i].Time.After(next) {
			c.Expire(minTime(next, c.LatestEventTime()))
			if sample != nil {
				if err := sample(next); err != nil {
					return fmt.Errorf("sample at %s: %w", next.UTC().Format(time.RFC3339), err)
				}
			}
			next = next.Add(step)
		}
		c.Apply(&events[i])
	}
	c.Expire(c.LatestEventTime())
	if sample == nil {
		return nil
	}
	end := events[len(events)-1].Time
	if err := sample(end); err != nil {
		return fmt.Errorf("sample at %s: %w", end.UTC().Format(time.RFC3339), err)
	}
	return nil
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}
