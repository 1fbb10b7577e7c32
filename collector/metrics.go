package collector

import (
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mirrord-exporter/mirrord-exporter/decode"
	"github.com/mirrord-exporter/mirrord-exporter/family"
)

// OverflowValue replaces every user and target label value of an update that
// would create a series past the cap (--metrics.max-series).
const OverflowValue = family.OverflowValue

// DefaultMaxSeries is the default cap of series per metric family. It fits
// any real team (a thousand users, each on ten targets) while bounding the
// worst case: about ten capped families of 10,000 series each.
const DefaultMaxSeries = 10000

// sessionDurationBuckets fit development sessions: from a quick check
// (seconds) to one left open for a day.
var sessionDurationBuckets = []float64{10, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 28800, 43200, 86400}

// counterVec and durationVec are capped families (see family.Capped).
type (
	counterVec  = *family.Capped[*family.Scalar]
	durationVec = *family.Capped[*family.Histogram]
	gaugeVec    = family.Gauge
)

// metrics are the exporter's outputs: every metric the log stream feeds.
// Every family labelled with values from the log is capped (family.Capped).
type metrics struct {
	sessionsStarted counterVec
	sessionsEnded   counterVec
	sessionDuration durationVec
	sessionsActive  gaugeVec
	portsStolen     counterVec
	portsMirrored   counterVec
	portsReleased   counterVec
	portsActive     gaugeVec
	targetsCopied   counterVec
	// Gauges without labels, as vectors so that they appear only once a
	// value is known rather than as a misleading 0.
	lastEvent         *prometheus.GaugeVec
	seatLimitReached  prometheus.Counter
	seatLimitUsers    *prometheus.GaugeVec
	messagesProcessed counterVec
	// sessionsByVersion is labelled by client_cli_version and client_user
	// alone, whatever the configured labels.
	sessionsByVersion counterVec

	events *prometheus.CounterVec
	// byKind are the series of events for each event, got once to spare
	// Apply client_golang's lookup by label value.
	byKind [decode.NumKinds]prometheus.Counter
	// lastEventSet is lastEvent's series once it was first set; it does
	// not exist before.
	lastEventSet    prometheus.Gauge
	sessionsExpired prometheus.Counter
	sessionsTracked prometheus.GaugeFunc
	series          *family.SelfMetrics
	// expirers are the capped families, for the TTL sweep.
	expirers []interface{ Expire(time.Time) int }
	// families are the capped families, sorted by name.
	families []family.Exposer
}

func newMetrics(reg, cappedReg prometheus.Registerer, labels []string, lim Limits, now func() time.Time, tracked func() float64) (*metrics, error) {
	with := func(extra ...string) []string { return append(append([]string{}, labels...), extra...) }
	// fixed marks the label positions whose values the exporter sets itself
	// (the extra ones), which keep their value on overflow.
	fixed := func(extra int) []bool {
		f := make([]bool, len(labels)+extra)
		for i := len(labels); i < len(f); i++ {
			f[i] = true
		}
		return f
	}
	self := family.NewSelfMetrics()
	counter := func(name, help string, labels []string) *family.ScalarVec {
		return family.NewScalarVec(name, help, labels, prometheus.CounterValue, now)
	}
	gauge := func(name, help string, labels []string) *family.ScalarVec {
		return family.NewScalarVec(name, help, labels, prometheus.GaugeValue, now)
	}
	// The families labelled with values from the log keep their series
	// themselves (family.Vec): client_golang's vectors hold several times the
	// memory per series.
	raw := struct {
		sessionsStarted, sessionsEnded, portsStolen, portsMirrored, portsReleased, targetsCopied, messagesProcessed *family.ScalarVec
		sessionsByVersion                                                                                           *family.ScalarVec
		sessionDuration                                                                                             *family.HistogramVec
		sessionsActive, portsActive                                                                                 *family.ScalarVec
	}{
		sessionsStarted: counter("mirrord_sessions_started_total",
			"mirrord sessions started (Session Start records).",
			labels),
		sessionsEnded: counter("mirrord_sessions_ended_total",
			"mirrord sessions ended (Session End records), including those whose start was not seen.",
			labels),
		// Our own histogram rather than client_golang's, whose state cannot
		// be restored; it keeps classic and native buckets, and coarsens the
		// native ones rather than reset them, so that counts stay exact.
		sessionDuration: family.NewHistogramVec("mirrord_session_duration_seconds",
			"Duration of ended mirrord sessions, from the session_duration field of Session End.",
			labels, sessionDurationBuckets),
		sessionsActive: gauge("mirrord_sessions_active",
			"mirrord sessions started and not yet ended (distinct session ids).",
			labels),
		portsStolen: counter("mirrord_ports_stolen_total",
			"Ports stolen by mirrord sessions (Port Steal records); http_filtered tells whether the client set an HTTP filter.",
			with("http_filtered")),
		portsMirrored: counter("mirrord_ports_mirrored_total",
			"Ports mirrored by mirrord sessions (Port Mirror records).",
			labels),
		portsReleased: counter("mirrord_ports_released_total",
			"Ports released by mirrord sessions (Port Release records).",
			labels),
		portsActive: gauge("mirrord_ports_active",
			"Ports currently stolen or mirrored, released by Port Release or by the end of their session.",
			with("mode")),
		targetsCopied: counter("mirrord_targets_copied_total",
			"Targets copied for mirrord sessions (Copy Target records); scale_down tells whether the original was scaled down.",
			with("scale_down")),
		messagesProcessed: counter("mirrord_messages_processed_total",
			"Messages the operator processed for sessions (Message Processing records), by kind, mode, queue type and HTTP response class.",
			[]string{"event_type", "mode", "queue_type", "response_status_class"}),
		sessionsByVersion: counter("mirrord_sessions_started_by_cli_version_total",
			"mirrord sessions started (Session Start records) by the client's mirrord CLI version (client_cli_version, empty for a CLI before 3.166, which sends none) and client_user.",
			[]string{"client_cli_version", "client_user"}),
	}
	capped := func(v *family.ScalarVec, extra int) counterVec {
		return family.NewCapped(v, fixed(extra), lim.MaxSeries, lim.SeriesTTL, now, self)
	}
	m := &metrics{
		sessionsStarted: capped(raw.sessionsStarted, 0),
		sessionsEnded:   capped(raw.sessionsEnded, 0),
		sessionDuration: family.NewCapped(raw.sessionDuration, fixed(0), lim.MaxSeries, lim.SeriesTTL, now, self),
		sessionsActive:  gaugeVec{Capped: capped(raw.sessionsActive, 0)},
		portsStolen:     capped(raw.portsStolen, 1),
		portsMirrored:   capped(raw.portsMirrored, 0),
		portsReleased:   capped(raw.portsReleased, 0),
		portsActive:     gaugeVec{Capped: capped(raw.portsActive, 1)},
		targetsCopied:   capped(raw.targetsCopied, 1),
		// The status class is one of a few values the decoder derives.
		messagesProcessed: family.NewCapped(raw.messagesProcessed, []bool{false, false, false, true}, lim.MaxSeries, lim.SeriesTTL, now, self),
		sessionsByVersion: family.NewCapped(raw.sessionsByVersion, []bool{false, false}, lim.MaxSeries, lim.SeriesTTL, now, self),

		lastEvent: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "mirrord_last_event_timestamp_seconds",
			Help: "The operator's timestamp of the most recent session, port or copy event, in seconds since the epoch.",
		}, nil),
		seatLimitReached: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "mirrord_seat_limit_reached_total",
			Help: "Times the operator refused a user because the license's seat count was reached.",
		}),
		seatLimitUsers: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "mirrord_seat_limit_active_users",
			Help: "Active users the operator reported the last time the seat count was reached.",
		}, nil),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mirrord_exporter_events_total",
			Help: "Functional events decoded and applied, by event.",
		}, []string{"event"}),
		sessionsExpired: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "mirrord_exporter_sessions_expired_total",
			Help: "Sessions (and ports of unseen sessions) dropped from the active gauges after --session.max-age without an end.",
		}),
		sessionsTracked: prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "mirrord_exporter_sessions_tracked",
			Help: "Sessions the exporter holds in memory: started ones and those seen only through port events.",
		}, tracked),
		series: self,
	}
	m.expirers = []interface{ Expire(time.Time) int }{
		m.sessionsStarted, m.sessionsEnded, m.sessionDuration, m.sessionsActive,
		m.portsStolen, m.portsMirrored, m.portsReleased, m.portsActive, m.targetsCopied, m.messagesProcessed,
		m.sessionsByVersion,
	}
	for k := decode.SessionStart; k < decode.NumKinds; k++ {
		m.byKind[k] = m.events.WithLabelValues(k.String())
	}
	// The families labelled with an event's labels alone give a new series
	// the values of a series of the same user and target in any of them:
	// one slice for all.
	byLabels := []func([]string) []string{
		m.sessionsStarted.ValuesOf, m.sessionsEnded.ValuesOf, m.sessionDuration.ValuesOf,
		m.sessionsActive.ValuesOf, m.portsMirrored.ValuesOf, m.portsReleased.ValuesOf,
	}
	shared := func(values []string) []string {
		for _, valuesOf := range byLabels {
			if v := valuesOf(values); v != nil {
				return v
			}
		}
		return values
	}
	m.sessionsStarted.Shared, m.sessionsEnded.Shared, m.sessionDuration.Shared = shared, shared, shared
	m.sessionsActive.Shared, m.portsMirrored.Shared, m.portsReleased.Shared = shared, shared, shared
	m.families = []family.Exposer{
		raw.sessionsStarted, raw.sessionsEnded, raw.sessionDuration, raw.sessionsActive,
		raw.portsStolen, raw.portsMirrored, raw.portsReleased, raw.portsActive, raw.targetsCopied,
		raw.messagesProcessed, raw.sessionsByVersion,
	}
	slices.SortFunc(m.families, func(a, b family.Exposer) int { return strings.Compare(a.Name(), b.Name()) })
	for _, f := range m.families {
		if err := cappedReg.Register(f); err != nil {
			return nil, err
		}
	}
	cs := []prometheus.Collector{
		m.lastEvent, m.seatLimitReached, m.seatLimitUsers,
		m.events, m.sessionsExpired, m.sessionsTracked,
	}
	for _, c := range append(cs, self.Collectors()...) {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// event returns the series of events for k.
func (m *metrics) event(k decode.Kind) prometheus.Counter {
	if k >= decode.SessionStart && k < decode.NumKinds {
		return m.byKind[k]
	}
	return m.events.WithLabelValues(k.String()) // no such event is decoded
}

// lastEventGauge returns the series of lastEvent, creating it on first use.
func (m *metrics) lastEventGauge() prometheus.Gauge {
	if m.lastEventSet == nil {
		m.lastEventSet = m.lastEvent.WithLabelValues()
	}
	return m.lastEventSet
}
