package loggen

import (
	"bufio"
	"math"
	"math/rand/v2"
	"strconv"
	"time"
)

// gen holds the state of one Generate call.
type gen struct {
	cfg    Config
	rng    *rand.Rand // every choice about the records; never used by the wrapper
	pop    *population
	span   int64 // Config.Span in µs
	base   int64 // Config.Start in unix µs
	clock  int64 // unix µs of the last record: timestamps strictly increase
	events []*event
	tally  *tally
	out    *sink
	ts     tsCache
	buf    []byte // the record being built
	noise  noiseTable

	nastyOrder []nastyKind // a shuffled round of the nasty kinds, consumed from the front
}

func newGen(w *bufio.Writer, cfg Config) *gen {
	rng := rand.New(rand.NewPCG(uint64(cfg.Seed), 0x6d6972726f7264)) // "mirrord"
	g := &gen{
		cfg:   cfg,
		rng:   rng,
		pop:   newPopulation(rng),
		span:  max(1, cfg.Span.Microseconds()),
		base:  cfg.Start.UnixMicro(),
		tally: newTally(),
		out:   newSink(w, cfg.Wrapper, cfg.Seed),
		buf:   make([]byte, 0, 64<<10),
		noise: newNoiseTable(cfg.NoiseRatio >= 0.85),
	}
	g.clock = g.base - 1
	return g
}

// run writes the planned functional records interleaved with noise and, if
// asked for, nasty and big records. The non-functional records arrive as a
// Poisson process over the span, so their count fits NoiseRatio exactly
// while their times look natural.
func (g *gen) run() {
	nf := len(g.events)
	r := g.cfg.NoiseRatio
	m := int(math.Round(float64(nf) * r / (1 - r)))
	var nasty, big int
	if g.cfg.Nasty {
		nasty = max(3*int(numNasty), m/200)
	}
	if g.cfg.BigLines {
		big = max(2, m/2000)
	}
	regular := max(0, m-nasty-big)
	slots := regular + nasty + big
	mean := float64(g.span) / float64(slots+1)
	next := g.rng.ExpFloat64() * mean
	for fi := 0; fi < nf || slots > 0; {
		if fi < nf && (slots == 0 || float64(g.events[fi].at) <= next) {
			g.functional(g.events[fi])
			fi++
			continue
		}
		at := g.base + int64(next)
		switch n := g.rng.IntN(slots); {
		case n < nasty:
			nasty--
			g.nasty(at)
		case n < nasty+big:
			big--
			g.bigNoise(at)
		default:
			g.noiseRecord(at)
		}
		slots--
		next += g.rng.ExpFloat64() * mean
	}
}

// tick gives the timestamp of the next record, planned at `at` (unix µs).
func (g *gen) tick(at int64) int64 {
	g.clock = max(at, g.clock+1)
	return g.clock
}

// functional writes one planned functional record and applies it to the
// truth.
func (g *gen) functional(e *event) {
	us := g.tick(g.base + e.at)
	if e.defect == valid {
		g.settle(e)
	}
	b := g.functionalRecord(e, us)
	g.tally.apply(e, us)
	g.emitBig(b)
}

// settle fixes what depends on the log so far or on padding before the
// record is written, so that the record and the truth agree.
func (g *gen) settle(e *event) {
	switch {
	case e.kind == kEnd && e.noDur && !g.tally.observed(e.party):
		// The first End of a label set always carries a duration: whether an
		// exporter shows an empty histogram for an End without one is not
		// something the truth should have to decide.
		e.noDur = false
	case e.kind == kSteal && e.big > 0:
		e.filter, e.hasFilter = "header=x-trace-context: "+g.token(e.big-900), true
	}
}

// emit writes a record of the operator's stdout.
func (g *gen) emit(b []byte) { g.out.record(b, false, g.clock, nil) }

// emitBig writes a stdout record that may be long; with Nasty, stderr
// records may come between its parts.
func (g *gen) emitBig(b []byte) {
	var between [][]byte
	if g.cfg.Nasty && len(b) >= partMax && g.rng.IntN(2) == 0 {
		for range 1 + g.rng.IntN(2) {
			between = append(between, g.stderrRecord(g.rng.IntN(2) == 0))
		}
	}
	g.out.record(b, false, g.clock, between)
}

// token is n bytes of base-36 digits, as in trace ids.
func (g *gen) token(n int) string {
	b := make([]byte, 0, n+13)
	for len(b) < n {
		b = appendBase36(b, g.rng.Uint64())
	}
	return string(b[:n])
}

func appendBase36(b []byte, v uint64) []byte {
	const digits = "0123456789abcdefghijklmnopqrstuvwxyz"
	for range 12 {
		b = append(b, digits[v%36])
		v /= 36
	}
	return b
}

// tsCache formats record timestamps as tracing does (RFC 3339, UTC,
// microseconds, "Z"), reusing the part up to the seconds: formatting a full
// time per line is a noticeable share of the noise path.
type tsCache struct {
	sec    int64
	prefix []byte
}

func (c *tsCache) append(b []byte, us int64) []byte {
	sec, frac := us/1e6, us%1e6
	if frac < 0 {
		sec, frac = sec-1, frac+1e6
	}
	if c.prefix == nil || sec != c.sec {
		c.sec = sec
		c.prefix = time.Unix(sec, 0).UTC().AppendFormat(c.prefix[:0], "2006-01-02T15:04:05.")
	}
	b = append(b, c.prefix...)
	for d := int64(100000); d > 0; d /= 10 {
		b = append(b, byte('0'+frac/d%10))
	}
	return append(b, 'Z')
}

// header starts a record: timestamp, level and, unless flat, the opening of
// "fields", so that the caller writes the event's fields next.
func (g *gen) header(r *rec, us int64, level string, flat bool) {
	r.begin()
	r.key("timestamp")
	r.b = append(r.b, '"')
	r.b = g.ts.append(r.b, us)
	r.b = append(r.b, '"')
	r.key("level")
	r.b = append(r.b, '"')
	r.b = append(r.b, level...)
	r.b = append(r.b, '"')
	if !flat {
		r.open("fields")
	}
}

// footer closes "fields" (unless flat) and writes the module path and the
// optional metadata tracing-subscriber adds, chosen by bits.
func (g *gen) footer(r *rec, module, file string, flat bool, bits uint64) {
	if !flat {
		r.end()
	}
	r.str("target", module)
	if bits&3 == 0 {
		r.str("filename", file)
		r.int("line_number", int64(bits>>8&0x3ff))
	}
	if bits&0x30 == 0 {
		r.open("span")
		r.str("name", "reconcile")
		r.str("object", "MirrordOperator/operator")
		r.end()
		r.openArray("spans")
		r.elem()
		r.str("name", "operator")
		r.end()
		r.elem()
		r.str("name", "reconcile")
		r.str("object", "MirrordOperator/operator")
		r.end()
		r.endArray()
	}
	if bits&0xc0 == 0 {
		r.key("threadId")
		r.b = append(r.b, `"ThreadId(`...)
		r.b = strconv.AppendUint(r.b, bits>>20&0xf+1, 10)
		r.b = append(r.b, `)"`...)
	}
	r.end()
}
