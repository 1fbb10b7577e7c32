package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	stdlog "log"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"strconv"
	"syscall"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"github.com/prometheus/common/version"
	"github.com/prometheus/exporter-toolkit/web"
	sloggokit "github.com/tjhop/slog-gokit"

	"github.com/mirrord-exporter/mirrord-exporter/exporter"
	"github.com/mirrord-exporter/mirrord-exporter/family"
)

// webServer serves a handler with the exporter toolkit (TLS, basic auth,
// systemd sockets as its flags and --web.config.file say): the metrics on
// --web.listen-address, and the OTLP receiver on --otlp.listen-address.
type webServer struct {
	name     string       // prefixes its serving errors; empty for the metrics
	listener net.Listener // bound at start (OTLP); nil: the toolkit listens
	server   *http.Server
	flags    *web.FlagConfig
	logger   *slog.Logger
}

func newWebServer(h http.Handler, flags *web.FlagConfig, readHeaderTimeout time.Duration, base log.Logger) *webServer {
	stamped := log.With(base, "ts", log.DefaultTimestampUTC)
	return &webServer{
		server: &http.Server{
			Handler:           h,
			ReadHeaderTimeout: readHeaderTimeout,
			// A client has this long to send its request (an OTLP body of
			// at most --otlp.max-request-bytes), and to take the answer.
			ReadTimeout:  30 * time.Second,
			WriteTimeout: 60 * time.Second,
			IdleTimeout:  2 * time.Minute,
			// net/http's own complaints (a TLS handshake that failed, a
			// client that sent garbage) as lines of the exporter's log.
			ErrorLog: stdlog.New(log.NewStdlibAdapter(level.Warn(stamped)), "", 0),
		},
		flags: flags,
		// The bridge stamps slog's time under its own key: it is dropped,
		// and exporter-toolkit's lines carry the exporter's ts instead.
		// The level filter is base's, as for every other line.
		logger: slog.New(untimed{sloggokit.NewGoKitHandler(stamped, slog.LevelDebug)}),
	}
}

// newOTLPServer binds the listener now, so that a taken address fails the
// start rather than the serving, and the exporter is ready only once OTLP
// clients can connect. It shares --web.config.file with the metrics.
func newOTLPServer(o *options, h http.Handler, base log.Logger) (*webServer, error) {
	l, err := net.Listen("tcp", o.otlpListenAddress)
	if err != nil {
		return nil, fmt.Errorf("--otlp.listen-address: %w", err)
	}
	addrs := []string{o.otlpListenAddress}
	noSystemd := false
	s := newWebServer(h, &web.FlagConfig{WebListenAddresses: &addrs, WebSystemdSocket: &noSystemd, WebConfigFile: o.web.WebConfigFile},
		o.readHeaderTimeout, base)
	s.name, s.listener, s.logger = "otlp", l, s.logger.With("server", "otlp")
	return s, nil
}

// untimed drops a record's time, which the go-kit logger it writes to
// stamps itself.
type untimed struct{ slog.Handler }

func (h untimed) Handle(ctx context.Context, r slog.Record) error {
	r.Time = time.Time{}
	return h.Handler.Handle(ctx, r)
}

func (h untimed) WithAttrs(attrs []slog.Attr) slog.Handler {
	return untimed{h.Handler.WithAttrs(attrs)}
}

func (h untimed) WithGroup(name string) slog.Handler { return untimed{h.Handler.WithGroup(name)} }

func (s *webServer) Serve() error {
	var err error
	if s.listener != nil {
		err = web.Serve(s.listener, s.server, s.flags, s.logger)
	} else {
		err = web.ListenAndServe(s.server, s.flags, s.logger)
	}
	if s.name != "" && err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("%s: %w", s.name, err)
	}
	return err
}

func (s *webServer) Shutdown(ctx context.Context) error { return s.server.Shutdown(ctx) }

func (s *webServer) Close() error { return s.server.Close() }

func routes(o *options, e *exporter.Exporter, logger log.Logger) http.Handler {
	mux := http.NewServeMux()
	mux.Handle(o.metricsPath, family.NewHandler(family.HandlerOpts{
		Registry: e.Registry(), Capped: e.Capped(), Own: e.Collector().Families(),
		MaxRequests: o.maxRequests, WriteTimeout: o.writeTimeout, ErrorLog: promhttpLogger{logger},
	}))
	mux.HandleFunc("/-/healthy", func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusOK)
		io.WriteString(w, "Healthy\n")
	})
	mux.HandleFunc("/-/ready", func(w http.ResponseWriter, _ *http.Request) {
		select {
		case <-e.Ready():
			w.WriteHeader(http.StatusOK)
			io.WriteString(w, "Ready\n")
		default:
			// Serving half a replayed backlog would show a false rate jump.
			w.WriteHeader(http.StatusServiceUnavailable)
			io.WriteString(w, "Reading the log backlog\n")
		}
	})
	if o.pprof {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	if o.metricsPath != "/" {
		landing, err := web.NewLandingPage(web.LandingConfig{
			Name:        "mirrord exporter",
			Description: "Prometheus exporter for the mirrord operator's log stream",
			Version:     version.Info(),
			// The page links the profiles only where they are served.
			Profiling: strconv.FormatBool(o.pprof),
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
// hung up (a scrape timeout, say) or did not take its response within
// --web.write-timeout, or whose connection shutdown closed, fails the write
// of its response: that is logged at debug level, as it is no failure of the
// exporter's (stalled scrapes are counted).
type promhttpLogger struct{ logger log.Logger }

func (l promhttpLogger) Println(v ...any) {
	at := level.Error
	for _, a := range v {
		if err, ok := a.(error); ok && (errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNRESET) ||
			errors.Is(err, net.ErrClosed) || errors.Is(err, family.ErrStalled)) {
			at = level.Debug
		}
	}
	at(l.logger).Log("msg", "Serving metrics", "err", fmt.Sprint(v...))
}
