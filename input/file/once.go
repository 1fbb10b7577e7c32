package file

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sync"

	"github.com/go-kit/log/level"

	"github.com/mirrord-exporter/mirrord-exporter/input"
)

// runOnce reads every input present now to its end, one goroutine per
// stream, and returns the joined errors.
func (m *Manager) runOnce(ctx context.Context) error {
	type target struct {
		input, path string
	}
	var targets []target
	seen := make(map[string]bool)
	for _, in := range m.literals {
		if seen[in.path] {
			continue
		}
		if _, err := os.Stat(in.path); err != nil {
			return fmt.Errorf("file: log path %s: %w", in.value, err)
		}
		seen[in.path] = true
		targets = append(targets, target{in.value, in.path})
	}
	for _, g := range m.globs {
		paths, matched := m.match(g, seen)
		if !matched {
			level.Warn(m.logger).Log("msg", "no file matches the log path", "input", g.value)
		}
		for _, p := range paths {
			seen[p] = true
			targets = append(targets, target{g.value, p})
		}
	}

	// Every stream's sink exists before any is read, so that a consumer
	// merging the streams by time knows them all (Config.Opened).
	sinks := make([]input.Sink, len(targets))
	for i, t := range targets {
		sinks[i] = m.cfg.NewSink(t.input, t.path)
	}
	var stdinSink input.Sink
	if m.stdin {
		stdinSink = m.cfg.NewSink(stdinName, stdinName)
	}
	if m.cfg.Opened != nil {
		m.cfg.Opened()
	}

	m.pending.Add(int64(len(targets)) + 1)
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	report := func(err error) {
		if err != nil {
			mu.Lock()
			errs = append(errs, err)
			mu.Unlock()
		}
	}
	if m.stdin {
		wg.Add(1)
		go func() {
			defer wg.Done()
			report(m.readStdin(ctx, m.cfg.Stdin, stdinSink))
		}()
	}
	for i, t := range targets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer m.readDone()
			report(m.readOnce(ctx, t.path, sinks[i]))
		}()
	}
	m.readDone()
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return err
	}
	return errors.Join(errs...)
}

// readOnce reads one file from its start (or end, with FromEnd) to its
// current end into sink, delivers its final unterminated line too, and
// closes sink.
func (m *Manager) readOnce(ctx context.Context, path string, sink input.Sink) error {
	defer sink.Close()
	of, err := openRegular(path)
	if err != nil {
		m.metrics.fileErrors.WithLabelValues(opOpen).Inc()
		if errors.Is(err, fs.ErrNotExist) {
			// Rotated away since it was listed: nothing present to read.
			level.Warn(m.logger).Log("msg", "log file vanished before it could be read", "path", path)
			return nil
		}
		level.Warn(m.logger).Log("msg", "cannot open log file", "path", path, "err", err)
		return fmt.Errorf("file: %w", err)
	}
	m.metrics.filesFollowed.Inc()
	defer func() {
		of.close()
		m.metrics.filesFollowed.Dec()
	}()
	fl := &follower{m: m, path: path, sink: sink, lr: newLineReader(sink, m.maxLine, true)}
	if m.cfg.FromEnd {
		if err := fl.startAtEnd(of); err != nil {
			m.metrics.fileErrors.WithLabelValues(opRead).Inc()
			return fmt.Errorf("file: %w", err)
		}
	}
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		_, eof, err := of.readChunk(fl.lr)
		if err != nil {
			m.metrics.fileErrors.WithLabelValues(opRead).Inc()
			level.Warn(m.logger).Log("msg", "reading log file failed", "path", path, "err", err)
			return fmt.Errorf("file: read %s: %w", path, err)
		}
		if eof {
			fl.lr.flush()
			return nil
		}
	}
}
