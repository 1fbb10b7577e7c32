package main

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/mirrord-exporter/mirrord-exporter/internal/exportertest"
	"github.com/mirrord-exporter/mirrord-exporter/internal/loggen"
)

const testPseudonymKey = "test key, not a secret: 0123456789"

// labelValues returns the distinct values of label in the exposition.
func labelValues(t *testing.T, exposition, label string) []string {
	t.Helper()
	p := expfmt.NewTextParser(model.LegacyValidation)
	families, err := p.TextToMetricFamilies(strings.NewReader(exposition))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, f := range families {
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == label && !slices.Contains(out, l.GetValue()) {
					out = append(out, l.GetValue())
				}
			}
		}
	}
	slices.Sort(out)
	return out
}

// seatLines are the lines of the distinct client and user counts.
func seatLines(exposition string) []string {
	var out []string
	for _, line := range strings.Split(exposition, "\n") {
		if strings.HasPrefix(line, "mirrord_users_seen") || strings.HasPrefix(line, "mirrord_clients_seen") {
			out = append(out, line)
		}
	}
	return out
}

// TestOncePseudonymized: with client_user and client_name pseudonymized, no
// email or name of the log is in the output, the distinct counts are those
// without, and the pseudonym command finds a user's series.
func TestOncePseudonymized(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "operator.log")
	exportertest.WriteLog(t, path, exportertest.GenConfig(loggen.Raw, 42))
	keyFile := filepath.Join(dir, "key")
	if err := os.WriteFile(keyFile, []byte(testPseudonymKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	plain := runOnce(t, nil, "--input.path="+path)
	pseudo := runOnce(t, nil, "--input.path="+path,
		"--label.pseudonymize=client_user", "--label.pseudonymize=client_name", "--label.pseudonymize-key-file="+keyFile)

	users, names := labelValues(t, plain, "client_user"), labelValues(t, plain, "client_name")
	if len(users) < 5 || len(names) < 5 {
		t.Fatalf("too few users (%d) or names (%d) in the log to test", len(users), len(names))
	}
	anon := regexp.MustCompile(`^anon-[0-9a-f]{16}$`)
	for _, label := range []string{"client_user", "client_name"} {
		raw, got := labelValues(t, plain, label), labelValues(t, pseudo, label)
		if len(got) != len(raw) {
			t.Errorf("%s: %d distinct values pseudonymized, %d raw", label, len(got), len(raw))
		}
		for _, v := range got {
			if v != "" && !anon.MatchString(v) {
				t.Errorf("%s=%q is not a pseudonym", label, v)
			}
		}
	}
	for _, v := range slices.Concat(users, names) {
		// Anywhere as a label value; emails and full names anywhere at all
		// (a short name such as "eve" is in "level").
		whole := strings.ContainsAny(v, "@ ") && strings.Contains(pseudo, v)
		if v != "" && !strings.HasPrefix(v, "__") && (whole || strings.Contains(pseudo, `"`+v+`"`)) {
			t.Errorf("raw value %q in the pseudonymized output", v)
		}
	}
	// Not pseudonymized: unchanged.
	if targets := labelValues(t, pseudo, "target_name"); !slices.Equal(targets, labelValues(t, plain, "target_name")) {
		t.Errorf("target_name changed: %q", targets)
	}

	seats := seatLines(plain)
	if len(seats) < 2 {
		t.Fatalf("no seat counts in the output: %q", seats)
	}
	if got := seatLines(pseudo); !slices.Equal(got, seats) {
		t.Errorf("distinct counts pseudonymized %q, raw %q", got, seats)
	}

	var email string
	for _, u := range users {
		if strings.Contains(u, "@") {
			email = u
			break
		}
	}
	if email == "" {
		email = users[0]
	}
	var stdout, stderr bytes.Buffer
	if code := run([]string{"pseudonym", "--key-file=" + keyFile, email, ""}, nil, &stdout, &stderr); code != 0 {
		t.Fatalf("pseudonym: exit code %d: %s", code, stderr.String())
	}
	lines := strings.Split(stdout.String(), "\n")
	if len(lines) != 3 || lines[1] != "" || lines[2] != "" {
		t.Fatalf("pseudonym printed %q, want one line per value", stdout.String())
	}
	if !strings.Contains(pseudo, `client_user="`+lines[0]+`"`) {
		t.Errorf("pseudonym of %s, %s, is no client_user in the output", email, lines[0])
	}
}

func TestPseudonymFlags(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	key, short, empty := write("key", testPseudonymKey), write("short", "0123456789abcde\n"), write("empty", "")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--label.pseudonymize=client_user"}, "--label.pseudonymize=client_user needs --label.pseudonymize-key-file"},
		{[]string{"--label.pseudonymize-key-file=" + key}, "--label.pseudonymize-key-file needs --label.pseudonymize"},
		{[]string{"--label.pseudonymize=client_user", "--label.pseudonymize-key-file=" + short}, "--label.pseudonymize-key-file: " + short + ": the key is 15 bytes"},
		{[]string{"--label.pseudonymize=client_user", "--label.pseudonymize-key-file=" + empty}, "--label.pseudonymize-key-file: " + empty + ": the key is empty"},
		{[]string{"--label.pseudonymize=client_user", "--label.pseudonymize-key-file=" + filepath.Join(dir, "missing")}, "--label.pseudonymize-key-file: open "},
		{[]string{"--label.pseudonymize=session_id", "--label.pseudonymize-key-file=" + key}, "--label.pseudonymize: field \"session_id\""},
		{[]string{"report", "--label.pseudonymize=client_user"}, "--label.pseudonymize=client_user needs --label.pseudonymize-key-file"},
		{[]string{"pseudonym", "--key-file=" + short, "a"}, "--key-file: " + short + ": the key is 15 bytes"},
	} {
		_, err := parseFlags(append([]string{"--input.path=x"}, c.args...))
		if err == nil || !strings.HasPrefix(err.Error(), c.want) {
			t.Errorf("%q: error %v, want %q", c.args, err, c.want)
		}
	}
	o, err := parseFlags([]string{"--input.path=x", "--label.pseudonymize=client_user", "--label.pseudonymize-key-file=" + key})
	if err != nil || o.pseudonymKey == nil {
		t.Errorf("valid flags: %v", err)
	}
}
