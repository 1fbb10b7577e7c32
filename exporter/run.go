package exporter

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"github.com/prometheus/common/version"

	"github.com/mirrord-exporter/mirrord-exporter/collector"
	"github.com/mirrord-exporter/mirrord-exporter/statefile"
)

// expireEvery is how often sessions are checked against SessionMaxAge.
const expireEvery = time.Minute

// httpGrace is how long the requests in flight at shutdown have to finish
// before their connections are closed. The state is saved before: a scraper
// that stopped reading delays nothing that matters, and the whole shutdown
// stays well inside a short termination grace period.
const httpGrace = 2 * time.Second

// closeWait bounds the wait for Close: closing a TLS connection writes an
// alert, which a client that reads nothing can hold up for seconds.
const closeWait = time.Second

// Server serves the metrics while Run follows the logs: Serve blocks until
// Shutdown, Close or a failure.
type Server interface {
	Serve() error
	// Shutdown stops accepting and waits for the requests in flight.
	Shutdown(ctx context.Context) error
	// Close closes every connection, requests in flight or not.
	Close() error
}

// Servers serve together: Serve returns with the first to stop, and
// Shutdown and Close act on all of them at once.
type Servers []Server

func (ss Servers) Serve() error {
	errs := make(chan error, len(ss))
	for _, s := range ss {
		go func() { errs <- s.Serve() }()
	}
	return <-errs
}

func (ss Servers) Shutdown(ctx context.Context) error {
	errs := make(chan error, len(ss))
	for _, s := range ss {
		go func() { errs <- s.Shutdown(ctx) }()
	}
	var all []error
	for range ss {
		all = append(all, <-errs)
	}
	return errors.Join(all...)
}

func (ss Servers) Close() error {
	var all []error
	for _, s := range ss {
		all = append(all, s.Close())
	}
	return errors.Join(all...)
}

// Run follows the inputs, and serves with srv (nil: none), until ctx is
// cancelled, an input fails or srv does; then it shuts down in order: the
// OTLP receiver (answering 503 from then on), the periodic saves, a last save with the inputs as they stand (held there
// from then on), the server (httpGrace for its requests in flight, then
// closed), the inputs, and the events in flight.
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
	if e.otlp != nil {
		// Before the last save, so that every request answered 200 is in
		// it; later ones are answered 503 and sent again after the restart.
		e.otlp.Close()
	}
	stopSaver()
	<-saverDone
	if e.saver != nil {
		// Saved before waiting on any HTTP client, which may take its time.
		// The snapshot holds the inputs until they stop: until the server
		// is down every scrape shows exactly the state saved, so that no
		// counter a scraper saw goes back after the restart.
		e.holdInputs = true
		_ = e.saver.SaveFinal() // logged either way
	}
	if srv != nil {
		stopServer(srv, logger)
	}
	stopInputs()
	if e.holdInputs {
		e.gate.Open() // the inputs see their context ended
	}
	<-inputsDone
	close(e.events)
	<-applied
	return err
}

// stopServer gives the requests in flight httpGrace to finish, then closes
// their connections. Neither step is waited for longer than its bound:
// neither a stalled client nor a TLS alert it never reads delays the exit.
func stopServer(srv Server, logger log.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), httpGrace)
	defer cancel()
	shut := make(chan error, 1)
	go func() { shut <- srv.Shutdown(ctx) }()
	var err error
	select {
	case err = <-shut:
	case <-ctx.Done():
		err = ctx.Err()
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		if err != nil && !errors.Is(err, http.ErrServerClosed) {
			level.Warn(logger).Log("msg", "HTTP shutdown", "err", err)
		}
		return
	}
	level.Warn(logger).Log("msg", fmt.Sprintf("HTTP requests still in flight %s into the shutdown (clients not reading their answer?); closing their connections", httpGrace))
	closed := make(chan struct{})
	go func() {
		srv.Close() // the connections are what matters, not its error
		close(closed)
	}()
	select {
	case <-closed:
	case <-time.After(closeWait):
		level.Warn(logger).Log("msg", fmt.Sprintf("Closing the HTTP connections takes more than %s; exiting without waiting for them", closeWait))
	}
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
// were stopped (the last save of Run leaves them stopped). It needs a state
// file, and Run running.
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
		Pseudonyms:      pseudonymsOf(e.labels),
	}
	var err error
	f.Ingest, err = e.ingest.Snapshot()
	if e.inputs.files != nil {
		f.Files = e.inputs.files.Positions()
	}
	if e.inputs.pods != nil {
		f.Pods = e.inputs.pods.Positions()
	}
	if !e.holdInputs {
		e.gate.Open()
	}
	paused := e.cfg.Now().Sub(start)
	f.Collector.Sort() // outside the pause
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
