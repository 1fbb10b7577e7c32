// Package exporterproc runs the exporter binary for the bench commands:
// listening on 127.0.0.1 only, following a new file in a temporary
// directory, with every wait bounded.
package exporterproc

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Proc is a running exporter, ready, following Log.
type Proc struct {
	Cmd    *exec.Cmd
	Addr   string // host:port it listens on
	Base   string // http://Addr
	Log    *os.File
	Dir    string // temporary directory holding Log; removed by Stop
	Client *http.Client

	timeout, poll time.Duration
	cancel        context.CancelFunc
	exited        chan error
}

// Start runs bin on a new empty log file with extra flags after the
// exporter's own, and returns once /-/ready answers 200 (within timeout,
// polling every poll).
func Start(bin string, extra []string, timeout, poll time.Duration) (*Proc, error) {
	dir, err := os.MkdirTemp("", "exporterproc")
	if err != nil {
		return nil, err
	}
	logPath := filepath.Join(dir, "operator.log")
	f, err := os.Create(logPath)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	addr, err := FreeAddr()
	if err != nil {
		f.Close()
		os.RemoveAll(dir)
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	args := append([]string{"--input.path=" + logPath, "--web.listen-address=" + addr, "--log.level=warn"}, extra...)
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Stderr = os.Stderr
	p := &Proc{Cmd: cmd, Addr: addr, Base: "http://" + addr, Log: f, Dir: dir,
		Client: &http.Client{Timeout: 10 * time.Second}, timeout: timeout, poll: poll, cancel: cancel, exited: make(chan error, 1)}
	if err := cmd.Start(); err != nil {
		cancel()
		f.Close()
		os.RemoveAll(dir)
		return nil, err
	}
	go func() { p.exited <- cmd.Wait() }()
	if err := WaitFor(timeout, poll, func() (bool, error) {
		resp, err := p.Client.Get(p.Base + "/-/ready")
		if err != nil {
			return false, nil
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, nil
	}); err != nil {
		p.Stop()
		return nil, fmt.Errorf("exporter not ready: %w", err)
	}
	return p, nil
}

// Stop kills the exporter if it still runs and removes its directory.
func (p *Proc) Stop() {
	p.cancel()
	<-p.exited
	p.exited <- nil // a second Stop does not block
	p.Log.Close()
	os.RemoveAll(p.Dir)
}

// Terminate sends SIGTERM and returns how long the exporter took to exit,
// at most timeout.
func (p *Proc) Terminate(timeout time.Duration) (time.Duration, error) {
	start := time.Now()
	if err := p.Cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return 0, err
	}
	select {
	case err := <-p.exited:
		p.exited <- err
		return time.Since(start), err
	case <-time.After(timeout):
		return time.Since(start), fmt.Errorf("still running %v after SIGTERM", timeout)
	}
}

// Scrape returns the value of the first sample on /metrics whose line
// starts with prefix (a name and a space, or a name and "{"), 0 when absent
// or when the exporter does not answer.
func (p *Proc) Scrape(prefix string) (float64, error) {
	resp, err := p.Client.Get(p.Base + "/metrics")
	if err != nil {
		return 0, nil // a transient error: poll again
	}
	defer func() {
		// Read to the end, as Prometheus does.
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}()
	sc := bufio.NewScanner(io.LimitReader(resp.Body, 64<<20))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if line := sc.Text(); strings.HasPrefix(line, prefix) {
			return strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
		}
	}
	return 0, sc.Err()
}

// WaitUntil polls Scrape(prefix) until the value reaches want.
func (p *Proc) WaitUntil(prefix string, want float64) error {
	return WaitFor(p.timeout, p.poll, func() (bool, error) {
		v, err := p.Scrape(prefix)
		return v >= want, err
	})
}

// WaitFor calls cond every poll until it is true, fails or timeout passes.
func WaitFor(timeout, poll time.Duration, cond func() (bool, error)) error {
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

// CPUTime reads the user and system CPU time of process pid from
// /proc/PID/stat (Linux), counted in clock ticks of 10 ms (USER_HZ, 100 on
// Linux).
func CPUTime(pid int) (time.Duration, error) {
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

// Memory reads the resident set size of process pid now and at its peak
// (VmRSS and VmHWM of /proc/PID/status), in bytes.
func Memory(pid int) (rss, peak int64, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, fmt.Errorf("memory: %w", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		name, value, ok := strings.Cut(line, ":")
		if !ok || (name != "VmRSS" && name != "VmHWM") {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(value), " kB"), 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("memory: %s: %w", line, err)
		}
		if name == "VmRSS" {
			rss = kb << 10
		} else {
			peak = kb << 10
		}
	}
	return rss, peak, nil
}

// FreeAddr finds a free port on 127.0.0.1.
func FreeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// Sum adds up every sample on /metrics of the metric name (all its series).
func (p *Proc) Sum(name string) (float64, error) {
	resp, err := p.Client.Get(p.Base + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var sum float64
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, name); ok && (strings.HasPrefix(rest, "{") || strings.HasPrefix(rest, " ")) {
			v, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
			if err != nil {
				return 0, fmt.Errorf("%s: %w", line, err)
			}
			sum += v
		}
	}
	return sum, sc.Err()
}
