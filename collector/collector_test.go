package collector

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/expfmt"

	"github.com/mirrord-exporter/mirrord-exporter/decode"
)

var update = flag.Bool("update", false, "rewrite golden files from the current output")

// apply decodes and applies records in order, failing on any that is not a
// valid event.
func apply(t *testing.T, c *Collector, d *decode.Decoder, records ...string) {
	t.Helper()
	for _, r := range records {
		var ev decode.Event
		ok, reason := d.Decode([]byte(r), &ev)
		if !ok {
			t.Fatalf("record not decoded (reason %q): %s", reason, r)
		}
		c.Apply(&ev)
	}
}

func newTestCollector(t *testing.T, maxAge time.Duration) (*Collector, *decode.Decoder, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	labels := mustLabels(t, nil, nil)
	fixed := time.Date(2026, 8, 17, 0, 0, 0, 0, time.UTC)
	c, err := New(Config{Labels: labels, SessionMaxAge: maxAge, Registerer: reg, Now: func() time.Time { return fixed }})
	if err != nil {
		t.Fatal(err)
	}
	return c, decode.New(labels), reg
}

const (
	aliceTarget = `"client_id":"c-alice","client_user":"alice","client_cli_version":"3.170.1","client_name":"Alice","target_namespace":"shop","target_type":"deployment","target_name":"api"`
	bobTarget   = `"client_id":"c-bob","client_user":"bob","client_name":"Bob","target":"pod/web-1"`
)

// TestCollectorExposition drives a realistic story through the decoder and
// the state, and holds the whole exposition against a golden file.
func TestCollectorExposition(t *testing.T) {
	c, d, reg := newTestCollector(t, 0)
	apply(t, c, d,
		`{"timestamp":"2026-08-17T10:00:00Z","fields":{"message":"Session Start","session_id":"S1",`+aliceTarget+`}}`,
		`{"timestamp":"2026-08-17T10:00:01Z","fields":{"message":"Port Steal","session_id":"S1","port":8080,"http_filter":"path=/api",`+aliceTarget+`}}`,
		`{"timestamp":"2026-08-17T10:00:02Z","fields":{"message":"Port Stolen","session_id":"S1","port":"9090",`+aliceTarget+`}}`,
		`{"timestamp":"2026-08-17T10:00:02Z","fields":{"message":"Port Steal","session_id":"S1","port":9090,`+aliceTarget+`}}`,
		`{"timestamp":"2026-08-17T10:00:03Z","fields":{"message":"Port Release","session_id":"S1","port":9090,`+aliceTarget+`}}`,
		`{"timestamp":"2026-08-17T10:00:04Z","fields":{"message":"Session Started","session_id":"S2",`+bobTarget+`}}`,
		`{"timestamp":"2026-08-17T10:00:05Z","fields":{"message":"Port Mirrored","session_id":"S2","port":80,`+bobTarget+`}}`,
		`{"timestamp":"2026-08-17T10:00:06Z","fields":{"message":"Session Start","session_id":"S2",`+bobTarget+`}}`,
		`{"timestamp":"2026-08-17T10:00:07Z","fields":{"message":"Target Copied","scale_down":true,`+bobTarget+`}}`,
		`{"timestamp":"2026-08-17T10:00:08Z","fields":{"message":"Copy Target","scale_down":"false",`+bobTarget+`}}`,
		// An End whose Start came before the exporter did.
		`{"timestamp":"2026-08-17T10:00:09Z","fields":{"message":"Session End","session_id":"OLD","session_duration":45000,`+bobTarget+`}}`,
		`{"timestamp":"2026-08-17T10:05:00Z","fields":{"message":"Session Ended","session_id":"S1","session_duration":"300.5",`+aliceTarget+`}}`,
		`{"timestamp":"2026-08-17T10:05:01Z","fields":{"message":"Max seat count reached!","active_users":"25"}}`,
		`{"timestamp":"2026-08-17T10:05:02Z","fields":{"message":"Message Processing","event_type":"http","mode":"steal","response_status_code":200}}`,
		`{"timestamp":"2026-08-17T10:05:03Z","fields":{"message":"Message Processing","event_type":"queue","mode":"mirror","queue_type":"kafka"}}`,
	)
	if *update {
		writeGolden(t, reg, "testdata/exposition.prom")
	}
	golden, err := os.Open("testdata/exposition.prom")
	if err != nil {
		t.Fatal(err)
	}
	defer golden.Close()
	if err := testutil.GatherAndCompare(reg, golden); err != nil {
		t.Error(err)
	}
}

func TestActiveGaugesNeverNegative(t *testing.T) {
	c, d, reg := newTestCollector(t, 0)
	apply(t, c, d,
		`{"fields":{"message":"Session End","session_id":"X",`+aliceTarget+`}}`,
		`{"fields":{"message":"Port Release","session_id":"X","port":1,`+aliceTarget+`}}`,
		`{"fields":{"message":"Session End","session_id":"X",`+aliceTarget+`}}`,
	)
	want := `
# HELP mirrord_sessions_ended_total mirrord sessions ended (Session End records), including those whose start was not seen.
# TYPE mirrord_sessions_ended_total counter
mirrord_sessions_ended_total{client_name="Alice",client_user="alice",target_name="api",target_namespace="shop",target_type="deployment"} 2
# HELP mirrord_exporter_sessions_tracked Sessions the exporter holds in memory: started ones and those seen only through port events.
# TYPE mirrord_exporter_sessions_tracked gauge
mirrord_exporter_sessions_tracked 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want),
		"mirrord_sessions_ended_total", "mirrord_sessions_active", "mirrord_ports_active", "mirrord_exporter_sessions_tracked"); err != nil {
		t.Error(err)
	}
}

// TestPortsReleasedInAnyOrder: a session's ports are released one by one, in
// another order than taken, a port in both modes at once, and the rest with
// the session's end; the gauges follow each step.
func TestPortsReleasedInAnyOrder(t *testing.T) {
	c, d, reg := newTestCollector(t, 0)
	port := func(msg string, n int) string {
		return `{"fields":{"message":"` + msg + `","session_id":"S","port":` + strconv.Itoa(n) + `,` + aliceTarget + `}}`
	}
	active := func(step string, steal, mirror int) {
		t.Helper()
		want := fmt.Sprintf(`
# HELP mirrord_ports_active Ports currently stolen or mirrored, released by Port Release or by the end of their session.
# TYPE mirrord_ports_active gauge
mirrord_ports_active{client_name="Alice",client_user="alice",mode="mirror",target_name="api",target_namespace="shop",target_type="deployment"} %d
mirrord_ports_active{client_name="Alice",client_user="alice",mode="steal",target_name="api",target_namespace="shop",target_type="deployment"} %d
`, mirror, steal)
		if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "mirrord_ports_active"); err != nil {
			t.Errorf("%s: %v", step, err)
		}
	}
	apply(t, c, d, `{"fields":{"message":"Session Start","session_id":"S",`+aliceTarget+`}}`,
		port("Port Steal", 1), port("Port Steal", 2), port("Port Mirror", 1), port("Port Steal", 3),
		port("Port Mirror", 4), port("Port Steal", 2)) // 2 again: held once
	active("taken", 3, 2)
	apply(t, c, d, port("Port Release", 1))
	active("1 released", 2, 1)
	apply(t, c, d, port("Port Release", 3), port("Port Release", 3))
	active("3 released", 1, 1)
	apply(t, c, d, `{"fields":{"message":"Session End","session_id":"S",`+aliceTarget+`}}`)
	active("session ended", 0, 0)
}

// TestFamiliesShareLabelValues: the series of one user and target in the
// families labelled with an event's labels alone hold one slice of label
// values, though each came from another event.
func TestFamiliesShareLabelValues(t *testing.T) {
	c, d, _ := newTestCollector(t, 0)
	apply(t, c, d,
		`{"fields":{"message":"Session Start","session_id":"S",`+aliceTarget+`}}`,
		`{"fields":{"message":"Port Mirror","session_id":"S","port":1,`+aliceTarget+`}}`,
		`{"fields":{"message":"Port Release","session_id":"S","port":1,`+aliceTarget+`}}`,
		`{"fields":{"message":"Session End","session_id":"S","session_duration":3,`+aliceTarget+`}}`,
	)
	var ev decode.Event
	if ok, _ := d.Decode([]byte(`{"fields":{"message":"Session Start","session_id":"T",`+aliceTarget+`}}`), &ev); !ok {
		t.Fatal("not decoded")
	}
	var first []string
	for _, v := range []interface{ ValuesOf([]string) []string }{
		c.m.sessionsStarted, c.m.sessionsActive, c.m.portsMirrored, c.m.portsReleased, c.m.sessionsEnded, c.m.sessionDuration,
	} {
		got := v.ValuesOf(ev.Labels)
		switch {
		case got == nil:
			t.Fatal("no series for alice")
		case first == nil:
			first = got
		case &got[0] != &first[0]:
			t.Errorf("values %q in a slice of their own", got)
		}
	}
}

func TestExpireDropsStaleSessionsAndPorts(t *testing.T) {
	c, d, reg := newTestCollector(t, time.Hour)
	apply(t, c, d,
		`{"timestamp":"2026-08-17T08:00:00Z","fields":{"message":"Session Start","session_id":"STALE",`+aliceTarget+`}}`,
		`{"timestamp":"2026-08-17T08:00:01Z","fields":{"message":"Port Steal","session_id":"STALE","port":80,`+aliceTarget+`}}`,
		// Port events of a session whose start was never seen expire too.
		`{"timestamp":"2026-08-17T08:30:00Z","fields":{"message":"Port Mirror","session_id":"UNSEEN","port":81,`+aliceTarget+`}}`,
		`{"timestamp":"2026-08-17T09:30:00Z","fields":{"message":"Session Start","session_id":"FRESH",`+aliceTarget+`}}`,
	)
	if n := c.Expire(time.Date(2026, 8, 17, 9, 45, 0, 0, time.UTC)); n != 2 {
		t.Fatalf("expired %d sessions, want 2", n)
	}
	// A late End of an expired session is still counted, and moves no gauge.
	apply(t, c, d, `{"timestamp":"2026-08-17T09:50:00Z","fields":{"message":"Session End","session_id":"STALE",`+aliceTarget+`}}`)
	want := `
# HELP mirrord_sessions_active mirrord sessions started and not yet ended (distinct session ids).
# TYPE mirrord_sessions_active gauge
mirrord_sessions_active{client_name="Alice",client_user="alice",target_name="api",target_namespace="shop",target_type="deployment"} 1
# HELP mirrord_ports_active Ports currently stolen or mirrored, released by Port Release or by the end of their session.
# TYPE mirrord_ports_active gauge
mirrord_ports_active{client_name="Alice",client_user="alice",mode="mirror",target_name="api",target_namespace="shop",target_type="deployment"} 0
mirrord_ports_active{client_name="Alice",client_user="alice",mode="steal",target_name="api",target_namespace="shop",target_type="deployment"} 0
# HELP mirrord_exporter_sessions_expired_total Sessions (and ports of unseen sessions) dropped from the active gauges after --session.max-age without an end.
# TYPE mirrord_exporter_sessions_expired_total counter
mirrord_exporter_sessions_expired_total 2
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want),
		"mirrord_sessions_active", "mirrord_ports_active", "mirrord_exporter_sessions_expired_total"); err != nil {
		t.Error(err)
	}
}

func TestMetricsLint(t *testing.T) {
	c, d, reg := newTestCollector(t, 0)
	apply(t, c, d, `{"timestamp":"2026-08-17T10:00:00Z","fields":{"message":"Session End","session_id":"S","session_duration":5,`+aliceTarget+`}}`)
	problems, err := testutil.GatherAndLint(reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("%s: %s", p.Metric, p.Text)
	}
}

func writeGolden(t *testing.T, g prometheus.Gatherer, path string) {
	t.Helper()
	families, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	enc := expfmt.NewEncoder(&buf, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, mf := range families {
		if err := enc.Encode(mf); err != nil {
			t.Fatal(err)
		}
	}
	if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, buf.Bytes()) {
		return
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	// A run that rewrote a golden file fails, so it cannot pass unnoticed.
	t.Errorf("updated %s; review the diff, then run again without -update", path)
}
