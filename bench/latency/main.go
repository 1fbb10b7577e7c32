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
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

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

// followed is a running exporter, ready, following log.
type followed struct {
	log           *os.File
	cmd           *exec.Cmd
	client        *http.Client
	base          string
	timeout, poll time.Duration
}

// withExporter starts the exporter on a new file and runs measure once it
// is ready; it stops the exporter and removes the file afterwards.
func withExporter(exporter string, timeout, poll time.Duration, extra []string, measure func(*followed) error) error {
	dir, err := os.MkdirTemp("", "latency")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	logPath := filepath.Join(dir, "operator.log")
	f, err := os.Create(logPath)
	if err != nil {
		return err
	}
	defer f.Close()

	addr, err := freeAddr()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	args := append([]string{"--input.path=" + logPath, "--web.listen-address=" + addr, "--log.level=warn"}, extra...)
	cmd := exec.CommandContext(ctx, exporter, args...)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return err
	}
	defer func() {
		cancel()
		_ = cmd.Wait()
	}()

	x := &followed{log: f, cmd: cmd, client: &http.Client{Timeout: time.Second}, base: "http://" + addr, timeout: timeout, poll: poll}
	if err := waitFor(timeout, poll, func() (bool, error) {
		resp, err := x.client.Get(x.base + "/-/ready")
		if err != nil {
			return false, nil
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, nil
	}); err != nil {
		return fmt.Errorf("exporter not ready: %w", err)
	}
	return measure(x)
}

// latency appends n events one at a time and prints how long each took to
// show on /metrics.
func (x *followed) latency(n int) error {
	f, client, base, timeout, poll := x.log, x.client, x.base, x.timeout, x.poll
	lat := make([]time.Duration, 0, n)
	for i := 1; i <= n; i++ {
		rec := fmt.Sprintf(`{"timestamp":"%s","level":"INFO","fields":{"message":"Max seat count reached!","active_users":%d},"target":"operator_license"}`+"\n",
			time.Now().UTC().Format(time.RFC3339Nano), i)
		start := time.Now()
		if _, err := f.WriteString(rec); err != nil {
			return err
		}
		if err := waitFor(timeout, poll, func() (bool, error) {
			v, err := scrape(client, base+"/metrics", "mirrord_seat_limit_reached_total ")
			return v >= float64(i), err
		}); err != nil {
			return fmt.Errorf("event %d: %w", i, err)
		}
		lat = append(lat, time.Since(start))
		// Space the appends so that each one is seen on its own.
		time.Sleep(5 * time.Millisecond)
	}
	slices.Sort(lat)
	pct := func(p float64) time.Duration { return lat[min(len(lat)-1, int(p*float64(len(lat))))] }
	fmt.Printf("follow latency over %d events (poll %v): p50 %v  p99 %v  max %v\n",
		n, poll, pct(0.50).Round(10*time.Microsecond), pct(0.99).Round(10*time.Microsecond), lat[len(lat)-1].Round(10*time.Microsecond))
	return nil
}

// waitFor calls cond every poll until it is true, fails or timeout passes.
func waitFor(timeout, poll time.Duration, cond func() (bool, error)) error {
	deadline := time.Now().Add(timeout)
	for {
		ok, err := cond()
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			return errors.New("timed out")
		}
		time.Sleep(poll)
	}
}

// scrape returns the value of the first sample on /metrics whose line
// starts with prefix (a name and a space, or a name and "{"), 0 when absent.
func scrape(client *http.Client, url, prefix string) (float64, error) {
	resp, err := client.Get(url)
	if err != nil {
		return 0, nil // not up yet, or a transient error: poll again
	}
	defer func() {
		// Read to the end, as Prometheus does: a scraper that hangs up early
		// is not what is measured.
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}()
	sc := bufio.NewScanner(io.LimitReader(resp.Body, 16<<20))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if line := sc.Text(); strings.HasPrefix(line, prefix) {
			return strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
		}
	}
	return 0, sc.Err()
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
	cpu0, err := cpuTime(x.cmd.Process.Pid)
	if err != nil {
		return err
	}
	start := time.Now()
	written := 0
	for written < want {
		// The lines due by now, in one write: a busy logger's buffered output.
		due := min(want, int(time.Since(start).Seconds()*float64(rate)))
		if due > written {
			if _, err := x.log.Write(bytes.Join(lines[written:due], nil)); err != nil {
				return err
			}
			written = due
		}
		time.Sleep(time.Millisecond)
	}
	if err := waitFor(x.timeout, x.poll, func() (bool, error) {
		v, err := scrape(x.client, x.base+"/metrics", "mirrord_exporter_log_lines_total{")
		return v >= float64(want), err
	}); err != nil {
		return fmt.Errorf("the exporter did not read the %d lines: %w", want, err)
	}
	elapsed := time.Since(start)
	cpu1, err := cpuTime(x.cmd.Process.Pid)
	if err != nil {
		return err
	}
	used := cpu1 - cpu0
	fmt.Printf("following %d lines/s (debug level) for %v: %v CPU, %.1f %% of one core\n",
		rate, elapsed.Round(time.Millisecond), used, 100*used.Seconds()/elapsed.Seconds())
	return nil
}

// cpuTime reads the user and system CPU time of process pid from
// /proc/PID/stat (Linux), counted in clock ticks of 10 ms (USER_HZ, 100 on
// Linux).
func cpuTime(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("CPU time: %w", err)
	}
	// Fields after the command name, which is in parentheses and may hold
	// spaces: state is field 3, utime 14 and stime 15.
	fields := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	if len(fields) < 13 {
		return 0, fmt.Errorf("CPU time: short %s", b)
	}
	var ticks int64
	for _, f := range fields[11:13] {
		n, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("CPU time: %w", err)
		}
		ticks += n
	}
	return time.Duration(ticks) * 10 * time.Millisecond, nil
}

// freeAddr finds a free port on 127.0.0.1.
func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}
