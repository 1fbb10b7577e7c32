// Package ingest connects the stages of the line path: each input stream's
// lines are unwrapped, decoded into events, and handed to the one goroutine
// that applies them. It also counts what was read and what was not usable.
package ingest

import (
	"fmt"
	"sync"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/mirrord-exporter/mirrord-exporter/collector"
	"github.com/mirrord-exporter/mirrord-exporter/source"
	"github.com/mirrord-exporter/mirrord-exporter/unwrap"
)

// Reasons found while unwrapping, beside the decoder's.
const (
	ReasonTooLong             collector.Reason = "too_long"
	ReasonInvalidWrapper      collector.Reason = "invalid_wrapper"
	ReasonUnterminatedPartial collector.Reason = "unterminated_partial"
)

// warnEvery bounds how often malformed input is logged at warn level; every
// line is logged at debug.
const warnEvery = time.Minute

// Config configures a Pipeline.
type Config struct {
	Format       unwrap.Format
	MaxLineBytes int
	Labels       collector.LabelConfig
	// Events receives every decoded event; one consumer applies them.
	Events     chan<- collector.Event
	Logger     log.Logger
	Registerer prometheus.Registerer
	// Now is the clock for rate-limiting warnings; time.Now when nil.
	Now func() time.Time
}

// Pipeline makes the Sink of every input stream.
type Pipeline struct {
	cfg       Config
	lines     *prometheus.CounterVec
	bytes     *prometheus.CounterVec
	records   *prometheus.CounterVec
	malformed *prometheus.CounterVec

	plainTextOnce sync.Once
	warnMu        sync.Mutex
	lastWarn      map[collector.Reason]time.Time
	suppressed    map[collector.Reason]int

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
	p := &Pipeline{
		cfg: cfg,
		lines: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mirrord_exporter_log_lines_total",
			Help: "Physical log lines read, by input (the --log.path value).",
		}, []string{"input"}),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mirrord_exporter_log_bytes_total",
			Help: "Log bytes read, newlines included, by input (the --log.path value).",
		}, []string{"input"}),
		records: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mirrord_exporter_log_records_total",
			Help: "Log records after unwrapping (split parts joined), by the wrapper they came in.",
		}, []string{"wrapper"}),
		malformed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mirrord_exporter_malformed_lines_total",
			Help: "Lines or records that could not be used, by reason.",
		}, []string{"reason"}),
		lastWarn:   make(map[collector.Reason]time.Time),
		suppressed: make(map[collector.Reason]int),
		sinks:      make(map[string]*sink),
		savedJoins: make(map[string][]unwrap.Join),
	}
	for _, r := range append(collector.DecodeReasons, ReasonTooLong, ReasonInvalidWrapper, ReasonUnterminatedPartial) {
		p.malformed.WithLabelValues(string(r))
	}
	for _, w := range []unwrap.Format{unwrap.JSON, unwrap.Docker, unwrap.CRI} {
		p.records.WithLabelValues(w.String())
	}
	for _, c := range []prometheus.Collector{p.lines, p.bytes, p.records, p.malformed} {
		if err := cfg.Registerer.Register(c); err != nil {
			return nil, fmt.Errorf("register ingest metrics: %w", err)
		}
	}
	return p, nil
}

// NewSink returns the Sink for one stream; input is the --log.path value
// the stream came from and name the file (or "-").
func (p *Pipeline) NewSink(input, name string) source.Sink {
	s := &sink{
		p:       p,
		name:    name,
		stream:  unwrap.NewStream(p.cfg.Format, p.cfg.MaxLineBytes),
		decoder: collector.NewDecoder(p.cfg.Labels),
		lines:   p.lines.WithLabelValues(input),
		bytes:   p.bytes.WithLabelValues(input),
	}
	for i, w := range []unwrap.Format{unwrap.JSON, unwrap.Docker, unwrap.CRI} {
		s.records[i] = p.records.WithLabelValues(w.String())
	}
	// Most Docker lines are no event: judged still escaped, they skip the
	// unescape and the decode, which would only reject them. (Only Docker
	// lines consult it, so it is harmless on JSON and CRI streams.)
	// Stream ignores its answer on text with \u escapes.
	s.stream.SkipRecord = collector.NoEventInSimplyEscaped
	p.sinksMu.Lock()
	defer p.sinksMu.Unlock()
	if joins, ok := p.savedJoins[name]; ok {
		delete(p.savedJoins, name)
		// Checked by Restore against a stream like this one.
		_ = s.stream.RestoreJoins(joins)
	}
	p.sinks[name] = s
	return s
}

// sink runs the line path of one stream, on that stream's goroutine.
type sink struct {
	p       *Pipeline
	name    string
	stream  *unwrap.Stream
	decoder *collector.Decoder
	lines   prometheus.Counter
	bytes   prometheus.Counter
	records [3]prometheus.Counter // by wrapper: JSON, Docker, CRI
	ev      collector.Event

	// Counted since the last Flush: an atomic add per line on counters
	// that scrapes read from the other core costs more than the rest of
	// rejecting a line that is no event.
	newLines, newBytes int64
	newRecords         [3]int64
}

func (s *sink) Line(line []byte) {
	s.newLines++
	s.newBytes += int64(len(line) + 1)
	payload, st := s.stream.Push(line)
	switch st {
	case unwrap.Record:
		s.countRecord()
		s.record(payload)
	case unwrap.Skipped:
		s.countRecord() // a record that Decode would have turned down silently
	case unwrap.Invalid:
		s.p.reject(ReasonInvalidWrapper, s.name, line)
	case unwrap.TooLong:
		s.p.reject(ReasonTooLong, s.name, line)
	}
}

func (s *sink) LineTooLong(size int) {
	s.newLines++
	s.newBytes += int64(size + 1)
	s.p.reject(ReasonTooLong, s.name, nil)
}

// Flush publishes the counts of the lines since the last Flush.
func (s *sink) Flush() {
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
	for n := s.stream.Flush(); n > 0; n-- {
		s.p.reject(ReasonUnterminatedPartial, s.name, nil)
	}
}

func (s *sink) countRecord() {
	switch s.stream.Wrapper() {
	case unwrap.Docker:
		s.newRecords[1]++
	case unwrap.CRI:
		s.newRecords[2]++
	default:
		s.newRecords[0]++
	}
}

func (s *sink) record(rec []byte) {
	ok, reason := s.decoder.Decode(rec, &s.ev)
	switch {
	case ok:
		s.p.cfg.Events <- s.ev
	case reason == collector.ReasonPlainText:
		s.p.plainTextOnce.Do(func() {
			level.Warn(s.p.cfg.Logger).Log("msg", "The operator writes plain-text logs, which carry no readable events: set operator.jsonLog: true in the mirrord-operator Helm chart values (env OPERATOR_JSON_LOG=true)", "file", s.name)
		})
		s.p.reject(reason, s.name, rec)
	case reason != collector.ReasonNone:
		s.p.reject(reason, s.name, rec)
	}
}

// reject counts an unusable line and logs it: every one at debug, and at most
// one per reason per warnEvery at warn, with how many went unreported.
func (p *Pipeline) reject(reason collector.Reason, name string, line []byte) {
	p.malformed.WithLabelValues(string(reason)).Inc()
	level.Debug(p.cfg.Logger).Log("msg", "Skipping unusable log line", "reason", reason, "file", name, "line", excerpt(line))

	now := p.cfg.Now()
	p.warnMu.Lock()
	last, seen := p.lastWarn[reason]
	if seen && now.Sub(last) < warnEvery {
		p.suppressed[reason]++
		p.warnMu.Unlock()
		return
	}
	suppressed := p.suppressed[reason]
	p.lastWarn[reason] = now
	p.suppressed[reason] = 0
	p.warnMu.Unlock()
	level.Warn(p.cfg.Logger).Log("msg", "Skipping unusable log line; more are logged at debug level", "reason", reason, "file", name, "line", excerpt(line), "unreported_since_last_warning", suppressed)
}

// excerpt keeps log lines about bad input short.
func excerpt(line []byte) string {
	const max = 256
	if len(line) > max {
		return string(line[:max]) + "…"
	}
	return string(line)
}
