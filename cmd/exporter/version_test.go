package main

import (
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
)

// TestVersionNeverEmpty: the tests' binary is a plain go build, without the
// release's -ldflags; it still reports a version, in --version and in
// mirrord_exporter_build_info.
func TestVersionNeverEmpty(t *testing.T) {
	out, err := exec.Command(exporterBinary, "--version").CombinedOutput()
	if err != nil {
		t.Fatalf("--version: %v\n%s", err, out)
	}
	if m := regexp.MustCompile(`version (\S+) \(`).FindSubmatch(out); m == nil {
		t.Errorf("--version shows no version:\n%s", out)
	}
	metrics, err := exec.Command(exporterBinary, "--once", "--input.path="+filepath.Join("..", "..", "examples", "operator.log")).Output()
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`(?m)^mirrord_exporter_build_info\{.*version="[^"]+"`).Match(metrics) {
		t.Errorf("mirrord_exporter_build_info has an empty version:\n%s", regexp.MustCompile(`(?m)^mirrord_exporter_build_info.*$`).Find(metrics))
	}
}
