package exportertest

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"
)

// StalledScrape sends GET path to addr over HTTP/1.1, with the header lines
// extra ("Accept: ...") and no Accept-Encoding, from a socket whose receive
// buffer is 4 KiB, and returns once the response's status line has arrived,
// without reading any of it: the server is left writing a response that its
// client does not take. The status must be 200. The connection is closed at
// the end of the test.
func StalledScrape(t *testing.T, addr, path string, extra ...string) *net.TCPConn {
	t.Helper()
	dialer := net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		var err error
		if cerr := c.Control(func(fd uintptr) {
			// Before connect, so that the window it offers is small
			// from the start.
			err = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
		}); cerr != nil {
			return cerr
		}
		return err
	}}
	c, err := dialer.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	conn := c.(*net.TCPConn)
	t.Cleanup(func() { conn.Close() })
	var req strings.Builder
	req.WriteString("GET " + path + " HTTP/1.1\r\nHost: " + addr + "\r\n")
	for _, h := range extra {
		req.WriteString(h + "\r\n")
	}
	req.WriteString("\r\n")
	if _, err := io.WriteString(conn, req.String()); err != nil {
		t.Fatal(err)
	}
	status, err := peek(conn, len("HTTP/1.1 200"))
	if err != nil || status != "HTTP/1.1 200" {
		t.Fatalf("stalled scrape of %s: %q, %v; want HTTP/1.1 200", path, status, err)
	}
	return conn
}

// peek waits for the first n bytes conn receives and returns them, leaving
// them in the socket's buffer (MSG_PEEK): nothing is read, and the window
// the client offers does not open.
func peek(conn *net.TCPConn, n int) (string, error) {
	raw, err := conn.SyscallConn()
	if err != nil {
		return "", err
	}
	if err := conn.SetReadDeadline(time.Now().Add(60 * time.Second)); err != nil {
		return "", err
	}
	defer conn.SetReadDeadline(time.Time{})
	buf := make([]byte, n)
	var got int
	var perr error
	err = raw.Read(func(fd uintptr) bool {
		got, _, perr = syscall.Recvfrom(int(fd), buf, syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		if errors.Is(perr, syscall.EAGAIN) || (perr == nil && got > 0 && got < n) {
			return false // wait for more
		}
		return true
	})
	if err == nil {
		err = perr
	}
	if err == nil && got < n {
		err = io.ErrUnexpectedEOF
	}
	return string(buf[:max(got, 0)]), err
}

// ReadStalled reads the response to a StalledScrape to its end and returns
// the length of the body that came and its Content-Length: less when the
// server cut the response off.
func ReadStalled(t *testing.T, conn net.Conn) (got, length int64) {
	t.Helper()
	if err := conn.SetReadDeadline(time.Now().Add(60 * time.Second)); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("read the stalled response: %v", err)
	}
	defer resp.Body.Close()
	got, err = io.Copy(io.Discard, resp.Body)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatal("the stalled response neither ended nor was cut off within 60s")
	}
	return got, resp.ContentLength
}
