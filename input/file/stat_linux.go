package file

import (
	"os"
	"syscall"
	"time"
)

// openFlags makes opening a FIFO that replaced a log file return at once
// instead of blocking the follower until a writer shows up.
const openFlags = syscall.O_NONBLOCK

// linkCount reports how many names the open file still has; 0 means it was
// deleted (as opposed to renamed away). ok is false when unknown.
func linkCount(f *os.File) (n uint64, ok bool, err error) {
	fi, err := f.Stat()
	if err != nil {
		return 0, false, err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, false, nil
	}
	return uint64(st.Nlink), true, nil
}

// keyOf returns the file's identity (device and inode) as a map key.
func keyOf(fi os.FileInfo) (fileKey, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fileKey{}, false
	}
	return fileKey{dev: uint64(st.Dev), ino: uint64(st.Ino)}, true
}

// changeTime is the inode change time: a rename sets it, so rotated
// generations are ordered by it (see olderFirst).
func changeTime(fi os.FileInfo) time.Time {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fi.ModTime()
	}
	return time.Unix(int64(st.Ctim.Sec), int64(st.Ctim.Nsec))
}
