package family

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"sync"

	dto "github.com/prometheus/client_model/go"
	"google.golang.org/protobuf/proto"
)

// Native histogram settings of mirrord_session_duration_seconds. They are
// what client_golang derives from NativeHistogramBucketFactor 1.1,
// NativeHistogramMaxBucketNumber 160 and NativeHistogramMinResetDuration 0,
// which the family used before it had a histogram of its own (one whose
// state can be saved and restored).
const (
	// NativeSchema is the schema a native histogram starts at: the largest
	// whose bucket factor, 2^(2^-3), is ≤ 1.1.
	NativeSchema        = 3
	nativeMinSchema     = -4
	nativeMaxBuckets    = 160
	nativeZeroThreshold = 2.938735877055719e-39 // 2^-128, client_golang's default
)

// nativeBounds are the lower bounds, as fractions of math.Frexp, of the
// buckets within one power of two, per positive schema. They are
// client_golang's constants, so that keys match its histograms bit for bit.
var nativeBounds = [NativeSchema + 1][]float64{
	{0.5},
	{0.5, 0.7071067811865475},
	{0.5, 0.5946035575013605, 0.7071067811865475, 0.8408964152537144},
	{
		0.5, 0.5452538663326288, 0.5946035575013605, 0.6484197773255048,
		0.7071067811865475, 0.7711054127039704, 0.8408964152537144, 0.9170040432046711,
	},
}

// HistogramVec is a labelled histogram family with classic and native
// buckets whose series can be read and set whole (histogramState), unlike
// client_golang's. Observations come from one goroutine; Collect from
// concurrent scrapes.
type HistogramVec = Vec[*Histogram]

// NewHistogramVec returns a histogram family with the classic buckets of
// upper bounds buckets (+Inf left out), which every series shares.
func NewHistogramVec(name, help string, labels []string, buckets []float64) *HistogramVec {
	ls := newLabelSet(name, help, dto.MetricType_HISTOGRAM, labels)
	return newVec(ls, func() *Histogram {
		return &Histogram{
			upper:   buckets,
			buckets: make([]uint64, len(buckets)),
			schema:  NativeSchema,
		}
	})
}

// Histogram is one series: classic bucket counts plus a native histogram
// that halves its resolution rather than reset when it has too many buckets,
// so that its counts stay exact.
type Histogram struct {
	upper []float64

	mu      sync.Mutex // Observe against Write from scrapes
	buckets []uint64   // per classic bucket, not cumulative; +Inf is count minus their sum
	count   uint64
	sum     float64
	schema  int32
	zero    uint64        // observations within ±nativeZeroThreshold
	pos     nativeBuckets // of positive observations
	neg     nativeBuckets // of negative observations, by absolute value
}

// nativeBuckets are the populated native buckets of one sign, sorted by key.
// A series has a few (one user's sessions on one target last alike), and a
// map held them in over 200 bytes from the first.
type nativeBuckets []NativeBucket

// inc adds one to the bucket of key.
func (bs nativeBuckets) inc(key int) nativeBuckets {
	i, found := slices.BinarySearchFunc(bs, int32(key), func(b NativeBucket, k int32) int { return cmp.Compare(b.Key, k) })
	if found {
		bs[i].Count++
		return bs
	}
	return slices.Insert(bs, i, NativeBucket{Key: int32(key), Count: 1})
}

// Observe implements prometheus.Observer.
func (h *Histogram) Observe(v float64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if i := sort.SearchFloat64s(h.upper, v); i < len(h.upper) {
		h.buckets[i]++
	}
	h.sum += v
	h.count++
	if math.IsNaN(v) {
		return // like client_golang: no native bucket for NaN
	}
	key := nativeKey(v, h.schema)
	switch {
	case v > nativeZeroThreshold:
		h.pos = h.pos.inc(key)
	case v < -nativeZeroThreshold:
		h.neg = h.neg.inc(key)
	default:
		h.zero++
	}
	for len(h.pos)+len(h.neg) > nativeMaxBuckets && h.schema > nativeMinSchema {
		h.schema--
		h.pos = h.pos.widen()
		h.neg = h.neg.widen()
	}
}

// nativeKey is the key of v's native bucket at schema: bucket k covers
// (2^((k-1)/2^schema), 2^(k/2^schema)] in absolute value. It is
// client_golang's computation.
func nativeKey(v float64, schema int32) int {
	inf := math.IsInf(v, 0)
	if inf {
		v = math.MaxFloat64
	}
	frac, exp := math.Frexp(math.Abs(v))
	var key int
	if schema > 0 {
		bounds := nativeBounds[schema]
		key = sort.SearchFloat64s(bounds, frac) + (exp-1)*len(bounds)
	} else {
		key = exp
		if frac == 0.5 {
			key--
		}
		offset := (1 << -schema) - 1
		key = (key + offset) >> -schema
	}
	if inf {
		key++
	}
	return key
}

// widen merges buckets pairwise for the next lower schema, in place: key k
// goes to ceil(k/2), which keeps the order.
func (bs nativeBuckets) widen() nativeBuckets {
	out := bs[:0]
	for _, b := range bs {
		k := b.Key
		if k > 0 {
			k++
		}
		k /= 2 // Go's division truncates toward zero: ceil for k ≤ 0
		if n := len(out); n > 0 && out[n-1].Key == k {
			out[n-1].Count += b.Count
		} else {
			out = append(out, NativeBucket{Key: k, Count: b.Count})
		}
	}
	return out
}

// Count returns the number of observations.
func (h *Histogram) Count() uint64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.count
}

// WriteMetric sets out's histogram to the series' classic and native buckets, as
// an exposition has them.
func (h *Histogram) WriteMetric(out *dto.Metric) { h.writeValue(out, dto.MetricType_HISTOGRAM) }

func (h *Histogram) writeValue(out *dto.Metric, _ dto.MetricType) {
	h.mu.Lock()
	defer h.mu.Unlock()
	his := &dto.Histogram{
		SampleCount:   proto.Uint64(h.count),
		SampleSum:     proto.Float64(h.sum),
		Bucket:        make([]*dto.Bucket, len(h.upper)),
		Schema:        proto.Int32(h.schema),
		ZeroThreshold: proto.Float64(nativeZeroThreshold),
		ZeroCount:     proto.Uint64(h.zero),
	}
	var cum uint64
	for i, upper := range h.upper {
		cum += h.buckets[i]
		his.Bucket[i] = &dto.Bucket{CumulativeCount: proto.Uint64(cum), UpperBound: proto.Float64(upper)}
	}
	his.NegativeSpan, his.NegativeDelta = nativeSpans(h.neg)
	his.PositiveSpan, his.PositiveDelta = nativeSpans(h.pos)
	out.Histogram = his
}

// nativeSpans encodes buckets as Prometheus' protobuf does, the way
// client_golang does: spans of buckets, a gap of one or two empty buckets
// filled in rather than starting a new span, and each count as the delta to
// the previous one.
func nativeSpans(buckets nativeBuckets) ([]*dto.BucketSpan, []int64) {
	var (
		spans  []*dto.BucketSpan
		deltas []int64
		prev   int64
		next   int
	)
	add := func(n int64) {
		*spans[len(spans)-1].Length++
		deltas = append(deltas, n-prev)
		prev = n
	}
	for i, b := range buckets {
		k := int(b.Key)
		gap := int32(k - next)
		if i == 0 || gap > 2 {
			spans = append(spans, &dto.BucketSpan{Offset: proto.Int32(gap), Length: proto.Uint32(0)})
		} else {
			for range gap {
				add(0)
			}
		}
		add(int64(b.Count))
		next = k + 1
	}
	return spans, deltas
}

// HistogramState is one histogram series: classic and native buckets.
type HistogramState struct {
	// Count and Sum are the number and sum of observations.
	Count uint64  `json:"count"`
	Sum   float64 `json:"sum"`
	// UpperBounds are the classic buckets' upper bounds, without +Inf; a
	// state is only restored by a build with the same ones.
	UpperBounds []float64 `json:"upper_bounds"`
	// Buckets are the observations in each classic bucket (not cumulative);
	// the +Inf bucket holds Count minus their sum.
	Buckets []uint64 `json:"buckets"`
	// Schema is the native histogram's current schema: bucket k covers
	// (2^((k-1)/2^Schema), 2^(k/2^Schema)] in absolute value.
	Schema int32 `json:"schema"`
	// ZeroThreshold bounds the native zero bucket, which holds ZeroCount.
	ZeroThreshold float64 `json:"zero_threshold"`
	ZeroCount     uint64  `json:"zero_count"`
	// Positive and Negative are the populated native buckets of positive
	// and negative observations, sorted by key.
	Positive []NativeBucket `json:"positive,omitempty"`
	Negative []NativeBucket `json:"negative,omitempty"`
}

// NativeBucket is one populated native histogram bucket.
type NativeBucket struct {
	Key   int32  `json:"key"`
	Count uint64 `json:"count"`
}

// State returns a copy of the series' state.
func (h *Histogram) State() *HistogramState {
	h.mu.Lock()
	defer h.mu.Unlock()
	return &HistogramState{
		Count:         h.count,
		Sum:           h.sum,
		UpperBounds:   slices.Clone(h.upper),
		Buckets:       slices.Clone(h.buckets),
		Schema:        h.schema,
		ZeroThreshold: nativeZeroThreshold,
		ZeroCount:     h.zero,
		Positive:      slices.Clone(h.pos),
		Negative:      slices.Clone(h.neg),
	}
}

// SetState replaces the series' state with s, which Check accepted.
func (h *Histogram) SetState(s *HistogramState) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.count, h.sum, h.schema, h.zero = s.Count, s.Sum, s.Schema, s.ZeroCount
	h.buckets = slices.Clone(s.Buckets)
	h.pos, h.neg = slices.Clone(s.Positive), slices.Clone(s.Negative)
}

// Check returns why s is not a state this build's histogram of classic
// buckets upper could be in.
func (s *HistogramState) Check(upper []float64) error {
	if !slices.Equal(s.UpperBounds, upper) {
		return fmt.Errorf("classic buckets %v, not this build's %v", s.UpperBounds, upper)
	}
	if len(s.Buckets) != len(s.UpperBounds) {
		return fmt.Errorf("%d classic bucket counts for %d buckets", len(s.Buckets), len(s.UpperBounds))
	}
	if math.IsNaN(s.Sum) || math.IsInf(s.Sum, 0) {
		return fmt.Errorf("sum %v", s.Sum)
	}
	if s.Schema < nativeMinSchema || s.Schema > NativeSchema {
		return fmt.Errorf("native schema %d outside [%d, %d]", s.Schema, nativeMinSchema, NativeSchema)
	}
	if s.ZeroThreshold != nativeZeroThreshold {
		return fmt.Errorf("native zero threshold %v, not %v", s.ZeroThreshold, nativeZeroThreshold)
	}
	if n := len(s.Positive) + len(s.Negative); n > nativeMaxBuckets && s.Schema > nativeMinSchema {
		return fmt.Errorf("%d native buckets at schema %d: more than %d", n, s.Schema, nativeMaxBuckets)
	}
	classic, err := sum(s.Buckets)
	if err != nil || classic > s.Count {
		return fmt.Errorf("classic buckets hold more than the count %d", s.Count)
	}
	native := s.ZeroCount
	for _, list := range [][]NativeBucket{s.Positive, s.Negative} {
		for i, b := range list {
			if b.Count == 0 || i > 0 && b.Key <= list[i-1].Key {
				return errors.New("native buckets not sorted, unique and populated")
			}
			if native+b.Count < native {
				return errors.New("native bucket counts overflow")
			}
			native += b.Count
		}
	}
	if native != s.Count {
		return fmt.Errorf("native buckets hold %d observations, not the count %d", native, s.Count)
	}
	return nil
}

func sum(ns []uint64) (uint64, error) {
	var t uint64
	for _, n := range ns {
		if t+n < t {
			return 0, errors.New("overflow")
		}
		t += n
	}
	return t, nil
}
