package report

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"google.golang.org/protobuf/proto"
)

// TestCalendar: distinct users per UTC day, ISO week and month, a user
// counted once per bucket, a little disorder tolerated, and buckets without
// users listed.
func TestCalendar(t *testing.T) {
	c := NewCalendar()
	at := func(day, hour int) time.Time { return time.Date(2026, 8, day, hour, 0, 0, 0, time.UTC) }
	for _, e := range []struct {
		t    time.Time
		user string
	}{
		{at(30, 23), "amy"}, {at(30, 23), "amy"}, {at(30, 22), "bob"}, // Sunday, W35
		{at(31, 1), "amy"},  // Monday, W36
		{at(30, 23), "cat"}, // a little late: still the 30th
		{at(33, 5), "dan"},  // 2026-09-02
	} {
		c.Add(e.t, e.user)
	}
	u := &Usage{users: map[string]*tally{}, targets: map[string]*tally{}, teams: map[string]*tally{}}
	d := u.Data(at(30, 0), at(33, 12), true, -1, c, Peaks{})
	got := func(list []Bucket) string {
		var s []string
		for _, b := range list {
			s = append(s, b.Period+"="+strings.Repeat("|", b.DistinctUsers))
		}
		return strings.Join(s, " ")
	}
	for _, w := range []struct{ got, want string }{
		{got(d.DistinctUsersPerDay), "2026-08-30=||| 2026-08-31=| 2026-09-01= 2026-09-02=|"},
		{got(d.DistinctUsersPerWeek), "2026-W35=||| 2026-W36=||"},
		{got(d.DistinctUsersPerMonth), "2026-08=||| 2026-09=|"},
	} {
		if w.got != w.want {
			t.Errorf("got %s, want %s", w.got, w.want)
		}
	}
	// A period ending at midnight, excluded, has no bucket from then.
	if d := u.Data(at(30, 0), at(31, 0), false, -1, c, Peaks{}); got(d.DistinctUsersPerDay) != "2026-08-30=|||" {
		t.Errorf("period to midnight: %s", got(d.DistinctUsersPerDay))
	}
}

// TestFormatsEscapeAndAgree: names from the logs are escaped in HTML and
// quoted in CSV, the CLI versions come from their family when present, and
// JSON and CSV give the same numbers.
func TestFormatsEscapeAndAgree(t *testing.T) {
	nasty := `<script>alert("x")</script>,"quoted"`
	started := &dto.MetricFamily{Name: proto.String("mirrord_sessions_started_total"), Metric: []*dto.Metric{
		{Label: labelled(nasty, "p"), Counter: &dto.Counter{Value: proto.Float64(3)}},
		{Label: labelled("amy", "q"), Counter: &dto.Counter{Value: proto.Float64(1)}},
	}}
	cli := &dto.MetricFamily{Name: proto.String(cliVersionFamily), Metric: []*dto.Metric{
		{Label: []*dto.LabelPair{{Name: proto.String("client_cli_version"), Value: proto.String("3.140.0")}}, Counter: &dto.Counter{Value: proto.Float64(1)}},
		{Label: []*dto.LabelPair{{Name: proto.String("client_cli_version"), Value: proto.String("3.141.0")}}, Counter: &dto.Counter{Value: proto.Float64(3)}},
	}}
	u := Summarize([]*dto.MetricFamily{started, cli})
	d := u.Data(time.Unix(0, 0), time.Unix(3600, 0), true, -1, NewCalendar(), Peaks{Sessions: 2, Users: 2})
	if len(d.CLIVersions) != 2 || d.CLIVersions[0].Version != "3.141.0" || d.CLIVersions[0].SessionsStarted != 3 {
		t.Errorf("cli_versions %+v", d.CLIVersions)
	}
	if Summarize([]*dto.MetricFamily{started}).Data(time.Unix(0, 0), time.Unix(3600, 0), true, -1, nil, Peaks{}).CLIVersions != nil {
		t.Error("cli_versions without the family are not null")
	}

	var page bytes.Buffer
	if err := d.Render(&page, FormatHTML); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(page.String(), "<script>") {
		t.Error("HTML report holds a name from the logs unescaped")
	}
	if !strings.Contains(page.String(), `id="cli_versions"`) || !strings.Contains(page.String(), `data-name="3.141.0"`) {
		t.Error("HTML report lacks the CLI versions")
	}

	var js, cs bytes.Buffer
	if err := d.Render(&js, FormatJSON); err != nil {
		t.Fatal(err)
	}
	if err := d.Render(&cs, FormatCSV); err != nil {
		t.Fatal(err)
	}
	var fields map[string]any
	if err := json.Unmarshal(js.Bytes(), &fields); err != nil {
		t.Fatal(err)
	}
	records, err := csv.NewReader(&cs).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	summary := map[string]string{}
	names := map[string]bool{}
	for _, r := range records[1:] {
		if r[0] == "summary" {
			summary[r[2]] = r[3]
		}
		names[r[0]+"/"+r[1]] = true
	}
	for k, v := range fields {
		if f, ok := v.(float64); ok && summary[k] != fnum(f) {
			t.Errorf("CSV %s %q, JSON %v", k, summary[k], f)
		}
	}
	for _, k := range []string{"users/" + nasty, "cli_versions/3.140.0", "teams/(none)"} {
		if !names[k] {
			t.Errorf("CSV lacks %q", k)
		}
	}
	if _, err := ParseFormat("xml"); err == nil {
		t.Error("xml is a format")
	}
}
