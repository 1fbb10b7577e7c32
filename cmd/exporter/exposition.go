package main

import (
	"bufio"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"

	"github.com/mirrord-exporter/mirrord-exporter/collector"
)

// The capped families hold nearly every series. They write themselves
// (collector.Family) instead of going through client_golang's Gather, which
// builds a dto.Metric of every series first: a scrape of the info-level
// benchmark state took 110-120 ms and doubled the exporter's RSS. The rest is
// gathered as usual and the two are merged by name.

// writeFamilies writes, in name order as Gather sorts them, the gathered
// families with enc and the capped ones (own, sorted by name, none of them
// gathered) themselves in format f, to w, which enc writes to; keep chooses
// the families by name.
func writeFamilies(w io.Writer, enc expfmt.Encoder, f collector.Format, families []*dto.MetricFamily, own []collector.Family, keep func(name string) bool) error {
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

// writeExposition prints the mirrord metrics (those of the log stream and the
// exporter's own) in the Prometheus text format: the families of g and the
// capped ones (own).
func writeExposition(w io.Writer, g prometheus.Gatherer, own []collector.Family) error {
	families, err := g.Gather()
	if err != nil {
		return fmt.Errorf("gather metrics: %w", err)
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	enc := expfmt.NewEncoder(bw, expfmt.NewFormat(expfmt.TypeTextPlain))
	mirrord := func(name string) bool { return strings.HasPrefix(name, "mirrord_") }
	if err := writeFamilies(bw, enc, collector.PrometheusText, families, own, mirrord); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write metrics: %w", err)
	}
	return nil
}

// expositionHandler serves /metrics as promhttp does, with the options the
// exporter gives it: content negotiation with OpenMetrics, the name[] filter,
// an in-flight limit, errors logged, counted and otherwise ignored. It
// writes the Prometheus text, OpenMetrics 1.0 and protobuf formats itself;
// promhttp, over everything, serves OpenMetrics 2.0.
type expositionHandler struct {
	rest     prometheus.Gatherer // everything but the capped families
	own      []collector.Family
	fallback http.Handler
	inFlight chan struct{}
	errors   *prometheus.CounterVec
	errorLog promhttp.Logger
}

// newExpositionHandler registers promhttp's error counter on reg, which
// holds every family but the capped ones, kept in capped.
func newExpositionHandler(reg *prometheus.Registry, capped prometheus.Gatherer, own []collector.Family, maxRequests int, errorLog promhttp.Logger) *expositionHandler {
	h := &expositionHandler{
		rest: reg, own: own, errorLog: errorLog,
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "promhttp_metric_handler_errors_total",
			Help: "Total number of internal errors encountered by the promhttp metric handler.",
		}, []string{"cause"}),
	}
	h.errors.WithLabelValues("gathering")
	h.errors.WithLabelValues("encoding")
	// promhttp finds it registered and counts into it too.
	reg.MustRegister(h.errors)
	if maxRequests > 0 {
		h.inFlight = make(chan struct{}, maxRequests)
	}
	h.fallback = promhttp.HandlerFor(prometheus.Gatherers{reg, capped}, promhttp.HandlerOpts{
		ErrorLog:          errorLog,
		ErrorHandling:     promhttp.ContinueOnError,
		EnableOpenMetrics: true,
		Registry:          reg,
		// Compressed by fastGzip instead.
		DisableCompression: true,
	})
	return h
}

func (h *expositionHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h.inFlight != nil {
		select {
		case h.inFlight <- struct{}{}:
			defer func() { <-h.inFlight }()
		default:
			http.Error(w, fmt.Sprintf("Limit of concurrent requests reached (%d), try again later.", cap(h.inFlight)), http.StatusServiceUnavailable)
			return
		}
	}
	format := expfmt.NegotiateAccept(r.Header, expfmt.DefaultOpenMetricsAcceptedFormats()...)
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
	var names []string
	if r.URL != nil {
		names = r.URL.Query()["name[]"]
	}
	if len(names) > 0 {
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
// which of the capped families' formats.
func writtenHere(format expfmt.Format) (collector.Format, bool) {
	switch format.FormatType() {
	case expfmt.TypeTextPlain:
		return collector.PrometheusText, true
	case expfmt.TypeProtoDelim:
		return collector.ProtobufDelimited, true
	case expfmt.TypeOpenMetrics:
		_, params, err := mime.ParseMediaType(string(format))
		return collector.OpenMetricsText, err == nil && !strings.HasPrefix(params["version"], "2.")
	}
	return 0, false
}
