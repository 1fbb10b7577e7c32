package kube

import "github.com/mirrord-exporter/mirrord-exporter/input"

// minBufSize is the initial read buffer: large enough that a busy stream is
// read with few calls.
const minBufSize = 64 << 10

// newLineReader returns a splitter for one log stream that keeps the head of
// an over-long line, enough for its timestamp. Its buffer starts no larger
// than one line needs: one stream per container is open at once.
func newLineReader(limit int) *input.Splitter {
	return input.NewSplitter(limit, tsPrefixMax, min(minBufSize, limit+1))
}
