package file

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/mirrord-exporter/mirrord-exporter/input"
)

// The high-rate rotation workload: a writer writes lines carrying sequence
// numbers as fast as it can and rotates every rotateEvery lines.
const (
	workloadLines = 200_000
	rotateEvery   = 4_000 // 50 rotations
	// lagLines are written to the old file after a rename rotation, once
	// before and once after the new (empty) file is created: the writer
	// switches late, as container runtimes do.
	lagLines = 3
)

const filler = " the quick brown fox jumps over the lazy dog"

// seqWriter produces the workload's lines.
type seqWriter struct {
	buf  []byte
	next int
}

func (w *seqWriter) line() []byte {
	w.buf = appendSeq(w.buf[:0], w.next)
	w.buf = append(w.buf, filler...)
	w.buf = append(w.buf, '\n')
	w.next++
	return w.buf
}

func appendSeq(b []byte, n int) []byte {
	var d [8]byte
	for i := 7; i >= 0; i-- {
		d[i] = byte('0' + n%10)
		n /= 10
	}
	return append(b, d[:]...)
}

func parseSeq(l []byte) (int, bool) {
	if len(l) != 8+len(filler) || string(l[8:]) != filler {
		return 0, false
	}
	n := 0
	for _, c := range l[:8] {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

func mustWrite(t *testing.T, f *os.File, b []byte) {
	if _, err := f.Write(b); err != nil {
		t.Errorf("write: %v", err)
	}
}

func mustCreate(t *testing.T, path string, flag int) *os.File {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|flag, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// renameWorkload writes the workload to file, rotating with rotate(k) (which
// renames file away) and then switching to a newly created file. It returns
// the number of rotations. It may run in a goroutine: it reports with
// t.Errorf.
func renameWorkload(t *testing.T, file string, rotate func(k int) error) int {
	f := mustCreate(t, file, os.O_APPEND)
	w := &seqWriter{}
	rotations, since := 0, 0
	for w.next < workloadLines {
		mustWrite(t, f, w.line())
		since++
		if since < rotateEvery || w.next >= workloadLines-2*lagLines {
			continue
		}
		since = 0
		if err := rotate(rotations); err != nil {
			t.Errorf("rotate: %v", err)
			break
		}
		rotations++
		for range lagLines {
			mustWrite(t, f, w.line())
		}
		nf := mustCreate(t, file, os.O_APPEND|os.O_EXCL)
		for range lagLines {
			mustWrite(t, f, w.line())
		}
		f.Close()
		f = nf
	}
	f.Close()
	return rotations
}

// kubeletRotate renames like the kubelet: 0.log -> 0.log.<timestamp>.
func kubeletRotate(file string) func(int) error {
	return func(k int) error {
		return os.Rename(file, fmt.Sprintf("%s.20261124-%06d", file, k))
	}
}

// logrotateRotate renames like logrotate: x.log.N -> x.log.N+1, x.log -> x.log.1.
func logrotateRotate(file string) func(int) error {
	return func(k int) error {
		if err := renumber(file, k); err != nil {
			return err
		}
		return os.Rename(file, file+".1")
	}
}

// renumber makes room for a new file.1 as logrotate does, oldest first:
// file.N -> file.N+1 for N from oldest down to 1.
func renumber(file string, oldest int) error {
	for i := oldest; i >= 1; i-- {
		if err := os.Rename(fmt.Sprintf("%s.%d", file, i), fmt.Sprintf("%s.%d", file, i+1)); err != nil {
			return err
		}
	}
	return nil
}

// copytruncateWorkload writes the workload to file, rotating like
// logrotate's copytruncate: renumber file.N to file.N+1, copy file to
// file.1, then truncate file; the writer keeps its O_APPEND descriptor and
// pauses only during the rotation.
func copytruncateWorkload(t *testing.T, file string) int {
	f := mustCreate(t, file, os.O_APPEND)
	defer f.Close()
	w := &seqWriter{}
	rotations, since := 0, 0
	for w.next < workloadLines {
		mustWrite(t, f, w.line())
		since++
		if since < rotateEvery || w.next >= workloadLines {
			continue
		}
		since = 0
		rotations++
		if err := renumber(file, rotations-1); err != nil {
			t.Errorf("renumber: %v", err)
			break
		}
		if err := copyFile(file, file+".1"); err != nil {
			t.Errorf("copy: %v", err)
			break
		}
		if err := os.Truncate(file, 0); err != nil {
			t.Errorf("truncate: %v", err)
			break
		}
	}
	return rotations
}

func copyFile(from, to string) error {
	return copyFileMode(from, to, 0o644)
}

// copyFileMode copies from to a new file to with the given mode.
func copyFileMode(from, to string, mode os.FileMode) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// seqSink records sequence numbers (and anything that is not one).
type seqSink struct {
	mu     sync.Mutex
	name   string
	seqs   []int
	bad    []string
	closed int
}

func (s *seqSink) Line(l []byte) {
	n, ok := parseSeq(l)
	s.mu.Lock()
	if ok {
		s.seqs = append(s.seqs, n)
	} else {
		s.bad = append(s.bad, string(l))
	}
	s.mu.Unlock()
}

func (s *seqSink) Flush() {}

func (s *seqSink) LineTooLong(n int) {
	s.mu.Lock()
	s.bad = append(s.bad, fmt.Sprintf("<line too long: %d>", n))
	s.mu.Unlock()
}

func (s *seqSink) Close() {
	s.mu.Lock()
	s.closed++
	s.mu.Unlock()
}

func (s *seqSink) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.seqs) + len(s.bad)
}

type seqRecorder struct {
	mu    sync.Mutex
	sinks []*seqSink
}

func (r *seqRecorder) newSink(_, name string) input.Sink {
	s := &seqSink{name: name}
	r.mu.Lock()
	r.sinks = append(r.sinks, s)
	r.mu.Unlock()
	return s
}

func (r *seqRecorder) total() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, s := range r.sinks {
		n += s.count()
	}
	return n
}

// seqStats compares delivered sequence numbers with 0..total-1.
type seqStats struct {
	lost, dup, outOfOrder, bad int
}

func (s seqStats) String() string {
	return fmt.Sprintf("lost=%d duplicated=%d out-of-order=%d malformed=%d", s.lost, s.dup, s.outOfOrder, s.bad)
}

func compareSeqs(seqs []int, bad int, total int) seqStats {
	st := seqStats{bad: bad}
	seen := make([]int, total)
	prev := -1
	for _, n := range seqs {
		if n < total {
			seen[n]++
		}
		if n <= prev {
			st.outOfOrder++
		}
		prev = n
	}
	for _, c := range seen {
		switch {
		case c == 0:
			st.lost++
		case c > 1:
			st.dup += c - 1
		}
	}
	return st
}

// checkWorkload asserts that exactly one stream named name delivered every
// sequence number exactly once, in order.
func checkWorkload(t *testing.T, rec *seqRecorder, name string) {
	t.Helper()
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.sinks) != 1 || rec.sinks[0].name != name {
		var names []string
		for _, s := range rec.sinks {
			names = append(names, s.name)
		}
		t.Fatalf("streams = %q, want exactly one for %s", names, name)
	}
	s := rec.sinks[0]
	s.mu.Lock()
	defer s.mu.Unlock()
	st := compareSeqs(s.seqs, len(s.bad), workloadLines)
	if st != (seqStats{}) || len(s.seqs) != workloadLines {
		first := -1
		for i, n := range s.seqs {
			if n != i {
				first = i
				break
			}
		}
		t.Fatalf("%s (%d lines delivered); first mismatch at index %d; malformed: %.200q", st, len(s.seqs), first, s.bad)
	}
	for i, n := range s.seqs {
		if n != i {
			t.Fatalf("line %d carries sequence %d", i, n)
		}
	}
}

// runWorkload follows name with cfg while write runs, waits until every
// line arrived and checks them.
func runWorkload(t *testing.T, cfg Config, name string, write func() int) (*harness, int, *seqRecorder) {
	t.Helper()
	rec := &seqRecorder{}
	cfg.NewSink = rec.newSink
	// The first file exists and is held before the writer starts: a file
	// rotated away before it was ever seen is history, not a lost line.
	writeFile(t, name, "")
	h := startManager(t, cfg)
	h.waitFor("the file to be opened", func() bool { return h.followed() == 1 })
	rotations := write()
	if t.Failed() {
		t.FailNow()
	}
	waitWorkload(t, h, rec, name)
	return h, rotations, rec
}

// waitWorkload waits until every line arrived (or the hang guard fired),
// stops the Manager and checks what was delivered.
func waitWorkload(t *testing.T, h *harness, rec *seqRecorder, name string) {
	t.Helper()
	deadline := time.Now().Add(hangGuard)
	for rec.total() < workloadLines && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if err := h.shutdown(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("logs:\n%s", h.logs)
		}
	})
	checkWorkload(t, rec, name)
}

func sameDir(t *testing.T) string {
	t.Helper()
	d, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return d
}
