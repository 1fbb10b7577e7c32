package family

import (
	"bufio"
	"compress/gzip"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/klauspost/compress/gzhttp"
	"github.com/klauspost/compress/zstd"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
)

// HandlerOpts configures NewHandler.
type HandlerOpts struct {
	// Registry holds every family but the capped ones; it takes promhttp's
	// metrics of the handler.
	Registry *prometheus.Registry
	// Capped is the registry of the capped families, which write
	// themselves (Own) in every format but OpenMetrics 2.0 and the
	// protobuf text formats, left to promhttp.
	Capped prometheus.Gatherer
	Own    []Exposer
	// MaxRequests limits the scrapes rendered at once, the rest answered
	// 503 as promhttp does, and the responses waiting for their clients at
	// once, the oldest cut off for a newer one; 0: no limit.
	MaxRequests int
	// WriteTimeout is the time a client has to take its whole response once
	// it is rendered, after which its connection is closed and the scrape
	// counted as stalled; 0: as long as the server allows.
	WriteTimeout time.Duration
	// ErrorLog logs the errors of a scrape, which are counted and
	// otherwise ignored, as promhttp's ContinueOnError does.
	ErrorLog promhttp.Logger
}

// acceptedFormats are the formats /metrics negotiates, in the order of
// preference a tie (*/*) resolves: promhttp's with OpenMetrics, and
// OpenMetrics 2.0 for whoever asks for it by name.
func acceptedFormats() []expfmt.Format {
	return append(expfmt.DefaultOpenMetricsAcceptedFormats(), expfmt.FmtOpenMetrics_2_0_0)
}

// renderer writes /metrics as promhttp does over every family, the capped
// ones written by themselves.
type renderer struct {
	rest     prometheus.Gatherer // everything but the capped families
	own      []Exposer
	fallback http.Handler // promhttp, for the formats we do not write
	errors   *prometheus.CounterVec
	errorLog promhttp.Logger
}

// NewHandler returns the /metrics handler: content negotiation
// (expfmt.NegotiateAccept), the name[] filter, the in-flight limit, gzip
// and zstd as promhttp offers them (klauspost/compress), promhttp's
// instrumentation and error counter, and the counter of stalled scrapes,
// registered on o.Registry (once: a second handler on the same registry
// panics, as promhttp's does).
//
// A scrape holds its in-flight slot only while its response is rendered
// into memory, then has o.WriteTimeout to take it (see deliver), so that
// clients that do not read cannot hold every slot.
func NewHandler(o HandlerOpts) http.Handler {
	return promhttp.InstrumentMetricHandler(o.Registry, newHandler(o))
}

// newHandler is NewHandler without promhttp's instrumentation, whose
// counters would move between two scrapes a test compares.
func newHandler(o HandlerOpts) http.Handler {
	errs := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "promhttp_metric_handler_errors_total",
		Help: "Total number of internal errors encountered by the promhttp metric handler.",
	}, []string{"cause"})
	errs.WithLabelValues("gathering")
	errs.WithLabelValues("encoding")
	stalled := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "mirrord_exporter_scrapes_stalled_total",
		Help: "Scrapes of /metrics whose client did not take the whole response within --web.write-timeout, " +
			"or that were cut off for a newer one while --web.max-requests responses were waiting for their clients; " +
			"their connections were closed.",
	})
	// promhttp finds errs registered and counts into it too.
	o.Registry.MustRegister(errs, stalled)
	r := &renderer{rest: o.Registry, own: o.Own, errorLog: o.ErrorLog, errors: errs}
	r.fallback = promhttp.HandlerFor(prometheus.Gatherers{o.Registry, o.Capped}, promhttp.HandlerOpts{
		ErrorLog:        o.ErrorLog,
		ErrorHandling:   promhttp.ContinueOnError,
		AcceptedFormats: acceptedFormats(),
		Registry:        o.Registry,
		// Compressed around it, as the rest.
		DisableCompression: true,
	})
	compress, err := gzhttp.NewWrapper(
		// promhttp's default gzip level took a third of a 10,000-series
		// scrape; the fastest makes a body about a quarter larger and costs
		// a sixth of the time (BenchmarkHandlerScrape).
		gzhttp.CompressionLevel(gzip.BestSpeed),
		gzhttp.ZstdCompressionLevel(int(zstd.SpeedFastest)), // promhttp's
		gzhttp.PreferZstd(false),                            // promhttp picks gzip on a tie
		gzhttp.MinSize(0),                                   // promhttp compresses any body
		gzhttp.ContentTypeFilter(gzhttp.CompressAllContentTypeFilter),
	)
	if err != nil {
		panic(fmt.Sprintf("compression options: %v", err)) // constant, and valid
	}
	return newDeliveringHandler(compress(r), o, errs, stalled)
}

func (h *renderer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	format := expfmt.NegotiateAccept(r.Header, acceptedFormats()...)
	ownFormat, ours := writtenHere(format)
	if !ours {
		h.fallback.ServeHTTP(w, r)
		return
	}
	families, err := h.rest.Gather()
	if err != nil {
		h.errorLog.Println("error gathering metrics:", err)
		h.errors.WithLabelValues("gathering").Inc()
	}
	w.Header().Add("Vary", "Accept")
	w.Header().Set("Content-Type", string(format))
	keep := func(string) bool { return true }
	if names := r.URL.Query()["name[]"]; len(names) > 0 {
		wanted := make(map[string]bool, len(names))
		for _, n := range names {
			wanted[n] = true
		}
		keep = func(name string) bool { return wanted[name] }
	}
	bw := bufio.NewWriterSize(w, 32<<10)
	enc := expfmt.NewEncoder(bw, format)
	err = writeFamilies(bw, enc, ownFormat, families, h.own, keep)
	if err == nil {
		// The final "# EOF" line of OpenMetrics.
		if closer, ok := enc.(expfmt.Closer); ok {
			err = closer.Close()
		}
	}
	if err == nil {
		err = bw.Flush()
	}
	if err != nil {
		h.errorLog.Println("error encoding and sending metric family:", err)
		h.errors.WithLabelValues("encoding").Inc()
	}
}

// writtenHere reports whether the handler writes format itself, and as
// which Format.
func writtenHere(format expfmt.Format) (Format, bool) {
	switch format.FormatType() {
	case expfmt.TypeTextPlain:
		return PrometheusText, true
	case expfmt.TypeProtoDelim:
		return ProtobufDelimited, true
	case expfmt.TypeOpenMetrics:
		v := format.Version()
		return OpenMetricsText, v == expfmt.OpenMetricsVersion_1_0_0 || v == expfmt.OpenMetricsVersion_0_0_1
	}
	return 0, false
}

// writeFamilies writes, in name order as Gather sorts them, the gathered
// families with enc and the capped ones (own, sorted by name, none of them
// gathered) themselves in format f, to w, which enc writes to; keep chooses
// the families by name.
func writeFamilies(w io.Writer, enc expfmt.Encoder, f Format, families []*dto.MetricFamily, own []Exposer, keep func(name string) bool) error {
	for len(families) > 0 || len(own) > 0 {
		if len(own) > 0 && (len(families) == 0 || own[0].Name() < families[0].GetName()) {
			if keep(own[0].Name()) {
				if err := own[0].WriteExposition(w, f); err != nil {
					return fmt.Errorf("write metrics: %w", err)
				}
			}
			own = own[1:]
			continue
		}
		mf := families[0]
		families = families[1:]
		if !keep(mf.GetName()) {
			continue
		}
		if err := enc.Encode(mf); err != nil {
			return fmt.Errorf("write metrics: %w", err)
		}
	}
	return nil
}

// WriteText writes the families of g and the capped ones (own) whose name
// starts with prefix in the Prometheus text format, as --once prints them.
func WriteText(w io.Writer, g prometheus.Gatherer, own []Exposer, prefix string) error {
	families, err := g.Gather()
	if err != nil {
		return fmt.Errorf("gather metrics: %w", err)
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	enc := expfmt.NewEncoder(bw, expfmt.NewFormat(expfmt.TypeTextPlain))
	keep := func(name string) bool { return strings.HasPrefix(name, prefix) }
	if err := writeFamilies(bw, enc, PrometheusText, families, own, keep); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write metrics: %w", err)
	}
	return nil
}
