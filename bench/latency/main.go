// Command latency measures what following a file costs. It starts the
// exporter binary given by -exporter on a temporary file, listening on
// 127.0.0.1 only.
//
// By default it measures how long an event appended to the file takes to
// show on /metrics: -n times it appends a "Max seat count reached!" record and
// polls /metrics every -poll until mirrord_seat_limit_reached_total has
// counted it, then prints the p50, p99 and maximum latencies.
//
// With -rate, it instead appends a debug-level loggen log (about 5 % events)
// at that many lines per second for -duration, a millisecond's lines per
// write, waits until the exporter has read every line, and prints the CPU
// time the exporter used (user and system, from /proc) per second of load.
//
// Every wait is bounded.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/mirrord-exporter/mirrord-exporter/bench/internal/exporterproc"
	"github.com/mirrord-exporter/mirrord-exporter/internal/loggen"
)

func main() {
	exporter := flag.String("exporter", "", "exporter binary to run (required)")
	n := flag.Int("n", 200, "events to append")
	poll := flag.Duration("poll", 2*time.Millisecond, "interval between scrapes while waiting")
	timeout := flag.Duration("timeout", 5*time.Second, "longest wait for one event")
	extra := flag.String("args", "", "extra exporter flags, space separated (e.g. --no-input.inotify)")
	rate := flag.Int("rate", 0, "lines per second to append instead of measuring latency")
	duration := flag.Duration("duration", 5*time.Second, "how long to append at -rate")
	flag.Parse()
	if *exporter == "" || *n < 1 || *rate < 0 {
		flag.Usage()
		os.Exit(2)
	}
	err := withExporter(*exporter, *timeout, *poll, strings.Fields(*extra), func(x *followed) error {
		if *rate > 0 {
			return x.load(*rate, *duration)
		}
		return x.latency(*n)
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "latency:", err)
		os.Exit(1)
	}
}

// followed is a running exporter, ready, following its log.
type followed struct {
	*exporterproc.Proc
	timeout, poll time.Duration
}

// withExporter starts the exporter on a new file and runs measure once it
// is ready; it stops the exporter and removes the file afterwards.
func withExporter(exporter string, timeout, poll time.Duration, extra []string, measure func(*followed) error) error {
	p, err := exporterproc.Start(exporter, extra, timeout, poll)
	if err != nil {
		return err
	}
	defer p.Stop()
	return measure(&followed{Proc: p, timeout: timeout, poll: poll})
}

// latency appends n events one at a time and prints how long each took to
// show on /metrics.
func (x *followed) latency(n int) error {
	f := x.Log
	lat := make([]time.Duration, 0, n)
	for i := 1; i <= n; i++ {
		rec := fmt.Sprintf(`{"timestamp":"%s","level":"INFO","fields":{"message":"Max seat count reached!","active_users":%d},"target":"operator_license"}`+"\n",
			time.Now().UTC().Format(time.RFC3339Nano), i)
		start := time.Now()
		if _, err := f.WriteString(rec); err != nil {
			return err
		}
		if err := x.WaitUntil("mirrord_seat_limit_reached_total ", float64(i)); err != nil {
			return fmt.Errorf("event %d: %w", i, err)
		}
		lat = append(lat, time.Since(start))
		// Space the appends so that each one is seen on its own.
		time.Sleep(5 * time.Millisecond)
	}
	slices.Sort(lat)
	pct := func(p float64) time.Duration { return lat[min(len(lat)-1, int(p*float64(len(lat))))] }
	fmt.Printf("follow latency over %d events (poll %v): p50 %v  p99 %v  max %v\n",
		n, x.poll, pct(0.50).Round(10*time.Microsecond), pct(0.99).Round(10*time.Microsecond), lat[len(lat)-1].Round(10*time.Microsecond))
	return nil
}

// load appends a debug-level log at rate lines per second for d, waits until
// the exporter has read every line, and prints the CPU it used meanwhile.
func (x *followed) load(rate int, d time.Duration) error {
	// A debug-level session is about 125 lines: 100 per session is enough.
	want := max(1, int(float64(rate)*d.Seconds()))
	var buf bytes.Buffer
	if _, err := loggen.Generate(&buf, loggen.Config{Seed: 1, Sessions: want/100 + 1, NoiseRatio: 0.95}); err != nil {
		return err
	}
	lines := bytes.SplitAfter(buf.Bytes(), []byte("\n")) // each with its newline, then an empty one
	if len(lines)-1 < want {
		return fmt.Errorf("loggen made %d lines, fewer than %d", len(lines)-1, want)
	}
	cpu0, err := exporterproc.CPUTime(x.Cmd.Process.Pid)
	if err != nil {
		return err
	}
	start := time.Now()
	written := 0
	for written < want {
		// The lines due by now, in one write: a busy logger's buffered output.
		due := min(want, int(time.Since(start).Seconds()*float64(rate)))
		if due > written {
			if _, err := x.Log.Write(bytes.Join(lines[written:due], nil)); err != nil {
				return err
			}
			written = due
		}
		time.Sleep(time.Millisecond)
	}
	if err := x.WaitUntil("mirrord_exporter_log_lines_total{", float64(want)); err != nil {
		return fmt.Errorf("the exporter did not read the %d lines: %w", want, err)
	}
	elapsed := time.Since(start)
	cpu1, err := exporterproc.CPUTime(x.Cmd.Process.Pid)
	if err != nil {
		return err
	}
	used := cpu1 - cpu0
	fmt.Printf("following %d lines/s (debug level) for %v: %v CPU, %.1f %% of one core\n",
		rate, elapsed.Round(time.Millisecond), used, 100*used.Seconds()/elapsed.Seconds())
	return nil
}
