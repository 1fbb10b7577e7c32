package file

import (
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/nxadm/tail"
)

// compareEnv enables TestCompareTailFile:
//
//	MIRRORD_EXPORTER_COMPARE_TAILFILE=1 go test ./source -run TestCompareTailFile -v
const compareEnv = "MIRRORD_EXPORTER_COMPARE_TAILFILE"

// TestCompareTailFile runs the kubelet-style rename-rotation workload
// through nxadm/tail's TailFile{Follow, ReOpen} and through this package,
// and reports what each lost, duplicated or reordered. Ours must be exact.
func TestCompareTailFile(t *testing.T) {
	if os.Getenv(compareEnv) == "" {
		t.Skip("experiment; set " + compareEnv + "=1 to run")
	}

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
		done := make(chan struct{})
		go func() {
			defer close(done)
			for l := range tl.Lines {
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
		// TailFile has no notion of being done: wait until it has been
		// quiet for a while (or delivered everything).
		deadline := time.Now().Add(hangGuard)
		for time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
			mu.Lock()
			quiet := time.Since(last) > 2*time.Second
			complete := len(seqs) >= workloadLines
			mu.Unlock()
			if quiet || complete {
				break
			}
		}
		_ = tl.Stop()
		tl.Cleanup()
		<-done
		st := compareSeqs(seqs, bad, workloadLines)
		t.Logf("nxadm/tail TailFile: %d lines written, %d rotations, %d delivered: %s", workloadLines, rotations, len(seqs), st)
	})

	t.Run("source", func(t *testing.T) {
		file := filepath.Join(sameDir(t), "0.log")
		h, rotations, rec := runWorkload(t, Config{Paths: []string{file}}, file,
			func() int { return renameWorkload(t, file, kubeletRotate(file)) })
		rec.mu.Lock()
		st := compareSeqs(rec.sinks[0].seqs, len(rec.sinks[0].bad), workloadLines)
		rec.mu.Unlock()
		t.Logf("file: %d lines written, %d rotations (%v counted), delivered: %s", workloadLines, rotations, h.rotations(rotationRename), st)
		if st != (seqStats{}) {
			t.Fatal("source is not exact")
		}
	})
}
