package exporter

import (
	"context"
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mirrord-exporter/mirrord-exporter/input"
	"github.com/mirrord-exporter/mirrord-exporter/input/file"
	"github.com/mirrord-exporter/mirrord-exporter/input/kube"
)

// inputs are the enabled sources of log lines.
type inputs struct {
	files *file.Manager  // nil without Paths
	pods  *kube.Follower // nil without Kubernetes
}

// positions are where the inputs resume, from the state file.
type positions struct {
	files []file.FilePosition
	pods  []kube.Position
}

// The errors name the flags: they are what the user gave.
func newInputs(cfg Config, newSink func(input, name string) input.Sink, opened func(), gate *input.Gate, resume positions, reg prometheus.Registerer) (inputs, error) {
	var in inputs
	switch {
	case len(cfg.Paths) == 0 && cfg.Kubernetes == nil && cfg.OTLP == nil:
		return in, errors.New("no input: give --input.path, --kubernetes or --otlp.listen-address")
	case cfg.Once && cfg.Kubernetes != nil:
		return in, errors.New("--once reads saved logs to their end; it cannot follow --kubernetes")
	case cfg.Once && cfg.OTLP != nil:
		return in, errors.New("--once reads saved logs to their end; it cannot receive --otlp.listen-address")
	}
	if len(cfg.Paths) > 0 {
		files, err := file.New(file.Config{
			Paths:          cfg.Paths,
			FromEnd:        cfg.FromEnd,
			MaxLineBytes:   cfg.MaxLineBytes,
			PollInterval:   cfg.PollInterval,
			DisableInotify: cfg.DisableInotify,
			Once:           cfg.Once,
			Stdin:          cfg.Stdin,
			NewSink:        newSink,
			Opened:         opened,
			Logger:         cfg.Logger,
			Registerer:     reg,
			Gate:           gate,
			Resume:         resume.files,
		})
		if err != nil {
			return in, fmt.Errorf("--input.path: %w", err)
		}
		in.files = files
	}
	if k := cfg.Kubernetes; k != nil {
		pods, err := kube.New(kube.Config{
			Kubeconfig:    k.Kubeconfig,
			Namespace:     k.Namespace,
			LabelSelector: k.LabelSelector,
			Container:     k.Container,
			NewSink:       newSink,
			MaxLineBytes:  cfg.MaxLineBytes,
			Logger:        cfg.Logger,
			Registerer:    reg,
			Gate:          gate,
			Resume:        resume.pods,
		})
		if err != nil {
			return in, fmt.Errorf("--kubernetes: %w", err)
		}
		in.pods = pods
	}
	return in, nil
}

// run runs every input until they end (Once) or ctx is cancelled, and
// returns the first error.
func (in inputs) run(ctx context.Context) error {
	var runs []func(context.Context) error
	if in.files != nil {
		runs = append(runs, in.files.Run)
	}
	if in.pods != nil {
		runs = append(runs, in.pods.Run)
	}
	if len(runs) == 0 {
		// OTLP alone: requests are the input, until the end.
		<-ctx.Done()
		return nil
	}
	errs := make(chan error, len(runs))
	for _, run := range runs {
		go func() { errs <- run(ctx) }()
	}
	var first error
	for range runs {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	return first
}

// ready is closed once every input has read what was there at start: the
// files their backlog, the Kubernetes source its first pod list.
func (in inputs) ready() <-chan struct{} {
	ready := make(chan struct{})
	go func() {
		if in.files != nil {
			<-in.files.CaughtUp()
		}
		if in.pods != nil {
			<-in.pods.Ready()
		}
		close(ready)
	}()
	return ready
}
