package loggen

import (
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

const (
	eventsFamily    = "mirrord_exporter_events_total"
	malformedFamily = "mirrord_exporter_malformed_lines_total"
)

// Diff holds an exposition in the Prometheus text format (what the
// exporter's /metrics serves) against t and describes every difference,
// sorted; none means the exporter counted exactly right.
//
// The mirrord_* series (not mirrord_exporter_*) must match t.Series
// exactly, both ways: a histogram is compared by its _count, its _sum and
// its classic buckets (the text format has no native ones).
// mirrord_exporter_events_total and mirrord_exporter_malformed_lines_total
// must hold t.Events and t.Malformed; other label values of theirs may
// appear at 0 (an exporter may initialise them). Lines and Records are not
// compared: an exporter's own line counters are free to count differently.
// The windowed seat gauges (isSeatFamily) are not compared either.
func (t Truth) Diff(exposition io.Reader) ([]string, error) {
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(exposition)
	if err != nil {
		return nil, fmt.Errorf("loggen: parsing the exposition: %w", err)
	}
	series := map[string]float64{}
	events := map[string]float64{}
	malformed := map[string]float64{}
	for name, f := range fams {
		for _, m := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			switch {
			case name == eventsFamily:
				events[labels["event"]] = m.GetCounter().GetValue()
			case name == malformedFamily:
				malformed[labels["reason"]] = m.GetCounter().GetValue()
			case strings.HasPrefix(name, "mirrord_exporter_") || !strings.HasPrefix(name, "mirrord_"):
			case isSeatFamily(name):
			case m.Histogram != nil:
				h := m.GetHistogram()
				series[SeriesKey(name+"_count", labels)] = float64(h.GetSampleCount())
				series[SeriesKey(name+"_sum", labels)] = h.GetSampleSum()
				// The +Inf bucket is the count, whether the parser kept
				// it as a bucket or not.
				labels["le"] = bucketLabel(math.Inf(1))
				series[SeriesKey(name+"_bucket", labels)] = float64(h.GetSampleCount())
				for _, b := range h.GetBucket() {
					labels["le"] = bucketLabel(b.GetUpperBound())
					series[SeriesKey(name+"_bucket", labels)] = float64(b.GetCumulativeCount())
				}
			case m.Summary != nil:
				series[SeriesKey(name+"_count", labels)] = float64(m.GetSummary().GetSampleCount())
				series[SeriesKey(name+"_sum", labels)] = m.GetSummary().GetSampleSum()
			case m.Counter != nil:
				series[SeriesKey(name, labels)] = m.GetCounter().GetValue()
			case m.Gauge != nil:
				series[SeriesKey(name, labels)] = m.GetGauge().GetValue()
			default:
				series[SeriesKey(name, labels)] = m.GetUntyped().GetValue()
			}
		}
	}
	var diffs []string
	diffs = compare(diffs, "", t.Series, series, false)
	diffs = compare(diffs, eventsFamily+" event=", t.Events, events, true)
	diffs = compare(diffs, malformedFamily+" reason=", t.Malformed, malformed, true)
	sort.Strings(diffs)
	return diffs, nil
}

// compare appends a line per difference between want and got; with
// zeroOK, series only in got are fine at 0.
func compare(diffs []string, prefix string, want, got map[string]float64, zeroOK bool) []string {
	f := func(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }
	for k, w := range want {
		g, ok := got[k]
		switch {
		case !ok:
			diffs = append(diffs, fmt.Sprintf("missing %s%s (want %s)", prefix, k, f(w)))
		case g != w:
			diffs = append(diffs, fmt.Sprintf("%s%s = %s, want %s", prefix, k, f(g), f(w)))
		}
	}
	for k, g := range got {
		if _, ok := want[k]; !ok && !(zeroOK && g == 0) {
			diffs = append(diffs, fmt.Sprintf("unexpected %s%s = %s", prefix, k, f(g)))
		}
	}
	return diffs
}

// isSeatFamily tells the windowed seat gauges, which the truth leaves out:
// the collector's tests check them against logs made for their windows.
func isSeatFamily(name string) bool {
	switch name {
	case "mirrord_clients_seen", "mirrord_users_seen", "mirrord_sessions_concurrent_peak", "mirrord_users_concurrent_peak":
		return true
	}
	return false
}
