package collector

import (
	"fmt"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mirrord-exporter/mirrord-exporter/decode"
	"github.com/mirrord-exporter/mirrord-exporter/family"
)

// Config configures a Collector.
type Config struct {
	Labels decode.LabelConfig
	// SessionMaxAge drops a session that never ended from the active gauges
	// once it is this old; 0 keeps sessions forever.
	SessionMaxAge time.Duration
	// Limits caps the series of every labelled family.
	Limits Limits
	// Now stamps events whose record had no timestamp, and series when they
	// are updated (for Limits.SeriesTTL); time.Now when nil.
	Now        func() time.Time
	Registerer prometheus.Registerer
	// CappedRegisterer, when set, takes the capped families (those
	// labelled with values from the log) instead of Registerer: the
	// exporter keeps them apart and has them write their own exposition
	// (Families), which spares building client_golang's form of every
	// series.
	CappedRegisterer prometheus.Registerer
}

// Limits bound the series of each metric family labelled with values from
// the log, which come from users' machines.
type Limits struct {
	// MaxSeries is the most label tuples a family gives a series of their
	// own; the rest go to its OverflowValue series. 0 means no cap.
	MaxSeries int
	// SeriesTTL deletes a series not updated for this long (gauge series
	// only at zero); 0 never does, because deleting a counter resets it.
	SeriesTTL time.Duration
}

// Collector owns the session and port state and the metrics it feeds. It is
// the only place that changes state: one goroutine calls Apply, Expire,
// ExpireSeries, Snapshot and Restore; scrapes read the metrics
// concurrently, which client_golang and family.Vec make safe.
type Collector struct {
	m        *metrics
	labels   []string // the configured label names, which a restored Snapshot must have
	maxAge   time.Duration
	now      func() time.Time
	sessions map[string]*session
	tracked  atomic.Int64 // len(sessions), read by scrapes
	latest   time.Time    // newest operator timestamp of a functional event
	// used is set by anything that changes state: Restore only starts
	// from nothing.
	used bool
	// seats are the identities seen and the peaks of concurrent use, which
	// the seat gauges are computed from; activeSessions and activeUsers
	// (active sessions by client_user) feed the peaks.
	seats          *seats
	forgotten      *prometheus.CounterVec
	activeSessions int
	activeUsers    map[string]int
	// versions are the CLI versions of the sessions started, behind
	// mirrord_cli_versions_newer.
	versions *cliVersions
	// plusOne is scratch for an event's labels plus a label of the
	// exporter's own, saving an allocation per port and copy event;
	// family.Capped copies the values of a series it creates.
	plusOne []string
}

type portMode uint8

const (
	modeSteal portMode = iota
	modeMirror
)

var modeNames = [...]string{modeSteal: "steal", modeMirror: "mirror"}

type portKey struct {
	port uint16
	mode portMode
}

// heldPort is a port a session steals or mirrors, with the gauge series the
// steal or mirror raised.
type heldPort struct {
	portKey
	series family.GaugeSeries
}

// heldPorts are a session's ports, searched in order: a session holds a
// handful, and a map would cost over 200 bytes from its first.
type heldPorts []heldPort

// index returns the position of key in ps, or -1.
func (ps heldPorts) index(key portKey) int {
	for i, p := range ps {
		if p.portKey == key {
			return i
		}
	}
	return -1
}

// without returns ps without the port at i; the order of the rest changes.
func (ps heldPorts) without(i int) heldPorts {
	last := len(ps) - 1
	ps[i] = ps[last]
	ps[last] = heldPort{}
	return ps[:last]
}

// session is what is known of one session id. A session may be known only
// through its port events when its start came before the exporter did.
type session struct {
	started bool
	active  family.GaugeSeries // the gauge series the Start record raised, to lower at its end
	since   time.Time
	ports   heldPorts
	user    string // the Start record's client_user, counted in activeUsers
}

// New registers the metrics on cfg.Registerer and returns an empty Collector.
func New(cfg Config) (*Collector, error) {
	c := &Collector{
		labels:      cfg.Labels.Names(),
		maxAge:      cfg.SessionMaxAge,
		now:         cfg.Now,
		sessions:    make(map[string]*session),
		activeUsers: make(map[string]int),
	}
	if c.now == nil {
		c.now = time.Now
	}
	if cfg.Limits.MaxSeries < 0 || cfg.Limits.SeriesTTL < 0 {
		return nil, fmt.Errorf("negative series limits %+v", cfg.Limits)
	}
	capped := cfg.CappedRegisterer
	if capped == nil {
		capped = cfg.Registerer
	}
	m, err := newMetrics(cfg.Registerer, capped, cfg.Labels.Names(), cfg.Limits, c.now, func() float64 { return float64(c.tracked.Load()) })
	if err != nil {
		return nil, fmt.Errorf("register metrics: %w", err)
	}
	c.m = m
	c.forgotten = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "mirrord_exporter_identities_forgotten_total",
		Help: "Clients (client_id) and users (client_user) dropped from mirrord_clients_seen and mirrord_users_seen, least recently seen first, because more than --metrics.max-series of a kind were tracked.",
	}, []string{"kind"})
	c.versions = newCLIVersions(cfg.Limits.MaxSeries)
	c.seats = &seats{
		clients: newSeenSet(cfg.Limits.MaxSeries, c.forgotten.WithLabelValues(kindClient)),
		users:   newSeenSet(cfg.Limits.MaxSeries, c.forgotten.WithLabelValues(kindUser)),
	}
	for _, col := range []prometheus.Collector{c.forgotten, newSeatMetrics(c.seats), c.versions.gauge} {
		if err := cfg.Registerer.Register(col); err != nil {
			return nil, fmt.Errorf("register metrics: %w", err)
		}
	}
	return c, nil
}

// Families returns the capped families, sorted by name, which write their
// own exposition straight from their series.
func (c *Collector) Families() []family.Exposer { return c.m.families }

// Apply changes state and metrics for one event. It cannot fail: the decoder
// only hands over events whose fields are valid.
func (c *Collector) Apply(ev *decode.Event) {
	c.used = true
	if ev.Time.IsZero() {
		ev.Time = c.now()
	}
	c.m.event(ev.Kind).Inc()
	if ev.Kind.Functional() && ev.Time.After(c.latest) {
		c.latest = ev.Time
		c.m.lastEventGauge().Set(float64(ev.Time.UnixMicro()) / 1e6)
	}
	switch ev.Kind {
	case decode.SessionStart:
		seriesOfEvent(c.m.sessionsStarted, ev).Inc()
		seriesOf(c.m.sessionsByVersion, ev.ClientCLIVersion, ev.ClientUser).Inc()
		c.versions.add(ev.ClientCLIVersion)
		s := c.session(ev.SessionID, ev.Time)
		if !s.started {
			s.started, s.since = true, ev.Time
			s.active = c.m.sessionsActive.IncOwn(ev.Labels)
			c.startActive(s, ev.ClientUser)
		}
	case decode.SessionEnd:
		seriesOfEvent(c.m.sessionsEnded, ev).Inc()
		if ev.HasDuration {
			seriesOfEvent(c.m.sessionDuration, ev).Observe(ev.Duration)
		}
		if s, ok := c.sessions[ev.SessionID]; ok {
			c.drop(ev.SessionID, s)
		}
	case decode.PortSteal, decode.PortMirror:
		mode := modeMirror
		if ev.Kind == decode.PortSteal {
			mode = modeSteal
			seriesOf(c.m.portsStolen, c.withLabel(ev.Labels, boolLabel(ev.HTTPFiltered))...).Inc()
		} else {
			seriesOfEvent(c.m.portsMirrored, ev).Inc()
		}
		s := c.session(ev.SessionID, ev.Time)
		key := portKey{ev.Port, mode}
		if s.ports.index(key) < 0 {
			s.ports = append(s.ports, heldPort{key, c.m.portsActive.Inc(c.withLabel(ev.Labels, modeNames[mode])...)})
		}
	case decode.PortRelease:
		seriesOfEvent(c.m.portsReleased, ev).Inc()
		if s, ok := c.sessions[ev.SessionID]; ok {
			for _, mode := range []portMode{modeSteal, modeMirror} {
				c.releasePort(s, portKey{ev.Port, mode})
			}
			if !s.started && len(s.ports) == 0 {
				c.forget(ev.SessionID)
			}
		}
	case decode.CopyTarget:
		seriesOf(c.m.targetsCopied, c.withLabel(ev.Labels, boolLabel(ev.ScaleDown))...).Inc()
	case decode.SeatLimit:
		c.m.seatLimitReached.Inc()
		c.m.seatLimitUsers.WithLabelValues().Set(ev.ActiveUsers)
	case decode.MessageProcessing:
		seriesOf(c.m.messagesProcessed, ev.EventType, ev.Mode, ev.QueueType, ev.StatusClass).Inc()
	}
	if ev.Kind.Functional() {
		c.seats.event(ev.ClientID, ev.ClientUser, ev.Time, c.latest, c.activeSessions, len(c.activeUsers))
	}
}

// Expire drops sessions older than the maximum age at now from the active
// gauges, and returns how many it dropped.
func (c *Collector) Expire(now time.Time) int {
	c.used = true
	if c.maxAge <= 0 {
		return 0
	}
	dropped := 0
	for id, s := range c.sessions {
		if now.Sub(s.since) > c.maxAge {
			c.drop(id, s)
			dropped++
		}
	}
	c.m.sessionsExpired.Add(float64(dropped))
	if dropped > 0 {
		c.seats.activeChanged(c.activeSessions, len(c.activeUsers))
	}
	return dropped
}

// ExpireSeries deletes the series of every capped family not updated for
// Limits.SeriesTTL at now (gauge series only at zero), and returns how many
// it deleted.
func (c *Collector) ExpireSeries(now time.Time) int {
	c.used = true
	n := 0
	for _, f := range c.m.expirers {
		n += f.Expire(now)
	}
	return n
}

// LatestEventTime is the operator's timestamp of the newest session, port or
// copy event applied so far: the log's own "now" when replaying a saved log.
func (c *Collector) LatestEventTime() time.Time { return c.latest }

func (c *Collector) session(id string, t time.Time) *session {
	s, ok := c.sessions[id]
	if !ok {
		s = &session{since: t}
		c.sessions[id] = s
		c.tracked.Store(int64(len(c.sessions)))
	}
	return s
}

// drop takes a session and its ports off the gauges and forgets it.
func (c *Collector) drop(id string, s *session) {
	if s.started {
		c.m.sessionsActive.Dec(s.active)
		c.endActive(s)
	}
	for _, p := range s.ports {
		c.m.portsActive.Dec(p.series)
	}
	c.forget(id)
}

func (c *Collector) releasePort(s *session, key portKey) {
	if i := s.ports.index(key); i >= 0 {
		series := s.ports[i].series
		s.ports = s.ports.without(i)
		c.m.portsActive.Dec(series)
	}
}

// startActive counts a session that started, of user, as active.
func (c *Collector) startActive(s *session, user string) {
	c.activeSessions++
	if user != "" {
		s.user = user
		c.activeUsers[user]++
	}
}

// endActive undoes startActive.
func (c *Collector) endActive(s *session) {
	c.activeSessions--
	if s.user == "" {
		return
	}
	if n := c.activeUsers[s.user] - 1; n > 0 {
		c.activeUsers[s.user] = n
	} else {
		delete(c.activeUsers, s.user)
	}
}

func (c *Collector) forget(id string) {
	delete(c.sessions, id)
	c.tracked.Store(int64(len(c.sessions)))
}

func boolLabel(b bool) string {
	if b {
		return "true"
	}
	return "false"
}

// seriesOf returns the metric of a capped family for values: its own series,
// or the overflow series past the cap.
func seriesOf[T family.Metric](v *family.Capped[T], values ...string) T {
	return v.With(values...).Metric()
}

// seriesOfEvent is seriesOf for the event's labels, which a new series keeps.
func seriesOfEvent[T family.Metric](v *family.Capped[T], ev *decode.Event) T {
	return v.WithOwn(ev.Labels).Metric()
}

// withLabel returns labels plus one more value, in c.plusOne: valid until
// the next call, and never written into labels' backing array.
func (c *Collector) withLabel(labels []string, v string) []string {
	c.plusOne = append(append(c.plusOne[:0], labels...), v)
	return c.plusOne
}
