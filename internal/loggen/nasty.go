package loggen

import (
	"unicode/utf8"
)

// nastyKind is a record an exporter must survive without miscounting.
type nastyKind uint8

const (
	nastyLoud       nastyKind = iota // WARN/ERROR of other modules with odd text: ignored
	nastyNearMiss                    // message merely contains a functional one: ignored
	nastyOtherField                  // a functional message in another field: ignored
	nastyJunk                        // printable garbage: not_json
	nastyBlank                       // empty line: ignored, not malformed
	nastyTruncated                   // a record cut mid-way: invalid_json
	nastyStderrText                  // a stderr line of a panic: not_json
	nastyStderrJSON                  // a tracing record on stderr: ignored
	numNasty
)

// nasty writes the next nasty record. The kinds come in shuffled rounds so
// that every kind occurs once the log has numNasty of them.
func (g *gen) nasty(at int64) {
	if len(g.nastyOrder) == 0 {
		for _, i := range g.rng.Perm(int(numNasty)) {
			g.nastyOrder = append(g.nastyOrder, nastyKind(i))
		}
	}
	k := g.nastyOrder[0]
	g.nastyOrder = g.nastyOrder[1:]
	us := g.tick(at)
	switch k {
	case nastyLoud:
		g.emit(g.loud(us))
	case nastyNearMiss:
		g.emit(g.nearMiss(us))
	case nastyOtherField:
		g.emit(g.otherField(us))
	case nastyJunk:
		g.tally.bad(reasonNotJSON)
		g.emit(g.junk())
	case nastyBlank:
		g.emit(nil)
	case nastyTruncated:
		g.tally.bad(reasonBadJSON)
		g.emit(g.truncated(us))
	case nastyStderrText, nastyStderrJSON:
		b := g.stderrRecord(k == nastyStderrJSON)
		g.out.record(b, true, g.clock, nil)
	}
}

// loud builds an unrelated WARN/ERROR record with text that needs every
// kind of JSON escape: quotes, backslashes, newlines, tabs, a control
// character and non-ASCII.
func (g *gen) loud(us int64) []byte {
	r := rec{b: g.buf[:0]}
	switch g.rng.IntN(4) {
	case 0:
		g.header(&r, us, "ERROR", false)
		r.str("message", "failed to list objects")
		r.str("error", `ApiError: "forbidden: User \"system:serviceaccount:mirrord:mirrord-operator\" cannot list resource \"pods\" in API group \"\" at the cluster scope" (C:\temp\kube)`)
		g.footer(&r, "kube_runtime::watcher", "kube-runtime/src/watcher.rs", false, 0)
	case 1:
		g.header(&r, us, "WARN", false)
		r.str("message", "license expires soon ⚠️ — renew at https://app.metalbear.co")
		r.int("days_left", 3)
		g.footer(&r, "operator_license::check", "operator/license/src/check.rs", false, 1)
	case 2:
		g.header(&r, us, "ERROR", true)
		r.str("message", "certificate rotation failed\n\tcaused by: x509: certificate has expired\r\n")
		g.footer(&r, "operator::tls", "operator/src/tls.rs", true, 2)
	default:
		g.header(&r, us, "DEBUG", false)
		r.str("message", "read eof")
		r.str("peer", "\x01\x7f10.0.0.7:51234 \u2028")
		g.footer(&r, "hyper::proto::h1::conn", "hyper/src/proto/h1/conn.rs", false, 3)
	}
	g.buf = r.b
	return r.b
}

// nearMissMessages contain a functional message, or differ from one only in
// case or punctuation: the exporter matches the whole message exactly.
func nearMissMessages() []string {
	return []string{
		"Session Start failed", "Port Steal requested", "session start", "Session Started (retry 2)",
		`Copy Target failed: pods "mirrord-copy-x" already exists`, "Session End handler panicked",
		"Port Mirror denied by policy", "Max seat count reached", "Port Released!", "Message Processing failed",
		"Session Start: waiting for agent", "SESSION END",
	}
}

// nearMiss builds a record with all the fields of a session event and a
// message that is not one.
func (g *gen) nearMiss(us int64) []byte {
	p := g.pop.pickParty(g.rng)
	flat := p.repr.flattenable() && g.rng.IntN(3) == 0
	msgs := nearMissMessages()
	r := rec{b: g.buf[:0]}
	g.header(&r, us, []string{"INFO", "WARN", "ERROR", "DEBUG"}[g.rng.IntN(4)], flat)
	r.str("message", msgs[g.rng.IntN(len(msgs))])
	r.str("session_id", g.newSession(p).id)
	clientFields(&r, p.c)
	targetFields(&r, p, flat)
	r.int("port", 8080)
	r.raw("session_duration", "12.5")
	g.footer(&r, "operator_session::controller", "operator/session/src/controller.rs", flat, 0)
	g.buf = r.b
	return r.b
}

// otherField builds a record whose message is not functional but which
// carries a functional message elsewhere: in another field, in a span name,
// or inside a logged JSON text.
func (g *gen) otherField(us int64) []byte {
	p := g.pop.pickParty(g.rng)
	s := g.newSession(p)
	r := rec{b: g.buf[:0]}
	switch g.rng.IntN(4) {
	case 0:
		g.header(&r, us, "INFO", false)
		r.str("message", "reconciling session")
		r.str("event", "Session Start")
		r.str("session_id", s.id)
		clientFields(&r, p.c)
		targetFields(&r, p, false)
		g.footer(&r, "operator_session::controller", "operator/session/src/controller.rs", false, 1)
	case 1:
		g.header(&r, us, "DEBUG", false)
		r.str("message", "handling request")
		r.str("session_id", s.id)
		r.int("port", 80)
		r.end()
		r.str("target", "operator_session::ports")
		r.open("span")
		r.str("name", "Port Steal")
		r.end()
		r.openArray("spans")
		r.elem()
		r.str("name", "Port Steal")
		r.end()
		r.endArray()
		r.end()
	case 2:
		g.header(&r, us, "INFO", true)
		r.str("message", "audit")
		r.str("msg", "Session End")
		r.str("kind", "Port Release")
		r.str("session_id", s.id)
		r.raw("session_duration", "3.25")
		g.footer(&r, "operator::audit", "operator/src/audit.rs", true, 1)
	default:
		g.header(&r, us, "DEBUG", false)
		r.str("message", "forwarding log line")
		r.str("line", `{"timestamp":"2026-08-17T18:15:08.583869Z","level":"INFO","fields":{"message":"Session Start","session_id":"`+s.id+`"},"target":"operator_session::controller"}`)
		g.footer(&r, "operator::logs", "operator/src/logs.rs", false, 1)
	}
	g.buf = r.b
	return r.b
}

// junk builds a line of printable ASCII that does not start with "{" (nor
// with anything else JSON or a tracing plain-text line could start with),
// sometimes with a functional record embedded.
func (g *gen) junk() []byte {
	const first = "ABCDEGHIJKLMOPQRSUVWXYZ#%&*<>?@^~|"
	b := g.buf[:0]
	b = append(b, first[g.rng.IntN(len(first))])
	for range 4 + g.rng.IntN(200) {
		b = append(b, byte(0x20+g.rng.IntN(0x7f-0x20)))
	}
	if g.rng.IntN(4) == 0 {
		b = append(b, ` retry: {"fields":{"message":"Session Start","session_id":"0000000000000000"}}`...)
	}
	g.buf = b
	return b
}

// truncated builds a record cut mid-way, as a crash or a full disk leaves
// it: half of them a functional record (which must not count).
func (g *gen) truncated(us int64) []byte {
	var b []byte
	if g.rng.IntN(2) == 0 {
		p := g.pop.pickParty(g.rng)
		k := []kind{kStart, kEnd, kSteal, kMirror}[g.rng.IntN(4)]
		b = g.functionalRecord(&event{kind: k, sess: g.newSession(p), party: p, port: 8080, dur: 90 * second}, us)
	} else {
		b = g.noiseBytes(us)
	}
	n := len(b)/4 + g.rng.IntN(len(b)/2)
	for n > 1 && (!utf8.RuneStart(b[n]) || b[n-1] == '}') {
		n--
	}
	return b[:n]
}

// stderrRecord builds a record of the operator's stderr: a tracing record,
// or a line of a Rust panic (not JSON). It is a fresh slice, as it may be
// written between the parts of the record in g.buf.
func (g *gen) stderrRecord(asJSON bool) []byte {
	if asJSON {
		r := rec{}
		g.header(&r, g.tick(g.clock), "ERROR", false)
		r.str("message", "shutting down: SIGTERM received")
		g.footer(&r, "operator::main", "operator/src/main.rs", false, 1)
		return r.b
	}
	g.tally.bad(reasonNotJSON)
	lines := []string{
		"thread 'tokio-runtime-worker' panicked at operator/session/src/agent.rs:212:9:",
		"called `Result::unwrap()` on an `Err` value: Kube(Api(ErrorResponse { status: \"Failure\", code: 409 }))",
		"note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace",
		"Error: failed to bind 0.0.0.0:3000: Address already in use (os error 98)",
		"   0: std::panicking::begin_panic_handler",
	}
	return []byte(lines[g.rng.IntN(len(lines))])
}
