package kube

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/mirrord-exporter/mirrord-exporter/internal/kubetest"
)

// logStart is when the fake runtime stamps the first line, a little before
// a second boundary so that resends cross one.
var logStart = time.Date(2026, 8, 17, 17, 59, 59, 900_000_000, time.UTC)

func sinkName(pod string) string { return "mirrord/" + pod + "/" + DefaultContainer }

func isReady(f *Follower) bool {
	select {
	case <-f.Ready():
		return true
	default:
		return false
	}
}

// checkIdle checks the gauges once every followed pod is gone.
func checkIdle(t *testing.T, r *running) {
	t.Helper()
	waitFor(t, "pods_followed to reach 0", func() bool { return testutil.ToFloat64(r.f.metrics.podsFollow) == 0 })
	if v := testutil.ToFloat64(r.f.metrics.streamsOpen); v != 0 {
		t.Errorf("streams_open = %v, want 0", v)
	}
}

func reconnects(r *running, reason string) float64 {
	return testutil.ToFloat64(r.f.metrics.reconnects.WithLabelValues(reason))
}

func TestTwoPodsAtOnce(t *testing.T) {
	api := newFakeAPI(t)
	linesA, truthA := generate(t, 1, 80)
	linesB, truthB := generate(t, 2, 80)
	pipeA, pipeB := newPipe(t), newPipe(t)
	nameA, nameB := sinkName("mirrord-operator-a"), sinkName("mirrord-operator-b")
	rec := &recorder{t: t, route: func(name string) *pipe {
		if name == nameA {
			return pipeA
		}
		return pipeB
	}}
	a := api.AddPod("mirrord-operator-a", kubetest.PodOptions{})
	// The other node's runtime writes timestamps with a zone offset.
	b := api.AddPod("mirrord-operator-b", kubetest.PodOptions{Zone: time.FixedZone("CEST", 2*60*60)})
	r := startFollower(t, Config{REST: restConfig(api), NewSink: rec.newSink})
	waitFor(t, "ready", func() bool { return isReady(r.f) })

	stampA, stampB := newStamper(logStart), newStamper(logStart)
	both := func(fromA, toA, fromB, toB int) {
		var wg sync.WaitGroup
		wg.Add(2)
		go func() { defer wg.Done(); feed(api, a, stampA.stamp(linesA[fromA:toA])) }()
		go func() { defer wg.Done(); feed(api, b, stampB.stamp(linesB[fromB:toB])) }()
		wg.Wait()
	}
	both(0, len(linesA)/2, 0, len(linesB)/2)
	// The watch expires meanwhile (an ERROR event saying 410): the follower
	// lists again, which changes nothing.
	waitFor(t, "a watch", api.Watching)
	api.ExpireWatches(true)
	both(len(linesA)/2, len(linesA), len(linesB)/2, len(linesB))
	// A deleted pod's log is gone once read to its end: delete only after
	// the follower connected (here, after it read everything).
	waitFor(t, "every line", func() bool { return rec.lines(nameA) >= len(linesA) && rec.lines(nameB) >= len(linesB) })
	api.DeletePod(a)
	api.DeletePod(b)
	waitFor(t, "both logs read and closed", func() bool { return rec.closed(nameA, 1) && rec.closed(nameB, 1) })
	checkIdle(t, r)
	if n := reconnects(r, reasonWatchExpired); n < 1 {
		t.Errorf("reconnects{watch_expired} = %v, want >= 1", n)
	}
	r.stop()

	if got := rec.lines(nameA); got != len(linesA) {
		t.Errorf("pod a: %d lines delivered, want %d", got, len(linesA))
	}
	if got := rec.lines(nameB); got != len(linesB) {
		t.Errorf("pod b: %d lines delivered, want %d", got, len(linesB))
	}
	pipeA.check(t, "pod a", truthA)
	pipeB.check(t, "pod b", truthB)
}

func TestPodReplacedMidStream(t *testing.T) {
	api := newFakeAPI(t)
	lines, truth := generate(t, 3, 120)
	split := len(lines) * 2 / 3
	p := newPipe(t)
	rec := &recorder{t: t, route: func(string) *pipe { return p }}
	oldName, newName := sinkName("mirrord-operator-7d9f-old"), sinkName("mirrord-operator-7d9f-new")
	old := api.AddPod("mirrord-operator-7d9f-old", kubetest.PodOptions{})
	r := startFollower(t, Config{REST: restConfig(api), NewSink: rec.newSink})

	st := newStamper(logStart)
	feed(api, old, st.stamp(lines[:split/2]))
	waitFor(t, "the old pod's log to be read", func() bool { return rec.lines(oldName) > 0 })
	// The old operator writes its last lines and the rollout replaces it,
	// while the follower is behind. The watch expires with the change, so
	// the follower learns of both pods from a list.
	api.Append(old, st.stamp(lines[split/2:split])...)
	replacement := api.ReplacePod(old, "mirrord-operator-7d9f-new", kubetest.PodOptions{})
	waitFor(t, "the old pod's log drained and closed", func() bool { return rec.closed(oldName, 1) })
	if got := rec.lines(oldName); got != split {
		t.Errorf("old pod: %d lines delivered, want %d", got, split)
	}
	// The new operator's lines come after the old one's last, so that the
	// collector gets the events in the generator's order.
	feed(api, replacement, st.stamp(lines[split:]))
	waitFor(t, "the new pod's log to be read", func() bool { return rec.lines(newName) == len(lines)-split })
	api.DeletePod(replacement)
	waitFor(t, "the new pod's log closed", func() bool { return rec.closed(newName, 1) })
	checkIdle(t, r)
	if n := reconnects(r, reasonWatchExpired); n < 1 {
		t.Errorf("reconnects{watch_expired} = %v, want >= 1", n)
	}
	r.stop()
	if got := rec.lines(newName); got != len(lines)-split {
		t.Errorf("new pod: %d lines delivered, want %d", got, len(lines)-split)
	}
	p.check(t, "replaced pod", truth)
}

// cutInGroup moves at forward to a line stamped like the line before it,
// so that lines of one timestamp are on both sides of the cut.
func cutInGroup(t *testing.T, lines []kubetest.Line, at int) int {
	t.Helper()
	for ; at < len(lines); at++ {
		if lines[at].Time.Equal(lines[at-1].Time) && lines[at+1].Time.Equal(lines[at].Time) {
			return at
		}
	}
	t.Fatal("no timestamp group to cut in")
	return 0
}

func TestStreamCutAndResumed(t *testing.T) {
	api := newFakeAPI(t)
	lines, truth := generate(t, 4, 150)
	stamped := newStamper(logStart).stamp(lines)
	n := len(stamped)
	cuts := []kubetest.Cut{
		{At: cutInGroup(t, stamped, n/4), Partial: true}, // connection broken mid-line
		{At: cutInGroup(t, stamped, n/2), Clean: true},   // stream timeout
		{At: cutInGroup(t, stamped, n*3/4)},              // connection broken between lines
	}
	p := newPipe(t)
	rec := &recorder{t: t, route: func(string) *pipe { return p }}
	name := sinkName("mirrord-operator-0")
	pod := api.AddPod("mirrord-operator-0", kubetest.PodOptions{Cuts: cuts})
	r := startFollower(t, Config{REST: restConfig(api), NewSink: rec.newSink})

	feed(api, pod, stamped)
	waitFor(t, "every line", func() bool { return rec.lines(name) >= n })
	api.DeletePod(pod)
	waitFor(t, "the log closed", func() bool { return rec.closed(name, 1) })
	checkIdle(t, r)
	r.stop()

	if got := rec.lines(name); got != n {
		t.Errorf("%d lines delivered, want %d", got, n)
	}
	calls := api.LogRequests("mirrord-operator-0")
	if len(calls) < 4 {
		t.Fatalf("%d log requests, want at least 4: %+v", len(calls), calls)
	}
	if calls[0].SinceTime != "" {
		t.Errorf("first request has sinceTime %s, want none", calls[0].SinceTime)
	}
	for i, c := range cuts {
		// Resumed at the second of the last line read before the cut.
		want := stamped[c.At-1].Time.Truncate(time.Second).Format(time.RFC3339)
		if got := calls[i+1].SinceTime; got != want {
			t.Errorf("request %d after cut at line %d: sinceTime %q, want %q", i+2, c.At, got, want)
		}
	}
	if v := reconnects(r, reasonError); v < 2 {
		t.Errorf("reconnects{error} = %v, want >= 2", v)
	}
	if v := reconnects(r, reasonEOF); v < 1 {
		t.Errorf("reconnects{eof} = %v, want >= 1", v)
	}
	p.check(t, "cut streams", truth)
}

func TestContainerRestart(t *testing.T) {
	api := newFakeAPI(t)
	lines, truth := generate(t, 5, 150)
	first, second := len(lines)/3, len(lines)*2/3
	p := newPipe(t)
	rec := &recorder{t: t, route: func(string) *pipe { return p }}
	name := sinkName("mirrord-operator-0")
	pod := api.AddPod("mirrord-operator-0", kubetest.PodOptions{})
	r := startFollower(t, Config{REST: restConfig(api), NewSink: rec.newSink})

	st := newStamper(logStart)
	feed(api, pod, st.stamp(lines[:first]))
	waitFor(t, "the first log to be read", func() bool { return rec.lines(name) == first })
	// The container restarts; the status says so at once.
	api.Restart(pod, nil, true)
	feed(api, pod, st.stamp(lines[first:second]))
	waitFor(t, "the second log to be read", func() bool { return rec.lines(name) == second })
	// It restarts again, and the kubelet serves the new log before the
	// status says so: resuming the old log must not read the new one.
	api.Restart(pod, st.stamp(lines[second:]), false)
	waitFor(t, "every line", func() bool { return rec.lines(name) >= len(lines) })
	api.DeletePod(pod)
	waitFor(t, "three logs read and closed", func() bool { return rec.closed(name, 3) })
	checkIdle(t, r)
	r.stop()

	for i, want := range []int{first, second - first, len(lines) - second} {
		if got := rec.of(name)[i].lines.Load(); int(got) != want {
			t.Errorf("container instance %d: %d lines delivered, want %d", i, got, want)
		}
	}
	if v := reconnects(r, reasonMismatch); v < 1 {
		t.Errorf("reconnects{mismatch} = %v, want >= 1", v)
	}
	var previous int
	for _, c := range api.LogRequests("mirrord-operator-0") {
		if c.Previous {
			previous++
		}
	}
	if previous == 0 {
		t.Error("the restarted container's old log was not resumed with previous=true")
	}
	p.check(t, "restarted container", truth)
}

func TestRestartBeforeFirstRead(t *testing.T) {
	api := newFakeAPI(t)
	lines, truth := generate(t, 7, 100)
	first, second := len(lines)/4, len(lines)/2
	p := newPipe(t)
	rec := &recorder{t: t, route: func(string) *pipe { return p }}
	name := sinkName("mirrord-operator-0")
	pod := api.AddPod("mirrord-operator-0", kubetest.PodOptions{Gate: true})
	r := startFollower(t, Config{REST: restConfig(api), NewSink: rec.newSink})

	// The container crashes before writing anything and is restarted
	// while the follower's first request is on its way: the kubelet
	// serves the new container's log to the old instance's follower.
	waitFor(t, "the first log request", func() bool { return len(api.LogRequests("mirrord-operator-0")) > 0 })
	st := newStamper(logStart)
	api.Restart(pod, st.stamp(lines[:first]), true)
	api.OpenGate(pod)
	feed(api, pod, st.stamp(lines[first:second]))
	waitFor(t, "the second log to be read", func() bool { return rec.lines(name) == second })
	api.Restart(pod, nil, true)
	feed(api, pod, st.stamp(lines[second:]))
	waitFor(t, "every line", func() bool { return rec.lines(name) >= len(lines) })
	api.DeletePod(pod)
	waitFor(t, "three logs closed", func() bool { return rec.closed(name, 3) })
	checkIdle(t, r)
	r.stop()

	if got := rec.lines(name); got != len(lines) {
		t.Errorf("%d lines delivered, want %d", got, len(lines))
	}
	// The first container wrote nothing: what its Sink got is the second's.
	if got := rec.of(name)[0].lines.Load(); got == 0 {
		t.Error("the first container's follower was not served the second's log: the test did not test")
	}
	p.check(t, "restart before the first read", truth)
}

func TestLogsForbidden(t *testing.T) {
	api := newFakeAPI(t)
	lines, truth := generate(t, 6, 60)
	p := newPipe(t)
	rec := &recorder{t: t, route: func(string) *pipe { return p }}
	name := sinkName("mirrord-operator-0")
	pod := api.AddPod("mirrord-operator-0", kubetest.PodOptions{ForbidLogs: 3})
	r := startFollower(t, Config{Kubeconfig: api.Kubeconfig(), NewSink: rec.newSink})
	waitFor(t, "ready", func() bool { return isReady(r.f) })

	feed(api, pod, newStamper(logStart).stamp(lines))
	waitFor(t, "every line", func() bool { return rec.lines(name) >= len(lines) })
	api.DeletePod(pod)
	waitFor(t, "the log closed", func() bool { return rec.closed(name, 1) })
	checkIdle(t, r)
	r.stop()

	if n := r.logs.count("needs get on pods/log in namespace mirrord"); n != 1 {
		t.Errorf("%d log lines name the missing permission, want 1:\n%s", n, r.logs)
	}
	if v := reconnects(r, reasonForbidden); v != 3 {
		t.Errorf("reconnects{forbidden} = %v, want 3", v)
	}
	if v := testutil.ToFloat64(r.f.metrics.apiErrors.WithLabelValues(opLogs, "403")); v != 3 {
		t.Errorf("api_errors{op=logs,code=403} = %v, want 3", v)
	}
	if got := rec.lines(name); got != len(lines) {
		t.Errorf("%d lines delivered, want %d", got, len(lines))
	}
	p.check(t, "forbidden at first", truth)
}

func TestListForbidden(t *testing.T) {
	api := newFakeAPI(t)
	api.ForbidList(true)
	// Not in a cluster: the kubeconfig comes from $KUBECONFIG.
	t.Setenv("KUBERNETES_SERVICE_HOST", "")
	t.Setenv("KUBECONFIG", api.Kubeconfig())
	rec := &recorder{t: t, route: func(string) *pipe { return nil }}
	r := startFollower(t, Config{NewSink: rec.newSink})

	forbidden := func() float64 { return testutil.ToFloat64(r.f.metrics.apiErrors.WithLabelValues(opList, "403")) }
	waitFor(t, "three list attempts", func() bool { return forbidden() >= 3 })
	if isReady(r.f) {
		t.Fatal("ready although listing pods is forbidden")
	}
	if n := r.logs.count("needs list on pods in namespace mirrord (the Helm chart's rbac.create"); n != 1 {
		t.Errorf("%d log lines name the missing permission and the chart value that grants it, want 1:\n%s", n, r.logs)
	}
	// Once the permission is granted, the list works and readiness follows.
	p := newPipe(t)
	rec.route = func(string) *pipe { return p }
	api.AddPod("mirrord-operator-0", kubetest.PodOptions{})
	api.ForbidList(false)
	waitFor(t, "ready", func() bool { return isReady(r.f) })
	if n := r.logs.count("permission granted"); n != 1 {
		t.Errorf("%d log lines say the permission was granted, want 1", n)
	}
	r.stop()
	if strings.Contains(r.logs.String(), "level=error") && r.logs.count("level=error") != 1 {
		t.Errorf("unexpected errors logged:\n%s", r.logs)
	}
}

func TestNoPodMatches(t *testing.T) {
	api := newFakeAPI(t)
	p := newPipe(t)
	rec := &recorder{t: t, route: func(string) *pipe { return p }}
	r := startFollower(t, Config{Kubeconfig: api.Kubeconfig(), NewSink: rec.newSink})
	waitFor(t, "ready", func() bool { return isReady(r.f) })
	api.AddPod("mirrord-operator-0", kubetest.PodOptions{})
	waitFor(t, "the pod followed", func() bool { return testutil.ToFloat64(r.f.metrics.podsFollow) == 1 })
	r.stop()

	const want = "No pod in namespace mirrord matches label selector app=mirrord-operator, so no operator log is read; set the Helm chart's operator.namespace and operator.labelSelector"
	if n := r.logs.count(want); n != 1 || r.logs.count("level=error") != 1 {
		t.Errorf("want one error line saying no pod matches and which chart values to set:\n%s", r.logs)
	}
	if n := r.logs.count("A pod matches the label selector now"); n != 1 {
		t.Errorf("%d log lines say a pod matches now, want 1:\n%s", n, r.logs)
	}
}
