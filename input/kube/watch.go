package kube

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"time"

	"github.com/go-kit/log/level"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
)

const (
	// listTimeout bounds one list request; watches and log streams are
	// long-lived and bounded by the context only.
	listTimeout = time.Minute
	// minWatchSeconds is the shortest server-side watch timeout asked for;
	// each watch asks for a random one up to twice as long, so that the
	// watches of many exporters do not all restart together.
	minWatchSeconds = 5 * 60
)

// watchPods lists the pods, then watches them from the list's resource
// version, re-watching from the last version seen when a watch ends and
// relisting when that version has expired, until ctx is cancelled.
func (f *Follower) watchPods(ctx context.Context) {
	bo := newBackoff(f.cfg.MinBackoff, f.cfg.MaxBackoff)
	var rv, reason string // reason why the previous list or watch ended
	for {
		if reason != "" {
			if !sleep(ctx, bo.delay(), nil) {
				return
			}
			f.metrics.reconnects.WithLabelValues(reason).Inc()
		}
		if rv == "" {
			var err error
			if rv, err = f.list(ctx); err != nil {
				if ctx.Err() != nil {
					return
				}
				reason = f.watchFailed(opList, err)
				continue
			}
		}
		opened := time.Now()
		w, err := f.watch(ctx, rv)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			if reason = f.watchFailed(opWatch, err); reason == reasonWatchExpired {
				rv = ""
			}
			continue
		}
		f.allowed(opWatch)
		var events int
		rv, events, err = f.consume(ctx, w, rv)
		switch {
		case ctx.Err() != nil:
			return
		case errors.Is(err, io.EOF):
			reason = reasonEOF
		default:
			if reason = f.watchFailed(opWatch, err); reason == reasonWatchExpired {
				rv = ""
			}
		}
		if events > 0 || time.Since(opened) >= f.cfg.MaxBackoff {
			bo.reset()
		}
	}
}

// list lists the matching pods, brings the followed set in line with them
// and returns the list's resource version.
func (f *Follower) list(ctx context.Context) (string, error) {
	reqCtx, cancel := context.WithTimeout(ctx, listTimeout)
	defer cancel()
	var list corev1.PodList
	err := f.client.Get().
		Namespace(f.cfg.Namespace).
		Resource("pods").
		VersionedParams(&metav1.ListOptions{LabelSelector: f.cfg.LabelSelector}, f.params).
		Do(reqCtx).
		Into(&list)
	if err != nil {
		return "", fmt.Errorf("list pods in namespace %s: %w", f.cfg.Namespace, err)
	}
	f.allowed(opList)
	f.noPodsListed(len(list.Items) == 0)
	// ctx, not reqCtx: the followers started here outlive the request.
	f.sync(ctx, list.Items)
	f.readyOnce.Do(func() {
		f.dropUnusedResume()
		close(f.ready)
	})
	level.Debug(f.logger).Log("msg", "Listed pods", "pods", len(list.Items), "resource_version", list.ResourceVersion)
	return list.ResourceVersion, nil
}

func (f *Follower) watch(ctx context.Context, rv string) (watch.Interface, error) {
	timeout := int64(minWatchSeconds + rand.IntN(minWatchSeconds))
	w, err := f.client.Get().
		Namespace(f.cfg.Namespace).
		Resource("pods").
		VersionedParams(&metav1.ListOptions{
			LabelSelector:       f.cfg.LabelSelector,
			ResourceVersion:     rv,
			AllowWatchBookmarks: true,
			TimeoutSeconds:      &timeout,
			Watch:               true,
		}, f.params).
		Watch(ctx)
	if err != nil {
		return nil, fmt.Errorf("watch pods in namespace %s from resource version %s: %w", f.cfg.Namespace, rv, err)
	}
	return w, nil
}

// consume applies a watch's events until it ends: io.EOF when the server
// closed it, the error an ERROR event carried, or ctx's error. It returns
// the newest resource version seen and how many events came.
func (f *Follower) consume(ctx context.Context, w watch.Interface, rv string) (string, int, error) {
	defer w.Stop()
	events := 0
	for {
		var ev watch.Event
		var ok bool
		select {
		case <-ctx.Done():
			return rv, events, ctx.Err()
		case ev, ok = <-w.ResultChan():
		}
		if !ok {
			return rv, events, io.EOF
		}
		events++
		switch ev.Type {
		case watch.Added, watch.Modified, watch.Deleted:
			pod, isPod := ev.Object.(*corev1.Pod)
			if !isPod {
				return rv, events, fmt.Errorf("watch pods: unexpected %T in a %s event", ev.Object, ev.Type)
			}
			rv = pod.ResourceVersion
			if ev.Type == watch.Deleted {
				f.remove(pod.UID)
			} else {
				f.upsert(ctx, pod)
			}
		case watch.Bookmark:
			if m, err := meta.Accessor(ev.Object); err == nil {
				rv = m.GetResourceVersion()
			}
		case watch.Error:
			return rv, events, fmt.Errorf("watch pods: %w", apierrors.FromObject(ev.Object))
		}
	}
}

// watchFailed counts and logs a failed list or watch and returns the
// reconnect reason.
func (f *Follower) watchFailed(op string, err error) string {
	if apierrors.IsResourceExpired(err) || apierrors.IsGone(err) {
		level.Debug(f.logger).Log("msg", "Pod watch expired; listing again", "err", err)
		return reasonWatchExpired
	}
	var st apierrors.APIStatus
	if errors.As(err, &st) || op == opList {
		// A watch that merely broke off is no API error: it resumes.
		f.metrics.apiError(op, err)
	}
	switch {
	case apierrors.IsForbidden(err):
		f.forbidden(op, err)
		return reasonForbidden
	case apierrors.IsNotFound(err):
		level.Error(f.logger).Log("msg", fmt.Sprintf("Pods not found: does namespace %s exist? Set the Helm chart's operator.namespace (--kubernetes.namespace) to the mirrord operator's namespace", f.cfg.Namespace), "op", op, "err", err)
		return reasonNotFound
	}
	level.Warn(f.logger).Log("msg", "Kubernetes API request failed; retrying with backoff", "op", op, "err", err)
	return reasonError
}
