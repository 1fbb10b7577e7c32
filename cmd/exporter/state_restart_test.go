package main

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/mirrord-exporter/mirrord-exporter/internal/exportertest"
	"github.com/mirrord-exporter/mirrord-exporter/statefile"
)

// TestCorruptStateCopiesAreBounded starts the exporter again and again on
// an unusable state file: each start sets the file aside and starts
// afresh, and no more than the newest statefile.KeepSetAside copies are
// left (they are as large as the state and hold user names), the newest
// ones, none overwritten by another although several starts fall within
// one second.
func TestCorruptStateCopiesAreBounded(t *testing.T) {
	dir := t.TempDir()
	logPath := filepath.Join(dir, "operator.log")
	exportertest.AppendLines(t, logPath, []string{`{"fields":{"message":"Session Start","session_id":"A","client_user":"alice"}}`})
	state := filepath.Join(dir, "exporter.state")
	const starts = statefile.KeepSetAside + 3
	var contents []string
	for i := range starts {
		content := fmt.Sprintf("not a state file, start %d", i)
		contents = append(contents, content)
		if err := os.WriteFile(state, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		p := startExporter(t, "--input.path="+logPath, "--state.file="+state)
		exportertest.WaitFor(t, "readiness", func() bool { code, _ := p.get(t, "/-/ready"); return code == http.StatusOK })
		p.stop(t)
		logs := p.stderr.String()
		if n := strings.Count(logs, `msg="The state file cannot be used; setting it aside (the newest `+strconv.Itoa(statefile.KeepSetAside)+` such copies are kept)`); n != 1 {
			t.Fatalf("start %d: the unusable file is logged %d times, want once:\n%s", i, n, logs)
		}
		if removes := strings.Contains(logs, "removed_older_copies="); removes != (i >= statefile.KeepSetAside) {
			t.Errorf("start %d: older copies removed: %v, want %v:\n%s", i, removes, i >= statefile.KeepSetAside, logs)
		}

		copies, err := filepath.Glob(state + ".corrupt-*")
		if err != nil {
			t.Fatal(err)
		}
		var kept []string
		for _, c := range copies {
			b, err := os.ReadFile(c)
			if err != nil {
				t.Fatal(err)
			}
			kept = append(kept, string(b))
		}
		slices.Sort(kept)
		want := slices.Clone(contents[max(0, len(contents)-statefile.KeepSetAside):])
		if !slices.Equal(kept, want) {
			t.Fatalf("after start %d the copies %v hold %q, want the newest %q", i, copies, kept, want)
		}
	}
}

// TestLabelChangeResumesPositions stops the exporter halfway through a log
// and starts it again with another --label: it resumes at the saved
// position instead of reading the log again, says so in one warning naming
// both label sets and the families that start afresh, keeps the counts that
// do not depend on the labels, and counts the families labelled from the
// log, with the new label, from the saved position on.
func TestLabelChangeResumesPositions(t *testing.T) {
	dir := t.TempDir()
	logPath := filepath.Join(dir, "operator.log")
	state := filepath.Join(dir, "exporter.state")
	const half = 100
	part := func(from int) []string {
		var lines []string
		for i := from; i < from+half; i++ {
			lines = append(lines,
				fmt.Sprintf(`{"fields":{"message":"Session Start","session_id":"s%d","client_user":"u%d","client_hostname":"h%d"}}`, i, i, i),
				`{"fields":{"message":"Message Processing","event_type":"http","mode":"steal","response_status_code":200}}`)
		}
		return lines
	}
	args := []string{"--input.path=" + logPath, "--state.file=" + state, "--state.save-interval=1h", "--session.max-age=0"}
	lines := func(body string) float64 {
		return exportertest.Sample(t, body, `mirrord_exporter_log_lines_total{input="`+logPath+`"}`)
	}

	exportertest.AppendLines(t, logPath, part(0))
	p := startExporter(t, args...)
	exportertest.WaitFor(t, "the first half", func() bool { return lines(scrape(t, p.base)) == 2*half })
	p.stop(t)

	exportertest.AppendLines(t, logPath, part(half))
	p = startExporter(t, append(args, "--label=client_hostname")...)
	exportertest.WaitFor(t, "the second half", func() bool { return lines(scrape(t, p.base)) == 4*half })
	body := scrape(t, p.base)
	p.stop(t)
	logs := p.stderr.String()

	var warnings []string
	for _, line := range strings.Split(logs, "\n") {
		if strings.Contains(line, "level=warn") {
			warnings = append(warnings, line)
		}
	}
	if len(warnings) != 1 {
		t.Fatalf("%d warnings, want one:\n%s", len(warnings), logs)
	}
	for _, want := range []string{
		`msg="Resuming from the state file, which was saved with other labels: the inputs resume at their saved positions, but the families labelled from the log start afresh`,
		`saved_labels=client_user,client_name,target_namespace,target_type,target_name `,
		`labels=client_user,client_name,target_namespace,target_type,target_name,client_hostname `,
		`families_afresh=mirrord_sessions_started_total,mirrord_sessions_ended_total,mirrord_session_duration_seconds,mirrord_sessions_active,mirrord_ports_stolen_total,mirrord_ports_mirrored_total,mirrord_ports_released_total,mirrord_ports_active,mirrord_targets_copied_total,mirrord_sessions_started_by_cli_version_total `,
		fmt.Sprintf("sessions_forgotten=%d ", half),
	} {
		if !strings.Contains(warnings[0], want) {
			t.Errorf("the warning lacks %s:\n%s", want, warnings[0])
		}
	}
	if copies, _ := filepath.Glob(state + ".corrupt-*"); len(copies) > 0 {
		t.Errorf("the state file was set aside: %v", copies)
	}

	// Read again from the start, the second half's sessions would be twice
	// as many, and the counts not labelled from the log would be reset.
	var started, active float64
	for _, line := range strings.Split(body, "\n") {
		if !strings.Contains(line, `client_hostname="h`) {
			continue
		}
		v, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case strings.HasPrefix(line, "mirrord_sessions_started_total{"):
			started += v
		case strings.HasPrefix(line, "mirrord_sessions_active{"):
			active += v
		}
	}
	for what, got := range map[string]float64{
		"sessions started, with client_hostname":               started,
		"sessions active, with client_hostname":                active,
		`mirrord_exporter_events_total{event="session_start"}`: exportertest.Sample(t, body, `mirrord_exporter_events_total{event="session_start"}`),
		"mirrord_messages_processed_total":                     exportertest.Sample(t, body, `mirrord_messages_processed_total{event_type="http",mode="steal",queue_type="",response_status_class="2xx"}`),
		"mirrord_exporter_state_restored":                      exportertest.Sample(t, body, "mirrord_exporter_state_restored"),
	} {
		want := map[string]float64{
			"sessions started, with client_hostname": half, "sessions active, with client_hostname": half,
			`mirrord_exporter_events_total{event="session_start"}`: 2 * half, "mirrord_messages_processed_total": 2 * half,
			"mirrord_exporter_state_restored": 1,
		}[what]
		if got != want {
			t.Errorf("%s = %v, want %v", what, got, want)
		}
	}
}
