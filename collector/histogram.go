package collector

import (
	"cmp"
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
	nativeSchema        = 3 // the largest schema whose bucket factor, 2^(2^-3), is ≤ 1.1
	nativeMinSchema     = -4
	nativeMaxBuckets    = 160
	nativeZeroThreshold = 2.938735877055719e-39 // 2^-128, client_golang's default
)

// nativeBounds are the lower bounds, as fractions of math.Frexp, of the
// buckets within one power of two, per positive schema. They are
// client_golang's constants, so that keys match its histograms bit for bit.
var nativeBounds = [nativeSchema + 1][]float64{
	{0.5},
	{0.5, 0.7071067811865475},
	{0.5, 0.5946035575013605, 0.7071067811865475, 0.8408964152537144},
	{
		0.5, 0.5452538663326288, 0.5946035575013605, 0.6484197773255048,
		0.7071067811865475, 0.7711054127039704, 0.8408964152537144, 0.9170040432046711,
	},
}

// histogramVec is a labelled histogram family with classic and native
// buckets whose series can be read and set whole (histogramState), unlike
// client_golang's. Observations come from one goroutine; Collect from
// concurrent scrapes.
type histogramVec = ownVec[*histogram]

func newHistogramVec(name, help string, labels []string, buckets []float64) *histogramVec {
	ls := newLabelSet(name, help, dto.MetricType_HISTOGRAM, labels)
	return newOwnVec(ls, func() *histogram {
		return &histogram{
			upper:   buckets,
			buckets: make([]uint64, len(buckets)),
			schema:  nativeSchema,
		}
	})
}

// histogram is one series: classic bucket counts plus a native histogram
// that halves its resolution rather than reset when it has too many buckets,
// so that its counts stay exact.
type histogram struct {
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
func (h *histogram) Observe(v float64) {
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

func (h *histogram) writeValue(out *dto.Metric, _ dto.MetricType) {
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
