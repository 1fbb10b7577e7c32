package file

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/mirrord-exporter/mirrord-exporter/input"
)

// defaultPollInterval applies when Config.PollInterval is zero.
const defaultPollInterval = 200 * time.Millisecond

// graceIntervals is how many poll intervals a glob-matched path may be
// missing before its follower gives up on the renamed-away file it still
// holds. A rename rotation recreates the path within that time.
const graceIntervals = 20

// unmatchedAlarm is how long the globs may match no file before that is
// logged at error level: long enough for a pod rollout or a rotation,
// shorter than the MirrordExporterNoLogFile alert's 15 minutes.
const unmatchedAlarm = 5 * time.Minute

// Config configures a Manager.
type Config struct {
	// Paths are the --input.path values: glob patterns (filepath.Glob syntax)
	// or literal paths; "-" means standard input.
	Paths []string
	// FromEnd starts files present at start at their current end (the line
	// being written then is taken whole). Files that appear later are
	// always read from their start.
	FromEnd bool
	// MaxLineBytes is the longest line delivered; longer lines are skipped
	// without being held in memory and reported via input.Sink.LineTooLong.
	// Zero means 1 MiB.
	MaxLineBytes int
	// PollInterval is the safety-net stat poll and glob rescan interval.
	// Zero means 200ms.
	PollInterval time.Duration
	// DisableInotify makes followers poll only. Polling only is also chosen
	// when an inotify instance cannot be created.
	DisableInotify bool
	// Once reads every input to its current end, then stops.
	Once bool
	// Stdin is read for the "-" path; nil means os.Stdin.
	Stdin io.Reader
	// NewSink is called once per stream: input is the --input.path value
	// the stream came from, name the file path (or "-"). When following, it
	// is called from the goroutine that then feeds the stream; in Once
	// mode, for every stream before any is read.
	NewSink func(input, name string) input.Sink
	// Opened, if set, is called in Once mode once every stream's sink
	// exists, before any is read: a consumer merging the streams by time
	// then knows them all.
	Opened func()
	// Logger receives the source's logs; nil discards them.
	Logger log.Logger
	// Registerer receives the self-metrics; nil leaves them unregistered.
	Registerer prometheus.Registerer
	// Gate, when set, is entered around every delivery of lines, and the
	// followed paths publish their positions (see Positions) inside it.
	Gate *input.Gate
	// Resume are the positions saved by an earlier run: each followed path
	// with one resumes there (see FilePosition), and the other files of
	// their inputs are read from their start, FromEnd notwithstanding,
	// since they appeared after the save.
	Resume []FilePosition
}

// Manager follows the configured inputs.
type Manager struct {
	cfg     Config
	logger  log.Logger
	metrics *metrics
	maxLine int
	poll    time.Duration
	grace   time.Duration
	// unmatchedPolls is unmatchedAlarm in poll intervals.
	unmatchedPolls int

	stdin    bool
	literals []pathArg
	globs    []pathArg

	useInotify bool
	running    atomic.Bool

	// newTicker is replaced by tests that drive polls by hand.
	newTicker func(time.Duration) (<-chan time.Time, func())

	caughtUp     chan struct{}
	caughtUpOnce sync.Once
	rescan       chan struct{} // Rescan's request to look for new files now
	pending      atomic.Int64  // initial inputs not yet read to their end

	// resume holds the saved positions not taken by a follower yet, by
	// path; resumedInputs the inputs that had any.
	resume        map[string]*FilePosition
	resumedInputs map[string]bool
	followersMu   sync.Mutex
	followers     map[*follower]bool
}

type pathArg struct {
	value string // as given
	path  string // cleaned
}

// New validates cfg and registers the self-metrics.
func New(cfg Config) (*Manager, error) {
	if len(cfg.Paths) == 0 {
		return nil, errors.New("file: no log paths configured")
	}
	if cfg.NewSink == nil {
		return nil, errors.New("file: NewSink is required")
	}
	if cfg.MaxLineBytes < 0 {
		return nil, fmt.Errorf("file: negative max line bytes %d", cfg.MaxLineBytes)
	}
	if cfg.PollInterval < 0 {
		return nil, fmt.Errorf("file: negative poll interval %s", cfg.PollInterval)
	}
	m := &Manager{
		cfg:       cfg,
		logger:    cfg.Logger,
		maxLine:   cfg.MaxLineBytes,
		poll:      cfg.PollInterval,
		newTicker: realTicker,
		caughtUp:  make(chan struct{}),
		rescan:    make(chan struct{}, 1),
	}
	if m.logger == nil {
		m.logger = log.NewNopLogger()
	}
	if m.maxLine == 0 {
		m.maxLine = defaultMaxLineBytes
	}
	if m.poll == 0 {
		m.poll = defaultPollInterval
	}
	m.grace = graceIntervals * m.poll
	m.unmatchedPolls = max(1, int(unmatchedAlarm/m.poll))
	for _, p := range cfg.Paths {
		switch {
		case p == stdinName:
			if m.stdin {
				return nil, errors.New(`source: log path "-" (standard input) given more than once`)
			}
			m.stdin = true
		case p == "":
			return nil, errors.New("file: empty log path")
		case isGlob(p):
			if _, err := filepath.Match(p, ""); err != nil {
				return nil, fmt.Errorf("file: log path %q: %w", p, err)
			}
			m.globs = append(m.globs, pathArg{value: p, path: p})
		default:
			m.literals = append(m.literals, pathArg{value: p, path: filepath.Clean(p)})
		}
	}
	if m.cfg.Stdin == nil {
		m.cfg.Stdin = os.Stdin
	}
	m.followers = make(map[*follower]bool)
	m.resume = make(map[string]*FilePosition, len(cfg.Resume))
	m.resumedInputs = make(map[string]bool)
	for i := range cfg.Resume {
		pos := &cfg.Resume[i]
		m.resume[filepath.Clean(pos.Path)] = pos
		m.resumedInputs[pos.Input] = true
	}
	var err error
	if m.metrics, err = newMetrics(cfg.Registerer); err != nil {
		return nil, err
	}
	return m, nil
}

func (m *Manager) globValues() []string {
	values := make([]string, len(m.globs))
	for i, g := range m.globs {
		values[i] = g.value
	}
	return values
}

func isGlob(p string) bool {
	return strings.ContainsAny(p, "*?[")
}

func realTicker(d time.Duration) (<-chan time.Time, func()) {
	t := time.NewTicker(d)
	return t.C, t.Stop
}

// Rescan makes Run look for new files matching the globs now rather than at
// the next poll. It never blocks.
func (m *Manager) Rescan() {
	select {
	case m.rescan <- struct{}{}:
	default:
	}
}

// CaughtUp is closed once every input present at start has been read to its
// end once (or failed to open once: an unreadable file does not hold
// readiness forever). Standard input does not take part: it has no end to
// catch up with.
func (m *Manager) CaughtUp() <-chan struct{} {
	return m.caughtUp
}

// readDone records that one initial input was read to its end once.
func (m *Manager) readDone() {
	if m.pending.Add(-1) == 0 {
		m.caughtUpOnce.Do(func() { close(m.caughtUp) })
	}
}

// Run reads the inputs. In Once mode it returns when every input has been
// read to its end, with an error if a literal path does not exist or a file
// could not be read. Otherwise it follows until ctx is cancelled and returns
// once every stream has stopped and its input.Sink was closed.
func (m *Manager) Run(ctx context.Context) error {
	if !m.running.CompareAndSwap(false, true) {
		return errors.New("file: Run called more than once")
	}
	m.useInotify = !m.cfg.DisableInotify && !m.cfg.Once
	if m.useInotify {
		if err := inotifyUsable(); err != nil {
			level.Warn(m.logger).Log("msg", "cannot create an inotify instance; polling files only. Raise fs.inotify.max_user_instances to get low-latency following", "err", err)
			m.useInotify = false
		}
	}
	if m.cfg.Once {
		return m.runOnce(ctx)
	}
	return m.runFollow(ctx)
}

// match expands a glob to the regular files (following symlinks) it
// matches now. Dangling symlinks and other non-regular files are skipped:
// there is nothing to read.
// Paths in skip are left out (without a stat).
func (m *Manager) match(g pathArg, skip map[string]bool) (paths []string, matched bool) {
	found, _ := filepath.Glob(g.value) // the pattern was validated in New
	for _, p := range found {
		if skip[p] {
			matched = true
			continue
		}
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
			paths = append(paths, p)
		}
	}
	return paths, matched || len(paths) > 0
}

// track adds a follower to, or removes it from, those whose positions are
// saved.
func (m *Manager) track(fl *follower, running bool) {
	m.followersMu.Lock()
	defer m.followersMu.Unlock()
	if running {
		m.followers[fl] = true
	} else {
		delete(m.followers, fl)
	}
}

func (m *Manager) runFollow(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	ended := make(chan string)
	active := make(map[string]bool)

	// pending starts at 1 for the initial scan itself, so CaughtUp cannot
	// close before every initial follower was counted.
	m.pending.Add(1)
	start := func(in pathArg, path string, ephemeral, initial bool) {
		active[path] = true
		if initial {
			m.pending.Add(1)
		}
		// Inside the Gate: a saved position moves from m.resume to the
		// follower, and a snapshot must see it in one place or the other.
		m.cfg.Gate.Enter()
		fl := m.newFollower(in.value, path, ephemeral, initial)
		m.track(fl, true)
		m.cfg.Gate.Leave()
		wg.Add(1)
		go func() {
			defer wg.Done()
			fl.run(ctx)
			select {
			case ended <- path:
			case <-ctx.Done():
			}
		}()
	}

	if m.stdin {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = m.readStdin(ctx, m.cfg.Stdin, nil)
		}()
	}
	for _, in := range m.literals {
		if active[in.path] {
			continue
		}
		_, err := os.Stat(in.path)
		start(in, in.path, false, err == nil)
	}
	for _, g := range m.globs {
		paths, matched := m.match(g, active)
		if !matched {
			level.Info(m.logger).Log("msg", "no file matches the log path yet; rescanning", "input", g.value)
		}
		for _, p := range paths {
			start(g, p, true, true)
		}
	}
	m.readDone()
	m.cfg.Gate.Enter()
	for path, pos := range m.resume {
		level.Warn(m.logger).Log("msg", "a saved position is not used: its path is not followed now, and what was left to read of it is not read", "path", path, "input", pos.Input, "offset", pos.Offset)
	}
	clear(m.resume)
	m.cfg.Gate.Leave()

	lookForNewFiles := func() {
		for _, g := range m.globs {
			paths, _ := m.match(g, active)
			for _, p := range paths {
				level.Info(m.logger).Log("msg", "following new file", "input", g.value, "path", p)
				start(g, p, true, false)
			}
		}
	}
	// unmatched counts the polls in a row at which nothing was followed.
	unmatched := 0
	noteMatches := func() {
		if len(active) > 0 || m.stdin {
			if unmatched >= m.unmatchedPolls {
				level.Info(m.logger).Log("msg", "a file matches the log path now", "input", strings.Join(m.globValues(), ","))
			}
			unmatched = 0
			return
		}
		if unmatched++; unmatched == m.unmatchedPolls {
			level.Error(m.logger).Log("msg", fmt.Sprintf("no file has matched the log path for %s, so no operator log is read. Where no mirrord operator pod runs on this node that is expected; otherwise check --input.path (the Helm chart's files mode builds it from operator.namespace and operator.container) and that the kubelet's /var/log/containers is mounted", time.Duration(m.unmatchedPolls)*m.poll), "input", strings.Join(m.globValues(), ","))
		}
	}
	var tick <-chan time.Time
	if len(m.globs) > 0 {
		c, stop := m.newTicker(m.poll)
		defer stop()
		tick = c
	}
	for {
		select {
		case <-ctx.Done():
			wg.Wait()
			return nil
		case p := <-ended:
			delete(active, p)
		case <-m.rescan:
			lookForNewFiles()
		case <-tick:
			lookForNewFiles()
			noteMatches()
		}
	}
}
