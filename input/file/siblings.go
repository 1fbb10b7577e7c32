package file

import (
	"bytes"
	"cmp"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/go-kit/log/level"
)

// Rotated generations and copies live next to the followed file under names
// that start with its name (0.log.20261124-003000, x.log.1). The follower
// remembers which of them it has accounted for, so that one it never saw at
// the path (rotated away between two looks) can be found and read.

// fileKey identifies a file: device and inode.
type fileKey struct{ dev, ino uint64 }

// sibling is a file named like a rotated generation (or a copy) of the
// followed file: its name starts with the file's name.
type sibling struct {
	path string
	info os.FileInfo
	key  fileKey
}

// siblings lists the non-empty regular files named like rotated generations
// of the path, next to the file it resolves to (a kubelet symlink points into
// the pod's log directory, where rotation happens) and next to the path.
func (fl *follower) siblings() []sibling {
	if real, err := filepath.EvalSymlinks(fl.path); err == nil {
		fl.resolved = real // kept for while a rotation leaves the link dangling
	}
	places := []string{fl.path}
	if fl.resolved != "" && fl.resolved != fl.path {
		places = append(places, fl.resolved)
	}
	seen := make(map[fileKey]bool)
	var out []sibling
	for _, p := range places {
		dir, base := filepath.Dir(p), filepath.Base(p)
		// A file being renamed while the directory is read can be missing
		// from the listing (logrotate renumbers all of them at once); it is
		// not missing from two listings.
		var names []string
		for range 2 {
			entries, err := os.ReadDir(dir)
			if err != nil {
				level.Debug(fl.m.logger).Log("msg", "cannot list the directory of a followed file", "dir", dir, "err", err)
				break
			}
			for _, e := range entries {
				if name := e.Name(); name != base && strings.HasPrefix(name, base) {
					names = append(names, name)
				}
			}
		}
		slices.Sort(names)
		for _, name := range slices.Compact(names) {
			full := filepath.Join(dir, name)
			fi, err := os.Stat(full)
			if err != nil || !fi.Mode().IsRegular() || fi.Size() == 0 {
				continue
			}
			key, ok := keyOf(fi)
			if !ok || seen[key] {
				continue
			}
			seen[key] = true
			out = append(out, sibling{path: full, info: fi, key: key})
		}
	}
	return out
}

// forgetAfter is how many directory scans in a row a remembered file must be
// missing from before it is forgotten (so that a reused inode number is not
// taken for it); one racy listing must not make it look new again.
const forgetAfter = 3

// remember marks the siblings present as accounted for (history from
// before, copies used, generations read), except those left for a later
// scan, and forgets files long gone.
func (fl *follower) remember(sibs []sibling, leave []*openFile) {
	if fl.known == nil {
		fl.known = make(map[fileKey]int, len(sibs))
	}
	for k := range fl.known {
		fl.known[k]++
	}
	for _, s := range sibs {
		if !slices.ContainsFunc(leave, func(of *openFile) bool { return os.SameFile(of.info, s.info) }) {
			fl.known[s.key] = 0
		}
	}
	// Files held are accounted for wherever they are (the path itself is
	// not listed as a sibling).
	for _, of := range fl.files {
		if key, ok := keyOf(of.info); ok {
			fl.known[key] = 0
		}
	}
	for k, absent := range fl.known {
		if absent > forgetAfter {
			delete(fl.known, k)
		}
	}
}

func (fl *follower) isKnown(key fileKey) bool {
	_, ok := fl.known[key]
	return ok
}

func (fl *follower) holds(key fileKey) bool {
	for _, of := range fl.files {
		if k, ok := keyOf(of.info); ok && k == key {
			return true
		}
	}
	return false
}

// unaccounted lists the siblings and opens those that appeared since they
// were last remembered, are not held and are not compressed: generations
// rotated away (or copies made) that the follower has not seen, oldest
// first. The caller decides what to remember.
func (fl *follower) unaccounted() (sibs []sibling, found []*openFile) {
	sibs, found = fl.openSiblings(func(k fileKey) bool { return fl.isKnown(k) || fl.holds(k) })
	slices.SortFunc(found, olderFirst)
	return sibs, found
}

// openSiblings lists the siblings and opens those that skip (if not nil)
// does not exclude and that are not compressed. A sibling renamed between
// listing and opening (logrotate renumbers them all) would open another's
// file: it is looked for again under its new name. sibs are the siblings
// found where they were listed.
func (fl *follower) openSiblings(skip func(fileKey) bool) (sibs []sibling, found []*openFile) {
	resolved := make(map[fileKey]bool)
	for range 3 {
		retry := false
		for _, s := range fl.siblings() {
			if resolved[s.key] {
				continue
			}
			if skip != nil && skip(s.key) {
				resolved[s.key] = true
				sibs = append(sibs, s)
				continue
			}
			of, err := openRegular(s.path)
			if err != nil {
				retry = true
				continue
			}
			if !os.SameFile(of.info, s.info) {
				of.close()
				retry = true
				continue
			}
			resolved[s.key] = true
			sibs = append(sibs, s)
			if compressed(of) {
				of.close()
				continue
			}
			found = append(found, of)
		}
		if !retry {
			break
		}
	}
	return sibs, found
}

// pathNames reports whether the path (still) names the file of.
func (fl *follower) pathNames(of *openFile) bool {
	st, err := os.Stat(fl.path)
	return err == nil && os.SameFile(st, of.info)
}

func closeAll(files []*openFile) {
	for _, of := range files {
		of.close()
	}
}

// compressedMagic are the leading bytes of the formats rotated logs get
// compressed to (gzip, bzip2, xz, zstd, lz4, zip).
var compressedMagic = [][]byte{
	{0x1f, 0x8b},
	[]byte("BZh"),
	{0xfd, '7', 'z', 'X', 'Z', 0x00},
	{0x28, 0xb5, 0x2f, 0xfd},
	{0x04, 0x22, 0x4d, 0x18},
	[]byte("PK\x03\x04"),
}

func compressed(of *openFile) bool {
	var head [6]byte
	n, _ := of.f.ReadAt(head[:], 0)
	for _, m := range compressedMagic {
		if bytes.HasPrefix(head[:n], m) {
			return true
		}
	}
	return false
}

// olderFirst orders rotated generations (and copies) oldest first.
func olderFirst(a, b *openFile) int {
	return compareGenerations(a.info, a.f.Name(), b.info, b.f.Name())
}

// compareGenerations orders two rotated generations oldest first.
// logrotate's numbers say it directly: x.log.1 is the newest, x.log.2 older.
// Its renumbering renames every generation again, so change times only order
// generations when numbers do not (the kubelet's and dateext's timestamped
// names): a generation's last write precedes the writer's switch to the next
// one, which precedes the next one's rename, and a rename sets the change
// time (modification times do not order a generation written after the next
// one was created). Ties go by name, timestamps sorting oldest first.
func compareGenerations(a os.FileInfo, aName string, b os.FileInfo, bName string) int {
	an, bn := filepath.Base(aName), filepath.Base(bName)
	ai, aok := numericSuffix(an)
	bi, bok := numericSuffix(bn)
	if aok && bok {
		return cmp.Compare(bi, ai)
	}
	if c := changeTime(a).Compare(changeTime(b)); c != 0 {
		return c
	}
	return strings.Compare(an, bn)
}

func numericSuffix(name string) (int, bool) {
	i := strings.LastIndexByte(name, '.')
	if i < 0 {
		return 0, false
	}
	n, err := strconv.Atoi(name[i+1:])
	return n, err == nil
}
