package exporter

import (
	"slices"

	"github.com/mirrord-exporter/mirrord-exporter/collector"
	"github.com/mirrord-exporter/mirrord-exporter/decode"
	"github.com/mirrord-exporter/mirrord-exporter/statefile"
)

// pseudonymsOf is the state file's record of the labels' pseudonymization;
// nil without it.
func pseudonymsOf(labels decode.LabelConfig) *statefile.Pseudonyms {
	fields, key := labels.Pseudonymized()
	if fields == nil {
		return nil
	}
	return &statefile.Pseudonyms{Fields: fields, KeyFingerprint: key}
}

// samePseudonyms reports whether values saved with a and made with b are
// the same person's: the same fields under the same key, or none.
func samePseudonyms(a, b *statefile.Pseudonyms) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.KeyFingerprint == b.KeyFingerprint && slices.Equal(a.Fields, b.Fields)
}

// withoutIdentities is s without the clients and users seen, whose ids were
// made under other pseudonymization settings: they could not be matched
// with this run's, and would be kept in the state file as they are.
func withoutIdentities(s *collector.Snapshot) *collector.Snapshot {
	c := *s
	c.ClientsSeen, c.UsersSeen = nil, nil
	return &c
}
