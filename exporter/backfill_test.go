package exporter_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mirrord-exporter/mirrord-exporter/exporter"
	"github.com/mirrord-exporter/mirrord-exporter/internal/exportertest"
	"github.com/mirrord-exporter/mirrord-exporter/internal/loggen"
)

// omSample is the newest sample of one series of an OpenMetrics file.
type omSample struct {
	ts, value float64
}

// splitSample cuts a sample line into its series (name and labels, as
// written), value and optional timestamp. Label values may hold spaces, so
// the labels are scanned with their quoting.
func splitSample(line string) (series string, fields []string, err error) {
	end := strings.IndexAny(line, "{ ")
	if end < 0 {
		return "", nil, fmt.Errorf("no value in %q", line)
	}
	if line[end] == '{' {
		inQuote := false
		for i := end + 1; i < len(line); i++ {
			switch c := line[i]; {
			case c == '\\' && inQuote:
				i++
			case c == '"':
				inQuote = !inQuote
			case c == '}' && !inQuote:
				end = i + 1
				i = len(line)
			}
		}
	}
	return line[:end], strings.Fields(line[end:]), nil
}

// parseOpenMetrics checks what promtool needs of the backfill output at
// path (each family's samples together, timestamps increasing per series,
// # EOF at the end) and returns the newest sample of every series. It reads
// the file line by line.
func parseOpenMetrics(t *testing.T, path string) map[string]omSample {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	last := map[string]omSample{}
	seenFamily := map[string]bool{}
	family := ""
	eof := false
	for sc.Scan() {
		line := sc.Text()
		if eof {
			t.Fatalf("line after # EOF: %q", line)
		}
		if line == "# EOF" {
			eof = true
			continue
		}
		if name, ok := strings.CutPrefix(line, "# TYPE "); ok {
			family = strings.Fields(name)[0]
			if seenFamily[family] {
				t.Fatalf("family %s is written in two places", family)
			}
			seenFamily[family] = true
			continue
		}
		if strings.HasPrefix(line, "#") {
			continue
		}
		series, fields, err := splitSample(line)
		if err != nil || len(fields) != 2 {
			t.Fatalf("sample line %q: want a value and a timestamp (%v)", line, err)
		}
		if !strings.HasPrefix(series, family) {
			t.Fatalf("sample %q outside its family (current %s)", line, family)
		}
		v, err1 := strconv.ParseFloat(fields[0], 64)
		ts, err2 := strconv.ParseFloat(fields[1], 64)
		if err1 != nil || err2 != nil {
			t.Fatalf("sample line %q: %v %v", line, err1, err2)
		}
		if prev, ok := last[series]; ok && ts <= prev.ts {
			t.Fatalf("series %s: timestamp %v after %v", series, ts, prev.ts)
		}
		last[series] = omSample{ts: ts, value: v}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if !eof {
		t.Fatal("the output does not end with # EOF")
	}
	return last
}

// usageSeries returns the mirrord_* series of a text exposition, without
// the exporter's own mirrord_exporter_* ones, which backfill leaves out.
func usageSeries(t *testing.T, exposition string) map[string]float64 {
	t.Helper()
	out := map[string]float64{}
	for _, line := range strings.Split(exposition, "\n") {
		if line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, "mirrord_exporter_") {
			continue
		}
		series, fields, err := splitSample(line)
		if err != nil || len(fields) != 1 {
			t.Fatalf("exposition line %q (%v)", line, err)
		}
		v, err := strconv.ParseFloat(fields[0], 64)
		if err != nil {
			t.Fatal(err)
		}
		out[series] = v
	}
	return out
}

// runBackfill runs Backfill on the log at path and returns the path of its
// output.
func runBackfill(t *testing.T, step time.Duration, paths ...string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "backfill.om")
	cfg := config(io.Discard, paths...)
	cfg.Once, cfg.InTimeOrder = true, true
	e, err := exporter.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Backfill(context.Background(), exporter.BackfillOutputs{OpenMetrics: out}, step); err != nil {
		t.Fatalf("backfill: %v", err)
	}
	return out
}

// requireLastEqualsOnce fails unless the newest backfilled sample of every
// series equals what --once prints, and both have the same series.
func requireLastEqualsOnce(t *testing.T, last map[string]omSample, once map[string]float64) {
	t.Helper()
	if len(once) < 20 {
		t.Fatalf("--once printed %d usage series, too few for a test", len(once))
	}
	for series, v := range once {
		got, ok := last[series]
		if !ok {
			t.Errorf("%s: in --once (%v), not backfilled", series, v)
		} else if got.value != v {
			t.Errorf("%s: last sample %v, --once %v", series, got.value, v)
		}
	}
	for series, s := range last {
		if _, ok := once[series]; !ok {
			t.Errorf("%s: backfilled (%v), not in --once", series, s.value)
		}
	}
}

// requireSeatGauges fails unless the exposition has every seat gauge for
// every window, each above 0.
func requireSeatGauges(t *testing.T, exposition string) {
	t.Helper()
	for _, name := range []string{"mirrord_clients_seen", "mirrord_users_seen", "mirrord_sessions_concurrent_peak", "mirrord_users_concurrent_peak"} {
		for _, w := range []string{"1d", "7d", "30d"} {
			series := name + `{window="` + w + `"}`
			if v := exportertest.Sample(t, exposition, series); !(v > 0) {
				t.Errorf("%s = %v, want above 0", series, v)
			}
		}
	}
}

// TestBackfillLastSampleEqualsOnce backfills a generated log with every
// nasty part and checks the samples at the final event against --once and
// the generator's truth.
func TestBackfillLastSampleEqualsOnce(t *testing.T) {
	for _, w := range []loggen.Wrapper{loggen.Raw, loggen.Docker, loggen.CRI} {
		t.Run(w.String(), func(t *testing.T) {
			cfg := exportertest.GenConfig(w, 41)
			cfg.Sessions, cfg.Span = 120, 3*time.Hour
			path := filepath.Join(t.TempDir(), "operator.log")
			truth := exportertest.WriteLog(t, path, cfg)
			once := onceOf(t, path)
			exportertest.RequireTruth(t, once, truth)

			last := parseOpenMetrics(t, runBackfill(t, 10*time.Minute, path))
			requireLastEqualsOnce(t, last, usageSeries(t, once))
			// The seat gauges, which the truth leaves out, are compared
			// too: they must be there, and not all zero.
			requireSeatGauges(t, once)

			// Longer than --session.max-age, so that sessions expire during
			// the replay: the truth does not expire them, --once does.
			long := exportertest.GenConfig(w, 47)
			long.Sessions, long.Span = 150, 30*time.Hour
			longPath := filepath.Join(t.TempDir(), "long.log")
			exportertest.WriteLog(t, longPath, long)
			longOnce := onceOf(t, longPath)
			if exportertest.Sample(t, longOnce, "mirrord_exporter_sessions_expired_total") == 0 {
				t.Error("no session expired in the long log")
			}
			requireLastEqualsOnce(t, parseOpenMetrics(t, runBackfill(t, 10*time.Minute, longPath)), usageSeries(t, longOnce))
			requireSeatGauges(t, longOnce)

			// The last sample is at the final event's time.
			end := exportertest.Sample(t, once, "mirrord_last_event_timestamp_seconds")
			if got := last["mirrord_last_event_timestamp_seconds"].ts; got < end || got > end+60 {
				t.Errorf("last sample at %v, final functional event at %v", got, end)
			}
		})
	}
}

// TestBackfillSortsInputs splits a log in two files, interleaved, so that
// reading them concurrently does not give time order: backfill sorts the
// events and must end where --once on the whole log ends.
func TestBackfillSortsInputs(t *testing.T) {
	dir := t.TempDir()
	cfg := exportertest.GenConfig(loggen.Raw, 43)
	cfg.Sessions, cfg.Span, cfg.Nasty, cfg.BigLines = 80, 2*time.Hour, false, false
	whole := filepath.Join(dir, "whole.log")
	exportertest.WriteLog(t, whole, cfg)
	b, err := os.ReadFile(whole)
	if err != nil {
		t.Fatal(err)
	}
	var parts [2]bytes.Buffer
	for i, line := range bytes.SplitAfter(b, []byte("\n")) {
		parts[i%2].Write(line)
	}
	for i := range parts {
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("part%d.log", i)), parts[i].Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	once := onceOf(t, whole)
	last := parseOpenMetrics(t, runBackfill(t, 5*time.Minute, filepath.Join(dir, "part*.log")))
	requireLastEqualsOnce(t, last, usageSeries(t, once))
}
