package kube

import (
	"bytes"
	"context"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-kit/log"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
	"k8s.io/client-go/rest"

	"github.com/mirrord-exporter/mirrord-exporter/collector"
	"github.com/mirrord-exporter/mirrord-exporter/decode"
	"github.com/mirrord-exporter/mirrord-exporter/ingest"
	"github.com/mirrord-exporter/mirrord-exporter/input"
	"github.com/mirrord-exporter/mirrord-exporter/internal/kubetest"
	"github.com/mirrord-exporter/mirrord-exporter/internal/loggen"
	"github.com/mirrord-exporter/mirrord-exporter/unwrap"
)

// newFakeAPI starts the fake API server (package kubetest) the tests
// follow pods of, serving the default namespace and container.
func newFakeAPI(t *testing.T) *kubetest.Server {
	return kubetest.Start(t, kubetest.Config{Namespace: DefaultNamespace, Container: DefaultContainer})
}

// restConfig points a client at the server, without client-side throttling.
func restConfig(a *kubetest.Server) *rest.Config {
	return &rest.Config{Host: a.URL(), QPS: -1}
}

// hangGuard bounds every wait; no test asserts on elapsed time.
const hangGuard = 30 * time.Second

// waitFor polls cond until it holds, failing the test after hangGuard.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(hangGuard)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// pipe is the exporter's real line path: ingest into a collector.
type pipe struct {
	reg     *prometheus.Registry
	events  chan decode.Event
	ing     *ingest.Pipeline
	applied chan struct{}
}

func newPipe(t *testing.T) *pipe {
	t.Helper()
	labels, err := decode.NewLabelConfig(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	p := &pipe{reg: prometheus.NewRegistry(), events: make(chan decode.Event, 1024), applied: make(chan struct{})}
	coll, err := collector.New(collector.Config{Labels: labels, Registerer: p.reg})
	if err != nil {
		t.Fatal(err)
	}
	p.ing, err = ingest.New(ingest.Config{
		Format: unwrap.Auto, MaxLineBytes: DefaultMaxLineBytes, Labels: labels,
		Events: p.events, Logger: log.NewNopLogger(), Registerer: p.reg,
	})
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		coll.Run(p.events, nil, nil)
		close(p.applied)
	}()
	return p
}

// check stops the pipe (every Sink must be closed) and compares its metrics
// with the generator's truth.
func (p *pipe) check(t *testing.T, what string, truth loggen.Truth) {
	t.Helper()
	close(p.events)
	<-p.applied
	fams, err := p.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	for _, mf := range fams {
		if strings.HasPrefix(mf.GetName(), "mirrord_") {
			if _, err := expfmt.MetricFamilyToText(&buf, mf); err != nil {
				t.Fatal(err)
			}
		}
	}
	diffs, err := truth.Diff(&buf)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range diffs {
		t.Errorf("%s: %s", what, d)
	}
}

// recorder makes the follower's Sinks: each wraps a pipe's Sink and checks
// the Sink contract.
type recorder struct {
	t     *testing.T
	route func(name string) *pipe

	mu    sync.Mutex
	sinks []*recSink
}

type recSink struct {
	t      *testing.T
	name   string
	inner  input.Sink
	lines  atomic.Int64
	closed atomic.Bool
}

func (r *recorder) newSink(input, name string) input.Sink {
	if input != Input {
		r.t.Errorf("sink input %q, want %q", input, Input)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range r.sinks {
		if s.name == name && !s.closed.Load() {
			r.t.Errorf("new sink for %s before the previous one was closed", name)
		}
	}
	s := &recSink{t: r.t, name: name, inner: r.route(name).ing.NewSink(input, name)}
	r.sinks = append(r.sinks, s)
	return s
}

func (s *recSink) Line(l []byte) {
	if s.closed.Load() {
		s.t.Errorf("%s: line after Close", s.name)
	}
	s.lines.Add(1)
	s.inner.Line(l)
}

func (s *recSink) LineTooLong(n int) {
	if s.closed.Load() {
		s.t.Errorf("%s: line after Close", s.name)
	}
	s.lines.Add(1)
	s.inner.LineTooLong(n)
}

func (s *recSink) Flush() { s.inner.Flush() }

func (s *recSink) Close() {
	if s.closed.Swap(true) {
		s.t.Errorf("%s: closed twice", s.name)
	}
	s.inner.Close()
}

// of returns the sinks made for name, oldest first.
func (r *recorder) of(name string) []*recSink {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []*recSink
	for _, s := range r.sinks {
		if s.name == name {
			out = append(out, s)
		}
	}
	return out
}

func (r *recorder) lines(name string) int {
	n := 0
	for _, s := range r.of(name) {
		n += int(s.lines.Load())
	}
	return n
}

// closed reports whether want sinks were made for name, all closed.
func (r *recorder) closed(name string, want int) bool {
	sinks := r.of(name)
	if len(sinks) != want {
		return false
	}
	for _, s := range sinks {
		if !s.closed.Load() {
			return false
		}
	}
	return true
}

// lockedBuffer is the follower's log, read while it is written.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// count returns how many log lines contain s.
func (b *lockedBuffer) count(s string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := 0
	for _, l := range strings.Split(b.buf.String(), "\n") {
		if strings.Contains(l, s) {
			n++
		}
	}
	return n
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// running is a Follower under test.
type running struct {
	f    *Follower
	reg  *prometheus.Registry
	logs *lockedBuffer
	stop func() // cancels Run and waits for it
}

func startFollower(t *testing.T, cfg Config) *running {
	t.Helper()
	r := &running{reg: prometheus.NewRegistry(), logs: &lockedBuffer{}}
	cfg.Registerer = r.reg
	cfg.Logger = log.NewLogfmtLogger(r.logs)
	if cfg.MinBackoff == 0 {
		cfg.MinBackoff = time.Millisecond
	}
	if cfg.MaxBackoff == 0 {
		cfg.MaxBackoff = 100 * time.Millisecond
	}
	f, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	r.f = f
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()
	var once sync.Once
	r.stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run: %v", err)
				}
			case <-time.After(hangGuard):
				t.Fatal("Run did not return after cancel")
			}
		})
	}
	t.Cleanup(func() {
		r.stop()
		// PODLOGS_LOG=1 shows the log of passing tests too.
		if t.Failed() || os.Getenv("PODLOGS_LOG") != "" {
			t.Logf("follower log:\n%s", r.logs)
		}
	})
	return r
}

// stamper stamps lines as a container runtime does: several lines may share
// a timestamp, and now and then one is stamped slightly earlier than the
// one before it (stdout and stderr are stamped apart), within its second.
type stamper struct {
	now  time.Time
	n    int
	same int // lines per timestamp
	step time.Duration
}

func newStamper(start time.Time) *stamper {
	return &stamper{now: start, same: 4, step: 97*time.Millisecond + 1234*time.Nanosecond}
}

func (s *stamper) stamp(texts []string) []kubetest.Line {
	out := make([]kubetest.Line, len(texts))
	for i, text := range texts {
		if s.n > 0 && s.n%s.same == 0 {
			s.now = s.now.Add(s.step)
		}
		ts := s.now
		if s.n%37 == 36 {
			if early := ts.Add(-3 * time.Microsecond); early.Truncate(time.Second).Equal(ts.Truncate(time.Second)) {
				ts = early
			}
		}
		out[i] = kubetest.Line{Time: ts, Text: text}
		s.n++
	}
	return out
}

// generate returns a realistic operator log (raw tracing JSON lines) and
// what the exporter must show after reading it.
func generate(t *testing.T, seed int64, sessions int) ([]string, loggen.Truth) {
	t.Helper()
	var buf bytes.Buffer
	truth, err := loggen.Generate(&buf, loggen.Config{
		Seed: seed, Sessions: sessions, Wrapper: loggen.Raw,
		NoiseRatio: 0.6, Nasty: true, BigLines: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	if len(lines) != truth.Lines {
		t.Fatalf("generated %d lines, truth says %d", len(lines), truth.Lines)
	}
	return lines, truth
}

// feed writes lines to the pod's log in small batches, as an operator
// would, so that the follower reads while they are written.
func feed(a *kubetest.Server, p *kubetest.Pod, lines []kubetest.Line) {
	const batch = 64
	for len(lines) > 0 {
		n := min(batch, len(lines))
		a.Append(p, lines[:n]...)
		lines = lines[n:]
		time.Sleep(200 * time.Microsecond)
	}
}
