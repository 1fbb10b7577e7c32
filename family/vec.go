package family

import (
	"fmt"
	"hash/maphash"
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

// Vec is a labelled family whose series this package keeps itself rather
// than client_golang: a series holds its label values, and the label pairs of
// the exposition are built when a scrape writes it. client_golang keeps a
// dto.LabelPair and two *string per label of every series, most of the
// memory of a large state (about 36 of 49 MB for the 37,700 series of the
// info-level benchmark log). Each series is also its capped family's record
// of it (child), so that one map serves the collector and the scrapes.
type Vec[T Metric] struct {
	labels *labelSet
	// newSeries makes the metric of a new series, which holds only its
	// value: its label values are the series' (child), its names and type
	// the family's.
	newSeries func() T

	// series is changed only by the collector's goroutine, under mu; that
	// goroutine reads it without mu. Scrapes (Collect, WriteExposition) only
	// read it, under mu.
	mu     sync.Mutex
	series seriesMap[T]
	hash   uint64 // the hash find computed last; the collector's goroutine's

	// tracking lists in changed the series updated since the last
	// Changed (TrackChanges); the collector's goroutine's.
	tracking bool
	changed  []*Series[T]
}

func newVec[T Metric](ls *labelSet, newSeries func() T) *Vec[T] {
	return &Vec[T]{labels: ls, newSeries: newSeries, series: newSeriesMap[T]()}
}

// seriesMap holds a family's series by a hash of their label values, the
// few that share a hash chained through child.next. Keyed by their joined
// values, every series would keep its values twice, once in the key string:
// a fifth of a large state's memory.
type seriesMap[T any] struct {
	seed  maphash.Seed
	heads map[uint64]*Series[T]
	n     int
}

func newSeriesMap[T any]() seriesMap[T] {
	return seriesMap[T]{seed: maphash.MakeSeed(), heads: make(map[uint64]*Series[T])}
}

// hash hashes label values with the map's seed.
func (m *seriesMap[T]) hash(values []string) uint64 {
	var h maphash.Hash
	h.SetSeed(m.seed)
	for _, v := range values {
		h.WriteString(v)
		h.WriteByte(keySep)
	}
	return h.Sum64()
}

// get returns the series of values, of hash h, or nil.
func (m *seriesMap[T]) get(h uint64, values []string) *Series[T] {
	for ch := m.heads[h]; ch != nil; ch = ch.next {
		if slices.Equal(ch.values, values) {
			return ch
		}
	}
	return nil
}

// lookup returns the series of values, or nil.
func (m *seriesMap[T]) lookup(values []string) *Series[T] {
	return m.get(m.hash(values), values)
}

// put adds ch, of hash h, which get did not find.
func (m *seriesMap[T]) put(h uint64, ch *Series[T]) {
	ch.next = m.heads[h]
	m.heads[h] = ch
	m.n++
}

// len returns the number of series.
func (m *seriesMap[T]) len() int { return m.n }

// all yields every series, in no order.
func (m *seriesMap[T]) all(yield func(*Series[T]) bool) {
	for _, head := range m.heads {
		for ch := head; ch != nil; ch = ch.next {
			if !yield(ch) {
				return
			}
		}
	}
}

// deleteIf deletes the series for which drop reports true.
func (m *seriesMap[T]) deleteIf(drop func(*Series[T]) bool) {
	for h, head := range m.heads {
		kept := head
		for link := &kept; *link != nil; {
			if ch := *link; drop(ch) {
				*link = ch.next
				m.n--
			} else {
				link = &ch.next
			}
		}
		switch {
		case kept == nil:
			delete(m.heads, h)
		case kept != head:
			m.heads[h] = kept
		}
	}
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

// Type returns the family's type: counter, gauge or histogram.
func (v *Vec[T]) Type() dto.MetricType { return v.labels.typ }

// LabelNames returns the family's label names, in the order of a series'
// values.
func (v *Vec[T]) LabelNames() []string {
	names := make([]string, len(v.labels.names))
	for i, j := range v.labels.order {
		names[j] = *v.labels.names[i]
	}
	return names
}

// Series yields every series, in no order. The collector's goroutine only,
// or while it applies nothing (a replay's samples).
func (v *Vec[T]) Series(yield func(*Series[T]) bool) { v.series.all(yield) }

// TrackChanges starts listing the series updated, for Changed: a replay
// then reads only those rather than every series at every step.
func (v *Vec[T]) TrackChanges() { v.tracking = true }

// Changed yields, once each, the series updated since the last call, and
// forgets them. The collector's goroutine only, with TrackChanges.
func (v *Vec[T]) Changed(yield func(*Series[T]) bool) {
	for i, s := range v.changed {
		s.changed = false
		if !yield(s) {
			for _, rest := range v.changed[i+1:] {
				rest.changed = false
			}
			break
		}
	}
	clear(v.changed)
	v.changed = v.changed[:0]
}

// touch lists s as changed, if tracked.
func (v *Vec[T]) touch(s *Series[T]) {
	if v.tracking && !s.changed {
		s.changed = true
		v.changed = append(v.changed, s)
	}
}

// Describe implements prometheus.Collector.
func (v *Vec[T]) Describe(ch chan<- *prometheus.Desc) { ch <- v.labels.desc }

// Collect implements prometheus.Collector.
func (v *Vec[T]) Collect(ch chan<- prometheus.Metric) {
	v.mu.Lock()
	defer v.mu.Unlock()
	for s := range v.series.all {
		ch <- v.labelled(s)
	}
}

// labelled returns series s as client_golang's Gather wants it: a metric
// that writes its labels too.
func (v *Vec[T]) labelled(s *Series[T]) prometheus.Metric { return labelledSeries[T]{v.labels, s} }

type labelledSeries[T Metric] struct {
	labels *labelSet
	series *Series[T]
}

func (m labelledSeries[T]) Desc() *prometheus.Desc { return m.labels.desc }

func (m labelledSeries[T]) Write(out *dto.Metric) error {
	out.Label = m.labels.pairs(m.series.values)
	m.series.metric.writeValue(out, m.labels.typ)
	return nil
}

// find returns the series of values if there is one, and keeps their hash
// for add. The collector's goroutine only.
func (v *Vec[T]) find(values []string) (*Series[T], bool) {
	v.hash = v.series.hash(values)
	s := v.series.get(v.hash, values)
	return s, s != nil
}

// add creates the series of st.values, which find was last given and did
// not find; the series keeps st.values, which the caller must not change
// afterwards. The collector's goroutine only.
func (v *Vec[T]) add(st seriesState) *Series[T] {
	s := &Series[T]{seriesState: st, metric: v.newSeries()}
	v.mu.Lock()
	v.series.put(v.hash, s)
	v.mu.Unlock()
	return s
}

// deleteIf deletes the series for which drop reports true. The collector's
// goroutine only.
func (v *Vec[T]) deleteIf(drop func(*Series[T]) bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.series.deleteIf(drop)
}

// WithLabelValues returns the series of values, creating it; a new series
// keeps values, which the caller must not change afterwards. Like
// client_golang's, it panics on a wrong number of values: a programming
// error.
func (v *Vec[T]) WithLabelValues(values ...string) T {
	if want := len(v.labels.names); len(values) != want {
		panic(fmt.Sprintf("%s: %d label values, want %d", v.labels.desc, len(values), want))
	}
	if s, ok := v.find(values); ok {
		return s.metric
	}
	return v.add(seriesState{values: values}).metric
}

// ScalarVec is a counter or gauge family of scalar series.
type ScalarVec = Vec[*Scalar]

// NewScalarVec returns a counter (kind prometheus.CounterValue) or gauge
// (prometheus.GaugeValue) family. A counter series records when it was made,
// on now's clock, as client_golang's do.
func NewScalarVec(name, help string, labels []string, kind prometheus.ValueType, now func() time.Time) *ScalarVec {
	typ := dto.MetricType_GAUGE
	if kind == prometheus.CounterValue {
		typ = dto.MetricType_COUNTER
	}
	ls := newLabelSet(name, help, typ, labels)
	return newVec(ls, func() *Scalar {
		s := &Scalar{}
		if kind == prometheus.CounterValue {
			s.created = now().UnixNano()
		}
		return s
	})
}

// Scalar is the value of one counter or gauge series, as its family's type
// says. Only the collector's goroutine changes it, so an update is a load
// and a store; scrapes read it atomically.
type Scalar struct {
	created int64 // Unix nanoseconds; counters only
	bits    atomic.Uint64
}

// Value returns the series' value.
func (s *Scalar) Value() float64 { return math.Float64frombits(s.bits.Load()) }

// Add adds d to the series.
func (s *Scalar) Add(d float64) { s.bits.Store(math.Float64bits(s.Value() + d)) }

// Inc adds one.
func (s *Scalar) Inc() { s.Add(1) }

// Dec takes one off a gauge.
func (s *Scalar) Dec() { s.Add(-1) }

// Set sets a gauge to v.
func (s *Scalar) Set(v float64) { s.bits.Store(math.Float64bits(v)) }

func (s *Scalar) writeValue(out *dto.Metric, typ dto.MetricType) {
	v := s.Value()
	if typ == dto.MetricType_COUNTER {
		out.Counter = &dto.Counter{Value: &v, CreatedTimestamp: timestamppb.New(time.Unix(0, s.created))}
	} else {
		out.Gauge = &dto.Gauge{Value: &v}
	}
}
