package family

import (
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
)

// OverflowValue replaces every user and target label value of an update that
// would create a series past the cap (--metrics.max-series). Fixed-value
// labels (mode, http_filtered, scale_down, response_status_class) keep
// theirs, so a capped family has at most one overflow series per combination
// of those.
const OverflowValue = "__overflow__"

// keySep separates label values in a key or hash. Label values are valid
// UTF-8 (labelValue), in which the byte 0xff never occurs, so keys cannot
// collide.
const keySep = 0xff

// SelfMetrics are the self-metrics shared by every capped family, by the
// family's name.
type SelfMetrics struct {
	Series   *prometheus.GaugeVec
	Overflow *prometheus.CounterVec
	Expired  *prometheus.CounterVec
}

// NewSelfMetrics returns the self-metrics of capped families, to register
// once.
func NewSelfMetrics() *SelfMetrics {
	return &SelfMetrics{
		Series: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "mirrord_exporter_series",
			Help: "Series of each capped metric family, overflow series included.",
		}, []string{"metric"}),
		Overflow: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mirrord_exporter_series_overflow_total",
			Help: "Updates of each capped metric family routed to its " + OverflowValue + " series because --metrics.max-series was reached.",
		}, []string{"metric"}),
		Expired: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mirrord_exporter_series_expired_total",
			Help: "Series of each capped metric family deleted after --metrics.series-ttl without an update.",
		}, []string{"metric"}),
	}
}

// Collectors returns the self-metrics, to register.
func (m *SelfMetrics) Collectors() []prometheus.Collector {
	return []prometheus.Collector{m.Series, m.Overflow, m.Expired}
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
	// changed: in its Vec's list of changed series (Vec.TrackChanges).
	changed bool
}

// Series is one series of a capped family: its state and its metric. The
// family's Vec keeps it, keyed by its label values, for both the collector
// and scrapes.
type Series[T any] struct {
	seriesState
	metric T
	next   *Series[T] // the next series of the same hash (seriesMap)
}

// Metric returns the series' metric.
func (s *Series[T]) Metric() T { return s.metric }

// Values returns the series' label values, which must not be changed.
func (s *Series[T]) Values() []string { return s.values }

// Overflow reports whether the series takes the updates past the cap.
func (s *Series[T]) Overflow() bool { return s.overflow }

// Touched returns when the series was last updated, for the TTL.
func (s *Series[T]) Touched() time.Time { return timeOfUnixNano(s.touched) }

// Held returns, for a gauge series, how many holders raised it and did not
// lower it yet.
func (s *Series[T]) Held() int64 { return s.held }

// Capped is one labelled metric family: it lets at most max label tuples
// have a series of their own and routes the rest to the overflow series,
// and deletes series untouched for ttl. Only the collector's goroutine
// calls it.
type Capped[T Metric] struct {
	vec    *Vec[T]
	fixed  []bool // label positions that keep their value on overflow
	max    int    // 0: no cap
	ttl    time.Duration
	now    func() time.Time
	normal int // series that are not overflow series
	self   *SelfMetrics
	// Shared returns the values a new series of values handed over
	// (WithOwn) keeps: those of an existing series of the same values in
	// a sibling family, or values. Nil: values. Set it before any update.
	Shared func(values []string) []string
}

// NewCapped caps v at maxSeries series (0: no cap) and deletes its series
// untouched for ttl (0: never), on now's clock; fixed marks the label
// positions that keep their value on overflow.
func NewCapped[T Metric](v *Vec[T], fixed []bool, maxSeries int, ttl time.Duration, now func() time.Time, self *SelfMetrics) *Capped[T] {
	self.Series.WithLabelValues(v.Name())
	self.Overflow.WithLabelValues(v.Name())
	self.Expired.WithLabelValues(v.Name())
	return &Capped[T]{vec: v, fixed: fixed, max: maxSeries, ttl: ttl, now: now, self: self}
}

// Vec returns the family the cap is over.
func (c *Capped[T]) Vec() *Vec[T] { return c.vec }

// Name returns the family's name.
func (c *Capped[T]) Name() string { return c.vec.Name() }

// Len returns the number of series, overflow series included.
func (c *Capped[T]) Len() int { return c.vec.series.len() }

// All yields every series, in no order. The collector's goroutine only.
func (c *Capped[T]) All(yield func(*Series[T]) bool) { c.vec.series.all(yield) }

// Lookup returns the series of values, or nil.
func (c *Capped[T]) Lookup(values []string) *Series[T] { return c.vec.series.lookup(values) }

// With returns the series of values, or of the overflow tuple when values
// would be a series past the cap, marked as touched now. values may be
// scratch: a new series keeps a copy.
func (c *Capped[T]) With(values ...string) *Series[T] {
	ch := c.lookup(values, false)
	ch.touched = c.now().UnixNano()
	c.vec.touch(ch)
	return ch
}

// WithOwn is With for values handed over: a new series keeps them (or what
// shared gives) rather than a copy, so they must never change. An event's
// labels are.
func (c *Capped[T]) WithOwn(values []string) *Series[T] {
	ch := c.lookup(values, true)
	ch.touched = c.now().UnixNano()
	c.vec.touch(ch)
	return ch
}

func (c *Capped[T]) lookup(values []string, own bool) *Series[T] {
	if ch, ok := c.vec.find(values); ok {
		return ch
	}
	if c.max <= 0 || c.normal < c.max {
		switch {
		case !own:
			values = append([]string(nil), values...)
		case c.Shared != nil:
			values = c.Shared(values)
		}
		ch := c.add(seriesState{values: values})
		c.normal++
		return ch
	}
	c.self.Overflow.WithLabelValues(c.vec.Name()).Inc()
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

// ValuesOf returns the label values of the series of values, or nil.
func (c *Capped[T]) ValuesOf(values []string) []string {
	if ch := c.vec.series.lookup(values); ch != nil {
		return ch.values
	}
	return nil
}

// add creates the series of st.values, which c.vec.find was last given.
func (c *Capped[T]) add(st seriesState) *Series[T] {
	ch := c.vec.add(st)
	c.self.Series.WithLabelValues(c.vec.Name()).Set(float64(c.vec.series.len()))
	return ch
}

// CheckValues returns why a saved series of values (an overflow series if
// overflow) cannot be one of the family's, if it cannot.
func (c *Capped[T]) CheckValues(values []string, overflow bool) error {
	if len(values) != len(c.fixed) {
		return fmt.Errorf("%d label values, want %d", len(values), len(c.fixed))
	}
	for i, v := range values {
		if !utf8.ValidString(v) {
			return errors.New("label value not valid UTF-8")
		}
		if overflow && !c.fixed[i] && v != OverflowValue {
			return fmt.Errorf("overflow series with label %d not %s", i, OverflowValue)
		}
	}
	return nil
}

// Restore adds a saved series, of values checked by CheckValues and not in
// the family yet, and returns it for its metric to be set. It keeps values.
// The collector's goroutine only.
func (c *Capped[T]) Restore(values []string, overflow bool, touched time.Time, held int64) *Series[T] {
	c.vec.find(values) // leaves the hash add takes
	ch := c.add(seriesState{values: values, touched: unixNano(touched), held: held, overflow: overflow})
	if !overflow {
		c.normal++
	}
	return ch
}

// Expire deletes the series not touched for the TTL at now, and returns how
// many it deleted. Deleting a counter's series resets it: the reason the TTL
// is off by default.
func (c *Capped[T]) Expire(now time.Time) int {
	if c.ttl <= 0 {
		return 0
	}
	n := 0
	c.vec.deleteIf(func(st *Series[T]) bool {
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
		c.self.Expired.WithLabelValues(c.vec.Name()).Add(float64(n))
		c.self.Series.WithLabelValues(c.vec.Name()).Set(float64(c.vec.series.len()))
	}
	return n
}

// Gauge is a capped gauge family whose series are moved by increments and
// matching decrements.
type Gauge struct{ *Capped[*Scalar] }

// GaugeSeries is a series of a Gauge.
type GaugeSeries = *Series[*Scalar]

// Inc adds one to the series of values (or its overflow series) and returns
// the series, which the matching Dec must be given.
func (g Gauge) Inc(values ...string) GaugeSeries { return g.hold(g.With(values...)) }

// IncOwn is Inc for values handed over, as WithOwn takes them.
func (g Gauge) IncOwn(values []string) GaugeSeries { return g.hold(g.WithOwn(values)) }

func (g Gauge) hold(ch GaugeSeries) GaugeSeries {
	ch.held++
	ch.metric.Inc()
	return ch
}

// Dec takes one off a series Inc returned. The series, and so its metric,
// still exists: one that is held is never expired.
func (g Gauge) Dec(ch GaugeSeries) {
	ch.held--
	ch.touched = g.now().UnixNano()
	g.vec.touch(ch)
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
