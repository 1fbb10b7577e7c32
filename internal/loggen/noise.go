package loggen

import "strconv"

// noiseTemplate is one kind of non-functional record the operator and its
// libraries log.
type noiseTemplate struct {
	level, module, file, message string
	debugW, infoW                int // weight in a debug-level and in an info-level log
	fields                       func(g *gen, r *rec, bits uint64)
}

// noiseTable picks templates by weight with one lookup: the noise path runs
// for most lines of a debug-level log.
type noiseTable struct {
	templates []noiseTemplate
	lut       []uint8 // template index, each repeated by its weight
}

func newNoiseTable(debugLog bool) noiseTable {
	t := noiseTable{templates: noiseTemplates()}
	for i, nt := range t.templates {
		w := nt.infoW
		if debugLog {
			w = nt.debugW
		}
		for range w {
			t.lut = append(t.lut, uint8(i))
		}
	}
	return t
}

func (t *noiseTable) pick(bits uint64) *noiseTemplate {
	return &t.templates[t.lut[bits%uint64(len(t.lut))]]
}

// noiseRecord writes one ordinary non-functional record.
func (g *gen) noiseRecord(at int64) {
	g.emit(g.noiseBytes(g.tick(at)))
}

// noiseBytes builds an ordinary non-functional record at us.
func (g *gen) noiseBytes(us int64) []byte {
	bits := g.rng.Uint64()
	t := g.noise.pick(bits & 0xffff)
	bits >>= 16
	flat := bits%10 == 0
	bits /= 10
	r := rec{b: g.buf[:0]}
	g.header(&r, us, t.level, flat)
	r.str("message", t.message)
	if t.fields != nil {
		t.fields(g, &r, g.rng.Uint64())
	}
	g.footer(&r, t.module, t.file, flat, bits)
	g.buf = r.b
	return r.b
}

// quoted appends a JSON string of plain ASCII pieces without escaping them.
func quoted(r *rec, k string, pieces ...string) {
	r.key(k)
	r.b = append(r.b, '"')
	for _, p := range pieces {
		r.b = append(r.b, p...)
	}
	r.b = append(r.b, '"')
}

func agentPod(r *rec, bits uint64) {
	r.key("agent_pod")
	r.b = append(r.b, `"mirrord-agent-`...)
	n := len(r.b)
	r.b = appendBase36(r.b, bits)[:n+10]
	r.b = append(r.b, '"')
}

func noiseTemplates() []noiseTemplate {
	return []noiseTemplate{
		{"DEBUG", "operator::proxy::connection", "operator/src/proxy/connection.rs", "forwarded bytes", 250, 0,
			func(_ *gen, r *rec, bits uint64) {
				r.int("connection_id", int64(bits&0xfffff))
				r.int("bytes", int64(bits>>20&0xffff))
				if bits&(1<<40) == 0 {
					r.str("direction", "inbound")
				} else {
					r.str("direction", "outbound")
				}
			}},
		{"DEBUG", "kube_client::client::builder", "kube-client/src/client/builder.rs", "requesting", 150, 0,
			func(g *gen, r *rec, bits uint64) {
				r.str("http.method", "GET")
				ns := g.pop.targets[bits%uint64(len(g.pop.targets))].ns
				r.key("http.url")
				r.b = append(r.b, `"/api/v1/namespaces/`...)
				r.b = append(r.b, ns...)
				r.b = append(r.b, `/pods?&watch=true&timeoutSeconds=290&allowWatchBookmarks=true&resourceVersion=`...)
				r.b = strconv.AppendUint(r.b, bits>>8&0xffffff, 10)
				r.b = append(r.b, '"')
				r.str("otel.kind", "client")
			}},
		{"DEBUG", "hyper_util::client::legacy::pool", "hyper-util/src/client/legacy/pool.rs", `pooling idle connection for ("https", kubernetes.default.svc)`, 80, 0, nil},
		{"DEBUG", "tower::buffer::worker", "tower/src/buffer/worker.rs", "service.ready=true processing request", 80, 0, nil},
		{"DEBUG", "operator_session::agent", "operator/session/src/agent.rs", "agent heartbeat", 100, 0,
			func(_ *gen, r *rec, bits uint64) {
				agentPod(r, bits)
				r.int("latency_ms", int64(bits>>60))
			}},
		{"DEBUG", "rustls::client::hs", "rustls/src/client/hs.rs", "Resuming session", 30, 0, nil},
		{"DEBUG", "operator::api::auth", "operator/src/api/auth.rs", "checked user permissions", 60, 0,
			func(g *gen, r *rec, bits uint64) {
				r.str("client_user", g.pop.clients[bits%uint64(len(g.pop.clients))].user)
				quoted(r, "verb", "create")
				quoted(r, "resource", "targets")
			}},
		{"INFO", "kube_runtime::controller", "kube-runtime/src/controller/mod.rs", "reconciling object", 80, 350,
			func(g *gen, r *rec, bits uint64) {
				c := g.pop.clients[bits%uint64(len(g.pop.clients))]
				r.str("object.ref", "MirrordOperatorUser.v1.operator.metalbear.co/"+c.name)
				quoted(r, "object.reason", "object updated")
			}},
		{"INFO", "operator::api", "operator/src/api/mod.rs", "request handled", 120, 420,
			func(_ *gen, r *rec, bits uint64) {
				quoted(r, "method", "GET")
				quoted(r, "path", "/apis/operator.metalbear.co/v1/namespaces/default/targets")
				r.int("status", 200)
				r.int("elapsed_ms", int64(bits&0xff))
			}},
		{"INFO", "operator_session::agent", "operator/session/src/agent.rs", "Agent spawned", 20, 80,
			func(g *gen, r *rec, bits uint64) {
				agentPod(r, bits)
				quoted(r, "namespace", g.pop.targets[bits>>60%uint64(len(g.pop.targets))].ns)
				quoted(r, "node", "ip-10-0-1-23.ec2.internal")
			}},
		{"INFO", "operator_license::license", "operator/license/src/license.rs", "Loaded license!", 2, 10,
			func(_ *gen, r *rec, _ uint64) {
				quoted(r, "expires_at", "2027-03-31T00:00:00Z")
				r.int("seats", 50)
			}},
		{"WARN", "kube_runtime::watcher", "kube-runtime/src/watcher.rs", "watcher error", 20, 80,
			func(_ *gen, r *rec, _ uint64) {
				r.str("error", `ApiError: "too old resource version: 1 (2)": Expired (ErrorResponse { status: "Failure", message: "too old resource version", reason: "Expired", code: 410 })`)
			}},
		{"WARN", "operator::leader", "operator/src/leader.rs", "lease renewal took longer than expected", 10, 60,
			func(_ *gen, r *rec, bits uint64) {
				r.int("elapsed_ms", int64(1000+bits&0xfff))
			}},
		{"ERROR", "operator_session::agent", "operator/session/src/agent.rs", "agent connection lost", 2, 24,
			func(_ *gen, r *rec, bits uint64) {
				agentPod(r, bits)
				quoted(r, "error", "Connection reset by peer (os error 104)")
			}},
	}
}

// bigNoise writes an unrelated record of 20-60 KiB: a dumped Kubernetes
// object (a JSON document inside a JSON string, so full of escaped quotes)
// or an error with a long multi-line backtrace.
func (g *gen) bigNoise(at int64) {
	us := g.tick(at)
	size := 20<<10 + g.rng.IntN(40<<10)
	var body []byte
	r := rec{b: g.buf[:0]}
	if g.rng.IntN(2) == 0 {
		g.header(&r, us, "DEBUG", false)
		r.str("message", "watch event")
		body = append(body, `{"kind":"Pod","apiVersion":"v1","metadata":{"name":"checkout-7d9f8c6b5-x2k4q","namespace":"shop"},"spec":{"containers":[{"name":"main","env":[`...)
		for i := 0; len(body) < size; i++ {
			if i > 0 {
				body = append(body, ',')
			}
			body = append(body, `{"name":"FEATURE_FLAG_`...)
			body = strconv.AppendUint(body, uint64(i), 10)
			body = append(body, `","value":"`...)
			body = appendBase36(body, g.rng.Uint64())
			body = append(body, `"}`...)
		}
		body = append(body, `]}]}}`...)
		r.str("object", string(body))
		g.footer(&r, "kube_runtime::watcher", "kube-runtime/src/watcher.rs", false, 1)
	} else {
		g.header(&r, us, "ERROR", false)
		r.str("message", "task failed")
		for i := 0; len(body) < size; i++ {
			body = append(body, "\n   "...)
			body = strconv.AppendUint(body, uint64(i), 10)
			body = append(body, ": operator_session::agent::connect::{{closure}}\n             at ./operator/session/src/agent.rs:"...)
			body = strconv.AppendUint(body, g.rng.Uint64N(900)+1, 10)
		}
		r.str("backtrace", "Error: agent did not respond\n\nStack backtrace:"+string(body))
		g.footer(&r, "operator_session::agent", "operator/session/src/agent.rs", false, 1)
	}
	g.buf = r.b
	g.emitBig(r.b)
}
