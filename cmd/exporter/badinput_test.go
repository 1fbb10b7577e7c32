package main

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
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

// runBinaryOnce runs the real binary in --once mode on path and returns its
// exposition and its own log.
func runBinaryOnce(t *testing.T, path string, args ...string) (exposition, logs string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(exporterBinary, append([]string{"--once", "--input.path=" + path}, args...)...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%v; stderr:\n%s", err, stderr.String())
	}
	return stdout.String(), stderr.String()
}

// TestMalformedRecordsKeepIdentitiesOutOfTheLog: records of every kind of
// defect, and a good event, name a canary user; at the default log level
// none of it reaches the exporter's log, whose warnings still say why,
// which field and where. At debug level the records are there, which shows
// the check would see them.
func TestMalformedRecordsKeepIdentitiesOutOfTheLog(t *testing.T) {
	const canary = "Canary.7f3a@corp.example"
	who := `"client_user":"` + canary + `","client_name":"` + canary + `","client_hostname":"` + canary + `-mbp","target":"deployment/` + canary + `"`
	path := filepath.Join(t.TempDir(), "operator.log")
	lines := []string{
		`{"fields":{"message":"Session Start",` + who + `}}`,                                          // missing_field session_id
		`{"fields":{"message":"Port Steal","session_id":"` + canary + `","port":"http",` + who + `}}`, // invalid_field port
		`{"fields":{"message":"Session End","session_id":{"id":"` + canary + `"},` + who + `}}`,       // invalid_field session_id
		`{"fields":{"message":"Session Start","session_id":"` + canary + `",` + who,                   // invalid_json
		`thread 'main' panicked for ` + canary,                                                        // not_json
		`2026-08-17T18:15:08.583869Z  INFO operator: reconciling ` + canary,                           // plain_text
		`{"fields":{"message":"Session Start","session_id":"` + canary + `",` + who + `}}`,            // a good event
	}
	exportertest.AppendLines(t, path, lines)

	exposition, logs := runBinaryOnce(t, path, "--label=client_hostname")
	if strings.Contains(strings.ToLower(logs), strings.ToLower("canary.7f3a")) {
		t.Errorf("the canary reached the exporter's log at the default level:\n%s", logs)
	}
	for _, want := range []string{
		`reason=missing_field field=session_id file=` + path + ` line=1 offset=0 `,
		`reason=invalid_field field=port file=` + path + ` line=2 offset=` + strconv.Itoa(len(lines[0])+1) + ` `,
		`reason=invalid_json file=` + path + ` line=4 `,
		`reason=not_json file=` + path + ` line=5 `,
		`reason=plain_text file=` + path + ` line=6 `,
	} {
		if !strings.Contains(logs, want) {
			t.Errorf("no warning with %q:\n%s", want, logs)
		}
	}
	for reason, want := range map[string]float64{"missing_field": 1, "invalid_field": 2, "invalid_json": 1, "not_json": 1, "plain_text": 1} {
		if got := exportertest.Sample(t, exposition, `mirrord_exporter_malformed_lines_total{reason="`+reason+`"}`); got != want {
			t.Errorf("malformed %s = %v, want %v", reason, got, want)
		}
	}
	if got := exportertest.Sample(t, exposition, `mirrord_exporter_events_total{event="session_start"}`); got != 1 {
		t.Errorf("%v session starts, want the good one", got)
	}

	_, debugLogs := runBinaryOnce(t, path, "--label=client_hostname", "--log.level=debug")
	if n := strings.Count(debugLogs, canary); n < len(lines)-1 {
		t.Errorf("the canary is in %d debug lines, want every bad record's:\n%s", n, debugLogs)
	}
}

// TestLongLabelValuesStayApart: two users, and two sessions, whose values
// share their first 300 bytes stay two series and two sessions, each value
// cut to its start and a hash of the whole value (what sha256sum prints,
// first 8 digits); every cut is counted by the field it came from.
func TestLongLabelValuesStayApart(t *testing.T) {
	shared := strings.Repeat("u", 300)
	cut := func(v string) string {
		sum := sha256.Sum256([]byte(v))
		return v[:245] + "…" + hex.EncodeToString(sum[:4])
	}
	start := func(sid, user string) string {
		return `{"fields":{"message":"Session Start","session_id":"` + sid + `","client_user":"` + user + `","target":"pod/p"}}`
	}
	path := filepath.Join(t.TempDir(), "operator.log")
	exportertest.AppendLines(t, path, []string{
		start(shared+"-s1", shared+"-alice"),
		start(shared+"-s2", shared+"-bob"),
		start(shared+"-s2", shared+"-bob"), // the same session again: one session
		`{"fields":{"message":"Session End","session_id":"` + shared + `-s1","client_user":"` + shared + `-alice","target":"pod/p"}}`,
	})
	exposition, _ := runBinaryOnce(t, path)

	var got []string
	for _, line := range strings.Split(exposition, "\n") {
		if strings.HasPrefix(line, "mirrord_sessions_started_total{") || strings.HasPrefix(line, "mirrord_sessions_active{") ||
			strings.HasPrefix(line, "mirrord_exporter_label_values_truncated_total{") {
			got = append(got, line)
		}
	}
	series := func(user string) string {
		return `client_name="",client_user="` + cut(user) + `",target_name="p",target_namespace="",target_type="pod"`
	}
	want := []string{
		`mirrord_exporter_label_values_truncated_total{field="client_cli_version"} 0`,
		`mirrord_exporter_label_values_truncated_total{field="client_id"} 0`,
		`mirrord_exporter_label_values_truncated_total{field="client_name"} 0`,
		`mirrord_exporter_label_values_truncated_total{field="client_user"} 4`,
		`mirrord_exporter_label_values_truncated_total{field="event_type"} 0`,
		`mirrord_exporter_label_values_truncated_total{field="mode"} 0`,
		`mirrord_exporter_label_values_truncated_total{field="queue_type"} 0`,
		`mirrord_exporter_label_values_truncated_total{field="session_id"} 4`,
		`mirrord_exporter_label_values_truncated_total{field="target_name"} 0`,
		`mirrord_exporter_label_values_truncated_total{field="target_namespace"} 0`,
		`mirrord_exporter_label_values_truncated_total{field="target_type"} 0`,
		`mirrord_sessions_active{` + series(shared+"-alice") + `} 0`,
		`mirrord_sessions_active{` + series(shared+"-bob") + `} 1`,
		`mirrord_sessions_started_total{` + series(shared+"-alice") + `} 1`,
		`mirrord_sessions_started_total{` + series(shared+"-bob") + `} 2`,
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestSeriesFlagsAreChecked: negative caps and a zero header or write
// timeout are refused. (The cap itself is tested in package exporter.)
func TestSeriesFlagsAreChecked(t *testing.T) {
	for _, bad := range []string{"--metrics.max-series=-1", "--metrics.series-ttl=-1s", "--web.read-header-timeout=0s", "--web.write-timeout=0s"} {
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
