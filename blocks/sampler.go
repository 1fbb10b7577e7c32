package blocks

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"

	"github.com/mirrord-exporter/mirrord-exporter/family"
)

// Sampler takes, at each step of a replay (backfill.Sampler), the usage
// series the exporter would expose and appends them to a Writer, as a
// Prometheus scraping the live exporter at that step would: a counter or
// histogram series also at zero one step before its first sample, so that
// increase() counts its first events, and the duration histogram both
// classic and native.
//
// A series that has not changed for Idle is left out until it changes
// again (see SamplerConfig.Idle): the blocks grow with what changed, not
// with series times span. Every series has a sample at the last event.
//
// Reading the series is what costs, so the capped families are read from
// their own storage, a histogram is converted only when its count changed,
// and only the few other families go through a Gather; those are always
// written.
type Sampler struct {
	w      *Writer
	capped []family.Exposer
	// others gathers the families outside the capped ones; only the
	// mirrord_* usage families among them are written.
	others prometheus.Gatherer
	// step, idle and lead are in milliseconds; idle 0 writes every series
	// at every step.
	step, idle, lead int64

	scalars map[*family.Series[*family.Scalar]]*scalarSeries
	hists   map[*family.Series[*family.Histogram]]*histSeries
	plain   map[string]*floatSeries // gathered series by name and labels
	// The series written at every step: those that changed within idle,
	// and gauges not at zero. The others are not even read.
	activeScalars []*scalarSeries
	activeHists   []*histSeries

	start, prev int64
	hasPrev     bool
}

// SamplerConfig configures a Sampler.
type SamplerConfig struct {
	// Capped are the capped families, read directly; Others gathers the
	// rest, of which the mirrord_* usage families are written.
	Capped []family.Exposer
	Others prometheus.Gatherer
	// Step is the replay's step: the interval of a series' samples.
	Step time.Duration
	// Idle is how long a series may stay unchanged and still be written at
	// every step; 0 means forever, every series at every step, exactly as
	// scraped. After Idle it gets no sample until it changes; then it is
	// written again from Idle before the change (at most half a block
	// before), with its old value, so that increase() and rate() over a
	// range ending after the change find it there. A gauge that is not
	// zero is never left out: it is an ongoing session or port.
	Idle time.Duration
}

// activity is when a series changed and was written last, which decides
// whether it is written at a step.
type activity struct {
	changed, written int64
	idle             bool
	active           bool // in the Sampler's list of active series
}

// scalarSeries is a counter or gauge series.
type scalarSeries struct {
	floatSeries
	activity
	series  *family.Series[*family.Scalar]
	counter bool
	value   float64
}

// histSeries is one histogram series: its classic series (buckets, +Inf,
// sum, count), its native one, and their last values.
type histSeries struct {
	activity
	series  *family.Series[*family.Histogram]
	count   uint64
	classic []floatSeries
	values  []float64
	native  floatSeries
	h       *histogram.Histogram
}

// NewSampler returns a Sampler writing to w.
func NewSampler(w *Writer, cfg SamplerConfig) *Sampler {
	s := &Sampler{
		w: w, capped: cfg.Capped, others: cfg.Others,
		step: cfg.Step.Milliseconds(), idle: cfg.Idle.Milliseconds(),
		scalars: map[*family.Series[*family.Scalar]]*scalarSeries{},
		hists:   map[*family.Series[*family.Histogram]]*histSeries{},
		plain:   map[string]*floatSeries{},
	}
	for _, f := range cfg.Capped {
		if t, ok := f.(interface{ TrackChanges() }); ok {
			t.TrackChanges()
		}
	}
	// The lead goes back into blocks still open: at most half a block
	// (the writer keeps them open that long).
	s.lead = min(s.idle, w.blockMillis/2)
	return s
}

// Start sets the time of the zero samples of the series in the first sample.
func (s *Sampler) Start(t time.Time) error {
	s.start = family.Millis(t)
	return nil
}

// Sample appends the series' values at step boundary t.
func (s *Sampler) Sample(at time.Time) error { return s.sample(at, false) }

// End appends every series' value at the last event's time t.
func (s *Sampler) End(at time.Time) error { return s.sample(at, true) }

func (s *Sampler) sample(at time.Time, last bool) error {
	t := family.Millis(at)
	if s.hasPrev && t <= s.prev {
		return fmt.Errorf("sample at %s is not after the previous one", at)
	}
	// A series new at this sample gets a zero sample at the previous one,
	// or at the step boundary before the first event.
	zeroAt, zero := s.prev, s.hasPrev
	if !zero && s.start < t {
		zeroAt, zero = s.start, true
	}
	if !zero {
		zeroAt = math.MinInt64
	}
	for _, f := range s.capped {
		var err error
		switch v := f.(type) {
		case *family.ScalarVec:
			s.activateScalars(v, last)
		case *family.HistogramVec:
			s.activateHistograms(v, last)
		default:
			err = fmt.Errorf("family %s: type %T cannot be sampled", f.Name(), f)
		}
		if err != nil {
			return err
		}
	}
	if err := s.sampleScalars(t, zeroAt, last); err != nil {
		return err
	}
	if err := s.sampleHistograms(t, zeroAt, last); err != nil {
		return err
	}
	if err := s.sampleGathered(t, zeroAt); err != nil {
		return err
	}
	s.prev, s.hasPrev = t, true
	// The blocks a lead may still reach stay open.
	return s.w.Commit(t - max(s.lead, s.step))
}

// decide says whether a series is written at t, and at which earlier steps
// (the lead) its old value is written first: changed says its value
// changed since the last sample, keep that it is never left out.
func (s *Sampler) decide(a *activity, t int64, changed, keep, last bool) (write bool, lead []int64) {
	switch {
	case changed:
		if a.idle {
			// The steps within the lead not written yet, oldest first.
			first := max(t-s.lead, a.written+1)
			for p := t - s.step; p >= first; p -= s.step {
				lead = append(lead, p)
			}
			slices.Reverse(lead)
		}
		a.changed, a.idle = t, false
	case !a.idle && s.idle > 0 && !keep && t-a.changed >= s.idle:
		a.idle = true
	}
	write = !a.idle || last
	if write {
		a.written = t
	}
	return write, lead
}

// activateScalars puts the series of v that changed (all of them for the
// last sample) in the active list.
func (s *Sampler) activateScalars(v *family.ScalarVec, all bool) {
	series := v.Changed
	if all {
		series = v.Series
	}
	var names []string
	for series := range series {
		ss, ok := s.scalars[series]
		if !ok {
			if names == nil {
				names = v.LabelNames()
			}
			ss = &scalarSeries{
				floatSeries: newFloatSeries(seriesLabels(v.Name(), names, series.Values(), "", "")),
				series:      series, counter: v.Type() == dto.MetricType_COUNTER,
			}
			ss.written = math.MinInt64
			s.scalars[series] = ss
		}
		if !ss.active {
			ss.active = true
			s.activeScalars = append(s.activeScalars, ss)
		}
	}
}

// activateHistograms is activateScalars for a histogram family.
func (s *Sampler) activateHistograms(v *family.HistogramVec, all bool) {
	series := v.Changed
	if all {
		series = v.Series
	}
	var names []string
	for series := range series {
		hs, ok := s.hists[series]
		if !ok {
			if names == nil {
				names = v.LabelNames()
			}
			var m dto.Metric
			series.Metric().WriteMetric(&m)
			hs = newHistSeries(v.Name(), names, series.Values(), m.GetHistogram())
			hs.series, hs.written = series, math.MinInt64
			s.hists[series] = hs
		}
		if !hs.active {
			hs.active = true
			s.activeHists = append(s.activeHists, hs)
		}
	}
}

// sampleScalars writes the active scalar series, and drops from the list
// those that went idle.
func (s *Sampler) sampleScalars(t, zeroAt int64, last bool) error {
	kept := s.activeScalars[:0]
	for _, ss := range s.activeScalars {
		value := ss.series.Metric().Value()
		born := ss.written == math.MinInt64
		if born && ss.counter && zeroAt != math.MinInt64 {
			if err := s.w.Float(&ss.floatSeries, zeroAt, 0); err != nil {
				return err
			}
		}
		changed := born || math.Float64bits(value) != math.Float64bits(ss.value)
		write, lead := s.decide(&ss.activity, t, changed, !ss.counter && value != 0, last)
		for _, p := range lead {
			if err := s.w.Float(&ss.floatSeries, p, ss.value); err != nil {
				return err
			}
		}
		ss.value = value
		if write {
			if err := s.w.Float(&ss.floatSeries, t, value); err != nil {
				return err
			}
		}
		if ss.idle {
			ss.active = false
		} else {
			kept = append(kept, ss)
		}
	}
	clear(s.activeScalars[len(kept):])
	s.activeScalars = kept
	return nil
}

// sampleHistograms is sampleScalars for the histogram series.
func (s *Sampler) sampleHistograms(t, zeroAt int64, last bool) error {
	kept := s.activeHists[:0]
	for _, hs := range s.activeHists {
		born := hs.written == math.MinInt64
		changed := born || hs.count != hs.series.Metric().Count()
		var old []float64
		var oldH *histogram.Histogram
		if changed {
			var m dto.Metric
			hs.series.Metric().WriteMetric(&m)
			if !born {
				old, oldH = slices.Clone(hs.values), hs.h
			}
			hs.set(m.GetHistogram())
			if born && zeroAt != math.MinInt64 {
				if err := s.appendHistogram(hs, zeroAt, make([]float64, len(hs.values)), zeroHistogram(hs.h)); err != nil {
					return err
				}
			}
		}
		write, lead := s.decide(&hs.activity, t, changed, false, last)
		for _, p := range lead {
			if err := s.appendHistogram(hs, p, old, oldH); err != nil {
				return err
			}
		}
		if write {
			if err := s.appendHistogram(hs, t, hs.values, hs.h); err != nil {
				return err
			}
		}
		if hs.idle {
			hs.active = false
		} else {
			kept = append(kept, hs)
		}
	}
	clear(s.activeHists[len(kept):])
	s.activeHists = kept
	return nil
}

func (s *Sampler) appendHistogram(hs *histSeries, t int64, values []float64, h *histogram.Histogram) error {
	for i := range hs.classic {
		if err := s.w.Float(&hs.classic[i], t, values[i]); err != nil {
			return err
		}
	}
	return s.w.Histogram(&hs.native, t, h)
}

// newHistSeries makes the series of a histogram: a _bucket series per
// classic bucket and +Inf, _sum, _count, and the native one under the
// family's name, as Prometheus stores a histogram scraped with both.
func newHistSeries(name string, names, values []string, h *dto.Histogram) *histSeries {
	hs := &histSeries{native: newFloatSeries(seriesLabels(name, names, values, "", ""))}
	add := func(l labels.Labels) {
		hs.classic = append(hs.classic, newFloatSeries(l))
	}
	inf := false
	for _, b := range h.GetBucket() {
		inf = inf || math.IsInf(b.GetUpperBound(), +1)
		add(seriesLabels(name+"_bucket", names, values, "le", formatLe(b.GetUpperBound())))
	}
	if !inf {
		add(seriesLabels(name+"_bucket", names, values, "le", "+Inf"))
	}
	add(seriesLabels(name+"_sum", names, values, "", ""))
	add(seriesLabels(name+"_count", names, values, "", ""))
	hs.values = make([]float64, len(hs.classic))
	return hs
}

// set takes the histogram's current values.
func (hs *histSeries) set(h *dto.Histogram) {
	i := 0
	inf := false
	for _, b := range h.GetBucket() {
		inf = inf || math.IsInf(b.GetUpperBound(), +1)
		hs.values[i] = float64(b.GetCumulativeCount())
		i++
	}
	if !inf {
		hs.values[i] = float64(h.GetSampleCount())
		i++
	}
	hs.values[i], hs.values[i+1] = h.GetSampleSum(), float64(h.GetSampleCount())
	hs.count = h.GetSampleCount()
	// A new value each time: the TSDB keeps the one appended.
	hs.h = nativeHistogram(h)
}

// nativeHistogram converts the native buckets of an exposition histogram.
func nativeHistogram(h *dto.Histogram) *histogram.Histogram {
	spans := func(ss []*dto.BucketSpan) []histogram.Span {
		out := make([]histogram.Span, len(ss))
		for i, s := range ss {
			out[i] = histogram.Span{Offset: s.GetOffset(), Length: s.GetLength()}
		}
		return out
	}
	return &histogram.Histogram{
		Schema:          h.GetSchema(),
		ZeroThreshold:   h.GetZeroThreshold(),
		ZeroCount:       h.GetZeroCount(),
		Count:           h.GetSampleCount(),
		Sum:             h.GetSampleSum(),
		PositiveSpans:   spans(h.GetPositiveSpan()),
		PositiveBuckets: h.GetPositiveDelta(),
		NegativeSpans:   spans(h.GetNegativeSpan()),
		NegativeBuckets: h.GetNegativeDelta(),
	}
}

// zeroHistogram is an empty histogram of h's schema: a series before its
// first observation.
func zeroHistogram(h *histogram.Histogram) *histogram.Histogram {
	return &histogram.Histogram{Schema: h.Schema, ZeroThreshold: h.ZeroThreshold}
}

// sampleGathered writes the usage families outside the capped ones: a few
// series without labels from the log.
func (s *Sampler) sampleGathered(t, zeroAt int64) error {
	families, err := s.others.Gather()
	if err != nil {
		return fmt.Errorf("gather metrics: %w", err)
	}
	for _, mf := range families {
		name := mf.GetName()
		if !strings.HasPrefix(name, "mirrord_") || strings.HasPrefix(name, "mirrord_exporter_") {
			continue
		}
		var counter bool
		switch mf.GetType() {
		case dto.MetricType_COUNTER:
			counter = true
		case dto.MetricType_GAUGE:
		default:
			return fmt.Errorf("family %s: type %s cannot be sampled", name, mf.GetType())
		}
		for _, m := range mf.GetMetric() {
			var b labels.ScratchBuilder
			b.Add(model.MetricNameLabel, name)
			for _, lp := range m.GetLabel() {
				if lp.GetValue() != "" {
					b.Add(lp.GetName(), lp.GetValue())
				}
			}
			b.Sort()
			l := b.Labels()
			key := l.String()
			fs, ok := s.plain[key]
			if !ok {
				series := newFloatSeries(l)
				fs = &series
				s.plain[key] = fs
				if counter && zeroAt != math.MinInt64 {
					if err := s.w.Float(fs, zeroAt, 0); err != nil {
						return err
					}
				}
			}
			v := m.GetGauge().GetValue()
			if counter {
				v = m.GetCounter().GetValue()
			}
			if err := s.w.Float(fs, t, v); err != nil {
				return err
			}
		}
	}
	return nil
}

// seriesLabels is a series' label set: its name, the family's labels, and
// an extra one (le) if extraName is not empty. Labels with an empty value
// are left out.
func seriesLabels(name string, names, values []string, extraName, extraValue string) labels.Labels {
	var b labels.ScratchBuilder
	b.Add(model.MetricNameLabel, name)
	for i, n := range names {
		// Prometheus keeps no label with an empty value, as a scrape or
		// promtool would not.
		if values[i] != "" {
			b.Add(n, values[i])
		}
	}
	if extraName != "" {
		b.Add(extraName, extraValue)
	}
	b.Sort()
	return b.Labels()
}

// formatLe writes a bucket bound as the Prometheus text format does, as
// family.Timeline does for promtool.
func formatLe(v float64) string {
	if math.IsInf(v, +1) {
		return "+Inf"
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}
