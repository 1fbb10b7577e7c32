package exporter

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/go-kit/log/level"
	dto "github.com/prometheus/client_model/go"

	"github.com/mirrord-exporter/mirrord-exporter/backfill"
	"github.com/mirrord-exporter/mirrord-exporter/blocks"
	"github.com/mirrord-exporter/mirrord-exporter/decode"
	"github.com/mirrord-exporter/mirrord-exporter/family"
	"github.com/mirrord-exporter/mirrord-exporter/report"
)

// replay reads every input to its end, the streams merged by time as they
// are read (Config.InTimeOrder), and replays the events through s (see
// backfill.Replay). Memory holds a few hundred events per stream, not the
// logs.
func (e *Exporter) replay(ctx context.Context, step time.Duration, s backfill.Sampler) (backfill.Span, error) {
	return e.replayThrough(ctx, nil, step, s)
}

// replayThrough is replay with the merged events passed through filter, if
// not nil, on their way to the collector: it may watch them, take the
// metrics between two events, or end them early (see reportCut).
func (e *Exporter) replayThrough(ctx context.Context, filter func(iter.Seq[*decode.Event]) iter.Seq[*decode.Event], step time.Duration, s backfill.Sampler) (backfill.Span, error) {
	if e.merge == nil {
		return backfill.Span{}, errors.New("the exporter was not built to replay (Config.InTimeOrder)")
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	read := make(chan error, 1)
	go func() {
		err := e.inputs.run(ctx)
		// An input that failed before opening its streams never sealed.
		e.merge.Seal()
		read <- err
	}()
	events := iter.Seq[*decode.Event](e.merge.Events)
	if filter != nil {
		events = filter(events)
	}
	span, err := backfill.Replay(events, e.coll, step, s)
	if err != nil {
		// Stop reading what will not be replayed.
		cancel()
	}
	if rerr := <-read; rerr != nil && (err == nil || !errors.Is(rerr, context.Canceled)) {
		return span, fmt.Errorf("%w: %w", errReadInputs, rerr)
	}
	if merr := e.merge.Err(); merr != nil {
		return span, merr
	}
	if err != nil {
		return span, fmt.Errorf("replay: %w", err)
	}
	return span, ctx.Err()
}

// errReadInputs is replay's error when reading the inputs failed.
var errReadInputs = errors.New("read inputs")

// usageFamilies gathers the mirrord_* families as Once prints them, but not
// the exporter's own mirrord_exporter_* ones: those count reading, which
// happens now, not in the logs' time.
func (e *Exporter) usageFamilies() ([]*dto.MetricFamily, error) {
	families, err := e.Gatherer().Gather()
	if err != nil {
		return nil, fmt.Errorf("gather metrics: %w", err)
	}
	out := families[:0]
	for _, mf := range families {
		if strings.HasPrefix(mf.GetName(), "mirrord_") && !strings.HasPrefix(mf.GetName(), "mirrord_exporter_") {
			out = append(out, mf)
		}
	}
	return out, nil
}

// BackfillOutputs are where Backfill writes its samples: at least one of
// an OpenMetrics file and a directory of TSDB blocks.
type BackfillOutputs struct {
	// OpenMetrics is the file to write, if not empty.
	OpenMetrics string
	// TSDB, if not nil, is where to write blocks.
	TSDB *blocks.Config
	// TSDBIdle is how long a series stays unchanged and is still written
	// to the blocks at every step (blocks.SamplerConfig.Idle).
	TSDBIdle time.Duration
}

// Backfill replays the logs in the operator's time and writes the metrics
// every step, and at the final event, to the outputs.
func (e *Exporter) Backfill(ctx context.Context, out BackfillOutputs, step time.Duration) (err error) {
	if out.OpenMetrics == "" && out.TSDB == nil {
		return errors.New("no output: give an OpenMetrics file or a TSDB directory")
	}
	var samplers backfill.Samplers
	var timeline *family.Timeline
	if out.OpenMetrics != "" {
		// The temporary files sit beside the output: the same file system,
		// with room for about as much as the output.
		if timeline, err = family.NewTimeline(filepath.Dir(out.OpenMetrics)); err != nil {
			return err
		}
		defer timeline.Close()
		samplers = append(samplers, backfill.TimelineSampler{W: timeline, Families: e.usageFamilies})
	}
	var w *blocks.Writer
	if out.TSDB != nil {
		if w, err = blocks.Open(*out.TSDB); err != nil {
			return fmt.Errorf("--tsdb.path: %w", err)
		}
		defer func() {
			if err != nil {
				if aerr := w.Abort(); aerr != nil {
					level.Warn(e.cfg.Logger).Log("msg", "Removing the blocks of the failed backfill failed", "err", aerr)
				}
			}
		}()
		samplers = append(samplers, blocks.NewSampler(w, blocks.SamplerConfig{
			Capped: e.coll.Families(), Others: e.registry, Step: step, Idle: out.TSDBIdle,
		}))
	}
	span, err := e.replay(ctx, step, samplers)
	if err != nil {
		return err
	}
	if timeline != nil {
		if err := writeOpenMetrics(timeline, out.OpenMetrics); err != nil {
			return err
		}
	}
	if w != nil {
		n, err := w.Finish()
		if err != nil {
			return fmt.Errorf("--tsdb.path: %w", err)
		}
		level.Info(e.cfg.Logger).Log("msg", "Wrote TSDB blocks", "path", out.TSDB.Dir, "blocks", n,
			"from", span.First.UTC().Format(time.RFC3339), "to", span.Last.UTC().Format(time.RFC3339))
	}
	return nil
}

func writeOpenMetrics(w *family.Timeline, path string) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("--output: %w", err)
	}
	if _, err := w.WriteTo(f); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// Report replays the logs and writes a summary of their usage to w, with
// the top busiest users and targets.
//
// A non-zero from or to cuts the period reported to [from, to). Every event
// before to is applied, those before from too, so that the sessions open at
// from are known; the report gives the increase of the metrics between
// from and to, and the sessions active at to. The metrics at an instant t
// are those of every event stamped before t: a backfill sample at t minus
// 1ns, or --once on the log cut before its first event at or after t. Only
// the users and targets that started a session or ended session time in
// the period are counted. Reading stops at the first event at or after to.
func (e *Exporter) Report(ctx context.Context, w io.Writer, top int, from, to time.Time) error {
	return e.ReportAs(ctx, w, report.FormatText, top, from, to)
}

// ReportAs is Report written in format f (see report.Data.Render), with
// the distinct users per day, week and month of the period and its
// concurrent peaks besides.
func (e *Exporter) ReportAs(ctx context.Context, w io.Writer, f report.Format, top int, from, to time.Time) error {
	if !from.IsZero() && !to.IsZero() && !from.Before(to) {
		return fmt.Errorf("the period's start (%s) must be before its end (%s)", from.Format(time.RFC3339Nano), to.Format(time.RFC3339Nano))
	}
	rctx, stop := context.WithCancel(ctx)
	defer stop()
	cut := &reportCut{e: e, from: from, to: to, stop: stop, cal: report.NewCalendar()}
	span, err := e.replayThrough(rctx, cut.events, time.Hour, nil)
	if cut.err != nil {
		return cut.err
	}
	if err != nil && cut.stopped && ctx.Err() == nil &&
		// The reading that the cut cancelled; or, with no event before to,
		// Replay's having none to replay.
		(errors.Is(err, context.Canceled) || cut.applied == 0 && !errors.Is(err, errReadInputs)) {
		err = nil
	}
	if err != nil {
		return err
	}
	families, err := e.usageFamilies()
	if err != nil {
		return err
	}
	u := report.Summarize(families)
	switch {
	case cut.before != nil:
		u = u.Since(cut.before)
	case !from.IsZero():
		// No event at or after from was applied: none in the period.
		u = u.Since(u)
	}
	first, last, note := cut.period(span)
	u.Note = note
	var peaks report.Peaks
	if cut.inPeriod > 0 {
		cut.foldPeaks()
		peaks = cut.peaks
	}
	return u.Data(first, last, !cut.stopped, top, cut.cal, peaks).Render(w, f)
}

// peakFoldHours is how many hours of operator time pass between two looks
// at the collector's hourly peaks during a report, within the 720 hours
// it keeps.
const peakFoldHours = 600

// foldPeaks takes the most of the collector's hourly concurrent peaks in
// the hours that overlap the period into c.peaks.
func (c *reportCut) foldPeaks() {
	p := c.e.coll.Snapshot().Peaks
	if p == nil {
		return
	}
	lo, hi := int64(math.MinInt64), int64(math.MaxInt64)
	if !c.from.IsZero() {
		lo = c.from.Unix() / 3600
	}
	if !c.to.IsZero() {
		hi = c.to.Add(-time.Nanosecond).Unix() / 3600
	}
	for i := range p.Sessions {
		if h := p.Hour - int64(len(p.Sessions)) + 1 + int64(i); h >= lo && h <= hi {
			c.peaks.Sessions = max(c.peaks.Sessions, p.Sessions[i])
			c.peaks.Users = max(c.peaks.Users, p.Users[i])
		}
	}
	c.foldedAt = p.Hour
}

// reportCut passes the events of a report's replay on until the first at
// or after to, where it stops the reading, and takes the usage at from,
// before the first event at or after it.
type reportCut struct {
	e        *Exporter
	from, to time.Time // zero: the logs' start, their end
	stop     func()    // cancels the reading
	// before is the usage at from, once an event at or after it was read.
	before *report.Usage
	err    error
	// first is the first event's time, last the latest read (the one at or
	// after to included).
	first, last time.Time
	// applied counts the events passed on, inPeriod those at or after the
	// first at or after from.
	applied, inPeriod int
	// stopped says an event at or after to was read; next is its time.
	stopped bool
	next    time.Time
	// cal counts the distinct users per day, week and month of the
	// sessions started or ended in the period.
	cal *report.Calendar
	// peaks are the concurrent peaks of the period's hours seen so far,
	// folded from the collector's last at hour foldedAt (foldPeaks).
	peaks    report.Peaks
	foldedAt int64
}

func (c *reportCut) events(events iter.Seq[*decode.Event]) iter.Seq[*decode.Event] {
	return func(yield func(*decode.Event) bool) {
		for ev := range events {
			if c.first.IsZero() {
				c.first = ev.Time
			}
			if ev.Time.After(c.last) {
				c.last = ev.Time
			}
			if !c.to.IsZero() && !ev.Time.Before(c.to) {
				c.stopped, c.next = true, ev.Time
				c.stop()
				return
			}
			if c.before == nil && !c.from.IsZero() && !ev.Time.Before(c.from) {
				// Every event before this one is applied: the counters
				// hold the events before from.
				families, err := c.e.usageFamilies()
				if err != nil {
					c.err = err
					c.stop()
					return
				}
				c.before = report.Summarize(families)
			}
			if c.from.IsZero() || c.before != nil {
				if c.inPeriod == 0 {
					c.foldedAt = ev.Time.Unix() / 3600
				}
				c.inPeriod++
				if ev.Kind == decode.SessionStart || ev.Kind == decode.SessionEnd {
					// The client_user label's value, as the decoder
					// takes it from the labels.
					c.cal.Add(ev.Time, ev.ClientUser)
				}
				if ev.Time.Unix()/3600-c.foldedAt >= peakFoldHours {
					// Before the collector's 720 hours forget the
					// period's first ones.
					c.foldPeaks()
				}
			}
			c.applied++
			if !yield(ev) {
				return
			}
		}
	}
}

// period is the report's period: from and to clipped to the logs' first
// and last events, or, when no event fell in it, from and to as asked (the
// logs' ends for those not given), with a note saying so.
func (c *reportCut) period(span backfill.Span) (first, last time.Time, note string) {
	if c.inPeriod == 0 {
		first, last = c.from, c.to
		if first.IsZero() {
			first = c.first
		}
		if last.IsZero() {
			last = c.last
		}
		if last.Before(first) {
			last = first
		}
		note = fmt.Sprintf("no event in this period; the logs run from %s to %s", c.first.UTC().Format(time.RFC3339), c.last.UTC().Format(time.RFC3339))
		if c.stopped {
			note = fmt.Sprintf("no event in this period; the logs start at %s, and their first event from the period's end on is at %s",
				c.first.UTC().Format(time.RFC3339), c.next.UTC().Format(time.RFC3339))
		}
		return first.UTC(), last.UTC(), note
	}
	first, last = span.First, span.Last
	if c.from.After(first) {
		first = c.from
	}
	if c.stopped {
		// The logs go on past to.
		last = c.to
	}
	return first.UTC(), last.UTC(), ""
}
