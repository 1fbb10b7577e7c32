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
}

// SaverConfig configures a Saver.
type SaverConfig struct {
	Path     string
	Interval time.Duration
	Snapshot func() (*File, time.Duration, error)
	Logger   log.Logger
	// Restored tells whether this run started from a state file.
	Restored bool
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
// cancelled. It does not save at the end: the caller saves once more when
// the inputs are to stop, before they do (a stopping input would count its
// half-joined record as lost).
func (s *Saver) Run(ctx context.Context, now <-chan struct{}) {
	t := time.NewTicker(s.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			_ = s.Save()
		case <-now:
			_ = s.Save()
		}
	}
}

// Save takes a snapshot and writes it. A failure is logged and counted; the
// previous file stays.
func (s *Saver) Save() error {
	err := s.save()
	if err != nil {
		s.failures.Inc()
		if !s.failing {
			level.Error(s.logger).Log("msg", "Saving the state file failed; keeping the previous one and retrying at the next interval. After a restart, the lines since the last good save are read again", "path", s.path, "err", err)
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
	s.saves.Inc()
	s.size.Set(float64(n))
	s.lastSave.Set(float64(s.now().UnixMilli()) / 1e3)
	level.Debug(s.logger).Log("msg", "Saved the state file", "path", s.path, "bytes", n, "inputs_paused", paused)
	return nil
}
