package family

import (
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/proto"
)

// testBuckets are the collector's mirrord_session_duration_seconds buckets.
var testBuckets = []float64{10, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 28800, 43200, 86400}

// clientHistogram is a client_golang histogram with the settings our
// histogram reproduces.
func clientHistogram() prometheus.Histogram {
	return prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:                            "h",
		Help:                            "h",
		Buckets:                         testBuckets,
		NativeHistogramBucketFactor:     1.1,
		NativeHistogramMaxBucketNumber:  nativeMaxBuckets,
		NativeHistogramMinResetDuration: 0,
	})
}

// ourHistogramSeries is the series of a histogram family without labels:
// observed as the collector does, written as Collect hands it over.
type ourHistogramSeries struct {
	*Histogram
	prometheus.Metric
}

func ourHistogram() ourHistogramSeries {
	v := NewHistogramVec("h", "h", nil, testBuckets)
	return ourHistogramSeries{v.WithLabelValues(), labelledMetric(v)}
}

// writeHistogram returns the dto of m, without the created timestamp, which
// our histogram does not have.
func writeHistogram(t *testing.T, m prometheus.Metric) *dto.Histogram {
	t.Helper()
	var d dto.Metric
	if err := m.Write(&d); err != nil {
		t.Fatal(err)
	}
	d.Histogram.CreatedTimestamp = nil
	return d.Histogram
}

// observations draws n values from a mix of what shows up as session
// durations and edge cases: zeros, exact bucket boundaries (classic and
// native), tiny and negative values.
func observations(r *rand.Rand, n int, octaves float64) []float64 {
	out := make([]float64, n)
	for i := range out {
		switch r.IntN(8) {
		case 0:
			out[i] = 0
		case 1:
			out[i] = testBuckets[r.IntN(len(testBuckets))]
		case 2:
			out[i] = math.Exp2(float64(r.IntN(int(octaves)*8)) / 8) // a native boundary
		case 3:
			out[i] = -math.Exp2(r.Float64() * 3)
		case 4:
			out[i] = 1e-40 // within the zero bucket
		default:
			out[i] = math.Exp2(r.Float64() * octaves)
		}
	}
	return out
}

func TestNativeHistogramMatchesClientGolang(t *testing.T) {
	for seed := range uint64(200) {
		r := rand.New(rand.NewPCG(seed, 1))
		// Positive values span at most 16 octaves (128 buckets at schema 3),
		// negative ones 3 (24): under the 160 buckets that coarsen.
		obs := observations(r, r.IntN(500), 16)
		theirs, ours := clientHistogram(), ourHistogram()
		for _, v := range obs {
			theirs.Observe(v)
			ours.Observe(v)
		}
		want, got := writeHistogram(t, theirs), writeHistogram(t, ours)
		if got.GetSchema() != NativeSchema {
			t.Fatalf("seed %d: schema %d, want %d: the observations must stay under %d buckets", seed, got.GetSchema(), NativeSchema, nativeMaxBuckets)
		}
		if !proto.Equal(got, want) {
			t.Fatalf("seed %d (%d observations):\ngot  %s\nwant %s", seed, len(obs), prototext.Format(got), prototext.Format(want))
		}
	}
}

func TestNativeHistogramKeys(t *testing.T) {
	for _, c := range []struct {
		v      float64
		schema int32
		key    int
	}{
		{1, 3, 0}, {2, 3, 8}, {math.Nextafter(1, 2), 3, 1}, {math.Exp2(1.0 / 8), 3, 1},
		{0.5, 3, -8}, {3, 0, 2}, {4, 0, 2}, {4.5, 0, 3}, {4, -1, 1}, {5, -1, 2}, {16, -2, 1}, {17, -2, 2},
		{math.Inf(1), 3, 8193},
	} {
		if got := nativeKey(c.v, c.schema); got != c.key {
			t.Errorf("key of %v at schema %d = %d, want %d", c.v, c.schema, got, c.key)
		}
	}
}

// TestNativeHistogramCoarsens observes values over 60 octaves, far more
// than 160 buckets at schema 3: the schema must go down and every
// observation stay counted, in the bucket it falls in at the final schema.
func TestNativeHistogramCoarsens(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	h := ourHistogram()
	theirs := clientHistogram()
	var obs []float64
	for range 5000 {
		v := math.Exp2(r.Float64()*60 - 30)
		if r.IntN(10) == 0 {
			v = -v
		}
		obs = append(obs, v)
		h.Observe(v)
		theirs.Observe(v)
	}
	s := h.State()
	if s.Schema >= NativeSchema {
		t.Fatalf("schema %d: not coarsened", s.Schema)
	}
	if n := len(s.Positive) + len(s.Negative); n > nativeMaxBuckets {
		t.Errorf("%d native buckets, more than %d", n, nativeMaxBuckets)
	}
	want := map[bool]map[int]uint64{true: {}, false: {}}
	for _, v := range obs {
		want[v > 0][nativeKey(v, s.Schema)]++
	}
	for sign, got := range map[bool][]NativeBucket{true: s.Positive, false: s.Negative} {
		var wantList []NativeBucket // sorted by key, as the series keeps them
		for _, k := range slices.Sorted(maps.Keys(want[sign])) {
			wantList = append(wantList, NativeBucket{Key: int32(k), Count: want[sign][k]})
		}
		if !slices.Equal(got, wantList) {
			t.Errorf("positive %v: buckets %v, want %v", sign, got, wantList)
		}
	}
	if s.Count != uint64(len(obs)) || s.ZeroCount != 0 {
		t.Errorf("count %d zero %d, want %d and 0", s.Count, s.ZeroCount, len(obs))
	}
	// client_golang coarsens the same way when it may not reset.
	if got, want := writeHistogram(t, h), writeHistogram(t, theirs); !proto.Equal(got, want) {
		t.Errorf("differs from client_golang:\ngot  %s\nwant %s", prototext.Format(got), prototext.Format(want))
	}
}

// TestHistogramConcurrentWrite is for the race detector: scrapes write while
// the collector observes and deletes series. The series left hold exactly
// what was observed since their last deletion.
func TestHistogramConcurrentWrite(t *testing.T) {
	v := NewHistogramVec("h", "h", []string{"l"}, testBuckets)
	want := map[string]*HistogramState{}
	gatherWhile(t, v, func(i int) {
		l := string(rune('a' + i%5))
		v.WithLabelValues(l).Observe(float64(i))
		if want[l] == nil {
			want[l] = &HistogramState{}
		}
		want[l].Count++
		want[l].Sum += float64(i)
		if i%1000 == 0 {
			deleteSeries(v, "a")
			delete(want, "a")
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
		got := s.metric.State()
		// Every observation is an integer below 20,000, so the sum is exact.
		if got.Count != w.Count || got.Sum != w.Sum {
			t.Errorf("series %q: count %d sum %v, want %d and %v", l, got.Count, got.Sum, w.Count, w.Sum)
		}
		wantBuckets := make([]uint64, len(testBuckets))
		for i := range 20000 {
			if string(rune('a'+i%5)) != l || l == "a" && i <= 19000 {
				continue
			}
			if j, _ := slices.BinarySearch(testBuckets, float64(i)); j < len(testBuckets) {
				wantBuckets[j]++
			}
		}
		if !slices.Equal(got.Buckets, wantBuckets) {
			t.Errorf("series %q: classic buckets %v, want %v", l, got.Buckets, wantBuckets)
		}
	}
}
