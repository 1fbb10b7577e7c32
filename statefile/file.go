// Package statefile saves and loads the exporter's state file: everything it
// needs to go on after a restart as if it had never stopped (the metrics,
// the open sessions, and where each input had got to), written atomically
// so that a crash at any instant leaves either the previous save or the new
// one.
package statefile

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mirrord-exporter/mirrord-exporter/collector"
	"github.com/mirrord-exporter/mirrord-exporter/ingest"
	"github.com/mirrord-exporter/mirrord-exporter/input/file"
	"github.com/mirrord-exporter/mirrord-exporter/input/kube"
)

// Version is the format version this build writes and reads. A file of
// another version is set aside like a corrupt one: an exporter never
// guesses at a format it does not know.
const Version = 1

// File is the content of a state file (JSON). Its parts were all taken at
// one instant, with every input stopped between two lines: the metrics
// count exactly the lines before the positions.
type File struct {
	Version int `json:"version"`
	// SavedAt is when the snapshot was taken; ExporterVersion the build
	// that took it. Both are informative.
	SavedAt         time.Time `json:"saved_at"`
	ExporterVersion string    `json:"exporter_version"`
	// Collector holds the metrics of the log stream and the open sessions
	// and ports.
	Collector *collector.Snapshot `json:"collector"`
	// Ingest holds the line path's counters and the split records being
	// joined.
	Ingest ingest.Snapshot `json:"ingest"`
	// Files and Pods are where each followed file and container log had got
	// to.
	Files []file.FilePosition `json:"files"`
	Pods  []kube.Position     `json:"pods"`
	// Pseudonyms are the pseudonymization settings the collector's values
	// were made with; absent without pseudonymization, as in files saved
	// before it existed.
	Pseudonyms *Pseudonyms `json:"pseudonyms,omitempty"`
}

// Pseudonyms are pseudonymization settings (--label.pseudonymize): never
// the key, only its fingerprint.
type Pseudonyms struct {
	// Fields are the fields pseudonymized, sorted.
	Fields []string `json:"fields"`
	// KeyFingerprint is pseudonym.Key.Fingerprint of the key.
	KeyFingerprint string `json:"key_fingerprint"`
}

// ErrCorrupt is wrapped by Load for a file that exists but cannot be used.
var ErrCorrupt = errors.New("state file unusable")

// Load reads a state file. It returns (nil, nil) when there is none, and an
// error wrapping ErrCorrupt for one that cannot be used (unreadable,
// invalid JSON, unknown version, parts missing).
func Load(path string) (*File, error) {
	b, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("%w: read %s: %w", ErrCorrupt, path, err)
	}
	var f File
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("%w: decode %s: %w", ErrCorrupt, path, err)
	}
	switch {
	case f.Version != Version:
		return nil, fmt.Errorf("%w: %s is format version %d, this exporter reads version %d", ErrCorrupt, path, f.Version, Version)
	case f.Collector == nil:
		return nil, fmt.Errorf("%w: %s has no collector state", ErrCorrupt, path)
	}
	return &f, nil
}

// Write replaces the state file atomically: a temporary file next to it is
// written and synced, then renamed over it, and the directory synced, so
// that a crash leaves the old file or the new one, never a mix. It returns
// the file's size.
func Write(path string, f *File) (int, error) {
	b, err := json.Marshal(f)
	if err != nil {
		return 0, fmt.Errorf("encode state: %w", err)
	}
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	tmp, err := os.CreateTemp(dir, base+tempInfix+"*")
	if err != nil {
		return 0, fmt.Errorf("create temporary state file: %w", err)
	}
	defer os.Remove(tmp.Name()) // fails harmlessly once renamed
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return 0, fmt.Errorf("write %s: %w", tmp.Name(), err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return 0, fmt.Errorf("sync %s: %w", tmp.Name(), err)
	}
	if err := tmp.Close(); err != nil {
		return 0, fmt.Errorf("close %s: %w", tmp.Name(), err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return 0, fmt.Errorf("replace %s: %w", path, err)
	}
	if err := syncDir(dir); err != nil {
		return 0, fmt.Errorf("sync directory %s: %w", dir, err)
	}
	return len(b), nil
}

// tempInfix names the temporary files Write makes, so that those a crash
// left behind are recognised and removed.
const tempInfix = ".tmp-"

// RemoveStaleTemporaries removes the temporary files of writes a crash
// interrupted.
func RemoveStaleTemporaries(path string) {
	matches, _ := filepath.Glob(globEscape(path) + tempInfix + "*")
	for _, m := range matches {
		os.Remove(m)
	}
}

// KeepSetAside is how many set-aside copies of unusable state files are
// kept, the newest: enough to see what went wrong, and few, as each is as
// large as a state file and holds user and target names.
const KeepSetAside = 3

// setAsideInfix and setAsideStamp name the copies SetAside keeps:
// PATH.corrupt-<UTC time>, then -2, -3, ... for more within one second.
const (
	setAsideInfix = ".corrupt-"
	setAsideStamp = "20060102T150405Z"
)

// SetAside renames an unusable state file out of the way, keeping it for
// inspection, and then removes the copies older than the newest
// KeepSetAside. It returns the copy's name ("" if the file could not be
// renamed) and those removed; its error is the rename's or the removals'.
// It never overwrites a copy: one exporter, and one only, uses a state file.
func SetAside(path string, now time.Time) (string, []string, error) {
	copies, err := setAsideCopies(path)
	if err != nil {
		return "", nil, fmt.Errorf("set aside %s: %w", path, err)
	}
	// Within one second, a copy takes the number after the highest: the
	// numbers tell the order, even once the first copies are removed.
	at := now.UTC().Truncate(time.Second)
	n := 0
	for _, c := range copies {
		if c.at.Equal(at) {
			n = max(n, c.n)
		}
	}
	base := path + setAsideInfix + at.Format(setAsideStamp)
	aside := base
	for ; ; n++ {
		if n > 0 {
			aside = fmt.Sprintf("%s-%d", base, n+1)
		}
		_, err := os.Lstat(aside)
		if errors.Is(err, fs.ErrNotExist) {
			break
		}
		if err != nil {
			return "", nil, fmt.Errorf("set aside %s: %w", path, err)
		}
	}
	if err := os.Rename(path, aside); err != nil {
		return "", nil, fmt.Errorf("set aside %s: %w", path, err)
	}
	// The copy just made is kept, whatever the clock said.
	if len(copies) < KeepSetAside {
		return aside, nil, nil
	}
	slices.SortFunc(copies, func(a, b setAside) int { return cmp.Or(b.at.Compare(a.at), cmp.Compare(b.n, a.n)) })
	var removed []string
	var errs []error
	for _, c := range copies[KeepSetAside-1:] {
		if err := os.Remove(c.path); err != nil {
			errs = append(errs, err)
			continue
		}
		removed = append(removed, c.path)
	}
	return aside, removed, errors.Join(errs...)
}

// setAside is a copy SetAside made: the n-th (from 1) of its second.
type setAside struct {
	path string
	at   time.Time
	n    int
}

// setAsideCopies lists the copies SetAside made of path. Files not named as
// it names them are left out, and so never removed.
func setAsideCopies(path string) ([]setAside, error) {
	dir, prefix := filepath.Dir(path), filepath.Base(path)+setAsideInfix
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("list set-aside copies: %w", err)
	}
	var copies []setAside
	for _, e := range entries {
		rest, ok := strings.CutPrefix(e.Name(), prefix)
		if !ok {
			continue
		}
		stamp, suffix, numbered := strings.Cut(rest, "-")
		at, err := time.Parse(setAsideStamp, stamp)
		n := 1
		if numbered {
			n, _ = strconv.Atoi(suffix)
		}
		if err != nil || n < 1 || numbered && n < 2 {
			continue
		}
		copies = append(copies, setAside{filepath.Join(dir, e.Name()), at, n})
	}
	return copies, nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// globEscape quotes the glob metacharacters of a literal path.
func globEscape(p string) string {
	r := strings.NewReplacer(`\`, `\\`, `*`, `\*`, `?`, `\?`, `[`, `\[`)
	return r.Replace(p)
}
