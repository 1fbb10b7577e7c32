package main

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/alecthomas/kingpin/v2"
)

// kingpinBuiltin are the flags kingpin adds itself; --help and --version
// are in every exporter and need no row.
var kingpinBuiltin = []string{"help", "help-long", "help-man", "version", "completion-bash", "completion-script-bash", "completion-script-zsh"}

// flagRow matches a row of the README's flags table: the flag (a command
// before it for a command's own flag) and its default.
var flagRow = regexp.MustCompile("^\\| `(?:(\\w+) )?--(\\[no-\\])?([a-z0-9.-]+)` \\|([^|]*)\\|")

// TestREADMEFlagsTable keeps the README's flags table and the binary's
// flags in step: the same flags, each with the default --help gives.
func TestREADMEFlagsTable(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	documented := map[string]string{}
	inFlags := false
	for _, line := range strings.Split(string(readme), "\n") {
		if strings.HasPrefix(line, "#") {
			inFlags = strings.TrimLeft(line, "# ") == "Flags"
			continue
		}
		m := flagRow.FindStringSubmatch(line)
		if !inFlags || m == nil {
			continue
		}
		name := strings.TrimSpace(m[1] + " " + m[3])
		if _, dup := documented[name]; dup {
			t.Errorf("README: --%s has two rows", name)
		}
		documented[name] = strings.Trim(strings.TrimSpace(m[4]), "`")
	}
	if len(documented) == 0 {
		t.Fatal("README: no flags table under a Flags heading")
	}

	app, _ := newApp()
	model := app.Model()
	actual := map[string]string{}
	add := func(prefix string, flags []*kingpin.FlagModel) {
		for _, f := range flags {
			if f.Hidden || slices.Contains(kingpinBuiltin, f.Name) {
				continue
			}
			actual[strings.TrimSpace(prefix+" "+f.Name)] = readmeDefault(f)
		}
	}
	add("", model.Flags)
	for _, c := range model.Commands {
		add(c.Name, c.Flags)
	}

	for name, def := range actual {
		doc, ok := documented[name]
		switch {
		case !ok:
			t.Errorf("README: --%s (default %q) has no row in the flags table", name, def)
		case doc != def:
			t.Errorf("README: --%s default is %q in the table, %q in --help", name, doc, def)
		}
	}
	for name := range documented {
		if _, ok := actual[name]; !ok {
			t.Errorf("README: the flags table has --%s, which the exporter does not have", name)
		}
	}
}

// readmeDefault is a flag's default as the README's table writes it: on or
// off for a switch, (required), or the value.
func readmeDefault(f *kingpin.FlagModel) string {
	switch {
	case f.Required:
		return "(required)"
	case f.IsBoolFlag() && slices.Equal(f.Default, []string{"true"}):
		return "on"
	case f.IsBoolFlag():
		return "off"
	}
	return strings.Join(f.Default, ", ")
}
