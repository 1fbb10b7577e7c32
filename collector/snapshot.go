package collector

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/mirrord-exporter/mirrord-exporter/decode"
	"github.com/mirrord-exporter/mirrord-exporter/family"
	"github.com/mirrord-exporter/mirrord-exporter/internal/metricvalues"
)

// State is everything a Collector needs to continue exactly where another
// one stopped: its sessions and the value of every metric it feeds. It is
// plain data, written as JSON inside the state file; fields are only ever
// added, and Restore checks it whole before using any of it.
//
// Series are named by their label values, in the order of their family's
// label names (the configured labels, then the family's own ones).
type Snapshot struct {
	// Labels are the configured label names, in order; a state is only
	// restored whole by a collector configured with the same ones (others
	// take the parts that do not depend on them: RestoreUnlabelled).
	Labels []string `json:"labels"`
	// Latest is the operator's timestamp of the newest functional event
	// applied; the zero time when there was none.
	Latest time.Time `json:"latest"`
	// LastEventTimestamp is the value of
	// mirrord_last_event_timestamp_seconds; absent while it was never set.
	LastEventTimestamp *float64 `json:"last_event_timestamp_seconds,omitempty"`
	// Sessions are the sessions the collector holds, sorted by id.
	Sessions []SessionState `json:"sessions"`
	// Families are the capped (labelled) metric families, every one of
	// them, each with its series.
	Families []FamilyState `json:"families"`
	// Events is mirrord_exporter_events_total by its event label.
	Events map[string]float64 `json:"events"`
	// SessionsExpired is mirrord_exporter_sessions_expired_total.
	SessionsExpired float64 `json:"sessions_expired"`
	// SeatLimitReached is mirrord_seat_limit_reached_total.
	SeatLimitReached float64 `json:"seat_limit_reached"`
	// SeatLimitActiveUsers is mirrord_seat_limit_active_users; absent while
	// it was never set.
	SeatLimitActiveUsers *float64 `json:"seat_limit_active_users,omitempty"`
	// ClientsSeen and UsersSeen are the identities behind
	// mirrord_clients_seen and mirrord_users_seen, each with the operator
	// time it was last seen, the most recently seen first. A state file
	// written before they existed has neither: they then start empty.
	ClientsSeen []SeenState `json:"clients_seen,omitempty"`
	UsersSeen   []SeenState `json:"users_seen,omitempty"`
	// IdentitiesForgotten is mirrord_exporter_identities_forgotten_total
	// by its kind label.
	IdentitiesForgotten map[string]float64 `json:"identities_forgotten,omitempty"`
	// Peaks is the hourly history of the concurrent peaks; absent from a
	// state file written before it existed (the history then starts empty)
	// and while no functional event was applied.
	Peaks *PeaksState `json:"concurrent_peaks,omitempty"`
	// CLIVersions are the distinct client_cli_version values of the
	// sessions started, behind mirrord_cli_versions_newer, oldest first;
	// absent from a state file written before they existed (they then
	// start empty) and while there was none.
	CLIVersions []string `json:"cli_versions,omitempty"`
}

// SeenState is one client or user with when it was last seen.
type SeenState struct {
	ID   string    `json:"id"`
	Last time.Time `json:"last"`
}

// PeaksState is the most sessions, and distinct users with a session,
// active at once in each hour of operator time, the oldest hour first.
type PeaksState struct {
	// Hour is the newest hour, in hours since the Unix epoch.
	Hour int64 `json:"hour"`
	// Sessions and Users hold one value per hour, 720 each.
	Sessions []int64 `json:"sessions"`
	Users    []int64 `json:"users"`
}

// SessionState is one session the collector holds.
type SessionState struct {
	// ID is the operator's session id.
	ID string `json:"id"`
	// Started is whether its Start was seen; a session may be known only
	// through its port events.
	Started bool `json:"started"`
	// Since is when it was first seen, for --session.max-age.
	Since time.Time `json:"since"`
	// Active is the mirrord_sessions_active series its Start raised, which
	// its end lowers; set exactly when Started.
	Active []string `json:"active,omitempty"`
	// Ports are the ports it holds, sorted by port then mode.
	Ports []PortState `json:"ports,omitempty"`
	// User is the client_user of its Start, counted in
	// mirrord_users_concurrent_peak; absent when it had none, and in state
	// files written before it existed, whose sessions take it from Active.
	User string `json:"user,omitempty"`
}

// PortState is one port a session holds.
type PortState struct {
	Port uint16 `json:"port"`
	// Mode is "steal" or "mirror".
	Mode string `json:"mode"`
	// Series is the mirrord_ports_active series the port raised, which its
	// release lowers.
	Series []string `json:"series"`
}

// FamilyState is one capped metric family.
type FamilyState struct {
	// Name is the family's metric name.
	Name string `json:"name"`
	// Overflowed is mirrord_exporter_series_overflow_total of the family.
	Overflowed float64 `json:"overflowed"`
	// Expired is mirrord_exporter_series_expired_total of the family.
	Expired float64 `json:"expired"`
	// Series are the family's series, overflow series included, sorted by
	// label values.
	Series []SeriesState `json:"series"`
}

// SeriesState is one series of a capped family.
type SeriesState struct {
	// Values are the label values.
	Values []string `json:"values"`
	// Overflow marks the series that take the updates past the cap; the
	// others count against it.
	Overflow bool `json:"overflow,omitempty"`
	// Touched is when the series was last updated, for --metrics.series-ttl.
	Touched time.Time `json:"touched"`
	// Held is, for a gauge family, the number of sessions or ports that
	// raised the series and have not lowered it yet; 0 otherwise.
	Held int64 `json:"held,omitempty"`
	// Value is the value of a counter or gauge series; absent for a
	// histogram's.
	Value *float64 `json:"value,omitempty"`
	// Histogram is the state of a histogram's series; absent otherwise.
	Histogram *HistogramState `json:"histogram,omitempty"`
}

// HistogramState is one histogram series: classic and native buckets.
type HistogramState = family.HistogramState

// NativeBucket is one populated native histogram bucket.
type NativeBucket = family.NativeBucket

// Snapshot returns the collector's state, sharing nothing with it: it may be
// encoded while the collector goes on. Only the goroutine that applies
// events may call it.
func (c *Collector) Snapshot() *Snapshot {
	s := c.capture()
	s.Sort()
	return s
}

// capture is Snapshot without the sorting, which need not hold up the
// goroutine that applies events (nor the inputs a state save stops).
func (c *Collector) capture() *Snapshot {
	s := &Snapshot{
		Labels:           slices.Clone(c.labels),
		Latest:           c.latest,
		Events:           collectValues(c.m.events),
		SessionsExpired:  metricValue(c.m.sessionsExpired),
		SeatLimitReached: metricValue(c.m.seatLimitReached),
	}
	if v, ok := collectValues(c.m.lastEvent)[""]; ok {
		s.LastEventTimestamp = &v
	}
	if v, ok := collectValues(c.m.seatLimitUsers)[""]; ok {
		s.SeatLimitActiveUsers = &v
	}
	overflowed, expired := collectValues(c.m.series.Overflow), collectValues(c.m.series.Expired)
	// values copies the label values of each series once, for its family
	// and every session that refers to it.
	// It is keyed by the series (a *family.Series of any metric).
	values := make(map[any][]string)
	for _, f := range c.families() {
		fs := f.snapshot(values)
		fs.Overflowed, fs.Expired = overflowed[fs.Name], expired[fs.Name]
		s.Families = append(s.Families, fs)
	}
	ref := func(st family.GaugeSeries) []string {
		v, ok := values[st]
		if !ok { // cannot happen: a held series is never expired
			v = slices.Clone(st.Values())
			values[st] = v
		}
		return v
	}
	s.Sessions = make([]SessionState, 0, len(c.sessions))
	for id, sess := range c.sessions {
		ss := SessionState{ID: id, Started: sess.started, Since: sess.since, User: sess.user}
		if sess.started {
			ss.Active = ref(sess.active)
		}
		for _, p := range sess.ports {
			ss.Ports = append(ss.Ports, PortState{Port: p.port, Mode: modeNames[p.mode], Series: ref(p.series)})
		}
		s.Sessions = append(s.Sessions, ss)
	}
	c.captureSeats(s)
	if len(c.versions.sorted) > 0 {
		s.CLIVersions = c.versions.list()
	}
	return s
}

// Sort puts the series of every family, the sessions and their ports in one
// order, so that the same state always encodes to the same bytes. Snapshot
// returns a sorted State; Run's snapshots are to be sorted by the receiver.
func (s *Snapshot) Sort() {
	for i := range s.Families {
		slices.SortFunc(s.Families[i].Series, func(a, b SeriesState) int { return slices.Compare(a.Values, b.Values) })
	}
	for i := range s.Sessions {
		slices.SortFunc(s.Sessions[i].Ports, func(a, b PortState) int {
			return cmp.Or(cmp.Compare(a.Port, b.Port), strings.Compare(a.Mode, b.Mode))
		})
	}
	slices.SortFunc(s.Sessions, func(a, b SessionState) int { return strings.Compare(a.ID, b.ID) })
}

// ErrOtherLabels is wrapped by Restore's error for a snapshot made with
// other labels than the collector's (or in another order), which
// RestoreUnlabelled can take in part.
var ErrOtherLabels = errors.New("made with other labels")

// Restore makes a collector that has applied nothing continue from s. It
// checks all of s first, and leaves the collector untouched on error.
func (c *Collector) Restore(s *Snapshot) error {
	return c.restore(s, true)
}

// RestoreUnlabelled is Restore of the parts of s that do not depend on the
// configured labels, for a snapshot made with other ones: the events,
// expired sessions and seat limit counters, the seat limit and last event
// gauges, mirrord_messages_processed_total (labelled by the operator's
// message fields alone), the CLI versions behind mirrord_cli_versions_newer,
// and every family's overflow and expiry counts. The
// families labelled with the configured labels start empty, and the
// sessions of s are dropped, as their series carry the old labels: it
// returns the names of those families.
func (c *Collector) RestoreUnlabelled(s *Snapshot) ([]string, error) {
	if err := c.restore(s, false); err != nil {
		return nil, err
	}
	var afresh []string
	for _, f := range c.families() {
		if f.labelled() {
			afresh = append(afresh, f.name())
		}
	}
	return afresh, nil
}

// restore restores s, all of it or (for a snapshot of other labels) the
// parts that do not depend on the labels.
func (c *Collector) restore(s *Snapshot, all bool) error {
	if c.used {
		return errors.New("restore state: the collector has already applied events")
	}
	if err := c.checkState(s, all); err != nil {
		return fmt.Errorf("restore state: %w", err)
	}
	c.used = true
	c.latest = s.Latest
	c.restoreSeats(s)
	for event, v := range s.Events {
		c.m.events.WithLabelValues(event).Add(v)
	}
	c.m.sessionsExpired.Add(s.SessionsExpired)
	c.m.seatLimitReached.Add(s.SeatLimitReached)
	if s.LastEventTimestamp != nil {
		c.m.lastEventGauge().Set(*s.LastEventTimestamp)
	}
	if s.SeatLimitActiveUsers != nil {
		c.m.seatLimitUsers.WithLabelValues().Set(*s.SeatLimitActiveUsers)
	}
	byName := make(map[string]*FamilyState, len(s.Families))
	for i := range s.Families {
		byName[s.Families[i].Name] = &s.Families[i]
	}
	for _, v := range s.CLIVersions {
		c.versions.add(v)
	}
	for _, f := range c.families() {
		fs := byName[f.name()]
		if fs == nil { // an optional family, absent from an older state file
			continue
		}
		if all || !f.labelled() {
			f.restore(fs)
		}
		c.m.series.Overflow.WithLabelValues(fs.Name).Add(fs.Overflowed)
		c.m.series.Expired.WithLabelValues(fs.Name).Add(fs.Expired)
	}
	if !all {
		return nil
	}
	// The client_user of a session saved before SessionState.User existed
	// is its active series' (a required label), unless that overflowed.
	userAt := slices.Index(c.labels, "client_user")
	active, ports := c.m.sessionsActive, c.m.portsActive
	for _, ss := range s.Sessions {
		sess := &session{started: ss.Started, since: ss.Since}
		if ss.Started {
			sess.active = active.Lookup(ss.Active)
			user := ss.User
			if user == "" && userAt >= 0 && !sess.active.Overflow() {
				user = ss.Active[userAt]
			}
			c.startActive(sess, user)
		}
		if len(ss.Ports) > 0 {
			sess.ports = make(heldPorts, 0, len(ss.Ports))
		}
		for _, p := range ss.Ports {
			mode, _ := parseMode(p.Mode)
			sess.ports = append(sess.ports, heldPort{portKey{p.Port, mode}, ports.Lookup(p.Series)})
		}
		c.sessions[ss.ID] = sess
	}
	c.tracked.Store(int64(len(c.sessions)))
	c.seats.restoreActive(c.activeSessions, len(c.activeUsers))
	return nil
}

// checkState returns why s cannot be restored into c, if it cannot: all of
// it, or only the parts that do not depend on the labels.
func (c *Collector) checkState(s *Snapshot, all bool) error {
	if s == nil {
		return errors.New("no state")
	}
	if all && !slices.Equal(s.Labels, c.labels) {
		return fmt.Errorf("%w: %q, not the configured %q", ErrOtherLabels, s.Labels, c.labels)
	}
	for event, v := range s.Events {
		if _, known := decode.ParseKind(event); !known {
			return fmt.Errorf("mirrord_exporter_events_total: unknown event %q", event)
		}
		if err := checkCount(v); err != nil {
			return fmt.Errorf("mirrord_exporter_events_total{event=%q}: %w", event, err)
		}
	}
	for name, v := range map[string]float64{
		"mirrord_exporter_sessions_expired_total": s.SessionsExpired,
		"mirrord_seat_limit_reached_total":        s.SeatLimitReached,
	} {
		if err := checkCount(v); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	if v := s.LastEventTimestamp; v != nil && (math.IsNaN(*v) || math.IsInf(*v, 0)) {
		return fmt.Errorf("mirrord_last_event_timestamp_seconds: %v", *v)
	}
	if v := s.SeatLimitActiveUsers; v != nil {
		if err := checkCount(*v); err != nil {
			return fmt.Errorf("mirrord_seat_limit_active_users: %w", err)
		}
	}

	if err := checkSeats(s); err != nil {
		return err
	}
	if err := checkVersions(s.CLIVersions); err != nil {
		return fmt.Errorf("cli_versions: %w", err)
	}

	fams := c.families()
	byName := make(map[string]*FamilyState, len(s.Families))
	for i := range s.Families {
		fs := &s.Families[i]
		if byName[fs.Name] != nil {
			return fmt.Errorf("family %s: twice", fs.Name)
		}
		byName[fs.Name] = fs
	}
	for _, f := range fams {
		fs := byName[f.name()]
		if fs == nil && f.optional() {
			continue
		}
		if fs == nil {
			return fmt.Errorf("family %s: missing", f.name())
		}
		delete(byName, f.name())
		check := f.check
		if !all && f.labelled() {
			check = checkCounts
		}
		if err := check(fs); err != nil {
			return fmt.Errorf("family %s: %w", fs.Name, err)
		}
	}
	if len(byName) > 0 {
		return fmt.Errorf("unknown families %v", slices.Sorted(maps.Keys(byName)))
	}
	if !all {
		return nil
	}

	// Every session must refer to series of the state, and every gauge
	// series must be held by exactly the sessions and ports referring to it.
	held := func(name string) map[string]int64 {
		out := make(map[string]int64)
		for _, fs := range s.Families {
			if fs.Name == name {
				for _, ss := range fs.Series {
					out[seriesKey(ss.Values)] = ss.Held
				}
			}
		}
		return out
	}
	active, ports := held(c.m.sessionsActive.Name()), held(c.m.portsActive.Name())
	ids := make(map[string]bool, len(s.Sessions))
	// Errors name a session or series by its place in the state, never by
	// its values: they hold user and target names, and are logged.
	for i, ss := range s.Sessions {
		if ids[ss.ID] {
			return fmt.Errorf("session #%d: its id twice", i)
		}
		ids[ss.ID] = true
		switch {
		case ss.Started != (ss.Active != nil):
			return fmt.Errorf("session #%d: started %v but active series of %d values", i, ss.Started, len(ss.Active))
		case !ss.Started && len(ss.Ports) == 0:
			return fmt.Errorf("session #%d: neither started nor holding ports", i)
		}
		if ss.Started {
			if err := take(active, ss.Active); err != nil {
				return fmt.Errorf("session #%d: %s: %w", i, c.m.sessionsActive.Name(), err)
			}
		}
		seen := make(map[portKey]bool, len(ss.Ports))
		for _, p := range ss.Ports {
			mode, ok := parseMode(p.Mode)
			if !ok {
				return fmt.Errorf("session #%d port %d: unknown mode %q", i, p.Port, p.Mode)
			}
			if seen[portKey{p.Port, mode}] {
				return fmt.Errorf("session #%d port %d %s: twice", i, p.Port, p.Mode)
			}
			seen[portKey{p.Port, mode}] = true
			if len(p.Series) == 0 || p.Series[len(p.Series)-1] != p.Mode {
				return fmt.Errorf("session #%d port %d: its series is not of mode %s", i, p.Port, p.Mode)
			}
			if err := take(ports, p.Series); err != nil {
				return fmt.Errorf("session #%d port %d: %s: %w", i, p.Port, c.m.portsActive.Name(), err)
			}
		}
	}
	for name, left := range map[string]map[string]int64{c.m.sessionsActive.Name(): active, c.m.portsActive.Name(): ports} {
		for _, n := range left {
			if n != 0 {
				return fmt.Errorf("family %s: a series held %d more times than sessions refer to it", name, n)
			}
		}
	}
	return nil
}

// checkVersions checks the CLI versions of a state: label values, each once.
func checkVersions(versions []string) error {
	seen := make(map[string]bool, len(versions))
	for i, v := range versions {
		// Named by place, never by value, as the other errors of a state.
		switch {
		case !utf8.ValidString(v) || len(v) > decode.MaxLabelValueBytes:
			return fmt.Errorf("version #%d: not a label value", i)
		case seen[v]:
			return fmt.Errorf("version #%d: twice", i)
		}
		seen[v] = true
	}
	return nil
}

// take counts one reference to the series of values against its held count.
func take(held map[string]int64, values []string) error {
	key := seriesKey(values)
	n, ok := held[key]
	if !ok {
		return errors.New("its series is not in the state")
	}
	if n <= 0 {
		return errors.New("its series is referred to more often than it is held")
	}
	held[key] = n - 1
	return nil
}

func parseMode(s string) (portMode, bool) {
	i := slices.Index(modeNames[:], s)
	return portMode(i), i >= 0
}

// checkCount accepts the value of a counter, or of a gauge that counts.
func checkCount(v float64) error {
	if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
		return fmt.Errorf("value %v is not a finite non-negative number", v)
	}
	return nil
}

// keySep separates label values in a series key: they are valid UTF-8
// (decode cuts them on rune boundaries), in which the byte 0xff never occurs.
const keySep = 0xff

// seriesKey is a map key of label values.
func seriesKey(values []string) string {
	return string(appendSeriesKey(nil, values))
}

// appendSeriesKey appends the map key of a series' label values to key.
func appendSeriesKey(key []byte, values []string) []byte {
	for i, v := range values {
		if i > 0 {
			key = append(key, keySep)
		}
		key = append(key, v...)
	}
	return key
}

// stateFamily saves and restores one capped family.
type stateFamily interface {
	name() string
	// labelled tells whether the family's series start with the
	// configured labels.
	labelled() bool
	// optional tells whether a state may lack the family, which came after
	// state files existed: it then starts empty.
	optional() bool
	snapshot(values map[any][]string) FamilyState
	check(fs *FamilyState) error
	// restore fills the family from a checked fs.
	restore(fs *FamilyState)
}

type seriesKind uint8

const (
	counterSeries seriesKind = iota
	gaugeSeries
	histogramSeries
)

// familyCodec is a stateFamily of a family.Capped: read and write move the
// value of one series between the metric and a SeriesState.
type familyCodec[T family.Metric] struct {
	v     *family.Capped[T]
	kind  seriesKind
	read  func(T, *SeriesState)
	write func(T, *SeriesState)
	// unlabelled: its series have none of the configured labels.
	unlabelled bool
	// added: a state file written before the family existed lacks it.
	added bool
}

// families are the capped families, in a fixed order.
func (c *Collector) families() []stateFamily {
	counterOf := func(v counterVec, unlabelled bool) stateFamily {
		return familyCodec[*family.Scalar]{v: v, kind: counterSeries, unlabelled: unlabelled,
			read:  func(m *family.Scalar, ss *SeriesState) { ss.Value = new(m.Value()) },
			write: func(m *family.Scalar, ss *SeriesState) { m.Add(*ss.Value) },
		}
	}
	counter := func(v counterVec) stateFamily { return counterOf(v, false) }
	gauge := func(v gaugeVec) stateFamily {
		return familyCodec[*family.Scalar]{v: v.Capped, kind: gaugeSeries,
			read:  func(m *family.Scalar, ss *SeriesState) { ss.Value = new(m.Value()) },
			write: func(m *family.Scalar, ss *SeriesState) { m.Set(*ss.Value) },
		}
	}
	m := c.m
	return []stateFamily{
		counter(m.sessionsStarted),
		counter(m.sessionsEnded),
		familyCodec[*family.Histogram]{v: m.sessionDuration, kind: histogramSeries,
			read:  func(h *family.Histogram, ss *SeriesState) { ss.Histogram = h.State() },
			write: func(h *family.Histogram, ss *SeriesState) { h.SetState(ss.Histogram) },
		},
		gauge(m.sessionsActive),
		counter(m.portsStolen),
		counter(m.portsMirrored),
		counter(m.portsReleased),
		gauge(m.portsActive),
		counter(m.targetsCopied),
		// Labelled by the operator's message fields alone.
		counterOf(m.messagesProcessed, true),
		// Labelled by client_cli_version and client_user, not the
		// configured labels, but its client_user values are the
		// configured labels' (pseudonymized alike): restored, or started
		// afresh, with them. State files written before it existed lack it.
		familyCodec[*family.Scalar]{v: m.sessionsByVersion, kind: counterSeries, added: true,
			read:  func(m *family.Scalar, ss *SeriesState) { ss.Value = new(m.Value()) },
			write: func(m *family.Scalar, ss *SeriesState) { m.Add(*ss.Value) },
		},
	}
}

func (f familyCodec[T]) name() string { return f.v.Name() }

func (f familyCodec[T]) labelled() bool { return !f.unlabelled }

func (f familyCodec[T]) optional() bool { return f.added }

func (f familyCodec[T]) snapshot(values map[any][]string) FamilyState {
	fs := FamilyState{Name: f.v.Name(), Series: make([]SeriesState, 0, f.v.Len())}
	for ch := range f.v.All {
		v := slices.Clone(ch.Values())
		values[ch] = v
		ss := SeriesState{Values: v, Overflow: ch.Overflow(), Touched: ch.Touched(), Held: ch.Held()}
		f.read(ch.Metric(), &ss)
		fs.Series = append(fs.Series, ss)
	}
	return fs
}

// checkCounts checks a family's overflow and expiry counts.
func checkCounts(fs *FamilyState) error {
	if err := checkCount(fs.Overflowed); err != nil {
		return fmt.Errorf("overflowed: %w", err)
	}
	if err := checkCount(fs.Expired); err != nil {
		return fmt.Errorf("expired: %w", err)
	}
	return nil
}

func (f familyCodec[T]) check(fs *FamilyState) error {
	if err := checkCounts(fs); err != nil {
		return err
	}
	keys := make(map[string]bool, len(fs.Series))
	for i, ss := range fs.Series {
		if err := f.checkSeries(&ss); err != nil {
			return fmt.Errorf("series #%d: %w", i, err)
		}
		key := seriesKey(ss.Values)
		if keys[key] {
			return fmt.Errorf("series #%d: its values twice", i)
		}
		keys[key] = true
	}
	return nil
}

func (f familyCodec[T]) checkSeries(ss *SeriesState) error {
	if err := f.v.CheckValues(ss.Values, ss.Overflow); err != nil {
		return err
	}
	if y := ss.Touched.Year(); !ss.Touched.IsZero() && (y < 1678 || y > 2261) {
		return fmt.Errorf("touched %v: outside the years 1678 to 2261 this exporter can hold", ss.Touched)
	}
	if f.kind != gaugeSeries && ss.Held != 0 {
		return fmt.Errorf("held %d in a family that is not a gauge", ss.Held)
	}
	if (f.kind == histogramSeries) != (ss.Value == nil) || (f.kind == histogramSeries) != (ss.Histogram != nil) {
		return errors.New("value and histogram do not match the family's type")
	}
	switch f.kind {
	case counterSeries:
		return checkCount(*ss.Value)
	case gaugeSeries:
		if ss.Held < 0 || *ss.Value != float64(ss.Held) {
			return fmt.Errorf("value %v, held %d: a gauge series is the number of its holders", *ss.Value, ss.Held)
		}
	case histogramSeries:
		return ss.Histogram.Check(sessionDurationBuckets)
	}
	return nil
}

func (f familyCodec[T]) restore(fs *FamilyState) {
	for i := range fs.Series {
		ss := &fs.Series[i]
		// check refused a series twice.
		ch := f.v.Restore(slices.Clone(ss.Values), ss.Overflow, ss.Touched, ss.Held)
		f.write(ch.Metric(), ss)
	}
}

// metricValue is the value of a counter or gauge.
func metricValue(m prometheus.Metric) float64 {
	var d dto.Metric
	if err := m.Write(&d); err != nil {
		return math.NaN() // client_golang's counters and gauges never fail
	}
	if d.Counter != nil {
		return d.Counter.GetValue()
	}
	return d.Gauge.GetValue()
}

// collectValues reads a vector with at most one label, by label value.
// Its counters and gauges are client_golang's, which never fail to be read.
func collectValues(c prometheus.Collector) map[string]float64 {
	v, _ := metricvalues.ByLabel(c)
	return v
}
