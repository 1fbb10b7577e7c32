package kube

import (
	"testing"
	"time"
)

// kubeletResend is what a stream resumed at since sends: every line stamped
// at or after it, in log order (all of them for a zero since).
func kubeletResend(log []time.Time, since time.Time) []int {
	var idx []int
	for i, ts := range log {
		if since.IsZero() || !ts.Before(since) {
			idx = append(idx, i)
		}
	}
	return idx
}

// testLog is stamped the awkward way: runs of equal timestamps, lines
// stamped earlier than the one before within a second, and one that is
// stamped in the second before (a clock step).
func testLog() []time.Time {
	t0 := time.Date(2026, 8, 17, 10, 0, 0, 800_000_000, time.UTC)
	ms := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Millisecond) }
	return []time.Time{
		ms(0), ms(0), ms(0), ms(100), ms(150), ms(140), ms(199), ms(199), // second 0 → 1 at ms(200)
		ms(200), ms(200), ms(250), ms(230), ms(230), ms(300), ms(900),
		ms(1199), // stamped back into the previous second
		ms(1300), ms(1300), ms(1300), ms(1250), ms(2200), ms(2200),
	}
}

func TestResumeAfterEveryLine(t *testing.T) {
	log := testLog()
	for k := 0; k <= len(log); k++ {
		var p Position
		for _, ts := range log[:k] {
			p.advance(ts, true)
		}
		res := resumeAt(&p)
		var delivered []int
		for _, i := range kubeletResend(log, p.since()) {
			switch v := res.judge(log[i], true); v {
			case mismatch:
				t.Fatalf("cut after %d lines: line %d taken for another log", k, i)
			case deliver:
				delivered = append(delivered, i)
			case counted:
				if i >= k {
					t.Errorf("cut after %d lines: new line %d skipped", k, i)
				}
			default:
				t.Fatalf("verdict %d", v)
			}
		}
		// Every new line the kubelet resends is delivered, in order, none
		// read before; only a line stamped before the resume second, after
		// a newer one was read, is not resent at all.
		next := k
		for _, i := range delivered {
			for ; next < i; next++ {
				if !log[next].Before(p.since()) {
					t.Errorf("cut after %d lines: line %d lost", k, next)
				}
			}
			if i != next {
				t.Fatalf("cut after %d lines: delivered line %d, want %d", k, i, next)
			}
			next++
		}
	}
}

func TestResumeDetectsAnotherLog(t *testing.T) {
	log := testLog()
	var p Position
	for _, ts := range log[:10] {
		p.advance(ts, true)
	}
	// A restarted container's log: its lines come later than any read.
	res := resumeAt(&p)
	if v := res.judge(log[len(log)-1], true); v != mismatch {
		t.Errorf("first line of another log: verdict %d, want mismatch", v)
	}
	// Taken as is: lines no newer than the last read are counted again
	// (so the window describes this log), newer ones delivered.
	last := p.Last
	res = acceptAt(&p)
	for _, tc := range []struct {
		ts   time.Time
		want verdict
	}{
		{last, recount}, {last.Add(-time.Millisecond), recount}, {last.Add(time.Millisecond), deliver}, {last, deliver},
	} {
		v := res.judge(tc.ts, true)
		if v != tc.want {
			t.Errorf("taken as is: line at %v: verdict %d, want %d", tc.ts, v, tc.want)
		}
		if v != counted {
			p.advance(tc.ts, true)
		}
	}
	// The line a millisecond early is in the second before the window (last
	// is on a second boundary): no resume resends it, so it is not counted.
	if p.Skip != 3 || !p.First.Equal(last) {
		t.Errorf("rebased position: skip %d first %v, want 3 and %v", p.Skip, p.First, last)
	}
}

func TestResumeWithoutTimestamps(t *testing.T) {
	// Never sent with timestamps=true; still, nothing is delivered twice.
	var p Position
	p.advance(time.Time{}, false)
	p.advance(time.Time{}, false)
	if !p.since().IsZero() || p.Skip != 2 {
		t.Fatalf("since %v skip %d, want from the start, skipping 2", p.since(), p.Skip)
	}
	res := resumeAt(&p)
	for i, want := range []verdict{counted, counted, deliver} {
		if v := res.judge(time.Time{}, false); v != want {
			t.Errorf("line %d: verdict %d, want %d", i, v, want)
		}
	}
}
