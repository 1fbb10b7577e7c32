package family

import (
	"bytes"
	"io"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"google.golang.org/protobuf/encoding/protodelim"
	"google.golang.org/protobuf/proto"
)

// TestExpositionMatchesExpfmt: the families write, straight from their
// series and in each format, exactly what expfmt writes from a Gather of
// them: label values that need escaping, label names out of order, a family
// without labels, a histogram with negative and coarsened native buckets,
// and a family left without series (printed by neither). The collector's
// own TestExpositionMatchesExpfmt does the same over its real families.
func TestExpositionMatchesExpfmt(t *testing.T) {
	created := time.Date(2026, 8, 17, 10, 0, 0, 123, time.UTC)
	clock := func() time.Time { return created }
	counter := NewScalarVec("c_total", "help with \\ and \"quotes\"\nand a newline", []string{"zeta", "alpha"}, prometheus.CounterValue, clock)
	gauge := NewScalarVec("g", "a gauge", nil, prometheus.GaugeValue, clock)
	empty := NewScalarVec("e_total", "never set", []string{"l"}, prometheus.CounterValue, clock)
	hist := NewHistogramVec("h_seconds", "a histogram", []string{"l"}, testBuckets)
	own := []Exposer{counter, empty, gauge, hist}
	reg := prometheus.NewRegistry()
	for _, f := range own {
		reg.MustRegister(f)
	}
	counter.WithLabelValues("z", `a"b\c`+"\nd").Add(2.5)
	counter.WithLabelValues("ünï", "").Inc()
	gauge.WithLabelValues().Set(-312.5)
	for i := range 3000 {
		hist.WithLabelValues("wide").Observe(math.Exp2(float64(i%600)/10 - 30))
	}
	hist.WithLabelValues("neg").Observe(-5)
	hist.WithLabelValues("neg").Observe(0)
	hist.WithLabelValues("neg").Observe(45000)

	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, format := range []struct {
		name  string
		f     Format
		write func(io.Writer, *dto.MetricFamily) (int, error)
	}{
		{"text", PrometheusText, func(w io.Writer, mf *dto.MetricFamily) (int, error) { return expfmt.MetricFamilyToText(w, mf) }},
		{"openmetrics", OpenMetricsText, func(w io.Writer, mf *dto.MetricFamily) (int, error) {
			return expfmt.MetricFamilyToOpenMetrics(w, mf)
		}},
		{"protobuf", ProtobufDelimited, func(w io.Writer, mf *dto.MetricFamily) (int, error) { return protodelim.MarshalTo(w, mf) }},
	} {
		var want, got bytes.Buffer
		for _, mf := range families {
			if _, err := format.write(&want, mf); err != nil {
				t.Fatal(err)
			}
		}
		for _, f := range own {
			if err := f.WriteExposition(&got, format.f); err != nil {
				t.Fatal(err)
			}
		}
		if got.String() != want.String() {
			t.Fatalf("%s: differs from expfmt's\n--- ours\n%s\n--- expfmt\n%s", format.name, got.String(), want.String())
		}
	}
	if s, _ := hist.find([]string{"wide"}); s.metric.State().Schema >= NativeSchema {
		t.Fatal("the wide histogram did not coarsen")
	}
}

// TestAppendFloatAsExpfmt: sample values print as expfmt prints them in
// both formats, special values and signed zero included.
func TestAppendFloatAsExpfmt(t *testing.T) {
	for _, v := range []float64{0, math.Copysign(0, -1), 1, -1, 2.5, -312.5, 1e21, 1.5e-7, 123456789, 45000,
		math.MaxFloat64, math.SmallestNonzeroFloat64, math.NaN(), math.Inf(+1), math.Inf(-1)} {
		mf := &dto.MetricFamily{
			Name: proto.String("g"), Type: dto.MetricType_GAUGE.Enum(),
			Metric: []*dto.Metric{{Gauge: &dto.Gauge{Value: proto.Float64(v)}}},
		}
		var text, om bytes.Buffer
		if _, err := expfmt.MetricFamilyToText(&text, mf); err != nil {
			t.Fatal(err)
		}
		if _, err := expfmt.MetricFamilyToOpenMetrics(&om, mf); err != nil {
			t.Fatal(err)
		}
		if got := "g " + string(appendFloat(nil, v, PrometheusText)) + "\n"; !strings.HasSuffix(text.String(), got) {
			t.Errorf("%v: ours %q, expfmt's %q", v, got, text.String())
		}
		if got := "g " + string(appendFloat(nil, v, OpenMetricsText)) + "\n"; !strings.HasSuffix(om.String(), got) {
			t.Errorf("%v: ours %q, expfmt's OpenMetrics %q", v, got, om.String())
		}
	}
}
