package family

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/klauspost/compress/s2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// ErrStalled is logged, wrapped, for a scrape whose client did not take its
// response in time; a promhttp.Logger may log it below errors, as it is no
// failure of the exporter's.
var ErrStalled = errors.New("client did not take the response in time")

// packBlockSize is the S2 block size of the responses kept packed: 64 KiB
// blocks pack the 6.2 MB of text of 10,000 series to 0.62 MB (256 KiB
// blocks: 0.56 MB) in about 2 ms each way, and bound each packer's and
// unpacker's buffers to about 200 KB.
const packBlockSize = 64 << 10

// handler renders a response into memory while it holds an in-flight slot,
// then releases the slot and delivers the response: a client that does not
// read holds no slot, only its response, until WriteTimeout.
//
// What a client that does not read costs: its response, compressed as it
// asked (gzip, zstd) or else packed with S2 (a tenth of the text: 0.62 MB
// for 10,000 series), and a 200 KB unpacker, until the write timeout, plus
// the kernel's socket buffers. At most MaxRequests responses wait for their
// clients: a newer one cuts off the oldest, counted as stalled, so that
// opening more connections exhausts neither memory nor the scrapes of
// others. A scraper that reads at network speed has its response long
// before MaxRequests newer ones are rendered. With the MaxRequests being
// rendered, the scrapes hold at most 2*MaxRequests compressed responses.
type handler struct {
	render       http.Handler // the response, compressed as negotiated
	inFlight     chan struct{}
	waiting      *waiting
	writeTimeout time.Duration
	stalled      prometheus.Counter
	errors       *prometheus.CounterVec
	errorLog     promhttp.Logger
	responses    sync.Pool // *rendered
	packers      sync.Pool // *s2.Writer
	unpackers    sync.Pool // *unpacker
}

func newDeliveringHandler(render http.Handler, o HandlerOpts, errs *prometheus.CounterVec, stalled prometheus.Counter) *handler {
	h := &handler{
		render: render, waiting: &waiting{max: o.MaxRequests}, writeTimeout: o.WriteTimeout,
		stalled: stalled, errors: errs, errorLog: o.ErrorLog,
	}
	if o.MaxRequests > 0 {
		h.inFlight = make(chan struct{}, o.MaxRequests)
	}
	h.responses.New = func() any { return &rendered{header: make(http.Header), packers: &h.packers} }
	h.packers.New = func() any {
		// One goroutine: a render runs on its own already.
		return s2.NewWriter(nil, s2.WriterConcurrency(1), s2.WriterBlockSize(packBlockSize))
	}
	h.unpackers.New = func() any {
		return &unpacker{r: s2.NewReader(nil, s2.ReaderMaxBlockSize(packBlockSize)), buf: make([]byte, packBlockSize)}
	}
	return h
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	resp, ok := h.renderLimited(r)
	if !ok {
		http.Error(w, fmt.Sprintf("Limit of concurrent requests reached (%d), try again later.", cap(h.inFlight)), http.StatusServiceUnavailable)
		return
	}
	defer h.recycle(resp)
	h.deliver(w, resp)
}

// renderLimited renders the response to r while it holds an in-flight slot;
// false if none was free.
func (h *handler) renderLimited(r *http.Request) (*rendered, bool) {
	if h.inFlight != nil {
		select {
		case h.inFlight <- struct{}{}:
			defer func() { <-h.inFlight }()
		default:
			return nil, false
		}
	}
	resp := h.responses.Get().(*rendered)
	h.render.ServeHTTP(resp, r)
	if err := resp.finish(); err != nil {
		h.errors.WithLabelValues("encoding").Inc()
		h.log("error encoding metrics:", err)
	}
	return resp, true
}

func (h *handler) recycle(resp *rendered) {
	resp.reset()
	h.responses.Put(resp)
}

// deliver writes resp to w, which has the write timeout to take it. A
// client that does not is cut off (its connection closed, as a response
// cut short cannot be followed by another) and counted as stalled.
func (h *handler) deliver(w http.ResponseWriter, resp *rendered) {
	header := w.Header()
	for k, v := range resp.header {
		header[k] = v
	}
	code := resp.code
	if code == 0 {
		code = http.StatusOK
	}
	if code >= http.StatusOK && code != http.StatusNoContent && code != http.StatusNotModified {
		// Known, as the response is whole: no chunking, and a client can
		// tell a response cut off from a complete one.
		header.Set("Content-Length", strconv.Itoa(resp.size))
	}
	rc := http.NewResponseController(w)
	d := h.waiting.add(rc, h.writeTimeout)
	w.WriteHeader(code)
	err := resp.writeTo(w, &h.unpackers)
	if err == nil {
		// Within the deadline, rather than after the handler returns.
		if err = rc.Flush(); errors.Is(err, http.ErrNotSupported) {
			err = nil
		}
	}
	cut := h.waiting.remove(d)
	switch {
	case err == nil:
	case cut:
		h.stalled.Inc()
		h.log("error sending metrics:", fmt.Errorf("%w: cut off for a newer response: %w", ErrStalled, err))
	case errors.Is(err, os.ErrDeadlineExceeded) || (d != nil && !time.Now().Before(d.deadline)):
		// The second: HTTP/2 resets the stream, with an error of its own.
		h.stalled.Inc()
		h.log("error sending metrics:", fmt.Errorf("%w: not taken within %s: %w", ErrStalled, h.writeTimeout, err))
	default:
		// A client that hung up, counted as promhttp counts it.
		h.errors.WithLabelValues("encoding").Inc()
		h.log("error sending metrics:", err)
	}
}

func (h *handler) log(v ...any) {
	if h.errorLog != nil {
		h.errorLog.Println(v...)
	}
}

// waiting are the responses being written to their clients, oldest first:
// at most max (0: no limit).
type waiting struct {
	mu    sync.Mutex
	max   int
	queue []*delivery
}

// delivery is a response being written to its client.
type delivery struct {
	rc       *http.ResponseController
	deadline time.Time
	cut      bool // guarded by waiting.mu
}

// add sets the write deadline of rc's response timeout from now and records
// it, cutting off the oldest if max are waiting already. It returns nil,
// neither timing out nor recording, without a timeout or when rc's writer
// has no deadlines (httptest.ResponseRecorder).
func (ws *waiting) add(rc *http.ResponseController, timeout time.Duration) *delivery {
	if timeout <= 0 {
		return nil
	}
	d := &delivery{rc: rc, deadline: time.Now().Add(timeout)}
	if rc.SetWriteDeadline(d.deadline) != nil {
		return nil
	}
	ws.mu.Lock()
	defer ws.mu.Unlock()
	if ws.max > 0 && len(ws.queue) >= ws.max {
		oldest := ws.queue[0]
		ws.queue = slices.Delete(ws.queue, 0, 1)
		oldest.cut = true
		// Its handler is still writing (it waits for mu to remove
		// itself): a deadline in the past fails that write at once.
		oldest.rc.SetWriteDeadline(time.Unix(1, 0))
	}
	ws.queue = append(ws.queue, d)
	return d
}

// remove forgets d, whose handler has done writing, and tells whether it
// was cut off.
func (ws *waiting) remove(d *delivery) (cut bool) {
	if d == nil {
		return false
	}
	ws.mu.Lock()
	defer ws.mu.Unlock()
	if !d.cut {
		ws.queue = slices.DeleteFunc(ws.queue, func(x *delivery) bool { return x == d })
	}
	return d.cut
}

// rendered is a response rendered into memory. A body the client gets
// uncompressed is packed with S2 as it is written, so that a response
// waiting for its client costs a tenth of its size.
type rendered struct {
	header   http.Header
	code     int
	body     bytes.Buffer
	size     int  // of the body as the client gets it
	packable bool // no Content-Encoding when the header was written
	packer   *s2.Writer
	packed   bool // body is S2's stream
	packers  *sync.Pool
}

func (r *rendered) Header() http.Header { return r.header }

func (r *rendered) WriteHeader(code int) {
	if r.code != 0 {
		return
	}
	r.code = code
	// As net/http, the header as it is now is the response's.
	r.packable = r.header.Get("Content-Encoding") == ""
}

func (r *rendered) Write(p []byte) (int, error) {
	r.WriteHeader(http.StatusOK)
	r.size += len(p)
	if !r.packable {
		return r.body.Write(p)
	}
	if r.packer == nil {
		r.packer = r.packers.Get().(*s2.Writer)
		r.packer.Reset(&r.body)
		r.packed = true
	}
	return r.packer.Write(p)
}

// finish ends the body, once rendered.
func (r *rendered) finish() error {
	if r.packer == nil {
		return nil
	}
	err := r.packer.Close()
	r.packer.Reset(nil)
	r.packers.Put(r.packer)
	r.packer = nil
	if err != nil {
		return fmt.Errorf("pack the response: %w", err)
	}
	return nil
}

func (r *rendered) reset() {
	clear(r.header)
	r.code, r.size = 0, 0
	r.body.Reset()
	r.packable, r.packed = false, false
}

// unpacker reads a packed body back.
type unpacker struct {
	r   *s2.Reader
	buf []byte
}

// writeTo writes the body to w as the client gets it.
func (r *rendered) writeTo(w io.Writer, unpackers *sync.Pool) error {
	if !r.packed {
		_, err := w.Write(r.body.Bytes())
		return err
	}
	u := unpackers.Get().(*unpacker)
	defer unpackers.Put(u)
	u.r.Reset(&r.body)
	defer u.r.Reset(nil)
	// Through w's Write, net/http's usual path: its ReadFrom would hand
	// the copy to the connection's, past the response's error tracking.
	_, err := io.CopyBuffer(struct{ io.Writer }{w}, u.r, u.buf)
	return err
}
