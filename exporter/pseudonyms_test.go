package exporter_test

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mirrord-exporter/mirrord-exporter/internal/exportertest"
	"github.com/mirrord-exporter/mirrord-exporter/pseudonym"
	"github.com/mirrord-exporter/mirrord-exporter/statefile"
)

// TestStatePseudonymized: the state file keeps pseudonyms only, and the
// fingerprint of the key, never the key; restarted with the same settings
// the exporter resumes whole (the same people counted once), and with a
// different key or without pseudonyms the families labelled from the log
// and the identities seen start afresh, with one warning saying why.
func TestStatePseudonymized(t *testing.T) {
	dir := t.TempDir()
	live := filepath.Join(dir, "operator.log")
	keyA, _ := pseudonym.NewKey([]byte("first test key, not a secret"))
	keyB, _ := pseudonym.NewKey([]byte("second test key, not a secret"))
	const users = 10
	written := 0
	write := func(sessions int) {
		var lines []string
		for i := range sessions {
			u := i % users
			lines = append(lines, fmt.Sprintf(`{"timestamp":"2026-08-17T08:%02d:00Z","fields":{"message":"Session Start","session_id":"s%d","client_user":"user%d@example.com","client_name":"User Number%d","client_id":"cert-%d"}}`, written%60, written, u, u, u))
			written++
		}
		exportertest.AppendLines(t, live, lines)
	}
	usersSeen := func(body string) float64 {
		return exportertest.Sample(t, body, `mirrord_users_seen{window="30d"}`)
	}
	// run runs the exporter until it has read and applied every line and
	// counts wantUsers users seen (an event is counted in
	// mirrord_exporter_events_total a moment before its users are seen).
	run := func(wantUsers float64, key *pseudonym.Key, fields ...string) (string, string) {
		t.Helper()
		cfg := stateConfig(dir, live)
		cfg.Pseudonymize, cfg.PseudonymKey = fields, key
		r := start(t, cfg, false)
		series := `mirrord_exporter_log_lines_total{input="` + live + `"}`
		var body string
		exportertest.WaitFor(t, fmt.Sprintf("every line and event, and %v users seen", wantUsers), func() bool {
			body = r.scrape(t)
			return exportertest.Sample(t, body, series) == float64(written) &&
				exportertest.Sample(t, body, `mirrord_exporter_events_total{event="session_start"}`) == float64(written) &&
				usersSeen(body) == wantUsers
		})
		r.shutdown(t)
		return body, r.logs.String()
	}
	stateHas := func(s string) bool {
		t.Helper()
		b, err := os.ReadFile(stateConfig(dir, live).StateFile)
		if err != nil {
			t.Fatal(err)
		}
		return strings.Contains(string(b), s)
	}
	warnings := func(logs string) []string {
		var out []string
		for _, l := range strings.Split(logs, "\n") {
			if strings.Contains(l, "level=warn") {
				out = append(out, l)
			}
		}
		return out
	}
	write(20)
	body, _ := run(users, keyA, "client_user", "client_name", "client_id")
	for _, raw := range []string{"@example.com", "User Number", "cert-", "first test key"} {
		if stateHas(raw) || strings.Contains(body, raw) {
			t.Errorf("%q in the state file or the metrics", raw)
		}
	}
	if !stateHas(keyA.Of("user3@example.com")) || !stateHas(`"key_fingerprint":"`+keyA.Fingerprint()+`"`) {
		t.Error("the state file lacks a user's pseudonym or the key's fingerprint")
	}

	// The same settings: resumed whole, the same people.
	write(20)
	// 10 users, not 20: the same people as before the restart.
	body, logs := run(users, keyA, "client_name", "client_id", "client_user", "client_user")
	if w := warnings(logs); len(w) > 0 {
		t.Errorf("warnings with the same settings: %q", w)
	}
	if got := exportertest.Sample(t, body, `mirrord_sessions_started_total{client_name="`+keyA.Of("User Number3")+`",client_user="`+keyA.Of("user3@example.com")+`",target_name="",target_namespace="",target_type="targetless"}`); got != 4 {
		t.Errorf("user3's sessions %v, want 4", got)
	}

	for _, c := range []struct {
		name   string
		key    *pseudonym.Key
		fields []string
		want   []string
	}{
		{"another key", keyB, []string{"client_user", "client_name", "client_id"}, []string{"pseudonymized=client_id,client_name,client_user ", "saved_pseudonymized=client_id,client_name,client_user ", "key_changed=true "}},
		{"fewer fields", keyB, []string{"client_user"}, []string{"pseudonymized=client_user ", "saved_pseudonymized=client_id,client_name,client_user ", "key_changed=false "}},
		{"none", nil, nil, []string{`pseudonymized= `, "saved_pseudonymized=client_user ", "key_changed=false "}},
	} {
		t.Run(c.name, func(t *testing.T) {
			write(5)
			// Afresh: only the 5 users of the 5 sessions since the restart.
			_, logs := run(5, c.key, c.fields...)
			w := warnings(logs)
			if len(w) != 1 {
				t.Fatalf("%d warnings, want one:\n%s", len(w), logs)
			}
			for _, want := range append(c.want,
				`msg="Resuming from the state file, which was saved with other pseudonymization settings`,
				"families_afresh=mirrord_sessions_started_total,") {
				if !strings.Contains(w[0], want) {
					t.Errorf("the warning lacks %q:\n%s", want, w[0])
				}
			}
			// No old pseudonym in the identities seen, the sessions or the
			// families labelled from the log. (A family counted by user
			// outside the configured labels would have to start afresh
			// too: see collector.RestoreUnlabelled.)
			saved, err := statefile.Load(stateConfig(dir, live).StateFile)
			if err != nil {
				t.Fatal(err)
			}
			old := keyA.Of("user3@example.com")
			for _, s := range slices.Concat(saved.Collector.UsersSeen, saved.Collector.ClientsSeen) {
				if s.ID == old || s.ID == keyA.Of("cert-3") {
					t.Errorf("the state file's seats still hold %s", s.ID)
				}
			}
			for _, s := range saved.Collector.Sessions {
				if s.User == old {
					t.Errorf("session %s of the old user kept", s.ID)
				}
			}
			for _, f := range saved.Collector.Families {
				if !strings.HasPrefix(f.Name, "mirrord_sessions_") || strings.Contains(f.Name, "cli_version") {
					continue
				}
				for _, ss := range f.Series {
					if slices.Contains(ss.Values, old) {
						t.Errorf("%s still has the series %q", f.Name, ss.Values)
					}
				}
			}
		})
	}
	if !stateHas("user0@example.com") || stateHas("key_fingerprint") {
		t.Error("without pseudonyms, the state file should hold raw values and no fingerprint")
	}
}
