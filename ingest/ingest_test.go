package ingest

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/go-kit/log"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/mirrord-exporter/mirrord-exporter/decode"
	"github.com/mirrord-exporter/mirrord-exporter/unwrap"
)

func newTestPipeline(t *testing.T, logs *bytes.Buffer, now *time.Time) (*Pipeline, *prometheus.Registry, chan decode.Event) {
	t.Helper()
	labels, err := decode.NewLabelConfig(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	events := make(chan decode.Event, 100)
	p, err := New(Config{
		Format: unwrap.Auto, MaxLineBytes: 1024, Labels: labels, Events: events,
		Logger: log.NewLogfmtLogger(logs), Registerer: reg,
		Now: func() time.Time { return *now },
	})
	if err != nil {
		t.Fatal(err)
	}
	return p, reg, events
}

func TestSinkCountsEveryKindOfLine(t *testing.T) {
	var logs bytes.Buffer
	now := time.Date(2026, 8, 17, 0, 0, 0, 0, time.UTC)
	p, reg, events := newTestPipeline(t, &logs, &now)
	s := p.NewSink("/var/log/containers/*.log", "/var/log/containers/op.log")
	for _, line := range []string{
		`2026-08-17T10:00:00.000000000Z stdout P {"fields":{"message":"Session Start",`,
		`2026-08-17T10:00:00.000000000Z stderr F thread 'main' panicked`,
		`2026-08-17T10:00:00.000000000Z stdout F "session_id":"A"}}`,
		`{"log":"{\"fields\":{\"message\":\"Session End\",\"session_id\":\"A\"}}\n","stream":"stdout","time":"2026-08-17T10:00:01Z"}`,
		`{"log":"broken`,
		`{"fields":{"message":"Port Steal","session_id":"A","port":"x"}}`,
		`2026-08-17T10:00:02.000000000Z stdout F ` + strings.Repeat("x", 2000),
		`2026-08-17T10:00:03.000000000Z stdout P {"fields":`,
	} {
		s.Line([]byte(line))
	}
	s.LineTooLong(5000)
	s.Close()

	if n := len(events); n != 2 {
		t.Fatalf("%d events, want 2", n)
	}
	want := `
# HELP mirrord_exporter_log_lines_total Physical log lines read, by input (the --input.path value).
# TYPE mirrord_exporter_log_lines_total counter
mirrord_exporter_log_lines_total{input="/var/log/containers/*.log"} 9
# HELP mirrord_exporter_log_records_total Log records after unwrapping (split parts joined), by the wrapper they came in.
# TYPE mirrord_exporter_log_records_total counter
mirrord_exporter_log_records_total{wrapper="cri"} 2
mirrord_exporter_log_records_total{wrapper="docker"} 1
mirrord_exporter_log_records_total{wrapper="json"} 1
# HELP mirrord_exporter_malformed_lines_total Lines or records that could not be used, by reason.
# TYPE mirrord_exporter_malformed_lines_total counter
mirrord_exporter_malformed_lines_total{reason="invalid_field"} 1
mirrord_exporter_malformed_lines_total{reason="invalid_json"} 0
mirrord_exporter_malformed_lines_total{reason="invalid_wrapper"} 1
mirrord_exporter_malformed_lines_total{reason="missing_field"} 0
mirrord_exporter_malformed_lines_total{reason="not_json"} 1
mirrord_exporter_malformed_lines_total{reason="plain_text"} 0
mirrord_exporter_malformed_lines_total{reason="too_long"} 2
mirrord_exporter_malformed_lines_total{reason="unterminated_partial"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want),
		"mirrord_exporter_log_lines_total", "mirrord_exporter_log_records_total", "mirrord_exporter_malformed_lines_total"); err != nil {
		t.Error(err)
	}
}

func TestWarningsAreRateLimitedPerReason(t *testing.T) {
	var logs bytes.Buffer
	now := time.Date(2026, 8, 17, 0, 0, 0, 0, time.UTC)
	p, _, _ := newTestPipeline(t, &logs, &now)
	s := p.NewSink("-", "-")
	for i := 0; i < 5; i++ {
		s.Line([]byte("junk"))
		s.Flush()
	}
	now = now.Add(warnEvery)
	s.Line([]byte("junk"))
	s.Flush()
	out := logs.String()
	if n := strings.Count(out, "level=warn"); n != 2 {
		t.Errorf("%d warnings, want 2 (one per minute):\n%s", n, out)
	}
	if !strings.Contains(out, "unreported_since_last_warning=4") {
		t.Errorf("second warning does not report the 4 lines in between:\n%s", out)
	}
}

// TestCutValuesAreCounted: values cut to MaxLabelValueBytes are counted by
// the field they came from, once per event delivered, every field shown at
// zero from the start; the counts survive a snapshot and restore.
func TestCutValuesAreCounted(t *testing.T) {
	var logs bytes.Buffer
	now := time.Date(2026, 8, 17, 0, 0, 0, 0, time.UTC)
	p, reg, events := newTestPipeline(t, &logs, &now)
	long := strings.Repeat("x", decode.MaxLabelValueBytes+1)
	s := p.NewSink("-", "-")
	for _, l := range []string{
		`{"fields":{"message":"Session Start","session_id":"` + long + `","client_user":"` + long + `","target":"pod/` + long + `"}}`,
		`{"fields":{"message":"Session Start","session_id":"A","client_user":"` + long + `"}}`,
		`{"fields":{"message":"Session Start","session_id":"B","client_user":"short"}}`,
	} {
		s.Line([]byte(l))
	}
	s.Flush()
	if n := len(events); n != 3 {
		t.Fatalf("%d events, want 3", n)
	}
	want := `
# HELP mirrord_exporter_label_values_truncated_total Label values and session ids longer than 256 bytes, kept as their start and a hash of the whole value, by the event field they came from.
# TYPE mirrord_exporter_label_values_truncated_total counter
mirrord_exporter_label_values_truncated_total{field="client_cli_version"} 0
mirrord_exporter_label_values_truncated_total{field="client_id"} 0
mirrord_exporter_label_values_truncated_total{field="client_name"} 0
mirrord_exporter_label_values_truncated_total{field="client_user"} 2
mirrord_exporter_label_values_truncated_total{field="event_type"} 0
mirrord_exporter_label_values_truncated_total{field="mode"} 0
mirrord_exporter_label_values_truncated_total{field="queue_type"} 0
mirrord_exporter_label_values_truncated_total{field="session_id"} 1
mirrord_exporter_label_values_truncated_total{field="target_name"} 1
mirrord_exporter_label_values_truncated_total{field="target_namespace"} 0
mirrord_exporter_label_values_truncated_total{field="target_type"} 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "mirrord_exporter_label_values_truncated_total"); err != nil {
		t.Error(err)
	}
	saved, err := p.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	restored, reg2, _ := newTestPipeline(t, &logs, &now)
	if err := restored.Restore(saved); err != nil {
		t.Fatal(err)
	}
	if err := testutil.GatherAndCompare(reg2, strings.NewReader(want), "mirrord_exporter_label_values_truncated_total"); err != nil {
		t.Errorf("after restore: %v", err)
	}
}
