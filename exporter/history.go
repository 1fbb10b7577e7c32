package exporter

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/mirrord-exporter/mirrord-exporter/backfill"
	"github.com/mirrord-exporter/mirrord-exporter/decode"
	"github.com/mirrord-exporter/mirrord-exporter/family"
	"github.com/mirrord-exporter/mirrord-exporter/report"
)

// readEvents reads every input to its end and returns its events in the
// operator's time order (see backfill.Order). All events are held in memory,
// a few hundred bytes each.
func (e *Exporter) readEvents(ctx context.Context) ([]decode.Event, error) {
	var events []decode.Event
	drained := make(chan struct{})
	go func() {
		for ev := range e.events {
			events = append(events, ev)
		}
		close(drained)
	}()
	err := e.inputs.run(ctx)
	close(e.events)
	<-drained
	if err != nil {
		return nil, fmt.Errorf("read inputs: %w", err)
	}
	if err := backfill.Order(events); err != nil {
		return nil, err
	}
	return events, nil
}

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

// Backfill replays the logs in the operator's time and writes the metrics
// every step, and at the final event, to output as OpenMetrics with
// timestamps.
func (e *Exporter) Backfill(ctx context.Context, output string, step time.Duration) error {
	events, err := e.readEvents(ctx)
	if err != nil {
		return err
	}
	// The temporary files sit beside the output: the same file system, with
	// room for about as much as the output.
	w, err := family.NewTimeline(filepath.Dir(output))
	if err != nil {
		return err
	}
	defer w.Close()
	w.Start(events[0].Time.Truncate(step))
	err = backfill.Replay(events, e.coll, step, func(t time.Time) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		families, err := e.usageFamilies()
		if err != nil {
			return err
		}
		return w.Sample(families, t)
	})
	if err != nil {
		return fmt.Errorf("replay: %w", err)
	}
	f, err := os.Create(output)
	if err != nil {
		return fmt.Errorf("--output: %w", err)
	}
	if _, err := w.WriteTo(f); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", output, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", output, err)
	}
	return nil
}

// Report replays the logs and writes a summary of their usage to w, with
// the top busiest users and targets.
func (e *Exporter) Report(ctx context.Context, w io.Writer, top int) error {
	events, err := e.readEvents(ctx)
	if err != nil {
		return err
	}
	if err := backfill.Replay(events, e.coll, time.Hour, nil); err != nil {
		return fmt.Errorf("replay: %w", err)
	}
	families, err := e.usageFamilies()
	if err != nil {
		return err
	}
	first, last := events[0].Time.UTC(), events[len(events)-1].Time.UTC()
	return report.Summarize(families).Write(w, first, last, top)
}
