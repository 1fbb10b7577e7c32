// Command latency measures how long an event appended to a followed file
// takes to show on /metrics. It starts the exporter binary given by -exporter
// on a temporary file, listening on 127.0.0.1 only, then -n times appends a
// "Max seat count reached!" record and polls /metrics every -poll until
// mirrord_seat_limit_reached_total has counted it. It prints the p50, p99
// and maximum latencies. Every wait is bounded.
package main

import (
	"bufio"
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
)

func main() {
	exporter := flag.String("exporter", "", "exporter binary to run (required)")
	n := flag.Int("n", 200, "events to append")
	poll := flag.Duration("poll", 2*time.Millisecond, "interval between scrapes while waiting")
	timeout := flag.Duration("timeout", 5*time.Second, "longest wait for one event")
	extra := flag.String("args", "", "extra exporter flags, space separated (e.g. --no-log.inotify)")
	flag.Parse()
	if *exporter == "" || *n < 1 {
		flag.Usage()
		os.Exit(2)
	}
	if err := run(*exporter, *n, *poll, *timeout, strings.Fields(*extra)); err != nil {
		fmt.Fprintln(os.Stderr, "latency:", err)
		os.Exit(1)
	}
}

func run(exporter string, n int, poll, timeout time.Duration, extra []string) error {
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
	args := append([]string{"--log.path=" + logPath, "--web.listen-address=" + addr, "--exporter.log.level=warn"}, extra...)
	cmd := exec.CommandContext(ctx, exporter, args...)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return err
	}
	defer func() {
		cancel()
		_ = cmd.Wait()
	}()

	client := &http.Client{Timeout: time.Second}
	base := "http://" + addr
	if err := waitFor(timeout, poll, func() (bool, error) {
		resp, err := client.Get(base + "/-/ready")
		if err != nil {
			return false, nil
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, nil
	}); err != nil {
		return fmt.Errorf("exporter not ready: %w", err)
	}

	lat := make([]time.Duration, 0, n)
	for i := 1; i <= n; i++ {
		rec := fmt.Sprintf(`{"timestamp":"%s","level":"INFO","fields":{"message":"Max seat count reached!","active_users":%d},"target":"operator_license"}`+"\n",
			time.Now().UTC().Format(time.RFC3339Nano), i)
		start := time.Now()
		if _, err := f.WriteString(rec); err != nil {
			return err
		}
		if err := waitFor(timeout, poll, func() (bool, error) {
			v, err := scrape(client, base+"/metrics", "mirrord_seat_limit_reached_total")
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

// scrape returns the value of an unlabelled sample on /metrics, 0 when absent.
func scrape(client *http.Client, url, name string) (float64, error) {
	resp, err := client.Get(url)
	if err != nil {
		return 0, nil // not up yet, or a transient error: poll again
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(io.LimitReader(resp.Body, 16<<20))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			return strconv.ParseFloat(strings.TrimSpace(v), 64)
		}
	}
	return 0, sc.Err()
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
