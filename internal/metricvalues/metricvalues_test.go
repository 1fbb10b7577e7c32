package metricvalues

import (
	"maps"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func TestByLabel(t *testing.T) {
	counters := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "c"}, []string{"l"})
	counters.WithLabelValues("a").Add(3)
	counters.WithLabelValues("b")
	gauge := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "g"}, nil)
	gauge.WithLabelValues().Set(-2.5)
	for name, tc := range map[string]struct {
		c    prometheus.Collector
		want map[string]float64
	}{
		"counters by label": {counters, map[string]float64{"a": 3, "b": 0}},
		"gauge unlabelled":  {gauge, map[string]float64{"": -2.5}},
		"nothing set":       {prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "e"}, nil), map[string]float64{}},
	} {
		got, err := ByLabel(tc.c)
		if err != nil || !maps.Equal(got, tc.want) {
			t.Errorf("%s: ByLabel = %v, %v; want %v", name, got, err, tc.want)
		}
	}
}

func TestByLabelRefusesTwoLabels(t *testing.T) {
	v := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "c"}, []string{"l", "m"})
	v.WithLabelValues("a", "b").Inc()
	if _, err := ByLabel(v); err == nil {
		t.Error("a metric with two labels was read by one")
	}
}
