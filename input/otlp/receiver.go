// Package otlp receives the operator's logs pushed over OTLP/HTTP (POST
// /v1/logs, protobuf or JSON, gzip or not). Each log record becomes one line
// of the operator's tracing JSON (AppendRecord) and a request's lines are
// one batch of the "otlp" stream's Sink, so everything from decode on is the
// path a followed file takes.
//
// A request is applied whole before it is answered 200: a client that sees
// no answer sends it again, so a record may count twice (at least once), and
// one the exporter answered is in its metrics.
package otlp

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"github.com/prometheus/client_golang/prometheus"
	collogspb "go.opentelemetry.io/proto/otlp/collector/logs/v1"
	statuspb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/mirrord-exporter/mirrord-exporter/input"
)

// Input is the input label and the stream name of what OTLP delivers.
const Input = "otlp"

// Path is where OTLP/HTTP clients send logs.
const Path = "/v1/logs"

// DefaultMaxInFlight is how many requests are read and applied at once by
// default; more are answered 503 so that the clients back off rather than
// pile up memory while the collector is behind.
const DefaultMaxInFlight = 8

// retryAfter is the Retry-After, in seconds, of a 503.
const retryAfter = "1"

// Config is a Receiver's configuration.
type Config struct {
	// Sink receives each request's lines as one batch.
	Sink input.Sink
	// Gate, if not nil, is entered around each delivery, as a file
	// follower does, so that a snapshot falls between two requests.
	Gate *input.Gate
	// MaxRequestBytes bounds a body as sent and after gzip.
	MaxRequestBytes int64
	// MaxLineBytes is the longest line a record may map to; a longer
	// one is dropped and counted as a file's too long line is.
	MaxLineBytes int
	// MaxInFlight is the most requests handled at once; 0 means
	// DefaultMaxInFlight.
	MaxInFlight int
	Logger      log.Logger
	Registerer  prometheus.Registerer
	// Now stands in for the time of a record without one; time.Now when nil.
	Now func() time.Time
}

// Receiver is the http.Handler of POST /v1/logs.
type Receiver struct {
	cfg   Config
	slots chan struct{}
	// mu makes the Sink's caller one at a time, as the Sink contract
	// wants, and guards closed.
	mu     sync.Mutex
	closed bool

	requests *prometheus.CounterVec
	records  prometheus.Counter
	bufs     sync.Pool
}

// New returns a Receiver; its metrics are registered with cfg.Registerer.
func New(cfg Config) (*Receiver, error) {
	if cfg.Sink == nil {
		return nil, errors.New("otlp: no sink")
	}
	if cfg.MaxRequestBytes <= 0 {
		return nil, fmt.Errorf("otlp: max request bytes must be positive, got %d", cfg.MaxRequestBytes)
	}
	if cfg.MaxInFlight <= 0 {
		cfg.MaxInFlight = DefaultMaxInFlight
	}
	if cfg.Logger == nil {
		cfg.Logger = log.NewNopLogger()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	r := &Receiver{
		cfg:   cfg,
		slots: make(chan struct{}, cfg.MaxInFlight),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mirrord_exporter_otlp_requests_total",
			Help: "OTLP/HTTP requests received on --otlp.listen-address, by the HTTP status code answered.",
		}, []string{"code"}),
		records: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "mirrord_exporter_otlp_log_records_total",
			Help: "OTLP log records received in requests that were applied (answered 200), events or not; the events among them are in mirrord_exporter_events_total.",
		}),
	}
	// The codes a receiver answers, at zero from the start.
	for _, c := range []int{http.StatusOK, http.StatusBadRequest, http.StatusNotFound, http.StatusMethodNotAllowed,
		http.StatusRequestEntityTooLarge, http.StatusUnsupportedMediaType, http.StatusServiceUnavailable} {
		r.requests.WithLabelValues(strconv.Itoa(c))
	}
	if cfg.Registerer != nil {
		for _, c := range []prometheus.Collector{r.requests, r.records} {
			if err := cfg.Registerer.Register(c); err != nil {
				return nil, fmt.Errorf("otlp: register metrics: %w", err)
			}
		}
	}
	return r, nil
}

// Close makes every later request answer 503 and closes the Sink; it waits
// for the delivery under way. The exporter calls it at shutdown before its
// last save, so that every request answered 200 is in the state saved.
func (r *Receiver) Close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.closed {
		r.closed = true
		r.cfg.Sink.Close()
	}
}

// ServeHTTP serves POST /v1/logs; other paths are 404, other methods 405.
func (r *Receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if req.URL.Path != Path {
		r.fail(w, http.StatusNotFound, "not found: OTLP logs are received on "+Path, encText)
		return
	}
	if req.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		r.fail(w, http.StatusMethodNotAllowed, "method not allowed: "+Path+" takes POST", encText)
		return
	}
	asJSON, ok := isJSON(req.Header.Get("Content-Type"))
	if !ok {
		r.fail(w, http.StatusUnsupportedMediaType, "unsupported content type: send application/x-protobuf or application/json", encText)
		return
	}
	enc := encProto
	if asJSON {
		enc = encJSON
	}
	select {
	case r.slots <- struct{}{}:
		defer func() { <-r.slots }()
	default:
		w.Header().Set("Retry-After", retryAfter)
		r.fail(w, http.StatusServiceUnavailable, "busy: too many requests in flight, retry later", enc)
		return
	}
	code, msg, n := r.handle(req, asJSON)
	if code != http.StatusOK {
		if code == http.StatusServiceUnavailable {
			w.Header().Set("Retry-After", retryAfter)
		}
		r.fail(w, code, msg, enc)
		return
	}
	r.records.Add(float64(n))
	r.requests.WithLabelValues("200").Inc()
	// An empty ExportLogsServiceResponse: full success.
	var resp []byte
	if asJSON {
		w.Header().Set("Content-Type", "application/json")
		resp = []byte("{}")
	} else {
		w.Header().Set("Content-Type", "application/x-protobuf")
	}
	w.WriteHeader(http.StatusOK)
	w.Write(resp)
}

// handle reads, decodes and applies one request; it returns the status, a
// message for a failure and how many records were applied.
func (r *Receiver) handle(req *http.Request, asJSON bool) (int, string, int) {
	buf := r.getBuf()
	defer r.bufs.Put(buf)
	if code, msg := r.readBody(buf, req); code != http.StatusOK {
		return code, msg, 0
	}
	var export collogspb.ExportLogsServiceRequest
	var err error
	if asJSON {
		err = protojson.UnmarshalOptions{DiscardUnknown: true}.Unmarshal(buf.Bytes(), &export)
	} else {
		err = proto.Unmarshal(buf.Bytes(), &export)
	}
	if err != nil {
		return http.StatusBadRequest, "cannot decode the ExportLogsServiceRequest: " + err.Error(), 0
	}
	// The lines are built outside the lock, so that requests decode and
	// map in parallel; only the delivery is one at a time.
	now := r.cfg.Now()
	// The lines outlive buf, which goes back to the pool; the JSON is
	// about twice the protobuf.
	out := make([]byte, 0, 2*buf.Len())
	var ends []int
	var line []byte
	for _, rl := range export.GetResourceLogs() {
		for _, sl := range rl.GetScopeLogs() {
			for _, rec := range sl.GetLogRecords() {
				line = AppendRecord(line[:0], rec, now)
				out = append(out, line...)
				ends = append(ends, len(out))
			}
		}
	}
	r.cfg.Gate.Enter()
	defer r.cfg.Gate.Leave()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return http.StatusServiceUnavailable, "shutting down", 0
	}
	start := 0
	for _, end := range ends {
		if n := end - start; r.cfg.MaxLineBytes > 0 && n > r.cfg.MaxLineBytes {
			r.cfg.Sink.LineTooLong(n)
		} else {
			r.cfg.Sink.Line(out[start:end])
		}
		start = end
	}
	r.cfg.Sink.Flush()
	return http.StatusOK, "", len(ends)
}

// errTooLarge marks a body over MaxRequestBytes.
var errTooLarge = errors.New("request body too large")

// readBody reads the body, gunzipped, into buf, bounded as sent and after
// gzip.
func (r *Receiver) readBody(buf *bytes.Buffer, req *http.Request) (int, string) {
	limit := r.cfg.MaxRequestBytes
	if req.ContentLength > limit {
		return http.StatusRequestEntityTooLarge, fmt.Sprintf("request body of %d bytes is over the limit of %d", req.ContentLength, limit)
	}
	var body io.Reader = &limitedReader{r: req.Body, n: limit}
	switch enc := req.Header.Get("Content-Encoding"); enc {
	case "", "identity":
	case "gzip":
		zr, err := gzip.NewReader(body)
		if err != nil {
			if errors.Is(err, errTooLarge) {
				return http.StatusRequestEntityTooLarge, fmt.Sprintf("request body over the limit of %d bytes", limit)
			}
			return http.StatusBadRequest, "cannot read the gzip body: " + err.Error()
		}
		body = &limitedReader{r: zr, n: limit}
	default:
		return http.StatusUnsupportedMediaType, "unsupported content encoding " + strconv.Quote(enc) + ": send gzip or none"
	}
	if _, err := buf.ReadFrom(body); err != nil {
		if errors.Is(err, errTooLarge) {
			return http.StatusRequestEntityTooLarge, fmt.Sprintf("request body over the limit of %d bytes (as sent or after gzip)", limit)
		}
		return http.StatusBadRequest, "cannot read the body: " + err.Error()
	}
	return http.StatusOK, ""
}

// limitedReader fails with errTooLarge past n bytes, unlike io.LimitReader,
// which would cut the body silently.
type limitedReader struct {
	r io.Reader
	n int64
}

func (l *limitedReader) Read(p []byte) (int, error) {
	if l.n < 0 {
		return 0, errTooLarge
	}
	if int64(len(p)) > l.n+1 {
		p = p[:l.n+1]
	}
	n, err := l.r.Read(p)
	l.n -= int64(n)
	if l.n < 0 {
		return n, errTooLarge
	}
	return n, err
}

func (r *Receiver) getBuf() *bytes.Buffer {
	if b, ok := r.bufs.Get().(*bytes.Buffer); ok {
		b.Reset()
		return b
	}
	return new(bytes.Buffer)
}

// encoding is how a response is written.
type encoding uint8

const (
	encText encoding = iota // not an OTLP request: plain text
	encProto
	encJSON
)

// fail answers code and counts it. An OTLP request gets msg in a
// google.rpc.Status in its own encoding, as the OTLP/HTTP spec says; other
// requests get it as text.
func (r *Receiver) fail(w http.ResponseWriter, code int, msg string, enc encoding) {
	r.requests.WithLabelValues(strconv.Itoa(code)).Inc()
	if code == http.StatusBadRequest || code == http.StatusRequestEntityTooLarge {
		level.Debug(r.cfg.Logger).Log("msg", "OTLP request refused", "code", code, "err", msg)
	}
	st := &statuspb.Status{Code: grpcCode(code), Message: msg}
	var body []byte
	switch enc {
	case encProto:
		w.Header().Set("Content-Type", "application/x-protobuf")
		body, _ = proto.Marshal(st) // a Status always marshals
	case encJSON:
		w.Header().Set("Content-Type", "application/json")
		body, _ = protojson.Marshal(st)
	default:
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		body = []byte(msg + "\n")
	}
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	w.Write(body)
}

// grpcCode is the gRPC code of a Status for an HTTP status code.
func grpcCode(code int) int32 {
	switch code {
	case http.StatusBadRequest:
		return 3 // INVALID_ARGUMENT
	case http.StatusRequestEntityTooLarge:
		return 8 // RESOURCE_EXHAUSTED
	case http.StatusServiceUnavailable:
		return 14 // UNAVAILABLE
	case http.StatusNotFound:
		return 5 // NOT_FOUND
	}
	return 2 // UNKNOWN
}

// isJSON tells the body's encoding from its Content-Type; ok is false for
// neither protobuf nor JSON.
func isJSON(contentType string) (asJSON, ok bool) {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return false, false
	}
	switch mt {
	case "application/x-protobuf":
		return false, true
	case "application/json":
		return true, true
	}
	return false, false
}
