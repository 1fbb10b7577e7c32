// Command probe tries the running exporter as a demanding SRE would, on
// 127.0.0.1 only, and prints what it measured: the figures of the README's
// "Reliability" section. It starts the binary given by -exporter, with a
// state file, following a new file, then in turn:
//
//   - load: appends a generated operator log at -rate lines per second while
//     -scrapers clients scrape /metrics back to back as Prometheus does
//     (gzip), then checks that every line was read and every event counted
//     (the generator's truth) and prints scrape latencies, answers by status
//     and the exporter's peak RSS;
//   - grow: appends n sessions of distinct clients, so that an uncompressed
//     /metrics answer is several MB, more than the socket buffers of a
//     reader that does not read can hold;
//   - idle: opens -idle connections that send nothing and times a scrape
//     among them, then counts how many the exporter closed after its
//     read-header timeout;
//   - hostile: sends malformed and oversized requests and prints each
//     answer, then checks that a normal scrape still answers 200;
//   - stalled: opens -stalled connections with a small receive buffer that
//     ask for /metrics uncompressed and never read, and times a normal
//     scrape among them;
//   - sigterm: with -stalled such readers open again, sends SIGTERM and
//     times the exit, checking that the state file was saved meanwhile.
//
// Every wait is bounded, and the exporter is killed at the end whatever
// happens.
package main

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/mirrord-exporter/mirrord-exporter/bench/internal/exporterproc"
	"github.com/mirrord-exporter/mirrord-exporter/internal/loggen"
)

// prometheusAccept is the Accept header of Prometheus 2.x scrapes.
const prometheusAccept = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"

func main() {
	exporter := flag.String("exporter", "", "exporter binary to run (required)")
	rate := flag.Int("rate", 2000, "lines per second appended during the load probe")
	duration := flag.Duration("duration", 30*time.Second, "how long the load probe appends")
	scrapers := flag.Int("scrapers", 200, "concurrent scrapers during the load probe")
	idle := flag.Int("idle", 500, "idle connections of the idle probe")
	stalled := flag.Int("stalled", 40, "stalled readers of the stalled and sigterm probes")
	extra := flag.String("args", "", "extra exporter flags, space separated")
	flag.Parse()
	if *exporter == "" || *rate < 1 || *scrapers < 1 {
		flag.Usage()
		os.Exit(2)
	}
	stateDir, err := os.MkdirTemp("", "probe-state")
	if err != nil {
		fail(err)
	}
	defer os.RemoveAll(stateDir)
	statePath := filepath.Join(stateDir, "exporter.state")
	// client_hostname makes the exposition big enough (one series per
	// laptop) that a stalled reader's socket buffers cannot hold it.
	args := append([]string{"--state.file=" + statePath, "--label=client_hostname"}, strings.Fields(*extra)...)
	p, err := exporterproc.Start(*exporter, args, 10*time.Second, 10*time.Millisecond)
	if err != nil {
		fail(err)
	}
	defer p.Stop()
	pr := &probe{Proc: p, statePath: statePath}
	for _, step := range []struct {
		name string
		run  func() error
	}{
		{"load", func() error { return pr.load(*rate, *duration, *scrapers) }},
		{"grow", func() error { return pr.grow(5000) }},
		{"idle", func() error { return pr.idle(*idle) }},
		{"hostile", pr.hostile},
		{"stalled", func() error { return pr.stalled(*stalled) }},
		{"sigterm", func() error { return pr.sigterm(*stalled) }},
	} {
		if err := step.run(); err != nil {
			fail(fmt.Errorf("%s: %w", step.name, err))
		}
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "probe:", err)
	os.Exit(1)
}

type probe struct {
	*exporterproc.Proc
	statePath string
}

// memory prints the exporter's RSS now and at its peak.
func (p *probe) memory(what string) {
	rss, peak, err := exporterproc.Memory(p.Cmd.Process.Pid)
	if err != nil {
		fmt.Printf("%s: memory: %v\n", what, err)
		return
	}
	fmt.Printf("%s: exporter RSS %.1f MiB, peak %.1f MiB\n", what, float64(rss)/(1<<20), float64(peak)/(1<<20))
}

// scrapeOnce scrapes /metrics as Prometheus does and returns the status and
// how long the whole answer took.
func scrapeOnce(client *http.Client, base string) (int, time.Duration, error) {
	req, err := http.NewRequest(http.MethodGet, base+"/metrics", nil)
	if err != nil {
		return 0, 0, err
	}
	req.Header.Set("Accept", prometheusAccept)
	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		return 0, time.Since(start), err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, time.Since(start), err
}

func percentiles(d []time.Duration) string {
	if len(d) == 0 {
		return "none"
	}
	slices.Sort(d)
	pct := func(q float64) time.Duration { return d[min(len(d)-1, int(q*float64(len(d))))] }
	r := func(x time.Duration) time.Duration { return x.Round(10 * time.Microsecond) }
	return fmt.Sprintf("p50 %v  p99 %v  max %v", r(pct(0.5)), r(pct(0.99)), r(d[len(d)-1]))
}

// load appends a generated log at rate lines per second for about d while
// scrapers scrape back to back, then checks the exporter's counts against
// the generator's truth.
func (p *probe) load(rate int, d time.Duration, scrapers int) error {
	want := int(float64(rate) * d.Seconds())
	var buf bytes.Buffer
	// An info-level log: about 40 % functional records, 14 lines a session.
	truth, err := loggen.Generate(&buf, loggen.Config{Seed: 7, Sessions: max(1, want/14), NoiseRatio: 0.6,
		Start: time.Now().Add(-d), Span: d})
	if err != nil {
		return err
	}
	lines := bytes.SplitAfter(buf.Bytes(), []byte("\n"))
	lines = lines[:len(lines)-1] // the empty one after the last newline

	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: scrapers}}
	var (
		mu       sync.Mutex
		lat      []time.Duration
		statuses = map[string]int{}
		wg       sync.WaitGroup
	)
	stop := make(chan struct{})
	for range scrapers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				code, took, err := scrapeOnce(client, p.Base)
				mu.Lock()
				switch {
				case err != nil:
					statuses["error: "+err.Error()]++
				case code == http.StatusOK:
					lat = append(lat, took)
					statuses["200"]++
				default:
					statuses[fmt.Sprint(code)]++
				}
				mu.Unlock()
			}
		}()
	}
	start := time.Now()
	written := 0
	for written < len(lines) {
		due := min(len(lines), int(time.Since(start).Seconds()*float64(rate)))
		if due > written {
			if _, err := p.Log.Write(bytes.Join(lines[written:due], nil)); err != nil {
				close(stop)
				wg.Wait()
				return err
			}
			written = due
		}
		time.Sleep(time.Millisecond)
	}
	appended := time.Since(start)
	close(stop)
	wg.Wait()
	if err := p.WaitUntil("mirrord_exporter_log_lines_total{", float64(truth.Lines)); err != nil {
		return fmt.Errorf("the exporter did not read the %d lines: %w", truth.Lines, err)
	}
	read, err := p.Sum("mirrord_exporter_log_lines_total")
	if err != nil {
		return err
	}
	events, err := p.Sum("mirrord_exporter_events_total")
	if err != nil {
		return err
	}
	var wantEvents float64
	for _, n := range truth.Events {
		wantEvents += n
	}
	fmt.Printf("load: %d lines in %v (%.0f lines/s) with %d scrapers: %d scrapes answered 200, %s\n",
		truth.Lines, appended.Round(time.Millisecond), float64(truth.Lines)/appended.Seconds(), scrapers, statuses["200"], percentiles(lat))
	for s, n := range statuses {
		if s != "200" {
			fmt.Printf("load: %d scrapes answered %s\n", n, s)
		}
	}
	fmt.Printf("load: lines read %.0f of %d (lost %.0f), events counted %.0f of %.0f\n", read, truth.Lines, float64(truth.Lines)-read, events, wantEvents)
	p.memory("load")
	if read != float64(truth.Lines) || events != wantEvents {
		return errors.New("the exporter's counts differ from the log's")
	}
	return nil
}

// grow appends n ended sessions, each of its own client.
func (p *probe) grow(n int) error {
	var b bytes.Buffer
	for i := range n {
		name := fmt.Sprintf("laptop-%05d", i)
		fmt.Fprintf(&b, `{"fields":{"message":"Session Start","session_id":"grow-%[1]s","client_user":"u","client_name":"%[1]s","target":"pod/p"}}`+"\n", name)
		fmt.Fprintf(&b, `{"fields":{"message":"Session End","session_id":"grow-%[1]s","session_duration":5,"client_user":"u","client_name":"%[1]s","target":"pod/p"}}`+"\n", name)
	}
	before, err := p.Sum("mirrord_exporter_events_total")
	if err != nil {
		return err
	}
	if _, err := p.Log.Write(b.Bytes()); err != nil {
		return err
	}
	if err := exporterproc.WaitFor(10*time.Second, 10*time.Millisecond, func() (bool, error) {
		v, err := p.Sum("mirrord_exporter_events_total")
		return v >= before+float64(2*n), err
	}); err != nil {
		return fmt.Errorf("the exporter did not apply %d events: %w", 2*n, err)
	}
	size, err := responseSize(p.Base)
	if err != nil {
		return err
	}
	fmt.Printf("grow: %d more clients: /metrics is %.1f MiB uncompressed\n", n, float64(size)/(1<<20))
	return nil
}

// idle opens n connections that send nothing, times scrapes among them,
// and counts those the exporter closed after its read-header timeout.
func (p *probe) idle(n int) error {
	client := &http.Client{Timeout: 10 * time.Second}
	var lat []time.Duration
	for range 20 {
		code, took, err := scrapeOnce(client, p.Base)
		if err != nil || code != http.StatusOK {
			return fmt.Errorf("scrape: %d %v", code, err)
		}
		lat = append(lat, took)
	}
	fmt.Printf("idle: 20 scrapes before: %s\n", percentiles(lat))
	conns := make([]net.Conn, 0, n)
	defer func() { closeAll(conns) }() // the connections opened below
	for range n {
		c, err := net.DialTimeout("tcp", p.Addr, 2*time.Second)
		if err != nil {
			return fmt.Errorf("after %d connections: %w", len(conns), err)
		}
		conns = append(conns, c)
	}
	lat = lat[:0]
	for range 20 {
		code, took, err := scrapeOnce(client, p.Base)
		if err != nil || code != http.StatusOK {
			return fmt.Errorf("scrape among %d idle connections: %d %v", n, code, err)
		}
		lat = append(lat, took)
	}
	fmt.Printf("idle: 20 scrapes among %d idle connections: %s\n", n, percentiles(lat))
	p.memory("idle")
	// The default --web.read-header-timeout is 10s.
	start := time.Now()
	closed := 0
	for _, c := range conns {
		c.SetReadDeadline(start.Add(15 * time.Second))
		if _, err := c.Read(make([]byte, 1)); errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) {
			closed++
		}
	}
	fmt.Printf("idle: the exporter closed %d of %d silent connections within %v\n", closed, n, time.Since(start).Round(100*time.Millisecond))
	return nil
}

// hostile sends malformed and oversized requests and prints each answer.
func (p *probe) hostile() error {
	names := make([]string, 10000)
	for i := range names {
		names[i] = fmt.Sprintf("name[]=mirrord_x_%d", i)
	}
	for _, r := range []struct{ what, request string }{
		{"1 MiB header", "GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", 1<<20) + "\r\n\r\n"},
		{"2 MiB header", "GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", 2<<20) + "\r\n\r\n"},
		{"10,000 name[] filters", "GET /metrics?" + strings.Join(names, "&") + " HTTP/1.1\r\nHost: x\r\n\r\n"},
		{"64 KiB Accept of garbage", "GET /metrics HTTP/1.1\r\nHost: x\r\nAccept: " + strings.Repeat("x/y;q=;", 64<<10/7) + "\r\n\r\n"},
		{"bad q-values in Accept-Encoding", "GET /metrics HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip;q=abc, zstd;q=-1, br, *;q=2\r\n\r\n"},
		{"NUL in the method", "G\x00T /metrics HTTP/1.1\r\nHost: x\r\n\r\n"},
		{"HTTP/1.1 without Host", "GET /metrics HTTP/1.1\r\n\r\n"},
		{"chunked body of 2^62 bytes", "POST /metrics HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n4000000000000000\r\n"},
		{"10,000 headers", "GET /metrics HTTP/1.1\r\nHost: x\r\n" + strings.Repeat("X-A: b\r\n", 10000) + "\r\n"},
	} {
		start := time.Now()
		status, err := rawRequest(p.Addr, r.request)
		if err != nil {
			status = err.Error()
		}
		fmt.Printf("hostile: %s: %s (%v)\n", r.what, status, time.Since(start).Round(10*time.Millisecond))
	}
	slow, err := slowloris(p.Addr)
	if err != nil {
		return err
	}
	fmt.Printf("hostile: headers sent a byte every 500ms: connection closed after %v\n", slow.Round(100*time.Millisecond))
	code, took, err := scrapeOnce(&http.Client{Timeout: 10 * time.Second}, p.Base)
	if err != nil || code != http.StatusOK {
		return fmt.Errorf("a normal scrape after the hostile requests: %d %v", code, err)
	}
	fmt.Printf("hostile: a normal scrape afterwards: 200 in %v\n", took.Round(10*time.Microsecond))
	p.memory("hostile")
	return nil
}

// rawRequest writes request on a new connection and returns the status line
// of the answer, or how the connection ended.
func rawRequest(addr, request string) (string, error) {
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(45 * time.Second))
	// The server may answer and close before reading all of a huge request.
	go io.WriteString(c, request)
	line, err := bufio.NewReader(c).ReadString('\n')
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded):
		return "no answer and still open after 45s", nil
	case err != nil:
		return "closed without an answer", nil
	}
	return strings.TrimSpace(line), nil
}

// slowloris sends a request's headers a byte every 500ms and returns when
// the exporter closed the connection.
func slowloris(addr string) (time.Duration, error) {
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	start := time.Now()
	request := "GET /metrics HTTP/1.1\r\nHost: x\r\nX-Slow: " + strings.Repeat("a", 100)
	for i := 0; i < len(request); i++ {
		if _, err := c.Write([]byte{request[i]}); err != nil {
			return time.Since(start), nil
		}
		c.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		if _, err := c.Read(make([]byte, 1)); err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
			return time.Since(start), nil
		}
	}
	return 0, fmt.Errorf("still open after %v of slow headers", time.Since(start))
}

// stalledReaders opens n connections with a 4 KiB receive buffer that ask
// for /metrics uncompressed and never read.
func (p *probe) stalledReaders(n int) ([]net.Conn, error) {
	d := net.Dialer{Timeout: 2 * time.Second, Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
		})
		return errors.Join(err, serr)
	}}
	conns := make([]net.Conn, 0, n)
	for range n {
		c, err := d.Dial("tcp", p.Addr)
		if err != nil {
			closeAll(conns)
			return nil, err
		}
		io.WriteString(c, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
		conns = append(conns, c)
	}
	// Let every one of them reach its stall.
	time.Sleep(500 * time.Millisecond)
	return conns, nil
}

// stalled times normal scrapes while n readers stall.
func (p *probe) stalled(n int) error {
	size, err := responseSize(p.Base)
	if err != nil {
		return err
	}
	conns, err := p.stalledReaders(n)
	if err != nil {
		return err
	}
	defer closeAll(conns)
	client := &http.Client{Timeout: 10 * time.Second}
	statuses := map[int]int{}
	var lat []time.Duration
	for range 10 {
		code, took, err := scrapeOnce(client, p.Base)
		if err != nil {
			return fmt.Errorf("a scrape among %d stalled readers: %w", n, err)
		}
		statuses[code]++
		if code == http.StatusOK {
			lat = append(lat, took)
		}
	}
	fmt.Printf("stalled: %d readers stalled on a %.1f MiB uncompressed /metrics; 10 normal scrapes: answers %v, %s\n", n, float64(size)/(1<<20), statuses, percentiles(lat))
	if v, err := p.Sum("mirrord_exporter_scrapes_stalled_total"); err == nil {
		fmt.Printf("stalled: mirrord_exporter_scrapes_stalled_total %.0f right after\n", v)
	}
	p.memory("stalled")
	return nil
}

// responseSize is the size of an uncompressed /metrics answer.
func responseSize(base string) (int, error) {
	req, err := http.NewRequest(http.MethodGet, base+"/metrics", nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Accept-Encoding", "identity")
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	n, err := io.Copy(io.Discard, resp.Body)
	return int(n), err
}

// sigterm stops the exporter with n stalled readers open and checks that
// it saved its state file on the way.
func (p *probe) sigterm(n int) error {
	conns, err := p.stalledReaders(n)
	if err != nil {
		return err
	}
	defer closeAll(conns)
	sent := time.Now()
	took, err := p.Terminate(30 * time.Second)
	if err != nil {
		return err
	}
	fi, err := os.Stat(p.statePath)
	if err != nil {
		return err
	}
	saved := fmt.Sprintf("saved the state file %v after SIGTERM", fi.ModTime().Sub(sent).Round(10*time.Millisecond))
	if fi.ModTime().Before(sent) {
		saved = "did NOT save the state file after SIGTERM"
	}
	fmt.Printf("sigterm: with %d stalled readers, the exporter exited %v after SIGTERM and %s\n", n, took.Round(10*time.Millisecond), saved)
	return nil
}

func closeAll(conns []net.Conn) {
	for _, c := range conns {
		c.Close()
	}
}
