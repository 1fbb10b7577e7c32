// Package metricvalues reads the values of a client_golang counter or gauge
// vector by label, for saving them: collecting the vector creates no series,
// which asking it for each label value would.
package metricvalues

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// ByLabel returns the values of the counters or gauges c collects, by the
// value of their one label ("" for a metric without labels). It reads every
// metric it can and returns the first error: a metric that cannot be
// written, or one with more than one label.
func ByLabel(c prometheus.Collector) (map[string]float64, error) {
	ch := make(chan prometheus.Metric)
	go func() {
		c.Collect(ch)
		close(ch)
	}()
	out := make(map[string]float64)
	var first error
	fail := func(err error) {
		if first == nil {
			first = err
		}
	}
	for m := range ch {
		var d dto.Metric
		if err := m.Write(&d); err != nil {
			fail(fmt.Errorf("read metric: %w", err))
			continue
		}
		key := ""
		switch labels := d.GetLabel(); len(labels) {
		case 0:
		case 1:
			key = labels[0].GetValue()
		default:
			fail(fmt.Errorf("read metric: %d labels, want at most 1", len(labels)))
			continue
		}
		if d.Counter != nil {
			out[key] = d.Counter.GetValue()
		} else {
			out[key] = d.Gauge.GetValue()
		}
	}
	return out, first
}
