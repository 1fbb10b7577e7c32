package main

import (
	"bytes"
	"testing"
)

// TestBackfillFlags: the subcommands refuse what they cannot do (exit code
// 2, as kingpin's own errors).
func TestBackfillFlags(t *testing.T) {
	for _, args := range [][]string{
		{"backfill", "--input.path=x"},                            // no --output
		{"backfill", "--input.path=x", "--output=y", "--step=0s"}, // step too small
		{"backfill", "--input.path=x", "--output=y", "--once"},
		{"report", "--kubernetes"},
	} {
		var stdout, stderr bytes.Buffer
		if code := run(args, nil, &stdout, &stderr); code != 2 {
			t.Errorf("%v: exit code %d, want 2; stderr:\n%s", args, code, stderr.String())
		}
	}
}
