package backfill

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mirrord-exporter/mirrord-exporter/collector"
	"github.com/mirrord-exporter/mirrord-exporter/decode"
	"github.com/mirrord-exporter/mirrord-exporter/family"
)

var t0 = time.Date(2026, 8, 17, 18, 0, 0, 0, time.UTC)

func TestOrder(t *testing.T) {
	events := []decode.Event{
		{Kind: decode.SeatLimit}, // before any timestamp: the first one
		{Kind: decode.SessionStart, Time: t0.Add(2 * time.Second)},
		{Kind: decode.SeatLimit},                             // the one before it
		{Kind: decode.SessionEnd, Time: t0.Add(time.Second)}, // from another file, earlier
	}
	if err := Order(events); err != nil {
		t.Fatal(err)
	}
	want := []struct {
		kind decode.Kind
		at   time.Duration
	}{
		{decode.SessionEnd, time.Second},
		{decode.SeatLimit, 2 * time.Second},
		{decode.SessionStart, 2 * time.Second},
		{decode.SeatLimit, 2 * time.Second},
	}
	for i, w := range want {
		if events[i].Kind != w.kind || !events[i].Time.Equal(t0.Add(w.at)) {
			t.Errorf("event %d: %v at %s, want %v at +%s", i, events[i].Kind, events[i].Time, w.kind, w.at)
		}
	}
	if err := Order([]decode.Event{{Kind: decode.SeatLimit}}); err == nil {
		t.Error("no error without any timestamp")
	}
}

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
	w.Start(events[0].Time.Truncate(step))
	err = Replay(events, c, step, func(at time.Time) error {
		fams, err := reg.Gather()
		if err != nil {
			return err
		}
		keep := fams[:0]
		for _, f := range fams {
			if !strings.HasPrefix(f.GetName(), "mirrord_exporter_") {
				keep = append(keep, f)
			}
		}
		return w.Sample(keep, at)
	})
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
	if err := Replay([]decode.Event{{Time: t0}}, nil, 0, nil); err == nil {
		t.Error("no error for a zero step")
	}
}
