package family

import (
	"io"
	"math"

	dto "github.com/prometheus/client_model/go"
	"google.golang.org/protobuf/encoding/protowire"
)

// The delimited protobuf exposition (what Prometheus asks for first when
// native histograms are on), encoded straight from the series: the bytes of
// client_golang's dto.MetricFamily that Gather would build, marshalled
// (fields in number order, proto2 fields that Write sets written even when
// zero; TestExpositionMatchesPromhttp holds it byte for byte).

// Field numbers of io.prometheus.client's messages.
const (
	familyName, familyHelp, familyType, familyMetric = 1, 2, 3, 4
	metricLabel, metricGauge, metricCounter          = 1, 2, 3
	metricHistogram                                  = 7
	pairName, pairValue                              = 1, 2
	scalarValue, counterCreated                      = 1, 3
	timestampSeconds, timestampNanos                 = 1, 2
	histCount, histSum, histBucket                   = 1, 2, 3
	histSchema, histZeroThreshold, histZeroCount     = 5, 6, 7
	histNegSpan, histNegDelta                        = 9, 10
	histPosSpan, histPosDelta                        = 12, 13
	bucketCount, bucketUpper                         = 1, 2
	spanOffset, spanLength                           = 1, 2
)

// protoScratch are the buffers nested messages are encoded in before they
// are appended, with their length, to the message that holds them.
type protoScratch struct{ metric, inner, leaf []byte }

// writeProtobuf writes the family, whose series are sorted, as one
// length-delimited MetricFamily.
func (v *Vec[T]) writeProtobuf(w io.Writer, series []*Series[T]) error {
	ls := v.labels
	fam := protowire.AppendTag(nil, familyName, protowire.BytesType)
	fam = protowire.AppendString(fam, ls.name)
	fam = protowire.AppendTag(fam, familyHelp, protowire.BytesType)
	fam = protowire.AppendString(fam, ls.help)
	fam = protowire.AppendTag(fam, familyType, protowire.VarintType)
	fam = protowire.AppendVarint(fam, uint64(ls.typ))
	var sc protoScratch
	for _, s := range series {
		sc.metric = s.metric.appendProtobuf(sc.metric[:0], ls, s.values, &sc)
		fam = protowire.AppendTag(fam, familyMetric, protowire.BytesType)
		fam = protowire.AppendBytes(fam, sc.metric)
	}
	if _, err := w.Write(protowire.AppendVarint(nil, uint64(len(fam)))); err != nil {
		return err
	}
	_, err := w.Write(fam)
	return err
}

// appendLabelPairs appends the series' label pairs, sorted by name.
func (ls *labelSet) appendLabelPairs(b []byte, values []string) []byte {
	for i, j := range ls.order {
		name, value := *ls.names[i], values[j]
		size := 2 + protowire.SizeBytes(len(name)) + protowire.SizeBytes(len(value))
		b = protowire.AppendTag(b, metricLabel, protowire.BytesType)
		b = protowire.AppendVarint(b, uint64(size))
		b = protowire.AppendTag(b, pairName, protowire.BytesType)
		b = protowire.AppendString(b, name)
		b = protowire.AppendTag(b, pairValue, protowire.BytesType)
		b = protowire.AppendString(b, value)
	}
	return b
}

// appendMessage appends field num holding the message body.
func appendMessage(b []byte, num protowire.Number, body []byte) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendBytes(b, body)
}

func appendDouble(b []byte, num protowire.Number, v float64) []byte {
	b = protowire.AppendTag(b, num, protowire.Fixed64Type)
	return protowire.AppendFixed64(b, math.Float64bits(v))
}

func appendUvarint(b []byte, num protowire.Number, v uint64) []byte {
	b = protowire.AppendTag(b, num, protowire.VarintType)
	return protowire.AppendVarint(b, v)
}

// appendProtobuf appends the series' Metric message body.
func (s *Scalar) appendProtobuf(b []byte, ls *labelSet, values []string, sc *protoScratch) []byte {
	b = ls.appendLabelPairs(b, values)
	sc.inner = appendDouble(sc.inner[:0], scalarValue, s.Value())
	if ls.typ != dto.MetricType_COUNTER {
		return appendMessage(b, metricGauge, sc.inner)
	}
	// timestamppb.New's seconds and nanoseconds; proto3 leaves out zeros.
	sec, nsec := s.created/1e9, s.created%1e9
	if nsec < 0 {
		sec, nsec = sec-1, nsec+1e9
	}
	sc.leaf = sc.leaf[:0]
	if sec != 0 {
		sc.leaf = appendUvarint(sc.leaf, timestampSeconds, uint64(sec))
	}
	if nsec != 0 {
		sc.leaf = appendUvarint(sc.leaf, timestampNanos, uint64(nsec))
	}
	sc.inner = appendMessage(sc.inner, counterCreated, sc.leaf)
	return appendMessage(b, metricCounter, sc.inner)
}

// appendProtobuf appends the series' Metric message body, as Write builds
// it.
func (h *Histogram) appendProtobuf(b []byte, ls *labelSet, values []string, sc *protoScratch) []byte {
	b = ls.appendLabelPairs(b, values)
	h.mu.Lock()
	defer h.mu.Unlock()
	in := appendUvarint(sc.inner[:0], histCount, h.count)
	in = appendDouble(in, histSum, h.sum)
	var cum uint64
	for i, upper := range h.upper {
		cum += h.buckets[i]
		sc.leaf = appendUvarint(sc.leaf[:0], bucketCount, cum)
		sc.leaf = appendDouble(sc.leaf, bucketUpper, upper)
		in = appendMessage(in, histBucket, sc.leaf)
	}
	in = appendUvarint(in, histSchema, protowire.EncodeZigZag(int64(h.schema)))
	in = appendDouble(in, histZeroThreshold, nativeZeroThreshold)
	in = appendUvarint(in, histZeroCount, h.zero)
	in = sc.appendSpans(in, h.neg, histNegSpan, histNegDelta)
	in = sc.appendSpans(in, h.pos, histPosSpan, histPosDelta)
	sc.inner = in
	return appendMessage(b, metricHistogram, in)
}

// appendSpans appends native buckets as their spans and then their deltas,
// as nativeSpans computes them for Write.
func (sc *protoScratch) appendSpans(b []byte, buckets nativeBuckets, spanField, deltaField protowire.Number) []byte {
	spans, deltas := nativeSpans(buckets)
	for _, sp := range spans {
		sc.leaf = appendUvarint(sc.leaf[:0], spanOffset, protowire.EncodeZigZag(int64(sp.GetOffset())))
		sc.leaf = appendUvarint(sc.leaf, spanLength, uint64(sp.GetLength()))
		b = appendMessage(b, spanField, sc.leaf)
	}
	for _, d := range deltas {
		b = appendUvarint(b, deltaField, protowire.EncodeZigZag(d))
	}
	return b
}
