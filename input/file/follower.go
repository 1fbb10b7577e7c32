package file

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"time"

	"github.com/go-kit/log/level"

	"github.com/mirrord-exporter/mirrord-exporter/input"
)

// follower reads one path for as long as it is followed: every generation
// of the file the path names, in order, into one input.Sink, from one goroutine.
type follower struct {
	m     *Manager
	input string
	path  string
	// ephemeral followers came from a glob: they end once the path has
	// vanished; literal paths are waited for again instead.
	ephemeral bool
	// fromEnd makes the first file opened start at its end.
	fromEnd bool
	sink    input.Sink
	lr      *lineReader

	// files[0] is being read; files[1:] are newer generations the path
	// named since (opened as soon as seen, so renames cannot hide them),
	// not read yet.
	files []*openFile

	wake chan struct{}
	note *notifier // nil when polling only

	// pathInfo is the last successful stat of the path; nil while it does
	// not exist. pathErr is set while stat fails otherwise.
	pathInfo     os.FileInfo
	pathErr      error
	missingSince time.Time

	// known are the identities of the rotated generations and copies next to
	// the file that are accounted for; resolved is where the path last
	// resolved to (through symlinks).
	known    map[fileKey]int // scans missed in a row
	resolved string

	caughtUp   func() // called once after the first look; nil afterwards
	lastErr    [3]string
	waitLogged bool

	// resume is the saved position to start from, until the first file is
	// opened. pos is the position published with the last delivery.
	resume    *FilePosition
	pos       FilePosition
	published bool
}

func (m *Manager) newFollower(input, path string, ephemeral, initial bool) *follower {
	fl := &follower{
		m:         m,
		input:     input,
		path:      path,
		ephemeral: ephemeral,
		fromEnd:   initial && m.cfg.FromEnd && !m.resumedInputs[input],
		wake:      make(chan struct{}, 1),
		resume:    m.resume[path],
		pos:       FilePosition{Input: input, Path: path},
	}
	delete(m.resume, path)
	if initial {
		fl.caughtUp = m.readDone
	}
	if m.useInotify {
		fl.note = newNotifier(path, fl.wake, m.logger)
	}
	return fl
}

// run follows until ctx is cancelled or the (glob-matched) path vanished.
func (fl *follower) run(ctx context.Context) {
	fl.sink = fl.m.cfg.NewSink(fl.input, fl.path)
	fl.lr = newLineReader(fl.sink, fl.m.maxLine, false)
	defer fl.shutdown()
	tick, stopTick := fl.m.newTicker(fl.m.poll)
	defer stopTick()
	for {
		if ended := fl.look(ctx); ended {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-fl.wake:
		case <-tick:
		}
	}
}

// shutdown releases everything. A pending unterminated line is not
// delivered: the file is still live, the line may yet be completed.
func (fl *follower) shutdown() {
	if fl.note != nil {
		fl.note.disarm()
	}
	for _, of := range fl.files {
		fl.closeFile(of)
	}
	fl.files = nil
	fl.markCaughtUp()
	// The stream's end counts what it left half-joined: no snapshot may
	// see that count and still save the stream's position.
	fl.m.cfg.Gate.Enter()
	fl.sink.Close()
	fl.m.track(fl, false)
	fl.m.cfg.Gate.Leave()
}

func (fl *follower) markCaughtUp() {
	if fl.caughtUp != nil {
		fl.caughtUp()
		fl.caughtUp = nil
	}
}

// look reads whatever is available and handles rotation, truncation and
// disappearance. It returns true when the follower should end.
func (fl *follower) look(ctx context.Context) bool {
	fl.statPath()
	for len(fl.files) > 0 {
		cur := fl.files[0]
		if !fl.readAvailable(ctx, cur) {
			break
		}
		if len(fl.files) == 1 || !fl.newerHasData() {
			break
		}
		fl.finishRenamed(ctx, cur)
	}
	fl.markCaughtUp()

	if fl.pathInfo == nil && fl.pathErr == nil {
		if fl.vanished(ctx) {
			return true
		}
	}
	if fl.note != nil && ctx.Err() == nil {
		switch {
		case fl.pathInfo == nil && fl.pathErr == nil:
			fl.note.watchCreate()
		case fl.pathInfo != nil && len(fl.files) > 0 && os.SameFile(fl.files[len(fl.files)-1].info, fl.pathInfo):
			fl.note.watchFile(fl.pathInfo)
		}
	}
	return false
}

// statPath looks at what the path names now and opens it if that is a file
// we do not hold yet: the first file, or a new generation after a rename.
func (fl *follower) statPath() {
	st, err := os.Stat(fl.path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if fl.missingSince.IsZero() {
			fl.missingSince = time.Now()
		}
		fl.pathInfo, fl.pathErr = nil, nil
		if len(fl.files) == 0 && fl.resume != nil {
			// Rotated away while the exporter was down, and not recreated
			// yet: the saved generation is next to the path.
			fl.takeUp(nil)
		}
		if len(fl.files) == 0 && !fl.waitLogged && !fl.ephemeral {
			level.Info(fl.m.logger).Log("msg", "waiting for file to appear", "path", fl.path)
			fl.waitLogged = true
		}
		return
	case err != nil:
		fl.pathErr = err
		fl.fail(opStat, err)
		return
	}
	fl.pathInfo, fl.pathErr, fl.missingSince = st, nil, time.Time{}
	fl.ok(opStat)
	if n := len(fl.files); n > 0 && os.SameFile(fl.files[n-1].info, st) {
		return
	}
	of, err := openRegular(fl.path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return // gone again already; the next look sees it missing
		}
		fl.fail(opOpen, err)
		return
	}
	fl.ok(opOpen)
	for _, held := range fl.files {
		if os.SameFile(held.info, of.info) {
			of.close() // the path changed again between stat and open
			return
		}
	}
	first := len(fl.files) == 0
	if first && fl.resume != nil {
		fl.takeUp(of)
		return
	}
	if first && fl.fromEnd {
		if err := fl.startAtEnd(of); err != nil {
			of.close()
			fl.lr.Reset()
			fl.fail(opRead, err)
			return
		}
	}
	fl.fromEnd = false
	fl.waitLogged = false
	fl.addGeneration(of)
	if first {
		fl.publishStart()
	}
}

// publishStart publishes where reading of the first file opened starts, so
// that a save before its first line still knows the file.
func (fl *follower) publishStart() {
	fl.m.cfg.Gate.Enter()
	fl.publishFirst()
	fl.m.cfg.Gate.Leave()
}

func (fl *follower) publishFirst() {
	cur := fl.files[0]
	fl.publish(cur, cur.fp[:cur.fpLen])
}

// takeUp starts from the saved position (see resumeAt); of is the file at
// the path, nil while there is none. It runs inside the Gate: until the
// position is taken up, it is what Positions reports for the path.
func (fl *follower) takeUp(of *openFile) {
	fl.m.cfg.Gate.Enter()
	defer fl.m.cfg.Gate.Leave()
	fl.fromEnd, fl.waitLogged = false, false
	fl.resumeAt(of)
	if len(fl.files) > 0 {
		fl.publishFirst()
	}
}

// readAvailable reads cur to its end, delivering complete lines, and
// handles a truncation of it. It returns false when it could not finish
// (error, cancellation).
func (fl *follower) readAvailable(ctx context.Context, cur *openFile) bool {
	fi, err := cur.f.Stat()
	if err != nil {
		fl.fail(opStat, err)
		return false
	}
	if fi.Size() < cur.off {
		fl.truncated(ctx, cur)
	} else {
		// Also catches a rewrite to at least our offset with nothing read
		// since. The size only counts towards unread bytes once the
		// leading bytes confirm it is still the content we were reading.
		ok, err := cur.fingerprintMatches()
		switch {
		case err != nil:
			fl.fail(opRead, err)
			return false
		case !ok:
			fl.truncated(ctx, cur)
		default:
			cur.size = max(cur.size, fi.Size())
		}
	}
	for {
		if ctx.Err() != nil {
			return false
		}
		if cur.pickUpCopies {
			if ready, ok := fl.pickUpCopies(ctx, cur); !ready {
				return ok
			}
		}
		fl.m.cfg.Gate.Enter()
		_, eof, err := cur.readChunk(fl.lr)
		if err == nil {
			fl.publish(cur, cur.fp[:cur.fpLen])
		}
		fl.m.cfg.Gate.Leave()
		switch {
		case errors.Is(err, errContentReplaced):
			fl.truncated(ctx, cur)
			continue
		case err != nil:
			fl.fail(opRead, err)
			return false
		}
		fl.ok(opRead)
		if eof {
			return true
		}
		// A backlog is being read: keep an eye on the path meanwhile so a
		// generation that is renamed away quickly is still caught.
		fl.statPath()
	}
}

// pickUpCopies reads the copies of generations truncated away unseen, once
// the current content has data. ready is false while it has none or keeps
// changing (ok: try again at the next look) or on failure (!ok).
func (fl *follower) pickUpCopies(ctx context.Context, cur *openFile) (ready, ok bool) {
	// Only while the path still names this file and nothing newer is held:
	// generations renamed away are found by statPath, in order, and must not
	// be taken for copies.
	if cur.off != 0 || len(fl.files) != 1 || fl.pathInfo == nil || !os.SameFile(fl.pathInfo, cur.info) {
		cur.pickUpCopies = false
		return true, true
	}
	settled, err := fl.readMissedCopies(ctx, cur)
	switch {
	case err != nil:
		if ctx.Err() == nil {
			fl.fail(opRead, err)
		}
		return false, false
	case !settled:
		return false, true // empty, or changing too fast: next look
	}
	cur.pickUpCopies = false
	return true, true
}

// vanished handles a path that does not exist. The current file is
// closed once drained if it was deleted, or, for a glob match, once the
// path has been missing for the grace period (a rename rotation recreates
// the path quickly). It returns true when the follower should end.
func (fl *follower) vanished(ctx context.Context) bool {
	if len(fl.files) == 1 {
		cur := fl.files[0]
		links, known, err := linkCount(cur.f)
		if err != nil {
			fl.fail(opStat, err)
			return false
		}
		deleted := known && links == 0
		expired := fl.ephemeral && time.Since(fl.missingSince) >= fl.m.grace
		if !deleted && !expired {
			return false
		}
		if !fl.readAvailable(ctx, cur) {
			return false
		}
		fl.finish(cur)
		fl.closeFile(cur)
		fl.files = nil
		level.Info(fl.m.logger).Log("msg", "file is gone; read it to its end and closed it", "path", fl.path)
	}
	return len(fl.files) == 0 && fl.ephemeral
}

func (fl *follower) closeFile(of *openFile) {
	of.close()
	fl.m.metrics.filesFollowed.Dec()
}

// fail counts a failed operation and logs it, once per distinct error in a
// row so a persistent problem retried every poll does not flood the log.
func (fl *follower) fail(op string, err error) {
	fl.m.metrics.fileErrors.WithLabelValues(op).Inc()
	i := opIndex(op)
	if msg := err.Error(); msg != fl.lastErr[i] {
		fl.lastErr[i] = msg
		if errors.Is(err, fs.ErrPermission) {
			// Nothing is read until someone acts: say what to do.
			level.Error(fl.m.logger).Log("msg", "the exporter may not read this operator log file; retrying. The kubelet writes root:root 0640 files: run the exporter with the root group (gid 0 as a supplemental group: the Helm chart's files mode adds it to podSecurityContext.supplementalGroups; a policy that strips it must allow it) or as a user that can read them", "path", fl.path, "err", err)
			return
		}
		level.Warn(fl.m.logger).Log("msg", "log file "+op+" failed; retrying", "path", fl.path, "err", err)
	}
}

func (fl *follower) ok(op string) {
	fl.lastErr[opIndex(op)] = ""
}

func opIndex(op string) int {
	switch op {
	case opOpen:
		return 0
	case opRead:
		return 1
	default:
		return 2
	}
}
