// Package unwrap extracts log records from the container runtime wrappers a
// log line may come in: Docker json-file, CRI (containerd, CRI-O) or none.
//
// It is pure bytes-in, bytes-out: a Stream is fed physical lines (newline
// already stripped) and returns the record text inside, joining the parts of
// records the runtime split. It knows nothing of what the records mean.
package unwrap

import (
	"errors"
	"fmt"
	"strconv"
)

// Format is the wrapper of the lines of a stream.
type Format int

const (
	// Auto detects the wrapper of every line on its own.
	Auto Format = iota
	// JSON means no wrapper: the line is the record (named after the
	// tracing JSON records the exporter expects; any text is accepted).
	JSON
	// Docker is the Docker json-file log driver format.
	Docker
	// CRI is the format the kubelet's runtimes write (containerd, CRI-O).
	CRI
)

// ErrUnknownFormat is wrapped by ParseFormat for a name it does not know.
var ErrUnknownFormat = errors.New("unknown log format")

// ParseFormat parses a format name as given on the command line.
func ParseFormat(s string) (Format, error) {
	switch s {
	case "auto":
		return Auto, nil
	case "json":
		return JSON, nil
	case "docker":
		return Docker, nil
	case "cri":
		return CRI, nil
	}
	return Auto, fmt.Errorf("%w %q: valid values are auto, json, docker, cri", ErrUnknownFormat, s)
}

// String returns the name ParseFormat accepts for f.
func (f Format) String() string {
	switch f {
	case Auto:
		return "auto"
	case JSON:
		return "json"
	case Docker:
		return "docker"
	case CRI:
		return "cri"
	}
	return "Format(" + strconv.Itoa(int(f)) + ")"
}

// dockerPrefix is how every line of a Docker json-file log starts, because
// Docker always writes the "log" key first. Auto detection relies on it;
// forced Docker mode accepts any key order.
const dockerPrefix = `{"log":`

// isDockerLine reports whether auto detection takes line for Docker.
func isDockerLine(line []byte) bool {
	return len(line) >= len(dockerPrefix) && string(line[:len(dockerPrefix)]) == dockerPrefix
}
