package main

import (
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mirrord-exporter/mirrord-exporter/internal/exportertest"
	"github.com/mirrord-exporter/mirrord-exporter/internal/kubetest"
	"github.com/mirrord-exporter/mirrord-exporter/internal/loggen"
)

// processMetrics are the exporter's own metrics that describe the process
// rather than the log read, and so differ between a process killed and
// restarted many times and one that ran throughout: the rotations and file
// errors each process saw, the files it holds open, and the state saves.
var processMetrics = []string{
	"mirrord_exporter_file_rotations_total",
	"mirrord_exporter_file_errors_total",
	"mirrord_exporter_files_followed",
	"mirrord_exporter_state_",
}

// logMetrics keeps the families of an exposition that depend on the log
// alone: every mirrord_ family but processMetrics, HELP and TYPE included.
func logMetrics(exposition string) string {
	var b strings.Builder
	for _, line := range strings.SplitAfter(exposition, "\n") {
		name := line
		if rest, ok := strings.CutPrefix(line, "# HELP "); ok {
			name = rest
		} else if rest, ok := strings.CutPrefix(line, "# TYPE "); ok {
			name = rest
		}
		if !strings.HasPrefix(name, "mirrord_") || hasAnyPrefix(name, processMetrics) {
			continue
		}
		b.WriteString(line)
	}
	return b.String()
}

func hasAnyPrefix(s string, prefixes []string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

// TestStateSurvivesKill9 replays a generated log, rotated by rename and by
// copytruncate while it is written, to two exporters: one runs throughout,
// the other has a state file and is killed with SIGKILL at random instants
// (while reading, while saving, while starting) and restarted, sometimes
// only after rotations happened. In the end both must show the same
// metrics, byte for byte: no line counted twice, none lost.
func TestStateSurvivesKill9(t *testing.T) {
	dir := t.TempDir()
	live := filepath.Join(dir, "operator.log")
	stateFile := filepath.Join(dir, "state", "exporter.json")
	if err := os.Mkdir(filepath.Dir(stateFile), 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := exportertest.GenConfig(loggen.CRI, 21)
	cfg.Sessions = 600
	lines, truth := exportertest.GeneratedLines(t, cfg)
	common := []string{"--input.path=" + live, "--input.poll-interval=20ms", "--session.max-age=0"}

	reference := startExporter(t, common...)
	chaosArgs := append([]string{"--state.file=" + stateFile, "--state.save-interval=30ms"}, common...)

	// A new seed each run covers more instants over time; a failure names
	// its seed, though the timing of the processes is never the same.
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 4))
	w := &exportertest.RotatingWriter{T: t, Path: live}
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		rng := rand.New(rand.NewPCG(seed, 5)) // the writer's own
		const chunk = 150
		for i := 0; i < len(lines); i += chunk {
			w.Write(lines[i:min(i+chunk, len(lines))])
			switch n := i / chunk; {
			case n%17 == 16:
				w.CopyTruncate()
			case n%7 == 6:
				w.RenameRotate()
			}
			time.Sleep(time.Duration(20+rng.IntN(40)) * time.Millisecond)
		}
	}()

	const minKills = 20
	kills, killedWriting := 0, 0
	var (
		mu    sync.Mutex
		chaos *exec.Cmd
		logs  exportertest.LockedBuffer
	)
	addr := freeAddress(t)
	start := func() {
		mu.Lock()
		defer mu.Unlock()
		chaos = exec.Command(exporterBinary, append([]string{"--web.listen-address=" + addr}, chaosArgs...)...)
		chaos.Stderr = &logs
		if err := chaos.Start(); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		if chaos != nil && chaos.ProcessState == nil {
			chaos.Process.Kill()
			chaos.Wait()
		}
		if t.Failed() {
			t.Logf("log of the killed exporter:\n%s", logs.String())
		}
	})
	start()
	for writing := true; ; {
		time.Sleep(time.Duration(50+rng.IntN(300)) * time.Millisecond)
		select {
		case <-writerDone:
			writing = false
		default:
		}
		if !writing && kills >= minKills {
			break
		}
		mu.Lock()
		if err := chaos.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		chaos.Wait()
		fmt.Fprintf(&logs, "--- killed (%d) ---\n", kills+1)
		mu.Unlock()
		kills++
		if writing {
			killedWriting++
		}
		// Sometimes down for a while, rotations going on.
		time.Sleep(time.Duration(rng.IntN(3)*150) * time.Millisecond)
		start()
	}
	if kills < minKills {
		t.Fatalf("only %d kills: the log was written too fast to test anything", kills)
	}
	t.Logf("%d lines, %d rotations, %d kills (%d while the log was written)", len(lines), w.Rotated, kills, killedWriting)

	want := logMetrics(caughtUp(t, reference.base, live, len(lines), truth))
	got := logMetrics(caughtUp(t, "http://"+addr, live, len(lines), truth))
	if got != want {
		t.Errorf("after %d kills, the metrics differ from those of the exporter that ran throughout:\n%s", kills, lineDiff(want, got))
	}
	exportertest.RequireTruth(t, got, truth)
	if !strings.Contains(logs.String(), "Resuming from the state file") {
		t.Error("the killed exporter never resumed from its state file")
	}
}

// lineDiff lists the lines only one of two expositions has.
func lineDiff(want, got string) string {
	inWant := make(map[string]bool)
	for _, l := range strings.Split(want, "\n") {
		inWant[l] = true
	}
	inGot := make(map[string]bool)
	var b strings.Builder
	for _, l := range strings.Split(got, "\n") {
		inGot[l] = true
		if !inWant[l] {
			fmt.Fprintf(&b, "+ %s\n", l)
		}
	}
	for _, l := range strings.Split(want, "\n") {
		if !inGot[l] {
			fmt.Fprintf(&b, "- %s\n", l)
		}
	}
	return b.String()
}

// TestStateKubernetesKill9 follows an operator pod through the Kubernetes
// API (the fake API server of package kubetest, real client-go), kills the
// exporter with SIGKILL a few times while the log grows, and requires the
// generator's truth at the end: the container log is resumed at the saved
// timestamp, not read again from its start.
func TestStateKubernetesKill9(t *testing.T) {
	dir := t.TempDir()
	stateFile := filepath.Join(dir, "exporter.state")
	cfg := exportertest.GenConfig(loggen.Raw, 24)
	texts, truth := exportertest.GeneratedLines(t, cfg)
	stamp := time.Date(2026, 8, 17, 8, 0, 0, 0, time.UTC)
	lines := make([]kubetest.Line, len(texts))
	for i, text := range texts {
		// Four lines to a millisecond: resuming must skip within a run of
		// equal timestamps.
		lines[i] = kubetest.Line{Time: stamp.Add(time.Duration(i/4) * time.Millisecond), Text: text}
	}
	kube := kubetest.Start(t, kubetest.Config{})
	pod := kube.AddPod("mirrord-operator-0", kubetest.PodOptions{})
	args := []string{"--kubernetes", "--kubernetes.kubeconfig=" + kube.Kubeconfig(), "--state.file=" + stateFile, "--state.save-interval=20ms", "--session.max-age=0"}

	const parts = 5
	var p *exporterProcess
	for k := range parts {
		kube.Append(pod, lines[k*len(lines)/parts:(k+1)*len(lines)/parts]...)
		p = startExporter(t, args...)
		time.Sleep(time.Duration(50+k*40) * time.Millisecond)
		if k < parts-1 {
			if err := p.cmd.Process.Kill(); err != nil {
				t.Fatal(err)
			}
			p.cmd.Wait()
		}
	}
	body := caughtUp(t, p.base, "kubernetes", len(lines), truth)
	exportertest.RequireTruth(t, body, truth)
	if got := exportertest.Sample(t, body, "mirrord_exporter_state_restored"); got != 1 {
		t.Errorf("mirrord_exporter_state_restored = %v, want 1", got)
	}
	resumed := 0
	for _, r := range kube.LogRequests("mirrord-operator-0") {
		if r.SinceTime != "" {
			resumed++
		}
	}
	if resumed == 0 {
		t.Error("no log request resumed at a saved timestamp")
	}
	p.stop(t)
}
