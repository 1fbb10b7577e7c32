package file

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/go-kit/log/level"
	"github.com/mirrord-exporter/mirrord-exporter/input"
)

// stdinName is both the --input.path value and the stream name of standard
// input.
const stdinName = "-"

// readStdin reads standard input to EOF with the same line reader as files.
// A blocking Read cannot be abandoned, so it runs in a helper goroutine that
// reads into the line reader's buffer only when handed it; on cancellation
// the stream ends without waiting for it. If the reader has a read deadline
// (a pipe from os.Pipe, say), the helper is unblocked too. A nil sink is
// made here.
func (m *Manager) readStdin(ctx context.Context, r io.Reader, sink input.Sink) error {
	if sink == nil {
		sink = m.cfg.NewSink(stdinName, stdinName)
	}
	defer sink.Close()
	lr := newLineReader(sink, m.maxLine, true)

	type result struct {
		n   int
		err error
	}
	req := make(chan []byte)
	res := make(chan result)
	quit := make(chan struct{})
	defer close(quit)
	go func() {
		for {
			select {
			case p := <-req:
				n, err := r.Read(p)
				select {
				case res <- result{n, err}:
				case <-quit:
					return
				}
				if err != nil {
					return
				}
			case <-quit:
				return
			}
		}
	}()

	for {
		select {
		case req <- lr.Space():
		case <-ctx.Done():
			return nil
		}
		var got result
		select {
		case got = <-res:
		case <-ctx.Done():
			if d, ok := r.(interface{ SetReadDeadline(time.Time) error }); ok {
				_ = d.SetReadDeadline(time.Now())
			}
			return nil
		}
		// Standard input has no position to save, but its deliveries still
		// stop while a snapshot is taken.
		m.cfg.Gate.Enter()
		if got.n > 0 {
			lr.commit(got.n)
		}
		if got.err != nil {
			lr.flush()
		}
		m.cfg.Gate.Leave()
		switch {
		case errors.Is(got.err, io.EOF):
			if !m.cfg.Once {
				level.Info(m.logger).Log("msg", "standard input reached end of file; its stream is closed")
			}
			return nil
		case got.err != nil:
			m.metrics.fileErrors.WithLabelValues(opRead).Inc()
			level.Warn(m.logger).Log("msg", "reading standard input failed; its stream is closed", "err", got.err)
			return fmt.Errorf("read standard input: %w", got.err)
		}
	}
}
