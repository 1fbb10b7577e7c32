package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/alecthomas/kingpin/v2"

	"github.com/mirrord-exporter/mirrord-exporter/blocks"
	"github.com/mirrord-exporter/mirrord-exporter/decode"
	"github.com/mirrord-exporter/mirrord-exporter/exporter"
	"github.com/mirrord-exporter/mirrord-exporter/input/kube"
	"github.com/mirrord-exporter/mirrord-exporter/pseudonym"
	"github.com/mirrord-exporter/mirrord-exporter/report"
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
	output        string
	tsdbPath      string
	blockDuration time.Duration
	overwrite     bool
	seriesIdle    time.Duration
	step          time.Duration
}

func addBackfillCommand(app *kingpin.Application, o *backfillOptions) {
	cmd := app.Command("backfill", "Replay saved logs in the operator's time and write the metrics as Prometheus TSDB blocks (--tsdb.path), or as OpenMetrics with timestamps (--output) for other stores.")
	cmd.Flag("tsdb.path", "Directory to write TSDB blocks into, to move into Prometheus' --storage.tsdb.path or upload to Thanos or Mimir; must be empty or new.").StringVar(&o.tsdbPath)
	cmd.Flag("tsdb.block-duration", "Longest span of a block, like promtool's --max-block-duration: 2h, or the largest of Prometheus' compaction ranges (2h times a power of 3) not above it.").Default("2h").DurationVar(&o.blockDuration)
	cmd.Flag("tsdb.overwrite", "Replace the blocks already in --tsdb.path.").BoolVar(&o.overwrite)
	cmd.Flag("tsdb.series-idle", "A series unchanged for this long gets no sample in the blocks until it changes; then it is written again from this long (at most half a block) before the change. Gauges not at zero are always written, every series at the last event. 0 writes every series at every step, as scraped.").Default("1h").DurationVar(&o.seriesIdle)
	cmd.Flag("output", "OpenMetrics file to write, for promtool tsdb create-blocks-from openmetrics or another store's importer.").StringVar(&o.output)
	cmd.Flag("step", "Interval between samples, in the logs' time, like a scrape interval; a last sample is taken at the final event.").Default("1m").DurationVar(&o.step)
}

// backfillMemoryLimit is backfill's soft memory limit (runtime/debug
// SetMemoryLimit) unless GOMEMLIMIT sets one.
const backfillMemoryLimit = 320 << 20

// outputs are the outputs the flags give.
func (o *backfillOptions) outputs() exporter.BackfillOutputs {
	out := exporter.BackfillOutputs{OpenMetrics: o.output, TSDBIdle: o.seriesIdle}
	if o.tsdbPath != "" {
		out.TSDB = &blocks.Config{Dir: o.tsdbPath, BlockDuration: o.blockDuration, Overwrite: o.overwrite}
	}
	return out
}

// reportOptions are the flags of the report command.
type reportOptions struct {
	top int
	// fromText and toText are --from and --to as given; check parses them
	// into from and to (zero when not given).
	fromText, toText string
	from, to         time.Time
	// formatText is --format as given, check's format.
	formatText string
	format     report.Format
}

func addReportCommand(app *kingpin.Application, o *reportOptions) {
	cmd := app.Command("report", "Print a summary of saved logs: period, sessions, users, session hours, top users and targets, steal and mirror, copied targets.")
	cmd.Flag("top", "Users and targets listed, the busiest first.").Default("10").IntVar(&o.top)
	cmd.Flag("from", "Start of the period reported, in the logs' time: an RFC 3339 time or a date (midnight UTC); the events before it are still read. Empty: the logs' start.").StringVar(&o.fromText)
	cmd.Flag("format", "Format of the report: text, json, csv (one file with a section column) or html (one self-contained page with charts).").Default("text").StringVar(&o.formatText)
	cmd.Flag("to", "End of the period reported (excluded), an RFC 3339 time or a date (midnight UTC); reading stops at the first event at or after it. Empty: the logs' end.").StringVar(&o.toText)
}

// check parses --format, --from and --to.
func (o *reportOptions) check() error {
	var err error
	if o.format, err = report.ParseFormat(o.formatText); err != nil {
		return fmt.Errorf("--format: %w", err)
	}
	if o.from, err = report.ParseTime(o.fromText); err != nil {
		return fmt.Errorf("--from %w", err)
	}
	if o.to, err = report.ParseTime(o.toText); err != nil {
		return fmt.Errorf("--to %w", err)
	}
	if !o.from.IsZero() && !o.to.IsZero() && !o.from.Before(o.to) {
		return fmt.Errorf("--from (%s) must be before --to (%s)", o.fromText, o.toText)
	}
	return nil
}

// pseudonymOptions are the flags and arguments of the pseudonym command.
type pseudonymOptions struct {
	keyFile string
	values  []string
	key     *pseudonym.Key // read by check
}

func addPseudonymCommand(app *kingpin.Application, o *pseudonymOptions) {
	cmd := app.Command("pseudonym", "Print the pseudonym of each value, one a line, as --label.pseudonymize makes it under the same key: to find one person's series on purpose.")
	cmd.Flag("key-file", "File holding the key, as given to --label.pseudonymize-key-file.").Required().StringVar(&o.keyFile)
	cmd.Arg("value", "Value to pseudonymize, such as a user's email.").Required().StringsVar(&o.values)
}

// check reads the key.
func (o *pseudonymOptions) check() error {
	var err error
	if o.key, err = pseudonym.ReadKeyFile(o.keyFile); err != nil {
		return fmt.Errorf("--key-file: %w", err)
	}
	return nil
}

// print writes the pseudonym of each value, one a line.
func (o *pseudonymOptions) print(w io.Writer) error {
	bw := bufio.NewWriter(w)
	for _, v := range o.values {
		fmt.Fprintln(bw, o.key.Of(v))
	}
	return bw.Flush()
}

// checkPseudonyms reads the key of --label.pseudonymize: no key, no start,
// as values that must not be kept would otherwise be.
func (o *options) checkPseudonyms() error {
	switch {
	case len(o.pseudonymize) == 0 && o.pseudonymKeyFile == "":
		return nil
	case len(o.pseudonymize) == 0:
		return errors.New("--label.pseudonymize-key-file needs --label.pseudonymize: a key alone pseudonymizes nothing")
	case o.pseudonymKeyFile == "":
		return fmt.Errorf("--label.pseudonymize=%s needs --label.pseudonymize-key-file: pseudonyms are keyed", strings.Join(o.pseudonymize, ","))
	}
	var err error
	if o.pseudonymKey, err = pseudonym.ReadKeyFile(o.pseudonymKeyFile); err != nil {
		return fmt.Errorf("--label.pseudonymize-key-file: %w", err)
	}
	if _, err := (decode.LabelConfig{}).Pseudonymize(o.pseudonymKey, o.pseudonymize); err != nil {
		return fmt.Errorf("--label.pseudonymize: %w", err)
	}
	return nil
}
