// Package kubetest is a fake Kubernetes API server for tests of clients that
// follow pod logs, such as package input/kube and the exporter's binary.
//
// It serves, over real HTTP on 127.0.0.1, what such a client uses of the API
// server and of the kubelet behind pods/log, in one namespace: pod list and
// watch (chunked JSON events, 410 Gone for an expired resource version) and
// followed log streams of one container (chunked, flushed as lines are
// appended, sinceTime honoured per line at second precision, ended once the
// container stopped). Real client-go talks to it, through a rest.Config
// built from URL or through the kubeconfig file Kubeconfig writes.
//
// Faults are scripted per pod: log requests refused with 403 (PodOptions),
// streams cut early (Cut), log requests held (Gate), list refused
// (ForbidList), watches expired (ExpireWatches).
package kubetest

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
)

// Defaults of Config.
const (
	DefaultNamespace = "mirrord"
	DefaultContainer = "mirrord-operator"
)

// DefaultLabels are the labels of a pod added without PodOptions.Labels.
var DefaultLabels = map[string]string{"app": "mirrord-operator"}

// Config is the server's cluster: the one namespace it serves and the
// container of each pod whose log it serves (every pod also has a sidecar,
// whose log is not served).
type Config struct {
	Namespace string // empty means DefaultNamespace
	Container string // empty means DefaultContainer
}

// Server is a running fake API server. Its methods are safe for concurrent
// use; problems in the requests it gets (a bad label selector) fail the test.
type Server struct {
	t         testing.TB
	srv       *httptest.Server
	namespace string
	container string

	mu      sync.Mutex
	changed chan struct{} // closed and replaced on every change
	rv      int
	// Watch events up to compacted are gone: older versions get 410.
	compacted  int
	events     []event
	pods       map[string]*Pod
	kill       chan struct{} // closed to end every open watch
	killError  bool          // ... with an ERROR event saying 410 first
	forbidList bool
	logReqs    []LogRequest
	watches    int // open now
}

type event struct {
	rv     int
	typ    string
	labels map[string]string
	obj    json.RawMessage
}

// LogRequest is a pods/log request the server got.
type LogRequest struct {
	Pod       string
	SinceTime string // the sinceTime parameter as sent, "" without one
	Previous  bool
}

// Line is a log line and the time the container runtime stamped it with.
type Line struct {
	Time time.Time
	Text string
}

// Cut ends a log stream early, before it writes the line at index At of the
// log (counted from the start of the container's log, not of the response).
type Cut struct {
	At int
	// Clean ends the response properly, as the kubelet's stream timeout
	// does; else the connection breaks.
	Clean bool
	// Partial breaks the connection in the middle of the line at At.
	Partial bool
}

// PodOptions are a pod's labels and scripted behaviour.
type PodOptions struct {
	Labels map[string]string // nil means DefaultLabels
	// Zone is the time zone of the log timestamps; nil means UTC.
	Zone *time.Location
	// ForbidLogs is the number of log requests to refuse with 403 first.
	ForbidLogs int
	// Cuts end the next log streams of the current container early, one
	// cut per stream, in order.
	Cuts []Cut
	// Gate holds log requests of the pod until OpenGate.
	Gate bool
}

// Pod is a pod of the fake cluster, running the container whose log is
// served. Change it through the Server's methods.
type Pod struct {
	name   string
	uid    types.UID
	labels map[string]string
	logs   []*containerLog // container instances; the last is current
	zone   *time.Location
	// published is what list and watch show: the kubelet may be ahead.
	published  *corev1.Pod
	deleted    bool
	forbidLogs int
	cuts       []Cut
	// publishOnLog publishes the status at the next request for the
	// current log: the kubelet switched logs before the status said so.
	publishOnLog bool
	gate         chan struct{}
}

// Name is the pod's name.
func (p *Pod) Name() string { return p.name }

type containerLog struct {
	id         string
	lines      []Line
	terminated bool
	started    time.Time
}

// Start starts a server on 127.0.0.1; it is closed when the test ends.
func Start(t testing.TB, cfg Config) *Server {
	t.Helper()
	if cfg.Namespace == "" {
		cfg.Namespace = DefaultNamespace
	}
	if cfg.Container == "" {
		cfg.Container = DefaultContainer
	}
	s := &Server{
		t: t, namespace: cfg.Namespace, container: cfg.Container,
		changed: make(chan struct{}), kill: make(chan struct{}),
		pods: make(map[string]*Pod),
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("kubetest: %v", err)
	}
	s.srv = httptest.NewUnstartedServer(http.HandlerFunc(s.serveHTTP))
	s.srv.Listener.Close()
	s.srv.Listener = l
	s.srv.Start()
	t.Cleanup(s.Close)
	return s
}

// Close stops the server, ending every open stream. It may be called more
// than once.
func (s *Server) Close() {
	s.srv.CloseClientConnections()
	s.srv.Close()
}

// URL is the server's base URL, http://127.0.0.1:port.
func (s *Server) URL() string { return s.srv.URL }

// Kubeconfig writes a kubeconfig file whose current context points at the
// server (with a bearer token, which the server does not check) and gives
// its path, in a directory removed when the test ends.
func (s *Server) Kubeconfig() string {
	s.t.Helper()
	path := filepath.Join(s.t.TempDir(), "kubeconfig")
	cfg := `apiVersion: v1
kind: Config
clusters:
- name: kubetest
  cluster:
    server: ` + s.srv.URL + `
contexts:
- name: kubetest
  context:
    cluster: kubetest
    namespace: ` + s.namespace + `
    user: kubetest
current-context: kubetest
users:
- name: kubetest
  user:
    token: kubetest-token
`
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		s.t.Fatalf("kubetest: %v", err)
	}
	return path
}

// bumpLocked wakes every open stream.
func (s *Server) bumpLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

func (s *Server) podObject(p *Pod) *corev1.Pod {
	cur := p.logs[len(p.logs)-1]
	cs := corev1.ContainerStatus{
		Name: s.container, ContainerID: cur.id, RestartCount: int32(len(p.logs) - 1),
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
			Name: p.name, Namespace: s.namespace, UID: p.uid, Labels: p.labels,
			ResourceVersion: strconv.Itoa(s.rv),
		},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "kafka-sidecar"}, {Name: s.container}}},
		Status: corev1.PodStatus{
			Phase:             corev1.PodRunning,
			ContainerStatuses: []corev1.ContainerStatus{sidecar, cs},
		},
	}
}

// publishLocked makes the pod's current state visible to list and watch.
func (s *Server) publishLocked(p *Pod, typ string, mutate func(*corev1.Pod)) {
	s.rv++
	obj := s.podObject(p)
	if mutate != nil {
		mutate(obj)
	}
	p.published = obj
	raw, err := json.Marshal(obj)
	if err != nil {
		s.t.Errorf("kubetest: marshal pod: %v", err)
	}
	s.events = append(s.events, event{rv: s.rv, typ: typ, labels: p.labels, obj: raw})
	s.bumpLocked()
}

// AddPod creates a running pod, its container's log empty.
func (s *Server) AddPod(name string, o PodOptions) *Pod {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addPodLocked(name, o)
}

func (s *Server) addPodLocked(name string, o PodOptions) *Pod {
	if o.Zone == nil {
		o.Zone = time.UTC
	}
	if o.Labels == nil {
		o.Labels = DefaultLabels
	}
	p := &Pod{
		name: name, uid: types.UID("uid-" + name), labels: o.Labels, zone: o.Zone,
		logs:       []*containerLog{{id: "containerd://" + name + "-0", started: time.Now()}},
		forbidLogs: o.ForbidLogs, cuts: o.Cuts,
	}
	if o.Gate {
		p.gate = make(chan struct{})
	}
	s.pods[name] = p
	s.publishLocked(p, "ADDED", nil)
	return p
}

// Append appends lines to the log of the pod's current container.
func (s *Server) Append(p *Pod, lines ...Line) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cur := p.logs[len(p.logs)-1]
	cur.lines = append(cur.lines, lines...)
	s.bumpLocked()
}

// Restart stops the pod's current container and starts the next one, with
// lines already written to its log. Without publish, the new status is
// published only at the next request for the current log, as when the
// kubelet switched logs before the API server heard of it.
func (s *Server) Restart(p *Pod, lines []Line, publish bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p.logs[len(p.logs)-1].terminated = true
	p.logs = append(p.logs, &containerLog{
		id: fmt.Sprintf("containerd://%s-%d", p.name, len(p.logs)), started: time.Now(), lines: lines,
	})
	if publish {
		s.publishLocked(p, "MODIFIED", nil)
	} else {
		p.publishOnLog = true
		s.bumpLocked()
	}
}

// deletePodLocked stops the pod's container (ending its log) and removes
// it, as a graceful deletion does.
func (s *Server) deletePodLocked(p *Pod) {
	p.logs[len(p.logs)-1].terminated = true
	now := metav1.Now()
	s.publishLocked(p, "MODIFIED", func(o *corev1.Pod) { o.DeletionTimestamp = &now })
	p.deleted = true
	s.publishLocked(p, "DELETED", func(o *corev1.Pod) { o.DeletionTimestamp = &now })
}

// DeletePod stops the pod's container, ending its log, and removes the pod,
// as a graceful deletion does. Its log is then gone (404).
func (s *Server) DeletePod(p *Pod) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.deletePodLocked(p)
}

// ReplacePod deletes old and adds a pod named name at once, as a rollout
// does while a client is behind, and expires the watches with the change:
// the open ones are closed without an ERROR event and without sending the
// change, so that the client learns of both pods from a list.
func (s *Server) ReplacePod(old *Pod, name string, o PodOptions) *Pod {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.deletePodLocked(old)
	p := s.addPodLocked(name, o)
	s.expireLocked(false)
	return p
}

// ExpireWatches forgets the watch history and ends the open watches: with
// an ERROR event saying 410 when errorEvent, else by closing them (the
// client then learns of the expiry when it watches again).
func (s *Server) ExpireWatches(errorEvent bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expireLocked(errorEvent)
}

func (s *Server) expireLocked(errorEvent bool) {
	s.compacted = s.rv
	s.killError = errorEvent
	close(s.kill)
	s.kill = make(chan struct{})
}

// ForbidList makes pod lists fail with 403 (RBAC missing), or succeed again.
func (s *Server) ForbidList(forbid bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.forbidList = forbid
}

// Watching reports whether a watch is open.
func (s *Server) Watching() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.watches > 0
}

// OpenGate lets the held log requests of a pod added with Gate through.
func (s *Server) OpenGate(p *Pod) {
	s.mu.Lock()
	defer s.mu.Unlock()
	close(p.gate)
	p.gate = nil
}

// LogRequests gives the log requests made for the pod, oldest first.
func (s *Server) LogRequests(pod string) []LogRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []LogRequest
	for _, c := range s.logReqs {
		if c.Pod == pod {
			out = append(out, c)
		}
	}
	return out
}

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	prefix := "/api/v1/namespaces/" + s.namespace + "/pods"
	if r.Method != http.MethodGet || !strings.HasPrefix(r.URL.Path, prefix) {
		writeStatus(w, http.StatusNotFound, metav1.StatusReasonNotFound, "no such path "+r.URL.Path)
		return
	}
	q := r.URL.Query()
	rest := strings.TrimPrefix(r.URL.Path, prefix)
	switch {
	case rest == "" && (q.Get("watch") == "true" || q.Get("watch") == "1"):
		s.serveWatch(w, r)
	case rest == "":
		s.serveList(w, r)
	case strings.HasSuffix(rest, "/log"):
		s.serveLog(w, r, strings.TrimSuffix(strings.TrimPrefix(rest, "/"), "/log"))
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

func (s *Server) selector(r *http.Request) (labels.Selector, bool) {
	sel, err := labels.Parse(r.URL.Query().Get("labelSelector"))
	if err != nil {
		s.t.Errorf("kubetest: bad label selector: %v", err)
		return nil, false
	}
	return sel, true
}

func (s *Server) serveList(w http.ResponseWriter, r *http.Request) {
	sel, ok := s.selector(r)
	if !ok {
		writeStatus(w, http.StatusBadRequest, metav1.StatusReasonBadRequest, "bad selector")
		return
	}
	s.mu.Lock()
	if s.forbidList {
		s.mu.Unlock()
		writeStatus(w, http.StatusForbidden, metav1.StatusReasonForbidden,
			`pods is forbidden: User "system:serviceaccount:`+s.namespace+`:exporter" cannot list resource "pods" in API group "" in the namespace "`+s.namespace+`"`)
		return
	}
	list := corev1.PodList{
		TypeMeta: metav1.TypeMeta{Kind: "PodList", APIVersion: "v1"},
		ListMeta: metav1.ListMeta{ResourceVersion: strconv.Itoa(s.rv)},
	}
	for _, p := range s.pods {
		if !p.deleted && sel.Matches(labels.Set(p.labels)) {
			list.Items = append(list.Items, *p.published)
		}
	}
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(&list)
}

func (s *Server) serveWatch(w http.ResponseWriter, r *http.Request) {
	sel, ok := s.selector(r)
	if !ok {
		writeStatus(w, http.StatusBadRequest, metav1.StatusReasonBadRequest, "bad selector")
		return
	}
	from, err := strconv.Atoi(r.URL.Query().Get("resourceVersion"))
	if err != nil {
		writeStatus(w, http.StatusBadRequest, metav1.StatusReasonBadRequest, "bad resourceVersion")
		return
	}
	s.mu.Lock()
	kill := s.kill
	if from < s.compacted {
		s.mu.Unlock()
		writeStatus(w, http.StatusGone, metav1.StatusReasonExpired, fmt.Sprintf("too old resource version: %d (%d)", from, s.compacted))
		return
	}
	s.watches++
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.watches--
		s.mu.Unlock()
	}()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	flusher := w.(http.Flusher)
	flusher.Flush()
	enc := json.NewEncoder(w)
	sent := 0
	for {
		s.mu.Lock()
		events, changed, killed, killError := s.events, s.changed, false, s.killError
		select {
		case <-kill:
			killed = true
		default:
		}
		s.mu.Unlock()
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

func (s *Server) serveLog(w http.ResponseWriter, r *http.Request, name string) {
	q := r.URL.Query()
	s.mu.Lock()
	req := LogRequest{Pod: name, SinceTime: q.Get("sinceTime"), Previous: q.Get("previous") == "true"}
	s.logReqs = append(s.logReqs, req)
	p := s.pods[name]
	if p != nil && p.gate != nil {
		gate := p.gate
		s.mu.Unlock()
		select {
		case <-gate:
		case <-r.Context().Done():
			return
		}
		s.mu.Lock()
	}
	var refuse func()
	var l *containerLog
	var c *Cut
	switch {
	case p == nil || p.deleted:
		refuse = func() {
			writeStatus(w, http.StatusNotFound, metav1.StatusReasonNotFound, fmt.Sprintf("pods %q not found", name))
		}
	case q.Get("container") != s.container:
		refuse = func() {
			writeStatus(w, http.StatusBadRequest, metav1.StatusReasonBadRequest, "container "+q.Get("container")+" is not valid for pod "+name)
		}
	case p.forbidLogs > 0:
		p.forbidLogs--
		refuse = func() {
			writeStatus(w, http.StatusForbidden, metav1.StatusReasonForbidden,
				`pods "`+name+`" is forbidden: User "system:serviceaccount:`+s.namespace+`:exporter" cannot get resource "pods/log" in API group "" in the namespace "`+s.namespace+`"`)
		}
	case req.Previous && len(p.logs) < 2:
		refuse = func() {
			writeStatus(w, http.StatusBadRequest, metav1.StatusReasonBadRequest, "previous terminated container "+s.container+" in pod "+name+" not found")
		}
	case req.Previous:
		l = p.logs[len(p.logs)-2]
	default:
		l = p.logs[len(p.logs)-1]
		if p.publishOnLog {
			p.publishOnLog = false
			s.publishLocked(p, "MODIFIED", nil)
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
	s.mu.Unlock()
	if refuse != nil {
		refuse()
		return
	}

	var since time.Time
	if req.SinceTime != "" {
		var err error
		if since, err = time.Parse(time.RFC3339, req.SinceTime); err != nil {
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
		s.mu.Lock()
		lines, done, changed := l.lines, l.terminated, s.changed
		s.mu.Unlock()
		for ; next < len(lines); next++ {
			line := lines[next]
			// The kubelet's filter: per line, at the precision given.
			if !since.IsZero() && line.Time.Before(since) {
				continue
			}
			buf = buf[:0]
			if stamps {
				buf = line.Time.In(zone).AppendFormat(buf, time.RFC3339Nano)
				buf = append(buf, ' ')
			}
			buf = append(buf, line.Text...)
			if c != nil && next == c.At {
				if c.Clean {
					flusher.Flush()
					return
				}
				if c.Partial {
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
