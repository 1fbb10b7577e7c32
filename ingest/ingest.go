// Package ingest connects the stages of the line path: each input stream's
// lines are unwrapped, decoded into events, and handed to the one goroutine
// that applies them. It also counts what was read and what was not usable.
package ingest

import (
	"fmt"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/mirrord-exporter/mirrord-exporter/decode"
	"github.com/mirrord-exporter/mirrord-exporter/input"
	"github.com/mirrord-exporter/mirrord-exporter/unwrap"
)

// Reason is a value of the reason label of
// mirrord_exporter_malformed_lines_total, which this package owns: the
// decoder's reasons (decode.Reason, same text) and those below, found before
// a record reaches the decoder.
type Reason string

// Reasons found while reading and unwrapping lines.
const (
	ReasonTooLong             Reason = "too_long"
	ReasonInvalidWrapper      Reason = "invalid_wrapper"
	ReasonUnterminatedPartial Reason = "unterminated_partial"
)

// Reasons lists every value of the reason label, so that the counter shows
// each at zero from the start.
func Reasons() []Reason {
	var rs []Reason
	for _, r := range decode.Reasons() {
		rs = append(rs, Reason(r))
	}
	return append(rs, ReasonTooLong, ReasonInvalidWrapper, ReasonUnterminatedPartial)
}

// warnEvery bounds how often malformed input is logged at warn level; every
// line is logged at debug.
const warnEvery = time.Minute

// Config configures a Pipeline.
type Config struct {
	Format       unwrap.Format
	MaxLineBytes int
	Labels       decode.LabelConfig
	// Events receives every decoded event; one consumer applies them.
	Events chan<- decode.Event
	// StreamEvents, if set, replaces Events: each stream's events go to
	// the channel it returns for the stream's name, which the sink closes
	// at its end (backfill merges the streams by time).
	StreamEvents func(name string) chan<- decode.Event
	Logger       log.Logger
	Registerer   prometheus.Registerer
	// Now is the clock for rate-limiting warnings; time.Now when nil.
	Now func() time.Time
	// Lanes is how many goroutines share a large batch of one stream's
	// lines (a chunk of a file being caught up), delivering the events in
	// order: 0 means GOMAXPROCS, at most 4; 1 keeps every line on the
	// stream's goroutine.
	Lanes int
}

// Pipeline makes the Sink of every input stream.
type Pipeline struct {
	cfg   Config
	lanes int
	// parallelMin is the smallest batch spread over lanes, in bytes.
	parallelMin int
	lines       *prometheus.CounterVec
	bytes       *prometheus.CounterVec
	records     *prometheus.CounterVec
	malformed   *prometheus.CounterVec
	truncated   *prometheus.CounterVec

	plainTextOnce sync.Once
	warnMu        sync.Mutex
	lastWarn      map[Reason]time.Time
	suppressed    map[Reason]int

	// sinks are the live streams by name, whose joins a snapshot saves;
	// savedJoins the joins restored for streams not made yet.
	sinksMu    sync.Mutex
	sinks      map[string]*sink
	savedJoins map[string][]unwrap.Join
}

// New registers the pipeline's self-metrics and returns it.
func New(cfg Config) (*Pipeline, error) {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	lanes := cfg.Lanes
	if lanes <= 0 {
		lanes = min(runtime.GOMAXPROCS(0), maxLanes)
	}
	p := &Pipeline{
		cfg:         cfg,
		lanes:       lanes,
		parallelMin: minParallelBytes,
		lines: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mirrord_exporter_log_lines_total",
			Help: "Physical log lines read, by input (the --input.path value).",
		}, []string{"input"}),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mirrord_exporter_log_bytes_total",
			Help: "Log bytes read, newlines included, by input (the --input.path value).",
		}, []string{"input"}),
		records: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mirrord_exporter_log_records_total",
			Help: "Log records after unwrapping (split parts joined), by the wrapper they came in.",
		}, []string{"wrapper"}),
		malformed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mirrord_exporter_malformed_lines_total",
			Help: "Lines or records that could not be used, by reason.",
		}, []string{"reason"}),
		truncated: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mirrord_exporter_label_values_truncated_total",
			Help: "Label values and session ids longer than 256 bytes, kept as their start and a hash of the whole value, by the event field they came from.",
		}, []string{"field"}),
		lastWarn:   make(map[Reason]time.Time),
		suppressed: make(map[Reason]int),
		sinks:      make(map[string]*sink),
		savedJoins: make(map[string][]unwrap.Join),
	}
	for _, r := range Reasons() {
		p.malformed.WithLabelValues(string(r))
	}
	for _, w := range []unwrap.Format{unwrap.JSON, unwrap.Docker, unwrap.CRI} {
		p.records.WithLabelValues(w.String())
	}
	for _, f := range cfg.Labels.ValueFields() {
		p.truncated.WithLabelValues(f)
	}
	for _, c := range []prometheus.Collector{p.lines, p.bytes, p.records, p.malformed, p.truncated} {
		if err := cfg.Registerer.Register(c); err != nil {
			return nil, fmt.Errorf("register ingest metrics: %w", err)
		}
	}
	return p, nil
}

// NewSink returns the Sink for one stream; input is the --input.path value
// the stream came from and name the file (or "-").
func (p *Pipeline) NewSink(input, name string) input.Sink {
	s := &sink{
		p:          p,
		name:       name,
		lines:      p.lines.WithLabelValues(input),
		bytes:      p.bytes.WithLabelValues(input),
		events:     p.cfg.Events,
		ownsEvents: p.cfg.StreamEvents != nil,
	}
	if s.ownsEvents {
		s.events = p.cfg.StreamEvents(name)
	}
	s.main = s.newLane(false)
	for i, w := range []unwrap.Format{unwrap.JSON, unwrap.Docker, unwrap.CRI} {
		s.records[i] = p.records.WithLabelValues(w.String())
	}
	p.sinksMu.Lock()
	defer p.sinksMu.Unlock()
	if joins, ok := p.savedJoins[name]; ok {
		delete(p.savedJoins, name)
		// Checked by Restore against a stream like this one.
		_ = s.main.stream.RestoreJoins(joins)
	}
	p.sinks[name] = s
	return s
}

// sink runs the line path of one stream. Lines wait in pending until Flush,
// which runs them on the stream's goroutine, or, for a large batch, spread
// over lanes (see lanes.go).
type sink struct {
	p       *Pipeline
	name    string
	lines   prometheus.Counter
	bytes   prometheus.Counter
	records [3]prometheus.Counter // by wrapper: JSON, Docker, CRI
	// events receives the stream's events; the sink closes it at its end
	// when it is the stream's own (Config.StreamEvents).
	events     chan<- decode.Event
	ownsEvents bool

	// main holds the stream's unwrap state and delivers its results at
	// once; spares are made for the first large batch.
	main   *lane
	spares []*lane

	pending      []pendingLine
	pendingBytes int
	// read is where the pending lines start: the lines and bytes of the
	// stream delivered before them in this run.
	read position

	// Counted since the last Flush: an atomic add per line on counters
	// that scrapes read from the other core costs more than the rest of
	// rejecting a line that is no event.
	newLines, newBytes int64
	newRecords         [3]int64
}

func (s *sink) Line(line []byte) {
	s.newLines++
	s.newBytes += int64(len(line) + 1)
	s.pendingBytes += len(line) + 1
	s.pending = append(s.pending, pendingLine{line: line})
}

func (s *sink) LineTooLong(size int) {
	s.newLines++
	s.newBytes += int64(size + 1)
	s.pending = append(s.pending, pendingLine{skipped: size})
}

// Flush runs the lines since the last Flush and publishes their counts.
func (s *sink) Flush() {
	s.runPending()
	s.read.lines += s.newLines
	s.read.offset += s.newBytes
	if s.newLines == 0 {
		return
	}
	s.lines.Add(float64(s.newLines))
	s.bytes.Add(float64(s.newBytes))
	for i, n := range s.newRecords {
		if n > 0 {
			s.records[i].Add(float64(n))
		}
	}
	s.newLines, s.newBytes, s.newRecords = 0, 0, [3]int64{}
}

func (s *sink) Close() {
	s.Flush()
	s.p.sinksMu.Lock()
	if s.p.sinks[s.name] == s {
		delete(s.p.sinks, s.name)
	}
	s.p.sinksMu.Unlock()
	for n := s.main.stream.Flush(); n > 0; n-- {
		// Its parts came on lines before, which the stream does not
		// keep track of.
		s.p.reject(rejection{reason: ReasonUnterminatedPartial, at: position{lines: noLine}}, s.name)
	}
	if s.ownsEvents {
		close(s.events)
	}
}

// send hands an event on, in line order, and counts the values cut in it.
func (s *sink) send(ev *decode.Event) {
	for _, field := range ev.Cut {
		s.p.truncated.WithLabelValues(field).Inc()
	}
	s.events <- *ev
}

// position is where a line starts in its stream, counted from where this
// run began reading the stream: the lines and bytes before it.
type position struct{ lines, offset int64 }

// noLine, as a position's lines, stands for a rejection no one line stands
// for.
const noLine = -1

// advance moves p past a line of size bytes and its newline.
func (p *position) advance(size int) {
	p.lines++
	p.offset += int64(size) + 1
}

// rejection is a line or record that cannot be used: why, the field at
// fault (for missing_field and invalid_field), where its line (the last,
// for a record joined from parts) starts, and an excerpt of it.
type rejection struct {
	reason Reason
	field  string
	at     position
	record string
}

// rejectRecord counts and logs a record that cannot be used, in line order.
func (s *sink) rejectRecord(r rejection) {
	if r.reason == Reason(decode.ReasonPlainText) {
		s.p.plainTextOnce.Do(func() {
			level.Warn(s.p.cfg.Logger).Log("msg", "The operator writes plain-text logs, which carry no readable events: set operator.jsonLog: true in the mirrord-operator Helm chart values (env OPERATOR_JSON_LOG=true)", "file", s.name)
		})
	}
	s.p.reject(r, s.name)
}

// reject counts an unusable line of the stream name and logs it: every one
// at debug, with its excerpt, and at most one per reason per warnEvery at
// warn, with how many went unreported. The warning says why and where, never
// what the record holds: records carry who used mirrord (users, names,
// hosts), which the exporter's own log must not spread at the default level.
func (p *Pipeline) reject(r rejection, name string) {
	p.malformed.WithLabelValues(string(r.reason)).Inc()
	where := []any{"reason", r.reason}
	if r.field != "" {
		where = append(where, "field", r.field)
	}
	where = append(where, "file", name)
	if r.at.lines != noLine {
		// 1-based, as editors and sed count lines.
		where = append(where, "line", r.at.lines+1, "offset", r.at.offset)
	}
	level.Debug(p.cfg.Logger).Log(slices.Concat([]any{"msg", "Skipping unusable log line"}, where, []any{"record", r.record})...)

	now := p.cfg.Now()
	p.warnMu.Lock()
	last, seen := p.lastWarn[r.reason]
	if seen && now.Sub(last) < warnEvery {
		p.suppressed[r.reason]++
		p.warnMu.Unlock()
		return
	}
	suppressed := p.suppressed[r.reason]
	p.lastWarn[r.reason] = now
	p.suppressed[r.reason] = 0
	p.warnMu.Unlock()
	level.Warn(p.cfg.Logger).Log(slices.Concat([]any{"msg", "Skipping unusable log line; every one is logged at debug level, with its content"}, where, []any{"unreported_since_last_warning", suppressed})...)
}

// excerpt keeps log lines about bad input short.
func excerpt(line []byte) string {
	const max = 256
	if len(line) > max {
		return string(line[:max]) + "…"
	}
	return string(line)
}
