package loggen

import (
	"cmp"
	"fmt"
	"math"
	"slices"
)

// kind is a functional event of the operator.
type kind uint8

const (
	kStart kind = iota
	kEnd
	kSteal
	kMirror
	kRelease
	kCopy
	kSeat
	kMessage
)

// name is the event's value of the exporter's `event` label.
func (k kind) name() string {
	return [...]string{"session_start", "session_end", "port_steal", "port_mirror", "port_release", "copy_target", "seat_limit", "message_processing"}[k]
}

// messages gives the event's two spellings (code, public docs).
func (k kind) messages() [2]string {
	return [...][2]string{
		{"Session Start", "Session Started"},
		{"Session End", "Session Ended"},
		{"Port Steal", "Port Stolen"},
		{"Port Mirror", "Port Mirrored"},
		{"Port Release", "Port Released"},
		{"Copy Target", "Target Copied"},
		{"Max seat count reached!", "Max seat count reached!"},
		{"Message Processing", "Message Processing"},
	}[k]
}

func (k kind) isPort() bool { return k == kSteal || k == kMirror || k == kRelease }

// defect makes a functional record invalid; the exporter must count it as
// malformed and apply nothing of it.
type defect uint8

const (
	valid defect = iota
	noSessionID
	noPort
	portTooBig   // 70000 or "70000"
	portNegative // -1
	portWord     // "http"
	durNegative
	durNaN  // "NaN"
	durWord // "unknown"
	noScaleDown
	scaleDownWord // "yes"
	noActiveUsers
	activeUsersWord // "many"
	numDefects
)

func (d defect) reason() string {
	switch d {
	case noSessionID, noPort, noScaleDown, noActiveUsers:
		return "missing_field"
	}
	return "invalid_field"
}

// kinds a defect can be put on.
func (d defect) kinds() []kind {
	switch d {
	case noSessionID:
		return []kind{kStart, kEnd, kSteal, kMirror, kRelease}
	case noPort, portTooBig, portNegative, portWord:
		return []kind{kSteal, kMirror, kRelease}
	case durNegative, durNaN, durWord:
		return []kind{kEnd}
	case noScaleDown, scaleDownWord:
		return []kind{kCopy}
	}
	return []kind{kSeat}
}

// session is one mirrord session.
type session struct {
	id string // 16 upper-case hex digits
	*party
}

// message is the payload of a Message Processing record.
type message struct {
	service, sessionKey, eventType, mode string
	method, path                         string
	status                               int // 0: no response_status_code
	queueType, queueName                 string
}

// event is one planned functional record.
type event struct {
	at        int64 // µs after Config.Start
	kind      kind
	sess      *session // session events and port events
	party     *party   // who the record is about (the session's party, or the copied target's)
	port      int
	filter    string // http_filter, when hasFilter
	hasFilter bool
	dur       int64 // session_duration, µs
	noDur     bool  // an End planned without session_duration
	scale     bool  // scale_down
	users     int   // active_users
	msg       *message
	defect    defect
	big       int // > 0: pad the record to about this many bytes
}

// lifetime is a session's planned window, for placing extra records in it.
type lifetime struct {
	s          *session
	start, end int64
}

const second = int64(1e6) // µs

// plan lays out every functional record of the log, sorted by time.
func (g *gen) plan() {
	span := g.span
	var lives []lifetime
	for i := range g.cfg.Sessions {
		lives = append(lives, g.planSession(i == 0))
	}
	if g.cfg.Sessions > 0 {
		for range max(1, g.cfg.Sessions/40) {
			g.add(&event{at: g.rng.Int64N(span), kind: kSeat, party: g.pop.pickParty(g.rng), users: 20 + g.rng.IntN(40)})
		}
	}
	if g.cfg.Nasty {
		g.planNasty(lives)
	}
	if g.cfg.BigLines {
		g.planBig()
	}
	slices.SortStableFunc(g.events, func(a, b *event) int { return cmp.Compare(a.at, b.at) })
}

func (g *gen) add(e *event) { g.events = append(g.events, e) }

func (g *gen) newSession(p *party) *session {
	return &session{id: fmt.Sprintf("%016X", g.rng.Uint64()), party: p}
}

// sessionLength is log-uniform between 10 s and 3 h, as real sessions range
// from a quick check to an afternoon of debugging.
func (g *gen) sessionLength() int64 {
	lo, hi := math.Log(10), math.Log(3*3600)
	return int64(math.Exp(lo+g.rng.Float64()*(hi-lo)) * float64(second))
}

// planSession plans one session. The first one of a log is forced to hold
// every kind of event so that all of them occur whenever Sessions > 0.
func (g *gen) planSession(first bool) lifetime {
	span := g.span
	p := g.pop.pickParty(g.rng)
	start := g.rng.Int64N(span*9/10 + 1)
	end := start + g.sessionLength()
	ended := end < span && g.rng.IntN(20) != 0
	copied := p.repr < reprNone && g.rng.IntN(10) == 0
	if first {
		for p.repr >= reprNone {
			p = g.pop.pickParty(g.rng)
		}
		start = span / 100
		end = start + min(end-start, span/2)
		ended, copied = true, true
	}
	if !ended {
		end = span
	}
	if copied {
		g.add(&event{at: max(0, start-1-g.rng.Int64N(3*second)), kind: kCopy, party: p, scale: g.rng.IntN(3) == 0})
		p = copyParty(g.rng, p)
	}
	s := g.newSession(p)
	g.add(&event{at: start, kind: kStart, sess: s, party: p})
	g.planPorts(s, start, end, first)
	if ended {
		g.add(&event{at: end, kind: kEnd, sess: s, party: p, dur: end - start, noDur: g.rng.IntN(30) == 0})
	}
	return lifetime{s: s, start: start, end: end}
}

// commonPorts are what developers steal and mirror.
func commonPorts() []int { return []int{80, 443, 3000, 5000, 8000, 8080, 8443, 9090, 50051} }

// httpFilters are the kinds of http_filter clients set (some with quotes).
func httpFilters() []string {
	return []string{"path=/api", "path=^/v1/orders", `header=x-user: %s`, `header=x-debug: "on"`, "path=/health|/ready", "header=baggage: mirrord-session=%s"}
}

// planPorts plans a session's port events between from and to (µs), and
// some Message Processing records while a port is held. Besides the plain
// steal-then-release, it plans what the exporter's ports_active gauge must
// get right: a repeated steal, a steal and a mirror of the same port, a
// release of a port never taken, and ports still held at the End.
func (g *gen) planPorts(s *session, from, to int64, all bool) {
	rng := g.rng
	ports := commonPorts()
	n := rng.IntN(4)
	if all {
		n = 2
	}
	if to-from < 4 {
		return
	}
	prev := 0
	for i := range n {
		port := ports[rng.IntN(len(ports))]
		if prev != 0 && rng.IntN(10) == 0 {
			port = prev // both modes on one port
		}
		prev = port
		k := kSteal
		if rng.IntN(5) < 2 {
			k = kMirror
		}
		if all {
			k = []kind{kSteal, kMirror}[i]
		}
		t1 := from + 1 + rng.Int64N((to-from)/2)
		e := &event{at: t1, kind: k, sess: s, party: s.party, port: port}
		if k == kSteal && rng.IntN(5) < 2 {
			e.filter, e.hasFilter = g.httpFilter(s.c), true
		}
		g.add(e)
		if rng.IntN(20) == 0 {
			dup := *e
			dup.at = min(to, t1+rng.Int64N(5*second))
			g.add(&dup)
		}
		held := to
		if rng.IntN(2) == 0 || (all && i == 0) {
			held = t1 + 1 + rng.Int64N(to-t1-1)
			g.add(&event{at: held, kind: kRelease, sess: s, party: s.party, port: port})
		}
		if rng.IntN(5) < 2 || (all && i == 0) {
			g.planMessages(s, k, t1, held)
		}
	}
	if rng.IntN(30) == 0 {
		g.add(&event{at: from + 1 + rng.Int64N(to-from-1), kind: kRelease, sess: s, party: s.party, port: 1 + rng.IntN(65535)})
	}
}

func (g *gen) httpFilter(c *client) string {
	rng := g.rng
	if rng.IntN(50) == 0 {
		return "" // present but empty: not filtered
	}
	f := httpFilters()[rng.IntN(len(httpFilters()))]
	switch f {
	case `header=x-user: %s`:
		return fmt.Sprintf(f, c.user)
	case "header=baggage: mirrord-session=%s":
		return fmt.Sprintf(f, c.name)
	}
	return f
}

// planMessages plans Message Processing records of a held port.
func (g *gen) planMessages(s *session, k kind, from, to int64) {
	rng := g.rng
	if to-from < 2 {
		return
	}
	mode := "steal"
	if k == kMirror {
		mode = "mirror"
	}
	queues := []string{"sqs", "azure_service_bus", "bullmq", "rmq", "gcp_pubsub", "kafka", "redis_pubsub"}
	methods := []string{"GET", "GET", "GET", "POST", "PUT", "DELETE"}
	statuses := []int{200, 200, 200, 201, 204, 101, 302, 404, 409, 500, 503}
	for range 1 + rng.IntN(6) {
		m := &message{service: s.t.name, sessionKey: s.id[:8], mode: mode}
		if m.service == "" {
			m.service = "local"
		}
		switch n := rng.IntN(10); {
		case n < 6:
			m.eventType = "http"
			m.method = methods[rng.IntN(len(methods))]
			m.path = fmt.Sprintf("/api/orders/%d", rng.IntN(10000))
			if rng.IntN(20) != 0 {
				m.status = statuses[rng.IntN(len(statuses))]
			}
		case n < 9:
			m.eventType = "queue"
			m.queueType = queues[rng.IntN(len(queues))]
			m.queueName = "orders-" + m.queueType
		default:
			m.eventType = "message_bus"
		}
		g.add(&event{at: from + 1 + rng.Int64N(to-from-1), kind: kMessage, sess: s, party: s.party, msg: m})
	}
}

// planNasty adds the functional records an exporter gets wrong most easily:
// sessions whose Start came before the log (their ports and End only), a
// repeated Start of an active session, and invalid records of every defect.
func (g *gen) planNasty(lives []lifetime) {
	rng, span := g.rng, g.span
	repeats := max(1, g.cfg.Sessions/50)
	for try := 0; repeats > 0 && try < 20*len(lives); try++ {
		if l := lives[rng.IntN(len(lives))]; l.end-l.start > 2 {
			g.add(&event{at: l.start + 1 + rng.Int64N(l.end-l.start-1), kind: kStart, sess: l.s, party: l.s.party})
			repeats--
		}
	}
	for range max(1, g.cfg.Sessions/50) {
		p := g.pop.pickParty(rng)
		s := g.newSession(p)
		start := -g.sessionLength()
		end := 1 + rng.Int64N(span*9/10+1)
		g.planPorts(s, 0, end, false)
		g.add(&event{at: end, kind: kEnd, sess: s, party: p, dur: end - start})
		lives = append(lives, lifetime{s: s, start: 0, end: end})
	}
	invalid := max(int(numDefects-1), len(g.events)/100)
	for i := range invalid {
		d := defect(1 + i%int(numDefects-1))
		ks := d.kinds()
		e := &event{at: rng.Int64N(span), kind: ks[rng.IntN(len(ks))], defect: d, port: commonPorts()[0], users: 40}
		if len(lives) > 0 && e.kind != kSeat && e.kind != kCopy {
			l := lives[rng.IntN(len(lives))]
			e.sess, e.party = l.s, l.s.party
			e.at = l.start + rng.Int64N(l.end-l.start+1)
			e.dur = e.at - l.start
		} else {
			e.party = g.pop.pickParty(rng)
			e.sess = g.newSession(e.party)
		}
		g.add(e)
	}
}

// planBig pads some valid Port Steals (with a long http_filter) and Starts
// (with a long spans array) beyond 16 KiB.
func (g *gen) planBig() {
	want := max(2, len(g.events)/200)
	for try := 0; want > 0 && try < 50*len(g.events); try++ {
		e := g.events[g.rng.IntN(len(g.events))]
		if e.defect == valid && e.big == 0 && (e.kind == kSteal || e.kind == kStart) {
			e.big = 20<<10 + g.rng.IntN(40<<10)
			want--
		}
	}
}
