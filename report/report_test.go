package report

import (
	"bytes"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"google.golang.org/protobuf/proto"
)

func labelled(user, target string) []*dto.LabelPair {
	return []*dto.LabelPair{
		{Name: proto.String("client_user"), Value: proto.String(user)},
		{Name: proto.String("target_type"), Value: proto.String("pod")},
		{Name: proto.String("target_name"), Value: proto.String(target)},
	}
}

// TestTopIsBusiestFirst: the top lists are ordered by sessions started,
// then by session hours, then by name, and cut at top.
func TestTopIsBusiestFirst(t *testing.T) {
	started := &dto.MetricFamily{Name: proto.String("mirrord_sessions_started_total")}
	duration := &dto.MetricFamily{Name: proto.String("mirrord_session_duration_seconds")}
	for _, u := range []struct {
		user     string
		sessions float64
		seconds  float64
	}{
		{"amy", 2, 3600},
		{"bob", 2, 3 * 3600},
		{"cat", 5, 0},
		{"dan", 0, 2 * 3600}, // ended sessions only: listed after every start
		{"abe", 2, 3600},     // ties amy: by name
		{"eve", 1, 0},
	} {
		started.Metric = append(started.Metric, &dto.Metric{Label: labelled(u.user, u.user+"-pod"), Counter: &dto.Counter{Value: proto.Float64(u.sessions)}})
		duration.Metric = append(duration.Metric, &dto.Metric{Label: labelled(u.user, u.user+"-pod"), Histogram: &dto.Histogram{SampleSum: proto.Float64(u.seconds), SampleCount: proto.Uint64(1)}})
	}
	var b bytes.Buffer
	if err := Summarize([]*dto.MetricFamily{started, duration}).Write(&b, time.Unix(0, 0), time.Unix(3600, 0), 5); err != nil {
		t.Fatal(err)
	}
	for _, section := range []struct{ heading, want string }{
		{"Top users", "cat bob abe amy eve"},
		{"Top targets", "pod/cat-pod pod/bob-pod pod/abe-pod pod/amy-pod pod/eve-pod"},
	} {
		_, rest, ok := strings.Cut(b.String(), "\n"+section.heading+" ")
		if !ok {
			t.Fatalf("no %s:\n%s", section.heading, b.String())
		}
		var names []string
		for _, l := range strings.Split(rest, "\n")[1:] {
			if !strings.HasPrefix(l, "  ") {
				break
			}
			names = append(names, strings.Fields(l)[0])
		}
		if got := strings.Join(names, " "); got != section.want {
			t.Errorf("%s: %s, want %s:\n%s", section.heading, got, section.want, b.String())
		}
	}
}

// TestSince: the usage between two instants is the increase of the
// counters and sums, the later gauge, and only the users and targets with
// activity in between; a note is printed under the period.
func TestSince(t *testing.T) {
	usage := func(active float64, shares map[string][2]float64) *Usage {
		started := &dto.MetricFamily{Name: proto.String("mirrord_sessions_started_total")}
		duration := &dto.MetricFamily{Name: proto.String("mirrord_session_duration_seconds")}
		gauge := &dto.MetricFamily{Name: proto.String("mirrord_sessions_active"),
			Metric: []*dto.Metric{{Gauge: &dto.Gauge{Value: proto.Float64(active)}}}}
		for user, s := range shares {
			started.Metric = append(started.Metric, &dto.Metric{Label: labelled(user, user+"-pod"), Counter: &dto.Counter{Value: proto.Float64(s[0])}})
			duration.Metric = append(duration.Metric, &dto.Metric{Label: labelled(user, user+"-pod"),
				Histogram: &dto.Histogram{SampleSum: proto.Float64(s[1]), SampleCount: proto.Uint64(uint64(s[0]))}})
		}
		return Summarize([]*dto.MetricFamily{started, duration, gauge})
	}
	before := usage(4, map[string][2]float64{"amy": {2, 3600}, "bob": {1, 7200}, "cat": {3, 0}})
	after := usage(1, map[string][2]float64{"amy": {2, 3600}, "bob": {1, 9000}, "cat": {5, 0}, "dan": {1, 0}})
	d := after.Since(before)
	d.Note = "a note"
	var b bytes.Buffer
	if err := d.Write(&b, time.Unix(0, 0).UTC(), time.Unix(3600, 0).UTC(), -1); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"Note:                a note\n",
		"Sessions:            3 started, 0 ended, 1 active at the end\n",
		"Distinct users:      3\n",
		"Session hours:       0.5 (over 3 ended sessions",
		"\nTop users  sessions  hours\n  cat      2         0.0\n  dan      1         0.0\n  bob      0         0.5\n\n",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, b.String())
		}
	}
	if strings.Contains(b.String(), "amy") {
		t.Errorf("amy, with no activity in the period, is listed:\n%s", b.String())
	}
}
