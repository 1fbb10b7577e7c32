// Package exporter wires the stages (inputs, ingest, collector, state file)
// into one exporter: New builds them, resumed from the state file; Run
// follows the logs until its context ends and shuts down in order; Once,
// Backfill and Report read saved logs to their end; Snapshot takes the state
// at one instant.
package exporter

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	versioncollector "github.com/prometheus/client_golang/prometheus/collectors/version"

	"github.com/mirrord-exporter/mirrord-exporter/backfill"
	"github.com/mirrord-exporter/mirrord-exporter/collector"
	"github.com/mirrord-exporter/mirrord-exporter/decode"
	"github.com/mirrord-exporter/mirrord-exporter/ingest"
	"github.com/mirrord-exporter/mirrord-exporter/input"
	"github.com/mirrord-exporter/mirrord-exporter/input/otlp"
	"github.com/mirrord-exporter/mirrord-exporter/pseudonym"
	"github.com/mirrord-exporter/mirrord-exporter/statefile"
	"github.com/mirrord-exporter/mirrord-exporter/unwrap"
)

// Name is the exporter's name in its build info metric.
const Name = "mirrord_exporter"

// Config is what an Exporter reads and keeps. The zero value of each field
// is its flag's zero, not its flag's default: the command sets every one.
type Config struct {
	// Paths are the files, globs or "-" (Stdin) to follow.
	Paths []string
	Stdin io.Reader
	// FromEnd starts files present at start-up at their end.
	FromEnd        bool
	Format         unwrap.Format
	MaxLineBytes   int
	PollInterval   time.Duration
	DisableInotify bool
	// Kubernetes, if not nil, follows the operator pods' logs.
	Kubernetes *Kubernetes
	// OTLP, if not nil, receives logs pushed over OTLP/HTTP; the command
	// serves OTLPHandler.
	OTLP *OTLP
	// Once reads every input to its end (Once, Backfill, Report) instead
	// of following it (Run).
	Once bool
	// InTimeOrder merges the inputs' streams by the operator's time as
	// they are read (Backfill, Report), rather than applying events as
	// they come. It needs Once.
	InTimeOrder bool

	// Labels are the event fields added as labels, NoLabels the default
	// labels dropped.
	Labels, NoLabels []string
	// Pseudonymize are the fields whose values are replaced by their
	// pseudonyms under PseudonymKey, which they need.
	Pseudonymize  []string
	PseudonymKey  *pseudonym.Key
	SessionMaxAge time.Duration
	MaxSeries     int
	SeriesTTL     time.Duration

	// StateFile, if not empty, is where Run saves the state every
	// SaveInterval and at shutdown, and where New resumes from.
	StateFile    string
	SaveInterval time.Duration

	Logger log.Logger
	// Now is the clock of the state file's times; nil means time.Now.
	Now func() time.Time
}

// Kubernetes is where the operator pods' logs are read.
type Kubernetes struct {
	Kubeconfig    string
	Namespace     string
	LabelSelector string
	Container     string
}

// OTLP is the OTLP/HTTP receiver's configuration.
type OTLP struct {
	// MaxRequestBytes bounds a request body, as sent and after gzip.
	MaxRequestBytes int64
	// MaxInFlight is the most requests handled at once; 0 means
	// otlp.DefaultMaxInFlight.
	MaxInFlight int
}

// Exporter is every stage, wired: inputs feed sinks, sinks feed the events
// channel, and the collector applies them.
type Exporter struct {
	cfg    Config
	labels decode.LabelConfig
	// registry holds every metric but the capped families (those labelled
	// from the log), which are in capped and print themselves.
	registry *prometheus.Registry
	capped   *prometheus.Registry
	inputs   inputs
	otlp     *otlp.Receiver  // nil without Config.OTLP
	ready    <-chan struct{} // closed once every input read what was there at start
	coll     *collector.Collector
	ingest   *ingest.Pipeline
	events   chan decode.Event
	merge    *backfill.Merge // with Config.InTimeOrder, instead of events

	// With a state file: the gate the inputs deliver through, the
	// collector's snapshot requests, and the saver.
	gate      *input.Gate
	snapshots chan chan<- *collector.Snapshot
	saver     *statefile.Saver
	saveNow   chan struct{} // Reload's request to the saver
	fresh     bool          // a state file is kept, and none was restored
	// holdInputs keeps the gate closed after a snapshot: set by Run just
	// before its last save, which its own goroutine takes.
	holdInputs bool
}

// New builds the exporter, resumed from the state file if there is a usable
// one. One that cannot be used is set aside and the exporter starts afresh:
// a state file never stops it from running.
func New(cfg Config) (*Exporter, error) {
	if cfg.Logger == nil {
		cfg.Logger = log.NewNopLogger()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.StateFile == "" {
		return build(cfg, nil)
	}
	statefile.RemoveStaleTemporaries(cfg.StateFile)
	saved, err := statefile.Load(cfg.StateFile)
	if err == nil {
		var e *Exporter
		e, err = build(cfg, saved)
		if !errors.Is(err, errRestore) {
			return e, err
		}
	}
	if !errors.Is(err, statefile.ErrCorrupt) && !errors.Is(err, errRestore) {
		return nil, err
	}
	msg := fmt.Sprintf("The state file cannot be used; setting it aside (the newest %d such copies are kept) and starting afresh: inputs are read as if there were no state", statefile.KeepSetAside)
	aside, removed, aerr := statefile.SetAside(cfg.StateFile, cfg.Now())
	if aside == "" {
		level.Error(cfg.Logger).Log("msg", "The state file cannot be used, nor set aside; starting afresh, and the first save will overwrite it", "path", cfg.StateFile, "err", err, "set_aside_err", aerr)
		return build(cfg, nil)
	}
	keys := []any{"msg", msg, "path", cfg.StateFile, "err", err, "kept_as", aside}
	if len(removed) > 0 {
		keys = append(keys, "removed_older_copies", strings.Join(removed, ","))
	}
	if aerr != nil {
		keys = append(keys, "remove_err", aerr)
	}
	level.Error(cfg.Logger).Log(keys...)
	return build(cfg, nil)
}

// errRestore marks a state file whose content this exporter cannot take.
var errRestore = errors.New("cannot restore the saved state")

func build(cfg Config, saved *statefile.File) (*Exporter, error) {
	labels, err := decode.NewLabelConfig(cfg.Labels, cfg.NoLabels)
	if err != nil {
		return nil, fmt.Errorf("labels: %w", err)
	}
	if labels, err = labels.Pseudonymize(cfg.PseudonymKey, cfg.Pseudonymize); err != nil {
		return nil, fmt.Errorf("pseudonymize: %w", err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(versioncollector.NewCollector(Name))
	if !cfg.Once {
		reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	// The capped families print themselves for --once and /metrics.
	capped := prometheus.NewRegistry()
	coll, err := collector.New(collector.Config{
		Labels: labels, SessionMaxAge: cfg.SessionMaxAge, Registerer: reg, CappedRegisterer: capped,
		Limits: collector.Limits{MaxSeries: cfg.MaxSeries, SeriesTTL: cfg.SeriesTTL},
	})
	if err != nil {
		return nil, err
	}
	e := &Exporter{cfg: cfg, labels: labels, registry: reg, capped: capped, coll: coll}
	icfg := ingest.Config{
		Format: cfg.Format, MaxLineBytes: cfg.MaxLineBytes, Labels: labels,
		Logger: cfg.Logger, Registerer: reg,
	}
	if cfg.InTimeOrder {
		if !cfg.Once {
			return nil, errors.New("merging inputs in time order needs Once")
		}
		e.merge = backfill.NewMerge()
		icfg.StreamEvents = e.merge.Stream
	} else {
		e.events = make(chan decode.Event, 1024)
		icfg.Events = e.events
	}
	ing, err := ingest.New(icfg)
	if err != nil {
		return nil, err
	}
	e.ingest = ing
	var resume positions
	if cfg.StateFile != "" {
		e.gate = &input.Gate{}
		e.snapshots = make(chan chan<- *collector.Snapshot)
		e.saveNow = make(chan struct{}, 1)
		if saved != nil {
			// Other labels need not cost the positions: reading every log
			// again takes long, and increase() over the restart would count
			// the old lines again.
			var afresh []string
			otherPseudonyms := !samePseudonyms(saved.Pseudonyms, pseudonymsOf(labels))
			if otherPseudonyms {
				afresh, err = coll.RestoreUnlabelled(withoutIdentities(saved.Collector))
			} else if err = coll.Restore(saved.Collector); errors.Is(err, collector.ErrOtherLabels) {
				afresh, err = coll.RestoreUnlabelled(saved.Collector)
			}
			if err != nil {
				return nil, fmt.Errorf("%w: collector: %w", errRestore, err)
			}
			if err := ing.Restore(saved.Ingest); err != nil {
				return nil, fmt.Errorf("%w: %w", errRestore, err)
			}
			resume = positions{files: saved.Files, pods: saved.Pods}
			keys := []any{"path", cfg.StateFile, "saved_at", saved.SavedAt, "files", len(saved.Files), "container_logs", len(saved.Pods)}
			switch {
			case afresh == nil:
				level.Info(cfg.Logger).Log(append([]any{"msg", "Resuming from the state file"}, keys...)...)
			case otherPseudonyms:
				savedFields, savedKey := "", ""
				if p := saved.Pseudonyms; p != nil {
					savedFields, savedKey = strings.Join(p.Fields, ","), p.KeyFingerprint
				}
				fields, key := labels.Pseudonymized()
				level.Warn(cfg.Logger).Log(append([]any{
					"msg", "Resuming from the state file, which was saved with other pseudonymization settings (--label.pseudonymize or its key): the inputs resume at their saved positions, but the families labelled from the log and the clients and users seen start afresh, and the sessions open then are forgotten, as their values are not this run's",
					"saved_pseudonymized", savedFields, "pseudonymized", strings.Join(fields, ","), "key_changed", savedKey != "" && key != "" && savedKey != key,
					"families_afresh", strings.Join(afresh, ","), "sessions_forgotten", len(saved.Collector.Sessions),
				}, keys...)...)
			default:
				level.Warn(cfg.Logger).Log(append([]any{
					"msg", "Resuming from the state file, which was saved with other labels: the inputs resume at their saved positions, but the families labelled from the log start afresh, and the sessions open then are forgotten (their series had the old labels)",
					"saved_labels", strings.Join(saved.Collector.Labels, ","), "labels", strings.Join(labels.Names(), ","),
					"families_afresh", strings.Join(afresh, ","), "sessions_forgotten", len(saved.Collector.Sessions),
				}, keys...)...)
			}
		}
		e.fresh = saved == nil
		if e.saver, err = statefile.NewSaver(statefile.SaverConfig{
			Path: cfg.StateFile, Interval: cfg.SaveInterval, Snapshot: e.Snapshot,
			Restored: saved != nil, RestoredSavedAt: savedAt(saved), Logger: cfg.Logger, Registerer: reg, Now: cfg.Now,
		}); err != nil {
			return nil, err
		}
	}
	var opened func()
	if e.merge != nil {
		opened = e.merge.Seal
	}
	if e.inputs, err = newInputs(cfg, ing.NewSink, opened, e.gate, resume, reg); err != nil {
		return nil, err
	}
	if o := cfg.OTLP; o != nil {
		if e.otlp, err = otlp.New(otlp.Config{
			Sink: ing.NewSink(otlp.Input, otlp.Input), Gate: e.gate,
			MaxRequestBytes: o.MaxRequestBytes, MaxInFlight: o.MaxInFlight, MaxLineBytes: cfg.MaxLineBytes,
			Logger: cfg.Logger, Registerer: reg,
		}); err != nil {
			return nil, fmt.Errorf("--otlp.listen-address: %w", err)
		}
	}
	e.ready = e.inputs.ready()
	return e, nil
}

// Registry holds every metric but the capped families; a /metrics handler
// registers its own metrics there.
func (e *Exporter) Registry() *prometheus.Registry { return e.registry }

// Capped holds the capped families, which Families also writes directly.
func (e *Exporter) Capped() *prometheus.Registry { return e.capped }

// Collector applies the events; its Families are the capped families.
func (e *Exporter) Collector() *collector.Collector { return e.coll }

// Gatherer gathers every metric.
func (e *Exporter) Gatherer() prometheus.Gatherer {
	return prometheus.Gatherers{e.registry, e.capped}
}

// OTLPHandler serves POST /v1/logs; nil without Config.OTLP.
func (e *Exporter) OTLPHandler() http.Handler {
	if e.otlp == nil {
		return nil
	}
	return e.otlp
}

// Ready is closed once every input has read what was there at start.
func (e *Exporter) Ready() <-chan struct{} { return e.ready }

// Once reads every input to its end and applies every event; the metrics
// are then those of the whole log, its sessions expired at its last event.
func (e *Exporter) Once(ctx context.Context) error {
	applied := make(chan struct{})
	go func() {
		e.coll.Run(e.events, nil, nil)
		close(applied)
	}()
	err := e.inputs.run(ctx)
	close(e.events)
	<-applied
	if err != nil {
		return fmt.Errorf("read inputs: %w", err)
	}
	// A saved log's "now" is its last event, not the wall clock.
	e.coll.Expire(e.coll.LatestEventTime())
	return nil
}

// savedAt is when saved was taken; zero without one.
func savedAt(saved *statefile.File) time.Time {
	if saved == nil {
		return time.Time{}
	}
	return saved.SavedAt
}
