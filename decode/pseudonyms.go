package decode

import (
	"fmt"
	"slices"

	"github.com/mirrord-exporter/mirrord-exporter/pseudonym"
)

// notPersonal are the fields an Event carries as text that are the
// operator's own ids and enums, or the CLI's version, never a person's:
// they cannot be pseudonymized (the versions must stay comparable).
var notPersonal = []string{"session_id", "event_type", "mode", "queue_type", "client_cli_version"}

// pseudonyms is the part of a LabelConfig that replaces the values of some
// fields with their pseudonyms before any Event holds them.
type pseudonyms struct {
	key *pseudonym.Key
	// fields are the fields pseudonymized, sorted.
	fields []string
	// at is, per label (in the order of names), whether its value is
	// pseudonymized; user and client whether ClientUser and ClientID are.
	at           []bool
	user, client bool
}

// Pseudonymize returns c with the values of fields (client_user,
// client_name, client_hostname, client_id, or any other field) replaced by
// their pseudonyms under key wherever an Event holds them: its labels,
// ClientUser and ClientID. Nothing after the decoder sees the raw values. A
// field that is neither a label nor client_user or client_id is accepted
// and has no effect, so that a list can name every field that may hold a
// person, whichever labels are configured. No fields returns c unchanged.
func (c LabelConfig) Pseudonymize(key *pseudonym.Key, fields []string) (LabelConfig, error) {
	if len(fields) == 0 {
		return c, nil
	}
	if key == nil {
		return LabelConfig{}, fmt.Errorf("pseudonymizing %q needs a key", fields)
	}
	sorted := slices.Clone(fields)
	slices.Sort(sorted)
	sorted = slices.Compact(sorted)
	for _, f := range sorted {
		if !labelNameRE.MatchString(f) {
			return LabelConfig{}, fmt.Errorf("field %q: not a valid field name", f)
		}
		if slices.Contains(notPersonal, f) {
			return LabelConfig{}, fmt.Errorf("field %q: the operator's own value, not a person's; it cannot be pseudonymized", f)
		}
	}
	p := &pseudonyms{key: key, fields: sorted, at: make([]bool, len(c.names))}
	for i, n := range c.names {
		p.at[i] = slices.Contains(sorted, n)
	}
	p.user = slices.Contains(sorted, requiredLabel)
	p.client = slices.Contains(sorted, "client_id")
	c.pseudonyms = p
	return c, nil
}

// Pseudonymized returns the fields pseudonymized, sorted, and the
// fingerprint of the key (pseudonym.Key.Fingerprint); nil and "" without
// pseudonyms. Two configurations with the same both give the same values.
func (c LabelConfig) Pseudonymized() (fields []string, keyFingerprint string) {
	if c.pseudonyms == nil {
		return nil, ""
	}
	return slices.Clone(c.pseudonyms.fields), c.pseudonyms.key.Fingerprint()
}

// maxPseudonyms bounds a decoder's table of the pseudonyms it made: an
// HMAC costs about 0.8µs, a lookup of a value seen before far less. When
// full it starts afresh, as labelStrings does.
const maxPseudonyms = 4096

// pseudonym returns the pseudonym of v, from the decoder's table when v was
// seen before.
func (d *Decoder) pseudonym(v string) string {
	if v == "" {
		return ""
	}
	if p, ok := d.pseudo[v]; ok {
		return p
	}
	p := d.labels.pseudonyms.key.Of(v)
	if d.pseudo == nil || len(d.pseudo) >= maxPseudonyms {
		d.pseudo = make(map[string]string, 64)
	}
	d.pseudo[v] = p
	return p
}

// pseudonymizeLabels replaces the values of the pseudonymized labels in
// values, in place.
func (d *Decoder) pseudonymizeLabels(values []string) {
	for i, on := range d.labels.pseudonyms.at {
		if on {
			values[i] = d.pseudonym(values[i])
		}
	}
}
