package kube

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/go-kit/log/level"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/mirrord-exporter/mirrord-exporter/input"
)

// errMismatch ends a resumed stream that is not the log being read.
var errMismatch = errors.New("resumed log stream does not continue the log read so far")

// requestError is a log request the API server (or the way to it) refused,
// as opposed to a stream that broke off while being read.
type requestError struct{ err error }

func (e *requestError) Error() string { return e.err.Error() }
func (e *requestError) Unwrap() error { return e.err }

// plan is which log request reads an instance's log now, if any.
type plan uint8

const (
	planDone     plan = iota // nothing left to read, or no way to read it
	planCurrent              // the container's current log
	planPrevious             // previous=true: the log of the instance before
)

// instance follows the log of one container instance, on one goroutine,
// through as many streams as it takes.
type instance struct {
	f            *Follower
	pod          *podState
	pos          Position
	previousOnly bool      // only ever read with previous=true
	prev         *instance // the pod's previous instance: its log is read first
	done         chan struct{}
	// inherited is set while the Position is still the previous
	// instance's, not yet checked against this log.
	inherited bool
	// resumed is set when the Position was saved by an earlier run.
	resumed bool
	// published is pos as of the last line delivered (f.cfg.Gate).
	published Position

	sink      input.Sink
	lr        *input.Splitter
	res       resumer
	emit      input.EmitFunc // in.line, bound once
	delivered int            // lines handed to the sink by the current stream
}

func (in *instance) name() string {
	return in.pos.Namespace + "/" + in.pos.Pod + "/" + in.pos.Container
}

// run reads the log until it is over: the instance was superseded or its
// pod deleted, and its stream read to a clean end; or ctx is cancelled.
func (in *instance) run(ctx context.Context) {
	defer close(in.done)
	f := in.f
	defer func() {
		f.cfg.Gate.Enter()
		if in.sink != nil {
			in.sink.Close()
		}
		f.mu.Lock()
		delete(f.live, in)
		f.mu.Unlock()
		f.cfg.Gate.Leave()
	}()
	if in.prev != nil {
		select {
		case <-in.prev.done:
		case <-ctx.Done():
			return
		}
		if !in.resumed {
			in.inherit(in.prev)
		}
		in.prev = nil // let it be collected
	}
	in.sink = f.cfg.NewSink(Input, in.name())
	in.lr = newLineReader(f.cfg.MaxLineBytes + tsPrefixMax)
	in.emit = in.line
	level.Info(f.logger).Log("msg", "Following container log", "log", in.name(), "container_id", in.pos.ContainerID, "restart_count", in.pos.RestartCount)
	clean, reason, ok := in.follow(ctx)
	if !ok {
		return // shutting down
	}
	if clean {
		// The log's last line may lack a newline; the log is over.
		_ = in.lr.Flush(in.emit) // at worst errMismatch, and the log is over anyway
	} else {
		if reason == "" {
			reason = "never connected"
		}
		level.Warn(f.logger).Log("msg", "Container log no longer served before its end was read; lines may be lost", "log", in.name(), "container_id", in.pos.ContainerID, "last_error", reason)
	}
	level.Info(f.logger).Log("msg", "Finished container log", "log", in.name(), "container_id", in.pos.ContainerID)
}

// inherit starts from where the previous instance's follower stopped. If
// the kubelet served it this instance's log in place of its own (the
// container restarted before the pod status said so), resuming there reads
// none of those lines twice. If not, as usual, the first line tells, and
// every line of this newer log is resent anyway.
func (in *instance) inherit(prev *instance) {
	if prev.pos.Skip > 0 && !prev.pos.First.IsZero() {
		in.pos.Last, in.pos.Skip, in.pos.First = prev.pos.Last, prev.pos.Skip, prev.pos.First
		in.inherited = true
	}
}

// follow streams the log, reconnecting, until it is over. It reports
// whether the last stream read ended cleanly and, if not, why; ok is false
// when ctx was cancelled.
func (in *instance) follow(ctx context.Context) (clean bool, reason string, ok bool) {
	f := in.f
	bo := newBackoff(f.cfg.MinBackoff, f.cfg.MaxBackoff)
	var mismatchSince time.Time // start of a run of mismatching streams
	for {
		v := f.view(in.pod)
		p := in.decide(v)
		if p == planDone {
			return clean, reason, true
		}
		if reason != "" {
			f.metrics.reconnects.WithLabelValues(reason).Inc()
		}
		if !mismatchSince.IsZero() && time.Since(mismatchSince) >= f.cfg.MaxBackoff {
			level.Warn(f.logger).Log("msg", "The resumed log no longer holds the last lines read (rotated by the kubelet?); resuming after them, lines written in between may be lost", "log", in.name())
			in.res = acceptAt(&in.pos)
			mismatchSince = time.Time{}
		} else if in.inherited {
			in.res = inheritAt(&in.pos)
		} else {
			in.res = resumeAt(&in.pos)
		}
		err := in.stream(ctx, p)
		if ctx.Err() != nil {
			return false, "", false
		}
		if in.inherited && (in.res.matched || in.delivered > 0) {
			in.inherited = false
			if in.res.matched {
				level.Warn(f.logger).Log("msg", "The kubelet served this container's log in place of the previous instance's, whose own log was not read", "log", in.name(), "container_id", in.pos.ContainerID)
			}
		}
		var reqErr *requestError
		if !errors.As(err, &reqErr) {
			// A stream was read: its end is the end of what is known of
			// the log (a refused request after it changes nothing).
			clean = errors.Is(err, io.EOF)
		}
		if errors.Is(err, io.EOF) && (p == planPrevious || !v.running) {
			return true, "", true // a stopped container's log, read to its end
		}
		reason = in.failed(err)
		if reason != reasonMismatch {
			mismatchSince = time.Time{}
		} else if mismatchSince.IsZero() {
			mismatchSince = time.Now()
		}
		if in.delivered > 0 {
			bo.reset()
		}
		if !sleep(ctx, bo.delay(), v.changed) {
			return false, "", false
		}
	}
}

// decide picks the request that reads the rest of the log, from the pod as
// the watch last saw it.
func (in *instance) decide(v view) plan {
	switch {
	case v.deleted:
		return planDone
	case v.id == in.pos.ContainerID && !in.previousOnly:
		return planCurrent
	case v.lastID == in.pos.ContainerID:
		return planPrevious
	default:
		// Restarted more than once since: the kubelet serves this log no
		// more.
		return planDone
	}
}

// stream opens one log stream, resuming after the lines read, and reads it
// until it ends. It returns io.EOF for a clean end.
func (in *instance) stream(ctx context.Context, p plan) error {
	f := in.f
	opts := &corev1.PodLogOptions{
		Container:  in.pos.Container,
		Follow:     true,
		Timestamps: true,
		Previous:   p == planPrevious,
	}
	if s := in.pos.since(); !s.IsZero() {
		t := metav1.NewTime(s)
		opts.SinceTime = &t
	}
	body, err := f.client.Get().
		Namespace(in.pos.Namespace).
		Resource("pods").
		Name(in.pos.Pod).
		SubResource("log").
		VersionedParams(opts, f.params).
		Stream(ctx)
	if err != nil {
		return &requestError{fmt.Errorf("get log of %s: %w", in.name(), err)}
	}
	defer body.Close()
	f.allowed(opLogs)
	f.metrics.streamsOpen.Inc()
	defer f.metrics.streamsOpen.Dec()
	in.lr.Reset()
	in.delivered = 0
	return in.lr.Split(body, in.emit)
}

// line handles one line of the stream: resent lines are skipped, new ones
// handed to the Sink without their timestamp.
func (in *instance) line(raw []byte, size int) error {
	in.f.cfg.Gate.Enter()
	defer in.f.cfg.Gate.Leave()
	err := in.judgeLine(raw, size)
	in.sink.Flush() // lines come one by one from the network: no batch to wait for
	in.published = in.pos
	return err
}

func (in *instance) judgeLine(raw []byte, size int) error {
	ts, text, ok := splitTimestamp(raw)
	switch in.res.judge(ts, ok) {
	case mismatch:
		return errMismatch
	case counted:
		return nil
	case fresh:
		in.pos.rebase()
	case recount:
		in.pos.advance(ts, ok)
		return nil
	}
	in.pos.advance(ts, ok)
	in.delivered++
	if n := size - (len(raw) - len(text)); n > in.f.cfg.MaxLineBytes {
		in.sink.LineTooLong(n)
	} else {
		in.sink.Line(text)
	}
	return nil
}

// failed counts and logs why a stream ended, and returns the reconnect
// reason.
func (in *instance) failed(err error) string {
	f := in.f
	var reqErr *requestError
	switch {
	case errors.Is(err, io.EOF):
		level.Debug(f.logger).Log("msg", "Log stream ended", "log", in.name())
		return reasonEOF
	case errors.Is(err, errMismatch):
		level.Info(f.logger).Log("msg", "Resumed log stream is not the log being read (container restarted?); waiting for the pod status", "log", in.name())
		return reasonMismatch
	case !errors.As(err, &reqErr):
		level.Info(f.logger).Log("msg", "Log stream broke off; resuming", "log", in.name(), "err", err)
		return reasonError
	}
	f.metrics.apiError(opLogs, err)
	switch {
	case apierrors.IsForbidden(err):
		f.forbidden(opLogs, err)
		return reasonForbidden
	case apierrors.IsNotFound(err):
		level.Debug(f.logger).Log("msg", "Pod log not found; waiting for the pod status", "log", in.name(), "err", err)
		return reasonNotFound
	}
	level.Warn(f.logger).Log("msg", "Log request failed; retrying with backoff", "log", in.name(), "err", err)
	return reasonError
}
