package collector

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// OverflowValue replaces every user and target label value of an update that
// would create a series past the cap (--metrics.max-series). Fixed-value
// labels (mode, http_filtered, scale_down, response_status_class) keep
// theirs, so a capped family has at most one overflow series per combination
// of those.
const OverflowValue = "__overflow__"

// DefaultMaxSeries is the default cap of series per metric family. It fits
// any real team (a thousand users, each on ten targets) while bounding the
// worst case: about ten capped families of 10,000 series each.
const DefaultMaxSeries = 10000

// keySep separates label values in a key or hash. Label values are valid
// UTF-8 (labelValue), in which the byte 0xff never occurs, so keys cannot
// collide.
const keySep = 0xff

// seriesMetrics are the self-metrics shared by every capped family.
type seriesMetrics struct {
	series   *prometheus.GaugeVec
	overflow *prometheus.CounterVec
	expired  *prometheus.CounterVec
}

func newSeriesMetrics() *seriesMetrics {
	return &seriesMetrics{
		series: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "mirrord_exporter_series",
			Help: "Series of each capped metric family, overflow series included.",
		}, []string{"metric"}),
		overflow: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mirrord_exporter_series_overflow_total",
			Help: "Updates of each capped metric family routed to its " + OverflowValue + " series because --metrics.max-series was reached.",
		}, []string{"metric"}),
		expired: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mirrord_exporter_series_expired_total",
			Help: "Series of each capped metric family deleted after --metrics.series-ttl without an update.",
		}, []string{"metric"}),
	}
}

func (m *seriesMetrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.series, m.overflow, m.expired}
}

// seriesState is what a capped family knows of one of its series.
type seriesState struct {
	values  []string
	touched int64 // Unix nanoseconds (unixNano); a time.Time would be 16 bytes more
	// held is the value of a gauge series as this family set it: a gauge
	// series that is not at zero is never expired, so that the decrement
	// matching an increment always finds it.
	held     int64
	overflow bool
}

// child is one series of a capped family: its state and its metric. The
// family's ownVec keeps it, keyed by its label values, for both the
// collector and scrapes.
type child[T any] struct {
	seriesState
	metric T
	next   *child[T] // the next series of the same hash (seriesMap)
}

// cappedVec is one labelled metric family: it lets at most max label tuples
// have a series of their own and routes the rest to the overflow series,
// and deletes series untouched for ttl. Only the collector's goroutine
// calls it.
type cappedVec[T exposedSeries] struct {
	vec    *ownVec[T]
	fixed  []bool // label positions that keep their value on overflow
	max    int    // 0: no cap
	ttl    time.Duration
	now    func() time.Time
	normal int // series that are not overflow series
	self   *seriesMetrics
	// shared returns the values a new series of values handed over
	// (withOwn) keeps: those of an existing series of the same values in
	// a sibling family, or values. Nil: values.
	shared func(values []string) []string
}

func newCappedVec[T exposedSeries](v *ownVec[T], fixed []bool, lim Limits, now func() time.Time, self *seriesMetrics) *cappedVec[T] {
	self.series.WithLabelValues(v.Name())
	self.overflow.WithLabelValues(v.Name())
	self.expired.WithLabelValues(v.Name())
	return &cappedVec[T]{vec: v, fixed: fixed, max: lim.MaxSeries, ttl: lim.SeriesTTL, now: now, self: self}
}

// with returns the series of values, or of the overflow tuple when values
// would be a series past the cap, marked as touched now. values may be
// scratch: a new series keeps a copy.
func (c *cappedVec[T]) with(values ...string) *child[T] {
	ch := c.lookup(values, false)
	ch.touched = c.now().UnixNano()
	return ch
}

// withOwn is with for values handed over: a new series keeps them (or what
// shared gives) rather than a copy, so they must never change. An event's
// labels are.
func (c *cappedVec[T]) withOwn(values []string) *child[T] {
	ch := c.lookup(values, true)
	ch.touched = c.now().UnixNano()
	return ch
}

func (c *cappedVec[T]) lookup(values []string, own bool) *child[T] {
	if ch, ok := c.vec.find(values); ok {
		return ch
	}
	if c.max <= 0 || c.normal < c.max {
		switch {
		case !own:
			values = append([]string(nil), values...)
		case c.shared != nil:
			values = c.shared(values)
		}
		ch := c.add(seriesState{values: values})
		c.normal++
		return ch
	}
	c.self.overflow.WithLabelValues(c.vec.Name()).Inc()
	over := make([]string, len(values))
	for i, v := range values {
		if c.fixed[i] {
			over[i] = v
		} else {
			over[i] = OverflowValue
		}
	}
	if ch, ok := c.vec.find(over); ok {
		return ch
	}
	return c.add(seriesState{values: over, overflow: true})
}

// valuesOf returns the label values of the series of values, or nil.
func (c *cappedVec[T]) valuesOf(values []string) []string {
	if ch := c.vec.series.lookup(values); ch != nil {
		return ch.values
	}
	return nil
}

// add creates the series of st.values, which c.vec.find was last given.
func (c *cappedVec[T]) add(st seriesState) *child[T] {
	ch := c.vec.add(st)
	c.self.series.WithLabelValues(c.vec.Name()).Set(float64(c.vec.series.len()))
	return ch
}

// expire deletes the series not touched for the TTL at now, and returns how
// many it deleted. Deleting a counter's series resets it: the reason the TTL
// is off by default.
func (c *cappedVec[T]) expire(now time.Time) int {
	if c.ttl <= 0 {
		return 0
	}
	n := 0
	c.vec.deleteIf(func(st *child[T]) bool {
		if st.held != 0 || now.Sub(timeOfUnixNano(st.touched)) < c.ttl {
			return false
		}
		// The metric goes with it: a series created again for these
		// values is a new one.
		if !st.overflow {
			c.normal--
		}
		n++
		return true
	})
	if n > 0 {
		c.self.expired.WithLabelValues(c.vec.Name()).Add(float64(n))
		c.self.series.WithLabelValues(c.vec.Name()).Set(float64(c.vec.series.len()))
	}
	return n
}

// gaugeVec is a capped gauge family whose series are moved by increments and
// matching decrements.
type gaugeVec struct{ *cappedVec[*scalar] }

// gaugeChild is a series of a gaugeVec.
type gaugeChild = *child[*scalar]

// inc adds one to the series of values (or its overflow series) and returns
// the series, which the matching dec must be given.
func (g gaugeVec) inc(values ...string) gaugeChild { return g.hold(g.with(values...)) }

// incOwn is inc for values handed over, as withOwn takes them.
func (g gaugeVec) incOwn(values []string) gaugeChild { return g.hold(g.withOwn(values)) }

func (g gaugeVec) hold(ch gaugeChild) gaugeChild {
	ch.held++
	ch.metric.Inc()
	return ch
}

// dec takes one off a series inc returned. The series, and so its metric,
// still exists: one that is held is never expired.
func (g gaugeVec) dec(ch gaugeChild) {
	ch.held--
	ch.touched = g.now().UnixNano()
	ch.metric.Dec()
}

// unixNano returns t in Unix nanoseconds, and the zero time as 0.
func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// timeOfUnixNano is the inverse of unixNano.
func timeOfUnixNano(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}
