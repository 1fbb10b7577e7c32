package decode

import (
	"fmt"
	"regexp"
	"slices"
)

// DefaultLabels are the event fields that label the session, port and copy
// metrics unless configured otherwise: who, and on what.
var DefaultLabels = []string{"client_user", "client_name", "target_namespace", "target_type", "target_name"}

// requiredLabel can never be removed: the dashboards and rules group by it.
const requiredLabel = "client_user"

// reservedLabels are labels the exporter sets itself, or that Prometheus and
// Kubernetes service discovery attach to every series.
var reservedLabels = []string{"mode", "http_filtered", "scale_down", "job", "instance", "namespace", "pod", "container"}

var labelNameRE = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)

// LabelConfig is the ordered list of event fields used as labels.
type LabelConfig struct {
	names []string
	// userAt and clientAt are 1 + the positions of client_user and
	// client_id in names, 0 when absent (as in the zero LabelConfig).
	userAt, clientAt int
	// pseudonyms, if not nil, replaces the values of some fields
	// (Pseudonymize).
	pseudonyms *pseudonyms
}

// NewLabelConfig starts from DefaultLabels, appends add and drops remove.
// Label names are the event field names.
func NewLabelConfig(add, remove []string) (LabelConfig, error) {
	names := slices.Clone(DefaultLabels)
	for _, n := range add {
		if !labelNameRE.MatchString(n) || len(n) > 1 && n[:2] == "__" {
			return LabelConfig{}, fmt.Errorf("label %q: not a valid Prometheus label name", n)
		}
		if slices.Contains(reservedLabels, n) {
			return LabelConfig{}, fmt.Errorf("label %q: reserved, it would clash with a label the exporter or Prometheus sets", n)
		}
		if !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	for _, n := range remove {
		if n == requiredLabel {
			return LabelConfig{}, fmt.Errorf("label %q cannot be removed: dashboards and rules group by it", n)
		}
		i := slices.Index(names, n)
		if i < 0 {
			return LabelConfig{}, fmt.Errorf("label %q cannot be removed: it is not a label (labels: %v)", n, names)
		}
		names = slices.Delete(names, i, i+1)
	}
	return LabelConfig{names: names, userAt: slices.Index(names, requiredLabel) + 1, clientAt: slices.Index(names, "client_id") + 1}, nil
}

// Names returns the label names in order.
func (c LabelConfig) Names() []string { return slices.Clone(c.names) }

// ValueFields lists the fields whose values an Event carries as text, each
// at most MaxLabelValueBytes long: the labels, session_id and the Message
// Processing fields, and client_id and client_cli_version
// (Event.ClientID, Event.ClientCLIVersion). Event.Cut names only these.
func (c LabelConfig) ValueFields() []string {
	fields := c.Names()
	for _, f := range []string{"client_id", "client_cli_version", "session_id", "event_type", "mode", "queue_type"} {
		if !slices.Contains(fields, f) {
			fields = append(fields, f)
		}
	}
	return fields
}
