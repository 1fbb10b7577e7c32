package unwrap

import "fmt"

// Join is a split record a Stream holds between lines, in a form that can be
// saved and given back to a Stream after a restart, so that a record whose
// parts straddle the restart is still joined (or still dropped) whole.
type Join struct {
	// Wrapper is "docker" or "cri"; Stream is "stdout" or "stderr".
	Wrapper string `json:"wrapper"`
	Stream  string `json:"stream"`
	// Dropping is set when the record already went past the size limit
	// (and was counted as too long): its remaining parts are skipped.
	Dropping bool `json:"dropping,omitempty"`
	// Parts holds the text joined so far.
	Parts []byte `json:"parts,omitempty"`
}

var (
	joinWrappers = [...]Format{Docker, CRI}
	streamNames  = [numStreams]string{stdout: "stdout", stderr: "stderr"}
)

// Joins returns copies of the joins in progress.
func (s *Stream) Joins() []Join {
	var out []Join
	for w := range s.joins {
		for i, j := range s.joins[w] {
			if j.state == idle {
				continue
			}
			out = append(out, Join{
				Wrapper:  joinWrappers[w].String(),
				Stream:   streamNames[i],
				Dropping: j.state == dropping,
				Parts:    append([]byte(nil), j.buf...),
			})
		}
	}
	return out
}

// RestoreJoins puts saved joins back into a Stream that holds none. It
// checks them all before changing anything.
func (s *Stream) RestoreJoins(joins []Join) error {
	type slot struct{ w, i int }
	slots := make([]slot, len(joins))
	seen := make(map[slot]bool)
	for k, j := range joins {
		w := -1
		for i, f := range joinWrappers {
			if j.Wrapper == f.String() {
				w = i
			}
		}
		id, ok := parseStreamName([]byte(j.Stream))
		switch {
		case w < 0:
			return fmt.Errorf("join %d: unknown wrapper %q", k, j.Wrapper)
		case !ok:
			return fmt.Errorf("join %d: unknown stream %q", k, j.Stream)
		case len(j.Parts) > s.max:
			return fmt.Errorf("join %d: %d bytes, more than the %d-byte record limit", k, len(j.Parts), s.max)
		case j.Dropping && len(j.Parts) > 0:
			return fmt.Errorf("join %d: a dropped record keeps no parts", k)
		case s.joins[w][id].state != idle || seen[slot{w, int(id)}]:
			return fmt.Errorf("join %d: %s %s already holds a record", k, j.Wrapper, j.Stream)
		}
		slots[k] = slot{w, int(id)}
		seen[slots[k]] = true
	}
	for k, j := range joins {
		dst := &s.joins[slots[k].w][slots[k].i]
		if j.Dropping {
			dst.state = dropping
		} else {
			dst.buf, dst.state = append(dst.buf[:0], j.Parts...), joining
		}
	}
	return nil
}
