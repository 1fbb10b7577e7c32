package backfill

import (
	"testing"
	"time"

	"github.com/mirrord-exporter/mirrord-exporter/decode"
)

// merged runs a Merge over streams, each written by its own goroutine, and
// returns the events in the order yielded.
func merged(t *testing.T, streams ...[]decode.Event) ([]decode.Event, error) {
	t.Helper()
	m := NewMerge()
	for _, evs := range streams {
		ch := m.Stream("")
		go func() {
			for _, ev := range evs {
				ch <- ev
			}
			close(ch)
		}()
	}
	m.Seal()
	var out []decode.Event
	for ev := range m.Events {
		out = append(out, *ev)
	}
	return out, m.Err()
}

func TestMergeOrdersStreams(t *testing.T) {
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	a := []decode.Event{
		{Kind: decode.SeatLimit}, // before any timestamp of its stream: its first one
		{Kind: decode.SessionStart, SessionID: "a1", Time: at(2)},
		{Kind: decode.SeatLimit}, // the one before it in its stream
		{Kind: decode.SessionEnd, SessionID: "a2", Time: at(5)},
	}
	b := []decode.Event{
		{Kind: decode.SessionStart, SessionID: "b1", Time: at(1)},
		{Kind: decode.SessionStart, SessionID: "b2", Time: at(2)}, // a tie: the stream opened first goes first
		{Kind: decode.SessionEnd, SessionID: "b3", Time: at(9)},
	}
	// A long stream, more than its buffer, behind the others: the merge
	// must not wait for it to end.
	var c []decode.Event
	for i := range 3 * streamBuffer {
		c = append(c, decode.Event{Kind: decode.PortSteal, SessionID: "c", Time: at(3 + i)})
	}
	untimed := []decode.Event{{Kind: decode.SeatLimit}} // no time at all: the earliest of all
	got, err := merged(t, a, b, c, untimed)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(a)+len(b)+len(c)+len(untimed) {
		t.Fatalf("%d events, want %d", len(got), len(a)+len(b)+len(c)+len(untimed))
	}
	want := []struct {
		id string
		at int
	}{{"", 1}, {"b1", 1}, {"", 2}, {"a1", 2}, {"", 2}, {"b2", 2}, {"c", 3}, {"c", 4}, {"a2", 5}}
	for i, w := range want {
		if got[i].SessionID != w.id || !got[i].Time.Equal(at(w.at)) {
			t.Errorf("event %d: %q at %s, want %q at +%ds", i, got[i].SessionID, got[i].Time, w.id, w.at)
		}
	}
	for i := 1; i < len(got); i++ {
		if got[i].Time.Before(got[i-1].Time) {
			t.Fatalf("event %d at %s before event %d at %s", i, got[i].Time, i-1, got[i-1].Time)
		}
	}
}

func TestMergeWithoutTimestamps(t *testing.T) {
	if _, err := merged(t, []decode.Event{{Kind: decode.SeatLimit}}); err != ErrNoTimestamp {
		t.Errorf("err = %v, want ErrNoTimestamp", err)
	}
	if got, err := merged(t); err != nil || len(got) != 0 {
		t.Errorf("no stream: %d events, %v", len(got), err)
	}
}

func TestMergeStopsEarly(t *testing.T) {
	m := NewMerge()
	ch := m.Stream("")
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 10 * streamBuffer {
			ch <- decode.Event{Kind: decode.PortSteal, Time: t0.Add(time.Duration(i) * time.Second)}
		}
		close(ch)
	}()
	m.Seal()
	for range m.Events {
		break
	}
	// The rest is drained, so the writer ends.
	<-done
}
