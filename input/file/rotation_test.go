package file

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/mirrord-exporter/mirrord-exporter/input"
)

// Rename rotation at a high rate, kubelet style, on a literal path.
func TestRenameRotationHighRate(t *testing.T) {
	dir := sameDir(t)
	file := filepath.Join(dir, "0.log")
	h, rotations, _ := runWorkload(t, Config{Paths: []string{file}, PollInterval: 50 * time.Millisecond}, file,
		func() int { return renameWorkload(t, file, kubeletRotate(file)) })
	if rotations < 40 {
		t.Fatalf("only %d rotations", rotations)
	}
	if got := h.rotations(rotationRename); got != float64(rotations) {
		t.Errorf("rename rotations counted %v, performed %d", got, rotations)
	}
	if got := h.rotations(rotationTruncate); got != 0 {
		t.Errorf("truncate rotations counted %v", got)
	}
	if h.followed() != 0 {
		t.Errorf("files_followed = %v after shutdown", h.followed())
	}
}

// The same through a symlink matched by a glob, as with the kubelet's
// /var/log/containers/<name>.log -> /var/log/pods/.../0.log.
func TestRenameRotationThroughSymlink(t *testing.T) {
	dir := sameDir(t)
	pods := filepath.Join(dir, "pods", "ns_pod_uid", "app")
	containers := filepath.Join(dir, "containers")
	for _, d := range []string{pods, containers} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	file := filepath.Join(pods, "0.log")
	link := filepath.Join(containers, "pod_ns_app-123.log")
	writeFile(t, file, "")
	if err := os.Symlink("../pods/ns_pod_uid/app/0.log", link); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(file); err != nil { // the workload creates it
		t.Fatal(err)
	}
	cfg := Config{Paths: []string{filepath.Join(containers, "*.log")}, PollInterval: 50 * time.Millisecond}
	rec := &seqRecorder{}
	cfg.NewSink = rec.newSink
	h := startManager(t, cfg)
	// The glob must have matched the link before the workload starts, or
	// the first file would be found by a rescan instead.
	f := mustCreate(t, file, os.O_APPEND)
	f.Close()
	h.waitFor("the link to be followed", func() bool { return h.followed() == 1 })
	rotations := renameWorkload(t, file, kubeletRotate(file))
	waitWorkload(t, h, rec, link)
	if got := h.rotations(rotationRename); got != float64(rotations) || rotations < 40 {
		t.Errorf("rename rotations counted %v, performed %d", got, rotations)
	}
}

// logrotate-style renames (x.log -> x.log.1, older ones renumbered) with
// polling only.
func TestRenameRotationPollingOnly(t *testing.T) {
	dir := sameDir(t)
	file := filepath.Join(dir, "x.log")
	h, rotations, _ := runWorkload(t, Config{Paths: []string{file}, DisableInotify: true, PollInterval: 2 * time.Millisecond}, file,
		func() int { return renameWorkload(t, file, logrotateRotate(file)) })
	if got := h.rotations(rotationRename); got != float64(rotations) || rotations < 40 {
		t.Errorf("rename rotations counted %v, performed %d", got, rotations)
	}
}

// copytruncate at a high rate: the unread tail of every generation is
// recovered from its copy.
func TestCopyTruncateHighRate(t *testing.T) {
	dir := sameDir(t)
	file := filepath.Join(dir, "x.log")
	h, rotations, _ := runWorkload(t, Config{Paths: []string{file}, PollInterval: 50 * time.Millisecond}, file,
		func() int { return copytruncateWorkload(t, file) })
	if got := h.rotations(rotationTruncate); got != float64(rotations) || rotations < 40 {
		t.Errorf("truncate rotations counted %v, performed %d", got, rotations)
	}
	if h.lost() != 0 {
		t.Errorf("bytes lost = %v", h.lost())
	}
}

// Deterministic copytruncate: bytes written after the follower's last look
// are read from the copy.
func TestCopyTruncateRecoversUnreadBytes(t *testing.T) {
	dir := sameDir(t)
	file := filepath.Join(dir, "x.log")
	writeFile(t, file, "l1\nl2\n")
	ticks := make(chan time.Time)
	h := newHarness(t, Config{Paths: []string{file}, DisableInotify: true})
	h.m.newTicker = manualTicks(ticks)
	h.start()
	h.waitLines(file, "l1", "l2")
	appendFile(t, file, "l3\nl4 part")
	h.look(ticks) // reads l3 and holds "l4 part"
	appendFile(t, file, "ial\nl5\n")
	if err := copyFile(file, file+".1"); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(file, 0); err != nil {
		t.Fatal(err)
	}
	appendFile(t, file, "l6\n")
	h.look(ticks)
	h.expectLines(file, "l1", "l2", "l3", "l4 partial", "l5", "l6")
	if h.rotations(rotationTruncate) != 1 || h.lost() != 0 {
		t.Errorf("truncate rotations %v, lost %v", h.rotations(rotationTruncate), h.lost())
	}
}

// A plain truncate and rewrite (no copy): read from 0; lost bytes counted
// only when some were not read.
func TestTruncateAndRewrite(t *testing.T) {
	dir := sameDir(t)
	file := filepath.Join(dir, "x.log")
	writeFile(t, file, "a1\na2\n")
	ticks := make(chan time.Time)
	h := newHarness(t, Config{Paths: []string{file}, DisableInotify: true})
	h.m.newTicker = manualTicks(ticks)
	h.start()
	h.waitLines(file, "a1", "a2")

	writeFile(t, file, "b\n") // O_TRUNC, shorter than before
	h.look(ticks)
	h.expectLines(file, "a1", "a2", "b")
	if h.rotations(rotationTruncate) != 1 || h.lost() != 0 {
		t.Fatalf("after a fully read truncate: rotations %v, lost %v", h.rotations(rotationTruncate), h.lost())
	}

	appendFile(t, file, "unfinished")
	h.look(ticks) // the follower now holds 10 bytes of a line
	writeFile(t, file, "c\n")
	h.look(ticks)
	h.expectLines(file, "a1", "a2", "b", "c")
	if h.rotations(rotationTruncate) != 2 || h.lost() != float64(len("unfinished")) {
		t.Fatalf("after truncating an unread tail: rotations %v, lost %v", h.rotations(rotationTruncate), h.lost())
	}
	if !contains(h.logs.String(), "delaycompress") {
		t.Errorf("no warning about lost bytes in logs:\n%s", h.logs)
	}
}

// A truncate that regrows past the old offset before the follower looks
// again is caught by the fingerprint, not by size.
func TestTruncateRegrowPastOffset(t *testing.T) {
	dir := sameDir(t)
	file := filepath.Join(dir, "x.log")
	writeFile(t, file, "old1\nold2\n")
	ticks := make(chan time.Time)
	h := newHarness(t, Config{Paths: []string{file}, DisableInotify: true})
	h.m.newTicker = manualTicks(ticks)
	h.start()
	h.waitLines(file, "old1", "old2")
	// The follower does not look until told; the file is already bigger
	// than before when it does.
	writeFile(t, file, "new-line-1\nnew-line-2\nnew-line-3\n")
	h.look(ticks)
	h.expectLines(file, "old1", "old2", "new-line-1", "new-line-2", "new-line-3")
	if h.rotations(rotationTruncate) != 1 || h.lost() != 0 {
		t.Fatalf("rotations %v, lost %v", h.rotations(rotationTruncate), h.lost())
	}
	// Rewritten to exactly the old size, nothing appended after.
	writeFile(t, file, "NEW-LINE-1\nNEW-LINE-2\nNEW-LINE-3\n")
	h.look(ticks)
	h.expectLines(file, "old1", "old2", "new-line-1", "new-line-2", "new-line-3", "NEW-LINE-1", "NEW-LINE-2", "NEW-LINE-3")
}

// A rename rotation delivers the old file's final unterminated line, and the
// writer still writing the old file after the rename is followed until the
// new file has data.
func TestRenameRotationLateWriterAndFinalPartialLine(t *testing.T) {
	dir := sameDir(t)
	file := filepath.Join(dir, "0.log")
	ticks := make(chan time.Time)
	h := newHarness(t, Config{Paths: []string{file}, DisableInotify: true})
	h.m.newTicker = manualTicks(ticks)
	writeFile(t, file, "one\ntw")
	h.start()
	h.waitLines(file, "one")
	old, err := os.OpenFile(file, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	if err := os.Rename(file, file+".1"); err != nil {
		t.Fatal(err)
	}
	h.look(ticks) // the path is missing: keep reading the old file
	if _, err := old.WriteString("o\nthree\nfou"); err != nil {
		t.Fatal(err)
	}
	writeFile(t, file, "") // the new file exists but is empty: not switched yet
	h.look(ticks)
	h.expectLines(file, "one", "two", "three")
	if _, err := old.WriteString("r-unterminated"); err != nil {
		t.Fatal(err)
	}
	appendFile(t, file, "five\n")
	h.look(ticks)
	h.expectLines(file, "one", "two", "three", "four-unterminated", "five")
	if h.rotations(rotationRename) != 1 {
		t.Fatalf("rename rotations %v", h.rotations(rotationRename))
	}
	if h.followed() != 1 {
		t.Fatalf("files_followed = %v, want 1 (the old file closed)", h.followed())
	}
}

// Rename rotation and copytruncate mixed on one file, logrotate style
// (numbered generations renumbered at each rotation): a configuration
// change from one to the other, or two rotation tools, must lose nothing.
func TestMixedRotationHighRate(t *testing.T) {
	dir := sameDir(t)
	file := filepath.Join(dir, "x.log")
	h, rotations, _ := runWorkload(t, Config{Paths: []string{file}, PollInterval: 20 * time.Millisecond}, file,
		func() int { return mixedWorkload(t, file) })
	if got := h.rotations(rotationRename) + h.rotations(rotationTruncate); got < float64(rotations) || rotations < 40 {
		t.Errorf("rotations counted %v, performed %d", got, rotations)
	}
}

// mixedWorkload writes the workload to file, rotating every rotateEvery
// lines (see mixedRotator).
func mixedWorkload(t *testing.T, file string) int {
	r := newMixedRotator(t, file)
	defer r.close()
	w := &seqWriter{}
	for since := 0; w.next < workloadLines; {
		mustWrite(t, r.f, w.line())
		if since++; since < rotateEvery || w.next >= workloadLines {
			continue
		}
		since = 0
		if err := r.rotate(); err != nil {
			t.Errorf("rotate: %v", err)
			break
		}
	}
	return r.rotations
}

// mixedRotator rotates a file logrotate style, renumbering the generations,
// by rename twice, then by copytruncate once; f is the file to write.
type mixedRotator struct {
	t         *testing.T
	file      string
	f         *os.File
	rotations int
}

func newMixedRotator(t *testing.T, file string) *mixedRotator {
	return &mixedRotator{t: t, file: file, f: mustCreate(t, file, os.O_APPEND)}
}

func (r *mixedRotator) rotate() error {
	if err := renumber(r.file, r.rotations); err != nil {
		return fmt.Errorf("renumber: %w", err)
	}
	r.rotations++
	if r.rotations%3 == 0 {
		if err := copyFile(r.file, r.file+".1"); err != nil {
			return fmt.Errorf("copy: %w", err)
		}
		return os.Truncate(r.file, 0)
	}
	if err := os.Rename(r.file, r.file+".1"); err != nil {
		return err
	}
	r.f.Close()
	r.f = mustCreate(r.t, r.file, os.O_APPEND|os.O_EXCL)
	return nil
}

func (r *mixedRotator) close() { r.f.Close() }

// steppedSink is a seqSink whose Flush, called after each chunk read, waits
// for the test: the follower stops between two reads of a long file where
// the test wants it.
type steppedSink struct {
	seqSink
	flushed chan struct{} // a Flush is waiting
	step    chan struct{} // lets one Flush return
	free    chan struct{} // closed: no Flush waits any more
}

func (s *steppedSink) Flush() {
	select {
	case <-s.free:
		return
	case s.flushed <- struct{}{}:
	}
	select {
	case <-s.step:
	case <-s.free:
	}
}

// steppedFollow starts following file, whose first generation (A) the test
// has written, with a steppedSink, and waits until the first chunk of A is
// read. step lets the follower finish that chunk, look at the path and read
// the next chunk of A.
func steppedFollow(t *testing.T, file string) (h *harness, sink *steppedSink, step func()) {
	t.Helper()
	sink = &steppedSink{flushed: make(chan struct{}), step: make(chan struct{}), free: make(chan struct{})}
	h = newHarness(t, Config{Paths: []string{file}, PollInterval: 5 * time.Millisecond, NewSink: func(_, name string) input.Sink {
		sink.name = name
		return sink
	}})
	h.start()
	t.Cleanup(func() {
		select {
		case <-sink.free:
		default:
			close(sink.free)
		}
	})
	waitFlush := func(what string) {
		t.Helper()
		select {
		case <-sink.flushed:
		case <-time.After(hangGuard):
			t.Fatalf("the follower did not %s\n%s", what, h.logs)
		}
	}
	waitFlush("start reading")
	step = func() {
		t.Helper()
		select {
		case sink.step <- struct{}{}:
		case <-time.After(hangGuard):
			t.Fatalf("the follower did not come back for the next chunk\n%s", h.logs)
		}
		waitFlush("read the next chunk")
	}
	return h, sink, step
}

// requireAllInOrder lets the follower go and fails unless every line the
// writer wrote is delivered once, in order.
func requireAllInOrder(t *testing.T, h *harness, sink *steppedSink, w *seqWriter) {
	t.Helper()
	close(sink.free)
	total := w.next
	h.waitFor("every line", func() bool { return sink.count() >= total })
	sink.mu.Lock()
	st := compareSeqs(sink.seqs, len(sink.bad), total)
	sink.mu.Unlock()
	if st != (seqStats{}) {
		t.Fatalf("%s\n%s", st, h.logs)
	}
}

// writeGeneration creates path with n lines of w.
func writeGeneration(t *testing.T, path string, w *seqWriter, n int) {
	t.Helper()
	f := mustCreate(t, path, os.O_APPEND|os.O_EXCL)
	for range n {
		mustWrite(t, f, w.line())
	}
	f.Close()
}

// copyTruncateThenRename rotates the file at the path twice, as the mixed
// rotator does: copytruncate (its lines go to a copy at x.log.1, and it goes
// on with n lines), then rename (it goes to x.log.1, and a new file at the
// path gets n lines). older is how many rotated files are there before.
func copyTruncateThenRename(t *testing.T, file string, w *seqWriter, older, n int) {
	t.Helper()
	if err := renumber(file, older); err != nil {
		t.Fatal(err)
	}
	if err := copyFile(file, file+".1"); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(file, 0); err != nil {
		t.Fatal(err)
	}
	f := mustCreate(t, file, os.O_APPEND)
	for range n {
		mustWrite(t, f, w.line())
	}
	f.Close()
	if err := renumber(file, older+1); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(file, file+".1"); err != nil {
		t.Fatal(err)
	}
	writeGeneration(t, file, w, n)
}

// TestCopyOfUnreadGenerationKeepsItsPlace: while the follower is in the
// middle of a long generation (A), the next one (B) appears at the path and
// is held, not read yet. B is then copied and truncated (its lines now only
// in the copy, B' at x.log.1) and goes on with the lines of C, then renamed
// away behind a new file (D). B' is found at the next look: its lines come
// before C's, so it is read before B, not after it.
func TestCopyOfUnreadGenerationKeepsItsPlace(t *testing.T) {
	file := filepath.Join(sameDir(t), "x.log")
	w := &seqWriter{}
	writeGeneration(t, file, w, 20_000) // A: well over one 64 KiB read
	h, sink, step := steppedFollow(t, file)
	// A is renamed away; B takes the path and is held from the next look.
	if err := os.Rename(file, file+".1"); err != nil {
		t.Fatal(err)
	}
	writeGeneration(t, file, w, 100)
	step()
	copyTruncateThenRename(t, file, w, 1, 100)
	step() // the look that finds B' and D
	requireAllInOrder(t, h, sink, w)
}

// TestCopyOfUnreadGenerationRenamedAsItIsOpened: as above, but the
// rotations come while the follower reads the last chunk of A, so that B is
// found renamed away only when it is about to be read: B' is older than B by
// its rotated name and is read first, not left to a later look that takes it
// for history and drops it.
func TestCopyOfUnreadGenerationRenamedAsItIsOpened(t *testing.T) {
	file := filepath.Join(sameDir(t), "x.log")
	w := &seqWriter{}
	writeGeneration(t, file, w, 1500) // A: two 64 KiB reads
	h, sink, step := steppedFollow(t, file)
	if err := os.Rename(file, file+".1"); err != nil {
		t.Fatal(err)
	}
	writeGeneration(t, file, w, 100)
	step() // B is held; the last chunk of A is read
	copyTruncateThenRename(t, file, w, 1, 100)
	requireAllInOrder(t, h, sink, w)
}

// TestRenamedFileFinalRead: the writer appends its last lines to the
// renamed-away file after the follower's read of it reached its end, and
// only then writes the new file. The follower sees the new file's data and
// switches: the final read of the old file (finishRenamed) is the only one
// that can deliver those last lines. The stepped sink holds the follower
// inside that read, between its end of file and its check of the new file,
// while the writer does so, so the window is hit every time.
func TestRenamedFileFinalRead(t *testing.T) {
	file := filepath.Join(sameDir(t), "0.log")
	w := &seqWriter{}
	writeGeneration(t, file, w, 1)
	old, err := os.OpenFile(file, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	h, sink, step := steppedFollow(t, file) // held after reading line 0
	rename(t, file, file+".1")
	writeFile(t, file, "") // the new file, held from the next look on, empty
	mustWrite(t, old, w.line())
	// The follower ends this look at the end of line 0's read (nothing
	// newer held then); the next look holds the new file and reads line 1
	// from the old one, where it is held again.
	step()
	mustWrite(t, old, w.line()) // after the read of line 1 saw the end of file
	nf, err := os.OpenFile(file, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	mustWrite(t, nf, w.line()) // the writer has switched
	nf.Close()
	close(sink.free)
	last := w.next - 1
	h.waitFor("the new file's line", func() bool {
		sink.mu.Lock()
		defer sink.mu.Unlock()
		return slices.Contains(sink.seqs, last)
	})
	sink.mu.Lock()
	st := compareSeqs(sink.seqs, len(sink.bad), w.next)
	sink.mu.Unlock()
	if st != (seqStats{}) {
		t.Fatalf("%s\n%s", st, h.logs)
	}
	if got := h.rotations(rotationRename); got != 1 {
		t.Errorf("rename rotations counted %v, want 1", got)
	}
}
