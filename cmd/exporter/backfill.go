package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/mirrord-exporter/mirrord-exporter/backfill"
	"github.com/mirrord-exporter/mirrord-exporter/decode"
)

// backfillOptions are the flags of the backfill command.
type backfillOptions struct {
	output string
	step   time.Duration
}

func addBackfillCommand(app *kingpin.Application, o *backfillOptions) {
	cmd := app.Command("backfill", "Replay saved logs in the operator's time and write the metrics as OpenMetrics with timestamps, for promtool tsdb create-blocks-from openmetrics.")
	cmd.Flag("output", "OpenMetrics file to write.").Required().StringVar(&o.output)
	cmd.Flag("step", "Interval between samples, in the logs' time; a last sample is taken at the final event.").Default("1m").DurationVar(&o.step)
}

// readEvents reads every input to its end and returns its events in the
// operator's time order (see backfill.Order). All events are held in memory,
// a few hundred bytes each.
func (p *pipeline) readEvents(ctx context.Context) ([]decode.Event, error) {
	var events []decode.Event
	drained := make(chan struct{})
	go func() {
		for ev := range p.events {
			events = append(events, ev)
		}
		close(drained)
	}()
	err := p.inputs.run(ctx)
	close(p.events)
	<-drained
	if err != nil {
		return nil, fmt.Errorf("read inputs: %w", err)
	}
	if err := backfill.Order(events); err != nil {
		return nil, err
	}
	return events, nil
}

// usageFamilies gathers the mirrord_* families as --once prints them, but
// not the exporter's own mirrord_exporter_* ones: those count reading, which
// happens now, not in the logs' time.
func usageFamilies(g prometheus.Gatherer) ([]*dto.MetricFamily, error) {
	families, err := g.Gather()
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

func (p *pipeline) backfill(ctx context.Context, o backfillOptions) error {
	events, err := p.readEvents(ctx)
	if err != nil {
		return err
	}
	// The temporary files sit beside the output: the same file system, with
	// room for about as much as the output.
	w, err := backfill.NewWriter(filepath.Dir(o.output))
	if err != nil {
		return err
	}
	defer w.Close()
	w.Start(events[0].Time.Truncate(o.step))
	err = backfill.Replay(events, p.coll, o.step, func(t time.Time) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		families, err := usageFamilies(p.gatherer())
		if err != nil {
			return err
		}
		return w.Sample(families, t)
	})
	if err != nil {
		return fmt.Errorf("replay: %w", err)
	}
	f, err := os.Create(o.output)
	if err != nil {
		return fmt.Errorf("--output: %w", err)
	}
	if _, err := w.WriteTo(f); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", o.output, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", o.output, err)
	}
	return nil
}
