package ingest

import (
	"fmt"
	"maps"
	"math"

	"github.com/mirrord-exporter/mirrord-exporter/internal/metricvalues"
	"github.com/mirrord-exporter/mirrord-exporter/unwrap"
)

// State is what the line path holds across a restart: its counters, and the
// split records being joined, by stream name (the file path, or
// namespace/pod/container).
type Snapshot struct {
	// Lines and Bytes are by input (the --input.path value, or kubernetes).
	Lines map[string]float64 `json:"lines"`
	Bytes map[string]float64 `json:"bytes"`
	// Records is by wrapper, Malformed by reason, Truncated by field.
	Records   map[string]float64 `json:"records"`
	Malformed map[string]float64 `json:"malformed"`
	// Truncated is absent from files saved before it was counted.
	Truncated map[string]float64       `json:"truncated,omitempty"`
	Joins     map[string][]unwrap.Join `json:"joins,omitempty"`
}

// Snapshot copies the counters and the joins of every live stream. The
// caller must hold every input's deliveries stopped (input.Gate).
func (p *Pipeline) Snapshot() (Snapshot, error) {
	st := Snapshot{Joins: make(map[string][]unwrap.Join)}
	var err error
	if st.Lines, err = metricvalues.ByLabel(p.lines); err != nil {
		return st, err
	}
	if st.Bytes, err = metricvalues.ByLabel(p.bytes); err != nil {
		return st, err
	}
	if st.Records, err = metricvalues.ByLabel(p.records); err != nil {
		return st, err
	}
	if st.Malformed, err = metricvalues.ByLabel(p.malformed); err != nil {
		return st, err
	}
	if st.Truncated, err = metricvalues.ByLabel(p.truncated); err != nil {
		return st, err
	}
	p.sinksMu.Lock()
	defer p.sinksMu.Unlock()
	for name, s := range p.sinks {
		if joins := s.main.stream.Joins(); len(joins) > 0 {
			st.Joins[name] = joins
		}
	}
	// Joins restored for streams that did not come back (yet) are kept.
	for name, joins := range p.savedJoins {
		if _, live := st.Joins[name]; !live {
			st.Joins[name] = joins
		}
	}
	return st, nil
}

// Restore adds saved counters and keeps the saved joins for the streams to
// come. It runs before any input starts and checks everything first: on
// error nothing changed.
func (p *Pipeline) Restore(st Snapshot) error {
	for name, m := range map[string]map[string]float64{"lines": st.Lines, "bytes": st.Bytes, "records": st.Records, "malformed": st.Malformed, "truncated": st.Truncated} {
		for label, v := range m {
			if v < 0 || math.IsNaN(v) || math.IsInf(v, 0) {
				return fmt.Errorf("ingest state: %s{%q} = %v, not a counter value", name, label, v)
			}
		}
	}
	for name, joins := range st.Joins {
		if err := unwrap.NewStream(p.cfg.Format, p.cfg.MaxLineBytes).RestoreJoins(joins); err != nil {
			return fmt.Errorf("ingest state: stream %s: %w", name, err)
		}
	}
	for label, v := range st.Lines {
		p.lines.WithLabelValues(label).Add(v)
	}
	for label, v := range st.Bytes {
		p.bytes.WithLabelValues(label).Add(v)
	}
	for label, v := range st.Records {
		p.records.WithLabelValues(label).Add(v)
	}
	for label, v := range st.Malformed {
		p.malformed.WithLabelValues(label).Add(v)
	}
	for label, v := range st.Truncated {
		p.truncated.WithLabelValues(label).Add(v)
	}
	p.sinksMu.Lock()
	maps.Copy(p.savedJoins, st.Joins)
	p.sinksMu.Unlock()
	return nil
}
