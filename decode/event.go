package decode

import "time"

// Kind is the functional event a log record stands for.
type Kind uint8

// The events the exporter understands. KindNone is any other record.
const (
	KindNone Kind = iota
	SessionStart
	SessionEnd
	PortSteal
	PortMirror
	PortRelease
	CopyTarget
	SeatLimit
	MessageProcessing
	// NumKinds is the number of kinds: every Kind above is below it.
	NumKinds
)

var kindNames = [NumKinds]string{
	KindNone:          "none",
	SessionStart:      "session_start",
	SessionEnd:        "session_end",
	PortSteal:         "port_steal",
	PortMirror:        "port_mirror",
	PortRelease:       "port_release",
	CopyTarget:        "copy_target",
	SeatLimit:         "seat_limit",
	MessageProcessing: "message_processing",
}

// String is the value of the event label of mirrord_exporter_events_total.
func (k Kind) String() string {
	if k < NumKinds {
		return kindNames[k]
	}
	return "unknown"
}

// ParseKind returns the Kind whose String is name.
func ParseKind(name string) (Kind, bool) {
	for k, n := range kindNames {
		if n == name {
			return Kind(k), true
		}
	}
	return KindNone, false
}

// Functional reports whether k is one of the six session, port and copy
// events, the ones that carry user and target labels.
func (k Kind) Functional() bool {
	return k >= SessionStart && k <= CopyTarget
}

// messageKinds maps every spelling of every message to its event. The
// operator's code and MetalBear's public docs disagree on the spelling, and
// both are seen in the wild.
var messageKinds = map[string]Kind{
	"Session Start":           SessionStart,
	"Session Started":         SessionStart,
	"Session End":             SessionEnd,
	"Session Ended":           SessionEnd,
	"Port Steal":              PortSteal,
	"Port Stolen":             PortSteal,
	"Port Mirror":             PortMirror,
	"Port Mirrored":           PortMirror,
	"Port Release":            PortRelease,
	"Port Released":           PortRelease,
	"Copy Target":             CopyTarget,
	"Target Copied":           CopyTarget,
	"Max seat count reached!": SeatLimit,
	"Message Processing":      MessageProcessing,
}

// Event is one decoded functional record, its fields already validated and
// typed so that applying it cannot fail.
type Event struct {
	Kind Kind
	// Time is the operator's timestamp; zero when the record had none.
	Time time.Time
	// Labels holds the values of the configured label fields, in the order
	// of LabelConfig.Names; set for the six functional events only. Apply
	// keeps the slice for the series it creates: it must not change after.
	Labels []string

	// ClientID and ClientUser are the client_id and client_user fields of
	// the six functional events, whether or not they are configured labels:
	// the collector counts seats by them. "" when the record has none.
	ClientID   string
	ClientUser string
	// ClientCLIVersion is the client_cli_version field of the six
	// functional events (the x-mirrord-cli-version header, since operator
	// 3.166), cut like a label value; "" when the record has none, as from
	// a CLI older than that. A value that is not a string makes the record
	// ReasonInvalidField.
	ClientCLIVersion string

	SessionID string
	// Cut names the fields whose values were longer than
	// MaxLabelValueBytes and were cut (the label names, "session_id",
	// "client_cli_version", "event_type", "mode", "queue_type"); nil for
	// almost every event.
	Cut []string

	Port uint16
	// Duration is session_duration in seconds; HasDuration is false when an
	// End carries none (operators before 3.140.1 named it differently).
	Duration     float64
	HasDuration  bool
	HTTPFiltered bool
	ScaleDown    bool
	ActiveUsers  float64

	// Message Processing.
	EventType   string
	Mode        string
	QueueType   string
	StatusClass string
}
