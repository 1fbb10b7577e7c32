package collector

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// ownVec is a labelled family whose series this package keeps itself rather
// than client_golang: a series holds its label values, and the label pairs of
// the exposition are built when a scrape writes it. client_golang keeps a
// dto.LabelPair and two *string per label of every series, most of the
// memory of a large state (about 36 of 49 MB for the 37,700 series of the
// info-level benchmark log). Each series is also its capped family's record
// of it (child), so that one map serves the collector and the scrapes.
type ownVec[T exposedSeries] struct {
	labels *labelSet
	// newSeries makes the series of values; values is the caller's, kept
	// by the series.
	newSeries func(values []string) T

	// series is changed only by the collector's goroutine, under mu; that
	// goroutine reads it without mu. Scrapes (Collect, WriteExposition) only
	// read it, under mu.
	mu     sync.Mutex
	series map[string]*child[T]
	key    []byte // the key find made last; the collector's goroutine's
}

func newOwnVec[T exposedSeries](ls *labelSet, newSeries func([]string) T) *ownVec[T] {
	return &ownVec[T]{labels: ls, newSeries: newSeries, series: make(map[string]*child[T])}
}

// labelSet is a family's description and label names, shared by its series,
// for building their label pairs at each scrape.
type labelSet struct {
	desc       *prometheus.Desc
	name, help string
	typ        dto.MetricType // counter, gauge or histogram
	names      []*string      // label names, sorted as the exposition wants them
	order      []int          // order[i]: the position in the label values of names[i]
}

func newLabelSet(name, help string, typ dto.MetricType, labels []string) *labelSet {
	labels = slices.Clone(labels) // names points into it
	ls := &labelSet{
		desc: prometheus.NewDesc(name, help, labels, nil), name: name, help: help, typ: typ,
		order: make([]int, len(labels)),
	}
	for i := range ls.order {
		ls.order[i] = i
	}
	slices.SortFunc(ls.order, func(a, b int) int { return strings.Compare(labels[a], labels[b]) })
	for _, i := range ls.order {
		ls.names = append(ls.names, &labels[i])
	}
	return ls
}

// pairs returns the label pairs of a series with values, in two
// allocations: the names are the family's, and the values point into values,
// which a series never changes.
func (ls *labelSet) pairs(values []string) []*dto.LabelPair {
	if len(values) == 0 {
		return nil
	}
	pairs := make([]dto.LabelPair, len(values))
	out := make([]*dto.LabelPair, len(values))
	for i, j := range ls.order {
		pairs[i].Name, pairs[i].Value = ls.names[i], &values[j]
		out[i] = &pairs[i]
	}
	return out
}

// Describe implements prometheus.Collector.
func (v *ownVec[T]) Describe(ch chan<- *prometheus.Desc) { ch <- v.labels.desc }

// Collect implements prometheus.Collector.
func (v *ownVec[T]) Collect(ch chan<- prometheus.Metric) {
	v.mu.Lock()
	defer v.mu.Unlock()
	for _, s := range v.series {
		ch <- s.metric
	}
}

// find returns the series of values if there is one, and keeps their key
// for add. The collector's goroutine only.
func (v *ownVec[T]) find(values []string) (*child[T], bool) {
	v.key = appendSeriesKey(v.key[:0], values)
	s, ok := v.series[string(v.key)]
	return s, ok
}

// add creates the series of st.values, which find was last given and did
// not find; the series keeps st.values, which the caller must not change
// afterwards. The collector's goroutine only.
func (v *ownVec[T]) add(st seriesState) *child[T] {
	s := &child[T]{seriesState: st, metric: v.newSeries(st.values)}
	v.mu.Lock()
	v.series[string(v.key)] = s
	v.mu.Unlock()
	return s
}

// deleteIf deletes the series for which drop reports true. The collector's
// goroutine only.
func (v *ownVec[T]) deleteIf(drop func(*child[T]) bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	for k, s := range v.series {
		if drop(s) {
			delete(v.series, k)
		}
	}
}

// WithLabelValues returns the series of values, creating it; a new series
// keeps values, which the caller must not change afterwards. Like
// client_golang's, it panics on a wrong number of values: a programming
// error.
func (v *ownVec[T]) WithLabelValues(values ...string) T {
	if want := len(v.labels.names); len(values) != want {
		panic(fmt.Sprintf("%s: %d label values, want %d", v.labels.desc, len(values), want))
	}
	if s, ok := v.find(values); ok {
		return s.metric
	}
	return v.add(seriesState{values: values}).metric
}

// scalarVec is a counter or gauge family of scalar series.
type scalarVec = ownVec[*scalar]

// newScalarVec returns a counter (kind prometheus.CounterValue) or gauge
// (prometheus.GaugeValue) family. A counter series records when it was made,
// on now's clock, as client_golang's do.
func newScalarVec(name, help string, labels []string, kind prometheus.ValueType, now func() time.Time) *scalarVec {
	typ := dto.MetricType_GAUGE
	if kind == prometheus.CounterValue {
		typ = dto.MetricType_COUNTER
	}
	ls := newLabelSet(name, help, typ, labels)
	return newOwnVec(ls, func(values []string) *scalar {
		s := &scalar{labels: ls, values: values}
		if kind == prometheus.CounterValue {
			s.created = now().UnixNano()
		}
		return s
	})
}

// scalar is one counter or gauge series, as its family's type says. Only
// the collector's goroutine changes it, so an update is a load and a store;
// scrapes read it atomically.
type scalar struct {
	labels  *labelSet
	values  []string
	created int64 // Unix nanoseconds; counters only
	bits    atomic.Uint64
}

func (s *scalar) value() float64 { return math.Float64frombits(s.bits.Load()) }

// Add adds d to the series.
func (s *scalar) Add(d float64) { s.bits.Store(math.Float64bits(s.value() + d)) }

// Inc adds one.
func (s *scalar) Inc() { s.Add(1) }

// Dec takes one off a gauge.
func (s *scalar) Dec() { s.Add(-1) }

// Set sets a gauge to v.
func (s *scalar) Set(v float64) { s.bits.Store(math.Float64bits(v)) }

// Desc implements prometheus.Metric.
func (s *scalar) Desc() *prometheus.Desc { return s.labels.desc }

// Write implements prometheus.Metric.
func (s *scalar) Write(out *dto.Metric) error {
	v := s.value()
	out.Label = s.labels.pairs(s.values)
	if s.labels.typ == dto.MetricType_COUNTER {
		out.Counter = &dto.Counter{Value: &v, CreatedTimestamp: timestamppb.New(time.Unix(0, s.created))}
	} else {
		out.Gauge = &dto.Gauge{Value: &v}
	}
	return nil
}
