package source

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
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
