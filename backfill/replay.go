// Package backfill replays saved operator logs in the operator's own time:
// Merge puts the events of every file in time order as they are read, and
// Replay applies them, sampling the metrics the live exporter would have
// exposed at a fixed step (the blocks package writes the samples as
// Prometheus TSDB blocks, family.Timeline as OpenMetrics with timestamps).
package backfill

import (
	"errors"
	"fmt"
	"iter"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/mirrord-exporter/mirrord-exporter/collector"
	"github.com/mirrord-exporter/mirrord-exporter/decode"
	"github.com/mirrord-exporter/mirrord-exporter/family"
)

// Sampler takes the metrics at each sample time of a replay.
type Sampler interface {
	// Start is called once, before the first Sample, with the step
	// boundary at or before the first event.
	Start(t time.Time) error
	// Sample takes the metrics at t, a step boundary later than the
	// previous sample's.
	Sample(t time.Time) error
	// End takes the metrics at the last event's time t, the last sample,
	// after the last boundary's.
	End(t time.Time) error
}

// Span is the time of a replay's first and last events.
type Span struct{ First, Last time.Time }

// Replay applies events, in time order (see Merge), to c. Before the first
// event later than a step boundary (multiples of step since the Unix epoch)
// it expires sessions at that boundary, as a live exporter's clock would,
// and samples there; so a boundary's sample holds every event stamped at or
// before it. After the last event it expires sessions at the newest
// functional event's time, as --once does, and samples at the last event's
// time. A nil sampler only replays.
//
// Expiry at a boundary never goes past the newest functional event, the
// time --once expires at: a boundary crossed by a trailing seat-limit or
// message record would otherwise drop sessions --once keeps, and the last
// sample would differ from --once.
func Replay(events iter.Seq[*decode.Event], c *collector.Collector, step time.Duration, s Sampler) (Span, error) {
	var span Span
	if step <= 0 {
		return span, fmt.Errorf("step must be positive, got %s", step)
	}
	var (
		next time.Time
		err  error
	)
	sample := func(t time.Time) bool {
		if s != nil {
			if err = s.Sample(t); err != nil {
				err = fmt.Errorf("sample at %s: %w", t.UTC().Format(time.RFC3339), err)
			}
		}
		return err == nil
	}
	for ev := range events {
		if span.First.IsZero() {
			span.First = ev.Time
			next = ev.Time.Truncate(step).Add(step)
			if s != nil {
				if err = s.Start(ev.Time.Truncate(step)); err != nil {
					break
				}
			}
		}
		for ev.Time.After(next) {
			c.Expire(minTime(next, c.LatestEventTime()))
			if !sample(next) {
				break
			}
			next = next.Add(step)
		}
		if err != nil {
			break
		}
		c.Apply(ev)
		if ev.Time.After(span.Last) {
			// A stream's records may be a little out of order.
			span.Last = ev.Time
		}
	}
	if err != nil {
		return span, err
	}
	if span.First.IsZero() {
		return span, errors.New("no events to replay")
	}
	c.Expire(c.LatestEventTime())
	if s != nil {
		if err = s.End(span.Last); err != nil {
			err = fmt.Errorf("sample at %s: %w", span.Last.UTC().Format(time.RFC3339), err)
		}
	}
	return span, err
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// Samplers is several samplers taking the same samples, in order.
type Samplers []Sampler

// Start starts each sampler.
func (ss Samplers) Start(t time.Time) error {
	for _, s := range ss {
		if err := s.Start(t); err != nil {
			return err
		}
	}
	return nil
}

// Sample samples with each sampler.
func (ss Samplers) Sample(t time.Time) error {
	for _, s := range ss {
		if err := s.Sample(t); err != nil {
			return err
		}
	}
	return nil
}

// End takes the last sample with each sampler.
func (ss Samplers) End(t time.Time) error {
	for _, s := range ss {
		if err := s.End(t); err != nil {
			return err
		}
	}
	return nil
}

// TimelineSampler writes the families Families gathers at each sample to an
// OpenMetrics timeline, every series at every sample.
type TimelineSampler struct {
	W        *family.Timeline
	Families func() ([]*dto.MetricFamily, error)
}

// Start sets the time of the zero samples of the first sample's series.
func (s TimelineSampler) Start(t time.Time) error {
	s.W.Start(t)
	return nil
}

// Sample writes the families' values at t.
func (s TimelineSampler) Sample(t time.Time) error {
	families, err := s.Families()
	if err != nil {
		return err
	}
	return s.W.Sample(families, t)
}

// End writes the families' values at the last event, like any sample.
func (s TimelineSampler) End(t time.Time) error { return s.Sample(t) }
