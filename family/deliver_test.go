package family_test

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mirrord-exporter/mirrord-exporter/family"
	"github.com/mirrord-exporter/mirrord-exporter/internal/exportertest"
)

// stalledCases are the three ways a response is kept until its client
// takes it: packed (text asked uncompressed), compressed as asked, and
// rendered by promhttp (OpenMetrics 2.0).
var stalledCases = []stalledCase{
	{"identity", "", ""},
	{"gzip", "", "gzip"},
	{"promhttp", "application/openmetrics-text;version=2.0.0", ""},
}

type stalledCase struct{ name, accept, encoding string }

// headers are the case's request header lines.
func (c stalledCase) headers() []string {
	var h []string
	if c.accept != "" {
		h = append(h, "Accept: "+c.accept)
	}
	if c.encoding != "" {
		h = append(h, "Accept-Encoding: "+c.encoding)
	}
	return h
}

// TestStalledClientsHoldNoSlot: with MaxRequests 2, two clients that ask
// for /metrics and do not read keep no scrape from being answered, however
// long the write timeout. They held both slots until it passed before.
func TestStalledClientsHoldNoSlot(t *testing.T) {
	for _, c := range stalledCases {
		t.Run(c.name, func(t *testing.T) {
			reg, capped, own := fixture(t)
			addr := stallingServer(t, family.NewHandler(family.HandlerOpts{
				Registry: reg, Capped: capped, Own: own, MaxRequests: 2, WriteTimeout: time.Minute, ErrorLog: &recordingLogger{},
			}))
			exportertest.StalledScrape(t, addr, "/metrics", c.headers()...)
			exportertest.StalledScrape(t, addr, "/metrics", c.headers()...)
			req, err := http.NewRequest(http.MethodGet, "http://"+addr+"/metrics", nil)
			if err != nil {
				t.Fatal(err)
			}
			if c.accept != "" {
				req.Header.Set("Accept", c.accept)
			}
			// Go's transport asks for gzip and decompresses by itself.
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "mirrord_sessions_started_total") {
				t.Fatalf("scrape beside two stalled ones: %d\n%.200s", resp.StatusCode, body)
			}
		})
	}
}

// TestStalledClientIsCutOff: a client that does not take its response
// within the write timeout has its connection closed before the whole
// response, is counted in mirrord_exporter_scrapes_stalled_total, and is
// logged as ErrStalled.
func TestStalledClientIsCutOff(t *testing.T) {
	for _, c := range stalledCases {
		t.Run(c.name, func(t *testing.T) {
			reg, capped, own := fixture(t)
			log := &recordingLogger{}
			addr := stallingServer(t, family.NewHandler(family.HandlerOpts{
				Registry: reg, Capped: capped, Own: own, MaxRequests: 40, WriteTimeout: 200 * time.Millisecond, ErrorLog: log,
			}))
			stalled := exportertest.StalledScrape(t, addr, "/metrics", c.headers()...)
			exportertest.WaitFor(t, "the stalled scrape to be counted", func() bool {
				return stalledTotal(t, reg) == 1
			})
			if got, length := exportertest.ReadStalled(t, stalled); got >= length {
				t.Errorf("the stalled client got %d bytes of %d: not cut off", got, length)
			}
			if !log.logged(family.ErrStalled) {
				t.Errorf("ErrStalled not logged; logged:\n%s", log)
			}
		})
	}
}

// TestOldestWaitingResponseIsCutOff: past MaxRequests responses waiting
// for their clients, a newer one cuts off the oldest, whatever the write
// timeout, so that clients that do not read cannot hold unbounded memory.
func TestOldestWaitingResponseIsCutOff(t *testing.T) {
	reg, capped, own := fixture(t)
	addr := stallingServer(t, family.NewHandler(family.HandlerOpts{
		Registry: reg, Capped: capped, Own: own, MaxRequests: 2, WriteTimeout: time.Hour, ErrorLog: &recordingLogger{},
	}))
	oldest := exportertest.StalledScrape(t, addr, "/metrics")
	exportertest.StalledScrape(t, addr, "/metrics")
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("third scrape: %d", resp.StatusCode)
	}
	if got, length := exportertest.ReadStalled(t, oldest); got >= length {
		t.Errorf("the oldest stalled client got %d bytes of %d: not cut off", got, length)
	}
	// Only it: the other still waits within MaxRequests.
	if n := stalledTotal(t, reg); n != 1 {
		t.Errorf("mirrord_exporter_scrapes_stalled_total %v, want 1", n)
	}
}

// TestDeliveredResponseHasItsLength: a response is whole before it is sent,
// so it says its Content-Length, over real HTTP, in each way it is kept.
func TestDeliveredResponseHasItsLength(t *testing.T) {
	reg, capped, own := fixture(t)
	addr := stallingServer(t, family.NewHandler(family.HandlerOpts{
		Registry: reg, Capped: capped, Own: own, MaxRequests: 40, WriteTimeout: time.Minute, ErrorLog: &recordingLogger{},
	}))
	for _, c := range stalledCases {
		req, err := http.NewRequest(http.MethodGet, "http://"+addr+"/metrics", nil)
		if err != nil {
			t.Fatal(err)
		}
		if c.accept != "" {
			req.Header.Set("Accept", c.accept)
		}
		if c.encoding != "" {
			req.Header.Set("Accept-Encoding", c.encoding)
		}
		// Its own transport: no transparent decompression.
		resp, err := (&http.Transport{DisableCompression: true}).RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if want := strconv.Itoa(len(body)); resp.Header.Get("Content-Length") != want || len(body) < 1000 {
			t.Errorf("%s: Content-Length %q, body of %s bytes", c.name, resp.Header.Get("Content-Length"), want)
		}
	}
}

// stallingServer serves h over real HTTP with 4 KiB send buffers, so that a
// response of the fixture's size waits for its client.
func stallingServer(t *testing.T, h http.Handler) (addr string) {
	t.Helper()
	s := httptest.NewUnstartedServer(h)
	s.Listener = smallSendBuffers{s.Listener}
	s.Start()
	t.Cleanup(s.Close)
	return s.Listener.Addr().String()
}

type smallSendBuffers struct{ net.Listener }

func (l smallSendBuffers) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		if err := tc.SetWriteBuffer(4096); err != nil {
			c.Close()
			return nil, err
		}
	}
	return c, err
}

// stalledTotal is the value of mirrord_exporter_scrapes_stalled_total in g.
func stalledTotal(t *testing.T, g prometheus.Gatherer) float64 {
	t.Helper()
	families, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range families {
		if mf.GetName() == "mirrord_exporter_scrapes_stalled_total" {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	t.Fatal("mirrord_exporter_scrapes_stalled_total is not registered")
	return 0
}

// recordingLogger keeps what the handler logs: clients cut off or hanging
// up are logged, and are what these tests make.
type recordingLogger struct {
	mu    sync.Mutex
	lines [][]any
}

func (l *recordingLogger) Println(v ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, v)
}

// logged reports whether an error that is target was logged.
func (l *recordingLogger) logged(target error) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, line := range l.lines {
		for _, a := range line {
			if err, ok := a.(error); ok && errors.Is(err, target) {
				return true
			}
		}
	}
	return false
}

func (l *recordingLogger) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var b strings.Builder
	for _, line := range l.lines {
		fmt.Fprintln(&b, line...)
	}
	return b.String()
}
