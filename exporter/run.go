package exporter

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/go-kit/log/level"
	"github.com/prometheus/common/version"

	"github.com/mirrord-exporter/mirrord-exporter/collector"
	"github.com/mirrord-exporter/mirrord-exporter/statefile"
)

// expireEvery is how often sessions are checked against SessionMaxAge.
const expireEvery = time.Minute

// shutdownTimeout bounds how long the server's requests in flight may
// delay the final save.
const shutdownTimeout = 10 * time.Second

// Server serves the metrics while Run follows the logs: Serve blocks until
// Shutdown or a failure.
type Server interface {
	Serve() error
	Shutdown(ctx context.Context) error
}

// Run follows the inputs, and serves with srv (nil: none), until ctx is
// cancelled, an input fails or srv does; then it shuts down in order: the
// server, the periodic saves, a last save with the inputs as they stand,
// the inputs, and the events in flight.
func (e *Exporter) Run(ctx context.Context, srv Server) error {
	logger := e.cfg.Logger
	applied := make(chan struct{})
	ticks := make(chan time.Time)
	go func() {
		e.coll.Run(e.events, ticks, e.snapshots)
		close(applied)
	}()
	if e.fresh && e.inputs.files != nil {
		// The first save, before any line is read, knows the file each path
		// starts in (see file.Manager.PinStart): a kill before the next save
		// then loses nothing, even if that file is rotated meanwhile.
		e.inputs.files.PinStart()
		_ = e.saver.Save() // a failure is logged and counted; reading goes on
	}
	// The inputs outlive ctx: the last save takes them as they stand,
	// before they stop (a stopping input counts its half-joined record as
	// lost; after a restart the record is still joined).
	inputsCtx, stopInputs := context.WithCancel(context.Background())
	defer stopInputs()
	inputsDone := make(chan error, 1)
	go func() { inputsDone <- e.inputs.run(inputsCtx) }()
	go expireAfterCatchUp(ctx, e.ready, ticks)
	saverCtx, stopSaver := context.WithCancel(ctx)
	saverDone := make(chan struct{})
	go func() {
		defer close(saverDone)
		if e.saver != nil {
			e.saver.Run(saverCtx, e.saveNow)
		}
	}()
	serveErr := make(chan error, 1)
	if srv != nil {
		go func() { serveErr <- srv.Serve() }()
	}

	var err error
	select {
	case <-ctx.Done():
		level.Info(logger).Log("msg", "Shutting down")
	case err = <-serveErr:
		err = fmt.Errorf("serve: %w", err)
	case err = <-inputsDone:
		if err != nil {
			err = fmt.Errorf("inputs: %w", err)
		}
		inputsDone <- nil
	}
	if srv != nil {
		shutdownCtx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
		defer cancel()
		if serr := srv.Shutdown(shutdownCtx); serr != nil && !errors.Is(serr, http.ErrServerClosed) {
			level.Warn(logger).Log("msg", "HTTP shutdown", "err", serr)
		}
	}
	stopSaver()
	<-saverDone
	if e.saver != nil {
		if serr := e.saver.Save(); serr == nil {
			level.Info(logger).Log("msg", "Saved the state file", "path", e.cfg.StateFile)
		}
	}
	stopInputs()
	<-inputsDone
	close(e.events)
	<-applied
	return err
}

// Reload is what SIGHUP asks for (logrotate's postrotate, systemd's
// ExecReload): save the state file now, if there is one, and look at once
// for new files that match the globs. It never blocks: a request made while
// one is pending is the same request.
func (e *Exporter) Reload() {
	select {
	case e.saveNow <- struct{}{}:
	default:
	}
	if e.inputs.files != nil {
		e.inputs.files.Rescan()
	}
}

// errNoStateFile: without a state file the inputs deliver through no gate.
var errNoStateFile = errors.New("no state file: nothing to snapshot")

// Snapshot takes the state at one instant: every input stopped between two
// deliveries, every event they sent applied. It returns how long the inputs
// were stopped. It needs a state file, and Run running.
func (e *Exporter) Snapshot() (*statefile.File, time.Duration, error) {
	if e.gate == nil {
		return nil, 0, errNoStateFile
	}
	start := e.cfg.Now()
	e.gate.Close()
	reply := make(chan *collector.Snapshot, 1)
	e.snapshots <- reply
	f := &statefile.File{
		SavedAt:         start.UTC(),
		ExporterVersion: version.Version,
		Collector:       <-reply,
	}
	var err error
	f.Ingest, err = e.ingest.Snapshot()
	if e.inputs.files != nil {
		f.Files = e.inputs.files.Positions()
	}
	if e.inputs.pods != nil {
		f.Pods = e.inputs.pods.Positions()
	}
	e.gate.Open()
	paused := e.cfg.Now().Sub(start)
	f.Collector.Sort() // with the inputs running again
	return f, paused, err
}

// expireAfterCatchUp forwards expiry ticks only once the backlog present at
// start has been read: while replaying it, the wall clock is not the log's
// time and would expire sessions whose end is still to be read.
func expireAfterCatchUp(ctx context.Context, caughtUp <-chan struct{}, ticks chan<- time.Time) {
	select {
	case <-caughtUp:
	case <-ctx.Done():
		return
	}
	t := time.NewTicker(expireEvery)
	defer t.Stop()
	for {
		select {
		case now := <-t.C:
			select {
			case ticks <- now:
			case <-ctx.Done():
				return
			}
		case <-ctx.Done():
			return
		}
	}
}
