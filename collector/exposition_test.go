package collector

import (
	"bytes"
	"io"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"google.golang.org/protobuf/encoding/protodelim"

	"github.com/mirrord-exporter/mirrord-exporter/family"

	"github.com/mirrord-exporter/mirrord-exporter/decode"
)

// TestExpositionMatchesExpfmt: the capped families write, straight from
// their series and in each format, exactly what expfmt writes from a Gather
// of them: every family,
// label values that need escaping, overflow series, a coarsened histogram,
// and families left without series (printed by neither).
func TestExpositionMatchesExpfmt(t *testing.T) {
	labels := mustLabels(t, []string{"client_cli_version"}, nil)
	d := decode.New(labels)
	var now time.Time
	capped := prometheus.NewRegistry()
	c, err := New(Config{
		Labels: labels, SessionMaxAge: time.Hour, Registerer: prometheus.NewRegistry(), CappedRegisterer: capped,
		Limits: Limits{MaxSeries: 6, SeriesTTL: 2 * time.Hour},
		Now:    func() time.Time { return now },
	})
	if err != nil {
		t.Fatal(err)
	}
	check := func(when string) {
		t.Helper()
		families, err := capped.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, format := range []struct {
			name  string
			f     family.Format
			write func(io.Writer, *dto.MetricFamily) (int, error)
		}{
			{"text", family.PrometheusText, func(w io.Writer, mf *dto.MetricFamily) (int, error) { return expfmt.MetricFamilyToText(w, mf) }},
			{"openmetrics", family.OpenMetricsText, func(w io.Writer, mf *dto.MetricFamily) (int, error) {
				return expfmt.MetricFamilyToOpenMetrics(w, mf)
			}},
			{"protobuf", family.ProtobufDelimited, func(w io.Writer, mf *dto.MetricFamily) (int, error) { return protodelim.MarshalTo(w, mf) }},
		} {
			var want, got bytes.Buffer
			for _, mf := range families {
				if _, err := format.write(&want, mf); err != nil {
					t.Fatal(err)
				}
			}
			for _, f := range c.Families() {
				if err := f.WriteExposition(&got, format.f); err != nil {
					t.Fatal(err)
				}
			}
			if got.String() != want.String() {
				t.Fatalf("%s, %s: differs from expfmt's\n--- ours\n%s\n--- expfmt\n%s", when, format.name, got.String(), want.String())
			}
		}
	}
	check("empty")

	nasty := `"client_cli_version":"3.1\"\\\n\t\u00e9\u2603"`
	apply(t, c, d,
		record("10:00:00", "Session Start", sid("Q")+","+who(`quote"back\\slash`)+","+nasty),
		record("10:00:01", "Port Steal", withPort("Q", "new\nline", 8080)+`,"http_filter":"x"`),
		record("10:00:02", "Port Mirror", withPort("Q", "ünï", 80)),
		record("10:00:03", "Target Copied", who("")+`,"scale_down":true`),
		record("10:00:04", "Message Processing", `"event_type":"http","mode":"steal","response_status_code":503`),
		record("10:00:05", "Session End", sid("Q")+","+who(`quote"back\\slash`)+`,"session_duration":0.000001`),
	)
	// The decoder refuses negative durations, but the histogram keeps them
	// as client_golang's does, in negative native buckets.
	seriesOf(c.m.sessionDuration, "neg", "NEG", "shop", "deployment", "api", "3.0").Observe(-5)
	check("escaping")

	storyBeforeSnapshot(t, c, d, &now)
	check("story")
	storyAfterRestore(t, c, d, &now)
	if schema := durationSchema(t, c.Snapshot()); schema >= family.NativeSchema {
		t.Fatalf("the story did not coarsen the histogram (schema %d)", schema)
	}
	check("story after more events")
}
