package file

import (
	"errors"
	"os"
	"path/filepath"

	"github.com/fsnotify/fsnotify"
	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"github.com/nxadm/tail/watch"
	"gopkg.in/tomb.v1"
)

// inotifyUsable checks that an inotify instance can be created. The
// library's shared tracker calls os.Exit when it cannot create one, so it
// must not be used unless this succeeds.
func inotifyUsable() error {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return err
	}
	return w.Close()
}

type subscription int

const (
	subNone   subscription = iota
	subFile                // watching the inode the path named when subscribed
	subCreate              // waiting for the path to be created
)

// notifier turns the library's inotify tracker into wake-ups for one
// follower. It is used only from the follower's goroutine.
//
// The tracker keys its channels by file name and shares them between all
// subscriptions for that name, so a notifier keeps at most one subscription
// live for its path and waits for the previous one to be fully removed
// before making the next.
type notifier struct {
	path   string
	wake   chan struct{}
	logger log.Logger

	kind  subscription
	ident os.FileInfo   // subFile: what the watch is on
	stop  chan struct{} // subFile: closed to stop the forwarder
	tomb  *tomb.Tomb    // subCreate: killed to stop BlockUntilExists
	done  chan struct{} // closed once the subscription is fully removed

	// broken is set once the tracker's state for our path could not be
	// cleaned up; the path is then polled only. createBroke is written by
	// the BlockUntilExists goroutine before it closes done.
	broken      bool
	createBroke bool
}

func newNotifier(path string, wake chan struct{}, logger log.Logger) *notifier {
	return &notifier{path: path, wake: wake, logger: logger}
}

func closed(ch chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

func poke(wake chan struct{}) {
	select {
	case wake <- struct{}{}:
	default:
	}
}

// watchFile makes sure the inode the path names now (st) is watched.
func (n *notifier) watchFile(st os.FileInfo) {
	if n.kind == subFile && os.SameFile(n.ident, st) {
		return
	}
	n.disarm()
	if n.broken {
		return
	}
	if err := watch.Watch(n.path); err != nil {
		level.Debug(n.logger).Log("msg", "cannot watch file, polling it", "path", n.path, "err", err)
		n.scrub()
		return
	}
	stop, done := make(chan struct{}), make(chan struct{})
	go forward(n.path, watch.Events(n.path), n.wake, stop, done)
	n.kind, n.ident, n.stop, n.done = subFile, st, stop, done
	// A write between our last read and the watch would otherwise wait for
	// the poll.
	poke(n.wake)
}

// watchCreate waits (in the background) for the path to be created.
func (n *notifier) watchCreate() {
	if n.kind == subCreate && !closed(n.done) {
		return
	}
	n.disarm()
	if n.broken {
		return
	}
	// The tracker leaves state behind when the directory cannot be watched;
	// do not even try when it does not exist.
	if fi, err := os.Stat(filepath.Dir(n.path)); err != nil || !fi.IsDir() {
		return
	}
	t, done := new(tomb.Tomb), make(chan struct{})
	path, wake, logger := n.path, n.wake, n.logger
	n.createBroke = false
	go func() {
		defer close(done)
		err := watch.NewInotifyFileWatcher(path).BlockUntilExists(t)
		switch {
		case err == nil:
			poke(wake)
		case errors.Is(err, tomb.ErrDying):
		default:
			level.Debug(logger).Log("msg", "cannot wait for file creation, polling it", "path", path, "err", err)
			if watch.Events(path) != nil {
				// WatchCreate failed after registering our name.
				_ = watch.RemoveWatch(path)
				n.createBroke = true
			}
		}
	}()
	n.kind, n.tomb, n.done = subCreate, t, done
}

// scrub removes what a failed tracker Watch left registered under our name:
// left there, it would block the tracker (and every watch in the process)
// the next time an event for the name arrives through a directory watch.
// RemoveWatch unblocks the tracker before it needs it, so it cannot hang;
// but it skews the tracker's count for the name, so the path is polled only
// from then on. Only files already opened are watched, so this takes a full
// inotify (max_user_watches) or a file vanishing in between.
func (n *notifier) scrub() {
	if watch.Events(n.path) != nil {
		_ = watch.RemoveWatch(n.path)
		n.broken = true
	}
}

// disarm removes the current subscription and waits until it is gone.
func (n *notifier) disarm() {
	switch n.kind {
	case subFile:
		close(n.stop)
	case subCreate:
		n.tomb.Kill(nil)
	default:
		return
	}
	<-n.done
	if n.createBroke {
		n.broken = true
	}
	n.kind, n.ident, n.stop, n.tomb, n.done = subNone, nil, nil, nil, nil
}

// forward turns tracker events into wake-ups. It always receives promptly:
// the tracker delivers events synchronously from its single goroutine.
func forward(path string, events <-chan fsnotify.Event, wake, stop, done chan struct{}) {
	defer close(done)
	for {
		select {
		case _, ok := <-events:
			if !ok {
				// Removed by someone else: nothing of ours left to remove.
				events = nil
				continue
			}
			poke(wake)
		case <-stop:
			if events != nil {
				_ = watch.RemoveWatch(path)
			}
			return
		}
	}
}
