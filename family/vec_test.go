package family

import (
	"io"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/proto"
)

// TestScalarWritesAsClientGolang: a counter and a gauge series of ours
// write the same dto as client_golang's with the same label values (label
// names out of order, a value with every kind of byte), and the counter's
// created timestamp comes from the collector's clock.
func TestScalarWritesAsClientGolang(t *testing.T) {
	labels := []string{"zeta", "alpha", "mid", "client_user"}
	values := []string{"z", "", "a\"b\\c\nd", "ünï"}
	created := time.Date(2026, 8, 17, 10, 0, 0, 123, time.UTC)
	clock := func() time.Time { return created }

	oursVec := NewScalarVec("c_total", "help", labels, prometheus.CounterValue, clock)
	ours := oursVec.WithLabelValues(values...)
	ours.Inc()
	ours.Add(2.5)
	theirs := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "c_total", Help: "help"}, labels).WithLabelValues(values...)
	theirs.Inc()
	theirs.Add(2.5)
	got, want := writeMetric(t, labelledMetric(oursVec, values...)), writeMetric(t, theirs)
	if ts := got.GetCounter().GetCreatedTimestamp().AsTime(); !ts.Equal(created) {
		t.Errorf("created %v, want the clock's %v", ts, created)
	}
	got.Counter.CreatedTimestamp, want.Counter.CreatedTimestamp = nil, nil
	if !proto.Equal(got, want) {
		t.Errorf("counter:\n%s\nclient_golang's:\n%s", prototext.Format(got), prototext.Format(want))
	}

	Gauge := NewScalarVec("g", "help", labels, prometheus.GaugeValue, clock)
	gauge := Gauge.WithLabelValues(values...)
	theirGauge := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "g", Help: "help"}, labels).WithLabelValues(values...)
	for _, m := range []interface{ Inc() }{gauge, theirGauge} {
		m.Inc()
		m.Inc()
	}
	gauge.Dec()
	theirGauge.Dec()
	if got, want := writeMetric(t, labelledMetric(Gauge, values...)), writeMetric(t, theirGauge); !proto.Equal(got, want) {
		t.Errorf("gauge:\n%s\nclient_golang's:\n%s", prototext.Format(got), prototext.Format(want))
	}
	gauge.Set(7)
	if v := gauge.Value(); v != 7 {
		t.Errorf("gauge after Set(7) = %v", v)
	}
}

// TestOwnVecSeries: WithLabelValues makes a series once, DeleteLabelValues
// forgets it, and a family without labels has one series without pairs.
func TestOwnVecSeries(t *testing.T) {
	v := NewScalarVec("c_total", "help", []string{"a", "b"}, prometheus.CounterValue, time.Now)
	s := v.WithLabelValues("x", "y")
	if v.WithLabelValues("x", "y") != s {
		t.Error("a second WithLabelValues made a new series")
	}
	if v.WithLabelValues("x", "") == s || v.WithLabelValues("", "xy") == s {
		t.Error("other values share the series")
	}
	if !deleteSeries(v, "x", "y") || deleteSeries(v, "x", "y") {
		t.Error("deleteIf did not delete the series exactly once")
	}
	if v.WithLabelValues("x", "y") == s {
		t.Error("the deleted series came back")
	}
	func() {
		defer func() {
			if recover() == nil {
				t.Error("WithLabelValues with one value of two did not panic")
			}
		}()
		v.WithLabelValues("x")
	}()
	plain := NewScalarVec("g", "help", nil, prometheus.GaugeValue, time.Now)
	if m := writeMetric(t, labelledMetric(plain)); len(m.Label) != 0 {
		t.Errorf("labels %v on a family without labels", m.Label)
	}
}

// TestScalarConcurrentWrite is for the race detector: scrapes gather while
// the collector's goroutine updates, adds and deletes series. The series
// left hold exactly the increments since their last deletion.
func TestScalarConcurrentWrite(t *testing.T) {
	v := NewScalarVec("c_total", "help", []string{"l"}, prometheus.CounterValue, time.Now)
	want := map[string]float64{}
	gatherWhile(t, v, func(i int) {
		l := strings.Repeat("a", i%5)
		v.WithLabelValues(l).Inc()
		want[l]++
		if i%1000 == 0 {
			deleteSeries(v, "")
			delete(want, "")
		}
	})
	if got := v.series.len(); got != len(want) {
		t.Fatalf("%d series, want %d", got, len(want))
	}
	for l, w := range want {
		s, ok := v.find([]string{l})
		if !ok {
			t.Fatalf("series %q missing", l)
		}
		if got := s.metric.Value(); got != w {
			t.Errorf("series %q = %v, want %v", l, got, w)
		}
	}
}

// deleteSeries deletes the series of values, as expiry does, and reports
// whether there was one.
func deleteSeries[T Metric](v *Vec[T], values ...string) bool {
	found := false
	v.deleteIf(func(s *Series[T]) bool {
		if !slices.Equal(s.values, values) {
			return false
		}
		found = true
		return true
	})
	return found
}

// gatherWhile gathers c, and prints it as --once does, over and over on
// another goroutine while update runs 20,000 times, as scrapes do while the
// collector applies events.
func gatherWhile(t *testing.T, c Exposer, update func(i int)) {
	t.Helper()
	reg := prometheus.NewRegistry()
	reg.MustRegister(c)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
				if _, err := reg.Gather(); err != nil {
					t.Error(err)
					return
				}
				if err := c.WriteExposition(io.Discard, PrometheusText); err != nil {
					t.Error(err)
					return
				}
			}
		}
	})
	for i := range 20000 {
		update(i)
	}
	close(stop)
	wg.Wait()
}

// labelledMetric returns the series of values, made if new, as Collect
// hands it to client_golang.
func labelledMetric[T Metric](v *Vec[T], values ...string) prometheus.Metric {
	v.WithLabelValues(values...)
	s, _ := v.find(values)
	return v.labelled(s)
}

func writeMetric(t *testing.T, m prometheus.Metric) *dto.Metric {
	t.Helper()
	var d dto.Metric
	if err := m.Write(&d); err != nil {
		t.Fatal(err)
	}
	return &d
}

// TestSeriesMapChainsCollisions: series that share a hash are all found,
// listed and deleted one by one, whatever their place in the chain.
func TestSeriesMapChainsCollisions(t *testing.T) {
	m := newSeriesMap[int]()
	const h = 42 // one hash for all: as if every value collided
	var values [][]string
	for i := range 5 {
		v := []string{strconv.Itoa(i)}
		values = append(values, v)
		m.put(h, &Series[int]{seriesState: seriesState{values: v}, metric: i})
	}
	m.put(h+1, &Series[int]{seriesState: seriesState{values: []string{"other"}}, metric: 9})
	for i, v := range values {
		if ch := m.get(h, v); ch == nil || ch.metric != i {
			t.Fatalf("get %v: %v", v, ch)
		}
	}
	if m.get(h, []string{"other"}) != nil || m.get(h+1, []string{"other"}) == nil {
		t.Fatal("a series found under another hash, or not under its own")
	}
	for _, drop := range []int{2, 4, 0} { // middle, head, tail of the chain
		m.deleteIf(func(ch *Series[int]) bool { return ch.metric == drop })
		if m.get(h, values[drop]) != nil {
			t.Fatalf("series %d still there", drop)
		}
	}
	var left []int
	for ch := range m.all {
		left = append(left, ch.metric)
	}
	slices.Sort(left)
	if !slices.Equal(left, []int{1, 3, 9}) || m.len() != 3 {
		t.Fatalf("left %v (len %d), want [1 3 9]", left, m.len())
	}
	m.deleteIf(func(*Series[int]) bool { return true })
	if m.len() != 0 || len(m.heads) != 0 {
		t.Fatalf("%d series, %d heads after deleting all", m.len(), len(m.heads))
	}
}
