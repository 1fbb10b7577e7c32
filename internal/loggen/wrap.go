package loggen

import (
	"bufio"
	"math/rand/v2"
	"time"
	"unicode/utf8"
)

// partMax is the most text one Docker or CRI line carries: both runtimes
// split longer output into 16 KiB parts.
const partMax = 16 << 10

// sink writes records in the chosen wrapper and counts lines and records.
type sink struct {
	w    *bufio.Writer
	mode Wrapper
	// rng jitters the runtime's timestamps. It is separate from the
	// generator's so that the records are the same under every wrapper.
	rng            *rand.Rand
	last           int64 // runtime time of the last line, unix ns
	lines, records int
	line           []byte
}

func newSink(w *bufio.Writer, mode Wrapper, seed int64) *sink {
	return &sink{w: w, mode: mode, rng: rand.New(rand.NewPCG(uint64(seed), 0x77726170)), line: make([]byte, 0, 2*partMax)}
}

// record writes one record b (without its newline) logged at us (unix µs).
// between are stderr records that the runtime wrote while b was being
// split: between its first and second part under Docker and CRI, after it
// in Raw (or when b has one part).
func (s *sink) record(b []byte, stderr bool, us int64, between [][]byte) {
	s.records += 1 + len(between)
	switch s.mode {
	case Raw:
		s.raw(b)
		for _, x := range between {
			s.raw(x)
		}
	case Docker:
		s.docker(b, stderr, us, between)
	default:
		s.cri(b, stderr, us, between)
	}
}

func (s *sink) raw(b []byte) {
	s.w.Write(b)
	s.w.WriteByte('\n')
	s.lines++
}

// stamp gives the runtime's time of the next line of a record logged at us:
// a little later than the record, and strictly increasing.
func (s *sink) stamp(us int64) int64 {
	ns := us*1000 + 20_000 + s.rng.Int64N(400_000)
	s.last = max(ns, s.last+1+s.rng.Int64N(1000))
	return s.last
}

func streamName(stderr bool) string {
	if stderr {
		return "stderr"
	}
	return "stdout"
}

// docker writes b as json-file lines. The newline belongs to the text, so
// only the last part's "log" ends with "\n". Parts end on rune boundaries:
// Docker would turn a split rune into U+FFFD and spoil the record.
func (s *sink) docker(b []byte, stderr bool, us int64, between [][]byte) {
	for start := 0; ; {
		end := len(b)
		if len(b)+1-start > partMax {
			// Leave at least one byte with the newline for the last part.
			end = min(start+partMax, len(b)-1)
			for !utf8.RuneStart(b[end]) {
				end--
			}
		}
		last := end == len(b)
		s.line = append(s.line[:0], `{"log":`...)
		s.line = appendJSONString(s.line, b[start:end])
		if last {
			s.line = append(s.line[:len(s.line)-1], `\n"`...)
		}
		s.line = append(s.line, `,"stream":"`...)
		s.line = append(s.line, streamName(stderr)...)
		s.line = append(s.line, `","time":"`...)
		s.line = time.Unix(0, s.stamp(us)).UTC().AppendFormat(s.line, "2006-01-02T15:04:05.000000000Z07:00")
		s.line = append(s.line, "\"}\n"...)
		s.w.Write(s.line)
		s.lines++
		if last {
			break
		}
		if start == 0 {
			for _, x := range between {
				s.docker(x, true, us, nil)
			}
			between = nil
		}
		start = end
	}
	for _, x := range between {
		s.docker(x, true, us, nil)
	}
}

// cri writes b as kubelet lines: P parts of 16 KiB ended by an F part. The
// kubelet cuts at byte counts, runes or not; joining the parts restores
// them.
func (s *sink) cri(b []byte, stderr bool, us int64, between [][]byte) {
	for start := 0; ; {
		end := min(start+partMax, len(b))
		tag := " P "
		if end == len(b) {
			tag = " F "
		}
		s.line = time.Unix(0, s.stamp(us)).UTC().AppendFormat(s.line[:0], time.RFC3339Nano)
		s.line = append(s.line, ' ')
		s.line = append(s.line, streamName(stderr)...)
		s.line = append(s.line, tag...)
		s.line = append(s.line, b[start:end]...)
		s.line = append(s.line, '\n')
		s.w.Write(s.line)
		s.lines++
		if end == len(b) {
			break
		}
		if start == 0 {
			for _, x := range between {
				s.cri(x, true, us, nil)
			}
			between = nil
		}
		start = end
	}
	for _, x := range between {
		s.cri(x, true, us, nil)
	}
}
