package file

import (
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nxadm/tail"
)

// TestCompareTailFile runs the kubelet-style rename-rotation workload
// through nxadm/tail's TailFile{Follow, ReOpen} and through this package,
// and reports what each lost, duplicated or reordered. Ours must be exact;
// the library's figures are logged (go test -v), the measurement that keeps
// the hand-written follower. It runs in the normal suite: about 3 s, most
// of it the workload written twice.
func TestCompareTailFile(t *testing.T) {
	const endMark = "end of the workload"
	t.Run("TailFile", func(t *testing.T) {
		file := filepath.Join(sameDir(t), "0.log")
		writeFile(t, file, "")
		tl, err := tail.TailFile(file, tail.Config{Follow: true, ReOpen: true, Logger: tail.DiscardingLogger})
		if err != nil {
			t.Fatal(err)
		}
		var mu sync.Mutex
		var seqs []int
		bad := 0
		last := time.Now()
		var ended atomic.Bool
		done := make(chan struct{})
		go func() {
			defer close(done)
			for l := range tl.Lines {
				if l.Text == endMark {
					ended.Store(true)
					continue
				}
				n, ok := parseSeq([]byte(l.Text))
				mu.Lock()
				if ok {
					seqs = append(seqs, n)
				} else {
					bad++
				}
				last = time.Now()
				mu.Unlock()
			}
		}()
		rotations := renameWorkload(t, file, kubeletRotate(file))
		// TailFile has no notion of being done. A last line written to the
		// file at the path marks it: TailFile reads one file at a time, so
		// once it delivered that line it delivers nothing older. If it lost
		// the file itself, it stops when it has been quiet for a while.
		appendFile(t, file, endMark+"\n")
		deadline := time.Now().Add(hangGuard)
		for time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
			mu.Lock()
			quiet := time.Since(last) > 2*time.Second
			mu.Unlock()
			if quiet || ended.Load() {
				break
			}
		}
		_ = tl.Stop()
		tl.Cleanup()
		<-done
		st := compareSeqs(seqs, bad, workloadLines)
		t.Logf("nxadm/tail TailFile: %d lines written, %d rotations, %d delivered: %s", workloadLines, rotations, len(seqs), st)
	})

	t.Run("file", func(t *testing.T) {
		file := filepath.Join(sameDir(t), "0.log")
		h, rotations, rec := runWorkload(t, Config{Paths: []string{file}}, file,
			func() int { return renameWorkload(t, file, kubeletRotate(file)) })
		rec.mu.Lock()
		st := compareSeqs(rec.sinks[0].seqs, len(rec.sinks[0].bad), workloadLines)
		rec.mu.Unlock()
		t.Logf("file: %d lines written, %d rotations (%v counted), delivered: %s", workloadLines, rotations, h.rotations(rotationRename), st)
		if st != (seqStats{}) {
			t.Fatal("input/file is not exact")
		}
	})
}
