package otlp_test

import (
	"bufio"
	"bytes"
	"reflect"
	"testing"
	"time"

	"github.com/mirrord-exporter/mirrord-exporter/decode"
	"github.com/mirrord-exporter/mirrord-exporter/input/otlp"
	"github.com/mirrord-exporter/mirrord-exporter/internal/exportertest"
	"github.com/mirrord-exporter/mirrord-exporter/internal/loggen"
	"github.com/mirrord-exporter/mirrord-exporter/internal/otlptest"
)

// TestMappingDecodesAsTheLog maps every record of a generated log, as the
// operator's OpenTelemetry exporter carries it, back to a line and requires
// the decoder to make of it exactly what it makes of the log's own line.
func TestMappingDecodesAsTheLog(t *testing.T) {
	cfg := exportertest.GenConfig(loggen.Raw, 7)
	cfg.Nasty, cfg.BigLines = false, false
	var log bytes.Buffer
	if _, err := loggen.Generate(&log, cfg); err != nil {
		t.Fatal(err)
	}
	orig := bytes.Clone(log.Bytes())
	recs, err := otlptest.Records(&log)
	if err != nil {
		t.Fatal(err)
	}
	labels, err := decode.NewLabelConfig([]string{"client_hostname", "port"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	fromLog, fromOTLP := decode.New(labels), decode.New(labels)
	sc := bufio.NewScanner(bytes.NewReader(orig))
	sc.Buffer(nil, 1<<20)
	events := 0
	for i, lr := range otlptest.Request(recs).ResourceLogs[0].ScopeLogs[0].LogRecords {
		if !sc.Scan() {
			t.Fatal("fewer lines than records")
		}
		line := otlp.AppendRecord(nil, lr, time.Time{})
		var want, got decode.Event
		okWant, reasonWant := fromLog.Decode(sc.Bytes(), &want)
		okGot, reasonGot := fromOTLP.Decode(line, &got)
		if okWant != okGot || reasonWant != reasonGot || !reflect.DeepEqual(want, got) {
			t.Fatalf("record %d: %v %q %+v from the log, %v %q %+v over OTLP\n%s\n%s", i, okWant, reasonWant, want, okGot, reasonGot, got, sc.Bytes(), line)
		}
		if okGot {
			events++
		}
	}
	if events < 1000 {
		t.Errorf("only %d events: the workload is too small to prove the mapping", events)
	}
}
