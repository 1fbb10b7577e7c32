package loggen

import (
	"strconv"
)

// where gives the module path and source file of the operator code that
// logs an event.
func (k kind) where() (module, file string) {
	switch k {
	case kStart, kEnd:
		return "operator_session::controller", "operator/session/src/controller.rs"
	case kSteal, kMirror, kRelease:
		return "operator_session::ports", "operator/session/src/ports.rs"
	case kCopy:
		return "operator_copy_target::controller", "operator/copy-target/src/controller.rs"
	case kSeat:
		return "operator_license::seats", "operator/license/src/seats.rs"
	}
	return "operator_session::messages", "operator/session/src/messages.rs"
}

// functionalRecord builds the record of e at us. The spelling of the
// message, the layout and the JSON types of numbers and bools vary per
// record; none of that changes what the exporter must count.
func (g *gen) functionalRecord(e *event, us int64) []byte {
	bits := g.rng.Uint64()
	p := e.party
	flat := p.repr.flattenable() && bits%10 == 0
	bits /= 10
	strNum := bits%4 == 0 // numbers as numeric strings
	bits /= 4
	msg := e.kind.messages()[bits%2]
	bits /= 2

	r := rec{b: g.buf[:0]}
	g.header(&r, us, "INFO", flat)
	r.str("message", msg)
	switch e.kind {
	case kSeat:
		seatFields(&r, e, strNum)
	case kMessage:
		messageFields(&r, e.msg, us, strNum)
	default:
		if e.kind != kCopy && e.defect != noSessionID {
			r.str("session_id", e.sess.id)
		}
		clientFields(&r, p.c)
		targetFields(&r, p, flat)
		g.eventFields(&r, e, strNum)
	}
	module, file := e.kind.where()
	if e.big > 0 && e.kind == kStart {
		// Padding by a deep spans array, as a record logged inside many
		// nested spans has.
		if !flat {
			r.end()
		}
		r.str("target", module)
		r.openArray("spans")
		for len(r.b) < e.big {
			r.elem()
			r.str("name", "layer")
			r.key("id")
			r.b = appendJSONString(r.b, appendBase36(nil, g.rng.Uint64()))
			r.str("session_id", e.sess.id)
			r.end()
		}
		r.endArray()
		r.end()
	} else {
		g.footer(&r, module, file, flat, bits)
	}
	g.buf = r.b
	return r.b
}

func clientFields(r *rec, c *client) {
	r.str("client_hostname", c.host)
	r.str("client_name", c.name)
	r.str("client_user", c.user)
	r.str("client_id", c.id)
	if c.version != "" {
		r.str("client_cli_version", c.version)
	}
}

// targetFields writes the target as p spells it. In the flattened layout a
// `target` field would clash with the module path, so it is left out there
// (parties whose target is only known from it are never flattened).
func targetFields(r *rec, p *party, flat bool) {
	t := p.t
	ns := func() { r.str("target_namespace", t.ns) }
	typeName := func() {
		r.str("target_type", t.typ)
		r.str("target_name", t.name)
	}
	switch p.repr {
	case reprFields:
		ns()
		typeName()
	case reprFieldsString:
		if !flat {
			r.str("target", t.path(p.container))
		}
		ns()
		typeName()
	case reprString:
		r.str("target", t.path(p.container))
	case reprStringNS:
		ns()
		r.str("target", t.path(p.container))
	case reprNoneNS:
		ns()
	case reprTargetless:
		r.str("target", "targetless")
	case reprTargetlessNS:
		ns()
		r.str("target", "targetless")
	}
}

// num writes an integer as a JSON number or a numeric string.
func num(r *rec, k string, v int64, asString bool) {
	if asString {
		r.str(k, strconv.FormatInt(v, 10))
		return
	}
	r.int(k, v)
}

// eventFields writes port, http_filter, session_duration or scale_down,
// spoiled as e.defect says.
func (g *gen) eventFields(r *rec, e *event, strNum bool) {
	switch {
	case e.kind.isPort():
		switch e.defect {
		case noPort:
		case portTooBig:
			num(r, "port", 70000, strNum)
		case portNegative:
			r.raw("port", "-1")
		case portWord:
			r.str("port", "http")
		default:
			num(r, "port", int64(e.port), strNum)
		}
		if e.hasFilter {
			r.str("http_filter", e.filter)
		}
	case e.kind == kEnd:
		d := strconv.FormatFloat(float64(e.dur)/1e6, 'f', -1, 64)
		switch e.defect {
		case durNegative:
			r.raw("session_duration", "-"+d)
		case durNaN:
			r.str("session_duration", "NaN")
		case durWord:
			r.str("session_duration", "unknown")
		default:
			if e.noDur {
				break
			}
			if strNum {
				r.str("session_duration", d)
			} else {
				r.raw("session_duration", d)
			}
		}
	case e.kind == kCopy:
		switch e.defect {
		case noScaleDown:
		case scaleDownWord:
			r.str("scale_down", "yes")
		default:
			v := strconv.FormatBool(e.scale)
			if g.rng.IntN(3) == 0 {
				r.str("scale_down", v)
			} else {
				r.raw("scale_down", v)
			}
		}
	}
}

func seatFields(r *rec, e *event, strNum bool) {
	switch e.defect {
	case noActiveUsers:
	case activeUsersWord:
		r.str("active_users", "many")
	default:
		num(r, "active_users", int64(e.users), strNum)
	}
	if e.party != nil {
		r.str("client_user", e.party.c.user)
	}
}

func messageFields(r *rec, m *message, us int64, strNum bool) {
	r.str("service_name", m.service)
	r.str("session_key", m.sessionKey)
	r.str("event_type", m.eventType)
	r.str("mode", m.mode)
	r.int("event_timestamp", us/1000-5)
	switch m.eventType {
	case "http":
		r.str("method", m.method)
		r.str("path", m.path)
		if m.status != 0 {
			num(r, "response_status_code", int64(m.status), strNum)
		}
	case "queue":
		r.str("queue_type", m.queueType)
		r.str("queue_name", m.queueName)
	}
}
