package main

import (
	"context"
	"errors"
	"fmt"
	stdlog "log"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"github.com/prometheus/exporter-toolkit/web"
	sloggokit "github.com/tjhop/slog-gokit"
)

// otlpServer serves the OTLP receiver on --otlp.listen-address with the
// exporter toolkit, under the same --web.config.file (TLS, basic auth) as
// the metrics.
type otlpServer struct {
	server   *http.Server
	listener net.Listener
	flags    *web.FlagConfig
	logger   *slog.Logger
}

// newOTLPServer binds the listener now, so that a taken address fails the
// start rather than the serving, and the exporter is ready only once OTLP
// clients can connect.
func newOTLPServer(o *options, h http.Handler, base log.Logger) (*otlpServer, error) {
	l, err := net.Listen("tcp", o.otlpListenAddress)
	if err != nil {
		return nil, fmt.Errorf("--otlp.listen-address: %w", err)
	}
	stamped := log.With(base, "ts", log.DefaultTimestampUTC)
	addrs := []string{o.otlpListenAddress}
	noSystemd := false
	return &otlpServer{
		server: &http.Server{
			Handler:           h,
			ReadHeaderTimeout: o.readHeaderTimeout,
			// A client has this long to send a body of at most
			// --otlp.max-request-bytes, and to take its small answer.
			ReadTimeout:  30 * time.Second,
			WriteTimeout: 60 * time.Second,
			IdleTimeout:  2 * time.Minute,
			ErrorLog:     stdlog.New(log.NewStdlibAdapter(level.Warn(stamped)), "", 0),
		},
		listener: l,
		flags:    &web.FlagConfig{WebListenAddresses: &addrs, WebSystemdSocket: &noSystemd, WebConfigFile: o.web.WebConfigFile},
		logger:   slog.New(untimed{sloggokit.NewGoKitHandler(stamped, slog.LevelDebug)}).With("server", "otlp"),
	}, nil
}

func (s *otlpServer) Serve() error {
	err := web.Serve(s.listener, s.server, s.flags, s.logger)
	if err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("otlp: %w", err)
	}
	return err
}

func (s *otlpServer) Shutdown(ctx context.Context) error { return s.server.Shutdown(ctx) }

func (s *otlpServer) Close() error { return s.server.Close() }

// servers serve together: Serve returns with the first to stop, and
// Shutdown and Close act on all of them at once.
type servers []interface {
	Serve() error
	Shutdown(ctx context.Context) error
	Close() error
}

func (ss servers) Serve() error {
	errs := make(chan error, len(ss))
	for _, s := range ss {
		go func() { errs <- s.Serve() }()
	}
	return <-errs
}

func (ss servers) Shutdown(ctx context.Context) error {
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

func (ss servers) Close() error {
	var all []error
	for _, s := range ss {
		all = append(all, s.Close())
	}
	return errors.Join(all...)
}
