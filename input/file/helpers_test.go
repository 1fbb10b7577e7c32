package file

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-kit/log"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/mirrord-exporter/mirrord-exporter/input"
)

// hangGuard bounds every wait; it is never an assertion on timing.
const hangGuard = 30 * time.Second

// recSink records what one stream delivered.
type recSink struct {
	mu      sync.Mutex
	input   string
	name    string
	lines   []string
	tooLong []int
	closed  int
}

func (s *recSink) Line(l []byte) {
	s.mu.Lock()
	s.lines = append(s.lines, string(l))
	s.mu.Unlock()
}

func (s *recSink) LineTooLong(n int) {
	s.mu.Lock()
	s.tooLong = append(s.tooLong, n)
	s.mu.Unlock()
}

func (s *recSink) Flush() {}

func (s *recSink) Close() {
	s.mu.Lock()
	s.closed++
	s.mu.Unlock()
}

func (s *recSink) snapshot() (lines []string, tooLong []int, closed int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.lines...), append([]int(nil), s.tooLong...), s.closed
}

// recorder hands out recSinks and remembers them in creation order.
type recorder struct {
	mu    sync.Mutex
	sinks []*recSink
}

func (r *recorder) newSink(input, name string) input.Sink {
	s := &recSink{input: input, name: name}
	r.mu.Lock()
	r.sinks = append(r.sinks, s)
	r.mu.Unlock()
	return s
}

// streams returns the sinks made for name.
func (r *recorder) streams(name string) []*recSink {
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

// lines returns all lines delivered for name, over all its streams.
func (r *recorder) lines(name string) []string {
	var out []string
	for _, s := range r.streams(name) {
		l, _, _ := s.snapshot()
		out = append(out, l...)
	}
	return out
}

// syncBuffer collects log output.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// harness runs a Manager in the background.
type harness struct {
	t    *testing.T
	m    *Manager
	rec  *recorder
	logs *syncBuffer
	stop context.CancelFunc
	done chan error
}

// manualTicks makes every poll ticker of the Manager the given channel, so a
// test decides when followers look (send twice: the second send returns
// only once the look triggered by the first has finished).
func manualTicks(ticks chan time.Time) func(time.Duration) (<-chan time.Time, func()) {
	return func(time.Duration) (<-chan time.Time, func()) { return ticks, func() {} }
}

func newHarness(t *testing.T, cfg Config) *harness {
	t.Helper()
	h := &harness{t: t, rec: &recorder{}, logs: &syncBuffer{}, done: make(chan error, 1)}
	if cfg.NewSink == nil {
		cfg.NewSink = h.rec.newSink
	}
	if cfg.Logger == nil {
		cfg.Logger = log.NewLogfmtLogger(log.NewSyncWriter(h.logs))
	}
	if cfg.Registerer == nil {
		cfg.Registerer = prometheus.NewRegistry()
	}
	m, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	h.m = m
	return h
}

func (h *harness) start() *harness {
	ctx, cancel := context.WithCancel(context.Background())
	h.stop = cancel
	go func() { h.done <- h.m.Run(ctx) }()
	h.t.Cleanup(func() {
		if h.stop != nil {
			h.shutdown()
		}
	})
	return h
}

func startManager(t *testing.T, cfg Config) *harness {
	t.Helper()
	return newHarness(t, cfg).start()
}

// shutdown cancels Run and waits for it to return.
func (h *harness) shutdown() error {
	h.t.Helper()
	h.stop()
	h.stop = nil
	select {
	case err := <-h.done:
		return err
	case <-time.After(hangGuard):
		h.t.Fatalf("Run did not return after cancel\n%s", h.logs)
		return nil
	}
}

func (h *harness) tick(ticks chan time.Time) {
	h.t.Helper()
	select {
	case ticks <- time.Now():
	case <-time.After(hangGuard):
		h.t.Fatal("no follower took the tick")
	}
}

// look makes the follower look once more and waits until that look ended.
func (h *harness) look(ticks chan time.Time) {
	h.tick(ticks)
	h.tick(ticks)
}

func (h *harness) waitFor(what string, cond func() bool) {
	h.t.Helper()
	waitFor(h.t, what, cond, h.logs)
}

func waitFor(t *testing.T, what string, cond func() bool, logs fmt.Stringer) {
	t.Helper()
	deadline := time.Now().Add(hangGuard)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s\nlogs:\n%s", what, logs)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func (h *harness) waitLines(name string, want ...string) {
	h.t.Helper()
	h.waitFor(fmt.Sprintf("%d lines from %s", len(want), name), func() bool {
		return len(h.rec.lines(name)) >= len(want)
	})
	h.expectLines(name, want...)
}

func (h *harness) expectLines(name string, want ...string) {
	h.t.Helper()
	got := h.rec.lines(name)
	if strings.Join(got, "\n") != strings.Join(want, "\n") || len(got) != len(want) {
		h.t.Fatalf("lines from %s:\n got %q\nwant %q", name, got, want)
	}
}

func (h *harness) metric(c prometheus.Collector) float64 {
	return testutil.ToFloat64(c)
}

func (h *harness) rotations(kind string) float64 {
	return h.metric(h.m.metrics.rotations.WithLabelValues(kind))
}

func (h *harness) lost() float64 {
	return h.metric(h.m.metrics.bytesLost.WithLabelValues(lostTruncated))
}

func (h *harness) fileErrors(op string) float64 {
	return h.metric(h.m.metrics.fileErrors.WithLabelValues(op))
}

func (h *harness) followed() float64 {
	return h.metric(h.m.metrics.filesFollowed)
}

func (h *harness) waitCaughtUp() {
	h.t.Helper()
	select {
	case <-h.m.CaughtUp():
	case <-time.After(hangGuard):
		h.t.Fatalf("CaughtUp never closed\n%s", h.logs)
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func appendFile(t *testing.T, path, content string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(content); err != nil {
		t.Fatal(err)
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }
