package backfill

import (
	"bytes"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/mirrord-exporter/mirrord-exporter/collector"
	"github.com/mirrord-exporter/mirrord-exporter/decode"
	"github.com/mirrord-exporter/mirrord-exporter/family"
)

var t0 = time.Date(2026, 8, 17, 18, 0, 0, 0, time.UTC)

// replay runs Replay and writes its samples, returning the OpenMetrics text.
func replay(t *testing.T, events []decode.Event, step time.Duration) string {
	t.Helper()
	reg := prometheus.NewRegistry()
	labels, err := decode.NewLabelConfig(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	c, err := collector.New(collector.Config{Labels: labels, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	w, err := family.NewTimeline(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	usage := func() ([]*dto.MetricFamily, error) {
		fams, err := reg.Gather()
		if err != nil {
			return nil, err
		}
		keep := fams[:0]
		for _, f := range fams {
			if !strings.HasPrefix(f.GetName(), "mirrord_exporter_") {
				keep = append(keep, f)
			}
		}
		return keep, nil
	}
	_, err = Replay(slices.Values(pointers(events)), c, step, TimelineSampler{W: w, Families: usage})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if _, err := w.WriteTo(&out); err != nil {
		t.Fatal(err)
	}
	return out.String()
}

func TestReplaySamplesAtBoundaries(t *testing.T) {
	user := []string{`CORP\dave "d"`, "dave", "shop", "deployment", "cart"}
	events := []decode.Event{
		{Kind: decode.SessionStart, Time: t0.Add(30 * time.Second), SessionID: "a", Labels: user},
		{Kind: decode.SessionStart, Time: t0.Add(60 * time.Second), SessionID: "b", Labels: user}, // on a boundary: in its sample
		{Kind: decode.SessionEnd, Time: t0.Add(200*time.Second + 500*time.Microsecond), SessionID: "a", Labels: user, Duration: 170, HasDuration: true},
	}
	out := replay(t, events, time.Minute)
	series := `{client_name="dave",client_user="CORP\\dave \"d\"",target_name="cart",target_namespace="shop",target_type="deployment"}`
	for _, want := range []string{
		"# TYPE mirrord_sessions_started counter\n",
		// The zero sample at the boundary before the series' first one, then
		// every boundary, then the final event, rounded up to the millisecond.
		"mirrord_sessions_started_total" + series + " 0 1786989600\n" +
			"mirrord_sessions_started_total" + series + " 2 1786989660\n" +
			"mirrord_sessions_started_total" + series + " 2 1786989720\n" +
			"mirrord_sessions_started_total" + series + " 2 1786989780\n" +
			"mirrord_sessions_started_total" + series + " 2 1786989800.001\n",
		"mirrord_sessions_active" + series + " 2 1786989660\n",
		"mirrord_sessions_active" + series + " 1 1786989800.001\n",
		"# TYPE mirrord_session_duration_seconds histogram\n",
		"mirrord_session_duration_seconds_bucket{client_name=\"dave\",client_user=\"CORP\\\\dave \\\"d\\\"\",target_name=\"cart\",target_namespace=\"shop\",target_type=\"deployment\",le=\"+Inf\"} 0 1786989780\n",
		"mirrord_session_duration_seconds_count" + series + " 1 1786989800.001\n",
		"mirrord_session_duration_seconds_sum" + series + " 170 1786989800.001\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks\n%s\nin\n%s", want, out)
		}
	}
	if !strings.HasSuffix(out, "\n# EOF\n") {
		t.Error("output does not end with # EOF")
	}
	// No gauge series gets a zero sample before its first one.
	if strings.Contains(out, "mirrord_sessions_active"+series+" 0 1786989600") {
		t.Error("a gauge got a zero sample")
	}
}

func TestReplayRejectsBadStep(t *testing.T) {
	if _, err := Replay(slices.Values([]*decode.Event{{Time: t0}}), nil, 0, nil); err == nil {
		t.Error("no error for a zero step")
	}
}

func pointers(events []decode.Event) []*decode.Event {
	out := make([]*decode.Event, len(events))
	for i := range events {
		out[i] = &events[i]
	}
	return out
}
