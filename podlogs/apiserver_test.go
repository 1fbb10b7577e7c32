package podlogs

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
)

// fakeAPI serves what the follower uses of the Kubernetes API server, and of
// the kubelet behind pods/log, over real HTTP: pod list and watch (chunked
// JSON events, 410 Gone for an expired resource version) and followed log
// streams (chunked, flushed as lines are written, sinceTime honoured per
// line at second precision, ended once the container stopped).
type fakeAPI struct {
	t         *testing.T
	srv       *httptest.Server
	namespace string
	container string

	mu      sync.Mutex
	changed chan struct{} // closed and replaced on every change
	rv      int
	// Watch events up to compacted are gone: older versions get 410.
	compacted  int
	events     []fakeEvent
	pods       map[string]*fakePod
	kill       chan struct{} // closed to end every open watch
	killError  bool          // ... with an ERROR event saying 410 first
	forbidList bool
	listCalls  int
	logCalls   []logCall
	watches    int // open now
}

type fakeEvent struct {
	rv     int
	typ    string
	labels map[string]string
	obj    json.RawMessage
}

type logCall struct {
	pod       string
	sinceTime string
	previous  bool
}

type fakePod struct {
	name   string
	uid    types.UID
	labels map[string]string
	logs   []*fakeLog // container instances; the last is current
	zone   *time.Location
	// published is what list and watch show: the kubelet may be ahead.
	published  *corev1.Pod
	deleted    bool
	forbidLogs int   // log requests still to refuse with 403
	cuts       []cut // how the next log streams end early, in order
	// publishOnLog publishes the status at the next request for the
	// current log: the kubelet switched logs before the status said so.
	publishOnLog bool
	// gate, while set, holds log requests until it is closed.
	gate chan struct{}
}

type fakeLog struct {
	id         string
	lines      []fakeLine
	terminated bool
	started    time.Time
}

type fakeLine struct {
	ts   time.Time
	text string
}

// cut ends a log stream before it writes line at (an index in the log).
type cut struct {
	at      int
	clean   bool // end the response properly, as the stream timeout does
	partial bool // break the connection in the middle of that line
}

func newFakeAPI(t *testing.T) *fakeAPI {
	a := &fakeAPI{
		t: t, namespace: "mirrord", container: DefaultContainer,
		changed: make(chan struct{}), kill: make(chan struct{}),
		pods: make(map[string]*fakePod),
	}
	a.srv = httptest.NewServer(http.HandlerFunc(a.serveHTTP))
	t.Cleanup(a.srv.Close)
	return a
}

// restConfig points a client at the server, without client-side throttling.
func (a *fakeAPI) restConfig() *rest.Config {
	return &rest.Config{Host: a.srv.URL, QPS: -1}
}

// bumpLocked wakes every open stream.
func (a *fakeAPI) bumpLocked() {
	close(a.changed)
	a.changed = make(chan struct{})
}

func (a *fakeAPI) podObject(p *fakePod) *corev1.Pod {
	cur := p.logs[len(p.logs)-1]
	cs := corev1.ContainerStatus{
		Name: a.container, ContainerID: cur.id, RestartCount: int32(len(p.logs) - 1),
	}
	if cur.terminated {
		cs.State.Terminated = &corev1.ContainerStateTerminated{ContainerID: cur.id, ExitCode: 1}
	} else {
		cs.State.Running = &corev1.ContainerStateRunning{StartedAt: metav1.NewTime(cur.started)}
		cs.Ready = true
	}
	if len(p.logs) > 1 {
		prev := p.logs[len(p.logs)-2]
		cs.LastTerminationState.Terminated = &corev1.ContainerStateTerminated{ContainerID: prev.id, ExitCode: 1}
	}
	sidecar := corev1.ContainerStatus{
		Name: "kafka-sidecar", ContainerID: "containerd://" + p.name + "-sidecar", Ready: true,
		State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}},
	}
	return &corev1.Pod{
		TypeMeta: metav1.TypeMeta{Kind: "Pod", APIVersion: "v1"},
		ObjectMeta: metav1.ObjectMeta{
			Name: p.name, Namespace: a.namespace, UID: p.uid, Labels: p.labels,
			ResourceVersion: strconv.Itoa(a.rv),
		},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "kafka-sidecar"}, {Name: a.container}}},
		Status: corev1.PodStatus{
			Phase:             corev1.PodRunning,
			ContainerStatuses: []corev1.ContainerStatus{sidecar, cs},
		},
	}
}

// publishLocked makes the pod's current state visible to list and watch.
func (a *fakeAPI) publishLocked(p *fakePod, typ string, mutate func(*corev1.Pod)) {
	a.rv++
	obj := a.podObject(p)
	if mutate != nil {
		mutate(obj)
	}
	p.published = obj
	raw, err := json.Marshal(obj)
	if err != nil {
		a.t.Errorf("marshal pod: %v", err)
	}
	a.events = append(a.events, fakeEvent{rv: a.rv, typ: typ, labels: p.labels, obj: raw})
	a.bumpLocked()
}

// addPod creates a running pod of the operator.
func (a *fakeAPI) addPod(name string, zone *time.Location) *fakePod {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.addPodLocked(name, zone)
}

func (a *fakeAPI) addPodLocked(name string, zone *time.Location) *fakePod {
	if zone == nil {
		zone = time.UTC
	}
	p := &fakePod{
		name: name, uid: types.UID("uid-" + name), labels: map[string]string{"app": "mirrord-operator"}, zone: zone,
		logs: []*fakeLog{{id: "containerd://" + name + "-0", started: time.Now()}},
	}
	a.pods[name] = p
	a.publishLocked(p, "ADDED", nil)
	return p
}

// write appends lines to the pod's current log.
func (a *fakeAPI) write(p *fakePod, lines []fakeLine) {
	a.mu.Lock()
	defer a.mu.Unlock()
	cur := p.logs[len(p.logs)-1]
	cur.lines = append(cur.lines, lines...)
	a.bumpLocked()
}

// restart stops the current container instance and starts the next one,
// with lines already written to it. Without publish, the status is
// published only at the next request for the current log.
func (a *fakeAPI) restart(p *fakePod, lines []fakeLine, publish bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	p.logs[len(p.logs)-1].terminated = true
	p.logs = append(p.logs, &fakeLog{
		id: fmt.Sprintf("containerd://%s-%d", p.name, len(p.logs)), started: time.Now(), lines: lines,
	})
	if publish {
		a.publishLocked(p, "MODIFIED", nil)
	} else {
		p.publishOnLog = true
		a.bumpLocked()
	}
}

// deletePodLocked stops the pod's container (ending its log) and removes
// it, as a graceful deletion does.
func (a *fakeAPI) deletePodLocked(p *fakePod) {
	p.logs[len(p.logs)-1].terminated = true
	now := metav1.Now()
	a.publishLocked(p, "MODIFIED", func(o *corev1.Pod) { o.DeletionTimestamp = &now })
	p.deleted = true
	a.publishLocked(p, "DELETED", func(o *corev1.Pod) { o.DeletionTimestamp = &now })
}

func (a *fakeAPI) deletePod(p *fakePod) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.deletePodLocked(p)
}

// expireWatches applies change, forgets the watch history through it and
// ends the open watches: with an ERROR event, or by closing them (the
// follower then learns of the expiry when it watches again).
func (a *fakeAPI) expireWatches(errorEvent bool, change func()) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if change != nil {
		change()
	}
	a.compacted = a.rv
	a.killError = errorEvent
	close(a.kill)
	a.kill = make(chan struct{})
}

// watching reports whether a watch is open.
func (a *fakeAPI) watching() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.watches > 0
}

// openGate lets the held log requests of the pod through.
func (a *fakeAPI) openGate(p *fakePod) {
	a.mu.Lock()
	defer a.mu.Unlock()
	close(p.gate)
	p.gate = nil
}

func (a *fakeAPI) logCallsOf(pod string) []logCall {
	a.mu.Lock()
	defer a.mu.Unlock()
	var calls []logCall
	for _, c := range a.logCalls {
		if c.pod == pod {
			calls = append(calls, c)
		}
	}
	return calls
}

func (a *fakeAPI) serveHTTP(w http.ResponseWriter, r *http.Request) {
	prefix := "/api/v1/namespaces/" + a.namespace + "/pods"
	if r.Method != http.MethodGet || !strings.HasPrefix(r.URL.Path, prefix) {
		writeStatus(w, http.StatusNotFound, metav1.StatusReasonNotFound, "no such path "+r.URL.Path)
		return
	}
	q := r.URL.Query()
	rest := strings.TrimPrefix(r.URL.Path, prefix)
	switch {
	case rest == "" && (q.Get("watch") == "true" || q.Get("watch") == "1"):
		a.serveWatch(w, r)
	case rest == "":
		a.serveList(w, r)
	case strings.HasSuffix(rest, "/log"):
		a.serveLog(w, r, strings.TrimSuffix(strings.TrimPrefix(rest, "/"), "/log"))
	default:
		writeStatus(w, http.StatusNotFound, metav1.StatusReasonNotFound, "no such path "+r.URL.Path)
	}
}

func writeStatus(w http.ResponseWriter, code int, reason metav1.StatusReason, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(&metav1.Status{
		TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"},
		Status:   metav1.StatusFailure, Message: msg, Reason: reason, Code: int32(code),
	})
}

func (a *fakeAPI) selector(r *http.Request) (labels.Selector, bool) {
	sel, err := labels.Parse(r.URL.Query().Get("labelSelector"))
	if err != nil {
		a.t.Errorf("bad label selector: %v", err)
		return nil, false
	}
	return sel, true
}

func (a *fakeAPI) serveList(w http.ResponseWriter, r *http.Request) {
	sel, ok := a.selector(r)
	if !ok {
		writeStatus(w, http.StatusBadRequest, metav1.StatusReasonBadRequest, "bad selector")
		return
	}
	a.mu.Lock()
	a.listCalls++
	if a.forbidList {
		a.mu.Unlock()
		writeStatus(w, http.StatusForbidden, metav1.StatusReasonForbidden,
			`pods is forbidden: User "system:serviceaccount:mirrord:exporter" cannot list resource "pods" in API group "" in the namespace "mirrord"`)
		return
	}
	list := corev1.PodList{
		TypeMeta: metav1.TypeMeta{Kind: "PodList", APIVersion: "v1"},
		ListMeta: metav1.ListMeta{ResourceVersion: strconv.Itoa(a.rv)},
	}
	for _, p := range a.pods {
		if !p.deleted && sel.Matches(labels.Set(p.labels)) {
			list.Items = append(list.Items, *p.published)
		}
	}
	a.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(&list)
}

func (a *fakeAPI) serveWatch(w http.ResponseWriter, r *http.Request) {
	sel, ok := a.selector(r)
	if !ok {
		writeStatus(w, http.StatusBadRequest, metav1.StatusReasonBadRequest, "bad selector")
		return
	}
	from, err := strconv.Atoi(r.URL.Query().Get("resourceVersion"))
	if err != nil {
		writeStatus(w, http.StatusBadRequest, metav1.StatusReasonBadRequest, "bad resourceVersion")
		return
	}
	a.mu.Lock()
	kill := a.kill
	if from < a.compacted {
		a.mu.Unlock()
		writeStatus(w, http.StatusGone, metav1.StatusReasonExpired, fmt.Sprintf("too old resource version: %d (%d)", from, a.compacted))
		return
	}
	a.watches++
	a.mu.Unlock()
	defer func() {
		a.mu.Lock()
		a.watches--
		a.mu.Unlock()
	}()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	flusher := w.(http.Flusher)
	flusher.Flush()
	enc := json.NewEncoder(w)
	sent := 0
	for {
		a.mu.Lock()
		events, changed, killed, killError := a.events, a.changed, false, a.killError
		select {
		case <-kill:
			killed = true
		default:
		}
		a.mu.Unlock()
		if killed {
			// Checked under the lock with the events: the changes made
			// with the expiry are never sent.
			if killError {
				enc.Encode(map[string]any{"type": "ERROR", "object": &metav1.Status{
					TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"},
					Status:   metav1.StatusFailure, Reason: metav1.StatusReasonExpired, Code: http.StatusGone,
					Message: "too old resource version",
				}})
				flusher.Flush()
			}
			return
		}
		for ; sent < len(events); sent++ {
			ev := events[sent]
			if ev.rv <= from || !sel.Matches(labels.Set(ev.labels)) {
				continue
			}
			enc.Encode(map[string]any{"type": ev.typ, "object": ev.obj})
		}
		flusher.Flush()
		select {
		case <-changed:
		case <-kill:
		case <-r.Context().Done():
			return
		}
	}
}

func (a *fakeAPI) serveLog(w http.ResponseWriter, r *http.Request, name string) {
	q := r.URL.Query()
	a.mu.Lock()
	call := logCall{pod: name, sinceTime: q.Get("sinceTime"), previous: q.Get("previous") == "true"}
	a.logCalls = append(a.logCalls, call)
	p := a.pods[name]
	if p != nil && p.gate != nil {
		gate := p.gate
		a.mu.Unlock()
		select {
		case <-gate:
		case <-r.Context().Done():
			return
		}
		a.mu.Lock()
	}
	var refuse func()
	var l *fakeLog
	var c *cut
	switch {
	case p == nil || p.deleted:
		refuse = func() {
			writeStatus(w, http.StatusNotFound, metav1.StatusReasonNotFound, fmt.Sprintf("pods %q not found", name))
		}
	case q.Get("container") != a.container:
		refuse = func() {
			writeStatus(w, http.StatusBadRequest, metav1.StatusReasonBadRequest, "container "+q.Get("container")+" is not valid for pod "+name)
		}
	case p.forbidLogs > 0:
		p.forbidLogs--
		refuse = func() {
			writeStatus(w, http.StatusForbidden, metav1.StatusReasonForbidden,
				`pods "`+name+`" is forbidden: User "system:serviceaccount:mirrord:exporter" cannot get resource "pods/log" in API group "" in the namespace "mirrord"`)
		}
	case call.previous && len(p.logs) < 2:
		refuse = func() {
			writeStatus(w, http.StatusBadRequest, metav1.StatusReasonBadRequest, "previous terminated container "+a.container+" in pod "+name+" not found")
		}
	case call.previous:
		l = p.logs[len(p.logs)-2]
	default:
		l = p.logs[len(p.logs)-1]
		if p.publishOnLog {
			p.publishOnLog = false
			a.publishLocked(p, "MODIFIED", nil)
		}
		if len(p.cuts) > 0 {
			c = &p.cuts[0]
			p.cuts = p.cuts[1:]
		}
	}
	var zone *time.Location
	if p != nil {
		zone = p.zone
	}
	a.mu.Unlock()
	if refuse != nil {
		refuse()
		return
	}

	var since time.Time
	if call.sinceTime != "" {
		var err error
		if since, err = time.Parse(time.RFC3339, call.sinceTime); err != nil {
			writeStatus(w, http.StatusBadRequest, metav1.StatusReasonBadRequest, "bad sinceTime")
			return
		}
	}
	follow := q.Get("follow") == "true"
	stamps := q.Get("timestamps") == "true"
	w.Header().Set("Content-Type", "text/plain")
	w.WriteHeader(http.StatusOK)
	flusher := w.(http.Flusher)
	flusher.Flush()
	var buf []byte
	next := 0
	for {
		a.mu.Lock()
		lines, done, changed := l.lines, l.terminated, a.changed
		a.mu.Unlock()
		for ; next < len(lines); next++ {
			line := lines[next]
			// The kubelet's filter: per line, at the precision given.
			if !since.IsZero() && line.ts.Before(since) {
				continue
			}
			buf = buf[:0]
			if stamps {
				buf = line.ts.In(zone).AppendFormat(buf, time.RFC3339Nano)
				buf = append(buf, ' ')
			}
			buf = append(buf, line.text...)
			if c != nil && next == c.at {
				if c.clean {
					flusher.Flush()
					return
				}
				if c.partial {
					w.Write(buf[:len(buf)/2])
				}
				flusher.Flush()
				panic(http.ErrAbortHandler) // breaks the connection mid-response
			}
			buf = append(buf, '\n')
			w.Write(buf)
		}
		flusher.Flush()
		if done || !follow {
			return
		}
		select {
		case <-changed:
		case <-r.Context().Done():
			return
		}
	}
}
