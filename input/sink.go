package input

// Sink receives the lines of one input stream (one followed path, or stdin),
// in order, always from the same goroutine.
type Sink interface {
	// Line is called with one complete line without its trailing newline.
	// The slice stays valid until the Flush that follows returns, so a
	// Sink may hold a batch's lines and process them together at Flush.
	// A last line without a newline is delivered only once its file is
	// finished for good (rotated away, deleted, read in Once mode, stdin
	// at EOF); on shutdown it is not delivered.
	Line(line []byte)
	// LineTooLong is called for a line longer than the reader's limit,
	// whose size bytes were skipped without being held in memory.
	LineTooLong(size int)
	// Flush is called after each batch of lines (a chunk read), so that a
	// Sink may publish what it counts per batch rather than per line. A
	// Sink must not hold back anything past Flush: the state saver takes
	// its snapshot between batches.
	Flush()
	// Close is called once when the stream ends for good (file gone, stdin
	// at EOF, shutdown), so a half-joined record can be accounted for.
	Close()
}
