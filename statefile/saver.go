package statefile

import (
	"context"
	"fmt"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"github.com/prometheus/client_golang/prometheus"
)

// Saver writes the state file periodically and on demand.
type Saver struct {
	path     string
	interval time.Duration
	// snapshot takes the state at one instant; it is the caller's to stop
	// the inputs meanwhile. It returns how long the inputs were stopped.
	snapshot func() (*File, time.Duration, error)
	logger   log.Logger
	now      func() time.Time

	saves, failures prometheus.Counter
	lastSave        prometheus.Gauge
	size            prometheus.Gauge
	pause           prometheus.Gauge
	failing         bool // the last save failed: log the next success
	// kept is when the snapshot in the file in place was taken: that of
	// the last good save, or of the file restored; zero while there is
	// none.
	kept time.Time
}

// SaverConfig configures a Saver.
type SaverConfig struct {
	Path     string
	Interval time.Duration
	Snapshot func() (*File, time.Duration, error)
	Logger   log.Logger
	// Restored tells whether this run started from a state file, and
	// RestoredSavedAt is that file's SavedAt.
	Restored        bool
	RestoredSavedAt time.Time
	// Now is the clock of the save timestamps; time.Now when nil.
	Now        func() time.Time
	Registerer prometheus.Registerer
}

// NewSaver registers the saver's self-metrics.
func NewSaver(cfg SaverConfig) (*Saver, error) {
	if cfg.Interval <= 0 {
		return nil, fmt.Errorf("state: save interval must be positive, got %s", cfg.Interval)
	}
	s := &Saver{
		path: cfg.Path, interval: cfg.Interval, snapshot: cfg.Snapshot, logger: cfg.Logger, now: cfg.Now,
		saves: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "mirrord_exporter_state_saves_total",
			Help: "State file saves that succeeded.",
		}),
		failures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "mirrord_exporter_state_save_failures_total",
			Help: "State file saves that failed; the previous save stays in place.",
		}),
		lastSave: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "mirrord_exporter_state_last_save_timestamp_seconds",
			Help: "When the state file was last saved successfully, in seconds since the epoch; 0 before the first save.",
		}),
		size: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "mirrord_exporter_state_size_bytes",
			Help: "Size of the state file last saved.",
		}),
		pause: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "mirrord_exporter_state_snapshot_pause_seconds",
			Help: "How long the last save stopped the inputs to take its snapshot (writing the file happens after they resumed).",
		}),
	}
	restored := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "mirrord_exporter_state_restored",
		Help: "1 if this run started from the state file, 0 if it started afresh (no file, or one that could not be used).",
	})
	if cfg.Restored {
		restored.Set(1)
		s.kept = cfg.RestoredSavedAt
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.logger == nil {
		s.logger = log.NewNopLogger()
	}
	for _, c := range []prometheus.Collector{s.saves, s.failures, s.lastSave, s.size, s.pause, restored} {
		if err := cfg.Registerer.Register(c); err != nil {
			return nil, fmt.Errorf("state: register metrics: %w", err)
		}
	}
	return s, nil
}

// Run saves every interval, and at once whenever now delivers, until ctx is
// cancelled; each save starts the interval anew, so that a failure's retry
// comes one interval later. It does not save at the end: the caller calls
// SaveFinal when the inputs are to stop, before they do (a stopping input
// would count its half-joined record as lost).
func (s *Saver) Run(ctx context.Context, now <-chan struct{}) {
	t := time.NewTicker(s.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-now:
		}
		_ = s.Save()
		t.Reset(s.interval)
	}
}

// Save takes a snapshot and writes it. A failure is counted, and logged
// once while saves keep failing; the previous file stays.
func (s *Saver) Save() error {
	err := s.save()
	if err != nil {
		s.failures.Inc()
		if !s.failing {
			level.Error(s.logger).Log("msg", fmt.Sprintf("Saving the state file failed; retrying in %s and every %s after, logged again only once a save works. Until then %s", s.interval, s.interval, s.keptSave()), "path", s.path, "err", err)
		}
		s.failing = true
		return err
	}
	if s.failing {
		level.Info(s.logger).Log("msg", "Saving the state file works again", "path", s.path)
	}
	s.failing = false
	return nil
}

// SaveFinal is the save at shutdown, after which none is retried: it is
// logged whether it works or not, whatever the saves before it did.
func (s *Saver) SaveFinal() error {
	if err := s.save(); err != nil {
		s.failures.Inc()
		level.Error(s.logger).Log("msg", "Saving the state file at shutdown failed; "+s.keptSave(), "path", s.path, "err", err)
		return err
	}
	level.Info(s.logger).Log("msg", "Saved the state file", "path", s.path)
	return nil
}

// keptSave says what the state file holds while saves fail, and so what a
// restart does.
func (s *Saver) keptSave() string {
	if s.kept.IsZero() {
		return "there is no saved state: after a restart the exporter starts afresh"
	}
	return "the state file keeps the save of " + s.kept.UTC().Format(time.RFC3339) + ": after a restart the lines read since then are read again"
}

func (s *Saver) save() error {
	f, paused, err := s.snapshot()
	if err != nil {
		return fmt.Errorf("take snapshot: %w", err)
	}
	s.pause.Set(paused.Seconds())
	f.Version = Version
	n, err := Write(s.path, f)
	if err != nil {
		return err
	}
	s.kept = f.SavedAt
	s.saves.Inc()
	s.size.Set(float64(n))
	s.lastSave.Set(float64(s.now().UnixMilli()) / 1e3)
	level.Debug(s.logger).Log("msg", "Saved the state file", "path", s.path, "bytes", n, "inputs_paused", paused)
	return nil
}
