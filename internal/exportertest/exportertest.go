// Package exportertest holds what the exporter's in-process tests
// (exporter/) and its binary's tests (cmd/exporter/) share: generated logs
// with their truth, files that grow while they are followed, and reading a
// text exposition.
package exportertest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mirrord-exporter/mirrord-exporter/internal/loggen"
)

// GenConfig is a generated log with every nasty part real logs have.
func GenConfig(w loggen.Wrapper, seed int64) loggen.Config {
	return loggen.Config{
		Seed:       seed,
		Sessions:   300,
		Start:      time.Date(2026, 8, 17, 8, 0, 0, 0, time.UTC),
		Span:       4 * time.Hour,
		Wrapper:    w,
		NoiseRatio: 0.8,
		BigLines:   true,
		Nasty:      true,
	}
}

// WriteLog writes the log cfg describes to path and returns its truth.
func WriteLog(t *testing.T, path string, cfg loggen.Config) loggen.Truth {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	truth, err := loggen.Generate(f, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return truth
}

// AppendLines copies lines to path in chunks, flushing each, so the
// exporter reads a file that grows while it follows it.
func AppendLines(t *testing.T, path string, lines []string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := bufio.NewWriter(f)
	for i, l := range lines {
		w.WriteString(l)
		w.WriteByte('\n')
		if i%500 == 0 {
			if err := w.Flush(); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
}

// LockedBuffer holds an exporter's log, read while the exporter writes it.
type LockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *LockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *LockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// RequireTruth fails on every series of the exposition that differs from
// the generator's truth.
func RequireTruth(t *testing.T, exposition string, truth loggen.Truth) {
	t.Helper()
	diffs, err := truth.Diff(strings.NewReader(exposition))
	if err != nil {
		t.Fatal(err)
	}
	for i, d := range diffs {
		if i == 30 {
			t.Errorf("... and %d more", len(diffs)-30)
			break
		}
		t.Error(d)
	}
}

// Sample returns the value of one series of a text exposition, NaN when it
// has none.
func Sample(t *testing.T, exposition, series string) float64 {
	t.Helper()
	for _, line := range strings.Split(exposition, "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("%s: %v", line, err)
			}
			return f
		}
	}
	return math.NaN()
}

// WaitFor polls cond; the deadline only guards against a hang.
func WaitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// RotatingWriter writes a log the way logrotate rotates it: numbered
// generations, renamed (the newest is .1) or copied and truncated, none
// deleted, so that an exporter down for a while can still read them all.
type RotatingWriter struct {
	T       *testing.T
	Path    string
	Rotated int // generations next to the live file
}

// Write appends lines to the live file, creating it if need be.
func (w *RotatingWriter) Write(lines []string) {
	w.T.Helper()
	AppendLines(w.T, w.Path, lines)
}

func (w *RotatingWriter) shift() {
	w.T.Helper()
	for k := w.Rotated; k >= 1; k-- {
		if err := os.Rename(fmt.Sprintf("%s.%d", w.Path, k), fmt.Sprintf("%s.%d", w.Path, k+1)); err != nil {
			w.T.Fatal(err)
		}
	}
	w.Rotated++
}

// RenameRotate moves the live file to .1; the next write creates it anew.
func (w *RotatingWriter) RenameRotate() {
	w.T.Helper()
	w.shift()
	if err := os.Rename(w.Path, w.Path+".1"); err != nil {
		w.T.Fatal(err)
	}
}

// CopyTruncate copies the live file to .1 and truncates it in place.
func (w *RotatingWriter) CopyTruncate() {
	w.T.Helper()
	w.shift()
	b, err := os.ReadFile(w.Path)
	if err != nil {
		w.T.Fatal(err)
	}
	if err := os.WriteFile(w.Path+".1", b, 0o644); err != nil {
		w.T.Fatal(err)
	}
	if err := os.Truncate(w.Path, 0); err != nil {
		w.T.Fatal(err)
	}
}

// GeneratedLines is the log cfg describes, as lines, and its truth.
func GeneratedLines(t *testing.T, cfg loggen.Config) ([]string, loggen.Truth) {
	t.Helper()
	var buf bytes.Buffer
	truth, err := loggen.Generate(&buf, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n"), truth
}

// CaughtUp waits until the exposition scrape returns shows lines lines of
// input read and the events of truth applied, and returns the exposition.
// what names the exporter in a failure.
func CaughtUp(t *testing.T, what string, scrape func() string, input string, lines int, truth loggen.Truth) string {
	t.Helper()
	linesRead := loggen.SeriesKey("mirrord_exporter_log_lines_total", map[string]string{"input": input})
	var behind []string
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		body := scrape()
		behind = behind[:0]
		for ev, n := range truth.Events {
			series := loggen.SeriesKey("mirrord_exporter_events_total", map[string]string{"event": ev})
			if got := Sample(t, body, series); got != n {
				behind = append(behind, fmt.Sprintf("%s = %v, want %v", series, got, n))
			}
		}
		if got := Sample(t, body, linesRead); got != float64(lines) {
			behind = append(behind, fmt.Sprintf("%s = %v, want %d", linesRead, got, lines))
		}
		if len(behind) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never read every line and applied every event:\n%s", what, strings.Join(behind, "\n"))
		}
	}
	// Families are collected one after another: scrape again now that
	// nothing moves.
	return scrape()
}

// LogUntil is the prefix of a raw, time-ordered log up to the last line
// stamped at or before end: the log as the operator had written it at end.
func LogUntil(t *testing.T, log []byte, end time.Time) []byte {
	t.Helper()
	n := 0
	for _, line := range bytes.SplitAfter(log, []byte("\n")) {
		var rec struct {
			Timestamp time.Time `json:"timestamp"`
		}
		if err := json.Unmarshal(line, &rec); err != nil || rec.Timestamp.IsZero() {
			if len(bytes.TrimSpace(line)) == 0 {
				break
			}
			t.Fatalf("line without a timestamp in the generated log: %q (%v)", line, err)
		}
		if rec.Timestamp.After(end) {
			break
		}
		n += len(line)
	}
	return log[:n]
}
