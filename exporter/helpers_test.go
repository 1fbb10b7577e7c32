package exporter_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/go-kit/log"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/common/expfmt"

	"github.com/mirrord-exporter/mirrord-exporter/collector"
	"github.com/mirrord-exporter/mirrord-exporter/exporter"
	"github.com/mirrord-exporter/mirrord-exporter/internal/exportertest"
	"github.com/mirrord-exporter/mirrord-exporter/internal/loggen"
)

// config is the configuration the command's flag defaults give, reading
// paths, logging in logfmt to logs.
func config(logs io.Writer, paths ...string) exporter.Config {
	return exporter.Config{
		Paths:         paths,
		MaxLineBytes:  1 << 20,
		PollInterval:  200 * time.Millisecond,
		SessionMaxAge: 24 * time.Hour,
		MaxSeries:     collector.DefaultMaxSeries,
		SaveInterval:  10 * time.Second,
		Logger:        log.NewLogfmtLogger(log.NewSyncWriter(logs)),
	}
}

// exposition is every metric of g in the Prometheus text format, keeping the
// families whose names keep says to (all with nil).
func exposition(t *testing.T, g prometheus.Gatherer, keep func(name string) bool) string {
	t.Helper()
	families, err := g.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	var b bytes.Buffer
	enc := expfmt.NewEncoder(&b, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, mf := range families {
		if keep != nil && !keep(mf.GetName()) {
			continue
		}
		if err := enc.Encode(mf); err != nil {
			t.Fatal(err)
		}
	}
	return b.String()
}

func mirrordOnly(name string) bool { return strings.HasPrefix(name, "mirrord_") }

// once runs Once on cfg and returns the mirrord metrics, as --once prints
// them.
func once(t *testing.T, cfg exporter.Config) string {
	t.Helper()
	cfg.Once = true
	e, err := exporter.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Once(context.Background()); err != nil {
		t.Fatal(err)
	}
	return exposition(t, e.Gatherer(), mirrordOnly)
}

// onceOf is once on paths with the defaults.
func onceOf(t *testing.T, paths ...string) string {
	t.Helper()
	return once(t, config(io.Discard, paths...))
}

// running is an exporter in Run, in this process, and its log.
type running struct {
	e    *exporter.Exporter
	logs *exportertest.LockedBuffer
	stop context.CancelFunc
	done chan error
	url  string // of /metrics, when served over HTTP
}

// start runs an exporter on cfg (its Logger replaced by one into the
// returned log) until stop or the end of the test; with serve, it serves
// every metric over real HTTP on a loopback port.
func start(t *testing.T, cfg exporter.Config, serve bool) *running {
	t.Helper()
	r := &running{logs: &exportertest.LockedBuffer{}, done: make(chan error, 1)}
	cfg.Logger = log.NewLogfmtLogger(log.NewSyncWriter(r.logs))
	var err error
	if r.e, err = exporter.New(cfg); err != nil {
		t.Fatal(err)
	}
	var srv exporter.Server
	if serve {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		r.url = "http://" + l.Addr().String() + "/metrics"
		mux := http.NewServeMux()
		mux.Handle("/metrics", promhttp.HandlerFor(r.e.Gatherer(), promhttp.HandlerOpts{}))
		srv = &listenerServer{server: &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}, listener: l}
	}
	ctx, stop := context.WithCancel(context.Background())
	r.stop = stop
	go func() { r.done <- r.e.Run(ctx, srv) }()
	t.Cleanup(func() {
		stop()
		<-r.done
		r.done <- nil
		if t.Failed() {
			t.Logf("exporter log:\n%s", r.logs.String())
		}
	})
	return r
}

// shutdown cancels Run, as SIGTERM does, and requires a clean return.
func (r *running) shutdown(t *testing.T) {
	t.Helper()
	r.stop()
	select {
	case err := <-r.done:
		r.done <- err // for the clean-up
		if err != nil {
			t.Errorf("Run returned %v after its context ended", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return within 30s of its context's end")
	}
}

// scrape is every metric, as /metrics shows them.
func (r *running) scrape(t *testing.T) string {
	t.Helper()
	return exposition(t, r.e.Gatherer(), nil)
}

// caughtUp waits until r has read lines lines of input and applied the
// events of truth, and returns its exposition.
func (r *running) caughtUp(t *testing.T, input string, lines int, truth loggen.Truth) string {
	t.Helper()
	return exportertest.CaughtUp(t, "the exporter", func() string { return r.scrape(t) }, input, lines, truth)
}

// listenerServer serves on a listener the test opened, so that its address
// is known before Run starts.
type listenerServer struct {
	server   *http.Server
	listener net.Listener
}

func (s *listenerServer) Serve() error {
	if err := s.server.Serve(s.listener); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func (s *listenerServer) Shutdown(ctx context.Context) error { return s.server.Shutdown(ctx) }

func (s *listenerServer) Close() error { return s.server.Close() }

// get fetches url over HTTP.
func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read %s: %v", url, err)
	}
	return resp.StatusCode, string(body)
}
