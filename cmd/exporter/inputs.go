package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/alecthomas/kingpin/v2"
	"github.com/go-kit/log"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/mirrord-exporter/mirrord-exporter/input"
	"github.com/mirrord-exporter/mirrord-exporter/input/file"
	"github.com/mirrord-exporter/mirrord-exporter/input/kube"
)

// kubernetesOptions are the flags of the Kubernetes API source.
type kubernetesOptions struct {
	enabled       bool
	kubeconfig    string
	namespace     string
	labelSelector string
	container     string
}

func addKubernetesFlags(app *kingpin.Application) *kubernetesOptions {
	k := &kubernetesOptions{}
	app.Flag("kubernetes", "Follow the operator pods' logs through the Kubernetes API (beside any --log.path).").BoolVar(&k.enabled)
	app.Flag("kubernetes.kubeconfig", "Kubeconfig to use; empty means the in-cluster config, else $KUBECONFIG, else ~/.kube/config.").StringVar(&k.kubeconfig)
	app.Flag("kubernetes.namespace", "Namespace of the mirrord operator.").Default(kube.DefaultNamespace).StringVar(&k.namespace)
	app.Flag("kubernetes.label-selector", "Label selector of the operator's pods.").Default(kube.DefaultLabelSelector).StringVar(&k.labelSelector)
	app.Flag("kubernetes.container", "Container whose log is read.").Default(kube.DefaultContainer).StringVar(&k.container)
	return k
}

// inputs are the enabled sources of log lines.
type inputs struct {
	files *file.Manager  // nil without --log.path
	pods  *kube.Follower // nil without --kubernetes
}

// positions are where the inputs resume, from the state file.
type positions struct {
	files []file.FilePosition
	pods  []kube.Position
}

func newInputs(o *options, newSink func(input, name string) input.Sink, gate *input.Gate, resume positions, logger log.Logger, reg prometheus.Registerer) (inputs, error) {
	var in inputs
	switch {
	case len(o.paths) == 0 && !o.kubernetes.enabled:
		return in, errors.New("no input: give --log.path or --kubernetes")
	case o.once && o.kubernetes.enabled:
		return in, errors.New("--once reads saved logs to their end; it cannot follow --kubernetes")
	}
	if len(o.paths) > 0 {
		files, err := file.New(file.Config{
			Paths:          o.paths,
			FromEnd:        o.from == "end",
			MaxLineBytes:   int(o.maxLineBytes),
			PollInterval:   o.pollInterval,
			DisableInotify: !o.inotify,
			Once:           o.once,
			Stdin:          o.stdin,
			NewSink:        newSink,
			Logger:         logger,
			Registerer:     reg,
			Gate:           gate,
			Resume:         resume.files,
		})
		if err != nil {
			return in, fmt.Errorf("--log.path: %w", err)
		}
		in.files = files
	}
	if o.kubernetes.enabled {
		pods, err := kube.New(kube.Config{
			Kubeconfig:    o.kubernetes.kubeconfig,
			Namespace:     o.kubernetes.namespace,
			LabelSelector: o.kubernetes.labelSelector,
			Container:     o.kubernetes.container,
			NewSink:       newSink,
			MaxLineBytes:  int(o.maxLineBytes),
			Logger:        logger,
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

// run runs every input until they end (--once) or ctx is cancelled, and
// returns the first error.
func (in inputs) run(ctx context.Context) error {
	var runs []func(context.Context) error
	if in.files != nil {
		runs = append(runs, in.files.Run)
	}
	if in.pods != nil {
		runs = append(runs, in.pods.Run)
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
