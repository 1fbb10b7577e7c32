package kube

import (
	"testing"
	"time"
)

func TestParseRFC3339MatchesTimeParse(t *testing.T) {
	zones := []*time.Location{time.UTC, time.FixedZone("", 2*60*60), time.FixedZone("", -(9*60*60 + 30*60))}
	base := time.Date(2026, 2, 28, 23, 59, 58, 0, time.UTC)
	for i := range 2000 {
		ts := base.Add(time.Duration(i) * 987_654_321 * time.Nanosecond / 7)
		for _, z := range zones {
			s := ts.In(z).Format(time.RFC3339Nano)
			got, ok := parseRFC3339([]byte(s))
			if !ok || !got.Equal(ts) {
				t.Fatalf("parse %q = %v, %v; want %v", s, got, ok, ts)
			}
		}
	}
}

func TestParseRFC3339Rejects(t *testing.T) {
	for _, s := range []string{
		"", "2026-08-17", "2026-08-17T10:00:00", "2026-08-17 10:00:00Z", "2026-08-17T10:00:00.Z",
		"2026-08-17T10:00:00.1234567891Z", "2026-13-01T10:00:00Z", "2026-02-30T10:00:00Z",
		"2026-08-17T24:00:00Z", "2026-08-17T10:60:00Z", "2026-08-17T10:00:60Z", "2026-08-17T10:00:00+0200",
		"2026-08-17T10:00:00+02:00x", "2026-08-17T10:00:00Zx", "2O26-08-17T10:00:00Z", "2026-08-17T10:00:00+24:00",
	} {
		if ts, ok := parseRFC3339([]byte(s)); ok {
			t.Errorf("parse %q = %v, want rejected", s, ts)
		}
	}
}

func TestSplitTimestamp(t *testing.T) {
	for _, tc := range []struct {
		line, text string
		ok         bool
	}{
		{"2026-08-17T10:00:00.123456789Z {\"a\":1}", "{\"a\":1}", true},
		{"2026-08-17T12:00:00+02:00 ", "", true},
		{"2026-08-17T10:00:00Z  two spaces", " two spaces", true},
		{"{\"no\":\"timestamp\"}", "{\"no\":\"timestamp\"}", false},
		{"not-a-time text", "not-a-time text", false},
		{"", "", false},
	} {
		_, text, ok := splitTimestamp([]byte(tc.line))
		if string(text) != tc.text || ok != tc.ok {
			t.Errorf("splitTimestamp(%q) = %q, %v; want %q, %v", tc.line, text, ok, tc.text, tc.ok)
		}
	}
}

func TestSplitTimestampAllocatesNothing(t *testing.T) {
	line := []byte("2026-08-17T10:00:00.123456789+02:00 {\"fields\":{\"message\":\"Session Start\"}}")
	if n := testing.AllocsPerRun(1000, func() { splitTimestamp(line) }); n != 0 {
		t.Errorf("%v allocations per line, want 0", n)
	}
}
