package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"syscall"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"github.com/prometheus/common/version"
	"github.com/prometheus/exporter-toolkit/web"
	sloggokit "github.com/tjhop/slog-gokit"

	"github.com/mirrord-exporter/mirrord-exporter/collector"
	"github.com/mirrord-exporter/mirrord-exporter/family"
	"github.com/mirrord-exporter/mirrord-exporter/statefile"
)

// expireEvery is how often sessions are checked against --session.max-age.
const expireEvery = time.Minute

// serve follows the inputs and serves /metrics until ctx is cancelled, then
// shuts down in order: the listener, the inputs, and the events in flight.
func (p *pipeline) serve(ctx context.Context, o *options, base, logger log.Logger) error {
	applied := make(chan struct{})
	ticks := make(chan time.Time)
	go func() {
		p.coll.Run(p.events, ticks, p.snapshots)
		close(applied)
	}()
	// The inputs outlive ctx: the last save takes them as they stand,
	// before they stop (a stopping input counts its half-joined record as
	// lost; after a restart the record is still joined).
	inputsCtx, stopInputs := context.WithCancel(context.Background())
	defer stopInputs()
	sourcesDone := make(chan error, 1)
	go func() { sourcesDone <- p.inputs.run(inputsCtx) }()
	go expireAfterCatchUp(ctx, p.ready, ticks)
	saverCtx, stopSaver := context.WithCancel(ctx)
	saverDone := make(chan struct{})
	go func() {
		defer close(saverDone)
		if p.saver != nil {
			p.saver.Run(saverCtx)
		}
	}()

	server := &http.Server{
		Handler:           p.routes(o, logger),
		ReadHeaderTimeout: o.readHeaderTimeout,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
	serveErr := make(chan error, 1)
	go func() {
		slogger := slog.New(sloggokit.NewGoKitHandler(base, slog.LevelInfo))
		serveErr <- web.ListenAndServe(server, o.web, slogger)
	}()

	var err error
	select {
	case <-ctx.Done():
		level.Info(logger).Log("msg", "Shutting down")
	case err = <-serveErr:
		err = fmt.Errorf("serve: %w", err)
	case err = <-sourcesDone:
		if err != nil {
			err = fmt.Errorf("inputs: %w", err)
		}
		sourcesDone <- nil
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if serr := server.Shutdown(shutdownCtx); serr != nil && !errors.Is(serr, http.ErrServerClosed) {
		level.Warn(logger).Log("msg", "HTTP shutdown", "err", serr)
	}
	stopSaver()
	<-saverDone
	if p.saver != nil {
		if serr := p.saver.Save(); serr == nil {
			level.Info(logger).Log("msg", "Saved the state file", "path", o.stateFile)
		}
	}
	stopInputs()
	<-sourcesDone
	close(p.events)
	<-applied
	return err
}

// snapshot takes the state at one instant: every input stopped between two
// deliveries, every event they sent applied. It returns how long the inputs
// were stopped.
func (p *pipeline) snapshot() (*statefile.File, time.Duration, error) {
	start := time.Now()
	p.gate.Close()
	reply := make(chan *collector.Snapshot, 1)
	p.snapshots <- reply
	f := &statefile.File{
		SavedAt:         start.UTC(),
		ExporterVersion: version.Version,
		Collector:       <-reply,
	}
	var err error
	f.Ingest, err = p.ingest.Snapshot()
	if p.inputs.files != nil {
		f.Files = p.inputs.files.Positions()
	}
	if p.inputs.pods != nil {
		f.Pods = p.inputs.pods.Positions()
	}
	p.gate.Open()
	paused := time.Since(start)
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

func (p *pipeline) routes(o *options, logger log.Logger) http.Handler {
	mux := http.NewServeMux()
	mux.Handle(o.metricsPath, family.NewHandler(family.HandlerOpts{
		Registry: p.registry, Capped: p.capped, Own: p.coll.Families(),
		MaxRequests: o.maxRequests, ErrorLog: promhttpLogger{logger},
	}))
	mux.HandleFunc("/-/healthy", func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusOK)
		io.WriteString(w, "Healthy\n")
	})
	mux.HandleFunc("/-/ready", func(w http.ResponseWriter, _ *http.Request) {
		select {
		case <-p.ready:
			w.WriteHeader(http.StatusOK)
			io.WriteString(w, "Ready\n")
		default:
			// Serving half a replayed backlog would show a false rate jump.
			w.WriteHeader(http.StatusServiceUnavailable)
			io.WriteString(w, "Reading the log backlog\n")
		}
	})
	if o.metricsPath != "/" {
		landing, err := web.NewLandingPage(web.LandingConfig{
			Name:        "mirrord exporter",
			Description: "Prometheus exporter for the mirrord operator's log stream",
			Version:     version.Info(),
			Links: []web.LandingLinks{
				{Address: o.metricsPath, Text: "Metrics"},
				{Address: "/-/healthy", Text: "Health"},
				{Address: "/-/ready", Text: "Readiness"},
			},
		})
		if err != nil {
			level.Error(logger).Log("msg", "Landing page", "err", err)
		} else {
			mux.Handle("/", landing)
		}
	}
	return mux
}

// promhttpLogger adapts go-kit to promhttp's Println logger. A scraper that
// hung up (a scrape timeout, say) fails the write of every family left:
// that is logged at debug level, as it is no failure of the exporter's.
type promhttpLogger struct{ logger log.Logger }

func (l promhttpLogger) Println(v ...any) {
	at := level.Error
	for _, a := range v {
		if err, ok := a.(error); ok && (errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNRESET)) {
			at = level.Debug
		}
	}
	at(l.logger).Log("msg", "Serving metrics", "err", fmt.Sprint(v...))
}
