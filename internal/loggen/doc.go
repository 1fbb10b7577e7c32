// Package loggen writes realistic mirrord operator logs (tracing-subscriber
// JSON, optionally wrapped as the Docker json-file driver or the kubelet's
// CRI format stores them) together with the exact values every metric of
// the exporter must show after reading them.
//
// The log is a pure function of the Config: the same seed gives the same
// bytes. The records do not depend on the wrapper either, so the Truths of
// one seed under Raw, Docker and CRI differ only in Lines; in Raw, stderr
// records are lines of the same stream, as `kubectl logs` shows them.
//
// # What the truth assumes where the rules leave room
//
//   - In the flattened layout (no "fields" object) the top-level "target" is
//     the module path, so the session's target comes only from target_type
//     and target_name there; such records never need the `target` string.
//   - mirrord_last_event_timestamp_seconds is the float64 nearest to the
//     record's timestamp in seconds, float64(t.UnixMicro())/1e6 (which
//     float64(t.UnixNano())/1e9 is not, a quarter of the time). It counts
//     accepted session, port and copy records only.
//   - mirrord_seat_limit_reached_total is always present (0 without a seat
//     record); mirrord_seat_limit_active_users and the last-event gauge only
//     once they have a value. Events and Malformed hold the values that
//     occur; with Sessions > 0 all eight events occur.
//   - The first End of a label set always carries session_duration, so no
//     histogram exists without an observation.
//   - Invalid functional records have exactly one defect each. The values
//     used are unambiguous: port 70000, "70000", -1 or "http";
//     session_duration -x, "NaN" or "unknown"; scale_down "yes";
//     active_users "many". response_status_code is a number or a numeric
//     string, always 100-599.
//   - Records counts every record after unwrapping: blank, junk, truncated
//     and stderr ones too.
//
// # Nasty parts
//
// With Config.Nasty, and their effect on the truth:
//   - WARN/ERROR/DEBUG records of other modules with every JSON escape in
//     their text: ignored.
//   - messages that merely contain a functional one ("Session Start
//     failed", "Max seat count reached" without "!") or a functional message
//     in another field, a span name or a logged JSON text: ignored.
//   - junk lines of printable ASCII not starting with "{": not_json.
//   - blank lines: ignored, not malformed.
//   - records cut mid-way, half of them functional: invalid_json.
//   - stderr lines of a panic (not_json) and tracing records on stderr
//     (ignored), also between the parts of a split stdout record.
//   - Ends (with port events) of sessions whose Start came before the log;
//     a repeated Start of an active session; invalid functional records of
//     every defect: missing_field or invalid_field.
//
// With Config.BigLines, records of 20-60 KiB, unrelated and functional (a
// Port Steal with a long http_filter, a Session Start with a long spans
// array), split by Docker and CRI into parts of at most 16 KiB of text.
package loggen
