package kube

import (
	"bytes"
	"time"
)

// tsPrefixMax is the longest timestamp prefix the kubelet writes, with its
// space: RFC 3339 with nanoseconds and a numeric zone offset.
const tsPrefixMax = len("2006-01-02T15:04:05.999999999+07:00 ")

// splitTimestamp parses the timestamp and space the kubelet puts before every
// line when asked for timestamps. Without one, text is the whole line.
// Parsing by hand keeps the per-line path free of allocations (time.Parse
// needs a string).
func splitTimestamp(line []byte) (ts time.Time, text []byte, ok bool) {
	sp := bytes.IndexByte(line[:min(len(line), tsPrefixMax)], ' ')
	if sp < 0 {
		return time.Time{}, line, false
	}
	ts, ok = parseRFC3339(line[:sp])
	if !ok {
		return time.Time{}, line, false
	}
	return ts, line[sp+1:], true
}

// parseRFC3339 reads "YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)", the output
// of time.RFC3339Nano, into a UTC time.
func parseRFC3339(b []byte) (time.Time, bool) {
	if len(b) < len("2006-01-02T15:04:05Z") || b[4] != '-' || b[7] != '-' || b[10] != 'T' && b[10] != 't' || b[13] != ':' || b[16] != ':' {
		return time.Time{}, false
	}
	year, ok1 := atoi(b[0:4])
	month, ok2 := atoi(b[5:7])
	day, ok3 := atoi(b[8:10])
	hour, ok4 := atoi(b[11:13])
	minute, ok5 := atoi(b[14:16])
	sec, ok6 := atoi(b[17:19])
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) || month < 1 || month > 12 || day < 1 || hour > 23 || minute > 59 || sec > 59 {
		return time.Time{}, false
	}
	i, nsec := 19, 0
	if b[i] == '.' {
		i++
		start := i
		for i < len(b) && '0' <= b[i] && b[i] <= '9' {
			i++
		}
		n := i - start
		if n == 0 || n > 9 {
			return time.Time{}, false
		}
		nsec, _ = atoi(b[start:i])
		for ; n < 9; n++ {
			nsec *= 10
		}
	}
	if i >= len(b) {
		return time.Time{}, false
	}
	offset := 0
	switch b[i] {
	case 'Z', 'z':
		i++
	case '+', '-':
		if len(b)-i < 6 || b[i+3] != ':' {
			return time.Time{}, false
		}
		hh, okh := atoi(b[i+1 : i+3])
		mm, okm := atoi(b[i+4 : i+6])
		if !okh || !okm || hh > 23 || mm > 59 {
			return time.Time{}, false
		}
		offset = hh*3600 + mm*60
		if b[i] == '-' {
			offset = -offset
		}
		i += 6
	default:
		return time.Time{}, false
	}
	if i != len(b) {
		return time.Time{}, false
	}
	t := time.Date(year, time.Month(month), day, hour, minute, sec, nsec, time.UTC)
	if t.Day() != day { // February 30th and the like, which time.Date normalises
		return time.Time{}, false
	}
	return t.Add(-time.Duration(offset) * time.Second), true
}

// atoi reads unsigned decimal digits.
func atoi(b []byte) (int, bool) {
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}
