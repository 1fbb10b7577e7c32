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
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/alecthomas/units"
	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"github.com/prometheus/common/version"
	"github.com/prometheus/exporter-toolkit/web"
	"github.com/prometheus/exporter-toolkit/web/kingpinflag"

	"github.com/mirrord-exporter/mirrord-exporter/blocks"
	"github.com/mirrord-exporter/mirrord-exporter/collector"
	"github.com/mirrord-exporter/mirrord-exporter/exporter"
	"github.com/mirrord-exporter/mirrord-exporter/family"
	"github.com/mirrord-exporter/mirrord-exporter/pseudonym"
	"github.com/mirrord-exporter/mirrord-exporter/unwrap"
)

const exporterName = exporter.Name

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
	// pseudonymize are the fields pseudonymized under the key read from
	// pseudonymKeyFile (by check, into pseudonymKey).
	pseudonymize     []string
	pseudonymKeyFile string
	pseudonymKey     *pseudonym.Key
	maxAge           time.Duration
	maxSeries        int
	seriesTTL        time.Duration
	// readHeaderTimeout bounds how long a client may take to send its
	// request headers, so that idle connections cannot pin the server;
	// writeTimeout how long a scraper may take to take a rendered
	// response, so that clients that do not read cannot starve the others.
	readHeaderTimeout time.Duration
	writeTimeout      time.Duration
	// otlpListenAddress serves OTLP/HTTP logs when set; otlpMaxRequestBytes
	// bounds a request's body, before and after gzip.
	otlpListenAddress   string
	otlpMaxRequestBytes units.Base2Bytes
	pprof               bool
	logLevel            string
	logFormat           string
	stateFile           string
	saveInterval        time.Duration

	// command is the subcommand: serve (the default, also --once),
	// backfill or report.
	command  string
	backfill backfillOptions
	report   reportOptions
	// pseudonymCmd is the pseudonym command's.
	pseudonymCmd pseudonymOptions
}

func parseFlags(args []string) (*options, error) {
	app, o := newApp()
	cmd, err := app.Parse(args)
	if err != nil {
		return nil, err
	}
	return o.check(cmd)
}

// newApp defines the commands and flags, bound to the options returned.
func newApp() (*kingpin.Application, *options) {
	app := kingpin.New("mirrord-exporter", "Prometheus exporter for the mirrord operator's log stream.")
	o := &options{web: kingpinflag.AddFlags(app, defaultListenAddress)}
	app.Flag("web.telemetry-path", "Path under which to expose metrics.").Default("/metrics").StringVar(&o.metricsPath)
	app.Flag("web.max-requests", "Maximum number of concurrent scrapes; 0 means no limit.").Default("40").IntVar(&o.maxRequests)
	app.Flag("web.enable-pprof", "Serve Go's profiles under /debug/pprof/ (behind --web.config.file's TLS and basic auth like every path).").
		BoolVar(&o.pprof)
	app.Flag("web.read-header-timeout", "Time a client has to send its request headers before its connection is closed.").
		Default("10s").DurationVar(&o.readHeaderTimeout)
	app.Flag("web.write-timeout", "Time a scraper has to take a rendered /metrics response before its connection is closed and the scrape counted in mirrord_exporter_scrapes_stalled_total.").
		Default("5s").DurationVar(&o.writeTimeout)

	app.Flag("otlp.listen-address", "Address to receive the operator's logs on over OTLP/HTTP (POST /v1/logs), behind --web.config.file's TLS and basic auth; empty receives none.").
		StringVar(&o.otlpListenAddress)
	app.Flag("otlp.max-request-bytes", "Largest OTLP request body accepted, both as sent and after gzip; larger ones are answered 413.").
		Default("4MiB").BytesVar(&o.otlpMaxRequestBytes)

	app.Flag("input.path", "Operator log to follow: a file, a glob (files that appear later are followed too) or - for standard input. Repeatable.").
		StringsVar(&o.paths)
	o.kubernetes = addKubernetesFlags(app)
	app.Flag("input.from", "Where to start in files present at start-up: beginning or end. Files that appear later are read from their start.").
		Default("beginning").EnumVar(&o.from, "beginning", "end")
	app.Flag("input.format", "Wrapper of the operator's log lines: auto (detected per line), json (raw), docker (json-file) or cri.").
		Default("auto").EnumVar(&o.format, "auto", "json", "docker", "cri")
	app.Flag("input.max-line-bytes", "Longest log record kept, after joining split parts; longer ones are dropped and counted.").
		Default("1MiB").BytesVar(&o.maxLineBytes)
	app.Flag("input.poll-interval", "How often files are checked for growth, rotation and truncation, and globs for new files, besides inotify.").
		Default("200ms").DurationVar(&o.pollInterval)
	app.Flag("input.inotify", "Use inotify to learn of file changes at once; --no-input.inotify polls only, for file systems where inotify does not work.").Default("true").BoolVar(&o.inotify)
	app.Flag("once", "Read every input to its end, print the metrics in the Prometheus text format and exit, without serving.").BoolVar(&o.once)

	app.Flag("label", "Event field to add as a label of the session, port and copy metrics. Repeatable.").StringsVar(&o.labels)
	app.Flag("no-label", "Default label to drop (client_user cannot be dropped). Repeatable.").StringsVar(&o.noLabels)
	app.Flag("label.pseudonymize", "Event field whose values (e.g. client_user, client_name, client_hostname, client_id) are replaced everywhere by a keyed pseudonym, anon- and 16 hex digits. Repeatable; needs --label.pseudonymize-key-file.").
		StringsVar(&o.pseudonymize)
	app.Flag("label.pseudonymize-key-file", "File holding the key of --label.pseudonymize (its whole content but a trailing newline, at least 16 bytes).").
		StringVar(&o.pseudonymKeyFile)
	app.Flag("session.max-age", "Drop a session that never ended from the active gauges once it is this old; 0 keeps it forever.").
		Default("24h").DurationVar(&o.maxAge)
	app.Flag("metrics.max-series", "Most series per metric family labelled from the log; further label values go to one series labelled "+collector.OverflowValue+". Also the most clients and users remembered for the seats seen. 0 means no cap.").
		Default(strconv.Itoa(collector.DefaultMaxSeries)).IntVar(&o.maxSeries)
	app.Flag("metrics.series-ttl", "Delete a series not updated for this long (active gauges only at zero); 0 never does. Deleting a counter series resets it.").
		Default("0").DurationVar(&o.seriesTTL)

	app.Flag("state.file", "File to save the exporter's state in (metrics, open sessions, input positions) and to resume from at start, so that a restart neither counts lines twice nor loses any; empty keeps no state.").
		StringVar(&o.stateFile)
	app.Flag("state.save-interval", "How often the state file is saved, besides at shutdown; after a crash, the lines since the last save are read again.").
		Default("10s").DurationVar(&o.saveInterval)

	app.Flag("log.level", "Level of the exporter's own log: debug, info, warn or error.").
		Default("info").EnumVar(&o.logLevel, "debug", "info", "warn", "error")
	// Not an enum: a wrapper given here by the old meaning gets an error
	// naming --input.format, not kingpin's list of log formats.
	app.Flag("log.format", "Format of the exporter's own log: logfmt or json.").
		Default("logfmt").StringVar(&o.logFormat)
	addRenamedFlags(app)

	// serve is the default command so that every invocation written before
	// the subcommands existed keeps its meaning.
	app.Command("serve", "Follow the operator's logs and serve the metrics, or print them with --once (the default command).").Default()
	addBackfillCommand(app, &o.backfill)
	addReportCommand(app, &o.report)
	addPseudonymCommand(app, &o.pseudonymCmd)

	app.Version(version.Print(exporterName))
	app.HelpFlag.Short('h')
	return app, o
}

// check validates the parsed options of command cmd.
func (o *options) check(cmd string) (*options, error) {
	o.command = cmd
	switch o.logFormat {
	case "logfmt", "json":
	case "auto", "docker", "cri":
		return nil, fmt.Errorf("--log.format=%s: the operator log's wrapper is now --input.format; --log.format is the exporter's own log format, logfmt or json", o.logFormat)
	default:
		return nil, fmt.Errorf("--log.format must be logfmt or json, got %q", o.logFormat)
	}
	if o.command == "pseudonym" {
		// Reads no log: only its key matters.
		if err := o.pseudonymCmd.check(); err != nil {
			return nil, err
		}
		return o, nil
	}
	if err := o.checkPseudonyms(); err != nil {
		return nil, err
	}
	if o.command != "serve" {
		if o.once {
			return nil, fmt.Errorf("--once is for serving; %s reads the logs to their end already", o.command)
		}
		if o.kubernetes.enabled {
			return nil, fmt.Errorf("%s reads saved logs; it cannot follow --kubernetes", o.command)
		}
		if o.otlpListenAddress != "" {
			return nil, fmt.Errorf("%s reads saved logs; it cannot receive --otlp.listen-address", o.command)
		}
		// Both read saved logs to their end, like --once.
		o.once = true
	}
	if o.otlpListenAddress != "" && o.once {
		return nil, errors.New("--once reads saved logs to their end; it cannot receive --otlp.listen-address")
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
	if o.command == "backfill" {
		b := o.backfill
		switch {
		case b.output == "" && b.tsdbPath == "":
			return nil, errors.New("backfill needs --tsdb.path (TSDB blocks) or --output (OpenMetrics), or both")
		case b.step < time.Second:
			return nil, fmt.Errorf("--step must be at least 1s, got %s", b.step)
		case b.tsdbPath != "" && b.step > blocks.CompatibleBlockDuration(b.blockDuration)/2:
			// A new series' zero sample goes one step back, into a block
			// still open.
			return nil, fmt.Errorf("--step (%s) must be at most half a block (%s)", b.step, blocks.CompatibleBlockDuration(b.blockDuration))
		case b.overwrite && b.tsdbPath == "":
			return nil, errors.New("--tsdb.overwrite needs --tsdb.path")
		case b.seriesIdle < 0:
			return nil, fmt.Errorf("--tsdb.series-idle must not be negative, got %s", b.seriesIdle)
		}
	}
	if o.command == "report" {
		if err := o.report.check(); err != nil {
			return nil, err
		}
	}
	if int64(o.maxLineBytes) < 1024 || int64(o.maxLineBytes) > 1<<30 {
		return nil, fmt.Errorf("--input.max-line-bytes must be between 1KiB and 1GiB, got %s", o.maxLineBytes)
	}
	if int64(o.otlpMaxRequestBytes) < 1024 || int64(o.otlpMaxRequestBytes) > 1<<30 {
		return nil, fmt.Errorf("--otlp.max-request-bytes must be between 1KiB and 1GiB, got %s", o.otlpMaxRequestBytes)
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
	if o.writeTimeout <= 0 {
		return nil, fmt.Errorf("--web.write-timeout must be positive, got %s", o.writeTimeout)
	}
	return o, nil
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// run is the whole program; it returns the exit code so that deferred
// clean-ups run before main exits.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	stampVersion()
	o, err := parseFlags(args)
	if err != nil {
		fmt.Fprintf(stderr, "exporter: %v\n", err)
		return 2
	}
	if o.command == "pseudonym" {
		if err := o.pseudonymCmd.print(stdout); err != nil {
			fmt.Fprintf(stderr, "exporter: %v\n", err)
			return 1
		}
		return 0
	}
	base, logger := newLoggers(stderr, o.logFormat, o.logLevel)
	level.Info(logger).Log("msg", "Starting "+exporterName, "version", version.Info())
	level.Info(logger).Log("msg", "Build context", "build_context", version.BuildContext())

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// SIGHUP (logrotate's postrotate, systemd's ExecReload) never stops the
	// exporter; a serving one saves and looks for new files.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	o.stdin = stdin
	if err := runExporter(ctx, o, hup, stdout, base, logger); err != nil {
		level.Error(logger).Log("msg", "Exporter failed", "err", err)
		return 1
	}
	return 0
}

// addRenamedFlags makes the spellings of earlier releases fail at start,
// naming their replacement, rather than be unknown flags or, for the
// operator log's flags that now start with --input, be taken for the
// exporter's own --log.* flags.
func addRenamedFlags(app *kingpin.Application) {
	for _, r := range []struct {
		old, now string
		boolean  bool
	}{
		{"log.path", "input.path", false},
		{"log.from", "input.from", false},
		{"log.max-line-bytes", "input.max-line-bytes", false},
		{"log.poll-interval", "input.poll-interval", false},
		{"log.inotify", "input.inotify", true},
		{"exporter.log.level", "log.level", false},
		{"exporter.log.format", "log.format", false},
	} {
		f := app.Flag(r.old, "Renamed --"+r.now+".").Hidden().Action(func(*kingpin.ParseContext) error {
			return fmt.Errorf("--%s was renamed --%s", r.old, r.now)
		})
		if r.boolean {
			f.Bool()
		} else {
			f.Strings()
		}
	}
}

// stampVersion gives a build that -ldflags did not stamp (go build, go
// install) the version Go recorded for the module: vX.Y.Z when installed at
// a release, a pseudo-version from the commit in a git checkout. --version
// and mirrord_exporter_build_info then never show an empty version.
func stampVersion() {
	if version.Version != "" {
		return
	}
	version.Version = "devel"
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		version.Version = strings.TrimPrefix(bi.Main.Version, "v")
	}
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

func runExporter(ctx context.Context, o *options, hup <-chan os.Signal, stdout io.Writer, base, logger log.Logger) error {
	cfg, err := o.config(logger)
	if err != nil {
		return err
	}
	e, err := exporter.New(cfg)
	if err != nil {
		return err
	}
	switch o.command {
	case "backfill":
		if os.Getenv("GOMEMLIMIT") == "" {
			// The heap of a month of logs peaks near 300 MB while blocks are
			// written; a soft limit keeps the garbage collector from letting
			// the process grow to twice that (see docs/performance.md).
			debug.SetMemoryLimit(backfillMemoryLimit)
		}
		return e.Backfill(ctx, o.backfill.outputs(), o.backfill.step)
	case "report":
		return e.ReportAs(ctx, stdout, o.report.format, o.report.top, o.report.from, o.report.to)
	}
	if o.once {
		if err := e.Once(ctx); err != nil {
			return err
		}
		return family.WriteText(stdout, e.Registry(), e.Collector().Families(), "mirrord_")
	}
	go func() {
		for {
			select {
			case <-hup:
				level.Info(logger).Log("msg", "SIGHUP: saving the state file, if any, and looking for new files matching --input.path")
				e.Reload()
			case <-ctx.Done():
				return
			}
		}
	}()
	var srv exporter.Server = newWebServer(routes(o, e, logger), o.web, o.readHeaderTimeout, base)
	if o.otlpListenAddress != "" {
		// Bound before serving: a taken port fails the start, and /-/ready
		// answers only once OTLP clients can connect.
		otlpSrv, err := newOTLPServer(o, e.OTLPHandler(), base)
		if err != nil {
			return err
		}
		srv = exporter.Servers{srv, otlpSrv}
	}
	return e.Run(ctx, srv)
}

// config is the exporter's configuration the flags give.
func (o *options) config(logger log.Logger) (exporter.Config, error) {
	format, err := unwrap.ParseFormat(o.format)
	if err != nil {
		return exporter.Config{}, fmt.Errorf("--input.format: %w", err)
	}
	cfg := exporter.Config{
		Paths: o.paths, Stdin: o.stdin, FromEnd: o.from == "end", Format: format,
		MaxLineBytes: int(o.maxLineBytes), PollInterval: o.pollInterval, DisableInotify: !o.inotify,
		Once: o.once, InTimeOrder: o.command == "backfill" || o.command == "report",
		Labels: o.labels, NoLabels: o.noLabels, SessionMaxAge: o.maxAge, MaxSeries: o.maxSeries, SeriesTTL: o.seriesTTL,
		Pseudonymize: o.pseudonymize, PseudonymKey: o.pseudonymKey,
		StateFile: o.stateFile, SaveInterval: o.saveInterval,
		Logger: logger,
	}
	if o.otlpListenAddress != "" {
		cfg.OTLP = &exporter.OTLP{MaxRequestBytes: int64(o.otlpMaxRequestBytes)}
	}
	if k := o.kubernetes; k.enabled {
		cfg.Kubernetes = &exporter.Kubernetes{
			Kubeconfig: k.kubeconfig, Namespace: k.namespace, LabelSelector: k.labelSelector, Container: k.container,
		}
	}
	return cfg, nil
}
