package file

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/mirrord-exporter/mirrord-exporter/input"
)

// savedPositions stops the deliveries, reads the positions and lets the
// deliveries go on, as the state saver does.
func savedPositions(h *harness, gate *input.Gate) []FilePosition {
	gate.Close()
	defer gate.Open()
	return h.m.Positions()
}

// runUntilSaved follows path until want was delivered, saves the positions
// and stops.
func runUntilSaved(t *testing.T, path string, want ...string) []FilePosition {
	t.Helper()
	gate := &input.Gate{}
	h := startManager(t, Config{Paths: []string{path}, Gate: gate, PollInterval: 5 * time.Millisecond})
	h.waitLines(path, want...)
	pos := savedPositions(h, gate)
	if err := h.shutdown(); err != nil {
		t.Fatal(err)
	}
	if len(pos) != 1 || pos[0].Path != path {
		t.Fatalf("positions = %+v, want one for %s", pos, path)
	}
	return pos
}

// resumed follows path from the saved positions.
func resumed(t *testing.T, path string, pos []FilePosition) *harness {
	t.Helper()
	return startManager(t, Config{Paths: []string{path}, Gate: &input.Gate{}, Resume: pos, PollInterval: 5 * time.Millisecond})
}

func TestResumeSameFileMidLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.log")
	writeFile(t, path, "a\nb\npart")
	pos := runUntilSaved(t, path, "a", "b")
	if pos[0].Offset != 4 || string(pos[0].Head) != "a\nb\npart" {
		t.Fatalf("position = offset %d head %q, want offset 4 (the unfinished line is read again) and the bytes read", pos[0].Offset, pos[0].Head)
	}
	appendFile(t, path, "ial\nd\n")
	h := resumed(t, path, pos)
	h.waitLines(path, "partial", "d")
	if !contains(h.logs.String(), "resuming log file at the saved position") {
		t.Errorf("no resume logged:\n%s", h.logs)
	}
}

func TestResumeAfterTwoRenameRotations(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "x.log")
	writeFile(t, path, "a\nb\n")
	pos := runUntilSaved(t, path, "a", "b")

	// While the exporter is down: the rest of the generation, then two
	// logrotate-style rotations.
	appendFile(t, path, "c\n")
	rename(t, path, path+".1")
	writeFile(t, path, "d\n")
	rename(t, path+".1", path+".2")
	rename(t, path, path+".1")
	writeFile(t, path, "e\n")

	h := resumed(t, path, pos)
	h.waitLines(path, "c", "d", "e")
	appendFile(t, path, "f\n")
	h.waitLines(path, "c", "d", "e", "f")
}

func TestResumeAfterCopyTruncate(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "x.log")
	writeFile(t, path, "a\nb\n")
	pos := runUntilSaved(t, path, "a", "b")

	appendFile(t, path, "c\n")
	if err := copyFile(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	writeFile(t, path, "d\n") // truncates in place: same inode, new content

	h := resumed(t, path, pos)
	h.waitLines(path, "c", "d")
	if !contains(h.logs.String(), "saved="+path+".1") {
		t.Errorf("the rest was not read from the copy:\n%s", h.logs)
	}
}

func TestResumeWithoutMatchReadsFromStart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.log")
	writeFile(t, path, "a\nb\n")
	pos := runUntilSaved(t, path, "a", "b")

	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	writeFile(t, path, "x\ny\nz\n")
	h := resumed(t, path, pos)
	h.waitLines(path, "x", "y", "z")
	if !contains(h.logs.String(), "the saved position matches no file") {
		t.Errorf("the unmatched position was not logged:\n%s", h.logs)
	}
}

func TestResumedInputReadsNewFilesFromStart(t *testing.T) {
	dir := t.TempDir()
	a := filepath.Join(dir, "a.log")
	writeFile(t, a, "1\n")
	glob := filepath.Join(dir, "*.log")
	gate := &input.Gate{}
	h := startManager(t, Config{Paths: []string{glob}, Gate: gate, PollInterval: 5 * time.Millisecond})
	h.waitLines(a, "1")
	pos := savedPositions(h, gate)
	if err := h.shutdown(); err != nil {
		t.Fatal(err)
	}

	// b.log appeared while the exporter was down: its lines came after the
	// save, so --input.from=end must not skip them.
	b := filepath.Join(dir, "b.log")
	writeFile(t, b, "2\n3\n")
	appendFile(t, a, "4\n")
	h = startManager(t, Config{Paths: []string{glob}, FromEnd: true, Gate: &input.Gate{}, Resume: pos, PollInterval: 5 * time.Millisecond})
	h.waitLines(b, "2", "3")
	h.waitLines(a, "4")
}

func TestPositionsFollowDeliveries(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.log")
	writeFile(t, path, "a\n")
	gate := &input.Gate{}
	h := startManager(t, Config{Paths: []string{path}, Gate: gate, PollInterval: 5 * time.Millisecond})
	h.waitLines(path, "a")

	// While the gate is closed nothing is delivered and the position stays
	// where the deliveries left it.
	gate.Close()
	appendFile(t, path, "b\nc\n")
	// The follower comes to deliver b and c and must wait at the gate: wait
	// until it does (or, wrongly, delivered them) rather than for some time.
	h.waitFor("the follower to wait at the gate", func() bool {
		return len(h.rec.lines(path)) > 1 || readerWaitsAtGate()
	})
	got := len(h.rec.lines(path))
	pos := h.m.Positions()
	gate.Open()
	if got != 1 || pos[0].Offset != 2 {
		t.Fatalf("with the gate closed: %d lines delivered and offset %d, want 1 and 2", got, pos[0].Offset)
	}
	h.waitLines(path, "a", "b", "c")
	if pos := savedPositions(h, gate); pos[0].Offset != int64(len("a\nb\nc\n")) {
		t.Fatalf("offset after reading everything = %d", pos[0].Offset)
	}
}

func rename(t *testing.T, from, to string) {
	t.Helper()
	if err := os.Rename(from, to); err != nil {
		t.Fatal(err)
	}
}

// TestResumeKubeletRotationsThroughSymlink: the kubelet's layout, a symlink
// in /var/log/containers to /var/log/pods/.../0.log, rotated twice while the
// exporter was down to 0.log.<timestamp> names next to the target.
func TestResumeKubeletRotationsThroughSymlink(t *testing.T) {
	root := t.TempDir()
	pods := filepath.Join(root, "pods", "mirrord_op_uid", "mirrord-operator")
	containers := filepath.Join(root, "containers")
	for _, d := range []string{pods, containers} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	target := filepath.Join(pods, "0.log")
	link := filepath.Join(containers, "op_mirrord_mirrord-operator-abc.log")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	writeFile(t, target, "a\nb\n")
	pos := runUntilSaved(t, link, "a", "b")

	appendFile(t, target, "c\n")
	rename(t, target, target+".20261124-100000")
	writeFile(t, target, "d\n")
	rename(t, target, target+".20261124-110000")
	writeFile(t, target, "e\n")

	h := resumed(t, link, pos)
	h.waitLines(link, "c", "d", "e")
	if !contains(h.logs.String(), "newer_generations=1") {
		t.Errorf("the generation in between was not read from its rotated name:\n%s", h.logs)
	}
}

// TestResumeWhilePathMissing: the file was rotated away while the exporter
// was down and nothing was written at the path since: the rest of the saved
// generation is read from its rotated name at once, and the new file once
// it appears.
func TestResumeWhilePathMissing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.log")
	writeFile(t, path, "a\nb\n")
	pos := runUntilSaved(t, path, "a", "b")

	appendFile(t, path, "c\n")
	rename(t, path, path+".1")
	h := resumed(t, path, pos)
	h.waitLines(path, "c")
	writeFile(t, path, "d\n")
	h.waitLines(path, "c", "d")
}

// TestUnresolvedPositionIsKept: while neither the path nor a rotated
// generation holds the saved file, the position is saved again as it was,
// not dropped.
func TestUnresolvedPositionIsKept(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "x.log")
	writeFile(t, path, "a\n")
	pos := runUntilSaved(t, path, "a")
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	gate := &input.Gate{}
	ticks := make(chan time.Time)
	h := newHarness(t, Config{Paths: []string{path}, Gate: gate, Resume: pos})
	h.m.newTicker = manualTicks(ticks)
	h.start()
	h.look(ticks)
	if got := savedPositions(h, gate); len(got) != 1 || got[0].Offset != pos[0].Offset || got[0].Inode != pos[0].Inode {
		t.Errorf("positions while the file is missing: %+v, want the saved %+v", got, pos)
	}
}

// TestEmptyPositionMatchesNoOtherFile: a position saved before anything was
// read of its file has no first bytes; when that file is gone, another
// generation must not be taken for it.
func TestEmptyPositionMatchesNoOtherFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "x.log")
	writeFile(t, path, "")
	gate := &input.Gate{}
	h := startManager(t, Config{Paths: []string{path}, Gate: gate, PollInterval: 5 * time.Millisecond})
	h.waitFor("the file to be opened", func() bool { return h.followed() == 1 })
	pos := savedPositions(h, gate)
	if err := h.shutdown(); err != nil {
		t.Fatal(err)
	}
	if len(pos) != 1 || pos[0].Offset != 0 || len(pos[0].Head) != 0 {
		t.Fatalf("positions %+v, want one at offset 0 with no first bytes", pos)
	}
	// The other files are made while the saved one still exists, so that
	// neither can reuse its inode number.
	writeFile(t, path+".1", "old\n")
	writeFile(t, filepath.Join(dir, "next"), "new\n")
	rename(t, filepath.Join(dir, "next"), path)
	h = resumed(t, path, pos)
	h.waitLines(path, "new")
}

// readerWaitsAtGate reports whether a follower is inside input.Gate.Enter
// on its way to read and deliver: with the gate closed, it stays there until
// the gate opens. The goroutines' stacks are the only place that shows it
// without a hook in the reading path.
func readerWaitsAtGate() bool {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	for g := range strings.SplitSeq(string(buf), "\n\n") {
		if strings.Contains(g, "input.(*Gate).Enter(") && strings.Contains(g, "file.(*follower).readAvailable(") {
			return true
		}
	}
	return false
}
