package collector

import (
	"encoding/json"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/mirrord-exporter/mirrord-exporter/decode"
)

var seatNames = []string{
	"mirrord_clients_seen", "mirrord_users_seen",
	"mirrord_sessions_concurrent_peak", "mirrord_users_concurrent_peak",
	"mirrord_exporter_identities_forgotten_total",
}

// seatRecord is a record at the RFC 3339 time ts with a client_id and a
// client_user, each left out when "".
func seatRecord(ts, message, clientID, user, fields string) string {
	var f []string
	if clientID != "" {
		f = append(f, fmt.Sprintf(`"client_id":%q`, clientID))
	}
	if user != "" {
		f = append(f, fmt.Sprintf(`"client_user":%q`, user))
	}
	if fields != "" {
		f = append(f, fields)
	}
	return fmt.Sprintf(`{"timestamp":%q,"fields":{"message":%q,%s}}`, ts, message, strings.Join(f, ","))
}

func copied(ts, clientID, user string) string {
	return seatRecord(ts, "Copy Target", clientID, user, `"scale_down":false`)
}

// seatExposition is the expected seat gauges, each line's values for the
// windows 1d, 7d and 30d, and the forgotten clients and users.
func seatExposition(clients, users, sessions, active [3]int, forgotten [2]int) string {
	var b strings.Builder
	fam := func(name, help string, v [3]int) {
		fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s gauge\n", name, help, name)
		// In the exposition's order of label values.
		fmt.Fprintf(&b, "%s{window=\"1d\"} %d\n%s{window=\"30d\"} %d\n%s{window=\"7d\"} %d\n", name, v[0], name, v[2], name, v[1])
	}
	fam("mirrord_clients_seen", helpClientsSeen, clients)
	fam("mirrord_users_seen", helpUsersSeen, users)
	fam("mirrord_sessions_concurrent_peak", helpSessionsPeak, sessions)
	fam("mirrord_users_concurrent_peak", helpUsersPeak, active)
	fmt.Fprintf(&b, `# HELP mirrord_exporter_identities_forgotten_total Clients (client_id) and users (client_user) dropped from mirrord_clients_seen and mirrord_users_seen, least recently seen first, because more than --metrics.max-series of a kind were tracked.
# TYPE mirrord_exporter_identities_forgotten_total counter
mirrord_exporter_identities_forgotten_total{kind="client"} %d
mirrord_exporter_identities_forgotten_total{kind="user"} %d
`, forgotten[0], forgotten[1])
	return b.String()
}

func requireSeats(t *testing.T, reg prometheus.Gatherer, want string) {
	t.Helper()
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), seatNames...); err != nil {
		t.Error(err)
	}
}

// seatCollector is a collector of the default labels, capped at maxSeries.
func seatCollector(t testing.TB, maxSeries int) (*Collector, *decode.Decoder, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	labels := mustLabels(t, nil, nil)
	c, err := New(Config{Labels: labels, Registerer: reg, Limits: Limits{MaxSeries: maxSeries}})
	if err != nil {
		t.Fatal(err)
	}
	return c, decode.New(labels), reg
}

// TestSeatsOverWindows: identities last seen on both sides of each window's
// start, out of order, and without a client_id or client_user.
func TestSeatsOverWindows(t *testing.T) {
	c, d, reg := seatCollector(t, 0)
	requireSeats(t, reg, seatExposition([3]int{}, [3]int{}, [3]int{}, [3]int{}, [2]int{}))
	// The newest functional event is at 2026-08-31T12:00:00Z: the windows
	// start (exclusive) at 08-30T12:00, 08-24T12:00 and 08-01T12:00.
	apply(t, c, d,
		copied("2026-08-01T12:00:00Z", "c1", "u1"), // exactly 30d before: in none
		copied("2026-08-01T12:00:01Z", "c2", "u1"), // 30d
		copied("2026-08-24T12:00:00Z", "c3", "u2"), // exactly 7d before: 30d
		copied("2026-08-25T00:00:00Z", "c7", "u3"), // 7d
		copied("2026-08-30T12:00:00Z", "c8", "u4"), // exactly 1d before: 7d
		copied("2026-08-30T12:00:01Z", "c4", "u4"), // 1d
		copied("2026-08-31T12:00:00Z", "c5", ""),   // the newest
		// Older than the newest: they do not move the windows.
		copied("2026-08-10T00:00:00Z", "c6", "u5"),
		copied("2026-08-20T00:00:00Z", "c2", "u1"),
		copied("2026-08-31T11:00:00Z", "", "u6"),
		// Later, but not a session, port or copy event.
		`{"timestamp":"2026-09-05T00:00:00Z","fields":{"message":"Max seat count reached!","active_users":3,"client_id":"c9","client_user":"u9"}}`,
	)
	requireSeats(t, reg, seatExposition(
		[3]int{2, 4, 7}, // c4 c5 | c7 c8 | c2 c3 c6
		[3]int{2, 3, 6}, // u4 u6 | u3 | u1 u2 u5
		[3]int{}, [3]int{}, [2]int{}))
}

// TestConcurrentPeaks: peaks by whole hours of operator time, a session
// active across hours without events, and a gap longer than the history.
func TestConcurrentPeaks(t *testing.T) {
	c, d, reg := seatCollector(t, 0)
	start := func(ts, id, user string) string {
		return seatRecord(ts, "Session Start", "id-"+user, user, sid(id))
	}
	end := func(ts, id, user string) string {
		return seatRecord(ts, "Session End", "id-"+user, user, sid(id))
	}
	apply(t, c, d,
		// 3 sessions of 2 users at once.
		start("2026-08-01T10:10:00Z", "S1", "alice"),
		start("2026-08-01T10:20:00Z", "S2", "alice"),
		start("2026-08-01T10:30:00Z", "S3", "bob"),
		end("2026-08-01T10:40:00Z", "S1", "alice"),
		end("2026-08-01T10:41:00Z", "S2", "alice"),
		end("2026-08-01T10:42:00Z", "S3", "bob"),
		// 2 sessions of 1 user; S4 goes on for days without an event.
		start("2026-08-20T09:00:00Z", "S4", "carol"),
		start("2026-08-20T09:30:00Z", "S5", "carol"),
		end("2026-08-20T09:45:00Z", "S5", "carol"),
		// 2 sessions of 2 users, within 24 hours of the newest event but
		// not within the 24 whole hours ending with its hour.
		start("2026-08-24T08:40:00Z", "S6", "erin"),
		end("2026-08-24T08:50:00Z", "S6", "erin"),
		copied("2026-08-25T08:30:00Z", "id-dave", "dave"),
	)
	requireSeats(t, reg, seatExposition([3]int{2, 3, 5}, [3]int{2, 3, 5}, [3]int{1, 2, 3}, [3]int{1, 2, 2}, [2]int{}))

	// Longer than the history: every hour since held S4 alone. The time is
	// where a slot left unwritten would still hold 08-01 10h's peak.
	apply(t, c, d, copied("2026-09-30T09:00:00Z", "id-dave", "dave"))
	requireSeats(t, reg, seatExposition([3]int{1, 1, 1}, [3]int{1, 1, 1}, [3]int{1, 1, 1}, [3]int{1, 1, 1}, [2]int{}))

	// An expiry lowers the hours to come, not the peak of the hour it is in.
	c.maxAge = time.Hour
	if n := c.Expire(time.Date(2026, 9, 30, 9, 0, 0, 0, time.UTC)); n != 1 {
		t.Fatalf("expired %d sessions, want 1", n)
	}
	apply(t, c, d, copied("2026-09-30T10:00:00Z", "id-dave", "dave"))
	requireSeats(t, reg, seatExposition([3]int{1, 1, 1}, [3]int{1, 1, 1}, [3]int{1, 1, 1}, [3]int{1, 1, 1}, [2]int{}))
	apply(t, c, d, copied("2026-10-01T09:00:00Z", "id-dave", "dave"))
	requireSeats(t, reg, seatExposition([3]int{1, 1, 1}, [3]int{1, 1, 1}, [3]int{0, 1, 1}, [3]int{0, 1, 1}, [2]int{}))
}

// TestConcurrentPeakOfQuietHours: hours without an event hold the sessions
// active through them.
func TestConcurrentPeakOfQuietHours(t *testing.T) {
	c, d, reg := seatCollector(t, 0)
	apply(t, c, d,
		seatRecord("2026-08-01T10:00:00Z", "Session Start", "id-alice", "alice", sid("S1")),
		seatRecord("2026-08-03T12:00:00Z", "Session End", "id-alice", "alice", sid("S1")),
	)
	requireSeats(t, reg, seatExposition([3]int{1, 1, 1}, [3]int{1, 1, 1}, [3]int{1, 1, 1}, [3]int{1, 1, 1}, [2]int{}))
}

// TestSeatsBound: past --metrics.max-series identities of a kind, the least
// recently seen is forgotten and counted.
func TestSeatsBound(t *testing.T) {
	c, d, reg := seatCollector(t, 2)
	apply(t, c, d,
		copied("2026-08-17T10:00:00Z", "a", "ua"),
		copied("2026-08-17T10:00:02Z", "b", ""),
		// Came last, but seen after a: a goes.
		copied("2026-08-17T10:00:01Z", "c", ""),
	)
	requireSeats(t, reg, seatExposition([3]int{2, 2, 2}, [3]int{1, 1, 1}, [3]int{}, [3]int{}, [2]int{1, 0}))
	tracked := func(want ...string) {
		t.Helper()
		for _, id := range want {
			if _, ok := c.seats.clients.byID[id]; !ok {
				t.Errorf("%s forgotten", id)
			}
		}
		if len(c.seats.clients.byID) != len(want) {
			t.Errorf("tracked %d clients, want %v", len(c.seats.clients.byID), want)
		}
	}
	tracked("b", "c")
	// Seen again after being forgotten: counted again, at the cost of c.
	apply(t, c, d, copied("2026-08-17T10:00:03Z", "a", ""))
	requireSeats(t, reg, seatExposition([3]int{2, 2, 2}, [3]int{1, 1, 1}, [3]int{}, [3]int{}, [2]int{2, 0}))
	tracked("a", "b")
	// Seen before every other: forgotten at once.
	apply(t, c, d, copied("2026-08-17T09:00:00Z", "d", ""))
	requireSeats(t, reg, seatExposition([3]int{2, 2, 2}, [3]int{1, 1, 1}, [3]int{}, [3]int{}, [2]int{3, 0}))
	tracked("a", "b")

	// A state saved under a larger cap keeps the most recently seen.
	big, bd, _ := seatCollector(t, 0)
	apply(t, big, bd, copied("2026-08-17T10:00:00Z", "a", ""), copied("2026-08-17T10:00:01Z", "b", ""), copied("2026-08-17T10:00:02Z", "c", ""))
	small, _, reg := seatCollector(t, 2)
	if err := small.Restore(roundTrip(t, big.Snapshot())); err != nil {
		t.Fatal(err)
	}
	requireSeats(t, reg, seatExposition([3]int{2, 2, 2}, [3]int{}, [3]int{}, [3]int{}, [2]int{1, 0}))
	if _, ok := small.seats.clients.byID["a"]; ok {
		t.Error("restored a, the least recently seen, past the cap")
	}
}

// TestSeatsRestoreOldState: a state file from before the seat gauges
// restores, the identities seen start empty, and the peaks count the
// restored sessions (their users from their active series).
func TestSeatsRestoreOldState(t *testing.T) {
	orig, d, origReg := seatCollector(t, 0)
	apply(t, orig, d,
		seatRecord("2026-08-17T10:00:00Z", "Session Start", "id-alice", "alice", sid("S1")),
		seatRecord("2026-08-17T10:00:01Z", "Session Start", "id-alice", "alice", sid("S2")),
		seatRecord("2026-08-17T10:00:02Z", "Session Start", "id-bob", "bob", sid("S3")),
		seatRecord("2026-08-17T10:00:03Z", "Session End", "id-bob", "bob", sid("S3")),
	)
	full := encodeState(t, orig.Snapshot())

	// The whole state restores exactly, peaks and all.
	restored, _, reg := seatCollector(t, 0)
	var s Snapshot
	if err := json.Unmarshal(full, &s); err != nil {
		t.Fatal(err)
	}
	if err := restored.Restore(&s); err != nil {
		t.Fatal(err)
	}
	want := seatExposition([3]int{2, 2, 2}, [3]int{2, 2, 2}, [3]int{3, 3, 3}, [3]int{2, 2, 2}, [2]int{})
	requireSeats(t, origReg, want)
	requireSeats(t, reg, want)

	// The same state as an older exporter wrote it.
	var raw map[string]any
	if err := json.Unmarshal(full, &raw); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"clients_seen", "users_seen", "identities_forgotten", "concurrent_peaks"} {
		if _, ok := raw[k]; !ok {
			t.Fatalf("no %s in the state", k)
		}
		delete(raw, k)
	}
	for _, ss := range raw["sessions"].([]any) {
		delete(ss.(map[string]any), "user")
	}
	old, err := json.Marshal(raw)
	if err != nil {
		t.Fatal(err)
	}
	s = Snapshot{}
	if err := json.Unmarshal(old, &s); err != nil {
		t.Fatal(err)
	}
	c, d2, reg := seatCollector(t, 0)
	if err := c.Restore(&s); err != nil {
		t.Fatal(err)
	}
	requireSeats(t, reg, seatExposition([3]int{}, [3]int{}, [3]int{}, [3]int{}, [2]int{}))
	// S1 and S2 of alice are active: the next hour's peak holds them.
	apply(t, c, d2, seatRecord("2026-08-17T11:00:00Z", "Copy Target", "id-carol", "carol", `"scale_down":false`))
	requireSeats(t, reg, seatExposition([3]int{1, 1, 1}, [3]int{1, 1, 1}, [3]int{2, 2, 2}, [3]int{1, 1, 1}, [2]int{}))
	apply(t, c, d2, seatRecord("2026-08-17T11:00:01Z", "Session End", "id-alice", "alice", sid("S1")))
	apply(t, c, d2, seatRecord("2026-08-17T12:00:01Z", "Session End", "id-alice", "alice", sid("S2")))
	if c.activeSessions != 0 || len(c.activeUsers) != 0 {
		t.Errorf("%d sessions and users %v active after all ended", c.activeSessions, c.activeUsers)
	}
}

// seatState is a collector tracking n clients and n users, seen one a
// minute over the last n minutes (100k minutes: about 70 days, so that the
// 30-day window holds about 43k of each).
func seatState(b *testing.B, n int) *Collector {
	b.Helper()
	c, _, _ := seatCollector(b, n)
	base := time.Date(2026, 8, 17, 0, 0, 0, 0, time.UTC)
	for i := range n {
		ev := decode.Event{Kind: decode.CopyTarget, Time: base.Add(time.Duration(i) * time.Minute),
			ClientID: fmt.Sprintf("client-%d", i), ClientUser: fmt.Sprintf("user%d@corp.example", i)}
		c.Apply(&ev)
	}
	return c
}

// BenchmarkSeatGauges measures computing the seat gauges for a scrape,
// --once or a backfill sample, with 100k clients and 100k users tracked;
// heap-B/identity is the memory each identity tracked holds.
func BenchmarkSeatGauges(b *testing.B) {
	const n = 100_000
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	c := seatState(b, n)
	runtime.GC()
	runtime.ReadMemStats(&after)
	m := newSeatMetrics(c.seats)
	ch := make(chan prometheus.Metric, 16)
	b.ReportAllocs()
	for b.Loop() {
		go func() { m.Collect(ch); close(ch) }()
		for range ch {
		}
		ch = make(chan prometheus.Metric, 16)
	}
	b.ReportMetric((float64(after.HeapAlloc)-float64(before.HeapAlloc))/(2*n), "heap-B/identity")
	runtime.KeepAlive(c)
}

// BenchmarkSeatEvent measures recording one event's client and user among
// 100k of each tracked, each seen again in turn (to the head of the list)
// at a later time.
func BenchmarkSeatEvent(b *testing.B) {
	const n = 100_000
	c := seatState(b, n)
	base := time.Date(2026, 8, 17, 0, 0, 0, 0, time.UTC).Add(n * time.Minute)
	evs := make([]decode.Event, n)
	for i := range evs {
		evs[i] = decode.Event{Kind: decode.CopyTarget, ClientID: fmt.Sprintf("client-%d", i), ClientUser: fmt.Sprintf("user%d@corp.example", i)}
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		ev := evs[i%n]
		ev.Time = base.Add(time.Duration(i) * time.Second)
		c.seats.event(ev.ClientID, ev.ClientUser, ev.Time, ev.Time, 0, 0)
		i++
	}
}

// TestSeatsScrapedWhileApplied gathers the seat gauges while another
// goroutine applies events, as scrapes do: under -race, an access without
// the lock fails it.
func TestSeatsScrapedWhileApplied(t *testing.T) {
	c, d, reg := seatCollector(t, 50)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 2000 {
			r := seatRecord(fmt.Sprintf("2026-08-17T10:%02d:%02dZ", i/60%60, i%60), "Session Start", fmt.Sprintf("c%d", i%100), fmt.Sprintf("u%d", i%70), sid(fmt.Sprint(i)))
			var ev decode.Event
			if ok, reason := d.Decode([]byte(r), &ev); !ok {
				t.Errorf("not decoded (%q): %s", reason, r)
				return
			}
			c.Apply(&ev)
		}
	}()
	for gathered := false; ; {
		select {
		case <-done:
			if !gathered {
				t.Log("applied before a gather")
			}
			if n := testutil.ToFloat64(c.forgotten.WithLabelValues(kindClient)); n != 1950 {
				t.Errorf("forgot %v clients, want 1950", n)
			}
			return
		default:
			if _, err := reg.Gather(); err != nil {
				t.Fatal(err)
			}
			gathered = true
		}
	}
}
