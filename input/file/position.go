package file

import (
	"cmp"
	"os"
	"slices"

	"github.com/go-kit/log/level"
)

// FilePosition is how far the reading of one followed path has got, in a
// form that survives the exporter's restart and the file's rotation: the
// file by identity (device, inode, and its first bytes, which tell a reused
// inode or a file truncated and rewritten in place from the file read), and
// the offset of the first byte of the first line not delivered yet.
type FilePosition struct {
	// Input is the --input.path value the path came from.
	Input string `json:"input"`
	// Path is the followed path.
	Path   string `json:"path"`
	Device uint64 `json:"device"`
	Inode  uint64 `json:"inode"`
	Offset int64  `json:"offset"`
	// Head is the file's first bytes, up to 1 KiB (fewer while the file
	// is shorter).
	Head []byte `json:"head"`
}

// Positions returns the position of every followed path that has opened a
// file. The caller must hold the Gate closed: positions are published by
// the followers inside it, together with the lines they delivered.
func (m *Manager) Positions() []FilePosition {
	m.followersMu.Lock()
	defer m.followersMu.Unlock()
	var out []FilePosition
	for fl := range m.followers {
		switch {
		case fl.published:
			pos := fl.pos
			pos.Head = slices.Clone(pos.Head)
			out = append(out, pos)
		case fl.resume != nil:
			// Not taken up yet (the path is missing): kept for the next run.
			out = append(out, *fl.resume)
		}
	}
	// Not handed to a follower yet: the inputs are still being started.
	for _, pos := range m.resume {
		out = append(out, *pos)
	}
	slices.SortFunc(out, func(a, b FilePosition) int { return cmp.Compare(a.Path, b.Path) })
	return out
}

// PinStart gives a run that has no saved positions (no state file yet, or
// one set aside) the position of every file its paths name now, at its
// start, as if it had been saved. A save taken before any line is read then
// knows which file each path began in: killed before its next save and
// restarted after a rotation, the exporter finds that file among the
// rotated generations and reads it from its start, where it would otherwise
// take it for history and lose it. Files that appear later, standard input
// and --input.from=end are left as they are. It must run before Run.
func (m *Manager) PinStart() {
	if m.cfg.FromEnd || len(m.resume) > 0 {
		return
	}
	pin := func(input, path string) {
		of, err := openRegular(path)
		if err != nil {
			return // missing or unreadable: its follower will say so
		}
		defer of.close()
		key, ok := keyOf(of.info)
		if !ok {
			return
		}
		var buf [fingerprintSize]byte
		head, _, err := liveHead(of, buf[:])
		if err != nil {
			return
		}
		m.resume[path] = &FilePosition{Input: input, Path: path, Device: key.dev, Inode: key.ino, Head: slices.Clone(head)}
	}
	for _, in := range m.literals {
		pin(in.value, in.path)
	}
	for _, g := range m.globs {
		paths, _ := m.match(g, nil)
		for _, p := range paths {
			pin(g.value, p)
		}
	}
}

// publish records that every line of of before its offset (less what the
// line reader holds of a line not complete yet) has been delivered. head is
// the content's first bytes: of's own fingerprint, or, for a copy read from
// the middle, the fingerprint of the file it is a copy of. It runs inside
// the Gate, right after the delivery it describes.
func (fl *follower) publish(of *openFile, head []byte) {
	if fl.m.cfg.Gate == nil {
		return // no state file: nobody reads positions
	}
	key, ok := keyOf(of.info)
	if !ok {
		return
	}
	fl.pos.Device, fl.pos.Inode = key.dev, key.ino
	fl.pos.Offset = of.off - int64(fl.lr.Pending())
	// A copy, not an alias: a truncated file's fingerprint is refilled with
	// its new content.
	fl.pos.Head = append(fl.pos.Head[:0], head...)
	fl.published = true
}

// resumeAt places a follower that has a saved position on the first file
// opened at its path, or, while the path does not exist (of is nil), on the
// rotated generation that holds the position. The saved file is looked for
// at the path (same identity, same first bytes, long enough) and then among
// the rotated generations and copies next to it; a rotated one is read from
// the saved offset, then every generation newer than it, then the file at
// the path from its start. A position that matches no file is logged and
// the file at the path is read from its start; while there is no file at
// the path, the position is kept for when there is one.
func (fl *follower) resumeAt(of *openFile) {
	pos := fl.resume
	if of != nil && fl.holdsPosition(of, pos) {
		fl.resume = nil
		of.off = pos.Offset
		of.size = max(of.size, of.off)
		if err := of.loadFingerprint(); err != nil {
			fl.fail(opRead, err)
		}
		fl.addGeneration(of)
		level.Info(fl.m.logger).Log("msg", "resuming log file at the saved position", "path", fl.path, "offset", pos.Offset)
		return
	}
	sibs, candidates := fl.openSiblings(nil)
	saved, newer := fl.findSaved(candidates, pos)
	if saved == nil && of == nil {
		return
	}
	fl.resume = nil
	if saved == nil {
		level.Warn(fl.m.logger).Log("msg", "the saved position matches no file at the path nor any rotated generation next to it; reading the file from its start", "path", fl.path, "device", pos.Device, "inode", pos.Inode, "offset", pos.Offset)
		fl.addGeneration(of)
		return
	}
	saved.off = pos.Offset
	saved.size = max(saved.info.Size(), saved.off)
	saved.fpLen = copy(saved.fp[:], pos.Head)
	fl.files = append([]*openFile{saved}, newer...)
	if of != nil {
		// Renamed away since it was opened at the path, it is among the
		// newer generations already: read once, at its place.
		if slices.ContainsFunc(newer, func(n *openFile) bool { return os.SameFile(n.info, of.info) }) {
			of.close()
		} else {
			of.pickUpCopies = true
			fl.files = append(fl.files, of)
		}
	}
	for range fl.files {
		fl.m.metrics.filesFollowed.Inc()
	}
	fl.remember(sibs, nil)
	level.Info(fl.m.logger).Log("msg", "the log file was rotated while the exporter was down; reading the rest of the saved generation and every newer one first", "path", fl.path, "saved", saved.f.Name(), "newer_generations", len(newer))
}

// holdsPosition reports whether of is the file pos was saved in, with at
// least pos.Offset bytes.
func (fl *follower) holdsPosition(of *openFile, pos *FilePosition) bool {
	key, ok := keyOf(of.info)
	return ok && key == (fileKey{pos.Device, pos.Inode}) && fl.holdsContent(of, pos)
}

// holdsContent reports whether of starts with pos's first bytes and is at
// least as long as pos.Offset.
func (fl *follower) holdsContent(of *openFile, pos *FilePosition) bool {
	return of.info.Size() >= pos.Offset && len(pos.Head) <= fingerprintSize && fl.startsWith(of, pos.Head)
}

// findSaved looks for pos's file among the candidates: by identity, else
// (the file was copied and truncated) by content, the most recently
// modified copy winning. It returns it, with the candidates newer than it,
// oldest first, and closes the others.
func (fl *follower) findSaved(candidates []*openFile, pos *FilePosition) (saved *openFile, newer []*openFile) {
	byIdentity := slices.IndexFunc(candidates, func(of *openFile) bool { return fl.holdsPosition(of, pos) })
	if byIdentity >= 0 {
		saved = candidates[byIdentity]
	} else if len(pos.Head) > 0 {
		// Without first bytes (nothing was read of the file) content
		// cannot tell one file from another.
		for _, of := range candidates {
			if fl.holdsContent(of, pos) && (saved == nil || of.info.ModTime().After(saved.info.ModTime())) {
				saved = of
			}
		}
	}
	if saved == nil {
		closeAll(candidates)
		return nil, nil
	}
	for _, of := range candidates {
		if of != saved && olderFirst(saved, of) < 0 {
			newer = append(newer, of)
		} else if of != saved {
			of.close()
		}
	}
	slices.SortFunc(newer, olderFirst)
	return saved, newer
}
