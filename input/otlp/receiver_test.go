package otlp_test

import (
	"bytes"
	"compress/gzip"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	collogspb "go.opentelemetry.io/proto/otlp/collector/logs/v1"
	statuspb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/mirrord-exporter/mirrord-exporter/input/otlp"
	"github.com/mirrord-exporter/mirrord-exporter/internal/otlptest"
)

// recordingSink keeps the batches it is given; block, if not nil, holds
// Line until it is closed, after announcing the call on entered.
type recordingSink struct {
	mu      sync.Mutex
	batches [][]string
	pending []string
	tooLong []int
	closed  bool
	entered chan struct{}
	block   chan struct{}
}

func (s *recordingSink) Line(l []byte) {
	if s.block != nil {
		s.entered <- struct{}{}
		<-s.block
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pending = append(s.pending, string(l))
}

func (s *recordingSink) LineTooLong(n int) { s.tooLong = append(s.tooLong, n) }

func (s *recordingSink) Flush() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.batches = append(s.batches, s.pending)
	s.pending = nil
}

func (s *recordingSink) Close() { s.closed = true }

func (s *recordingSink) lines() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var all []string
	for _, b := range s.batches {
		all = append(all, b...)
	}
	return all
}

var at = time.Date(2026, 8, 17, 18, 0, 0, 123456789, time.UTC)

var sample = []otlptest.Record{
	{Time: at, Level: "INFO", Message: "Session Started", Attrs: []otlptest.Attr{
		{Key: "session_id", Value: "59B57EA53B3541E2"}, {Key: "client_user", Value: `CORP\dave`}, {Key: "target", Value: "pod/x"},
	}},
	{Time: at.Add(time.Second), Level: "INFO", Message: "request handled", Attrs: []otlptest.Attr{{Key: "status", Value: int64(200)}}},
	{Time: at.Add(2 * time.Second), Level: "INFO", Message: "Port Steal", Attrs: []otlptest.Attr{
		{Key: "port", Value: int64(8443)}, {Key: "ratio", Value: 0.5}, {Key: "scale_down", Value: true},
	}},
}

var sampleLines = []string{
	`{"timestamp":"2026-08-17T18:00:00.123456789Z","level":"INFO","fields":{"message":"Session Started","session_id":"59B57EA53B3541E2","client_user":"CORP\\dave","target":"pod/x"}}`,
	`{"timestamp":"2026-08-17T18:00:01.123456789Z","level":"INFO","fields":{"message":"request handled","status":200}}`,
	`{"timestamp":"2026-08-17T18:00:02.123456789Z","level":"INFO","fields":{"message":"Port Steal","port":8443,"ratio":0.5,"scale_down":true}}`,
}

func newReceiver(t *testing.T, sink *recordingSink, cfg otlp.Config) (*otlp.Receiver, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	cfg.Sink, cfg.Registerer = sink, reg
	if cfg.MaxRequestBytes == 0 {
		cfg.MaxRequestBytes = 1 << 20
	}
	r, err := otlp.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return r, reg
}

func post(t *testing.T, h http.Handler, body []byte, contentType string, gz bool) *httptest.ResponseRecorder {
	t.Helper()
	if gz {
		var b bytes.Buffer
		w := gzip.NewWriter(&b)
		w.Write(body)
		w.Close()
		body = b.Bytes()
	}
	req := httptest.NewRequest(http.MethodPost, otlp.Path, bytes.NewReader(body))
	req.Header.Set("Content-Type", contentType)
	if gz {
		req.Header.Set("Content-Encoding", "gzip")
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func mustProto(t *testing.T, m proto.Message) []byte {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestRequestEncodings(t *testing.T) {
	pb := mustProto(t, otlptest.Request(sample))
	js, err := protojson.Marshal(otlptest.Request(sample))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, contentType string
		body              []byte
		gz                bool
	}{
		{"protobuf", "application/x-protobuf", pb, false},
		{"protobuf gzip", "application/x-protobuf", pb, true},
		{"json", "application/json", js, false},
		{"json gzip", "application/json; charset=utf-8", js, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			sink := &recordingSink{}
			r, reg := newReceiver(t, sink, otlp.Config{})
			rec := post(t, r, c.body, c.contentType, c.gz)
			if rec.Code != http.StatusOK {
				t.Fatalf("code %d: %s", rec.Code, rec.Body)
			}
			var resp collogspb.ExportLogsServiceResponse
			if strings.HasPrefix(c.contentType, "application/json") {
				if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
					t.Errorf("Content-Type %q", ct)
				}
				err = protojson.Unmarshal(rec.Body.Bytes(), &resp)
			} else {
				if ct := rec.Header().Get("Content-Type"); ct != "application/x-protobuf" {
					t.Errorf("Content-Type %q", ct)
				}
				err = proto.Unmarshal(rec.Body.Bytes(), &resp)
			}
			if err != nil {
				t.Errorf("response is no ExportLogsServiceResponse: %v", err)
			}
			if len(sink.batches) != 1 {
				t.Fatalf("%d batches, want 1 per request", len(sink.batches))
			}
			if got := strings.Join(sink.lines(), "\n"); got != strings.Join(sampleLines, "\n") {
				t.Errorf("lines:\n%s\nwant:\n%s", got, strings.Join(sampleLines, "\n"))
			}
			if got := testutil.ToFloat64(counter(t, reg, "mirrord_exporter_otlp_log_records_total", "")); got != 3 {
				t.Errorf("records counted %v, want 3", got)
			}
			if got := testutil.ToFloat64(counter(t, reg, "mirrord_exporter_otlp_requests_total", "200")); got != 1 {
				t.Errorf("200s counted %v, want 1", got)
			}
		})
	}
}

// counter finds one counter of reg: name, with code as its code label if
// not empty.
func counter(t *testing.T, reg *prometheus.Registry, name, code string) prometheus.Collector {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if code == "" || (len(m.GetLabel()) == 1 && m.GetLabel()[0].GetValue() == code) {
				c := prometheus.NewCounter(prometheus.CounterOpts{Name: name})
				c.Add(m.GetCounter().GetValue())
				return c
			}
		}
	}
	t.Fatalf("no %s{code=%q}", name, code)
	return nil
}

func TestRefusals(t *testing.T) {
	pb := mustProto(t, otlptest.Request(sample))
	big := otlptest.Request([]otlptest.Record{{Time: at, Message: strings.Repeat("x", 4096)}})
	bigPB := mustProto(t, big)
	for _, c := range []struct {
		name        string
		method      string
		path        string
		contentType string
		encoding    string
		body        []byte
		gz          bool
		want        int
	}{
		{"garbage protobuf", http.MethodPost, otlp.Path, "application/x-protobuf", "", []byte{0xff, 0xff, 0xff}, false, 400},
		{"garbage json", http.MethodPost, otlp.Path, "application/json", "", []byte(`{"resourceLogs":[{`), false, 400},
		{"json of another type", http.MethodPost, otlp.Path, "application/json", "", []byte(`{"resourceLogs":"x"}`), false, 400},
		{"bad gzip", http.MethodPost, otlp.Path, "application/x-protobuf", "gzip", pb, false, 400},
		{"over the limit as sent", http.MethodPost, otlp.Path, "application/x-protobuf", "", bigPB, false, 413},
		{"over the limit after gzip", http.MethodPost, otlp.Path, "application/x-protobuf", "", bigPB, true, 413},
		{"other encoding", http.MethodPost, otlp.Path, "application/x-protobuf", "br", pb, false, 415},
		{"other content type", http.MethodPost, otlp.Path, "text/plain", "", pb, false, 415},
		{"GET", http.MethodGet, otlp.Path, "", "", nil, false, 405},
		{"other path", http.MethodPost, "/v1/traces", "application/x-protobuf", "", pb, false, 404},
	} {
		t.Run(c.name, func(t *testing.T) {
			sink := &recordingSink{}
			r, reg := newReceiver(t, sink, otlp.Config{MaxRequestBytes: 2048})
			body := c.body
			enc := c.encoding
			if c.gz {
				var b bytes.Buffer
				w := gzip.NewWriter(&b)
				w.Write(body)
				w.Close()
				body, enc = b.Bytes(), "gzip"
				if len(body) > 2048 {
					t.Fatalf("gzipped body of %d bytes: the test wants it under the limit", len(body))
				}
			}
			req := httptest.NewRequest(c.method, c.path, bytes.NewReader(body))
			req.Header.Set("Content-Type", c.contentType)
			if enc != "" {
				req.Header.Set("Content-Encoding", enc)
			}
			rec := httptest.NewRecorder()
			r.ServeHTTP(rec, req)
			if rec.Code != c.want {
				t.Fatalf("code %d, want %d: %s", rec.Code, c.want, rec.Body)
			}
			if rec.Code == 400 || rec.Code == 413 {
				var st statuspb.Status
				var err error
				if c.contentType == "application/json" {
					err = protojson.Unmarshal(rec.Body.Bytes(), &st)
				} else {
					err = proto.Unmarshal(rec.Body.Bytes(), &st)
				}
				if err != nil || st.GetMessage() == "" {
					t.Errorf("body is no Status with a message (%v): %q", err, rec.Body)
				}
			}
			if len(sink.batches) != 0 || len(sink.pending) != 0 {
				t.Errorf("a refused request delivered %v", sink.lines())
			}
			if got := testutil.ToFloat64(counter(t, reg, "mirrord_exporter_otlp_requests_total", strconv.Itoa(c.want))); got != 1 {
				t.Errorf("requests_total{code=%d} = %v, want 1", c.want, got)
			}
		})
	}
}

// TestBusyIs503 holds one request inside its delivery and requires the next
// to be answered 503 with Retry-After, delivering nothing, and the one held
// to be applied whole once let go.
func TestBusyIs503(t *testing.T) {
	sink := &recordingSink{entered: make(chan struct{}), block: make(chan struct{})}
	r, reg := newReceiver(t, sink, otlp.Config{MaxInFlight: 1})
	pb := mustProto(t, otlptest.Request(sample[:1]))
	first := make(chan int)
	go func() { first <- post(t, r, pb, "application/x-protobuf", false).Code }()
	<-sink.entered
	rec := post(t, r, pb, "application/x-protobuf", false)
	if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") == "" {
		t.Errorf("second request: code %d, Retry-After %q; want 503 with Retry-After", rec.Code, rec.Header().Get("Retry-After"))
	}
	close(sink.block)
	if code := <-first; code != http.StatusOK {
		t.Errorf("first request: code %d", code)
	}
	if got := len(sink.lines()); got != 1 {
		t.Errorf("%d lines delivered, want the first request's 1", got)
	}
	if got := testutil.ToFloat64(counter(t, reg, "mirrord_exporter_otlp_requests_total", "503")); got != 1 {
		t.Errorf("503s counted %v, want 1", got)
	}
}

// TestClosedIs503 requires a closed receiver to deliver nothing more, and
// to close its sink.
func TestClosedIs503(t *testing.T) {
	sink := &recordingSink{}
	r, _ := newReceiver(t, sink, otlp.Config{})
	r.Close()
	if !sink.closed {
		t.Error("Close did not close the sink")
	}
	rec := post(t, r, mustProto(t, otlptest.Request(sample)), "application/x-protobuf", false)
	if rec.Code != http.StatusServiceUnavailable || len(sink.lines()) != 0 {
		t.Errorf("code %d, %d lines after Close; want 503 and none", rec.Code, len(sink.lines()))
	}
}

// TestLineTooLong: a record mapped to a line over MaxLineBytes is counted
// as too long, as a file's would be, not delivered.
func TestLineTooLong(t *testing.T) {
	sink := &recordingSink{}
	r, _ := newReceiver(t, sink, otlp.Config{MaxLineBytes: 150})
	recs := []otlptest.Record{{Time: at, Message: strings.Repeat("y", 200)}, sample[1]}
	if code := post(t, r, mustProto(t, otlptest.Request(recs)), "application/x-protobuf", false).Code; code != 200 {
		t.Fatalf("code %d", code)
	}
	if len(sink.tooLong) != 1 || len(sink.lines()) != 1 {
		t.Errorf("too long %v, lines %v; want one of each", sink.tooLong, sink.lines())
	}
}
