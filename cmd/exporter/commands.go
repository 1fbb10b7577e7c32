package main

import (
	"time"

	"github.com/alecthomas/kingpin/v2"

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
	app.Flag("kubernetes", "Follow the operator pods' logs through the Kubernetes API (beside any --input.path).").BoolVar(&k.enabled)
	app.Flag("kubernetes.kubeconfig", "Kubeconfig to use; empty means the in-cluster config, else $KUBECONFIG, else ~/.kube/config.").StringVar(&k.kubeconfig)
	app.Flag("kubernetes.namespace", "Namespace of the mirrord operator.").Default(kube.DefaultNamespace).StringVar(&k.namespace)
	app.Flag("kubernetes.label-selector", "Label selector of the operator's pods.").Default(kube.DefaultLabelSelector).StringVar(&k.labelSelector)
	app.Flag("kubernetes.container", "Container whose log is read.").Default(kube.DefaultContainer).StringVar(&k.container)
	return k
}

// backfillOptions are the flags of the backfill command.
type backfillOptions struct {
	output string
	step   time.Duration
}

func addBackfillCommand(app *kingpin.Application, o *backfillOptions) {
	cmd := app.Command("backfill", "Replay saved logs in the operator's time and write the metrics as OpenMetrics with timestamps, for promtool tsdb create-blocks-from openmetrics.")
	cmd.Flag("output", "OpenMetrics file to write.").Required().StringVar(&o.output)
	cmd.Flag("step", "Interval between samples, in the logs' time; a last sample is taken at the final event.").Default("1m").DurationVar(&o.step)
}

// reportOptions are the flags of the report command.
type reportOptions struct {
	top int
}

func addReportCommand(app *kingpin.Application, o *reportOptions) {
	cmd := app.Command("report", "Print a summary of saved logs: period, sessions, users, session hours, top users and targets, steal and mirror, copied targets.")
	cmd.Flag("top", "Users and targets listed, the busiest first.").Default("10").IntVar(&o.top)
}
