package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/mirrord-exporter/mirrord-exporter/internal/loggen"
)

// TestRun: the CLI writes what Generate writes for the same settings, and
// its truth file decodes back to the same Truth.
func TestRun(t *testing.T) {
	dir := t.TempDir()
	logFile, truthFile := filepath.Join(dir, "op.log"), filepath.Join(dir, "truth.json")
	var stderr bytes.Buffer
	args := []string{"-seed", "9", "-sessions", "40", "-noise", "0.8", "-wrapper", "cri", "-big", "-nasty",
		"-span", "30m", "-start", "2026-01-02T03:04:05Z", "-o", logFile, "-truth", truthFile}
	if code := run(args, &bytes.Buffer{}, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	var want bytes.Buffer
	wantTruth, err := loggen.Generate(&want, loggen.Config{
		Seed: 9, Sessions: 40, NoiseRatio: 0.8, Wrapper: loggen.CRI, BigLines: true, Nasty: true,
		Span: 30 * time.Minute, Start: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(logFile)
	if err != nil || !bytes.Equal(got, want.Bytes()) {
		t.Fatalf("the log differs from Generate's (%v)", err)
	}
	b, err := os.ReadFile(truthFile)
	if err != nil {
		t.Fatal(err)
	}
	var gotTruth loggen.Truth
	if err := json.Unmarshal(b, &gotTruth); err != nil || !reflect.DeepEqual(gotTruth, wantTruth) {
		t.Fatalf("the truth file does not decode to the truth (%v)", err)
	}
}

func TestRunStdoutAndErrors(t *testing.T) {
	var out bytes.Buffer
	if code := run([]string{"-sessions", "3"}, &out, &bytes.Buffer{}); code != 0 || out.Len() == 0 {
		t.Fatalf("exit %d, %d bytes on stdout", code, out.Len())
	}
	for _, args := range [][]string{{"-wrapper", "json"}, {"-noise", "1"}, {"-start", "yesterday"}, {"extra"}, {"-nope"}} {
		if code := run(args, &bytes.Buffer{}, &bytes.Buffer{}); code == 0 {
			t.Errorf("%v: exit 0", args)
		}
	}
}
