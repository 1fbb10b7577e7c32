package dashboards

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
)

// Dashboard is one Grafana dashboard, in the few terms our dashboards need.
type Dashboard struct {
	File, UID, Title, Description string
	Vars                          []Var
	Panels                        []Panel
}

// Var is a multi-value query variable over a label, "All" meaning ".*".
type Var struct {
	Name, Label string
	// Query is a Grafana label_values(...) query.
	Query string
}

// Panel is one panel; Type is a Grafana panel plugin id.
type Panel struct {
	Type, Title, Description, Unit string
	W, H                           int
	Queries                        []Query
	// Stack stacks time series; Columns renames the value fields of a table
	// ("Value #A" and so on), in query order, and gives their units.
	Stack   bool
	Columns []Column
}

// Query is one PromQL target of a panel.
type Query struct {
	Expr, Legend string
}

// Column is a table's value column: its header and unit.
type Column struct{ Name, Unit string }

// Datasource is how every panel and variable names its data source, so that
// the dashboards work whatever the user called their Prometheus.
var datasource = map[string]string{"type": "prometheus", "uid": "${datasource}"}

// Render gives the JSON of every dashboard, by file name.
func Render() (map[string][]byte, error) {
	out := map[string][]byte{}
	for _, d := range All() {
		b, err := d.render()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", d.File, err)
		}
		out[d.File] = b
	}
	return out, nil
}

type obj = map[string]any

func (d Dashboard) render() ([]byte, error) {
	vars := []any{obj{
		"name": "datasource", "label": "Data source", "type": "datasource",
		"query": "prometheus", "current": obj{}, "hide": 0, "refresh": 1,
		"regex": "", "options": []any{},
	}}
	for _, v := range d.Vars {
		vars = append(vars, obj{
			"name": v.Name, "label": v.Label, "type": "query", "datasource": datasource,
			"definition": v.Query, "query": obj{"query": v.Query, "refId": "PrometheusVariableQueryEditor-VariableQuery"},
			"multi": true, "includeAll": true, "allValue": ".*", "refresh": 2, "sort": 1,
			"current": obj{"selected": true, "text": []string{"All"}, "value": []string{"$__all"}},
			"hide":    0, "regex": "", "options": []any{},
		})
	}
	panels := []any{}
	x, y, rowH := 0, 0, 0
	for i, p := range d.Panels {
		if x+p.W > 24 {
			x, y, rowH = 0, y+rowH, 0
		}
		panels = append(panels, p.render(i+1, x, y))
		x += p.W
		rowH = max(rowH, p.H)
	}
	dash := obj{
		"uid": d.UID, "title": d.Title, "description": d.Description,
		"tags": []string{"mirrord"}, "editable": true, "graphTooltip": 1,
		"schemaVersion": 41, "version": 1, "refresh": "1m", "timezone": "",
		"time":                 obj{"from": "now-24h", "to": "now"},
		"timepicker":           obj{},
		"fiscalYearStartMonth": 0, "liveNow": false,
		"annotations": obj{"list": []any{}},
		"links": []any{obj{
			"title": "mirrord dashboards", "type": "dashboards", "tags": []string{"mirrord"},
			"asDropdown": true, "includeVars": true, "keepTime": true,
		}},
		"templating": obj{"list": vars},
		"panels":     panels,
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // keep =~ and <, > readable in the files
	enc.SetIndent("", "  ")
	if err := enc.Encode(dash); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func (p Panel) render(id, x, y int) obj {
	table := p.Type == "table"
	instant := table || p.Type == "piechart" || p.Type == "bargauge"
	var targets []any
	for i, q := range p.Queries {
		t := obj{
			"refId": string(rune('A' + i)), "datasource": datasource, "expr": q.Expr,
			"legendFormat": q.Legend, "instant": instant, "range": !instant,
		}
		if table {
			t["format"] = "table"
		}
		targets = append(targets, t)
	}
	reduce := obj{"calcs": []string{"lastNotNull"}, "fields": "", "values": false}
	defaults := obj{"unit": p.Unit}
	var options obj
	var overrides []any
	var transformations []any
	switch p.Type {
	case "stat":
		options = obj{"reduceOptions": reduce, "colorMode": "value", "graphMode": "area",
			"textMode": "auto", "justifyMode": "auto", "orientation": "auto"}
	case "timeseries":
		stacking := "none"
		if p.Stack {
			stacking = "normal"
		}
		defaults["custom"] = obj{"drawStyle": "line", "lineWidth": 1, "fillOpacity": 10,
			"showPoints": "never", "stacking": obj{"mode": stacking, "group": "A"}}
		options = obj{"legend": obj{"displayMode": "list", "placement": "bottom", "showLegend": true},
			"tooltip": obj{"mode": "multi", "sort": "desc"}}
	case "piechart":
		options = obj{"pieType": "donut", "reduceOptions": reduce,
			"legend": obj{"displayMode": "table", "placement": "right", "showLegend": true,
				"values": []string{"value", "percent"}},
			"tooltip": obj{"mode": "single", "sort": "none"}}
	case "bargauge":
		options = obj{"displayMode": "gradient", "orientation": "horizontal",
			"reduceOptions": reduce, "showUnfilled": true, "valueMode": "color"}
	case "table":
		options = obj{"showHeader": true, "cellHeight": "sm",
			"footer": obj{"show": false, "reducer": []string{"sum"}, "fields": ""}}
		rename := obj{}
		for i, c := range p.Columns {
			field := "Value"
			if len(p.Queries) > 1 {
				field = "Value #" + string(rune('A'+i))
			}
			rename[field] = c.Name
			overrides = append(overrides, obj{
				"matcher":    obj{"id": "byName", "options": c.Name},
				"properties": []any{obj{"id": "unit", "value": c.Unit}},
			})
		}
		transformations = []any{
			obj{"id": "merge", "options": obj{}},
			obj{"id": "organize", "options": obj{"excludeByName": obj{"Time": true}, "renameByName": rename}},
		}
		if len(p.Columns) > 0 {
			transformations = append(transformations, obj{"id": "sortBy", "options": obj{
				"sort": []any{obj{"field": p.Columns[0].Name, "desc": true}}}})
		}
	}
	if overrides == nil {
		overrides = []any{}
	}
	panel := obj{
		"id": id, "type": p.Type, "title": p.Title, "description": p.Description,
		"datasource": datasource, "gridPos": obj{"x": x, "y": y, "w": p.W, "h": p.H},
		"targets":     targets,
		"fieldConfig": obj{"defaults": defaults, "overrides": overrides},
		"options":     options,
	}
	if transformations != nil {
		panel["transformations"] = transformations
	}
	return panel
}

// Filters maps a template variable to the label it filters.
var Filters = []struct{ Var, Label string }{
	{"namespace", "target_namespace"},
	{"target_type", "target_type"},
	{"target", "target_name"},
	{"user", "client_user"},
}

// sel gives the label matchers of the session dashboards' variables, plus
// extra matchers, as a PromQL selector body in braces.
func sel(extra ...string) string {
	m := []string{inCluster}
	for _, f := range Filters {
		m = append(m, fmt.Sprintf(`%s=~"$%s"`, f.Label, f.Var))
	}
	return "{" + strings.Join(append(m, extra...), ", ") + "}"
}

// inCluster filters by the cluster variable. Every selector has it: "All"
// is ".*", which also matches series without a cluster label, so one
// Prometheus without the label shows everything.
const inCluster = `cluster=~"$cluster"`

// clusterVar lists the clusters whose exporters report to this Prometheus
// (a cluster label added by relabeling, external labels or remote write);
// it is empty, and harmless, where there is none.
var clusterVar = Var{"cluster", "Cluster", `label_values(mirrord_exporter_build_info, cluster)`}

// noCopies leaves out the pods mirrord creates for copy_target, as
// MetalBear's target panels do: a session on a copy is counted on its copy.
const noCopies = `target_name!~"mirrord-copy-.*"`

// sessionVars are the filters every session dashboard offers, chained so
// that each lists only values under the ones chosen before it.
func sessionVars() []Var {
	return []Var{
		clusterVar,
		{"namespace", "Target namespace", `label_values(mirrord_sessions_started_total{cluster=~"$cluster"}, target_namespace)`},
		{"target_type", "Target type", `label_values(mirrord_sessions_started_total{cluster=~"$cluster", target_namespace=~"$namespace"}, target_type)`},
		{"target", "Target", `label_values(mirrord_sessions_started_total{cluster=~"$cluster", target_namespace=~"$namespace", target_type=~"$target_type"}, target_name)`},
		{"user", "User", `label_values(mirrord_sessions_started_total{cluster=~"$cluster", target_namespace=~"$namespace", target_type=~"$target_type", target_name=~"$target"}, client_user)`},
	}
}

// All is every bundled dashboard.
func All() []Dashboard {
	return []Dashboard{overview(), users(), targets(), exporter()}
}

// distinctUsers counts users who started a session in the window, from the
// recorded hourly increase: a 30-day increase over raw counters is the most
// expensive query of these dashboards.
func distinctUsers(window string) string {
	return fmt.Sprintf(`count(sum by (client_user) (max_over_time(user_target:mirrord_sessions_started:increase1h%s[%s])) > 0) or vector(0)`, sel(), window)
}

func overview() Dashboard {
	return Dashboard{
		File: "mirrord-overview.json", UID: "mirrord-overview", Title: "mirrord / Overview",
		Description: "Who uses mirrord now and over time, and how: sessions, users, steal and mirror, copied targets.",
		Vars:        sessionVars(),
		Panels: []Panel{
			{Type: "stat", Title: "Active sessions", Unit: "short", W: 4, H: 4,
				Description: "Sessions started and not yet ended, now.",
				Queries:     []Query{{`sum(mirrord_sessions_active` + sel() + `) or vector(0)`, ""}}},
			{Type: "stat", Title: "Active users", Unit: "short", W: 4, H: 4,
				Description: "Users with at least one session running now.",
				Queries:     []Query{{`count(sum by (client_user) (mirrord_sessions_active` + sel() + `) > 0) or vector(0)`, ""}}},
			{Type: "stat", Title: "Distinct users, 24h", Unit: "short", W: 4, H: 4,
				Description: "Users who started a session in the last 24 hours (from the recording rule user_target:mirrord_sessions_started:increase1h).",
				Queries:     []Query{{distinctUsers("24h"), ""}}},
			{Type: "stat", Title: "Distinct users, 7d", Unit: "short", W: 4, H: 4,
				Description: "Users who started a session in the last 7 days (from the recording rule user_target:mirrord_sessions_started:increase1h).",
				Queries:     []Query{{distinctUsers("7d"), ""}}},
			{Type: "stat", Title: "Distinct users, 30d", Unit: "short", W: 4, H: 4,
				Description: "Users who started a session in the last 30 days, the seat count of most licenses (from the recording rule user_target:mirrord_sessions_started:increase1h).",
				Queries:     []Query{{distinctUsers("30d"), ""}}},
			{Type: "stat", Title: "Operator's last event age", Unit: "s", W: 4, H: 4,
				Description: "Time since the newest session, port or copy event in the operator's log. Grows while nobody uses mirrord, or when the log stream is lost; check the Exporter health dashboard.",
				Queries:     []Query{{`time() - max(mirrord_last_event_timestamp_seconds{` + inCluster + `})`, ""}}},

			{Type: "timeseries", Title: "Sessions started per hour", Unit: "short", W: 12, H: 8, Stack: true,
				Description: "Rate of Session Start records, per hour, by target namespace.",
				Queries:     []Query{{`sum by (target_namespace) (rate(mirrord_sessions_started_total` + sel() + `[$__rate_interval])) * 3600`, "{{target_namespace}}"}}},
			{Type: "timeseries", Title: "Active sessions and users", Unit: "short", W: 12, H: 8,
				Description: "Sessions running, and distinct users running them, over time.",
				Queries: []Query{
					{`sum(mirrord_sessions_active` + sel() + `) or vector(0)`, "sessions"},
					{`count(sum by (client_user) (mirrord_sessions_active` + sel() + `) > 0) or vector(0)`, "users"},
				}},

			{Type: "timeseries", Title: "Session duration percentiles", Unit: "s", W: 12, H: 8,
				Description: "Duration of the sessions that ended, 50th, 90th and 99th percentile (histogram_quantile over mirrord_session_duration_seconds). Empty while no session ends.",
				Queries: []Query{
					{`histogram_quantile(0.5, sum by (le) (rate(mirrord_session_duration_seconds_bucket` + sel() + `[$__rate_interval])))`, "p50"},
					{`histogram_quantile(0.9, sum by (le) (rate(mirrord_session_duration_seconds_bucket` + sel() + `[$__rate_interval])))`, "p90"},
					{`histogram_quantile(0.99, sum by (le) (rate(mirrord_session_duration_seconds_bucket` + sel() + `[$__rate_interval])))`, "p99"},
				}},
			{Type: "timeseries", Title: "Ports held: steal vs mirror", Unit: "short", W: 12, H: 8, Stack: true,
				Description: "Ports held by sessions now, by mode: steal takes the target's traffic, mirror copies it.",
				Queries:     []Query{{`sum by (mode) (mirrord_ports_active` + sel() + `)`, "{{mode}}"}}},

			{Type: "piechart", Title: "Steal vs mirror", Unit: "short", W: 6, H: 8,
				Description: "Ports stolen and ports mirrored over the dashboard's time range.",
				Queries: []Query{
					{`sum(increase(mirrord_ports_stolen_total` + sel() + `[$__range]))`, "steal"},
					{`sum(increase(mirrord_ports_mirrored_total` + sel() + `[$__range]))`, "mirror"},
				}},
			{Type: "piechart", Title: "Filtered vs unfiltered steals", Unit: "short", W: 6, H: 8,
				Description: "Port steals with an HTTP filter (only matching requests are stolen) against unfiltered ones (all traffic of the port), over the time range.",
				Queries:     []Query{{`sum by (http_filtered) (increase(mirrord_ports_stolen_total` + sel() + `[$__range]))`, "filtered={{http_filtered}}"}}},
			{Type: "piechart", Title: "Copy targets by scale_down", Unit: "short", W: 6, H: 8,
				Description: "Targets copied (copy_target) over the time range; scale_down=true also scaled the original to zero.",
				Queries:     []Query{{`sum by (scale_down) (increase(mirrord_targets_copied_total` + sel() + `[$__range]))`, "scale_down={{scale_down}}"}}},
			{Type: "stat", Title: "Seat limit", Unit: "short", W: 6, H: 8,
				Description: "Max seat count reached! records over the time range, and the active users the operator counted at the last one.",
				Queries: []Query{
					{`sum(increase(mirrord_seat_limit_reached_total{` + inCluster + `}[$__range]))`, "limit reached"},
					{`max(mirrord_seat_limit_active_users{` + inCluster + `})`, "active users at the limit"},
				}},

			{Type: "timeseries", Title: "Traffic handled for sessions", Unit: "reqps", W: 12, H: 8, Stack: true,
				Description: "Messages the operator processed for sessions (Message Processing records, operator 3.188 and later) per second, by kind (http, queue, message_bus) and mode. Not filtered by the variables: these records carry no user or target.",
				Queries:     []Query{{`sum by (event_type, mode) (rate(mirrord_messages_processed_total{` + inCluster + `}[$__rate_interval]))`, "{{event_type}} {{mode}}"}}},
			{Type: "timeseries", Title: "HTTP responses to sessions by class", Unit: "reqps", W: 12, H: 8, Stack: true,
				Description: "HTTP requests stolen or mirrored for sessions per second, by response status class (2xx, 5xx, ...). Not filtered by the variables: these records carry no user or target.",
				Queries:     []Query{{`sum by (response_status_class) (rate(mirrord_messages_processed_total{` + inCluster + `, event_type="http", response_status_class!=""}[$__rate_interval]))`, "{{response_status_class}}"}}},
		},
	}
}

func users() Dashboard {
	by := "client_user"
	return Dashboard{
		File: "mirrord-users.json", UID: "mirrord-users", Title: "mirrord / Users",
		Description: "Per user: sessions, session hours, ports stolen and mirrored, last seen.",
		Vars:        sessionVars(),
		Panels: []Panel{
			{Type: "table", Title: "Users", Unit: "short", W: 24, H: 10,
				Description: "Every user with a session in the time range: sessions started, hours spent in sessions that ended, ports stolen and mirrored, sessions running now, and when they last had a session running.",
				Queries: []Query{
					{`sum by (` + by + `) (increase(mirrord_sessions_started_total` + sel() + `[$__range]))`, ""},
					{`sum by (` + by + `) (increase(mirrord_session_duration_seconds_sum` + sel() + `[$__range])) / 3600`, ""},
					{`sum by (` + by + `) (increase(mirrord_ports_stolen_total` + sel() + `[$__range]))`, ""},
					{`sum by (` + by + `) (increase(mirrord_ports_mirrored_total` + sel() + `[$__range]))`, ""},
					{`sum by (` + by + `) (mirrord_sessions_active` + sel() + `)`, ""},
					{`max by (` + by + `) (max_over_time(timestamp(sum by (` + by + `) (mirrord_sessions_active` + sel() + `) > 0)[$__range:$__interval])) * 1000`, ""},
				},
				Columns: []Column{{"Sessions", "short"}, {"Session hours", "h"}, {"Ports stolen", "short"},
					{"Ports mirrored", "short"}, {"Active now", "short"}, {"Last seen", "dateTimeFromNow"}}},

			{Type: "bargauge", Title: "Top 10 users by sessions", Unit: "short", W: 8, H: 9,
				Description: "The ten users who started the most sessions in the time range.",
				Queries:     []Query{{`topk(10, sum by (` + by + `) (increase(mirrord_sessions_started_total` + sel() + `[$__range])))`, "{{client_user}}"}}},
			{Type: "bargauge", Title: "Top 10 users by session hours", Unit: "h", W: 8, H: 9,
				Description: "The ten users with the most hours in sessions that ended in the time range.",
				Queries:     []Query{{`topk(10, sum by (` + by + `) (increase(mirrord_session_duration_seconds_sum` + sel() + `[$__range])) / 3600)`, "{{client_user}}"}}},
			{Type: "bargauge", Title: "Top 10 users by ports stolen", Unit: "short", W: 8, H: 9,
				Description: "The ten users who stole the most ports in the time range: who takes traffic away from shared targets.",
				Queries:     []Query{{`topk(10, sum by (` + by + `) (increase(mirrord_ports_stolen_total` + sel() + `[$__range])))`, "{{client_user}}"}}},

			{Type: "timeseries", Title: "Active sessions by user", Unit: "short", W: 12, H: 8, Stack: true,
				Description: "Sessions running now, per user.",
				Queries:     []Query{{`sum by (` + by + `) (mirrord_sessions_active` + sel() + `)`, "{{client_user}}"}}},
			{Type: "timeseries", Title: "Sessions started per hour by user", Unit: "short", W: 12, H: 8, Stack: true,
				Description: "Rate of Session Start records per hour, per user.",
				Queries:     []Query{{`sum by (` + by + `) (rate(mirrord_sessions_started_total` + sel() + `[$__rate_interval])) * 3600`, "{{client_user}}"}}},
			{Type: "timeseries", Title: "Ports stolen and mirrored per hour by user", Unit: "short", W: 12, H: 8,
				Description: "Rate of Port Steal and Port Mirror records per hour, per user.",
				Queries: []Query{
					{`sum by (` + by + `) (rate(mirrord_ports_stolen_total` + sel() + `[$__rate_interval])) * 3600`, "{{client_user}} steal"},
					{`sum by (` + by + `) (rate(mirrord_ports_mirrored_total` + sel() + `[$__rate_interval])) * 3600`, "{{client_user}} mirror"},
				}},
			{Type: "table", Title: "Users and clients", Unit: "short", W: 12, H: 8,
				Description: "Users by the client names they connected with (the client_name label), with the sessions started in the time range; MetalBear's user panels list the same pairs.",
				Queries:     []Query{{`sum by (client_user, client_name) (increase(mirrord_sessions_started_total` + sel() + `[$__range]))`, ""}},
				Columns:     []Column{{"Sessions", "short"}}},
		},
	}
}

func targets() Dashboard {
	tgt := "target_namespace, target_type, target_name"
	return Dashboard{
		File: "mirrord-targets.json", UID: "mirrord-targets", Title: "mirrord / Targets",
		Description: "Which targets mirrord sessions use: by namespace, type and name, ports per target, copied targets.",
		Vars:        sessionVars(),
		Panels: []Panel{
			{Type: "piechart", Title: "Sessions by target namespace", Unit: "short", W: 8, H: 9,
				Description: "Sessions started in the time range by target namespace, copied pods (mirrord-copy-*) left out.",
				Queries:     []Query{{`sum by (target_namespace) (increase(mirrord_sessions_started_total` + sel(noCopies) + `[$__range]))`, "{{target_namespace}}"}}},
			{Type: "piechart", Title: "Sessions by target type", Unit: "short", W: 8, H: 9,
				Description: "Sessions started in the time range by target type (deployment, pod, rollout, ..., targetless), copied pods left out.",
				Queries:     []Query{{`sum by (target_type) (increase(mirrord_sessions_started_total` + sel(noCopies) + `[$__range]))`, "{{target_type}}"}}},
			{Type: "piechart", Title: "Sessions by target", Unit: "short", W: 8, H: 9,
				Description: "Sessions started in the time range by target namespace and name, copied pods left out.",
				Queries:     []Query{{`sum by (target_namespace, target_name) (increase(mirrord_sessions_started_total` + sel(noCopies) + `[$__range]))`, "{{target_namespace}}/{{target_name}}"}}},

			{Type: "table", Title: "Targets", Unit: "short", W: 24, H: 10,
				Description: "Per target, copied pods left out: sessions started and distinct users in the time range, sessions running now.",
				Queries: []Query{
					{`sum by (` + tgt + `) (increase(mirrord_sessions_started_total` + sel(noCopies) + `[$__range]))`, ""},
					{`count by (` + tgt + `) (sum by (` + tgt + `, client_user) (increase(mirrord_sessions_started_total` + sel(noCopies) + `[$__range])) > 0)`, ""},
					{`sum by (` + tgt + `) (mirrord_sessions_active` + sel(noCopies) + `)`, ""},
				},
				Columns: []Column{{"Sessions", "short"}, {"Users", "short"}, {"Active now", "short"}}},

			{Type: "table", Title: "Ports per target", Unit: "short", W: 12, H: 9,
				Description: "Per target: ports stolen with and without an HTTP filter and ports mirrored in the time range, copied pods included (their traffic is stolen on the copy).",
				Queries: []Query{
					{`sum by (` + tgt + `) (increase(mirrord_ports_stolen_total` + sel(`http_filtered="true"`) + `[$__range]))`, ""},
					{`sum by (` + tgt + `) (increase(mirrord_ports_stolen_total` + sel(`http_filtered="false"`) + `[$__range]))`, ""},
					{`sum by (` + tgt + `) (increase(mirrord_ports_mirrored_total` + sel() + `[$__range]))`, ""},
				},
				Columns: []Column{{"Stolen, filtered", "short"}, {"Stolen, unfiltered", "short"}, {"Mirrored", "short"}}},
			{Type: "table", Title: "Copied targets", Unit: "short", W: 12, H: 9,
				Description: "Targets copied (copy_target) in the time range, by scale_down (true: the original was scaled to zero meanwhile).",
				Queries:     []Query{{`sum by (` + tgt + `, scale_down) (increase(mirrord_targets_copied_total` + sel() + `[$__range]))`, ""}},
				Columns:     []Column{{"Copies", "short"}}},

			{Type: "timeseries", Title: "Active sessions by target", Unit: "short", W: 12, H: 8, Stack: true,
				Description: "Sessions running per target, copied pods left out.",
				Queries:     []Query{{`sum by (target_namespace, target_name) (mirrord_sessions_active` + sel(noCopies) + `)`, "{{target_namespace}}/{{target_name}}"}}},
			{Type: "timeseries", Title: "Ports held by target", Unit: "short", W: 12, H: 8, Stack: true,
				Description: "Ports held now per target and mode (steal or mirror), copied pods included.",
				Queries:     []Query{{`sum by (target_namespace, target_name, mode) (mirrord_ports_active` + sel() + `)`, "{{target_namespace}}/{{target_name}} {{mode}}"}}},
			{Type: "table", Title: "Sessions on copied pods", Unit: "short", W: 24, H: 8,
				Description: "Sessions started in the time range on the mirrord-copy-* pods that copy_target creates, the ones the panels above leave out.",
				Queries:     []Query{{`sum by (target_namespace, target_name) (increase(mirrord_sessions_started_total` + sel(`target_name=~"mirrord-copy-.*"`) + `[$__range]))`, ""}},
				Columns:     []Column{{"Sessions", "short"}}},
		},
	}
}

func exporter() Dashboard {
	s := `{` + inCluster + `, job=~"$job", instance=~"$instance"}`
	return Dashboard{
		File: "mirrord-exporter.json", UID: "mirrord-exporter-health", Title: "mirrord / Exporter health",
		Description: "Is the exporter reading the operator's log, and reading it well: lines, bytes, malformed lines, files, Kubernetes log streams, state saves, series and the series cap.",
		Vars: []Var{
			clusterVar,
			{"job", "Job", `label_values(mirrord_exporter_build_info{cluster=~"$cluster"}, job)`},
			{"instance", "Instance", `label_values(mirrord_exporter_build_info{cluster=~"$cluster", job=~"$job"}, instance)`},
		},
		Panels: []Panel{
			{Type: "stat", Title: "Up", Unit: "bool_yes_no", W: 4, H: 4,
				Description: "Whether Prometheus could scrape the exporter (the up series of its scrape job).",
				Queries:     []Query{{`min(up` + s + `)`, ""}}},
			{Type: "stat", Title: "Operator's last event age", Unit: "s", W: 4, H: 4,
				Description: "Time since the newest session, port or copy event the exporter read. Long while sessions run: the log stream may be lost.",
				Queries:     []Query{{`time() - max(mirrord_last_event_timestamp_seconds` + s + `)`, ""}}},
			{Type: "stat", Title: "Files followed", Unit: "short", W: 4, H: 4,
				Description: "Operator log files open now. 0 with a file --input.path means the file is missing (standard input always shows 0).",
				Queries:     []Query{{`sum(mirrord_exporter_files_followed` + s + `)`, ""}}},
			{Type: "stat", Title: "Sessions tracked", Unit: "short", W: 4, H: 4,
				Description: "Sessions held in the exporter's memory (started, not ended, not expired by --session.max-age).",
				Queries:     []Query{{`sum(mirrord_exporter_sessions_tracked` + s + `)`, ""}}},
			{Type: "stat", Title: "Samples per scrape", Unit: "short", W: 4, H: 4,
				Description: "Samples in the last scrape of the exporter (Prometheus' scrape_samples_scraped): its series count, which grows with users and targets.",
				Queries:     []Query{{`sum(scrape_samples_scraped` + s + `)`, ""}}},
			{Type: "stat", Title: "Malformed lines", Unit: "percentunit", W: 4, H: 4,
				Description: "Share of lines read that could not be used, over the time range. Near 100% with reason plain_text: set operator.jsonLog=true.",
				Queries:     []Query{{`sum(increase(mirrord_exporter_malformed_lines_total` + s + `[$__range])) / sum(increase(mirrord_exporter_log_lines_total` + s + `[$__range]))`, ""}}},

			{Type: "timeseries", Title: "Lines read", Unit: "short", W: 8, H: 8,
				Description: "Physical lines read per second, by --input.path value.",
				Queries:     []Query{{`sum by (input) (rate(mirrord_exporter_log_lines_total` + s + `[$__rate_interval]))`, "{{input}}"}}},
			{Type: "timeseries", Title: "Bytes read", Unit: "Bps", W: 8, H: 8,
				Description: "Bytes read per second, by --input.path value.",
				Queries:     []Query{{`sum by (input) (rate(mirrord_exporter_log_bytes_total` + s + `[$__rate_interval]))`, "{{input}}"}}},
			{Type: "timeseries", Title: "Records by wrapper", Unit: "short", W: 8, H: 8, Stack: true,
				Description: "Records per second after unwrapping, by the wrapper detected (json, docker, cri).",
				Queries:     []Query{{`sum by (wrapper) (rate(mirrord_exporter_log_records_total` + s + `[$__rate_interval]))`, "{{wrapper}}"}}},

			{Type: "timeseries", Title: "Malformed lines by reason", Unit: "short", W: 12, H: 8, Stack: true,
				Description: "Unusable lines per second, by reason. plain_text: the operator logs text, not JSON; too_long: raise --input.max-line-bytes; missing_field, invalid_field: an operator version with other fields.",
				Queries:     []Query{{`sum by (reason) (rate(mirrord_exporter_malformed_lines_total` + s + `[$__rate_interval]))`, "{{reason}}"}}},
			{Type: "timeseries", Title: "Events applied", Unit: "short", W: 12, H: 8, Stack: true,
				Description: "Functional events applied per second, by event.",
				Queries:     []Query{{`sum by (event) (rate(mirrord_exporter_events_total` + s + `[$__rate_interval]))`, "{{event}}"}}},

			{Type: "timeseries", Title: "Stream problems", Unit: "short", W: 12, H: 8,
				Description: "Per second: file rotations seen (normal), file errors by operation, sessions expired by --session.max-age (their end was never logged), and bytes lost to truncation before they were read.",
				Queries: []Query{
					{`sum by (kind) (rate(mirrord_exporter_file_rotations_total` + s + `[$__rate_interval]))`, "rotation {{kind}}"},
					{`sum by (op) (rate(mirrord_exporter_file_errors_total` + s + `[$__rate_interval]))`, "error {{op}}"},
					{`sum(rate(mirrord_exporter_sessions_expired_total` + s + `[$__rate_interval]))`, "sessions expired"},
					{`sum by (reason) (rate(mirrord_exporter_log_bytes_lost_total` + s + `[$__rate_interval]))`, "bytes lost {{reason}}"},
				}},
			{Type: "timeseries", Title: "Series", Unit: "short", W: 12, H: 8,
				Description: "Samples per scrape and series added per scrape (Prometheus' scrape_samples_scraped and scrape_series_added): how the exporter's cardinality grows.",
				Queries: []Query{
					{`sum by (instance) (scrape_samples_scraped` + s + `)`, "samples {{instance}}"},
					{`sum by (instance) (scrape_series_added` + s + `)`, "series added {{instance}}"},
				}},

			{Type: "timeseries", Title: "Stalled scrapes, cut label values", Unit: "short", W: 12, H: 8,
				Description: "Per second: scrapes whose client did not take the response within --web.write-timeout (their connection closed: a client that does not read, or a very slow link), and label values over 256 bytes kept as their start and a hash, by field (hostile or broken records).",
				Queries: []Query{
					{`sum(rate(mirrord_exporter_scrapes_stalled_total` + s + `[$__rate_interval]))`, "stalled scrapes"},
					{`sum by (field) (rate(mirrord_exporter_label_values_truncated_total` + s + `[$__rate_interval]))`, "cut {{field}}"},
				}},
			{Type: "timeseries", Title: "Kubernetes streams open", Unit: "short", W: 6, H: 8,
				Description: "Pod log streams open to the Kubernetes API server (--kubernetes), by instance. Below Kubernetes pods followed: streams are reconnecting; see Kubernetes reconnects and Kubernetes API errors. No data: no instance runs with --kubernetes.",
				Queries:     []Query{{`sum by (instance) (mirrord_exporter_kubernetes_streams_open` + s + `)`, "{{instance}}"}}},
			{Type: "timeseries", Title: "Kubernetes pods followed", Unit: "short", W: 6, H: 8,
				Description: "Operator pods matching --kubernetes.label-selector in --kubernetes.namespace whose container log is followed (streaming, or waiting to reconnect), by instance. 0: no pod matches, or listing pods is refused (see Kubernetes API errors).",
				Queries:     []Query{{`sum by (instance) (mirrord_exporter_kubernetes_pods_followed` + s + `)`, "{{instance}}"}}},
			{Type: "timeseries", Title: "Kubernetes reconnects", Unit: "short", W: 6, H: 8, Stack: true,
				Description: "Pod log streams and pod watches opened again per second, by why the previous one ended. eof and watch_expired now and then are normal (stream timeouts, container restarts); steady error, forbidden or not_found are not.",
				Queries:     []Query{{`sum by (reason) (rate(mirrord_exporter_kubernetes_reconnects_total` + s + `[$__rate_interval]))`, "{{reason}}"}}},
			{Type: "timeseries", Title: "Kubernetes API errors", Unit: "short", W: 6, H: 8, Stack: true,
				Description: "Failed Kubernetes API requests per second, by operation (list, watch, logs) and HTTP status (none: no response). 403: the exporter's service account lacks list and watch on pods or get on pods/log; 404 on logs: the pod is gone.",
				Queries:     []Query{{`sum by (op, code) (rate(mirrord_exporter_kubernetes_api_errors_total` + s + `[$__rate_interval]))`, "{{op}} {{code}}"}}},

			{Type: "timeseries", Title: "State save age", Unit: "s", W: 6, H: 8,
				Description: "Time since each instance last saved its --state.file. It grows past --state.save-interval when saves fail (see State saves): after a restart the exporter would read everything since the last good save again. No data: no instance runs with --state.file.",
				Queries:     []Query{{`max by (instance) (time() - mirrord_exporter_state_last_save_timestamp_seconds` + s + `)`, "{{instance}}"}}},
			{Type: "timeseries", Title: "State saves", Unit: "short", W: 6, H: 8,
				Description: "State file saves per second that succeeded and that failed, by instance. Failures keep the previous file; the exporter's log says why.",
				Queries: []Query{
					{`sum by (instance) (rate(mirrord_exporter_state_saves_total` + s + `[$__rate_interval]))`, "saved {{instance}}"},
					{`sum by (instance) (rate(mirrord_exporter_state_save_failures_total` + s + `[$__rate_interval]))`, "failed {{instance}}"},
				}},
			{Type: "timeseries", Title: "State file size", Unit: "bytes", W: 4, H: 8,
				Description: "Size of the state file last saved, by instance: it grows with open sessions and series.",
				Queries:     []Query{{`max by (instance) (mirrord_exporter_state_size_bytes` + s + `)`, "{{instance}}"}}},
			{Type: "timeseries", Title: "Snapshot pause", Unit: "s", W: 4, H: 8,
				Description: "How long the last state save held the inputs still to take its snapshot, by instance (the file is written after they resume). It grows with open sessions and series.",
				Queries:     []Query{{`max by (instance) (mirrord_exporter_state_snapshot_pause_seconds` + s + `)`, "{{instance}}"}}},
			{Type: "stat", Title: "Resumed from state", Unit: "short", W: 4, H: 8,
				Description: "Instances whose current run resumed from their --state.file, out of those that have one. Fewer than all: a run started afresh (no file yet, or one that could not be used and was set aside as .corrupt-<time>; the exporter's log says why).",
				Queries: []Query{
					{`sum(mirrord_exporter_state_restored` + s + `)`, "resumed"},
					{`count(mirrord_exporter_state_restored` + s + `)`, "with a state file"},
				}},

			{Type: "timeseries", Title: "Series per family", Unit: "short", W: 8, H: 8,
				Description: "Series of each metric family labelled from the log (mirrord_exporter_series), __overflow__ series included; the largest of the selected instances. A family at --metrics.max-series plus its __overflow__ series is capped: see Updates to overflow series.",
				Queries:     []Query{{`max by (metric) (mirrord_exporter_series` + s + `)`, "{{metric}}"}}},
			{Type: "timeseries", Title: "Updates to overflow series", Unit: "short", W: 8, H: 8, Stack: true,
				Description: "Updates per second routed to a family's __overflow__ series because it reached --metrics.max-series: new users and targets are counted in the totals but not under their own names. Above 0: raise --metrics.max-series, or drop labels with --no-label.",
				Queries:     []Query{{`sum by (metric) (rate(mirrord_exporter_series_overflow_total` + s + `[$__rate_interval]))`, "{{metric}}"}}},
			{Type: "timeseries", Title: "Series expired", Unit: "short", W: 8, H: 8, Stack: true,
				Description: "Series deleted per second because they had no update for --metrics.series-ttl, by family. Always 0 while --metrics.series-ttl is 0 (the default). A counter series deleted and seen again restarts from 0.",
				Queries:     []Query{{`sum by (metric) (rate(mirrord_exporter_series_expired_total` + s + `[$__rate_interval]))`, "{{metric}}"}}},

			{Type: "timeseries", Title: "Memory", Unit: "bytes", W: 8, H: 8,
				Description: "Resident memory and Go heap in use of the exporter.",
				Queries: []Query{
					{`sum by (instance) (process_resident_memory_bytes` + s + `)`, "resident {{instance}}"},
					{`sum by (instance) (go_memstats_heap_inuse_bytes` + s + `)`, "heap {{instance}}"},
				}},
			{Type: "timeseries", Title: "CPU", Unit: "percentunit", W: 8, H: 8,
				Description: "CPU used by the exporter, in cores.",
				Queries:     []Query{{`sum by (instance) (rate(process_cpu_seconds_total` + s + `[$__rate_interval]))`, "{{instance}}"}}},
			{Type: "table", Title: "Build", Unit: "short", W: 8, H: 8,
				Description: "Version and revision of each exporter instance.",
				Queries:     []Query{{`max by (instance, version, revision, goversion) (mirrord_exporter_build_info` + s + `)`, ""}},
				Columns:     []Column{{"Instances", "short"}}},
		},
	}
}
