package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/mirrord-exporter/mirrord-exporter/internal/exportertest"
)

// TestHugeLineIsSkippedWithBoundedMemory: a 100 MiB line (an event with a
// huge client_name) and NUL bytes in the real binary's input are counted as
// malformed, the lines after them still count, and the process never holds
// the huge line: its peak resident memory stays under the line's size (21 MiB
// measured, 51 MiB with the race detector).
func TestHugeLineIsSkippedWithBoundedMemory(t *testing.T) {
	const hugeBytes = 100 << 20
	path := filepath.Join(t.TempDir(), "operator.log")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriter(f)
	w.WriteString(`{"fields":{"message":"Session Start","session_id":"HUGE","client_user":"u","client_name":"`)
	chunk := bytes.Repeat([]byte("x"), 1<<20)
	for range hugeBytes >> 20 {
		w.Write(chunk)
	}
	w.WriteString("\"}}\n")
	w.WriteString("\x00\x00\x00\x00\n")
	w.WriteString(`{"fields":{"message":"Session Start","session_id":"AFTER","client_user":"u","client_name":"after"}}` + "\n")
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}

	var stdout, stderr bytes.Buffer
	peakFile := filepath.Join(t.TempDir(), "peak-rss")
	cmd := measuredCommand(peakFile, exporterBinary, "--once", "--input.path="+path)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%v; stderr:\n%s", err, stderr.String())
	}
	out := stdout.String()
	for series, want := range map[string]float64{
		`mirrord_exporter_malformed_lines_total{reason="too_long"}`:                                                                       1,
		`mirrord_exporter_malformed_lines_total{reason="not_json"}`:                                                                       1,
		`mirrord_exporter_log_lines_total{input="` + path + `"}`:                                                                          3,
		`mirrord_sessions_started_total{client_name="after",client_user="u",target_name="",target_namespace="",target_type="targetless"}`: 1,
	} {
		if got := exportertest.Sample(t, out, series); got != want {
			t.Errorf("%s = %v, want %v", series, got, want)
		}
	}
	if strings.Contains(out, "HUGE") || strings.Contains(out, "xxxxxxxx") {
		t.Error("the huge line's content reached the metrics")
	}
	peak, err := os.ReadFile(peakFile)
	if err != nil {
		t.Fatal(err)
	}
	maxRSS, err := strconv.ParseInt(strings.TrimSpace(string(peak)), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("peak resident memory reading a %d MiB line: %.1f MiB", hugeBytes>>20, float64(maxRSS)/(1<<20))
	if maxRSS >= hugeBytes {
		t.Errorf("peak resident memory %.1f MiB: the line was held", float64(maxRSS)/(1<<20))
	}
}

// TestSeriesFlagsAreChecked: negative caps and a zero header timeout are
// refused. (The cap itself is tested in package exporter.)
func TestSeriesFlagsAreChecked(t *testing.T) {
	for _, bad := range []string{"--metrics.max-series=-1", "--metrics.series-ttl=-1s", "--web.read-header-timeout=0s"} {
		var stdout, stderr bytes.Buffer
		if code := run([]string{"--once", "--input.path=-", bad}, strings.NewReader(""), &stdout, &stderr); code == 0 {
			t.Errorf("%s accepted", bad)
		}
	}
}

// peakRSSFileEnv turns the test binary into a launcher that runs its
// arguments as a command and writes the command's peak RSS, in bytes, to the
// named file. A child started straight from the test process cannot be
// measured: Linux starts it sharing the parent's memory (vfork), so its
// ru_maxrss is at least the whole test process's resident size. The
// launcher is a fresh, small process, so its child's peak is the child's own.
const peakRSSFileEnv = "MIRRORD_EXPORTER_PEAK_RSS_FILE"

func measuredCommand(peakFile, name string, args ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], append([]string{name}, args...)...)
	cmd.Env = append(os.Environ(), peakRSSFileEnv+"="+peakFile)
	return cmd
}

func runMeasured(peakFile string, args []string) int {
	if len(args) == 0 {
		fmt.Fprintln(os.Stderr, "launcher: no command")
		return 2
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	err := cmd.Run()
	if cmd.ProcessState == nil {
		fmt.Fprintln(os.Stderr, "launcher:", err)
		return 2
	}
	peak := cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss << 10 // KiB on Linux
	if werr := os.WriteFile(peakFile, []byte(strconv.FormatInt(peak, 10)), 0o644); werr != nil {
		fmt.Fprintln(os.Stderr, "launcher:", werr)
		return 2
	}
	return cmd.ProcessState.ExitCode()
}
