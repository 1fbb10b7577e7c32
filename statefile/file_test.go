package statefile

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/mirrord-exporter/mirrord-exporter/collector"
	"github.com/mirrord-exporter/mirrord-exporter/ingest"
	"github.com/mirrord-exporter/mirrord-exporter/input/file"
	"github.com/mirrord-exporter/mirrord-exporter/input/kube"
	"github.com/mirrord-exporter/mirrord-exporter/unwrap"
)

func sampleFile() *File {
	return &File{
		Version:         Version,
		SavedAt:         time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC),
		ExporterVersion: "test",
		Collector:       &collector.Snapshot{Labels: []string{"client_user"}},
		Ingest: ingest.Snapshot{
			Lines: map[string]float64{"/var/log/x.log": 10}, Bytes: map[string]float64{"/var/log/x.log": 1000},
			Joins: map[string][]unwrap.Join{"/var/log/x.log": {{Wrapper: "cri", Stream: "stdout", Parts: []byte(`{"a":`)}}},
		},
		Files: []file.FilePosition{{Input: "/var/log/*.log", Path: "/var/log/x.log", Device: 1, Inode: 2, Offset: 1000, Head: []byte("\x00\xffbinary-safe")}},
		Pods:  []kube.Position{{Namespace: "mirrord", Pod: "op", PodUID: "u", Container: "c", ContainerID: "containerd://1", Last: time.Date(2026, 11, 24, 9, 0, 0, 5, time.UTC), Skip: 2}},
	}
}

func TestWriteThenLoad(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	want := sampleFile()
	if _, err := Write(path, want); err != nil {
		t.Fatal(err)
	}
	got, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("loaded %+v\nwant %+v", got, want)
	}
	if left, _ := filepath.Glob(path + tempInfix + "*"); len(left) > 0 {
		t.Errorf("temporary files left: %v", left)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm()&0o077 != 0 {
		t.Errorf("state file mode %v: readable by others", fi.Mode())
	}
}

func TestLoadWithoutFile(t *testing.T) {
	f, err := Load(filepath.Join(t.TempDir(), "none"))
	if f != nil || err != nil {
		t.Errorf("Load of a missing file = %v, %v; want nothing and no error", f, err)
	}
}

func TestLoadRejectsUnusableFiles(t *testing.T) {
	dir := t.TempDir()
	for name, content := range map[string]string{
		"empty":        "",
		"garbage":      "\x00\x01",
		"cut short":    `{"version":1,"collector":{"labels":["client_user"`,
		"old version":  `{"version":0,"collector":{}}`,
		"new version":  `{"version":2,"collector":{}}`,
		"no collector": `{"version":1}`,
	} {
		path := filepath.Join(dir, strings.ReplaceAll(name, " ", "-"))
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := Load(path); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: Load error %v, want ErrCorrupt", name, err)
		}
	}
	unreadable := filepath.Join(dir, "dir-not-file")
	if err := os.Mkdir(unreadable, 0o700); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(unreadable); !errors.Is(err, ErrCorrupt) {
		t.Errorf("unreadable: Load error %v, want ErrCorrupt", err)
	}
}

func TestSetAsideKeepsTheFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	if err := os.WriteFile(path, []byte("bad"), 0o600); err != nil {
		t.Fatal(err)
	}
	aside, removed, err := SetAside(path, time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC))
	if err != nil || len(removed) > 0 {
		t.Fatalf("SetAside removed %v, error %v", removed, err)
	}
	if aside != path+".corrupt-20261124T100000Z" {
		t.Errorf("set aside as %s", aside)
	}
	if b, _ := os.ReadFile(aside); string(b) != "bad" {
		t.Errorf("set-aside copy holds %q", b)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("the unusable file is still in place: %v", err)
	}
}

// TestSetAsideKeepsTheNewestCopies sets aside one file after another, some
// within the same second and one with the clock set back: no copy
// overwrites another, and only the newest KeepSetAside stay (the one just
// made always among them). Files not named as copies of this state file
// stay too.
func TestSetAsideKeepsTheNewestCopies(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "state[1].json") // glob metacharacters are literal
	others := []string{path + ".corrupt-notes", path + ".corrupt-20200101T000000Z-x", filepath.Join(dir, "state.json.corrupt-20200101T000000Z")}
	for _, p := range others {
		if err := os.WriteFile(p, nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	t0 := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	setAside := func(content string, at time.Time) (string, []string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		aside, removed, err := SetAside(path, at)
		if err != nil {
			t.Fatal(err)
		}
		return aside, removed
	}
	var names []string
	// Five copies within one second: the fifth is numbered after the
	// fourth, although the first, removed, freed the plain name.
	for i, ms := range []time.Duration{0, 200, 400, 600, 800, 1000} {
		aside, removed := setAside(fmt.Sprint(i), t0.Add(ms*time.Millisecond))
		names = append(names, aside)
		if want := max(0, i+1-KeepSetAside); len(removed) != min(1, want) || want > 0 && removed[0] != names[i-KeepSetAside] {
			t.Errorf("set-aside %d removed %v, want %v", i, removed, names[max(0, i-KeepSetAside):max(0, i+1-KeepSetAside)])
		}
	}
	want := []string{"0Z", "0Z-2", "0Z-3", "0Z-4", "0Z-5", "1Z"}
	for i, w := range want {
		if w = path + ".corrupt-20261124T10000" + w; names[i] != w {
			t.Errorf("copy %d named %s, want %s", i, names[i], w)
		}
	}
	// The clock set back: the new copy is kept anyway, and the oldest of the
	// others go.
	backwards, removed := setAside("6", t0.Add(-time.Hour))
	if !reflect.DeepEqual(removed, []string{names[3]}) {
		t.Errorf("with the clock set back, removed %v, want %v", removed, names[3:4])
	}
	for content, name := range map[string]string{"4": names[4], "5": names[5], "6": backwards} {
		if b, err := os.ReadFile(name); err != nil || string(b) != content {
			t.Errorf("%s holds %q (%v), want %q", name, b, err, content)
		}
	}
	copies, _ := filepath.Glob(filepath.Join(dir, "*"))
	if len(copies) != KeepSetAside+len(others) {
		t.Errorf("files left: %v, want %d copies and the %d others", copies, KeepSetAside, len(others))
	}
	for _, p := range others {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("%s removed: %v", p, err)
		}
	}
}

func TestRemoveStaleTemporaries(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "state[1].json") // glob metacharacters are literal
	stale := path + tempInfix + "123"
	other := filepath.Join(dir, "state1.json"+tempInfix+"123")
	for _, p := range []string{stale, other, path} {
		if err := os.WriteFile(p, nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	RemoveStaleTemporaries(path)
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Error("the stale temporary file is still there")
	}
	for _, p := range []string{other, path} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("%s removed: %v", p, err)
		}
	}
}

func TestSaverCountsSavesAndFailures(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sub", "state.json")
	reg := prometheus.NewRegistry()
	now := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	s, err := NewSaver(SaverConfig{
		Path: path, Interval: time.Hour, Restored: true, Registerer: reg,
		Now:      func() time.Time { return now },
		Snapshot: func() (*File, time.Duration, error) { return sampleFile(), 3 * time.Millisecond, nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Save(); err == nil {
		t.Fatal("saving into a missing directory succeeded")
	}
	if err := os.Mkdir(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := s.Save(); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	want := `
# HELP mirrord_exporter_state_last_save_timestamp_seconds When the state file was last saved successfully, in seconds since the epoch; 0 before the first save.
# TYPE mirrord_exporter_state_last_save_timestamp_seconds gauge
mirrord_exporter_state_last_save_timestamp_seconds 1.7955144e+09
# HELP mirrord_exporter_state_restored 1 if this run started from the state file, 0 if it started afresh (no file, or one that could not be used).
# TYPE mirrord_exporter_state_restored gauge
mirrord_exporter_state_restored 1
# HELP mirrord_exporter_state_save_failures_total State file saves that failed; the previous save stays in place.
# TYPE mirrord_exporter_state_save_failures_total counter
mirrord_exporter_state_save_failures_total 1
# HELP mirrord_exporter_state_saves_total State file saves that succeeded.
# TYPE mirrord_exporter_state_saves_total counter
mirrord_exporter_state_saves_total 1
# HELP mirrord_exporter_state_snapshot_pause_seconds How long the last save stopped the inputs to take its snapshot (writing the file happens after they resumed).
# TYPE mirrord_exporter_state_snapshot_pause_seconds gauge
mirrord_exporter_state_snapshot_pause_seconds 0.003
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want),
		"mirrord_exporter_state_last_save_timestamp_seconds", "mirrord_exporter_state_restored",
		"mirrord_exporter_state_save_failures_total", "mirrord_exporter_state_saves_total",
		"mirrord_exporter_state_snapshot_pause_seconds"); err != nil {
		t.Error(err)
	}
	if got := testutil.ToFloat64(s.size); got != float64(fi.Size()) {
		t.Errorf("mirrord_exporter_state_size_bytes = %v, file is %d bytes", got, fi.Size())
	}
}

// TestSaverSaysWhatHappensNext: a periodic save that fails says when it is
// retried and which save a restart would resume from, once while saves
// fail; the save at shutdown, which is not retried, says so whenever it
// fails, failing before or not.
func TestSaverSaysWhatHappensNext(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "sub")
	var logs bytes.Buffer
	restoredAt := time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)
	now := restoredAt.Add(time.Hour)
	newSaver := func(restored bool) *Saver {
		s, err := NewSaver(SaverConfig{
			Path: filepath.Join(dir, "state.json"), Interval: 10 * time.Second, Restored: restored, RestoredSavedAt: restoredAt,
			Registerer: prometheus.NewRegistry(), Logger: level.NewFilter(log.NewLogfmtLogger(&logs), level.AllowInfo()), Now: func() time.Time { return now },
			Snapshot: func() (*File, time.Duration, error) {
				f := sampleFile()
				f.SavedAt = now
				return f, 0, nil
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	logged := func(want ...string) {
		t.Helper()
		lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
		if logs.Len() == 0 {
			lines = nil
		}
		if len(lines) != len(want) {
			t.Fatalf("logged %d lines, want %d:\n%s", len(lines), len(want), logs.String())
		}
		for i, w := range want {
			if !strings.Contains(lines[i], w) {
				t.Errorf("line %d:\n%s\nlacks %q", i, lines[i], w)
			}
		}
		logs.Reset()
	}

	s := newSaver(true)
	for range 2 {
		if err := s.Save(); err == nil {
			t.Fatal("saving into a missing directory succeeded")
		}
	}
	logged(`level=error msg="Saving the state file failed; retrying in 10s and every 10s after, logged again only once a save works. Until then the state file keeps the save of 2026-11-24T09:00:00Z: after a restart the lines read since then are read again"`)
	if err := s.SaveFinal(); err == nil {
		t.Fatal("saving into a missing directory succeeded")
	}
	logged(`level=error msg="Saving the state file at shutdown failed; the state file keeps the save of 2026-11-24T09:00:00Z: after a restart the lines read since then are read again"`)

	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := s.Save(); err != nil {
		t.Fatal(err)
	}
	logged(`level=info msg="Saving the state file works again"`)
	// The directory gone: the save just made is the one kept.
	if err := os.Rename(dir, dir+".away"); err != nil {
		t.Fatal(err)
	}
	now = now.Add(time.Hour)
	if err := s.SaveFinal(); err == nil {
		t.Fatal("saving into a missing directory succeeded")
	}
	logged(`msg="Saving the state file at shutdown failed; the state file keeps the save of 2026-11-24T10:00:00Z: after`)
	if err := os.Rename(dir+".away", dir); err != nil {
		t.Fatal(err)
	}
	if err := s.SaveFinal(); err != nil {
		t.Fatal(err)
	}
	logged(`level=info msg="Saved the state file"`)

	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := newSaver(false).SaveFinal(); err == nil {
		t.Fatal("saving into a missing directory succeeded")
	}
	logged(`msg="Saving the state file at shutdown failed; there is no saved state: after a restart the exporter starts afresh"`)
}
