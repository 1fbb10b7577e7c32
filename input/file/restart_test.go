package file

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mirrord-exporter/mirrord-exporter/input"
)

// TestRestartsUnderRotation stops and resumes the follower from its saved
// positions at random instants while the file is rotated by rename and by
// copytruncate, keeping only what each run delivered before its save (what
// a kill -9 right after the save leaves). Every line must be delivered
// exactly once, in order, over all the runs.
func TestRestartsUnderRotation(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 1))
	dir := sameDir(t)
	file := filepath.Join(dir, "x.log")
	writeFile(t, file, "")
	const lines = 60_000

	// The writer starts once the first run has opened the file: a
	// generation rotated away before the exporter ever saw the path is
	// history, not to be read.
	begin, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		<-begin
		wrng := rand.New(rand.NewPCG(seed, 2))
		r := newMixedRotator(t, file)
		defer r.close()
		w := &seqWriter{}
		for w.next < lines {
			mustWrite(t, r.f, w.line())
			if w.next%500 == 0 {
				time.Sleep(time.Duration(wrng.IntN(3)) * time.Millisecond)
			}
			if w.next%2000 != 0 || w.next == lines {
				continue
			}
			if err := r.rotate(); err != nil {
				t.Errorf("rotate: %v", err)
				return
			}
		}
		// The last generation is renamed away and nothing takes its place:
		// the rest of it is only to be found under its rotated name.
		if err := renumber(file, r.rotations); err != nil {
			t.Errorf("renumber: %v", err)
		}
		if err := os.Rename(file, file+".1"); err != nil {
			t.Errorf("rename: %v", err)
		}
	}()

	var kept []int
	var logs strings.Builder
	var pos []FilePosition
	writing := true
	for run := 0; ; run++ {
		select {
		case <-done:
			writing = false
		default:
		}
		gate := &input.Gate{}
		rec := &seqRecorder{}
		h := newHarness(t, Config{Paths: []string{file}, Gate: gate, Resume: pos, PollInterval: 5 * time.Millisecond, NewSink: rec.newSink})
		h.start()
		if run == 0 {
			h.waitFor("the file opened", func() bool {
				gate.Close() // positions are read between deliveries
				defer gate.Open()
				pos := h.m.Positions()
				return len(pos) == 1 && pos[0].Inode != 0
			})
			close(begin)
		}
		if writing {
			time.Sleep(time.Duration(1+rng.IntN(30)) * time.Millisecond)
		} else {
			deadline := time.Now().Add(hangGuard)
			for len(kept)+rec.total() < lines && time.Now().Before(deadline) {
				time.Sleep(5 * time.Millisecond)
			}
		}
		gate.Close()
		pos = h.m.Positions()
		var got []int
		rec.mu.Lock()
		for _, s := range rec.sinks {
			s.mu.Lock()
			got = append(got, s.seqs...)
			if len(s.bad) > 0 {
				t.Errorf("run %d: malformed lines %q", run, s.bad)
			}
			s.mu.Unlock()
		}
		rec.mu.Unlock()
		gate.Open()
		if err := h.shutdown(); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&logs, "--- run %d: %d lines (%v..%v)", run, len(got), first(got), last(got))
		for _, p := range pos {
			fmt.Fprintf(&logs, " position inode %d offset %d head %q", p.Inode, p.Offset, p.Head[:min(len(p.Head), 8)])
		}
		fmt.Fprintf(&logs, "\n%s", h.logs)
		kept = append(kept, got...)
		if !writing {
			break
		}
	}
	if st := compareSeqs(kept, 0, lines); st != (seqStats{}) || len(kept) != lines {
		first := -1
		for i, n := range kept {
			if n != i {
				first = i
				break
			}
		}
		t.Fatalf("%s (%d lines delivered); first mismatch at index %d\n%s", st, len(kept), first, logs.String())
	}
}

func first(s []int) any {
	if len(s) == 0 {
		return "-"
	}
	return s[0]
}

func last(s []int) any {
	if len(s) == 0 {
		return "-"
	}
	return s[len(s)-1]
}

// TestPinStartKeepsTheFirstFile: a first run (no saved positions) pins the
// file each path names at its start, so that a save before any line is read
// knows it. Killed before a later save and restarted once that file was
// rotated away, the exporter reads it from its rotated name, then the new
// file: without the pin, the rotated one was taken for history and lost.
func TestPinStartKeepsTheFirstFile(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "x.log")
	writeFile(t, file, "a1\na2\n")
	first := newHarness(t, Config{Paths: []string{file}, Gate: &input.Gate{}})
	first.m.PinStart()
	pos := first.m.Positions()
	if len(pos) != 1 || pos[0].Path != file || pos[0].Offset != 0 || string(pos[0].Head) != "a1\na2\n" {
		t.Fatalf("pinned positions %+v, want %s at offset 0 with its first bytes", pos, file)
	}
	// The first run dies before reading; the file is rotated and a new one
	// written.
	if err := os.Rename(file, file+".1"); err != nil {
		t.Fatal(err)
	}
	writeFile(t, file, "b1\n")
	h := startManager(t, Config{Paths: []string{file}, Gate: &input.Gate{}, Resume: pos, PollInterval: 5 * time.Millisecond})
	h.waitLines(file, "a1", "a2", "b1")
}

// TestPinStartLeavesResumedAndFromEnd: a run that resumes keeps its saved
// positions, and one that starts at the end pins nothing.
func TestPinStartLeavesResumedAndFromEnd(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "x.log")
	writeFile(t, file, "a1\na2\n")
	saved := []FilePosition{{Input: file, Path: file, Device: 1, Inode: 2, Offset: 3}}
	resumed := newHarness(t, Config{Paths: []string{file}, Gate: &input.Gate{}, Resume: saved})
	resumed.m.PinStart()
	if got := resumed.m.Positions(); len(got) != 1 || got[0].Inode != 2 || got[0].Offset != 3 {
		t.Errorf("a resumed run's positions changed: %+v", got)
	}
	fromEnd := newHarness(t, Config{Paths: []string{file}, Gate: &input.Gate{}, FromEnd: true})
	fromEnd.m.PinStart()
	if got := fromEnd.m.Positions(); len(got) != 0 {
		t.Errorf("--input.from=end pinned %+v", got)
	}
}
