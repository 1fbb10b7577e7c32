package file

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nxadm/tail"
)

// BenchmarkTailFile reads the file of BenchmarkOnceFile (100k lines) with
// nxadm/tail's TailFile, not following, to show the per-line cost the
// exporter avoids by reading files itself (see doc.go): compare its ns/op and
// allocs/op with BenchmarkOnceFile's. Only its inotify watcher is used.
func BenchmarkTailFile(b *testing.B) {
	const n = 100_000
	file := filepath.Join(b.TempDir(), "a.log")
	line := "2026-11-24T00:30:00.000000000Z stdout F some log line of moderate length\n"
	if err := os.WriteFile(file, []byte(strings.Repeat(line, n)), 0o644); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(line) * n))
	b.ReportAllocs()
	for b.Loop() {
		t, err := tail.TailFile(file, tail.Config{MustExist: true, Logger: tail.DiscardingLogger})
		if err != nil {
			b.Fatal(err)
		}
		got := 0
		for l := range t.Lines {
			if l.Err != nil {
				b.Fatal(l.Err)
			}
			got++
		}
		if got != n {
			b.Fatalf("%d lines, want %d", got, n)
		}
		t.Cleanup()
	}
}
