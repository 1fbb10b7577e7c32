package kube

import (
	"time"
)

// Position is how far the log of one container instance has been read:
// enough to resume it exactly after a dropped stream, and what a checkpoint
// must hold.
type Position struct {
	Namespace string `json:"namespace"`
	Pod       string `json:"pod"`
	PodUID    string `json:"pod_uid"`
	Container string `json:"container"`
	// ContainerID and RestartCount identify the container instance. A
	// restart starts a new log, read from its start with a new Position.
	ContainerID  string `json:"container_id"`
	RestartCount int32  `json:"restart_count"`

	// Last is the newest timestamp read; zero until a line was read.
	// A resumed stream starts at its second (sinceTime has second
	// precision), where the kubelet resends, in log order, every line
	// stamped at or after that second.
	Last time.Time `json:"last"`
	// Skip is how many lines read so far are stamped in or after Last's
	// second: exactly the lines a stream resumed there starts with. Before
	// any timestamp was read it counts every line, as the stream is then
	// resumed from its start.
	Skip int `json:"skip"`
	// First is the timestamp of the first of those lines: a resumed stream
	// that does not start with it is another log.
	First time.Time `json:"first"`
}

// since is the sinceTime to resume at; zero means from the start.
func (p *Position) since() time.Time {
	if p.Last.IsZero() {
		return time.Time{}
	}
	return p.Last.Truncate(time.Second)
}

// advance accounts for one more line read, stamped ts. A line without a
// timestamp (which the kubelet never sends when asked for them) counts as
// stamped like the newest one.
func (p *Position) advance(ts time.Time, ok bool) {
	if !ok {
		ts = p.Last
	}
	window := p.since()
	switch {
	case ts.After(p.Last) && ts.Truncate(time.Second).After(window):
		// A later second: the resend window moves to it.
		p.Last, p.First, p.Skip = ts, ts, 1
	case !window.IsZero() && ts.Before(window):
		// Out of order and before the window: never resent.
	default:
		if p.Skip == 0 {
			p.First = ts
		}
		p.Skip++
		if ts.After(p.Last) {
			p.Last = ts
		}
	}
}

// rebase forgets which lines the window holds, keeping where it starts: for
// a resumed stream taken as is, whose lines re-count it from scratch.
func (p *Position) rebase() {
	p.Skip, p.First = 0, time.Time{}
}

// resumer decides, for each line of a resumed stream, whether it was read
// before.
type resumer struct {
	skip  int       // lines still to skip
	check bool      // the next line must be stamped first
	first time.Time // the timestamp it must carry
	upTo  time.Time // when taken as is: skip lines stamped no later than this
	// inherited: the window is the previous container instance's, so a
	// stream not starting with first is this instance's own, newer log.
	inherited bool
	matched   bool // the check passed
}

func resumeAt(p *Position) resumer {
	return resumer{skip: p.Skip, check: p.Skip > 0 && !p.First.IsZero(), first: p.First}
}

// inheritAt resumes a new container instance's log where the previous
// instance's follower stopped. Instances run one after the other, so the
// new log's lines are all newer than the old one's and all resent; if the
// first is not the one expected, the whole stream is new (fresh).
func inheritAt(p *Position) resumer {
	r := resumeAt(p)
	r.inherited = true
	return r
}

// acceptAt resumes without the check, rebasing p: lines no newer than the
// newest read are taken as read, until a newer one comes.
func acceptAt(p *Position) resumer {
	upTo := p.Last
	p.rebase()
	return resumer{upTo: upTo}
}

// verdict is what to do with one line of a resumed stream.
type verdict uint8

const (
	deliver  verdict = iota // new: hand it to the Sink and count it
	counted                 // read before and already in the Position
	recount                 // read before, but count it again (rebased)
	fresh                   // the first line of another log: rebase, then deliver
	mismatch                // the stream is not the log the Position describes
)

// judge classifies the next line of the stream, stamped ts.
func (r *resumer) judge(ts time.Time, ok bool) verdict {
	if r.skip > 0 {
		if r.check {
			r.check = false
			if !ok || !ts.Equal(r.first) {
				if r.inherited {
					r.skip = 0
					return fresh
				}
				return mismatch
			}
			r.matched = true
		}
		r.skip--
		return counted
	}
	if !r.upTo.IsZero() {
		if ok && !ts.After(r.upTo) {
			return recount
		}
		r.upTo = time.Time{}
	}
	return deliver
}
