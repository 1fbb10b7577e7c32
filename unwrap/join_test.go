package unwrap

import (
	"encoding/json"
	"testing"
)

func TestJoinsSurviveARestart(t *testing.T) {
	lines := []string{
		`2026-11-24T10:00:00.000000000Z stdout P {"a":`,
		`2026-11-24T10:00:00.000000001Z stderr P {"err`,
		`{"log":"{\"b\":","stream":"stdout","time":"2026-11-24T10:00:00Z"}`,
		`2026-11-24T10:00:00.000000002Z stdout P 1,`,
	}
	finals := []string{
		`2026-11-24T10:00:00.000000003Z stdout F "z":2}`,
		`{"log":"2}\n","stream":"stdout","time":"2026-11-24T10:00:00Z"}`,
		`2026-11-24T10:00:00.000000004Z stderr F ":1}`,
	}
	before := NewStream(Auto, 64)
	for _, l := range lines {
		if _, st := before.Push([]byte(l)); st != Pending {
			t.Fatalf("Push(%q) = %v, want pending", l, st)
		}
	}
	saved, err := json.Marshal(before.Joins())
	if err != nil {
		t.Fatal(err)
	}
	var joins []Join
	if err := json.Unmarshal(saved, &joins); err != nil {
		t.Fatal(err)
	}
	after := NewStream(Auto, 64)
	if err := after.RestoreJoins(joins); err != nil {
		t.Fatal(err)
	}
	want := []string{`{"a":1,"z":2}`, `{"b":2}`, `{"err":1}`}
	for i, l := range finals {
		rec, st := after.Push([]byte(l))
		if st != Record || string(rec) != want[i] {
			t.Errorf("after restore, Push(%q) = %q %v, want %q", l, rec, st, want[i])
		}
	}
	if n := after.Flush(); n != 0 {
		t.Errorf("%d joins left over", n)
	}
}

func TestDroppingJoinSurvivesARestart(t *testing.T) {
	before := NewStream(CRI, 8)
	if _, st := before.Push([]byte(`2026-11-24T10:00:00Z stdout P 0123456789`)); st != TooLong {
		t.Fatalf("status %v, want too long", st)
	}
	after := NewStream(CRI, 8)
	if err := after.RestoreJoins(before.Joins()); err != nil {
		t.Fatal(err)
	}
	// The rest of the dropped record is swallowed, and the next one read.
	if _, st := after.Push([]byte(`2026-11-24T10:00:00Z stdout F end`)); st != Pending {
		t.Errorf("the end of a dropped record: %v, want pending", st)
	}
	if rec, st := after.Push([]byte(`2026-11-24T10:00:01Z stdout F next`)); st != Record || string(rec) != "next" {
		t.Errorf("next record: %q %v", rec, st)
	}
}

func TestRestoreJoinsRejectsBadInput(t *testing.T) {
	for _, joins := range [][]Join{
		{{Wrapper: "json", Stream: "stdout"}},
		{{Wrapper: "cri", Stream: "stdin"}},
		{{Wrapper: "cri", Stream: "stdout", Parts: make([]byte, 9)}},
		{{Wrapper: "cri", Stream: "stdout", Dropping: true, Parts: []byte("x")}},
		{{Wrapper: "cri", Stream: "stdout"}, {Wrapper: "cri", Stream: "stdout"}},
	} {
		s := NewStream(CRI, 8)
		if err := s.RestoreJoins(joins); err == nil {
			t.Errorf("RestoreJoins(%+v) accepted", joins)
		}
		if len(s.Joins()) != 0 {
			t.Errorf("RestoreJoins(%+v) changed the stream on error", joins)
		}
	}
}
