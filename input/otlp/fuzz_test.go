package otlp_test

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	logspb "go.opentelemetry.io/proto/otlp/logs/v1"
	"google.golang.org/protobuf/proto"

	"github.com/mirrord-exporter/mirrord-exporter/decode"
	"github.com/mirrord-exporter/mirrord-exporter/input/otlp"
	"github.com/mirrord-exporter/mirrord-exporter/internal/otlptest"
)

// FuzzRecord maps any log record (the fuzzer's bytes as a protobuf
// LogRecord) to a line and requires valid JSON that carries the message and
// every scalar attribute with its type, and a decoder that takes the line
// without panicking.
func FuzzRecord(f *testing.F) {
	for _, r := range otlptest.Request(sample).ResourceLogs[0].ScopeLogs[0].LogRecords {
		b, _ := proto.Marshal(r)
		f.Add(b)
	}
	odd := &logspb.LogRecord{
		ObservedTimeUnixNano: math.MaxUint64,
		Attributes: []*commonpb.KeyValue{
			{Key: "message", Value: otlptest.Value("Session Ended")},
			{Key: "session_duration", Value: otlptest.Value(math.Inf(1))},
			{Key: "port", Value: otlptest.Value("\x00\"\xff")},
			{Key: "bytes", Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_BytesValue{BytesValue: []byte{1}}}},
			{Key: "nil"},
		},
	}
	b, _ := proto.Marshal(odd)
	f.Add(b)
	labels, err := decode.NewLabelConfig(nil, nil)
	if err != nil {
		f.Fatal(err)
	}
	dec := decode.New(labels)
	now := time.Unix(1, 0)
	f.Fuzz(func(t *testing.T, data []byte) {
		var rec logspb.LogRecord
		if proto.Unmarshal(data, &rec) != nil {
			return
		}
		line := otlp.AppendRecord(nil, &rec, now)
		var got struct {
			Timestamp time.Time      `json:"timestamp"`
			Fields    map[string]any `json:"fields"`
		}
		if err := json.Unmarshal(line, &got); err != nil {
			t.Fatalf("line is no JSON record (%v): %s", err, line)
		}
		msg := rec.GetBody().GetStringValue()
		if msg == "" {
			for _, kv := range rec.GetAttributes() {
				if kv.GetKey() == "message" {
					msg = kv.GetValue().GetStringValue()
					break
				}
			}
		}
		if m, _ := got.Fields["message"].(string); m != strings.ToValidUTF8(msg, "\ufffd") {
			t.Errorf("message %q, want %q", m, msg)
		}
		for _, kv := range rec.GetAttributes() {
			k := kv.GetKey()
			if k == "message" || !utf8.ValidString(k) || duplicate(rec.GetAttributes(), k) {
				continue
			}
			v, ok := got.Fields[k]
			switch x := kv.GetValue().GetValue().(type) {
			case *commonpb.AnyValue_StringValue:
				ok = ok && v == strings.ToValidUTF8(x.StringValue, "\ufffd")
			case *commonpb.AnyValue_BoolValue:
				ok = ok && v == x.BoolValue
			case *commonpb.AnyValue_IntValue:
				ok = ok && v == float64(x.IntValue)
			case *commonpb.AnyValue_DoubleValue:
				if math.IsNaN(x.DoubleValue) || math.IsInf(x.DoubleValue, 0) {
					_, ok = v.(string)
				} else {
					ok = ok && v == x.DoubleValue
				}
			default:
				ok = !ok
			}
			if !ok {
				t.Errorf("attribute %q = %#v became %#v", k, kv.GetValue(), v)
			}
		}
		var ev decode.Event
		dec.Decode(line, &ev)
	})
}

// duplicate tells whether key is the key of more than one attribute, whose
// last value JSON keeps.
func duplicate(kvs []*commonpb.KeyValue, key string) bool {
	n := 0
	for _, kv := range kvs {
		if kv.GetKey() == key {
			n++
		}
	}
	return n > 1
}

// BenchmarkAppendRecord is the mapping alone, per record of a generated
// workload.
func BenchmarkAppendRecord(b *testing.B) {
	recs, _ := otlptest.Workload(b, 7)
	lrs := otlptest.Request(recs).ResourceLogs[0].ScopeLogs[0].LogRecords
	var line []byte
	now := time.Now()
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		line = otlp.AppendRecord(line[:0], lrs[i%len(lrs)], now)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
}
