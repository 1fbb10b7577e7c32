package pseudonym

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

const testKey = "test key, not a secret: 0123456789"

// TestGolden pins the pseudonyms of fixed values under a fixed key: a change
// would break every stored series and state file. The expected values are
// also those of `openssl dgst -sha256 -hmac KEY` (first 16 hex digits).
func TestGolden(t *testing.T) {
	k, err := NewKey([]byte(testKey))
	if err != nil {
		t.Fatal(err)
	}
	for value, want := range map[string]string{
		"alice@example.com": "anon-a1f1bea80b65dc72",
		"Alice Liddell":     "anon-9d39d53b7e2d1865",
		"bob@example.com":   "anon-81a8ea31e882a107",
		"alice-laptop":      "anon-3fe3083c2389e599",
		"Alice@example.com": "anon-46d6ba231c75d877", // case matters
		"":                  "",                      // an absent field is not a person
	} {
		if got := k.Of(value); got != want {
			t.Errorf("Of(%q) = %q, want %q", value, got, want)
		}
	}
	if got, want := k.Fingerprint(), "anon-0d7dd25d75e347b5"; got != want {
		t.Errorf("Fingerprint() = %q, want %q", got, want)
	}
	other, _ := NewKey([]byte(testKey + "!"))
	if other.Of("alice@example.com") == k.Of("alice@example.com") || other.Fingerprint() == k.Fingerprint() {
		t.Error("another key gives the same pseudonym")
	}
}

func TestFormat(t *testing.T) {
	k, _ := NewKey([]byte(testKey))
	re := regexp.MustCompile(`^anon-[0-9a-f]{16}$`)
	for _, v := range []string{"a", "é", strings.Repeat("x", 10000), "anon-a1f1bea80b65dc72", "\x00"} {
		if p := k.Of(v); !re.MatchString(p) {
			t.Errorf("Of(%q) = %q, not %s", v, p, re)
		}
	}
}

// TestMillionNamesDistinct: a million realistic names get a million
// distinct pseudonyms (a collision is expected with probability 3·10^-8).
func TestMillionNamesDistinct(t *testing.T) {
	n := 1_000_000
	if raceDetector {
		n = 100_000 // .ci/run runs the million without the race detector
	}
	k, _ := NewKey([]byte(testKey))
	seen := make(map[string]int, n)
	for i := range n {
		name := fmt.Sprintf("user%07d@example.com", i)
		p := k.Of(name)
		if j, dup := seen[p]; dup {
			t.Fatalf("user%07d and user%07d share %s", j, i, p)
		}
		seen[p] = i
	}
}

func TestKeys(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	k, err := ReadKeyFile(write("nl", testKey+"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := k.Of("alice@example.com"); got != "anon-a1f1bea80b65dc72" {
		t.Errorf("the trailing newline was not trimmed: %s", got)
	}
	if k, err = ReadKeyFile(write("crlf", testKey+"\r\n")); err != nil || k.Of("alice@example.com") != "anon-a1f1bea80b65dc72" {
		t.Errorf("CRLF: %v", err)
	}
	for name, content := range map[string]string{"empty": "", "newline": "\n", "short": "0123456789abcde\n"} {
		if _, err := ReadKeyFile(write(name, content)); err == nil {
			t.Errorf("%s key file accepted", name)
		}
	}
	if _, err := ReadKeyFile(filepath.Join(dir, "missing")); err == nil {
		t.Error("missing key file accepted")
	}
	if _, err := NewKey([]byte("0123456789abcdef")); err != nil {
		t.Errorf("a 16-byte key: %v", err)
	}
}

func BenchmarkOf(b *testing.B) {
	k, _ := NewKey([]byte(testKey))
	for b.Loop() {
		k.Of("alice@example.com")
	}
}
