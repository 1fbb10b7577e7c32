package prometheus

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v2"

	"github.com/mirrord-exporter/mirrord-exporter/internal/prometheustest"
)

// promtool runs promtool with a deadline so that a hang fails the test.
func promtool(t *testing.T, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, prometheustest.Tool(t, "promtool"), args...).CombinedOutput()
	if err != nil {
		t.Fatalf("promtool %v: %v\n%s", args, err, out)
	}
}

func ruleFiles(t *testing.T) []string {
	files, err := filepath.Glob("*.yml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no rule files: %v", err)
	}
	return files
}

func TestCheckRules(t *testing.T) {
	promtool(t, append([]string{"check", "rules"}, ruleFiles(t)...)...)
}

func TestRuleUnitTests(t *testing.T) {
	tests, err := filepath.Glob("tests/*.yml")
	if err != nil || len(tests) == 0 {
		t.Fatalf("no rule tests: %v", err)
	}
	promtool(t, append([]string{"test", "rules"}, tests...)...)
}

// TestEveryAlertTested requires, for every alert, a unit test where it fires
// and one where it does not: promtool only runs the tests that exist.
func TestEveryAlertTested(t *testing.T) {
	var rules struct {
		Groups []struct {
			Rules []struct{ Alert string }
		}
	}
	var tests struct {
		Tests []struct {
			AlertRuleTest []struct {
				Alertname string
				ExpAlerts []any `yaml:"exp_alerts"`
			} `yaml:"alert_rule_test"`
		}
	}
	read(t, "alerts.yml", &rules)
	read(t, "tests/alerts_test.yml", &tests)
	fires, quiet := map[string]bool{}, map[string]bool{}
	for _, tc := range tests.Tests {
		for _, a := range tc.AlertRuleTest {
			if len(a.ExpAlerts) > 0 {
				fires[a.Alertname] = true
			} else {
				quiet[a.Alertname] = true
			}
		}
	}
	n := 0
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				continue
			}
			n++
			if !fires[r.Alert] {
				t.Errorf("alert %s has no test case where it fires", r.Alert)
			}
			if !quiet[r.Alert] {
				t.Errorf("alert %s has no test case where it stays quiet", r.Alert)
			}
		}
	}
	if n == 0 {
		t.Fatal("no alerts read from alerts.yml")
	}
}

func read(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// runbookBase is where every alert's runbook_url points: a section of
// docs/runbooks.md named after the alert.
const runbookBase = "https://github.com/mirrord-exporter/mirrord-exporter/blob/main/docs/runbooks.md#"

// TestEveryAlertHasARunbook: each alert's runbook_url names a section that
// docs/runbooks.md has, and every section there is an alert's.
func TestEveryAlertHasARunbook(t *testing.T) {
	var rules struct {
		Groups []struct {
			Rules []struct {
				Alert       string
				Annotations map[string]string
			}
		}
	}
	read(t, "alerts.yml", &rules)
	doc, err := os.ReadFile("../../docs/runbooks.md")
	if err != nil {
		t.Fatal(err)
	}
	sections := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^## (\S+)$`).FindAllSubmatch(doc, -1) {
		sections[string(m[1])] = true
	}
	alerts := map[string]bool{}
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				continue
			}
			alerts[r.Alert] = true
			// GitHub's anchor of a heading is its text in lower case.
			if want := runbookBase + strings.ToLower(r.Alert); r.Annotations["runbook_url"] != want {
				t.Errorf("alert %s: runbook_url %q, want %q", r.Alert, r.Annotations["runbook_url"], want)
			}
			if !sections[r.Alert] {
				t.Errorf("alert %s has no section in docs/runbooks.md", r.Alert)
			}
		}
	}
	for s := range sections {
		if !alerts[s] {
			t.Errorf("docs/runbooks.md has a section %q for no alert", s)
		}
	}

	// The README's table of alerts lists the same ones.
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	listed := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^\| (Mirrord\w+) \|`).FindAllSubmatch(readme, -1) {
		listed[string(m[1])] = true
	}
	for a := range alerts {
		if !listed[a] {
			t.Errorf("README.md's table of alerts lacks %s", a)
		}
	}
	for a := range listed {
		if !alerts[a] {
			t.Errorf("README.md's table of alerts lists %s, which alerts.yml does not have", a)
		}
	}
}
