package loggen

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math"
	"time"
)

// Wrapper is how the container runtime stored the operator's output.
type Wrapper int

const (
	// Raw is the operator's output as is, one tracing JSON record per line
	// (what `kubectl logs` prints).
	Raw Wrapper = iota
	// Docker is the json-file logging driver: {"log":...,"stream":...,"time":...}
	// per line, records over 16 KiB split into parts.
	Docker
	// CRI is the kubelet's format: "TIME STREAM P|F TEXT", records over
	// 16 KiB split into P parts ended by an F part.
	CRI
)

// String gives the name ParseWrapper accepts.
func (w Wrapper) String() string {
	switch w {
	case Raw:
		return "raw"
	case Docker:
		return "docker"
	case CRI:
		return "cri"
	}
	return fmt.Sprintf("Wrapper(%d)", int(w))
}

// ParseWrapper reads "raw", "docker" or "cri".
func ParseWrapper(s string) (Wrapper, error) {
	for _, w := range []Wrapper{Raw, Docker, CRI} {
		if s == w.String() {
			return w, nil
		}
	}
	return 0, fmt.Errorf("loggen: unknown wrapper %q (want raw, docker or cri)", s)
}

// Config describes the log to generate. The zero value is usable apart from
// Sessions: it gives an empty log.
type Config struct {
	Seed int64
	// Sessions to simulate. Each has a Start, some port events and usually
	// an End; some start with a Copy Target.
	Sessions int
	// Start is the time of the first record; zero means
	// 2026-08-17T18:00:00Z, a fixed instant so that logs are reproducible.
	Start time.Time
	// Span is how much operator time the log covers; zero means DefaultSpan.
	Span    time.Duration
	Wrapper Wrapper
	// NoiseRatio is the share of non-functional records, in [0, 1):
	// 0.95 is about a debug-level log, 0.6 an info-level one.
	NoiseRatio float64
	// BigLines adds records over 16 KiB (20-60 KiB), functional and not,
	// which Docker and CRI split into parts.
	BigLines bool
	// Nasty adds everything an exporter must survive: junk, blank and
	// truncated lines, stderr output (also between the parts of a split
	// record), near-miss messages, orphan Ends, repeated Starts and invalid
	// functional records of every kind.
	Nasty bool
}

// DefaultSpan is the operator time a log covers when Config.Span is zero.
const DefaultSpan = time.Hour

// Truth is what an exporter that read the whole log must show.
type Truth struct {
	// Series holds the value of every mirrord_* series except the
	// mirrord_exporter_* ones, keyed by SeriesKey. Histograms appear as
	// their _count and _sum series and their classic _bucket series (by
	// le, cumulative, +Inf included; see durationBuckets).
	Series map[string]float64 `json:"series"`
	// Events is mirrord_exporter_events_total by its event label, for the
	// events that occur.
	Events map[string]float64 `json:"events"`
	// Malformed is mirrord_exporter_malformed_lines_total by its reason
	// label, for the reasons that occur.
	Malformed map[string]float64 `json:"malformed"`
	// Lines is the number of physical lines written.
	Lines int `json:"lines"`
	// Records is the number of records after unwrapping: the parts of a
	// split record count once; blank, junk and stderr records count too.
	Records int `json:"records"`
}

// Generate writes the log described by cfg to w and returns its Truth.
func Generate(w io.Writer, cfg Config) (Truth, error) {
	if err := cfg.check(); err != nil {
		return Truth{}, err
	}
	if cfg.Start.IsZero() {
		cfg.Start = time.Date(2026, 8, 17, 18, 0, 0, 0, time.UTC)
	}
	if cfg.Span == 0 {
		cfg.Span = DefaultSpan
	}
	bw := bufio.NewWriterSize(w, 256<<10)
	g := newGen(bw, cfg)
	g.plan()
	g.run()
	if err := bw.Flush(); err != nil {
		return Truth{}, err
	}
	return g.tally.finish(g.out.lines, g.out.records), nil
}

func (c Config) check() error {
	switch {
	case c.Sessions < 0:
		return errors.New("loggen: Sessions must not be negative")
	case c.Span < 0:
		return errors.New("loggen: Span must not be negative")
	case math.IsNaN(c.NoiseRatio) || c.NoiseRatio < 0 || c.NoiseRatio >= 1:
		return errors.New("loggen: NoiseRatio must be in [0, 1)")
	case c.Wrapper != Raw && c.Wrapper != Docker && c.Wrapper != CRI:
		return fmt.Errorf("loggen: unknown wrapper %d", int(c.Wrapper))
	}
	return nil
}
