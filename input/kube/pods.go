package kube

import (
	"context"

	"github.com/go-kit/log/level"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

// podState is what the watch knows of one pod, shared with the followers of
// its container logs. Fields are guarded by Follower.mu.
type podState struct {
	namespace, name string
	uid             types.UID

	pod     *corev1.Pod // latest seen
	deleted bool
	// changed is closed, and replaced, on every change: followers waiting
	// to reconnect look again at once.
	changed chan struct{}
	// started holds the container IDs whose log has (had) a follower.
	started map[string]bool
	// tail is the newest follower: the next container instance's log waits
	// for it to be done, so the old Sink is closed first.
	tail      *instance
	followers int
	warned    bool // about a missing container
}

// view is a follower's snapshot of its pod: the current container instance
// and the one before it.
type view struct {
	deleted  bool
	id       string // current container ID; "" before it was created
	restarts int32
	running  bool
	lastID   string // the previous instance, still readable with previous=true
	changed  <-chan struct{}
}

func (f *Follower) view(st *podState) view {
	f.mu.Lock()
	defer f.mu.Unlock()
	v := view{deleted: st.deleted, changed: st.changed}
	if cs := containerStatus(st.pod, f.cfg.Container); cs != nil {
		v.id, v.restarts, v.running = cs.ContainerID, cs.RestartCount, cs.State.Running != nil
		if t := cs.LastTerminationState.Terminated; t != nil {
			v.lastID = t.ContainerID
		}
	}
	return v
}

func containerStatus(pod *corev1.Pod, name string) *corev1.ContainerStatus {
	for i := range pod.Status.ContainerStatuses {
		if pod.Status.ContainerStatuses[i].Name == name {
			return &pod.Status.ContainerStatuses[i]
		}
	}
	return nil
}

// sync makes the known pods those of a fresh list.
func (f *Follower) sync(ctx context.Context, pods []corev1.Pod) {
	listed := make(map[types.UID]bool, len(pods))
	for i := range pods {
		listed[pods[i].UID] = true
		f.upsert(ctx, &pods[i])
	}
	f.mu.Lock()
	var gone []types.UID
	for uid := range f.pods {
		if !listed[uid] {
			gone = append(gone, uid)
		}
	}
	f.mu.Unlock()
	for _, uid := range gone {
		f.remove(uid)
	}
}

// upsert records a pod's new state and starts following the log of a
// container instance not followed yet.
func (f *Follower) upsert(ctx context.Context, pod *corev1.Pod) {
	f.mu.Lock()
	defer f.mu.Unlock()
	st, known := f.pods[pod.UID]
	if !known {
		st = &podState{
			namespace: pod.Namespace, name: pod.Name, uid: pod.UID,
			changed: make(chan struct{}),
			started: make(map[string]bool),
		}
		f.pods[pod.UID] = st
		if f.noPods {
			f.noPods = false
			level.Info(f.logger).Log("msg", "A pod matches the label selector now", "namespace", pod.Namespace, "pod", pod.Name)
		}
	}
	st.pod = pod
	close(st.changed)
	st.changed = make(chan struct{})

	cs := containerStatus(pod, f.cfg.Container)
	if cs == nil {
		if !st.warned && !hasContainer(pod, f.cfg.Container) {
			st.warned = true
			level.Warn(f.logger).Log("msg", "Matching pod has no container of the configured name; not following it", "pod", pod.Namespace+"/"+pod.Name, "container", f.cfg.Container)
		}
		return
	}
	// The container restarted more than once since the last update: the
	// log of the instance in between was written while the exporter ran,
	// and is still there. (On first sight, only the current log is read.)
	// Also on first sight when that log was being read before a restart of
	// the exporter.
	if t := cs.LastTerminationState.Terminated; t != nil && (known || f.hasResume(pod.UID, t.ContainerID)) && t.ContainerID != "" && t.ContainerID != cs.ContainerID && !st.started[t.ContainerID] {
		f.startLocked(ctx, st, t.ContainerID, cs.RestartCount-1, true)
	}
	if cs.ContainerID != "" && !st.started[cs.ContainerID] {
		f.startLocked(ctx, st, cs.ContainerID, cs.RestartCount, false)
	}
}

func hasContainer(pod *corev1.Pod, name string) bool {
	for _, c := range pod.Spec.Containers {
		if c.Name == name {
			return true
		}
	}
	return false
}

// remove marks a pod deleted: its followers read what is left of their
// stream, then end.
func (f *Follower) remove(uid types.UID) {
	f.mu.Lock()
	defer f.mu.Unlock()
	st, ok := f.pods[uid]
	if !ok {
		return
	}
	delete(f.pods, uid)
	st.deleted = true
	close(st.changed)
	st.changed = make(chan struct{})
}

// startLocked starts following one container instance's log.
func (f *Follower) startLocked(ctx context.Context, st *podState, id string, restarts int32, previousOnly bool) {
	in := &instance{
		f:   f,
		pod: st,
		pos: Position{
			Namespace: st.namespace, Pod: st.name, PodUID: string(st.uid),
			Container: f.cfg.Container, ContainerID: id, RestartCount: restarts,
		},
		previousOnly: previousOnly,
		prev:         st.tail,
		done:         make(chan struct{}),
	}
	if saved, ok := f.takeResume(st.uid, id); ok {
		in.pos.Last, in.pos.Skip, in.pos.First = saved.Last, saved.Skip, saved.First
		in.resumed = true
	}
	in.published = in.pos
	f.live[in] = true
	st.tail = in
	st.started[id] = true
	st.followers++
	if st.followers == 1 {
		f.metrics.podsFollow.Inc()
	}
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		in.run(ctx)
		f.mu.Lock()
		st.followers--
		if st.followers == 0 {
			f.metrics.podsFollow.Dec()
		}
		f.mu.Unlock()
	}()
}
