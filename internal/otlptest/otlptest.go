// Package otlptest turns a generated operator log into the log records the
// operator's OpenTelemetry exporter sends (body the message, attributes the
// fields, typed), and sends them with the official OpenTelemetry Go SDK or
// as hand-built requests, for the tests of the OTLP receiver.
package otlptest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlplog/otlploghttp"
	otellog "go.opentelemetry.io/otel/log"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	collogspb "go.opentelemetry.io/proto/otlp/collector/logs/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	logspb "go.opentelemetry.io/proto/otlp/logs/v1"

	"github.com/mirrord-exporter/mirrord-exporter/internal/exportertest"
	"github.com/mirrord-exporter/mirrord-exporter/internal/loggen"
)

// Workload is a generated log without the parts only a file has (junk
// lines, split records), as the records the operator's OpenTelemetry
// exporter sends, and its truth.
func Workload(t testing.TB, seed int64) ([]Record, loggen.Truth) {
	t.Helper()
	cfg := exportertest.GenConfig(loggen.Raw, seed)
	cfg.Nasty, cfg.BigLines = false, false
	var log bytes.Buffer
	truth, err := loggen.Generate(&log, cfg)
	if err != nil {
		t.Fatal(err)
	}
	recs, err := Records(&log)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != truth.Records {
		t.Fatalf("%d records from %d generated", len(recs), truth.Records)
	}
	return recs, truth
}

// Record is one operator log record as OpenTelemetry carries it.
type Record struct {
	Time    time.Time
	Level   string
	Message string
	// Attrs are the event's fields; each Value is an int64, float64,
	// bool or string.
	Attrs []Attr
}

// Attr is one typed field.
type Attr struct {
	Key   string
	Value any
}

// Records reads a raw (unwrapped) generated log of tracing JSON lines: the
// members of "fields" but the message become typed attributes, numbers
// that are integers int64s. It fails on a line that is not such JSON: the
// logs given are generated without their nasty parts.
func Records(log io.Reader) ([]Record, error) {
	var recs []Record
	sc := bufio.NewScanner(log)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var line struct {
			Timestamp time.Time                  `json:"timestamp"`
			Level     string                     `json:"level"`
			Fields    map[string]json.RawMessage `json:"fields"`
		}
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			return nil, fmt.Errorf("line %d: %w", len(recs)+1, err)
		}
		if line.Fields == nil {
			// The flattened layout: the fields beside tracing's own keys.
			if err := json.Unmarshal(sc.Bytes(), &line.Fields); err != nil {
				return nil, fmt.Errorf("line %d: %w", len(recs)+1, err)
			}
			for _, k := range tracingKeys {
				delete(line.Fields, k)
			}
		}
		r := Record{Time: line.Timestamp, Level: line.Level}
		keys := make([]string, 0, len(line.Fields))
		for k := range line.Fields {
			keys = append(keys, k)
		}
		sort.Strings(keys) // reproducible records
		for _, k := range keys {
			v, err := typed(line.Fields[k])
			if err != nil {
				return nil, fmt.Errorf("line %d: field %s: %w", len(recs)+1, k, err)
			}
			if k == "message" {
				s, ok := v.(string)
				if !ok {
					return nil, fmt.Errorf("line %d: message is %T", len(recs)+1, v)
				}
				r.Message = s
				continue
			}
			r.Attrs = append(r.Attrs, Attr{k, v})
		}
		recs = append(recs, r)
	}
	return recs, sc.Err()
}

// tracingKeys are the members tracing's JSON adds beside an event's fields.
var tracingKeys = []string{"timestamp", "level", "target", "filename", "line_number", "threadId", "threadName", "span", "spans"}

// typed is a JSON scalar as the Go value OpenTelemetry types it with.
func typed(raw json.RawMessage) (any, error) {
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, err
	}
	switch x := v.(type) {
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return i, nil
		}
		return x.Float64()
	case string, bool:
		return x, nil
	}
	return nil, fmt.Errorf("not a scalar: %s", raw)
}

// Send emits recs, in order, through the SDK's OTLP/HTTP log exporter to
// endpoint (host:port) with opts (otlploghttp.WithInsecure for plain HTTP),
// and waits until every one was sent.
func Send(ctx context.Context, endpoint string, recs []Record, opts ...otlploghttp.Option) error {
	exp, err := otlploghttp.New(ctx, append([]otlploghttp.Option{otlploghttp.WithEndpoint(endpoint)}, opts...)...)
	if err != nil {
		return fmt.Errorf("exporter: %w", err)
	}
	// A queue as long as the log: the batch processor drops what its
	// queue cannot hold, and the truth needs every record.
	proc := sdklog.NewBatchProcessor(exp, sdklog.WithMaxQueueSize(len(recs)+1), sdklog.WithExportMaxBatchSize(500))
	lp := sdklog.NewLoggerProvider(sdklog.WithProcessor(proc))
	logger := lp.Logger("mirrord-operator")
	for _, r := range recs {
		var rec otellog.Record
		rec.SetTimestamp(r.Time)
		rec.SetObservedTimestamp(r.Time)
		rec.SetSeverityText(r.Level)
		rec.SetSeverity(otellog.SeverityInfo)
		rec.SetBody(attribute.StringValue(r.Message))
		for _, a := range r.Attrs {
			rec.AddAttributes(sdkAttr(a))
		}
		logger.Emit(ctx, rec)
	}
	if err := lp.ForceFlush(ctx); err != nil {
		return fmt.Errorf("flush: %w", err)
	}
	return lp.Shutdown(ctx)
}

func sdkAttr(a Attr) attribute.KeyValue {
	switch v := a.Value.(type) {
	case int64:
		return attribute.Int64(a.Key, v)
	case float64:
		return attribute.Float64(a.Key, v)
	case bool:
		return attribute.Bool(a.Key, v)
	case string:
		return attribute.String(a.Key, v)
	}
	panic(fmt.Sprintf("otlptest: attribute %s of type %T", a.Key, a.Value))
}

// Request is recs as one ExportLogsServiceRequest.
func Request(recs []Record) *collogspb.ExportLogsServiceRequest {
	sl := &logspb.ScopeLogs{Scope: &commonpb.InstrumentationScope{Name: "mirrord-operator"}}
	for _, r := range recs {
		lr := &logspb.LogRecord{
			TimeUnixNano: uint64(r.Time.UnixNano()), ObservedTimeUnixNano: uint64(r.Time.UnixNano()),
			SeverityText: r.Level, SeverityNumber: logspb.SeverityNumber_SEVERITY_NUMBER_INFO,
			Body: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: r.Message}},
		}
		for _, a := range r.Attrs {
			lr.Attributes = append(lr.Attributes, &commonpb.KeyValue{Key: a.Key, Value: Value(a.Value)})
		}
		sl.LogRecords = append(sl.LogRecords, lr)
	}
	return &collogspb.ExportLogsServiceRequest{ResourceLogs: []*logspb.ResourceLogs{{ScopeLogs: []*logspb.ScopeLogs{sl}}}}
}

// Value is v as an OTLP AnyValue.
func Value(v any) *commonpb.AnyValue {
	switch x := v.(type) {
	case int64:
		return &commonpb.AnyValue{Value: &commonpb.AnyValue_IntValue{IntValue: x}}
	case float64:
		return &commonpb.AnyValue{Value: &commonpb.AnyValue_DoubleValue{DoubleValue: x}}
	case bool:
		return &commonpb.AnyValue{Value: &commonpb.AnyValue_BoolValue{BoolValue: x}}
	case string:
		return &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: x}}
	}
	panic(fmt.Sprintf("otlptest: value of type %T", v))
}

// Batches cuts recs into requests of at most n records, in order.
func Batches(recs []Record, n int) []*collogspb.ExportLogsServiceRequest {
	var out []*collogspb.ExportLogsServiceRequest
	for len(recs) > 0 {
		k := min(n, len(recs))
		out = append(out, Request(recs[:k]))
		recs = recs[k:]
	}
	return out
}
