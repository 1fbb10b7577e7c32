package loggen

import (
	"bytes"
	"encoding/json"
	"io"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"
)

// This file re-reads a generated log from its bytes alone, with
// encoding/json and the exporter's rules written out again independently of
// the generator, and recomputes the Truth: the generator's truth comes from
// what it meant to write, so agreement shows the bytes say what it meant.

// unwrapped is one record after unwrapping, with its stream.
type unwrapped struct {
	text   string
	stderr bool
}

// unwrap checks the wrapper's line format and joins split records. It
// returns the records and the number of physical lines.
func unwrap(t testing.TB, log []byte, w Wrapper) ([]unwrapped, int) {
	t.Helper()
	if len(log) > 0 && log[len(log)-1] != '\n' {
		t.Fatalf("log does not end with a newline")
	}
	lines := strings.Split(strings.TrimSuffix(string(log), "\n"), "\n")
	if len(log) == 0 {
		lines = nil
	}
	var out []unwrapped
	pending := map[string]string{} // stream → parts so far
	var lastTime time.Time
	checkTime := func(i int, s string, layout string) {
		tm, err := time.Parse(layout, s)
		if err != nil {
			t.Fatalf("line %d: time %q: %v", i+1, s, err)
		}
		if !tm.After(lastTime) {
			t.Fatalf("line %d: runtime time %s does not increase", i+1, s)
		}
		lastTime = tm
	}
	for i, line := range lines {
		switch w {
		case Raw:
			out = append(out, unwrapped{text: line})
		case Docker:
			var d struct{ Log, Stream, Time string }
			dec := json.NewDecoder(strings.NewReader(line))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&d); err != nil || dec.More() {
				t.Fatalf("line %d is not a Docker json-file object (%v): %.200s", i+1, err, line)
			}
			checkTime(i, d.Time, "2006-01-02T15:04:05.000000000Z07:00")
			if d.Stream != "stdout" && d.Stream != "stderr" {
				t.Fatalf("line %d: stream %q", i+1, d.Stream)
			}
			if len(d.Log) > partMax {
				t.Fatalf("line %d: part of %d bytes", i+1, len(d.Log))
			}
			text, done := strings.CutSuffix(d.Log, "\n")
			if strings.Contains(text, "\n") {
				t.Fatalf("line %d: newline inside a part", i+1)
			}
			if !done && len(d.Log) < partMax-utf8Max {
				t.Fatalf("line %d: a non-final part of only %d bytes", i+1, len(d.Log))
			}
			pending[d.Stream] += text
			if done {
				out = append(out, unwrapped{text: pending[d.Stream], stderr: d.Stream == "stderr"})
				delete(pending, d.Stream)
			}
		case CRI:
			f := strings.SplitN(line, " ", 4)
			if len(f) != 4 {
				t.Fatalf("line %d has %d fields: %.200s", i+1, len(f), line)
			}
			checkTime(i, f[0], time.RFC3339Nano)
			if f[1] != "stdout" && f[1] != "stderr" {
				t.Fatalf("line %d: stream %q", i+1, f[1])
			}
			if len(f[3]) > partMax || (f[2] == "P" && len(f[3]) != partMax) {
				t.Fatalf("line %d: %s part of %d bytes", i+1, f[2], len(f[3]))
			}
			pending[f[1]] += f[3]
			switch f[2] {
			case "F":
				out = append(out, unwrapped{text: pending[f[1]], stderr: f[1] == "stderr"})
				delete(pending, f[1])
			case "P":
			default:
				t.Fatalf("line %d: tag %q", i+1, f[2])
			}
		}
	}
	if len(pending) > 0 {
		t.Fatalf("log ends inside a split record: %v", len(pending))
	}
	return out, len(lines)
}

const utf8Max = 4

// rereader applies the exporter's rules to records.
type rereader struct {
	series, events, malformed map[string]float64
	active                    map[string]string // session_id → gauge series
	ports                     map[string]string // session_id/port/mode → gauge series
	lastEvent                 float64
	hasLast                   bool
	versions                  map[string]bool // client_cli_version of the Starts
}

func reread(t testing.TB, log []byte, w Wrapper) Truth {
	t.Helper()
	recs, lines := unwrap(t, log, w)
	rr := &rereader{
		series: map[string]float64{}, events: map[string]float64{}, malformed: map[string]float64{},
		active: map[string]string{}, ports: map[string]string{}, versions: map[string]bool{},
	}
	for _, r := range recs {
		rr.record(t, r.text)
	}
	rr.series["mirrord_seat_limit_reached_total"] += 0
	if rr.hasLast {
		rr.series["mirrord_last_event_timestamp_seconds"] = rr.lastEvent
	}
	for v, newer := range versionsNewer(rr.versions) {
		rr.series[SeriesKey("mirrord_cli_versions_newer", map[string]string{"client_cli_version": v})] = float64(newer)
	}
	return Truth{Series: rr.series, Events: rr.events, Malformed: rr.malformed, Lines: lines, Records: len(recs)}
}

func (rr *rereader) record(t testing.TB, text string) {
	if text == "" {
		return
	}
	if text[0] != '{' {
		rr.malformed["not_json"]++
		return
	}
	var m map[string]any
	dec := json.NewDecoder(strings.NewReader(text))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil {
		rr.malformed["invalid_json"]++
		return
	}
	if _, err := dec.Token(); err != io.EOF {
		rr.malformed["invalid_json"]++
		return
	}
	fields, nested := m["fields"].(map[string]any)
	if !nested {
		fields = m
	}
	msg, _ := fields["message"].(string)
	event := map[string]string{
		"Session Start": "session_start", "Session Started": "session_start",
		"Session End": "session_end", "Session Ended": "session_end",
		"Port Steal": "port_steal", "Port Stolen": "port_steal",
		"Port Mirror": "port_mirror", "Port Mirrored": "port_mirror",
		"Port Release": "port_release", "Port Released": "port_release",
		"Copy Target": "copy_target", "Target Copied": "copy_target",
		"Max seat count reached!": "seat_limit", "Message Processing": "message_processing",
	}[msg]
	if event == "" {
		return
	}
	ts, err := time.Parse(time.RFC3339Nano, m["timestamp"].(string))
	if err != nil {
		t.Fatalf("record timestamp: %v", err)
	}
	str := func(k string) string {
		switch v := fields[k].(type) {
		case string:
			return v
		case json.Number:
			return v.String()
		case bool:
			return strconv.FormatBool(v)
		}
		return ""
	}
	has := func(k string) bool { _, ok := fields[k]; return ok }
	number := func(k string) (float64, bool) {
		switch v := fields[k].(type) {
		case json.Number:
			f, err := v.Float64()
			return f, err == nil
		case string:
			f, err := strconv.ParseFloat(v, 64)
			return f, err == nil
		}
		return 0, false
	}

	switch event {
	case "seat_limit":
		if !has("active_users") {
			rr.malformed["missing_field"]++
			return
		}
		n, ok := number("active_users")
		if !ok {
			rr.malformed["invalid_field"]++
			return
		}
		rr.events[event]++
		rr.series["mirrord_seat_limit_reached_total"]++
		rr.series["mirrord_seat_limit_active_users"] = n
		return
	case "message_processing":
		class := ""
		if has("response_status_code") {
			n, _ := number("response_status_code")
			class = strconv.Itoa(int(n)/100) + "xx"
		}
		rr.events[event]++
		rr.series[SeriesKey("mirrord_messages_processed_total", map[string]string{
			"event_type": str("event_type"), "mode": str("mode"), "queue_type": str("queue_type"), "response_status_class": class,
		})]++
		return
	}

	labels := func(extra ...string) map[string]string {
		l := map[string]string{"client_user": str("client_user"), "client_name": str("client_name"), "target_namespace": str("target_namespace")}
		if has("target_type") || has("target_name") {
			l["target_type"], l["target_name"] = str("target_type"), str("target_name")
		} else {
			tgt := ""
			if nested { // flattened: the top-level target is the module path
				tgt = str("target")
			}
			if tgt == "" || tgt == "targetless" {
				l["target_type"], l["target_name"] = "targetless", ""
			} else {
				parts := strings.Split(tgt, "/")
				l["target_type"] = parts[0]
				if len(parts) > 1 {
					l["target_name"] = parts[1]
				} else {
					l["target_name"] = ""
				}
			}
		}
		for i := 0; i < len(extra); i += 2 {
			l[extra[i]] = extra[i+1]
		}
		return l
	}
	sid := str("session_id")
	if event != "copy_target" && !has("session_id") {
		rr.malformed["missing_field"]++
		return
	}
	port := -1
	if strings.HasPrefix(event, "port_") {
		if !has("port") {
			rr.malformed["missing_field"]++
			return
		}
		var err error
		switch v := fields["port"].(type) {
		case json.Number:
			var n int64
			n, err = v.Int64()
			port = int(n)
		case string:
			port, err = strconv.Atoi(v)
		default:
			port = -1
		}
		if err != nil || port < 0 || port > 65535 {
			rr.malformed["invalid_field"]++
			return
		}
	}
	var dur float64
	hasDur := event == "session_end" && has("session_duration")
	if hasDur {
		var ok bool
		dur, ok = number("session_duration")
		if !ok || math.IsNaN(dur) || dur < 0 {
			rr.malformed["invalid_field"]++
			return
		}
	}
	scale := ""
	if event == "copy_target" {
		switch v := fields["scale_down"].(type) {
		case nil:
			rr.malformed["missing_field"]++
			return
		case bool:
			scale = strconv.FormatBool(v)
		case string:
			if v != "true" && v != "false" {
				rr.malformed["invalid_field"]++
				return
			}
			scale = v
		default:
			rr.malformed["invalid_field"]++
			return
		}
	}

	if v, ok := fields["client_cli_version"]; ok && v != nil {
		if _, isString := v.(string); !isString {
			rr.malformed["invalid_field"]++
			return
		}
	}

	rr.events[event]++
	rr.lastEvent, rr.hasLast = float64(ts.UnixMicro())/1e6, true
	dropPort := func(k string) {
		if key, ok := rr.ports[k]; ok {
			rr.series[key]--
			delete(rr.ports, k)
		}
	}
	switch event {
	case "session_start":
		rr.series[SeriesKey("mirrord_sessions_started_total", labels())]++
		version := str("client_cli_version")
		rr.series[SeriesKey("mirrord_sessions_started_by_cli_version_total", map[string]string{"client_cli_version": version, "client_user": str("client_user")})]++
		rr.versions[version] = true
		key := SeriesKey("mirrord_sessions_active", labels())
		rr.series[key] += 0
		if _, ok := rr.active[sid]; !ok {
			rr.active[sid] = key
			rr.series[key]++
		}
	case "session_end":
		rr.series[SeriesKey("mirrord_sessions_ended_total", labels())]++
		if hasDur {
			rr.series[SeriesKey("mirrord_session_duration_seconds_count", labels())]++
			rr.series[SeriesKey("mirrord_session_duration_seconds_sum", labels())] += dur
			for _, b := range []float64{10, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 28800, 43200, 86400, math.Inf(1)} {
				key := SeriesKey("mirrord_session_duration_seconds_bucket", labels("le", strconv.FormatFloat(b, 'g', -1, 64)))
				rr.series[key] += 0
				if dur <= b {
					rr.series[key]++
				}
			}
		}
		if key, ok := rr.active[sid]; ok {
			rr.series[key]--
			delete(rr.active, sid)
		}
		for k := range rr.ports {
			if strings.HasPrefix(k, sid+"/") {
				dropPort(k)
			}
		}
	case "port_steal", "port_mirror":
		mode := strings.TrimPrefix(event, "port_")
		if event == "port_steal" {
			rr.series[SeriesKey("mirrord_ports_stolen_total", labels("http_filtered", strconv.FormatBool(str("http_filter") != "")))]++
		} else {
			rr.series[SeriesKey("mirrord_ports_mirrored_total", labels())]++
		}
		k := sid + "/" + strconv.Itoa(port) + "/" + mode
		if _, ok := rr.ports[k]; !ok {
			key := SeriesKey("mirrord_ports_active", labels("mode", mode))
			rr.ports[k] = key
			rr.series[key]++
		}
	case "port_release":
		rr.series[SeriesKey("mirrord_ports_released_total", labels())]++
		dropPort(sid + "/" + strconv.Itoa(port) + "/steal")
		dropPort(sid + "/" + strconv.Itoa(port) + "/mirror")
	case "copy_target":
		rr.series[SeriesKey("mirrord_targets_copied_total", labels("scale_down", scale))]++
	}
}

// diffTruth describes how got differs from want, for test failures.
func diffTruth(want, got Truth) []string {
	var d []string
	d = compare(d, "series ", want.Series, got.Series, false)
	d = compare(d, "events ", want.Events, got.Events, false)
	d = compare(d, "malformed ", want.Malformed, got.Malformed, false)
	if want.Lines != got.Lines {
		d = append(d, "lines "+strconv.Itoa(got.Lines)+", want "+strconv.Itoa(want.Lines))
	}
	if want.Records != got.Records {
		d = append(d, "records "+strconv.Itoa(got.Records)+", want "+strconv.Itoa(want.Records))
	}
	return d
}

func generate(t testing.TB, cfg Config) ([]byte, Truth) {
	t.Helper()
	var buf bytes.Buffer
	truth, err := Generate(&buf, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), truth
}

// TestRereadLarge repeats the main check on a log of benchmark size, where
// rare coincidences (ports reused, duplicates around releases, sessions
// ending while held) occur.
func TestRereadLarge(t *testing.T) {
	if testing.Short() {
		t.Skip("large log")
	}
	for _, w := range []Wrapper{Raw, Docker, CRI} {
		cfg := Config{Seed: 2026, Sessions: 3000, NoiseRatio: 0.9, BigLines: true, Nasty: true, Wrapper: w, Span: 6 * time.Hour}
		log, want := generate(t, cfg)
		if d := diffTruth(want, reread(t, log, w)); len(d) > 0 {
			t.Errorf("%s: re-reading the log disagrees with the truth:\n%s", w, strings.Join(d, "\n"))
		}
	}
}
