// Package file follows log inputs (glob-matched or literal file paths, and
// standard input) and hands every complete line, in order, to a per-stream
// input.Sink: no line lost, none delivered twice.
//
// Following uses github.com/nxadm/tail, as the design requires, but only its
// inotify tracker (package watch) and only to wake a follower early. Its
// TailFile loses lines: on EOF it picks at random between "modified" and
// "moved/deleted" and reopens without draining the old file, it sees
// truncation by size only, it allocates a *Line per line, and its watchers
// call os.Exit when inotify is unavailable or a stat fails oddly (ChangeEvents
// included, hence watch.Watch/Events/RemoveWatch with our own forwarder).
// Reading, rotation and truncation handling are ours: pread at an exact
// offset into one reusable buffer, a fingerprint of the leading bytes to see
// a truncate that regrew, every generation the path names held until drained
// (and ones rotated away unseen found under their rotated names), bytes cut by
// copytruncate taken from the copy, and a poll every PollInterval as the
// safety net, whether or not inotify delivers.
package file
