package decode

import (
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
	"unsafe"
)

func mustLabels(t testing.TB, add, remove []string) LabelConfig {
	t.Helper()
	cfg, err := NewLabelConfig(add, remove)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func TestDecode(t *testing.T) {
	ts := time.Date(2026, 8, 17, 18, 15, 8, 583869000, time.UTC)
	tests := map[string]struct {
		rec    string
		ok     bool
		reason Reason
		want   Event
	}{
		"nested session start": {
			rec: `{"timestamp":"2026-08-17T18:15:08.583869Z","level":"INFO","fields":{"message":"Session Start","client_user":"alice","client_id":"9cb5dc5cbaa29eed","client_name":"Alice","target_namespace":"shop","target_type":"deployment","target_name":"api","session_id":"5EF7258B5ED09466"},"target":"operator_session::controller"}`,
			ok:  true,
			want: Event{Kind: SessionStart, Time: ts, SessionID: "5EF7258B5ED09466", ClientID: "9cb5dc5cbaa29eed",
				ClientUser: "alice", Labels: []string{"alice", "Alice", "shop", "deployment", "api"}},
		},
		"docs spelling": {
			rec:  `{"fields":{"message":"Session Started","session_id":"A"}}`,
			ok:   true,
			want: Event{Kind: SessionStart, SessionID: "A", Labels: []string{"", "", "", "targetless", ""}},
		},
		"flattened layout, module target ignored": {
			rec: `{"timestamp":"2026-08-17T18:15:08.583869Z","level":"INFO","message":"Port Stolen","session_id":"B","port":"8080","http_filter":"path=/api","client_user":"bob","target":"deployment/app/container/main","target":"operator::steal"}`,
			ok:  true,
			want: Event{Kind: PortSteal, Time: ts, SessionID: "B", Port: 8080, HTTPFiltered: true,
				ClientUser: "bob", Labels: []string{"bob", "", "", "deployment", "app"}},
		},
		"flattened layout, only module target": {
			rec:  `{"message":"Port Mirror","session_id":"B","port":80,"target":"operator::mirror"}`,
			ok:   true,
			want: Event{Kind: PortMirror, SessionID: "B", Port: 80, Labels: []string{"", "", "", "targetless", ""}},
		},
		"target string pod": {
			rec:  `{"fields":{"message":"Copy Target","target":"pod/web-1","scale_down":"true"}}`,
			ok:   true,
			want: Event{Kind: CopyTarget, ScaleDown: true, Labels: []string{"", "", "", "pod", "web-1"}},
		},
		"end with numeric string duration": {
			rec:  `{"fields":{"message":"Session Ended","session_id":"C","session_duration":"12.5"}}`,
			ok:   true,
			want: Event{Kind: SessionEnd, SessionID: "C", Duration: 12.5, HasDuration: true, Labels: []string{"", "", "", "targetless", ""}},
		},
		"end without duration": {
			rec:  `{"fields":{"message":"Session End","session_id":"C"}}`,
			ok:   true,
			want: Event{Kind: SessionEnd, SessionID: "C", Labels: []string{"", "", "", "targetless", ""}},
		},
		"escaped values and invalid utf8": {
			rec:  "{\"fields\":{\"message\":\"Session\\u0020Start\",\"session_id\":\"D\",\"client_user\":\"j\\u00f6rg \\\"q\\\"\",\"client_name\":\"\xff\"}}",
			ok:   true,
			want: Event{Kind: SessionStart, SessionID: "D", ClientUser: `jörg "q"`, Labels: []string{`jörg "q"`, "\uFFFD", "", "targetless", ""}},
		},
		"cli version": {
			rec:  `{"fields":{"message":"Port Mirror","session_id":"B","port":80,"client_user":"u","client_cli_version":"3.170.1-rc1"}}`,
			ok:   true,
			want: Event{Kind: PortMirror, SessionID: "B", Port: 80, ClientUser: "u", ClientCLIVersion: "3.170.1-rc1", Labels: []string{"u", "", "", "targetless", ""}},
		},
		"cli version null": {
			rec:  `{"message":"Session Start","session_id":"B","client_cli_version":null}`,
			ok:   true,
			want: Event{Kind: SessionStart, SessionID: "B", Labels: []string{"", "", "", "targetless", ""}},
		},
		"cli version in plain text": {
			rec:  `2026-08-17T18:15:08.583869Z  INFO operator_session: Session Start session_id=5EF7 client_cli_version=3.166.0`,
			ok:   true,
			want: Event{Kind: SessionStart, Time: ts, SessionID: "5EF7", ClientCLIVersion: "3.166.0", Labels: []string{"", "", "", "targetless", ""}},
		},
		"cli version a number":  {rec: `{"fields":{"message":"Session Start","session_id":"B","client_cli_version":3.1}}`, reason: ReasonInvalidField},
		"cli version an object": {rec: `{"fields":{"message":"Copy Target","scale_down":true,"client_cli_version":{"v":"3"}}}`, reason: ReasonInvalidField},
		"seat limit":            {rec: `{"fields":{"message":"Max seat count reached!","active_users":12}}`, ok: true, want: Event{Kind: SeatLimit, ActiveUsers: 12}},
		"message processing":    {rec: `{"fields":{"message":"Message Processing","event_type":"http","mode":"steal","response_status_code":503}}`, ok: true, want: Event{Kind: MessageProcessing, EventType: "http", Mode: "steal", StatusClass: "5xx"}},
		"queue message":         {rec: `{"fields":{"message":"Message Processing","event_type":"queue","mode":"mirror","queue_type":"sqs"}}`, ok: true, want: Event{Kind: MessageProcessing, EventType: "queue", Mode: "mirror", QueueType: "sqs"}},

		"unrelated record":               {rec: `{"fields":{"message":"reconciling"},"level":"DEBUG"}`},
		"message only contains an event": {rec: `{"fields":{"message":"Session Start failed","session_id":"E"}}`},
		"event text in another field":    {rec: `{"fields":{"message":"x","note":"Session Start"}}`},
		"blank":                          {rec: "   "},
		"not json":                       {rec: "panicked at src/main.rs", reason: ReasonNotJSON},
		"plain text, not an event":       {rec: "2026-08-17T18:15:08.583869Z  INFO kube_runtime::controller: reconciling object: Session Started soon", reason: ReasonPlainText},
		"plain text event, bad fields":   {rec: "2026-08-17T18:15:08.583869Z  INFO operator_session: Session Start client_user=alice", reason: ReasonMissingField},
		"plain text event": {
			rec: `2026-08-17T18:15:08.583869Z  INFO session{id=1}: operator_session::steal: Port Stolen session_id=5EF7 port=8080 http_filter="header=x-user: \"a\"" client_user="alice" target="deployment/api/container/main"`,
			ok:  true,
			want: Event{Kind: PortSteal, Time: ts, SessionID: "5EF7", Port: 8080, HTTPFiltered: true,
				ClientUser: "alice", Labels: []string{"alice", "", "", "deployment", "api"}},
		},
		"coloured plain text event": {
			rec:  "\x1b[2m2026-08-17T18:15:08.583869Z\x1b[0m \x1b[32m INFO\x1b[0m \x1b[2moperator_session\x1b[0m\x1b[2m:\x1b[0m Session End \x1b[3msession_id\x1b[0m\x1b[2m=\x1b[0m5EF7 \x1b[3msession_duration\x1b[0m\x1b[2m=\x1b[0m61.5 \x1b[3mclient_user\x1b[0m\x1b[2m=\x1b[0m\"j\\u{f6}rg\"",
			ok:   true,
			want: Event{Kind: SessionEnd, Time: ts, SessionID: "5EF7", Duration: 61.5, HasDuration: true, ClientUser: "jörg", Labels: []string{"jörg", "", "", "targetless", ""}},
		},
		"truncated":                {rec: `{"fields":{"message":"Session Start","session_id":"F"`, reason: ReasonInvalidJSON},
		"broken inside":            {rec: `{"fields":{"message":"Session Start","session_id":F}}`, reason: ReasonInvalidJSON},
		"trailing garbage":         {rec: `{"fields":{"message":"Session Start","session_id":"F"}} x}`, reason: ReasonInvalidJSON},
		"fields not an object":     {rec: `{"fields":"Session Start","message":"x"}`},
		"fields a string":          {rec: `{"fields":"x","message":"Session Start","session_id":"A"}`, reason: ReasonInvalidField},
		"fields an array":          {rec: `{"fields":[{"message":"Session Start","session_id":"A"}]}`, reason: ReasonInvalidField},
		"fields a number":          {rec: `{"message":"Port Steal","session_id":"A","port":1,"fields":42}`, reason: ReasonInvalidField},
		"fields twice":             {rec: `{"fields":{"message":"Session Start","session_id":"A"},"fields":{"message":"Session End","session_id":"A"}}`, reason: ReasonInvalidField},
		"array, not an object":     {rec: `[{"fields":{"message":"Session Start","session_id":"A"}}]`, reason: ReasonNotJSON},
		"string, not an object":    {rec: `"Session Start"`, reason: ReasonNotJSON},
		"number, not an object":    {rec: `42`, reason: ReasonNotJSON},
		"null, not an object":      {rec: `null`, reason: ReasonNotJSON},
		"NUL bytes":                {rec: "\x00\x00\x00", reason: ReasonNotJSON},
		"NUL byte in a string":     {rec: `{"fields":{"message":"Session Start","session_id":"A` + "\x00" + `B"}}`, reason: ReasonInvalidJSON},
		"NUL byte between members": {rec: `{"fields":{"message":"Session Start",` + "\x00" + `"session_id":"A"}}`, reason: ReasonInvalidJSON},
		"escaped NUL is text": {rec: `{"fields":{"message":"Session Start","session_id":"A\u0000B"}}`, ok: true,
			want: Event{Kind: SessionStart, SessionID: "A\x00B", Labels: []string{"", "", "", "targetless", ""}}},
		"session id an object":  {rec: `{"fields":{"message":"Session Start","session_id":{"a":1}}}`, reason: ReasonInvalidField},
		"session id a boolean":  {rec: `{"fields":{"message":"Session Start","session_id":true}}`, reason: ReasonInvalidField},
		"port negative":         {rec: `{"fields":{"message":"Port Steal","session_id":"G","port":-1}}`, reason: ReasonInvalidField},
		"port fractional":       {rec: `{"fields":{"message":"Port Mirror","session_id":"G","port":8.5}}`, reason: ReasonInvalidField},
		"port an array":         {rec: `{"fields":{"message":"Port Mirror","session_id":"G","port":[80]}}`, reason: ReasonInvalidField},
		"infinite duration":     {rec: `{"fields":{"message":"Session End","session_id":"G","session_duration":"-Inf"}}`, reason: ReasonInvalidField},
		"overflowing duration":  {rec: `{"fields":{"message":"Session End","session_id":"G","session_duration":1e400}}`, reason: ReasonInvalidField},
		"duration a boolean":    {rec: `{"fields":{"message":"Session End","session_id":"G","session_duration":true}}`, reason: ReasonInvalidField},
		"active users a string": {rec: `{"fields":{"message":"Max seat count reached!","active_users":"many"}}`, reason: ReasonInvalidField},
		"missing session id":    {rec: `{"fields":{"message":"Session Start"}}`, reason: ReasonMissingField},
		"port not a number":     {rec: `{"fields":{"message":"Port Steal","session_id":"G","port":"http"}}`, reason: ReasonInvalidField},
		"port out of range":     {rec: `{"fields":{"message":"Port Steal","session_id":"G","port":70000}}`, reason: ReasonInvalidField},
		"missing port":          {rec: `{"fields":{"message":"Port Release","session_id":"G"}}`, reason: ReasonMissingField},
		"negative duration":     {rec: `{"fields":{"message":"Session End","session_id":"G","session_duration":-1}}`, reason: ReasonInvalidField},
		"NaN duration":          {rec: `{"fields":{"message":"Session End","session_id":"G","session_duration":"NaN"}}`, reason: ReasonInvalidField},
		"bad scale_down":        {rec: `{"fields":{"message":"Copy Target","scale_down":"maybe"}}`, reason: ReasonInvalidField},
		"missing scale_down":    {rec: `{"fields":{"message":"Target Copied"}}`, reason: ReasonMissingField},
		"deep nesting":          {rec: `{"fields":{"message":"Session Start","session_id":"H"},"x":` + strings.Repeat("[", 100) + strings.Repeat("]", 100) + `}`, reason: ReasonInvalidJSON},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			d := New(mustLabels(t, nil, nil))
			var ev Event
			ok, reason := d.Decode([]byte(tc.rec), &ev)
			if ok != tc.ok || reason != tc.reason {
				t.Fatalf("Decode = (%v, %q), want (%v, %q)", ok, reason, tc.ok, tc.reason)
			}
			if named := reason == ReasonMissingField || reason == ReasonInvalidField; (d.Field() != "") != named {
				t.Errorf("Field() = %q after reason %q", d.Field(), reason)
			}
			if ok && !reflect.DeepEqual(ev, tc.want) {
				t.Errorf("event\n got %+v\nwant %+v", ev, tc.want)
			}
		})
	}
}

// TestDecodeNamesTheBadField: a missing or invalid field is named by its
// key, whichever layout the record has, and a later record that is fine
// names none.
func TestDecodeNamesTheBadField(t *testing.T) {
	d := New(mustLabels(t, nil, nil))
	for rec, want := range map[string]struct {
		reason Reason
		field  string
	}{
		`{"fields":{"message":"Session Start","client_user":"canary@example.com"}}`:               {ReasonMissingField, "session_id"},
		`{"fields":{"message":"Session Start","session_id":""}}`:                                  {ReasonMissingField, "session_id"},
		`{"fields":{"message":"Session End","session_id":true}}`:                                  {ReasonInvalidField, "session_id"},
		`{"fields":{"message":"Session End","session_id":"A","session_duration":-1}}`:             {ReasonInvalidField, "session_duration"},
		`{"message":"Port Released","session_id":"A"}`:                                            {ReasonMissingField, "port"},
		`{"fields":{"message":"Port Steal","session_id":"A","port":"http"}}`:                      {ReasonInvalidField, "port"},
		`{"fields":{"message":"Copy Target"}}`:                                                    {ReasonMissingField, "scale_down"},
		`{"fields":{"message":"Copy Target","scale_down":"maybe"}}`:                               {ReasonInvalidField, "scale_down"},
		`{"fields":{"message":"Max seat count reached!"}}`:                                        {ReasonMissingField, "active_users"},
		`{"fields":{"message":"Max seat count reached!","active_users":-2}}`:                      {ReasonInvalidField, "active_users"},
		`{"fields":"x","message":"Session Start","session_id":"A"}`:                               {ReasonInvalidField, "fields"},
		`{"fields":{"message":"Session Start","session_id":"A","client_cli_version":3}}`:          {ReasonInvalidField, "client_cli_version"},
		`{"message":"Port Release","session_id":"A","port":1,"client_cli_version":false}`:         {ReasonInvalidField, "client_cli_version"},
		"2026-08-17T18:15:08.583869Z  INFO operator_session: Port Mirror session_id=1 port=x":     {ReasonInvalidField, "port"},
		"2026-08-17T18:15:08.583869Z  INFO operator_session: Session Start client_user=\"alice\"": {ReasonMissingField, "session_id"},
	} {
		var ev Event
		ok, reason := d.Decode([]byte(rec), &ev)
		if ok || reason != want.reason || d.Field() != want.field {
			t.Errorf("%s: Decode = (%v, %q), Field() = %q; want %q, %q", rec, ok, reason, d.Field(), want.reason, want.field)
		}
		if ok, _ := d.Decode([]byte(`{"fields":{"message":"Session Start","session_id":"A"}}`), &ev); !ok || d.Field() != "" {
			t.Errorf("after a good record: ok %v, Field() = %q", ok, d.Field())
		}
	}
}

func TestDecodeConfiguredLabels(t *testing.T) {
	d := New(mustLabels(t, []string{"client_hostname", "port"}, []string{"client_name", "target_namespace"}))
	var ev Event
	ok, _ := d.Decode([]byte(`{"fields":{"message":"Port Steal","session_id":"A","port":81,"client_user":"u","client_hostname":"h","target":"targetless"}}`), &ev)
	if !ok {
		t.Fatal("not decoded")
	}
	want := []string{"u", "targetless", "", "h", "81"}
	if !reflect.DeepEqual(ev.Labels, want) {
		t.Errorf("labels %q, want %q", ev.Labels, want)
	}
}

func TestLabelConfigErrors(t *testing.T) {
	for name, tc := range map[string]struct{ add, remove []string }{
		"required":   {remove: []string{"client_user"}},
		"unknown":    {remove: []string{"nope"}},
		"invalid":    {add: []string{"a-b"}},
		"reserved":   {add: []string{"mode"}},
		"prometheus": {add: []string{"instance"}},
		"dunder":     {add: []string{"__x"}},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := NewLabelConfig(tc.add, tc.remove); err == nil {
				t.Error("no error")
			}
		})
	}
}

func TestDecodeRejectsNonEventsWithoutAllocating(t *testing.T) {
	d := New(mustLabels(t, nil, nil))
	rec := []byte(`{"timestamp":"2026-08-17T18:15:08.583869Z","level":"DEBUG","fields":{"message":"polling pods","count":3},"target":"kube_runtime::controller"}`)
	var ev Event
	if allocs := testing.AllocsPerRun(100, func() { d.Decode(rec, &ev) }); allocs != 0 {
		t.Errorf("%v allocations per non-event record, want 0", allocs)
	}
}

// TestStatusClassEdges pins how response_status_code becomes the status
// class label at the edges: whole codes from 100 to 599 only, numbers or
// numeric strings alike, anything else "other"; absent, no class at all.
func TestStatusClassEdges(t *testing.T) {
	for value, want := range map[string]string{
		`99`: "other", `100`: "1xx", `199`: "1xx", `200`: "2xx", `404`: "4xx", `599`: "5xx", `600`: "other",
		`0`: "other", `-200`: "other", `99.999`: "other", `200.5`: "other", `200.0`: "2xx", `2e2`: "2xx",
		`5.03e2`: "5xx", `1e400`: "other", `1000000000000`: "other",
		`"503"`: "5xx", `" 404 "`: "4xx", `"200.0"`: "2xx", `"200.5"`: "other", `"600"`: "other", `"99"`: "other",
		`"abc"`: "other", `""`: "other", `"5xx"`: "other", `"0x1F4"`: "other", `"NaN"`: "other", `"Inf"`: "other",
		`"+200"`: "2xx", `"5_03"`: "5xx", // strconv.ParseFloat takes Go's digit separators
		`true`: "other", `[200]`: "other", `{"code":200}`: "other", `null`: "",
	} {
		t.Run(value, func(t *testing.T) {
			rec := `{"fields":{"message":"Message Processing","event_type":"http","response_status_code":` + value + `}}`
			var ev Event
			if ok, reason := New(mustLabels(t, nil, nil)).Decode([]byte(rec), &ev); !ok {
				t.Fatalf("not decoded: %q", reason)
			}
			if ev.StatusClass != want {
				t.Errorf("status class %q, want %q", ev.StatusClass, want)
			}
		})
	}
	var ev Event
	if ok, _ := New(mustLabels(t, nil, nil)).Decode([]byte(`{"fields":{"message":"Message Processing","event_type":"queue"}}`), &ev); !ok || ev.StatusClass != "" {
		t.Errorf("without a code: ok %v, status class %q, want none", ok, ev.StatusClass)
	}
}

// TestClientIdentity: every functional event carries client_id and
// client_user, configured as labels or not, and a repeated value is the
// decoder's interned string rather than a new one.
func TestClientIdentity(t *testing.T) {
	rec := []byte(`{"fields":{"message":"Copy Target","scale_down":false,"client_id":"9cb5dc5cbaa29eed","client_user":"alice"}}`)
	for name, add := range map[string][]string{"default labels": nil, "client_id a label": {"client_id"}} {
		t.Run(name, func(t *testing.T) {
			d := New(mustLabels(t, add, nil))
			var first, second Event
			if ok, reason := d.Decode(rec, &first); !ok {
				t.Fatalf("not decoded: %q", reason)
			}
			if first.ClientID != "9cb5dc5cbaa29eed" || first.ClientUser != "alice" {
				t.Fatalf("client_id %q, client_user %q", first.ClientID, first.ClientUser)
			}
			d.Decode(rec, &second)
			if unsafe.StringData(first.ClientID) != unsafe.StringData(second.ClientID) {
				t.Error("client_id not interned: a new string for a value seen before")
			}
		})
	}
	var ev Event
	if ok, _ := New(mustLabels(t, nil, nil)).Decode([]byte(`{"fields":{"message":"Copy Target","scale_down":false}}`), &ev); !ok || ev.ClientID != "" || ev.ClientUser != "" {
		t.Errorf("a record without them: client_id %q, client_user %q", ev.ClientID, ev.ClientUser)
	}
}

// TestDecodeCutsCLIVersion: client_cli_version is cut like a label value,
// and Event.Cut names it.
func TestDecodeCutsCLIVersion(t *testing.T) {
	d := New(mustLabels(t, nil, nil))
	long := strings.Repeat("3.", 200) + "0"
	var ev Event
	ok, _ := d.Decode([]byte(`{"fields":{"message":"Session Start","session_id":"A","client_cli_version":"`+long+`"}}`), &ev)
	if !ok {
		t.Fatal("not decoded")
	}
	if len(ev.ClientCLIVersion) > MaxLabelValueBytes || !strings.HasPrefix(ev.ClientCLIVersion, "3.3.") || !slices.Equal(ev.Cut, []string{"client_cli_version"}) {
		t.Fatalf("version %q (%d bytes), cut %q", ev.ClientCLIVersion, len(ev.ClientCLIVersion), ev.Cut)
	}
}
