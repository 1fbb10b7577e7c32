package decode

import (
	"slices"
	"strings"
	"testing"

	"github.com/mirrord-exporter/mirrord-exporter/pseudonym"
)

func TestPseudonymize(t *testing.T) {
	key, err := pseudonym.NewKey([]byte("test key, not a secret: 0123456789"))
	if err != nil {
		t.Fatal(err)
	}
	labels, err := NewLabelConfig([]string{"client_hostname"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	labels, err = labels.Pseudonymize(key, []string{"client_user", "client_name", "client_id", "client_hostname", "client_user"})
	if err != nil {
		t.Fatal(err)
	}
	if fields, fp := labels.Pseudonymized(); !slices.Equal(fields, []string{"client_hostname", "client_id", "client_name", "client_user"}) || fp != key.Fingerprint() {
		t.Errorf("Pseudonymized() = %q, %q", fields, fp)
	}
	d := New(labels)
	records := []string{
		`{"timestamp":"2026-08-17T18:15:08Z","level":"INFO","fields":{"message":"Session Start","session_id":"5EF7258B5ED09466","client_user":"alice@example.com","client_name":"Alice Liddell","client_hostname":"","client_id":"c-1","target":"deployment/api"}}`,
		// The text format goes through the same place.
		`2026-08-17T18:15:08.583869Z  INFO operator_session::controller: Session Start session_id="5EF7258B5ED09466" client_user="alice@example.com" client_name="Alice Liddell" client_id="c-1" target="deployment/api"`,
	}
	for _, rec := range records {
		for range 2 { // the second time from the decoder's table
			var ev Event
			if ok, reason := d.Decode([]byte(rec), &ev); !ok {
				t.Fatalf("not decoded (%q): %s", reason, rec)
			}
			// client_user, client_name, target_namespace, target_type, target_name, client_hostname (empty stays empty)
			want := []string{"anon-a1f1bea80b65dc72", "anon-9d39d53b7e2d1865", "", "deployment", "api", ""}
			if !slices.Equal(ev.Labels, want) {
				t.Errorf("Labels = %q, want %q", ev.Labels, want)
			}
			if ev.ClientUser != "anon-a1f1bea80b65dc72" || ev.ClientID != key.Of("c-1") {
				t.Errorf("ClientUser %q, ClientID %q", ev.ClientUser, ev.ClientID)
			}
			if ev.SessionID != "5EF7258B5ED09466" {
				t.Errorf("SessionID %q", ev.SessionID)
			}
		}
	}

	// Without client_id among the fields, and client_id a label.
	labels, _ = NewLabelConfig([]string{"client_id"}, nil)
	labels, _ = labels.Pseudonymize(key, []string{"client_user"})
	var ev Event
	if ok, _ := New(labels).Decode([]byte(records[0]), &ev); !ok {
		t.Fatal("not decoded")
	}
	if ev.ClientID != "c-1" || ev.ClientUser != "anon-a1f1bea80b65dc72" || ev.Labels[1] != "Alice Liddell" || ev.Labels[len(ev.Labels)-1] != "c-1" {
		t.Errorf("ClientID %q, ClientUser %q, Labels %q", ev.ClientID, ev.ClientUser, ev.Labels)
	}

	for _, bad := range [][]string{{"session_id"}, {"not a field"}, {"mode"}, {"client_cli_version"}} {
		if _, err := labels.Pseudonymize(key, bad); err == nil {
			t.Errorf("Pseudonymize(%q) accepted", bad)
		}
	}
	if _, err := labels.Pseudonymize(nil, []string{"client_user"}); err == nil || !strings.Contains(err.Error(), "key") {
		t.Errorf("no key: %v", err)
	}
	if same, err := labels.Pseudonymize(nil, nil); err != nil || same.pseudonyms != labels.pseudonyms {
		t.Errorf("no fields: %v", err)
	}
}
