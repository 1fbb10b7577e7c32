// Package blocks writes a replay's samples as Prometheus TSDB blocks with
// the TSDB library (the code promtool's backfill uses), ready to be moved
// into a Prometheus data directory or uploaded to Thanos or Mimir.
//
// Blocks are cut as promtool cuts them: aligned to the block duration (2h
// unless asked for more, rounded down to one of Prometheus' compaction
// ranges), one TSDB head per block in memory, so memory grows with the
// number of series and not with the time span. They are written into a
// hidden staging directory beside them and moved into place only when the
// whole replay succeeded: a failed run leaves no block, and a killed one
// leaves only the staging directory, which Prometheus ignores and the next
// run removes.
package blocks

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/oklog/ulid/v2"
	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb"
)

// stagingName is the directory under Config.Dir where blocks are written
// until the run succeeds. Hidden, so that `mv DIR/* data/` leaves it, and
// not a block name, so that Prometheus ignores it.
const stagingName = ".mirrord-exporter-backfill"

// Config says where and how to write blocks.
type Config struct {
	// Dir receives the blocks. It must be empty or absent unless
	// Overwrite, and never a Prometheus data directory in use.
	Dir string
	// BlockDuration is the longest span of a block, as promtool's
	// --max-block-duration: below 2h means 2h, above it the largest of
	// Prometheus' compaction ranges (2h times powers of 3) not above it.
	BlockDuration time.Duration
	// Overwrite removes the blocks already in Dir.
	Overwrite bool
}

// Writer appends samples in time order into one TSDB head per block
// duration, and writes each head as a block once the samples moved past it.
type Writer struct {
	dir, staging string
	blockMillis  int64
	heads        map[int64]*head // by block start
	logger       *slog.Logger
	written      int
}

// head is the TSDB head of one block, and its appender of the current
// round of samples.
type head struct {
	w   *tsdb.BlockWriter
	app storage.Appender
}

// CompatibleBlockDuration is the block duration promtool takes for d.
func CompatibleBlockDuration(d time.Duration) time.Duration {
	base := time.Duration(tsdb.DefaultBlockDuration) * time.Millisecond
	if d <= base {
		return base
	}
	ranges := tsdb.ExponentialBlockRanges(tsdb.DefaultBlockDuration, 10, 3)
	best := ranges[0]
	for _, r := range ranges {
		if time.Duration(r)*time.Millisecond > d {
			break
		}
		best = r
	}
	return time.Duration(best) * time.Millisecond
}

// Open checks Dir and prepares the staging directory.
func Open(cfg Config) (*Writer, error) {
	if err := prepare(cfg.Dir, cfg.Overwrite); err != nil {
		return nil, err
	}
	staging := filepath.Join(cfg.Dir, stagingName)
	if err := os.MkdirAll(staging, 0o755); err != nil {
		return nil, fmt.Errorf("staging directory: %w", err)
	}
	return &Writer{
		dir: cfg.Dir, staging: staging,
		blockMillis: CompatibleBlockDuration(cfg.BlockDuration).Milliseconds(),
		heads:       map[int64]*head{},
		logger:      slog.New(slog.NewTextHandler(io.Discard, nil)),
	}, nil
}

// prepare refuses a directory with content unless overwrite, and one that
// looks like a Prometheus data directory in any case; with overwrite it
// removes the blocks there. A staging directory left by a killed run is
// removed either way: it was never published.
func prepare(dir string, overwrite bool) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("create %s: %w", dir, err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("read %s: %w", dir, err)
	}
	var blocks, others []string
	for _, e := range entries {
		name := e.Name()
		switch {
		case name == stagingName:
			if err := os.RemoveAll(filepath.Join(dir, name)); err != nil {
				return fmt.Errorf("remove the staging directory of an earlier run: %w", err)
			}
		case name == "wal" || name == "lock" || name == "chunks_head":
			return fmt.Errorf("%s looks like the data directory of a Prometheus (it has %s): write the blocks elsewhere, then move them in while Prometheus is stopped", dir, name)
		case name == "lost+found":
		case e.IsDir() && isBlockName(name):
			blocks = append(blocks, name)
		default:
			others = append(others, name)
		}
	}
	switch {
	case len(others) > 0:
		return fmt.Errorf("%s holds files that are not TSDB blocks (%s): give an empty or new directory", dir, strings.Join(others, ", "))
	case len(blocks) > 0 && !overwrite:
		return fmt.Errorf("%s already holds %d blocks: give an empty or new directory, or --tsdb.overwrite to replace them", dir, len(blocks))
	}
	for _, b := range blocks {
		if err := os.RemoveAll(filepath.Join(dir, b)); err != nil {
			return fmt.Errorf("remove block %s: %w", b, err)
		}
	}
	return nil
}

// isBlockName reports whether name is a block's (a ULID) or a block being
// created or deleted by the TSDB.
func isBlockName(name string) bool {
	base, _, _ := strings.Cut(name, ".")
	_, err := ulid.ParseStrict(base)
	return err == nil
}

// blockOf returns the start of the block holding t.
func (w *Writer) blockOf(t int64) int64 {
	b := t - t%w.blockMillis
	if t < 0 && t%w.blockMillis != 0 {
		b -= w.blockMillis
	}
	return b
}

// appender returns the appender of t's block in the current round.
func (w *Writer) appender(t int64) (storage.Appender, error) {
	start := w.blockOf(t)
	h, ok := w.heads[start]
	if !ok {
		// Twice the block duration, as promtool does: a head takes samples
		// at most half its chunk range older than its newest, and a new
		// series' zero sample is one step older.
		bw, err := tsdb.NewBlockWriter(w.logger, w.staging, 2*w.blockMillis)
		if err != nil {
			return nil, fmt.Errorf("block writer: %w", err)
		}
		h = &head{w: bw}
		w.heads[start] = h
	}
	if h.app == nil {
		h.app = h.w.Appender(context.Background())
	}
	return h.app, nil
}

// floatSeries is one series to append to: its labels, and its reference
// in the head of the block it was last appended to (a reference is valid
// within one head only).
type floatSeries struct {
	labels labels.Labels
	ref    storage.SeriesRef
	block  int64
}

func newFloatSeries(l labels.Labels) floatSeries {
	return floatSeries{labels: l, block: math.MinInt64}
}

// refAt returns fs's reference for an append at t, 0 when t is in another
// block than its last append, and notes t's block.
func (w *Writer) refAt(fs *floatSeries, t int64) storage.SeriesRef {
	if b := w.blockOf(t); b != fs.block {
		fs.ref, fs.block = 0, b
	}
	return fs.ref
}

// Float appends a float sample to fs.
func (w *Writer) Float(fs *floatSeries, t int64, v float64) error {
	app, err := w.appender(t)
	if err != nil {
		return err
	}
	if fs.ref, err = app.Append(w.refAt(fs, t), fs.labels, t, v); err != nil {
		return fmt.Errorf("append %s at %d: %w", fs.labels, t, err)
	}
	return nil
}

// Histogram appends a native histogram sample to fs; h must not be changed
// afterwards.
func (w *Writer) Histogram(fs *floatSeries, t int64, h *histogram.Histogram) error {
	app, err := w.appender(t)
	if err != nil {
		return err
	}
	if fs.ref, err = app.AppendHistogram(w.refAt(fs, t), fs.labels, t, h, nil); err != nil {
		return fmt.Errorf("append %s at %d: %w", fs.labels, t, err)
	}
	return nil
}

// Commit ends a round of samples and writes the blocks that end at or
// before oldest: no later sample goes before oldest.
func (w *Writer) Commit(oldest int64) error {
	for _, h := range w.heads {
		if h.app != nil {
			if err := h.app.Commit(); err != nil {
				return fmt.Errorf("commit samples: %w", err)
			}
			h.app = nil
		}
	}
	return w.flushBefore(w.blockOf(oldest))
}

// flushBefore writes every head of a block starting before limit.
func (w *Writer) flushBefore(limit int64) error {
	starts := make([]int64, 0, len(w.heads))
	for start := range w.heads {
		if start < limit {
			starts = append(starts, start)
		}
	}
	slices.Sort(starts)
	for _, start := range starts {
		h := w.heads[start]
		delete(w.heads, start)
		_, err := h.w.Flush(context.Background())
		cerr := h.w.Close()
		if err != nil && !errors.Is(err, tsdb.ErrNoSeriesAppended) {
			return fmt.Errorf("write block at %s: %w", time.UnixMilli(start).UTC().Format(time.RFC3339), err)
		}
		if cerr != nil {
			return fmt.Errorf("close block writer: %w", cerr)
		}
		if err == nil {
			w.written++
		}
	}
	return nil
}

// Finish writes the remaining blocks and moves every block into Dir. It
// returns how many blocks there are.
func (w *Writer) Finish() (int, error) {
	if err := w.flushBefore(1<<63 - 1); err != nil {
		return 0, err
	}
	entries, err := os.ReadDir(w.staging)
	if err != nil {
		return 0, fmt.Errorf("read staging directory: %w", err)
	}
	n := 0
	for _, e := range entries {
		if !e.IsDir() || !isBlockName(e.Name()) || strings.Contains(e.Name(), ".") {
			continue
		}
		if err := os.Rename(filepath.Join(w.staging, e.Name()), filepath.Join(w.dir, e.Name())); err != nil {
			return n, fmt.Errorf("move block into %s: %w", w.dir, err)
		}
		n++
	}
	if err := os.RemoveAll(w.staging); err != nil {
		return n, fmt.Errorf("remove staging directory: %w", err)
	}
	return n, nil
}

// Abort drops the heads and the staging directory with every block written
// so far.
func (w *Writer) Abort() error {
	var errs []error
	for start, h := range w.heads {
		errs = append(errs, h.w.Close())
		delete(w.heads, start)
	}
	errs = append(errs, os.RemoveAll(w.staging))
	return errors.Join(errs...)
}
