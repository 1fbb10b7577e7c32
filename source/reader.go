package source

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
)

const (
	// minBufSize is the initial read buffer: large enough that a busy file is
	// read with few syscalls.
	minBufSize = 64 << 10
	// fingerprintSize is how many leading bytes of a file identify its
	// content generation (to notice a truncate that regrew past our offset,
	// and to recognise the copy made by copytruncate).
	fingerprintSize = 1024
	// defaultMaxLineBytes applies when Config.MaxLineBytes is zero.
	defaultMaxLineBytes = 1 << 20
)

// lineReader splits a byte stream into lines and hands them to a Sink as
// sub-slices of its own buffer, so steady-state reading allocates nothing.
// It never holds more than max+1 bytes of one line: a longer line is
// discarded as it is read and reported by size once its newline arrives.
type lineReader struct {
	sink Sink
	max  int
	buf  []byte
	// buf[start:end] is the pending, not yet terminated, line.
	start, end int
	// skipping is set while discarding an over-long line; skipped counts
	// the bytes of it already discarded.
	skipping bool
	skipped  int
}

func newLineReader(sink Sink, maxLine int) *lineReader {
	return &lineReader{sink: sink, max: maxLine, buf: make([]byte, minBufSize)}
}

// space returns the free buffer after the pending bytes, for the next read.
// It compacts the pending line to the front, or grows the buffer (up to
// max+1) when one pending line fills all of it.
func (lr *lineReader) space() []byte {
	if lr.start == lr.end {
		lr.start, lr.end = 0, 0
	}
	if lr.end == len(lr.buf) {
		if lr.start > 0 {
			lr.end = copy(lr.buf, lr.buf[lr.start:lr.end])
			lr.start = 0
		} else {
			// A full buffer holding one pending line means that line is at
			// most max bytes long (commit switches to skipping beyond that),
			// so there is room to grow.
			nb := make([]byte, min(2*len(lr.buf), lr.max+1))
			copy(nb, lr.buf[:lr.end])
			lr.buf = nb
		}
	}
	return lr.buf[lr.end:]
}

// commit processes n bytes just read into the slice space returned.
func (lr *lineReader) commit(n int) {
	scan := lr.end
	lr.end += n
	for {
		i := bytes.IndexByte(lr.buf[scan:lr.end], '\n')
		if i < 0 {
			break
		}
		nl := scan + i
		line := lr.buf[lr.start:nl]
		switch {
		case lr.skipping:
			lr.sink.LineTooLong(lr.skipped + len(line))
			lr.skipping, lr.skipped = false, 0
		case len(line) > lr.max:
			lr.sink.LineTooLong(len(line))
		default:
			lr.sink.Line(line)
		}
		lr.start = nl + 1
		scan = lr.start
	}
	pending := lr.end - lr.start
	switch {
	case lr.skipping:
		lr.skipped += pending
		lr.start, lr.end = 0, 0
	case pending > lr.max:
		lr.skipping, lr.skipped = true, pending
		lr.start, lr.end = 0, 0
	}
}

// flush delivers the final unterminated line, if any: the stream it came
// from is over (rotated away, deleted, stdin closed, or read once).
func (lr *lineReader) flush() {
	pending := lr.end - lr.start
	switch {
	case lr.skipping:
		lr.sink.LineTooLong(lr.skipped + pending)
	case pending > 0:
		lr.sink.Line(lr.buf[lr.start:lr.end])
	}
	lr.reset()
}

// reset drops the pending line.
func (lr *lineReader) reset() {
	lr.start, lr.end = 0, 0
	lr.skipping, lr.skipped = false, 0
}

// pending is the number of bytes consumed from the input that belong to a
// line not yet delivered.
func (lr *lineReader) pending() int {
	return lr.end - lr.start + lr.skipped
}

// skipFragment makes the reader discard input up to the next newline and
// report it as too long, counting already bytes that were passed over.
func (lr *lineReader) skipFragment(already int) {
	lr.reset()
	lr.skipping, lr.skipped = true, already
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
	p := lr.space()
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
