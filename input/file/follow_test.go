package file

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mirrord-exporter/mirrord-exporter/input"
)

// A line written in several pieces is delivered once, complete.
func TestPartialLineAcrossWrites(t *testing.T) {
	file := filepath.Join(sameDir(t), "a.log")
	writeFile(t, file, "")
	ticks := make(chan time.Time)
	h := newHarness(t, Config{Paths: []string{file}, DisableInotify: true})
	h.m.newTicker = manualTicks(ticks)
	h.start()
	for _, piece := range []string{"hel", "lo\nwor", "l", "d\n"} {
		appendFile(t, file, piece)
		h.look(ticks)
	}
	h.expectLines(file, "hello", "world")
	if err := h.shutdown(); err != nil {
		t.Fatal(err)
	}
	_, _, closed := h.rec.streams(file)[0].snapshot()
	if closed != 1 {
		t.Fatalf("Close called %d times", closed)
	}
}

// An over-long line between good lines is skipped and reported by size,
// also when it arrives in pieces.
func TestLineTooLong(t *testing.T) {
	file := filepath.Join(sameDir(t), "a.log")
	writeFile(t, file, "")
	ticks := make(chan time.Time)
	h := newHarness(t, Config{Paths: []string{file}, DisableInotify: true, MaxLineBytes: 100})
	h.m.newTicker = manualTicks(ticks)
	h.start()
	long := strings.Repeat("x", 250)
	for _, piece := range []string{"good1\n" + long[:90], long[90:200], long[200:] + "\n" + strings.Repeat("y", 100) + "\ngood2\n"} {
		appendFile(t, file, piece)
		h.look(ticks)
	}
	h.expectLines(file, "good1", strings.Repeat("y", 100), "good2")
	_, tooLong, _ := h.rec.streams(file)[0].snapshot()
	if len(tooLong) != 1 || tooLong[0] != 250 {
		t.Fatalf("LineTooLong calls %v, want [250]", tooLong)
	}
}

// Lines longer than the initial 64 KiB buffer are delivered when allowed;
// longer ones are skipped.
func TestLongLinesBeyondBuffer(t *testing.T) {
	file := filepath.Join(sameDir(t), "a.log")
	ok := strings.Repeat("a", 200<<10)
	tooLong := strings.Repeat("b", 700<<10)
	writeFile(t, file, "first\n"+ok+"\n"+tooLong+"\nlast\n")
	h := startManager(t, Config{Paths: []string{file}, MaxLineBytes: 256 << 10})
	h.waitFor("3 lines", func() bool { return len(h.rec.lines(file)) >= 3 })
	h.expectLines(file, "first", ok, "last")
	_, skipped, _ := h.rec.streams(file)[0].snapshot()
	if len(skipped) != 1 || skipped[0] != len(tooLong) {
		t.Fatalf("LineTooLong calls %v, want [%d]", skipped, len(tooLong))
	}
}

// A file that appears later and matches a glob is followed from its start,
// even with FromEnd.
func TestGlobLateFile(t *testing.T) {
	dir := sameDir(t)
	writeFile(t, filepath.Join(dir, "early.log"), "old\n")
	h := startManager(t, Config{Paths: []string{filepath.Join(dir, "*.log")}, FromEnd: true, PollInterval: 20 * time.Millisecond})
	h.waitCaughtUp()
	late := filepath.Join(dir, "late.log")
	writeFile(t, late, "l1\nl2\n")
	writeFile(t, filepath.Join(dir, "late.txt"), "not matched\n")
	h.waitLines(late, "l1", "l2")
	appendFile(t, filepath.Join(dir, "early.log"), "new\n")
	h.waitLines(filepath.Join(dir, "early.log"), "new")
	if got := len(h.rec.streams(filepath.Join(dir, "late.txt"))); got != 0 {
		t.Fatalf("late.txt followed")
	}
	if s := h.rec.streams(late); s[0].input != filepath.Join(dir, "*.log") {
		t.Fatalf("input = %q", s[0].input)
	}
}

// A literal path that does not exist yet is waited for, logged once.
func TestLiteralPathCreatedLater(t *testing.T) {
	dir := sameDir(t)
	file := filepath.Join(dir, "later.log")
	ticks := make(chan time.Time)
	h := newHarness(t, Config{Paths: []string{file}})
	h.m.newTicker = manualTicks(ticks)
	h.start()
	h.waitCaughtUp() // nothing was present at start
	for range 3 {
		h.look(ticks) // three more looks while the path is missing
	}
	if n := strings.Count(h.logs.String(), "waiting for file to appear"); n != 1 {
		t.Fatalf("wait logged %d times while the path was missing, want once", n)
	}
	writeFile(t, file, "hello\n")
	h.look(ticks)
	h.waitLines(file, "hello")
	if n := strings.Count(h.logs.String(), "waiting for file to appear"); n != 1 {
		t.Fatalf("wait logged %d times", n)
	}
}

// With polls out of the way, inotify alone wakes the follower: for appends,
// for a rename rotation and for a path that is created.
func TestInotifyWakeUpsAlone(t *testing.T) {
	if err := inotifyUsable(); err != nil {
		t.Skipf("inotify unavailable: %v", err)
	}
	dir := sameDir(t)
	file := filepath.Join(dir, "0.log")
	later := filepath.Join(dir, "later.log")
	writeFile(t, file, "a\n")
	h := startManager(t, Config{Paths: []string{file, later}, PollInterval: time.Hour})
	h.waitLines(file, "a")
	appendFile(t, file, "b\n")
	h.waitLines(file, "a", "b")
	if err := os.Rename(file, file+".1"); err != nil {
		t.Fatal(err)
	}
	appendFile(t, file+".1", "c\n")
	writeFile(t, file, "d\n")
	h.waitLines(file, "a", "b", "c", "d")
	writeFile(t, later, "x\n")
	h.waitLines(later, "x")
	if h.rotations(rotationRename) != 1 {
		t.Fatalf("rename rotations %v", h.rotations(rotationRename))
	}
}

// Standard input is read to EOF; in follow mode its stream is then closed
// and the Manager keeps running.
func TestStdinFollow(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	h := startManager(t, Config{Paths: []string{"-"}, Stdin: r})
	if _, err := w.WriteString("s1\ns2\n"); err != nil {
		t.Fatal(err)
	}
	h.waitLines("-", "s1", "s2")
	if _, err := w.WriteString("unterminated"); err != nil {
		t.Fatal(err)
	}
	w.Close()
	h.waitFor("stdin stream closed", func() bool {
		s := h.rec.streams("-")
		_, _, closed := s[0].snapshot()
		return closed == 1
	})
	h.expectLines("-", "s1", "s2", "unterminated")
	select {
	case err := <-h.done:
		t.Fatalf("Run returned after stdin EOF: %v", err)
	default:
	}
	if !strings.Contains(h.logs.String(), "standard input reached end of file") {
		t.Errorf("EOF not logged:\n%s", h.logs)
	}
	if err := h.shutdown(); err != nil {
		t.Fatal(err)
	}
}

// Cancelling while standard input blocks returns promptly and closes the
// stream once.
func TestStdinCancelWhileBlocked(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	h := startManager(t, Config{Paths: []string{"-"}, Stdin: r})
	if _, err := w.WriteString("x\n"); err != nil {
		t.Fatal(err)
	}
	h.waitLines("-", "x")
	if err := h.shutdown(); err != nil {
		t.Fatal(err)
	}
	_, _, closed := h.rec.streams("-")[0].snapshot()
	if closed != 1 {
		t.Fatalf("Close called %d times", closed)
	}
}

// FromEnd: files present at start begin at their end; the line being
// written then is delivered whole.
func TestFromEnd(t *testing.T) {
	file := filepath.Join(sameDir(t), "a.log")
	writeFile(t, file, "old1\nold2\npar")
	h := startManager(t, Config{Paths: []string{file}, FromEnd: true, PollInterval: 10 * time.Millisecond})
	h.waitCaughtUp()
	appendFile(t, file, "tial\nnew\n")
	h.waitLines(file, "partial", "new")
}

// Once reads every input present to its end, including final unterminated
// lines, and returns.
func TestOnceSeveralFiles(t *testing.T) {
	dir := sameDir(t)
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	a, b, c := filepath.Join(dir, "a.log"), filepath.Join(dir, "b.log"), filepath.Join(dir, "sub", "c.log")
	writeFile(t, a, "a1\na2\n")
	writeFile(t, b, "b1\nb2")
	writeFile(t, c, "c1\n")
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, err := w.WriteString("s1\n"); err != nil {
		t.Fatal(err)
	}
	w.Close()
	h := newHarness(t, Config{Paths: []string{filepath.Join(dir, "*.log"), c, "-", a}, Once: true, Stdin: r})
	if err := h.m.Run(context.Background()); err != nil {
		t.Fatalf("Run: %v", err)
	}
	select {
	case <-h.m.CaughtUp():
	default:
		t.Fatal("CaughtUp not closed after Once")
	}
	h.expectLines(a, "a1", "a2")
	h.expectLines(b, "b1", "b2")
	h.expectLines(c, "c1")
	h.expectLines("-", "s1")
	for _, name := range []string{a, b, c, "-"} {
		s := h.rec.streams(name)
		if len(s) != 1 {
			t.Fatalf("%d streams for %s", len(s), name)
		}
		if _, _, closed := s[0].snapshot(); closed != 1 {
			t.Fatalf("%s closed %d times", name, closed)
		}
	}
	if h.followed() != 0 {
		t.Fatalf("files_followed = %v", h.followed())
	}
}

func TestOnceMissingLiteralIsAnError(t *testing.T) {
	missing := filepath.Join(sameDir(t), "missing.log")
	h := newHarness(t, Config{Paths: []string{missing}, Once: true})
	err := h.m.Run(context.Background())
	if !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), missing) {
		t.Fatalf("Run = %v, want a not-exist error naming the path", err)
	}
}

func TestOnceGlobMatchingNothingWarns(t *testing.T) {
	pattern := filepath.Join(sameDir(t), "*.log")
	h := newHarness(t, Config{Paths: []string{pattern}, Once: true})
	if err := h.m.Run(context.Background()); err != nil {
		t.Fatalf("Run = %v", err)
	}
	if !strings.Contains(h.logs.String(), "level=warn") || !strings.Contains(h.logs.String(), "no file matches") {
		t.Fatalf("no warning:\n%s", h.logs)
	}
}

// A glob that matches nothing for unmatchedAlarm is logged once at error
// level, naming what to check; a file matching it later is followed, and
// said to be.
func TestGlobMatchingNothingForLong(t *testing.T) {
	dir := sameDir(t)
	pattern := filepath.Join(dir, "*.log")
	ticks := make(chan time.Time)
	h := newHarness(t, Config{Paths: []string{pattern}, DisableInotify: true})
	h.m.newTicker = manualTicks(ticks)
	h.m.unmatchedPolls = 3
	h.start()
	for range 2 * h.m.unmatchedPolls {
		h.tick(ticks)
	}
	file := filepath.Join(dir, "a.log")
	writeFile(t, file, "1\n")
	h.look(ticks)
	h.waitLines(file, "1")
	if err := h.shutdown(); err != nil {
		t.Fatal(err)
	}
	logs := h.logs.String()
	if n := strings.Count(logs, "level=error"); n != 1 || !strings.Contains(logs, "no file has matched the log path for") ||
		!strings.Contains(logs, "operator.namespace and operator.container") {
		t.Errorf("want one error line saying nothing matched and what to check, got %d:\n%s", n, logs)
	}
	if !strings.Contains(logs, "a file matches the log path now") {
		t.Errorf("no line says a file matches now:\n%s", logs)
	}
}

// A file deleted while followed (glob) is drained and its stream closed;
// one created again under the name is a new stream read from its start.
func TestDeletedWhileFollowed(t *testing.T) {
	dir := sameDir(t)
	file := filepath.Join(dir, "a.log")
	writeFile(t, file, "1\n")
	h := startManager(t, Config{Paths: []string{filepath.Join(dir, "*.log")}, PollInterval: 10 * time.Millisecond})
	h.waitLines(file, "1")
	appendFile(t, file, "2\n3")
	if err := os.Remove(file); err != nil {
		t.Fatal(err)
	}
	h.waitFor("the stream to be closed", func() bool {
		_, _, closed := h.rec.streams(file)[0].snapshot()
		return closed == 1
	})
	h.expectLines(file, "1", "2", "3")
	h.waitFor("the file to be closed", func() bool { return h.followed() == 0 })
	writeFile(t, file, "again\n")
	h.waitLines(file, "1", "2", "3", "again")
	if n := len(h.rec.streams(file)); n != 2 {
		t.Fatalf("%d streams, want 2", n)
	}
}

// A literal path's file deleted while followed is drained and closed; the
// stream stays open and a recreated file is read from its start.
func TestDeletedLiteralIsWaitedFor(t *testing.T) {
	file := filepath.Join(sameDir(t), "a.log")
	writeFile(t, file, "1\n")
	h := startManager(t, Config{Paths: []string{file}, PollInterval: 10 * time.Millisecond})
	h.waitLines(file, "1")
	appendFile(t, file, "2\n")
	if err := os.Remove(file); err != nil {
		t.Fatal(err)
	}
	h.waitFor("the file to be closed", func() bool { return h.followed() == 0 })
	h.expectLines(file, "1", "2")
	writeFile(t, file, "3\n")
	h.waitLines(file, "1", "2", "3")
	if n := len(h.rec.streams(file)); n != 1 {
		t.Fatalf("%d streams, want 1", n)
	}
}

// A glob-matched file renamed away (no new file) is drained and closed after
// the grace period.
func TestRenamedAwayGlobEnds(t *testing.T) {
	dir := sameDir(t)
	file := filepath.Join(dir, "a.log")
	writeFile(t, file, "1\n")
	h := startManager(t, Config{Paths: []string{filepath.Join(dir, "*.log")}, PollInterval: 5 * time.Millisecond})
	h.waitLines(file, "1")
	appendFile(t, file, "2\n")
	if err := os.Rename(file, filepath.Join(dir, "a.old")); err != nil {
		t.Fatal(err)
	}
	h.waitFor("the stream to be closed", func() bool {
		_, _, closed := h.rec.streams(file)[0].snapshot()
		return closed == 1
	})
	h.expectLines(file, "1", "2")
	if h.followed() != 0 {
		t.Fatalf("files_followed = %v", h.followed())
	}
}

// A stat of the path failing with something else than ENOENT (here ELOOP)
// is counted and logged; reading goes on and the process does not exit (the
// library's ChangeEvents would call os.Exit here).
func TestStatErrorIsSurvived(t *testing.T) {
	dir := sameDir(t)
	target := filepath.Join(dir, "target.log")
	link := filepath.Join(dir, "a.log")
	writeFile(t, target, "1\n")
	if err := os.Symlink("target.log", link); err != nil {
		t.Fatal(err)
	}
	h := startManager(t, Config{Paths: []string{link}, PollInterval: 10 * time.Millisecond})
	h.waitLines(link, "1")
	loop := filepath.Join(dir, "loop.tmp")
	if err := os.Symlink("a.log", loop); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(loop, link); err != nil { // a.log -> a.log
		t.Fatal(err)
	}
	appendFile(t, target, "2\n")
	h.waitFor("a stat error", func() bool { return h.fileErrors(opStat) > 0 })
	h.waitLines(link, "1", "2")
	if err := os.Remove(link); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("target.log", link); err != nil {
		t.Fatal(err)
	}
	appendFile(t, target, "3\n")
	h.waitLines(link, "1", "2", "3")
	if !strings.Contains(h.logs.String(), "too many levels of symbolic links") {
		t.Errorf("stat error not logged:\n%s", h.logs)
	}
}

func TestNewValidation(t *testing.T) {
	sink := func(string, string) input.Sink { return &recSink{} }
	for _, tc := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"no paths", Config{NewSink: sink}, "no log paths"},
		{"stdin twice", Config{Paths: []string{"-", "a.log", "-"}, NewSink: sink}, "more than once"},
		{"bad glob", Config{Paths: []string{"/var/log/[.log"}, NewSink: sink}, `"/var/log/[.log": syntax error in pattern`},
		{"no sink", Config{Paths: []string{"a.log"}}, "NewSink"},
		{"negative max line", Config{Paths: []string{"a.log"}, NewSink: sink, MaxLineBytes: -1}, "max line"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New = %v, want error containing %q", err, tc.want)
			}
		})
	}
	reg := prometheus.NewRegistry()
	if _, err := New(Config{Paths: []string{"a.log"}, NewSink: sink, Registerer: reg}); err != nil {
		t.Fatal(err)
	}
	if _, err := New(Config{Paths: []string{"a.log"}, NewSink: sink, Registerer: reg}); err == nil {
		t.Fatal("second registration on the same registry succeeded")
	}
}

func TestMetricsRegisteredAndInitialised(t *testing.T) {
	reg := prometheus.NewRegistry()
	if _, err := New(Config{Paths: []string{"a.log"}, NewSink: func(string, string) input.Sink { return &recSink{} }, Registerer: reg}); err != nil {
		t.Fatal(err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{
		"mirrord_exporter_files_followed":       nil,
		"mirrord_exporter_file_rotations_total": {"rename", "truncate"},
		"mirrord_exporter_log_bytes_lost_total": {"truncated"},
		"mirrord_exporter_file_errors_total":    {"open", "read", "stat"},
	}
	for _, mf := range mfs {
		labels, ok := want[mf.GetName()]
		if !ok {
			t.Errorf("unexpected metric %s", mf.GetName())
			continue
		}
		delete(want, mf.GetName())
		if !strings.HasSuffix(mf.GetHelp(), ".") {
			t.Errorf("%s HELP is not a sentence: %q", mf.GetName(), mf.GetHelp())
		}
		var got []string
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				got = append(got, l.GetValue())
			}
		}
		if strings.Join(got, ",") != strings.Join(labels, ",") {
			t.Errorf("%s series %v, want %v", mf.GetName(), got, labels)
		}
	}
	if len(want) != 0 {
		t.Errorf("missing metrics %v", want)
	}
}
