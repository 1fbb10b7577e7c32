package collector

import (
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// seatWindow is one window of the seat gauges, ending at the newest
// functional event's operator timestamp.
type seatWindow struct {
	label string
	hours int64
}

// seatWindows are the windows of every seat gauge, shortest first.
var seatWindows = [...]seatWindow{{"1d", 24}, {"7d", 7 * 24}, {"30d", 30 * 24}}

// peakHours is the number of hourly slots of peak history: the longest
// window.
const peakHours = 30 * 24

// The two kinds of identity counted, the kind label of
// mirrord_exporter_identities_forgotten_total.
const (
	kindClient = "client"
	kindUser   = "user"
)

// seenEntry is one identity with the operator time it was last seen, in a
// list ordered from the most recently seen.
type seenEntry struct {
	id         string
	last       int64 // Unix nanoseconds
	prev, next *seenEntry
}

// seenSet holds the identities of one kind, each with when it was last seen,
// in a list ordered by that time: the windows are counted by walking it from
// the newest, and the least recently seen is dropped first from its tail.
// Events come in time order all but rarely, so that moving an identity to
// its place is almost always moving it to the head.
type seenSet struct {
	byID       map[string]*seenEntry
	head, tail *seenEntry
	max        int // 0: no bound
	forgotten  prometheus.Counter
	// recent is the identity seen last: a session's events come one after
	// another, and finding it here spares hashing its id.
	recent *seenEntry
}

func newSeenSet(max int, forgotten prometheus.Counter) *seenSet {
	return &seenSet{byID: make(map[string]*seenEntry), max: max, forgotten: forgotten}
}

// see records id as seen at t (Unix nanoseconds), unless it was seen later.
func (s *seenSet) see(id string, t int64) {
	if id == "" {
		return
	}
	e, ok := s.recent, s.recent != nil && s.recent.id == id
	if !ok {
		e, ok = s.byID[id]
	}
	if ok {
		s.recent = e
		if t <= e.last {
			return
		}
		s.unlink(e)
		e.last = t
	} else {
		e = &seenEntry{id: id, last: t}
		s.byID[id] = e
	}
	s.insert(e)
	s.recent = e
	if s.max > 0 && len(s.byID) > s.max {
		old := s.tail
		s.unlink(old)
		delete(s.byID, old.id)
		s.forgotten.Inc()
		if old == s.recent {
			s.recent = nil
		}
	}
}

// insert puts e before the first entry seen no later than it.
func (s *seenSet) insert(e *seenEntry) {
	at := s.head
	for at != nil && at.last > e.last {
		at = at.next
	}
	if at == nil { // at the tail
		e.prev, e.next = s.tail, nil
		if s.tail != nil {
			s.tail.next = e
		} else {
			s.head = e
		}
		s.tail = e
		return
	}
	e.prev, e.next = at.prev, at
	if at.prev != nil {
		at.prev.next = e
	} else {
		s.head = e
	}
	at.prev = e
}

func (s *seenSet) unlink(e *seenEntry) {
	if e.prev != nil {
		e.prev.next = e.next
	} else {
		s.head = e.next
	}
	if e.next != nil {
		e.next.prev = e.prev
	} else {
		s.tail = e.prev
	}
	e.prev, e.next = nil, nil
}

// count returns, for each window, the identities seen after latest less the
// window: one walk from the newest, over the identities of the longest
// window.
func (s *seenSet) count(latest time.Time) [len(seatWindows)]int {
	var n [len(seatWindows)]int
	if latest.IsZero() {
		return n
	}
	end := latest.UnixNano()
	var cutoff [len(seatWindows)]int64
	for i, w := range seatWindows {
		cutoff[i] = end - w.hours*int64(time.Hour)
	}
	for e := s.head; e != nil && e.last > cutoff[len(cutoff)-1]; e = e.next {
		for i := range cutoff {
			if e.last > cutoff[i] {
				n[i]++
			}
		}
	}
	return n
}

// peakRing holds the most of something at once in each of the last
// peakHours hours of operator time, the newest at hour. Hourly maxima rather
// than every change: the history of every change over 30 days grows with
// the log, while 720 slots are 5.6 KiB whatever it holds. The peak of a
// window is then exact for whole hours: the newest event's hour and those
// before it.
type peakRing struct {
	started bool
	hour    int64 // hours since the epoch of the newest slot
	cur     int64 // the value now, which carries into the hours to come
	slots   [peakHours]int64
}

func slotOf(hour int64) int { return int(((hour % peakHours) + peakHours) % peakHours) }

// set records v as the value now, in the given hour; an earlier hour than
// the newest counts as the newest (the time only moves forward).
func (r *peakRing) set(hour, v int64) {
	r.advance(hour)
	r.cur = v
	if s := &r.slots[slotOf(r.hour)]; v > *s {
		*s = v
	}
}

// advance moves the newest slot to hour; the hours in between held the
// value of now throughout.
func (r *peakRing) advance(hour int64) {
	if !r.started {
		r.started, r.hour = true, hour
		r.slots[slotOf(hour)] = r.cur
		return
	}
	if hour <= r.hour {
		return
	}
	n := min(hour-r.hour, peakHours)
	for h := hour - n + 1; h <= hour; h++ {
		r.slots[slotOf(h)] = r.cur
	}
	r.hour = hour
}

// peak returns the most in the newest hours slots.
func (r *peakRing) peak(hours int64) int64 {
	if !r.started {
		return 0
	}
	var m int64
	for h := r.hour - hours + 1; h <= r.hour; h++ {
		m = max(m, r.slots[slotOf(h)])
	}
	return m
}

// seats is what the seat gauges are computed from. The collector's
// goroutine changes it and scrapes read it, hence the lock; the gauges are
// computed when they are collected, not per event, since counting the
// windows walks every identity of the last 30 days.
type seats struct {
	mu       sync.Mutex
	latest   time.Time // the newest functional event's operator timestamp
	clients  *seenSet
	users    *seenSet
	sessions peakRing
	active   peakRing // distinct users with an active session
}

// hourOf is the hour since the epoch that t falls in.
func hourOf(t time.Time) int64 {
	s := t.Unix()
	h := s / 3600
	if s < 0 && s%3600 != 0 {
		h--
	}
	return h
}

// event records a functional event's identities at t, the newest
// operator timestamp latest, and the sessions and users active after it.
func (s *seats) event(clientID, user string, t, latest time.Time, sessions, users int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.latest = latest
	ns := t.UnixNano()
	s.clients.see(clientID, ns)
	s.users.see(user, ns)
	s.setActive(latest, sessions, users)
}

// activeChanged records the sessions and users active now, after sessions
// expired.
func (s *seats) activeChanged(sessions, users int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.latest.IsZero() {
		s.setActive(s.latest, sessions, users)
	}
}

func (s *seats) setActive(latest time.Time, sessions, users int) {
	h := hourOf(latest)
	s.sessions.set(h, int64(sessions))
	s.active.set(h, int64(users))
}

// The seat gauges' help: what they count, and what they leave out.
const (
	helpClientsSeen  = "mirrord seats used: distinct clients (client_id, the client certificate's stable id, which the license counts as a seat) with a session, port or copy event in the window (newest such event's operator timestamp - window, newest]; records without client_id are not counted."
	helpUsersSeen    = "Distinct client_user values with a session, port or copy event in the window (newest such event's operator timestamp - window, newest]; records without client_user are not counted."
	helpSessionsPeak = "The most mirrord sessions active at once (as mirrord_sessions_active counts them) within whole hours of operator time: the hour of the newest session, port or copy event and the 23 (7d: 167, 30d: 719) hours before it."
	helpUsersPeak    = "The most distinct client_user values with an active mirrord session at once within whole hours of operator time: the hour of the newest session, port or copy event and the 23 (7d: 167, 30d: 719) hours before it; sessions whose start had no client_user are not counted."
)

// seatMetrics are the seat gauges, computed at each collection.
type seatMetrics struct {
	s                                          *seats
	clientsSeen, usersSeen, sessionsPeak, peak *prometheus.Desc
}

func newSeatMetrics(s *seats) *seatMetrics {
	window := []string{"window"}
	return &seatMetrics{
		s: s,
		clientsSeen: prometheus.NewDesc("mirrord_clients_seen", helpClientsSeen,
			window, nil),
		usersSeen: prometheus.NewDesc("mirrord_users_seen", helpUsersSeen,
			window, nil),
		sessionsPeak: prometheus.NewDesc("mirrord_sessions_concurrent_peak", helpSessionsPeak,
			window, nil),
		peak: prometheus.NewDesc("mirrord_users_concurrent_peak", helpUsersPeak,
			window, nil),
	}
}

func (m *seatMetrics) Describe(ch chan<- *prometheus.Desc) {
	ch <- m.clientsSeen
	ch <- m.usersSeen
	ch <- m.sessionsPeak
	ch <- m.peak
}

func (m *seatMetrics) Collect(ch chan<- prometheus.Metric) {
	s := m.s
	s.mu.Lock()
	clients, users := s.clients.count(s.latest), s.users.count(s.latest)
	var sessions, active [len(seatWindows)]int64
	for i, w := range seatWindows {
		sessions[i], active[i] = s.sessions.peak(w.hours), s.active.peak(w.hours)
	}
	s.mu.Unlock()
	for i, w := range seatWindows {
		ch <- prometheus.MustNewConstMetric(m.clientsSeen, prometheus.GaugeValue, float64(clients[i]), w.label)
		ch <- prometheus.MustNewConstMetric(m.usersSeen, prometheus.GaugeValue, float64(users[i]), w.label)
		ch <- prometheus.MustNewConstMetric(m.sessionsPeak, prometheus.GaugeValue, float64(sessions[i]), w.label)
		ch <- prometheus.MustNewConstMetric(m.peak, prometheus.GaugeValue, float64(active[i]), w.label)
	}
}

// captureSeats adds the seat state to s. Only the collector's goroutine
// changes it, and it is the one calling: no lock.
func (c *Collector) captureSeats(s *Snapshot) {
	list := func(set *seenSet) []SeenState {
		out := make([]SeenState, 0, len(set.byID))
		for e := set.head; e != nil; e = e.next {
			out = append(out, SeenState{ID: e.id, Last: time.Unix(0, e.last).UTC()})
		}
		return out
	}
	s.ClientsSeen, s.UsersSeen = list(c.seats.clients), list(c.seats.users)
	s.IdentitiesForgotten = collectValues(c.forgotten)
	if r := &c.seats.sessions; r.started {
		p := &PeaksState{Hour: r.hour, Sessions: make([]int64, peakHours), Users: make([]int64, peakHours)}
		for i := range peakHours {
			h := r.hour - peakHours + 1 + int64(i)
			p.Sessions[i], p.Users[i] = r.slots[slotOf(h)], c.seats.active.slots[slotOf(h)]
		}
		s.Peaks = p
	}
}

// checkSeats returns why the seat state of s cannot be restored.
func checkSeats(s *Snapshot) error {
	for kind, list := range map[string][]SeenState{kindClient: s.ClientsSeen, kindUser: s.UsersSeen} {
		ids := make(map[string]bool, len(list))
		for i, e := range list {
			// By place, never by value: they are user names, and logged.
			if e.ID == "" || ids[e.ID] {
				return fmt.Errorf("%s seen #%d: an empty id or one twice", kind, i)
			}
			ids[e.ID] = true
			if y := e.Last.Year(); y < 1678 || y > 2261 {
				return fmt.Errorf("%s seen #%d: last seen %v, outside the years 1678 to 2261 this exporter can hold", kind, i, e.Last)
			}
		}
	}
	for kind, v := range s.IdentitiesForgotten {
		if kind != kindClient && kind != kindUser {
			return fmt.Errorf("mirrord_exporter_identities_forgotten_total: unknown kind %q", kind)
		}
		if err := checkCount(v); err != nil {
			return fmt.Errorf("mirrord_exporter_identities_forgotten_total{kind=%q}: %w", kind, err)
		}
	}
	if p := s.Peaks; p != nil {
		if len(p.Sessions) != peakHours || len(p.Users) != peakHours {
			return fmt.Errorf("concurrent peaks: %d and %d hours, not %d", len(p.Sessions), len(p.Users), peakHours)
		}
		for i := range peakHours {
			if p.Sessions[i] < 0 || p.Users[i] < 0 {
				return fmt.Errorf("concurrent peaks: hour #%d negative", i)
			}
		}
	}
	return nil
}

// restoreSeats restores the seat state of a checked s; the values now of the
// peaks come from the sessions (restoreActive).
func (c *Collector) restoreSeats(s *Snapshot) {
	st := c.seats
	st.mu.Lock()
	defer st.mu.Unlock()
	st.latest = s.Latest
	for _, r := range []struct {
		set  *seenSet
		list []SeenState
	}{{st.clients, s.ClientsSeen}, {st.users, s.UsersSeen}} {
		list := slices.Clone(r.list)
		slices.SortStableFunc(list, func(a, b SeenState) int { return b.Last.Compare(a.Last) })
		if r.set.max > 0 && len(list) > r.set.max {
			// A state saved under a larger --metrics.max-series.
			r.set.forgotten.Add(float64(len(list) - r.set.max))
			list = list[:r.set.max]
		}
		for _, e := range list {
			// Sorted: each goes to the tail, without a walk.
			en := &seenEntry{id: e.ID, last: e.Last.UnixNano(), prev: r.set.tail}
			if r.set.tail != nil {
				r.set.tail.next = en
			} else {
				r.set.head = en
			}
			r.set.tail = en
			r.set.byID[e.ID] = en
		}
	}
	for kind, v := range s.IdentitiesForgotten {
		c.forgotten.WithLabelValues(kind).Add(v)
	}
	if p := s.Peaks; p != nil {
		for _, r := range []struct {
			ring  *peakRing
			slots []int64
		}{{&st.sessions, p.Sessions}, {&st.active, p.Users}} {
			r.ring.started, r.ring.hour = true, p.Hour
			for i, v := range r.slots {
				r.ring.slots[slotOf(p.Hour-peakHours+1+int64(i))] = v
			}
		}
	}
}

// restoreActive sets the values now of the peaks to the restored sessions'.
func (s *seats) restoreActive(sessions, users int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sessions.cur, s.active.cur = int64(sessions), int64(users)
}
