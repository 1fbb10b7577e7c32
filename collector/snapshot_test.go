package collector

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/proto"

	"github.com/mirrord-exporter/mirrord-exporter/decode"
	"github.com/mirrord-exporter/mirrord-exporter/family"
)

// stateCollector is a collector with small series limits, a session max age
// and a clock the test moves, on its own registry.
func stateCollector(t testing.TB, labels decode.LabelConfig, now *time.Time) (*Collector, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	c, err := New(Config{
		Labels: labels, SessionMaxAge: time.Hour, Registerer: reg,
		Limits: Limits{MaxSeries: 3, SeriesTTL: 2 * time.Hour},
		Now:    func() time.Time { return *now },
	})
	if err != nil {
		t.Fatal(err)
	}
	return c, reg
}

// who are the fields of user, whose CLI version is 3.<length of the name>.0
// (none for a name of 3 letters or fewer).
func who(user string) string {
	version := ""
	if len(user) > 3 {
		version = fmt.Sprintf(`,"client_cli_version":"3.%d.0"`, len(user))
	}
	return fmt.Sprintf(`"client_id":%q,"client_user":%q,"client_name":%q,"target_namespace":"shop","target_type":"deployment","target_name":"api"`, "id-"+user, user, strings.ToUpper(user)) + version
}

func record(clock, message, fields string) string {
	return `{"timestamp":"2026-08-17T` + clock + `Z","fields":{"message":"` + message + `",` + fields + `}}`
}

func sid(id string) string { return `"session_id":"` + id + `"` }

func withPort(id, user string, port int) string {
	return fmt.Sprintf(`%s,%s,"port":%d`, sid(id), who(user), port)
}

// durations are Ends of sessions whose Start was never seen, spreading the
// histogram over many native buckets, some in the zero bucket.
func durations(clock, user string, n int, scale float64) []string {
	var out []string
	for i := range n {
		d := math.Exp2(float64(i)/7*scale) - 1
		out = append(out, record(clock, "Session End", fmt.Sprintf(`%s,%s,"session_duration":%v`, sid(fmt.Sprintf("D%d", i)), who(user), d)))
	}
	return out
}

// mirrordText is the text exposition of every mirrord_ family.
func mirrordText(t *testing.T, reg prometheus.Gatherer) string {
	t.Helper()
	var b bytes.Buffer
	for _, mf := range gatherMirrord(t, reg) {
		if err := expfmt.NewEncoder(&b, expfmt.NewFormat(expfmt.TypeTextPlain)).Encode(mf); err != nil {
			t.Fatal(err)
		}
	}
	return b.String()
}

// gatherMirrord gathers the mirrord_ families without created timestamps,
// which tell when the registries were made rather than anything restored.
func gatherMirrord(t *testing.T, reg prometheus.Gatherer) []*dto.MetricFamily {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var out []*dto.MetricFamily
	for _, mf := range mfs {
		if !strings.HasPrefix(mf.GetName(), "mirrord_") {
			continue
		}
		for _, m := range mf.Metric {
			if m.Counter != nil {
				m.Counter.CreatedTimestamp = nil
			}
			if m.Histogram != nil {
				m.Histogram.CreatedTimestamp = nil
			}
		}
		out = append(out, mf)
	}
	return out
}

// sameRegistries fails unless both expose the same mirrord_ metrics, in
// text and in every protobuf field (native histograms included).
func sameRegistries(t *testing.T, when string, a, b prometheus.Gatherer) {
	t.Helper()
	if ta, tb := mirrordText(t, a), mirrordText(t, b); ta != tb {
		t.Fatalf("%s: text expositions differ:\n--- original\n%s\n--- restored\n%s", when, ta, tb)
	}
	fa, fb := gatherMirrord(t, a), gatherMirrord(t, b)
	if len(fa) != len(fb) {
		t.Fatalf("%s: %d families, restored %d", when, len(fa), len(fb))
	}
	for i := range fa {
		if !proto.Equal(fa[i], fb[i]) {
			t.Fatalf("%s: family %s differs:\n--- original\n%s\n--- restored\n%s", when, fa[i].GetName(), prototext.Format(fa[i]), prototext.Format(fb[i]))
		}
	}
}

func encodeState(t *testing.T, s *Snapshot) []byte {
	t.Helper()
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// roundTrip is s encoded to JSON and decoded again, as the state file does.
func roundTrip(t *testing.T, s *Snapshot) *Snapshot {
	t.Helper()
	var out Snapshot
	if err := json.Unmarshal(encodeState(t, s), &out); err != nil {
		t.Fatal(err)
	}
	return &out
}

// storyBeforeSnapshot is a mixed sequence of every kind of event, with more
// users than MaxSeries, a session that expires and series that expire.
func storyBeforeSnapshot(t *testing.T, c *Collector, d *decode.Decoder, now *time.Time) {
	t.Helper()
	// frank's session is stale by the time of the others, and his counter
	// series are not updated again: they expire.
	*now = time.Date(2026, 8, 17, 7, 0, 0, 0, time.UTC)
	apply(t, c, d,
		record("07:00:00", "Session Start", sid("STALE")+","+who("frank")),
		record("07:00:01", "Port Steal", withPort("STALE", "frank", 5000)),
	)
	*now = time.Date(2026, 8, 17, 10, 0, 0, 0, time.UTC)
	apply(t, c, d,
		record("10:00:00", "Session Start", sid("S1")+","+who("alice")),
		record("10:00:01", "Port Steal", withPort("S1", "alice", 8080)+`,"http_filter":"path=/api"`),
		record("10:00:02", "Port Stolen", withPort("S1", "alice", 9090)),
		record("10:00:03", "Port Mirror", withPort("S1", "alice", 80)),
		record("10:00:04", "Session Start", sid("S2")+","+who("bob")),
		record("10:00:05", "Port Mirrored", withPort("S2", "bob", 80)),
		// Ports of a session whose Start was never seen.
		record("10:00:06", "Port Steal", withPort("U1", "carol", 7000)),
		record("10:00:07", "Port Mirror", withPort("U1", "carol", 7001)),
		record("10:00:08", "Session Start", sid("S3")+","+who("dave")),
		// Past the cap of 3 series.
		record("10:00:09", "Session Start", sid("S4")+","+who("erin")),
		record("10:00:10", "Port Steal", withPort("S4", "erin", 81)),
		record("10:00:11", "Port Release", withPort("S1", "alice", 9090)),
		record("10:00:12", "Session End", sid("S2")+","+who("bob")+`,"session_duration":312.5`),
		record("10:00:13", "Session End", sid("OLD")+","+who("bob")),
		record("10:00:14", "Session End", sid("X")+","+who("zed")+`,"session_duration":45000`),
		record("10:00:15", "Target Copied", who("alice")+`,"scale_down":true`),
		record("10:00:16", "Copy Target", who("bob")+`,"scale_down":"false"`),
		record("10:00:17", "Max seat count reached!", `"active_users":"25"`),
		record("10:00:18", "Message Processing", `"event_type":"http","mode":"steal","response_status_code":200`),
		record("10:00:19", "Message Processing", `"event_type":"queue","mode":"mirror","queue_type":"kafka"`),
	)
	apply(t, c, d, durations("10:00:20", "bob", 60, 1)...)
	if n := c.Expire(time.Date(2026, 8, 17, 10, 30, 0, 0, time.UTC)); n != 1 {
		t.Fatalf("expired %d sessions, want 1", n)
	}
	*now = time.Date(2026, 8, 17, 10, 30, 0, 0, time.UTC)
	if n := c.ExpireSeries(*now); n == 0 {
		t.Fatal("no series expired")
	}
}

// storyAfterRestore goes on from storyBeforeSnapshot: it ends and releases
// restored sessions and ports, adds tuples past the cap, coarsens the
// histogram, and expires again.
func storyAfterRestore(t *testing.T, c *Collector, d *decode.Decoder, now *time.Time) {
	t.Helper()
	*now = time.Date(2026, 8, 17, 11, 0, 0, 0, time.UTC)
	apply(t, c, d,
		record("11:00:00", "Session End", sid("S1")+","+who("alice")+`,"session_duration":3600`),
		record("11:00:01", "Port Release", withPort("U1", "carol", 7000)),
		record("11:00:02", "Port Release", withPort("S4", "erin", 81)),
		record("11:00:03", "Session End", sid("S4")+","+who("erin")+`,"session_duration":3602`),
		record("11:00:04", "Session Start", sid("S5")+","+who("gina")),
		record("11:00:05", "Port Steal", withPort("S5", "gina", 8080)),
		record("11:00:06", "Session Start", sid("S6")+","+who("alice")),
		record("11:00:07", "Port Mirror", withPort("S3", "dave", 80)),
		record("11:00:08", "Max seat count reached!", `"active_users":"30"`),
	)
	apply(t, c, d, durations("11:00:09", "gina", 300, 1.5)...)
	*now = time.Date(2026, 8, 17, 12, 30, 0, 0, time.UTC)
	c.Expire(*now)
	c.ExpireSeries(*now)
	apply(t, c, d, record("12:30:00", "Session End", sid("S6")+","+who("alice")))
}

func TestStateRestoresExactly(t *testing.T) {
	labels := mustLabels(t, nil, nil)
	d := decode.New(labels)
	var now1, now2 time.Time
	orig, reg1 := stateCollector(t, labels, &now1)
	storyBeforeSnapshot(t, orig, d, &now1)

	snap := orig.Snapshot()
	// The story must have made everything the state is about.
	checkStory(t, snap)
	saved := encodeState(t, snap)

	restored, reg2 := stateCollector(t, labels, &now2)
	now2 = now1
	if err := restored.Restore(roundTrip(t, snap)); err != nil {
		t.Fatal(err)
	}
	sameRegistries(t, "after restore", reg1, reg2)
	if again := encodeState(t, restored.Snapshot()); !bytes.Equal(again, saved) {
		t.Fatalf("snapshot of the restored collector differs:\n%s\n%s", again, saved)
	}

	storyAfterRestore(t, orig, d, &now1)
	storyAfterRestore(t, restored, d, &now2)
	sameRegistries(t, "after further events", reg1, reg2)
	a, b := encodeState(t, orig.Snapshot()), encodeState(t, restored.Snapshot())
	if !bytes.Equal(a, b) {
		t.Fatalf("states differ after further events:\n%s\n%s", a, b)
	}
	if schema := durationSchema(t, orig.Snapshot()); schema >= family.NativeSchema {
		t.Errorf("the story did not coarsen the histogram (schema %d)", schema)
	}
}

// durationSchema is the lowest schema of the duration histogram's series.
func durationSchema(t *testing.T, s *Snapshot) int32 {
	t.Helper()
	schema := int32(math.MaxInt32)
	for _, f := range s.Families {
		if f.Name == "mirrord_session_duration_seconds" {
			for _, ss := range f.Series {
				schema = min(schema, ss.Histogram.Schema)
			}
		}
	}
	return schema
}

// checkStory fails unless the snapshot holds every kind of state.
func checkStory(t *testing.T, s *Snapshot) {
	t.Helper()
	var overflow, expired, native bool
	for _, f := range s.Families {
		if f.Overflowed > 0 {
			overflow = true
		}
		if f.Expired > 0 {
			expired = true
		}
		for _, ss := range f.Series {
			if h := ss.Histogram; h != nil && len(h.Positive) > 20 && h.ZeroCount > 0 {
				native = true
			}
		}
	}
	var unstarted bool
	for _, ss := range s.Sessions {
		unstarted = unstarted || !ss.Started
	}
	switch {
	case !overflow || !expired || !native:
		t.Fatalf("story lacks overflow %v, expired series %v, or native buckets %v", overflow, expired, native)
	case len(s.Sessions) != 4 || !unstarted:
		t.Fatalf("story holds %d sessions (unstarted one: %v), want S1, S3, S4 and U1", len(s.Sessions), unstarted)
	case s.SessionsExpired != 1 || s.SeatLimitActiveUsers == nil || s.LastEventTimestamp == nil:
		t.Fatalf("story lacks an expiry, a seat limit or a last event: %+v", s)
	case len(s.ClientsSeen) != 3 || len(s.UsersSeen) != 3 || s.IdentitiesForgotten[kindClient] == 0 || s.IdentitiesForgotten[kindUser] == 0:
		t.Fatalf("story lacks clients and users seen up to the cap of 3, or forgotten ones: %+v %+v %v", s.ClientsSeen, s.UsersSeen, s.IdentitiesForgotten)
	case s.Peaks == nil || slices.Max(s.Peaks.Sessions) == 0 || slices.Max(s.Peaks.Users) == 0:
		t.Fatalf("story lacks concurrent peaks: %+v", s.Peaks)
	}
}

// TestRestoreRejectsInvalidStates breaks a good state in one way at a time:
// each must be refused, and leave the collector as new.
func TestRestoreRejectsInvalidStates(t *testing.T) {
	labels := mustLabels(t, nil, nil)
	d := decode.New(labels)
	now := time.Date(2026, 8, 17, 10, 0, 0, 0, time.UTC)
	orig, _ := stateCollector(t, labels, &now)
	storyBeforeSnapshot(t, orig, d, &now)
	good := orig.Snapshot()

	family := func(s *Snapshot, name string) *FamilyState {
		for i := range s.Families {
			if s.Families[i].Name == name {
				return &s.Families[i]
			}
		}
		t.Fatalf("no family %s", name)
		return nil
	}
	session := func(s *Snapshot, id string) *SessionState {
		for i := range s.Sessions {
			if s.Sessions[i].ID == id {
				return &s.Sessions[i]
			}
		}
		t.Fatalf("no session %s", id)
		return nil
	}
	histogramOf := func(s *Snapshot) *HistogramState {
		for _, ss := range family(s, "mirrord_session_duration_seconds").Series {
			if ss.Histogram.Count > 1 {
				return ss.Histogram
			}
		}
		t.Fatal("no histogram")
		return nil
	}
	for name, breakIt := range map[string]func(s *Snapshot){
		"other labels":      func(s *Snapshot) { s.Labels = append(s.Labels, "client_hostname") },
		"unknown event":     func(s *Snapshot) { s.Events["nope"] = 1 },
		"negative counter":  func(s *Snapshot) { s.SeatLimitReached = -1 },
		"NaN gauge":         func(s *Snapshot) { s.SeatLimitActiveUsers = new(math.NaN()) },
		"missing family":    func(s *Snapshot) { s.Families = s.Families[1:] },
		"unknown family":    func(s *Snapshot) { s.Families = append(s.Families, FamilyState{Name: "mirrord_nope"}) },
		"label value count": func(s *Snapshot) { v := &family(s, "mirrord_ports_active").Series[0]; v.Values = v.Values[1:] },
		"infinite counter":  func(s *Snapshot) { family(s, "mirrord_sessions_started_total").Series[0].Value = new(math.Inf(1)) },
		"gauge not held":    func(s *Snapshot) { *family(s, "mirrord_sessions_active").Series[0].Value += 1 },
		"touched in 2300": func(s *Snapshot) {
			family(s, "mirrord_ports_active").Series[0].Touched = time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC)
		},
		"bad overflow series": func(s *Snapshot) {
			f := family(s, "mirrord_sessions_active")
			for i := range f.Series {
				if !f.Series[i].Overflow {
					f.Series[i].Overflow = true
					return
				}
			}
		},
		"duplicate series": func(s *Snapshot) {
			f := family(s, "mirrord_ports_stolen_total")
			f.Series = append(f.Series, f.Series[0])
		},
		"unknown mode":         func(s *Snapshot) { session(s, "S1").Ports[0].Mode = "borrow" },
		"dangling session":     func(s *Snapshot) { session(s, "S1").Active = []string{"x", "y", "z", "v", "w"} },
		"held by too few":      func(s *Snapshot) { s.Sessions = s.Sessions[1:] },
		"started, no series":   func(s *Snapshot) { session(s, "S1").Active = nil },
		"duplicate session":    func(s *Snapshot) { s.Sessions = append(s.Sessions, s.Sessions[0]) },
		"classic buckets":      func(s *Snapshot) { h := histogramOf(s); h.UpperBounds = h.UpperBounds[1:]; h.Buckets = h.Buckets[1:] },
		"classic count":        func(s *Snapshot) { histogramOf(s).Buckets[0] += 1000 },
		"native count":         func(s *Snapshot) { histogramOf(s).Positive[0].Count++ },
		"native schema":        func(s *Snapshot) { histogramOf(s).Schema = 4 },
		"native order":         func(s *Snapshot) { p := histogramOf(s).Positive; p[0], p[1] = p[1], p[0] },
		"native zero treshold": func(s *Snapshot) { histogramOf(s).ZeroThreshold = 0 },
		"client seen twice":    func(s *Snapshot) { s.ClientsSeen = append(s.ClientsSeen, s.ClientsSeen[0]) },
		"user without id":      func(s *Snapshot) { s.UsersSeen[0].ID = "" },
		"seen in 2300":         func(s *Snapshot) { s.UsersSeen[0].Last = time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC) },
		"unknown kind":         func(s *Snapshot) { s.IdentitiesForgotten["host"] = 1 },
		"negative forgotten":   func(s *Snapshot) { s.IdentitiesForgotten[kindUser] = -1 },
		"short peak history":   func(s *Snapshot) { s.Peaks.Users = s.Peaks.Users[1:] },
		"negative peak":        func(s *Snapshot) { s.Peaks.Sessions[3] = -1 },
	} {
		t.Run(name, func(t *testing.T) {
			s := roundTrip(t, good)
			breakIt(s)
			var now2 time.Time
			c, reg := stateCollector(t, labels, &now2)
			_, emptyReg := stateCollector(t, labels, &now2)
			err := c.Restore(s)
			if err == nil {
				t.Fatal("restored")
			}
			t.Log(err)
			sameRegistries(t, "after a refused restore", emptyReg, reg)
			if len(c.sessions) != 0 || c.used {
				t.Fatal("collector changed")
			}
			// Still usable: the good state restores.
			if err := c.Restore(roundTrip(t, good)); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestRestoreRefusesOtherLabelConfiguration(t *testing.T) {
	labels := mustLabels(t, nil, nil)
	now := time.Date(2026, 8, 17, 10, 0, 0, 0, time.UTC)
	orig, _ := stateCollector(t, labels, &now)
	storyBeforeSnapshot(t, orig, decode.New(labels), &now)

	other := mustLabels(t, []string{"client_hostname"}, nil)
	c, reg := stateCollector(t, other, &now)
	_, emptyReg := stateCollector(t, other, &now)
	if err := c.Restore(roundTrip(t, orig.Snapshot())); !errors.Is(err, ErrOtherLabels) {
		t.Fatalf("restoring a state made with other labels: %v, want ErrOtherLabels", err)
	}
	sameRegistries(t, "after a refused restore", emptyReg, reg)
	if s := c.Snapshot(); len(s.Sessions) != 0 || s.Latest != (time.Time{}) {
		t.Fatalf("collector not empty: %+v", s)
	}
}

// TestRestoreUnlabelled restores a state made with other labels: what does
// not depend on them is restored exactly, the families labelled from the
// log start empty, and the sessions are dropped, so that their end lowers no
// gauge the new collector never raised.
func TestRestoreUnlabelled(t *testing.T) {
	labels := mustLabels(t, nil, nil)
	now := time.Date(2026, 8, 17, 10, 0, 0, 0, time.UTC)
	orig, _ := stateCollector(t, labels, &now)
	storyBeforeSnapshot(t, orig, decode.New(labels), &now)
	saved := orig.Snapshot()

	for name, other := range map[string]decode.LabelConfig{
		"added":     mustLabels(t, []string{"client_hostname"}, nil),
		"removed":   mustLabels(t, nil, []string{"client_name"}),
		"reordered": mustLabels(t, []string{"client_hostname", "client_id"}, nil),
	} {
		t.Run(name, func(t *testing.T) {
			saved := saved
			if name == "reordered" {
				// The state of the same labels in another order.
				withTwo := mustLabels(t, []string{"client_id", "client_hostname"}, nil)
				var now2 time.Time
				o, _ := stateCollector(t, withTwo, &now2)
				storyBeforeSnapshot(t, o, decode.New(withTwo), &now2)
				saved = o.Snapshot()
			}
			c, reg := stateCollector(t, other, &now)
			afresh, err := c.RestoreUnlabelled(roundTrip(t, saved))
			if err != nil {
				t.Fatal(err)
			}
			want := []string{
				"mirrord_sessions_started_total", "mirrord_sessions_ended_total", "mirrord_session_duration_seconds",
				"mirrord_sessions_active", "mirrord_ports_stolen_total", "mirrord_ports_mirrored_total",
				"mirrord_ports_released_total", "mirrord_ports_active", "mirrord_targets_copied_total",
				"mirrord_sessions_started_by_cli_version_total",
			}
			if !slices.Equal(afresh, want) {
				t.Errorf("families afresh: %v, want %v", afresh, want)
			}
			got := c.Snapshot()
			if len(got.Sessions) != 0 {
				t.Errorf("sessions restored: %+v", got.Sessions)
			}
			if !got.Latest.Equal(saved.Latest) || !reflect.DeepEqual(got.Events, saved.Events) ||
				got.SessionsExpired != saved.SessionsExpired || got.SeatLimitReached != saved.SeatLimitReached ||
				!reflect.DeepEqual(got.SeatLimitActiveUsers, saved.SeatLimitActiveUsers) ||
				!reflect.DeepEqual(got.LastEventTimestamp, saved.LastEventTimestamp) {
				t.Errorf("the unlabelled metrics differ:\n%s\n%s", encodeState(t, got), encodeState(t, saved))
			}
			for i, fs := range got.Families {
				was := saved.Families[i]
				if fs.Name != was.Name || fs.Overflowed != was.Overflowed || fs.Expired != was.Expired {
					t.Errorf("family %s: overflowed %v, expired %v; saved %s: %v, %v", fs.Name, fs.Overflowed, fs.Expired, was.Name, was.Overflowed, was.Expired)
				}
				switch {
				case fs.Name == "mirrord_messages_processed_total":
					if len(was.Series) == 0 || !reflect.DeepEqual(fs.Series, was.Series) {
						t.Errorf("%s: series %+v, saved %+v", fs.Name, fs.Series, was.Series)
					}
				case len(fs.Series) != 0:
					t.Errorf("%s: series %+v, want none", fs.Name, fs.Series)
				}
			}
			// S1 ends: it was forgotten, so no gauge goes below zero; a new
			// session counts with the new labels.
			apply(t, c, decode.New(other),
				record("11:00:00", "Session End", sid("S1")+","+who("alice")+`,"session_duration":3600`),
				record("11:00:01", "Port Release", withPort("S1", "alice", 8080)),
				record("11:00:02", "Session Start", sid("S7")+","+who("alice")))
			text := mirrordText(t, reg)
			for _, line := range strings.Split(text, "\n") {
				if strings.HasPrefix(line, "mirrord_sessions_active{") || strings.HasPrefix(line, "mirrord_ports_active{") {
					if !strings.HasSuffix(line, " 0") && !strings.HasSuffix(line, " 1") {
						t.Errorf("gauge not lowered from what it was raised to: %s", line)
					}
				}
			}
			if n := strings.Count(text, "\nmirrord_sessions_started_total{"); n != 1 {
				t.Errorf("%d series of mirrord_sessions_started_total, want the new session's:\n%s", n, text)
			}
		})
	}
}

// TestRestoreUnlabelledChecksWhatItRestores: a state of other labels whose
// unlabelled parts are broken is refused, leaving the collector as new.
func TestRestoreUnlabelledChecksWhatItRestores(t *testing.T) {
	labels := mustLabels(t, nil, nil)
	now := time.Date(2026, 8, 17, 10, 0, 0, 0, time.UTC)
	orig, _ := stateCollector(t, labels, &now)
	storyBeforeSnapshot(t, orig, decode.New(labels), &now)
	other := mustLabels(t, []string{"client_hostname"}, nil)
	for name, breakIt := range map[string]func(s *Snapshot){
		"negative counter": func(s *Snapshot) { s.SeatLimitReached = -1 },
		"unknown event":    func(s *Snapshot) { s.Events["nope"] = 1 },
		"missing family":   func(s *Snapshot) { s.Families = s.Families[1:] },
		"overflow count":   func(s *Snapshot) { s.Families[0].Overflowed = math.NaN() },
		"message series": func(s *Snapshot) {
			for i := range s.Families {
				if s.Families[i].Name == "mirrord_messages_processed_total" {
					s.Families[i].Series[0].Values = s.Families[i].Series[0].Values[1:]
				}
			}
		},
	} {
		t.Run(name, func(t *testing.T) {
			s := roundTrip(t, orig.Snapshot())
			breakIt(s)
			c, reg := stateCollector(t, other, &now)
			_, emptyReg := stateCollector(t, other, &now)
			if _, err := c.RestoreUnlabelled(s); err == nil {
				t.Fatal("restored")
			}
			sameRegistries(t, "after a refused restore", emptyReg, reg)
			if c.used {
				t.Fatal("collector changed")
			}
		})
	}
}

func TestRestoreRefusesUsedCollector(t *testing.T) {
	labels := mustLabels(t, nil, nil)
	d := decode.New(labels)
	now := time.Date(2026, 8, 17, 10, 0, 0, 0, time.UTC)
	orig, _ := stateCollector(t, labels, &now)
	storyBeforeSnapshot(t, orig, d, &now)
	good := orig.Snapshot()

	c, _ := stateCollector(t, labels, &now)
	apply(t, c, d, record("12:00:00", "Session Start", sid("Z")+","+who("zoe")))
	before := encodeState(t, c.Snapshot())
	if err := c.Restore(roundTrip(t, good)); err == nil {
		t.Fatal("restored into a collector that applied an event")
	}
	if after := encodeState(t, c.Snapshot()); !bytes.Equal(before, after) {
		t.Fatalf("collector changed:\n%s\n%s", before, after)
	}
	// Nor twice.
	fresh, _ := stateCollector(t, labels, &now)
	if err := fresh.Restore(roundTrip(t, good)); err != nil {
		t.Fatal(err)
	}
	if err := fresh.Restore(roundTrip(t, good)); err == nil {
		t.Fatal("restored twice")
	}
}

// TestRunSnapshotAppliesBufferedEvents sends events, then asks for a
// snapshot: it must count every event sent before the request.
func TestRunSnapshotAppliesBufferedEvents(t *testing.T) {
	const n = 500
	labels := mustLabels(t, nil, nil)
	d := decode.New(labels)
	now := time.Date(2026, 8, 17, 10, 0, 0, 0, time.UTC)
	c, _ := stateCollector(t, labels, &now)
	events := make(chan decode.Event, n)
	snapshots := make(chan chan<- *Snapshot)
	done := make(chan struct{})
	go func() {
		c.Run(events, nil, snapshots)
		close(done)
	}()
	for round := range 5 {
		for i := range n {
			var ev decode.Event
			if ok, reason := d.Decode([]byte(record("10:00:00", "Session Start", sid(fmt.Sprintf("S%d-%d", round, i))+","+who("u"))), &ev); !ok {
				t.Fatal(reason)
			}
			events <- ev
		}
		reply := make(chan *Snapshot, 1)
		snapshots <- reply
		s := <-reply
		if got, want := s.Events["session_start"], float64((round+1)*n); got != want || len(s.Sessions) != int(want) {
			t.Fatalf("round %d: snapshot counts %v starts and %d sessions, want %v", round, got, len(s.Sessions), want)
		}
	}
	close(events)
	<-done
}

// openSessions is a collector with n open sessions, each holding one port,
// spread over 20 users and 10 targets.
func openSessions(b *testing.B, n int) *Collector {
	labels := mustLabels(b, nil, nil)
	now := time.Date(2026, 8, 17, 10, 0, 0, 0, time.UTC)
	c, err := New(Config{Labels: labels, Registerer: prometheus.NewRegistry(), Limits: Limits{MaxSeries: DefaultMaxSeries}, Now: func() time.Time { return now }})
	if err != nil {
		b.Fatal(err)
	}
	for i := range n {
		lv := []string{fmt.Sprintf("user%d", i%20), fmt.Sprintf("User %d", i%20), fmt.Sprintf("ns%d", i%10), "deployment", fmt.Sprintf("svc%d", i%10)}
		id := fmt.Sprintf("%016X", i)
		c.Apply(&decode.Event{Kind: decode.SessionStart, Time: now, Labels: lv, SessionID: id})
		c.Apply(&decode.Event{Kind: decode.PortSteal, Time: now, Labels: lv, SessionID: id, Port: 8080})
	}
	return c
}

// BenchmarkSnapshot measures what a state save holds the inputs still for,
// with 100,000 open sessions each holding a port: the copy Run sends.
func BenchmarkSnapshot(b *testing.B) {
	c := openSessions(b, 100_000)
	b.ReportAllocs()
	for b.Loop() {
		c.capture()
	}
}

// BenchmarkSnapshotJSON measures what a save does after the inputs resumed:
// sorting that copy and encoding it. It reports the encoding's size.
func BenchmarkSnapshotJSON(b *testing.B) {
	c := openSessions(b, 100_000)
	b.ReportAllocs()
	var size int
	for b.Loop() {
		b.StopTimer()
		s := c.capture()
		b.StartTimer()
		s.Sort()
		out, err := json.Marshal(s)
		if err != nil {
			b.Fatal(err)
		}
		size = len(out)
	}
	b.ReportMetric(float64(size), "json-bytes")
}
