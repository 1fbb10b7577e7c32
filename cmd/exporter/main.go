// Command exporter follows the mirrord operator's log stream and serves the
// usage it records (sessions, users, targets, ports) as Prometheus metrics.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/alecthomas/units"
	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	versioncollector "github.com/prometheus/client_golang/prometheus/collectors/version"
	"github.com/prometheus/common/version"
	"github.com/prometheus/exporter-toolkit/web"
	"github.com/prometheus/exporter-toolkit/web/kingpinflag"

	"github.com/mirrord-exporter/mirrord-exporter/collector"
	"github.com/mirrord-exporter/mirrord-exporter/decode"
	"github.com/mirrord-exporter/mirrord-exporter/ingest"
	"github.com/mirrord-exporter/mirrord-exporter/input"
	"github.com/mirrord-exporter/mirrord-exporter/statefile"
	"github.com/mirrord-exporter/mirrord-exporter/unwrap"
)

const exporterName = "mirrord_exporter"

// defaultListenAddress: the 9100-9999 range of Prometheus' default port
// allocations list is fully taken; 9174 was given to the Docker Cloud
// exporter, whose service shut down in 2018.
const defaultListenAddress = ":9174"

// options are the parsed command line; nothing outside main reads flags.
type options struct {
	web          *web.FlagConfig
	metricsPath  string
	maxRequests  int
	paths        []string
	kubernetes   *kubernetesOptions
	stdin        io.Reader
	from         string
	format       string
	maxLineBytes units.Base2Bytes
	pollInterval time.Duration
	inotify      bool
	once         bool
	labels       []string
	noLabels     []string
	maxAge       time.Duration
	maxSeries    int
	seriesTTL    time.Duration
	// readHeaderTimeout bounds how long a client may take to send its
	// request headers, so that idle connections cannot pin the server.
	readHeaderTimeout time.Duration
	logLevel          string
	logFormat         string
	stateFile         string
	saveInterval      time.Duration

	// command is the subcommand: serve (the default, also --once),
	// backfill or report.
	command  string
	backfill backfillOptions
	report   reportOptions
}

func parseFlags(args []string) (*options, error) {
	app := kingpin.New("exporter", "Prometheus exporter for the mirrord operator's log stream.")
	o := &options{web: kingpinflag.AddFlags(app, defaultListenAddress)}
	app.Flag("web.telemetry-path", "Path under which to expose metrics.").Default("/metrics").StringVar(&o.metricsPath)
	app.Flag("web.max-requests", "Maximum number of concurrent scrapes; 0 means no limit.").Default("40").IntVar(&o.maxRequests)
	app.Flag("web.read-header-timeout", "Time a client has to send its request headers before its connection is closed.").
		Default("10s").DurationVar(&o.readHeaderTimeout)

	app.Flag("log.path", "Operator log to follow: a file, a glob (files that appear later are followed too) or - for standard input. Repeatable.").
		StringsVar(&o.paths)
	o.kubernetes = addKubernetesFlags(app)
	app.Flag("log.from", "Where to start in files present at start-up: beginning or end. Files that appear later are read from their start.").
		Default("beginning").EnumVar(&o.from, "beginning", "end")
	app.Flag("log.format", "Wrapper of the operator's log lines: auto (detected per line), json (raw), docker (json-file) or cri.").
		Default("auto").EnumVar(&o.format, "auto", "json", "docker", "cri")
	app.Flag("log.max-line-bytes", "Longest log record kept, after joining split parts; longer ones are dropped and counted.").
		Default("1MiB").BytesVar(&o.maxLineBytes)
	app.Flag("log.poll-interval", "How often files are checked for growth, rotation and truncation, and globs for new files, besides inotify.").
		Default("200ms").DurationVar(&o.pollInterval)
	app.Flag("log.inotify", "Use inotify to learn of file changes at once; --no-log.inotify polls only, for file systems where inotify does not work.").Default("true").BoolVar(&o.inotify)
	app.Flag("once", "Read every input to its end, print the metrics in the Prometheus text format and exit, without serving.").BoolVar(&o.once)

	app.Flag("label", "Event field to add as a label of the session, port and copy metrics. Repeatable.").StringsVar(&o.labels)
	app.Flag("no-label", "Default label to drop (client_user cannot be dropped). Repeatable.").StringsVar(&o.noLabels)
	app.Flag("session.max-age", "Drop a session that never ended from the active gauges once it is this old; 0 keeps it forever.").
		Default("24h").DurationVar(&o.maxAge)
	app.Flag("metrics.max-series", "Most series per metric family labelled from the log; further label values go to one series labelled "+collector.OverflowValue+". 0 means no cap.").
		Default(strconv.Itoa(collector.DefaultMaxSeries)).IntVar(&o.maxSeries)
	app.Flag("metrics.series-ttl", "Delete a series not updated for this long (active gauges only at zero); 0 never does. Deleting a counter series resets it.").
		Default("0").DurationVar(&o.seriesTTL)

	app.Flag("state.file", "File to save the exporter's state in (metrics, open sessions, input positions) and to resume from at start, so that a restart neither counts lines twice nor loses any; empty keeps no state.").
		StringVar(&o.stateFile)
	app.Flag("state.save-interval", "How often the state file is saved, besides at shutdown; after a crash, the lines since the last save are read again.").
		Default("10s").DurationVar(&o.saveInterval)

	app.Flag("exporter.log.level", "Level of the exporter's own log: debug, info, warn or error.").
		Default("info").EnumVar(&o.logLevel, "debug", "info", "warn", "error")
	app.Flag("exporter.log.format", "Format of the exporter's own log: logfmt or json.").
		Default("logfmt").EnumVar(&o.logFormat, "logfmt", "json")

	// serve is the default command so that every invocation written before
	// the subcommands existed keeps its meaning.
	app.Command("serve", "Follow the operator's logs and serve the metrics, or print them with --once (the default command).").Default()
	addBackfillCommand(app, &o.backfill)
	addReportCommand(app, &o.report)

	app.Version(version.Print(exporterName))
	app.HelpFlag.Short('h')
	cmd, err := app.Parse(args)
	if err != nil {
		return nil, err
	}
	o.command = cmd
	if o.command != "serve" {
		if o.once {
			return nil, fmt.Errorf("--once is for serving; %s reads the logs to their end already", o.command)
		}
		if o.kubernetes.enabled {
			return nil, fmt.Errorf("%s reads saved logs; it cannot follow --kubernetes", o.command)
		}
		// Both read saved logs to their end, like --once.
		o.once = true
	}
	if o.stateFile != "" && o.once {
		what := "--once"
		if o.command != "serve" {
			what = o.command
		}
		return nil, fmt.Errorf("--state.file is for following logs; %s reads them to their end from their start", what)
	}
	if o.saveInterval <= 0 {
		return nil, fmt.Errorf("--state.save-interval must be positive, got %s", o.saveInterval)
	}
	if o.command == "backfill" && o.backfill.step < time.Second {
		return nil, fmt.Errorf("--step must be at least 1s, got %s", o.backfill.step)
	}
	if int64(o.maxLineBytes) < 1024 || int64(o.maxLineBytes) > 1<<30 {
		return nil, fmt.Errorf("--log.max-line-bytes must be between 1KiB and 1GiB, got %s", o.maxLineBytes)
	}
	if o.maxSeries < 0 {
		return nil, fmt.Errorf("--metrics.max-series must not be negative, got %d", o.maxSeries)
	}
	if o.seriesTTL < 0 {
		return nil, fmt.Errorf("--metrics.series-ttl must not be negative, got %s", o.seriesTTL)
	}
	if o.readHeaderTimeout <= 0 {
		return nil, fmt.Errorf("--web.read-header-timeout must be positive, got %s", o.readHeaderTimeout)
	}
	return o, nil
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// run is the whole program; it returns the exit code so that deferred
// clean-ups run before main exits.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	o, err := parseFlags(args)
	if err != nil {
		fmt.Fprintf(stderr, "exporter: %v\n", err)
		return 2
	}
	base, logger := newLoggers(stderr, o.logFormat, o.logLevel)
	level.Info(logger).Log("msg", "Starting "+exporterName, "version", version.Info())
	level.Info(logger).Log("msg", "Build context", "build_context", version.BuildContext())

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	o.stdin = stdin
	if err := runExporter(ctx, o, stdout, base, logger); err != nil {
		level.Error(logger).Log("msg", "Exporter failed", "err", err)
		return 1
	}
	return 0
}

// newLoggers returns the undecorated base logger (for the slog bridge, which
// adds its own time and caller) and the decorated, level-filtered one.
func newLoggers(w io.Writer, format, lvl string) (base, logger log.Logger) {
	sw := log.NewSyncWriter(w)
	if format == "json" {
		base = log.NewJSONLogger(sw)
	} else {
		base = log.NewLogfmtLogger(sw)
	}
	base = level.NewFilter(base, level.Allow(level.ParseDefault(lvl, level.InfoValue())))
	logger = log.With(base, "ts", log.DefaultTimestampUTC, "caller", log.DefaultCaller)
	return base, logger
}

// pipeline is every stage, wired: sources feed sinks, sinks feed the events
// channel, and the collector applies them.
type pipeline struct {
	// registry holds every metric but the capped families (those labelled
	// from the log), which are in capped and print themselves.
	registry *prometheus.Registry
	capped   *prometheus.Registry
	inputs   inputs
	ready    <-chan struct{} // closed once every input read what was there at start
	coll     *collector.Collector
	ingest   *ingest.Pipeline
	events   chan decode.Event

	// With a state file: the gate the inputs deliver through, the
	// collector's snapshot requests, and the saver.
	gate      *input.Gate
	snapshots chan chan<- *collector.Snapshot
	saver     *statefile.Saver
}

// newPipeline builds the pipeline, resumed from the state file if there is
// a usable one. One that cannot be used is set aside and the exporter
// starts afresh: a state file never stops it from running.
func newPipeline(o *options, logger log.Logger) (*pipeline, error) {
	if o.stateFile == "" {
		return buildPipeline(o, logger, nil)
	}
	statefile.RemoveStaleTemporaries(o.stateFile)
	saved, err := statefile.Load(o.stateFile)
	if err == nil {
		var p *pipeline
		p, err = buildPipeline(o, logger, saved)
		if !errors.Is(err, errRestore) {
			return p, err
		}
	}
	if !errors.Is(err, statefile.ErrCorrupt) && !errors.Is(err, errRestore) {
		return nil, err
	}
	msg := "The state file cannot be used; set it aside and starting afresh (inputs are read as if there were no state)"
	if aside, aerr := statefile.SetAside(o.stateFile, time.Now()); aerr != nil {
		level.Error(logger).Log("msg", msg+"; setting it aside failed too, it will be overwritten at the first save", "path", o.stateFile, "err", err, "set_aside_err", aerr)
	} else {
		level.Error(logger).Log("msg", msg, "path", o.stateFile, "err", err, "kept_as", aside)
	}
	return buildPipeline(o, logger, nil)
}

// errRestore marks a state file whose content this pipeline cannot take.
var errRestore = errors.New("cannot restore the saved state")

func buildPipeline(o *options, logger log.Logger, saved *statefile.File) (*pipeline, error) {
	labels, err := decode.NewLabelConfig(o.labels, o.noLabels)
	if err != nil {
		return nil, fmt.Errorf("labels: %w", err)
	}
	format, err := unwrap.ParseFormat(o.format)
	if err != nil {
		return nil, fmt.Errorf("--log.format: %w", err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(versioncollector.NewCollector(exporterName))
	if !o.once {
		reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	// The capped families print themselves for --once and /metrics.
	capped := prometheus.NewRegistry()
	coll, err := collector.New(collector.Config{
		Labels: labels, SessionMaxAge: o.maxAge, Registerer: reg, CappedRegisterer: capped,
		Limits: collector.Limits{MaxSeries: o.maxSeries, SeriesTTL: o.seriesTTL},
	})
	if err != nil {
		return nil, err
	}
	events := make(chan decode.Event, 1024)
	ing, err := ingest.New(ingest.Config{
		Format: format, MaxLineBytes: int(o.maxLineBytes), Labels: labels,
		Events: events, Logger: logger, Registerer: reg,
	})
	if err != nil {
		return nil, err
	}
	p := &pipeline{registry: reg, capped: capped, coll: coll, ingest: ing, events: events}
	var resume positions
	if o.stateFile != "" {
		p.gate = &input.Gate{}
		p.snapshots = make(chan chan<- *collector.Snapshot)
		if saved != nil {
			if err := coll.Restore(saved.Collector); err != nil {
				return nil, fmt.Errorf("%w: collector: %w", errRestore, err)
			}
			if err := ing.Restore(saved.Ingest); err != nil {
				return nil, fmt.Errorf("%w: %w", errRestore, err)
			}
			resume = positions{files: saved.Files, pods: saved.Pods}
			level.Info(logger).Log("msg", "Resuming from the state file", "path", o.stateFile, "saved_at", saved.SavedAt, "files", len(saved.Files), "container_logs", len(saved.Pods))
		}
		if p.saver, err = statefile.NewSaver(statefile.SaverConfig{
			Path: o.stateFile, Interval: o.saveInterval, Snapshot: p.snapshot,
			Restored: saved != nil, Logger: logger, Registerer: reg,
		}); err != nil {
			return nil, err
		}
	}
	if p.inputs, err = newInputs(o, ing.NewSink, p.gate, resume, logger, reg); err != nil {
		return nil, err
	}
	p.ready = p.inputs.ready()
	return p, nil
}

func runExporter(ctx context.Context, o *options, stdout io.Writer, base, logger log.Logger) error {
	p, err := newPipeline(o, logger)
	if err != nil {
		return err
	}
	switch o.command {
	case "backfill":
		return p.backfill(ctx, o.backfill)
	case "report":
		return p.report(ctx, o.report, stdout)
	}
	if o.once {
		return p.once(ctx, stdout)
	}
	return p.serve(ctx, o, base, logger)
}

// once reads every input to its end and prints the mirrord metrics.
func (p *pipeline) once(ctx context.Context, stdout io.Writer) error {
	applied := make(chan struct{})
	go func() {
		p.coll.Run(p.events, nil, nil)
		close(applied)
	}()
	err := p.inputs.run(ctx)
	close(p.events)
	<-applied
	if err != nil {
		return fmt.Errorf("read inputs: %w", err)
	}
	// A saved log's "now" is its last event, not the wall clock.
	p.coll.Expire(p.coll.LatestEventTime())
	return writeExposition(stdout, p.registry, p.coll.Families())
}

// gatherer gathers every metric.
func (p *pipeline) gatherer() prometheus.Gatherer {
	return prometheus.Gatherers{p.registry, p.capped}
}
