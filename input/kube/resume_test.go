package kube

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/mirrord-exporter/mirrord-exporter/input"
	"github.com/mirrord-exporter/mirrord-exporter/internal/kubetest"
)

// textSinks records the text of every line delivered, per log, across the
// Sinks made for it.
type textSinks struct {
	mu    sync.Mutex
	lines map[string][]string
}

func (r *textSinks) newSink(_, name string) input.Sink { return &textSink{r: r, name: name} }

func (r *textSinks) of(name string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.lines[name])
}

type textSink struct {
	r    *textSinks
	name string
}

func (s *textSink) Line(l []byte) {
	s.r.mu.Lock()
	defer s.r.mu.Unlock()
	if s.r.lines == nil {
		s.r.lines = make(map[string][]string)
	}
	s.r.lines[s.name] = append(s.r.lines[s.name], string(l))
}
func (s *textSink) LineTooLong(int) { panic("no line is too long here") }
func (s *textSink) Close()          {}
func (s *textSink) Flush()          {}

func texts(n int, prefix string) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s line %d", prefix, i)
	}
	return out
}

// readAndSave follows the pod until want lines were delivered, then saves
// the positions as the state saver does and stops.
func readAndSave(t *testing.T, api *kubetest.Server, name string, want int) []Position {
	t.Helper()
	rec := &textSinks{}
	gate := &input.Gate{}
	r := startFollower(t, Config{REST: restConfig(api), NewSink: rec.newSink, Gate: gate})
	waitFor(t, "the lines before the save", func() bool { return len(rec.of(name)) >= want })
	gate.Close()
	saved := r.f.Positions()
	gate.Open()
	r.stop()
	if got := len(rec.of(name)); got != want {
		t.Fatalf("%d lines before the save, want %d", got, want)
	}
	if len(saved) != 1 {
		t.Fatalf("saved positions %+v, want one", saved)
	}
	return saved
}

// TestResumeFromSavedPosition: a follower started with a saved position
// reads exactly the lines after it, even when the save fell inside a run
// of lines stamped alike.
func TestResumeFromSavedPosition(t *testing.T) {
	api := newFakeAPI(t)
	all := newStamper(logStart).stamp(texts(200, "log"))
	cut := cutInGroup(t, all, 90)
	pod := api.AddPod("mirrord-operator-0", kubetest.PodOptions{})
	name := sinkName("mirrord-operator-0")
	api.Append(pod, all[:cut]...)
	saved := readAndSave(t, api, name, cut)
	if saved[0].Skip == 0 || !saved[0].Last.Equal(all[cut-1].Time) {
		t.Fatalf("saved %+v, want the last line read (%s) and a count of lines at its second", saved[0], all[cut-1].Time)
	}

	api.Append(pod, all[cut:]...)
	rec := &textSinks{}
	startFollower(t, Config{REST: restConfig(api), NewSink: rec.newSink, Gate: &input.Gate{}, Resume: saved})
	waitFor(t, "the rest", func() bool { return len(rec.of(name)) >= len(all)-cut })
	var want []string
	for _, l := range all[cut:] {
		want = append(want, l.Text)
	}
	if got := rec.of(name); !slices.Equal(got, want) {
		t.Errorf("after the restart: %d lines, want the %d after the save\n got %q\nwant %q", len(got), len(want), got[:min(5, len(got))], want[:5])
	}
	calls := api.LogRequests("mirrord-operator-0")
	if last := calls[len(calls)-1]; last.SinceTime != all[cut-1].Time.Truncate(time.Second).Format(time.RFC3339) {
		t.Errorf("resumed with sinceTime %q, want the second of the last line read", last.SinceTime)
	}
}

// TestResumeAfterContainerRestartWhileDown: the container restarted once
// while the exporter was down; the rest of the old log is read with
// previous=true, then the new log from its start.
func TestResumeAfterContainerRestartWhileDown(t *testing.T) {
	api := newFakeAPI(t)
	st := newStamper(logStart)
	old := st.stamp(texts(120, "old"))
	pod := api.AddPod("mirrord-operator-0", kubetest.PodOptions{})
	name := sinkName("mirrord-operator-0")
	api.Append(pod, old[:50]...)
	saved := readAndSave(t, api, name, 50)

	api.Append(pod, old[50:]...)
	fresh := st.stamp(texts(30, "new"))
	api.Restart(pod, fresh, true)

	rec := &textSinks{}
	startFollower(t, Config{REST: restConfig(api), NewSink: rec.newSink, Gate: &input.Gate{}, Resume: saved})
	want := append(texts(120, "old")[50:], texts(30, "new")...)
	waitFor(t, "the rest of the old log and the new one", func() bool { return len(rec.of(name)) >= len(want) })
	if got := rec.of(name); !slices.Equal(got, want) {
		t.Errorf("after the restart: %d lines, want %d\n got %q", len(got), len(want), got)
	}
	var previous bool
	for _, c := range api.LogRequests("mirrord-operator-0") {
		previous = previous || c.Previous
	}
	if !previous {
		t.Error("the old log was not read with previous=true")
	}
}

// TestResumeOfDeletedPod: a pod deleted while the exporter was down is
// logged as lost, and its saved position dropped.
func TestResumeOfDeletedPod(t *testing.T) {
	api := newFakeAPI(t)
	pod := api.AddPod("mirrord-operator-0", kubetest.PodOptions{})
	api.Append(pod, newStamper(logStart).stamp(texts(10, "log"))...)
	saved := readAndSave(t, api, sinkName("mirrord-operator-0"), 10)
	api.DeletePod(pod)

	// Until the pods are listed, a save keeps the saved position: nothing
	// is known yet that would say it is lost.
	api.ForbidList(true)
	gate := &input.Gate{}
	r := startFollower(t, Config{REST: restConfig(api), NewSink: (&textSinks{}).newSink, Gate: gate, Resume: saved})
	waitFor(t, "a refused list", func() bool { return r.logs.count("list on pods") > 0 })
	gate.Close()
	beforeList := r.f.Positions()
	gate.Open()
	if !slices.Equal(beforeList, saved) {
		t.Errorf("positions before the first list: %+v, want the saved %+v", beforeList, saved)
	}

	api.ForbidList(false)
	waitFor(t, "the first pod list", func() bool { return isReady(r.f) })
	if r.logs.count("no longer served") != 1 {
		t.Errorf("the lost log was not reported:\n%s", r.logs)
	}
	gate.Close()
	afterList := r.f.Positions()
	gate.Open()
	if len(afterList) != 0 {
		t.Errorf("positions after the list: %+v, want none", afterList)
	}
}
