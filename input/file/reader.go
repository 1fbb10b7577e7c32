package file

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/mirrord-exporter/mirrord-exporter/input"
)

const (
	// minBufSize is the initial read buffer: large enough that a busy file is
	// read with few syscalls.
	minBufSize = 64 << 10
	// backlogBufSize is the read buffer of a stream with a backlog: the
	// sink then gets batches large enough to spread over cores (ingest's
	// lanes), and the cost of handing them over is paid once per MiB.
	backlogBufSize = 1 << 20
	// backlogReads is how many reads in a row must fill the buffer before
	// it grows to backlogBufSize; a read that does not fill it (caught up)
	// shrinks it back. Growing thus takes at least 1 MiB read, so a file
	// that keeps catching up allocates less than it reads, and only files
	// being caught up hold a large buffer.
	backlogReads = backlogBufSize / minBufSize
	// fingerprintSize is how many leading bytes of a file identify its
	// content generation (to notice a truncate that regrew past our offset,
	// and to recognise the copy made by copytruncate).
	fingerprintSize = 1024
	// defaultMaxLineBytes applies when Config.MaxLineBytes is zero.
	defaultMaxLineBytes = 1 << 20
)

// lineReader delivers the lines an input.Splitter cuts to an input.Sink, so
// steady-state reading allocates nothing and a longer line than max is
// reported by size alone.
type lineReader struct {
	*input.Splitter
	sink      input.Sink
	max       int
	emit      input.EmitFunc // lr.deliver, bound once: binding per call allocates
	space     int            // length of the last Space
	fullReads int            // reads in a row that filled Space
	// backlog lets the buffer grow to backlogBufSize while a backlog is
	// read: for streams read to their end (--once, standard input). A
	// followed file keeps its reads small, so that it looks at its path
	// between them and sees rotations as they come.
	backlog bool
}

func newLineReader(sink input.Sink, maxLine int, backlog bool) *lineReader {
	// A full-size buffer even for a small max: a busy file is read with few
	// syscalls whatever the limit.
	lr := &lineReader{Splitter: input.NewSplitter(maxLine, 0, minBufSize), sink: sink, max: maxLine, backlog: backlog}
	lr.emit = lr.deliver
	return lr
}

func (lr *lineReader) deliver(line []byte, size int) error {
	if size > lr.max {
		lr.sink.LineTooLong(size)
	} else {
		lr.sink.Line(line)
	}
	return nil
}

// Space returns the buffer for the next read.
func (lr *lineReader) Space() []byte {
	p := lr.Splitter.Space()
	lr.space = len(p)
	return p
}

// commit delivers the lines completed by n bytes just read into Space.
func (lr *lineReader) commit(n int) {
	_ = lr.Commit(n, lr.emit) // deliver never fails
	lr.sink.Flush()
	switch {
	case !lr.backlog:
	case n < lr.space:
		lr.fullReads = 0
		lr.Resize(minBufSize)
	default:
		if lr.fullReads++; lr.fullReads >= backlogReads {
			lr.Resize(backlogBufSize)
		}
	}
}

// flush delivers the final unterminated line, if any: the stream it came
// from is over (rotated away, deleted, stdin closed, or read once).
func (lr *lineReader) flush() {
	_ = lr.Flush(lr.emit)
	lr.sink.Flush()
}

// errContentReplaced reports that a file's leading bytes no longer match the
// fingerprint taken when they were read: it was truncated (and possibly
// rewritten) under us.
var errContentReplaced = errors.New("file content replaced")

// openFile is one open generation of a followed path. Reads use ReadAt with
// our own offset, so off is exactly the position of the next unread byte.
type openFile struct {
	f    *os.File
	info os.FileInfo // fstat at open: the identity (device, inode)
	off  int64       // offset of the next unread byte
	size int64       // largest size observed, to account for unread bytes
	// fp holds the first fpLen bytes read from the file; fpLen grows as the
	// file is read, up to fingerprintSize.
	fp    [fingerprintSize]byte
	fpLen int
	check [fingerprintSize]byte // scratch for fingerprint checks
	// pickUpCopies is set while nothing was read from the current content
	// (just opened, or truncated): copytruncate could have copied and
	// truncated away whole generations unnoticed, so before the first read,
	// copies that appeared meanwhile are read.
	pickUpCopies bool
}

func openRegular(path string) (*openFile, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|openFlags, 0)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("fstat %s: %w", path, err)
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("open %s: not a regular file (%s)", path, fi.Mode().Type())
	}
	return &openFile{f: f, info: fi}, nil
}

// fingerprintMatches re-reads the leading bytes and compares them with what
// was read from them before.
func (of *openFile) fingerprintMatches() (bool, error) {
	if of.fpLen == 0 {
		return true, nil
	}
	n, err := of.f.ReadAt(of.check[:of.fpLen], 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return false, err
	}
	return n == of.fpLen && bytes.Equal(of.check[:n], of.fp[:n]), nil
}

// loadFingerprint reads the leading bytes up to the current offset (used
// when starting anywhere but at offset 0).
func (of *openFile) loadFingerprint() error {
	want := int(min(of.off, fingerprintSize))
	n, err := of.f.ReadAt(of.fp[:want], 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	of.fpLen = n
	return nil
}

// readChunk reads the next chunk into lr and delivers the lines it
// completes. Before delivering, it checks that the leading bytes are still
// the ones read earlier: a truncate that regrew past our offset would
// otherwise be read as if it continued the old content. It returns
// errContentReplaced (having delivered nothing) in that case.
func (of *openFile) readChunk(lr *lineReader) (n int, eof bool, err error) {
	p := lr.Space()
	n, err = of.f.ReadAt(p, of.off)
	if errors.Is(err, io.EOF) {
		eof, err = true, nil
	}
	if n == 0 {
		return 0, eof, err
	}
	ok, ferr := of.fingerprintMatches()
	if ferr != nil {
		return 0, false, ferr
	}
	if !ok {
		return 0, false, errContentReplaced
	}
	if of.off < fingerprintSize && of.off <= int64(of.fpLen) {
		// Contiguous with what the fingerprint holds (a copy read from the
		// middle has none and needs none: it does not change).
		of.fpLen = max(of.fpLen, copy(of.fp[of.off:], p[:n])+int(of.off))
	}
	of.off += int64(n)
	of.size = max(of.size, of.off)
	lr.commit(n)
	return n, eof, err
}

func (of *openFile) close() {
	of.f.Close()
}
