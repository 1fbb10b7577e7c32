package file

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/go-kit/log/level"
)

// addGeneration holds a file just opened at the path. The first one makes
// what lies next to it history. A later one means the path was rotated:
// generations that came and were rotated away between two looks are next to
// it under rotated names, and are queued before it, oldest first.
func (fl *follower) addGeneration(of *openFile) {
	fl.m.metrics.filesFollowed.Inc()
	of.pickUpCopies = of.off == 0
	fl.files = append(fl.files, of)
	if len(fl.files) == 1 {
		fl.remember(fl.siblings(), nil)
		return
	}
	sibs, missed := fl.unaccounted()
	missed = fl.dropCopiesOfHeld(missed)
	missed = fl.dropOlderThanHeld(sibs, missed)
	var later []*openFile
	if !fl.pathNames(of) {
		// It was rotated too while we listed: what is newer than it is left
		// for the next look, to go after it.
		if now, err := of.f.Stat(); err == nil {
			name := of.f.Name()
			for _, s := range sibs {
				if os.SameFile(s.info, now) {
					name = s.path
				}
			}
			i := slices.IndexFunc(missed, func(m *openFile) bool {
				return compareGenerations(m.info, m.f.Name(), now, name) > 0
			})
			if i >= 0 {
				missed, later = missed[:i], missed[i:]
			}
		}
	}
	fl.remember(sibs, later)
	closeAll(later)
	if len(missed) == 0 {
		return
	}
	for range missed {
		fl.m.metrics.filesFollowed.Inc()
	}
	fl.insertMissed(sibs, missed)
	names := make([]string, len(missed))
	for i, of := range missed {
		names[i] = of.f.Name()
	}
	level.Info(fl.m.logger).Log("msg", "log file was rotated more than once since it was last looked at; reading the intermediate generations from their rotated names", "path", fl.path, "generations", len(missed), "names", strings.Join(names, ","))
}

// insertMissed places the generations found next to the path (missed,
// oldest first) among the files held, by their rotated names, before the
// first held one each is older than. Most are older only than the new file
// at the path. But a file held and not read yet can be copied and truncated
// (copytruncate) and then renamed before its first read: the copy, found
// later, holds its earlier content and goes before it.
func (fl *follower) insertMissed(sibs []sibling, missed []*openFile) {
	for _, m := range missed {
		at := len(fl.files) - 1
		for j := 1; j < len(fl.files)-1; j++ {
			if s, ok := siblingOf(sibs, fl.files[j]); ok && olderThan(m, s) {
				at = j
				break
			}
		}
		fl.files = slices.Insert(fl.files, at, m)
	}
}

// dropOlderThanHeld closes and leaves out the files older than the oldest
// generation held: history, which a directory listing raced by logrotate's
// renumbering may have failed to remember, not generations missed since.
func (fl *follower) dropOlderThanHeld(sibs []sibling, found []*openFile) []*openFile {
	oldest, ok := siblingOf(sibs, fl.files[0])
	if !ok {
		return found // at the path, or gone: nothing is older by name
	}
	return dropOlderThan(found, oldest)
}

// dropOlderThan closes and leaves out the files of found older than s.
func dropOlderThan(found []*openFile, s sibling) []*openFile {
	kept := found[:0]
	for _, of := range found {
		if olderThan(of, s) {
			of.close()
			continue
		}
		kept = append(kept, of)
	}
	return kept
}

// dropCopiesOfHeld closes and leaves out the files that start like a file
// still held: copies copytruncate made (or is making) of it, not
// generations. Read as a generation, a copy would be read twice: the held
// file is read live, and if it is truncated first, its unread rest is read
// from the copy (findCopy).
func (fl *follower) dropCopiesOfHeld(found []*openFile) []*openFile {
	kept := found[:0]
	for _, of := range found {
		if slices.ContainsFunc(fl.files, func(held *openFile) bool { return fl.isCopyOf(of, held) }) {
			of.close()
			continue
		}
		kept = append(kept, of)
	}
	return kept
}

// isCopyOf reports whether cp starts with the first bytes of held (cp may be
// a copy still being written, shorter than them). A held file not read yet
// takes its current first bytes as its fingerprint, as readMissedCopies
// does: truncated before its first read, it is then recognised by them and
// its content read from the copy.
func (fl *follower) isCopyOf(cp, held *openFile) bool {
	if held.fpLen == 0 && held.off == 0 {
		var head [fingerprintSize]byte
		h, _, err := liveHead(held, head[:])
		if err != nil || len(h) == 0 {
			return false
		}
		held.fpLen = copy(held.fp[:], h)
	}
	n := min(int64(held.fpLen), cp.info.Size())
	return n > 0 && fl.startsWith(cp, held.fp[:n])
}

// newerHasData reports whether a newer generation of the path has data. The
// writer may go on writing the renamed-away file for a while (kubelet
// renames, then asks the runtime to reopen); once the new file has data it
// has switched and will not write the old one again.
func (fl *follower) newerHasData() bool {
	for _, of := range fl.files[1:] {
		fi, err := of.f.Stat()
		if err != nil {
			fl.fail(opStat, err)
			return false
		}
		if fi.Size() > 0 {
			return true
		}
	}
	return false
}

// finishRenamed reads the renamed-away file a last time, delivers its final
// unterminated line if any, closes it and moves on to the next generation,
// which is read from its start.
func (fl *follower) finishRenamed(ctx context.Context, cur *openFile) {
	if !fl.readAvailable(ctx, cur) {
		return
	}
	fl.finish(cur)
	fl.closeFile(cur)
	fl.files[0] = nil
	fl.files = fl.files[1:]
	fl.m.metrics.rotations.WithLabelValues(rotationRename).Inc()
	level.Info(fl.m.logger).Log("msg", "log file rotated by rename; finished the old file, reading the new one", "path", fl.path)
}

// truncated handles cur having been truncated in place. Bytes not read yet
// are recovered from the copy that copytruncate made if there is one;
// otherwise they are counted as lost. Reading then restarts at offset 0.
func (fl *follower) truncated(ctx context.Context, cur *openFile) {
	unread := max(0, cur.size-cur.off) + int64(fl.lr.Pending())
	recovered := false
	if cp := fl.findCopy(cur); cp != nil {
		if key, ok := keyOf(cp.info); ok && fl.known != nil {
			fl.known[key] = 0
		}
		head := cur.fp[:cur.fpLen]
		err := fl.readCopy(ctx, cp, cur.off, head)
		cp.close()
		switch {
		case err == nil:
			recovered = true
			fl.finishCopy(cp, head)
			level.Info(fl.m.logger).Log("msg", "log file truncated in place (copytruncate); read its remaining bytes from the copy", "path", fl.path, "copy", cp.f.Name())
		case ctx.Err() == nil:
			fl.fail(opRead, err)
		}
	}
	if !recovered {
		fl.lr.Reset()
		if unread > 0 {
			fl.m.metrics.bytesLost.WithLabelValues(lostTruncated).Add(float64(unread))
			level.Warn(fl.m.logger).Log("msg", "log file truncated before it was read to its end and no copy of it was found; unread bytes are lost. Rotate by rename, or use delaycompress with copytruncate", "path", fl.path, "bytes", unread)
		}
	}
	cur.off, cur.size, cur.fpLen = 0, 0, 0
	cur.pickUpCopies = true
	fl.m.metrics.rotations.WithLabelValues(rotationTruncate).Inc()
}

// readMissedCopies runs before the first bytes of a file's content are read
// (after it was opened or truncated). Copies that appeared since the last
// look and are not of the live content are whole generations that were
// written, copied and truncated away in between: they are read first, oldest
// first. settled is false when the live content kept changing while the
// directory was listed; the caller tries again later.
func (fl *follower) readMissedCopies(ctx context.Context, cur *openFile) (settled bool, err error) {
	var again [fingerprintSize]byte
	for range 3 {
		before, _, err := liveHead(cur, cur.check[:])
		if err != nil {
			return false, err
		}
		sibs, found := fl.unaccounted()
		if !fl.pathNames(cur) {
			// Renamed meanwhile. What appeared and is older than cur by its
			// rotated name holds lines from before cur's content (the copy
			// copytruncate made of it before its first read, or generations
			// in between): it is read now, before cur. What is newer is
			// statPath's to place, and is not remembered. The listing may
			// predate the rename: list again to see where cur went.
			closeAll(found)
			sibs, found = fl.unaccounted()
			older, newer := splitAround(sibs, cur, fl.dropHistory(sibs, found))
			fl.remember(sibs, newer)
			closeAll(newer)
			err := fl.readCopies(ctx, older)
			closeAll(older)
			return err == nil, err
		}
		head, size, err := liveHead(cur, again[:])
		if err != nil {
			closeAll(found)
			return false, err
		}
		if len(before) == 0 || len(head) < len(before) || !bytes.Equal(head[:len(before)], before) {
			// Truncated and rewritten while we listed: a copy could be taken
			// for a missed generation that is still to be read live.
			closeAll(found)
			continue
		}
		var missed []*openFile
		for _, of := range fl.dropHistory(sibs, found) {
			// A copy of the live content, taken before a truncate still to
			// come, is a prefix of the live file; it is read from there.
			n := of.info.Size()
			if n <= size && fl.startsWith(of, head[:min(n, int64(len(head)))]) {
				of.close()
				continue
			}
			missed = append(missed, of)
		}
		fl.remember(sibs, nil)
		err = fl.readCopies(ctx, missed)
		closeAll(missed)
		if err != nil {
			return false, err
		}
		// The live content compared above becomes the fingerprint: if the
		// file is truncated again before it is read, the first read does not
		// match and that content is looked for in its copy, like any other
		// truncation.
		cur.fpLen = copy(cur.fp[:], head)
		return true, nil
	}
	return false, nil
}

// splitAround splits found (oldest first) into the files older than cur by
// their rotated names and the others. When cur is not among the siblings
// (deleted), nothing is older.
func splitAround(sibs []sibling, cur *openFile, found []*openFile) (older, newer []*openFile) {
	s, ok := siblingOf(sibs, cur)
	if !ok {
		return nil, found
	}
	for _, of := range found {
		if olderThan(of, s) {
			older = append(older, of)
		} else {
			newer = append(newer, of)
		}
	}
	return older, newer
}

// dropHistory closes and leaves out the files older than the newest sibling
// already accounted for and not held: history that a directory listing
// raced by logrotate's renumbering missed, not copies made since, which are
// newer than everything listed before them.
func (fl *follower) dropHistory(sibs []sibling, found []*openFile) []*openFile {
	var newest sibling
	known := false
	for _, s := range sibs {
		if fl.isKnown(s.key) && !fl.holds(s.key) && (!known || compareGenerations(s.info, s.path, newest.info, newest.path) > 0) {
			newest, known = s, true
		}
	}
	if !known {
		return found
	}
	return dropOlderThan(found, newest)
}

// siblingOf returns the entry of sibs that is of: where it is now.
func siblingOf(sibs []sibling, of *openFile) (sibling, bool) {
	i := slices.IndexFunc(sibs, func(s sibling) bool { return os.SameFile(s.info, of.info) })
	if i < 0 {
		return sibling{}, false
	}
	return sibs[i], true
}

// olderThan reports whether of, just opened under its rotated name, is an
// older generation than the sibling s.
func olderThan(of *openFile, s sibling) bool {
	return compareGenerations(of.info, of.f.Name(), s.info, s.path) < 0
}

func (fl *follower) readCopies(ctx context.Context, copies []*openFile) error {
	for _, of := range copies {
		if err := fl.readCopy(ctx, of, 0, nil); err != nil {
			return err
		}
		fl.finishCopy(of, of.fp[:of.fpLen])
		fl.m.metrics.rotations.WithLabelValues(rotationTruncate).Inc()
		level.Info(fl.m.logger).Log("msg", "log file was copied and truncated more than once since it was last read; read the intermediate copy", "path", fl.path, "copy", of.f.Name())
	}
	return nil
}

// liveHead reads the leading bytes (up to the fingerprint size) of a file
// and its size.
func liveHead(of *openFile, buf []byte) ([]byte, int64, error) {
	fi, err := of.f.Stat()
	if err != nil {
		return nil, 0, fmt.Errorf("fstat %s: %w", of.f.Name(), err)
	}
	n, err := of.f.ReadAt(buf[:min(fi.Size(), int64(len(buf)))], 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, 0, fmt.Errorf("read %s: %w", of.f.Name(), err)
	}
	return buf[:n], fi.Size(), nil
}

// findCopy looks for the copy copytruncate made of cur before truncating
// it: a sibling whose first bytes are the ones we read and which is at
// least as long as what we read. When several qualify, the most recently
// modified wins.
func (fl *follower) findCopy(cur *openFile) *openFile {
	if cur.fpLen == 0 {
		return nil
	}
	var best *openFile
	for _, s := range fl.siblings() {
		if s.info.Size() < cur.off || os.SameFile(s.info, cur.info) || fl.holds(s.key) {
			continue
		}
		cp, err := openRegular(s.path)
		if err != nil {
			continue
		}
		if !fl.startsWith(cp, cur.fp[:cur.fpLen]) || (best != nil && !cp.info.ModTime().After(best.info.ModTime())) {
			cp.close()
			continue
		}
		if best != nil {
			best.close()
		}
		best = cp
	}
	return best
}

// startsWith reports whether of begins with prefix.
func (fl *follower) startsWith(of *openFile, prefix []byte) bool {
	n, _ := of.f.ReadAt(of.check[:len(prefix)], 0)
	return n == len(prefix) && bytes.Equal(of.check[:n], prefix)
}

// readCopy delivers the copy's bytes from offset from to its end, joining
// the line pending in lr. head is the first bytes of the content it is a
// copy of (nil: the copy is read from its start and has its own).
func (fl *follower) readCopy(ctx context.Context, cp *openFile, from int64, head []byte) error {
	cp.off = from
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		fl.m.cfg.Gate.Enter()
		_, eof, err := cp.readChunk(fl.lr)
		if err == nil {
			if head == nil {
				fl.publish(cp, cp.fp[:cp.fpLen])
			} else {
				fl.publish(cp, head)
			}
		}
		fl.m.cfg.Gate.Leave()
		if err != nil {
			return fmt.Errorf("read %s: %w", cp.f.Name(), err)
		}
		if eof {
			return nil
		}
	}
}

// finish delivers the final unterminated line of a generation that is over
// and publishes its end.
func (fl *follower) finish(of *openFile) {
	fl.finishCopy(of, of.fp[:of.fpLen])
}

// finishCopy is finish for a file whose first bytes are head.
func (fl *follower) finishCopy(of *openFile, head []byte) {
	fl.m.cfg.Gate.Enter()
	fl.lr.flush()
	fl.publish(of, head)
	fl.m.cfg.Gate.Leave()
}

// startAtEnd positions a file present at start at its end. The line being
// written at that moment is taken from its start, so it is delivered whole
// once completed; if it already exceeds the line limit it is skipped.
func (fl *follower) startAtEnd(of *openFile) error {
	size := of.info.Size()
	of.off, of.size = size, size
	if size == 0 {
		return nil
	}
	limit := max(0, size-int64(fl.m.maxLine)-1)
	buf := make([]byte, min(int64(minBufSize), size-limit))
	pos := size
	found := false
	for pos > limit && !found {
		n := min(int64(len(buf)), pos-limit)
		if _, err := of.f.ReadAt(buf[:n], pos-n); err != nil {
			return fmt.Errorf("read %s: %w", fl.path, err)
		}
		if i := bytes.LastIndexByte(buf[:n], '\n'); i >= 0 {
			of.off, found = pos-n+int64(i)+1, true
		}
		pos -= n
	}
	switch {
	case found:
	case limit == 0:
		of.off = 0 // the whole file is one unterminated line
	default:
		fl.lr.SkipFragment(int(size - limit))
	}
	if err := of.loadFingerprint(); err != nil {
		return fmt.Errorf("read %s: %w", fl.path, err)
	}
	return nil
}
