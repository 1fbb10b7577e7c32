package dashboards

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
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

// Panel is one panel; Type is a Grafana panel plugin id, or "row": a
// collapsible header over the panels after it.
type Panel struct {
	Type, Title, Description, Unit string
	W, H                           int
	Queries                        []Query
	// Stack stacks time series; Columns renames the value fields of a table
	// ("Value #A" and so on), in query order, and gives their units.
	Stack   bool
	Columns []Column
	// Plain draws values in one fixed colour: a count of users or sessions
	// is neither good nor bad, and Grafana's default thresholds (red from
	// 80) would say it is.
	Plain bool
	// Steps are the thresholds of a value that is good or bad, base first
	// (its Value ignored). Without Steps and Plain, one green step.
	Steps []Step
	// Bars draws events per Interval as bars: sparse events drawn as lines
	// become spikes. Interval is the panel's minimum query interval.
	Bars     bool
	Interval string
	// Links are data links: on a table, each row links with its own values.
	Links []Link
}

// Query is one PromQL target of a panel.
type Query struct {
	Expr, Legend string
}

// Column is a table's value column: its header and unit.
type Column struct{ Name, Unit string }

// Step is a threshold: from Value on, Color.
type Step struct {
	Color string
	Value float64
}

// Link is a data link.
type Link struct{ Title, URL string }

// Datasource is how every panel and variable names its data source, so that
// the dashboards work whatever the user called their Prometheus.
var datasource = map[string]string{"type": "prometheus", "uid": "${datasource}"}

// dsInput is the data source input of Grafana's import: the UI asks for a
// Prometheus and replaces ${DS_PROMETHEUS} in the JSON with its uid. Only
// the $datasource variable's current value uses it, so an imported
// dashboard opens on the chosen Prometheus while the panels still follow
// the variable; provisioned (not imported) copies keep the literal, which
// matches no data source, and Grafana falls back to the default one.
const dsInput = "DS_PROMETHEUS"

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
		"query": "prometheus", "hide": 0, "refresh": 1, "regex": "", "options": []any{},
		"current": obj{"selected": true, "text": "${" + dsInput + "}", "value": "${" + dsInput + "}"},
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
	types := map[string]bool{}
	x, y, rowH := 0, 0, 0
	for i, p := range d.Panels {
		if p.Type == "row" {
			p.W, p.H = 24, 1
		}
		if x+p.W > 24 || p.Type == "row" && x > 0 {
			x, y, rowH = 0, y+rowH, 0
		}
		panels = append(panels, p.render(i+1, x, y))
		types[p.Type] = true
		x += p.W
		rowH = max(rowH, p.H)
	}
	// __requires lists what an import needs (Grafana checks the panel
	// plugins); rows are built in.
	requires := []any{
		obj{"type": "grafana", "id": "grafana", "name": "Grafana", "version": "10.0.0"},
		obj{"type": "datasource", "id": "prometheus", "name": "Prometheus", "version": "1.0.0"},
	}
	for _, t := range slices.Sorted(maps.Keys(types)) {
		if t != "row" {
			requires = append(requires, obj{"type": "panel", "id": t, "name": t, "version": ""})
		}
	}
	dash := obj{
		"__inputs": []any{obj{
			"name": dsInput, "label": "Prometheus", "description": "The Prometheus that scrapes the mirrord exporter",
			"type": "datasource", "pluginId": "prometheus", "pluginName": "Prometheus",
		}},
		"__requires": requires,
		"uid":        d.UID, "title": d.Title, "description": d.Description,
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

// instantTypes are the panels that show one value per series: their
// queries are instant. As range queries they would evaluate at every step
// of the time range, [30d] windows included, for Grafana to keep the last.
var instantTypes = map[string]bool{"stat": true, "table": true, "piechart": true, "bargauge": true}

func (p Panel) render(id, x, y int) obj {
	if p.Type == "row" {
		return obj{"id": id, "type": "row", "title": p.Title, "collapsed": false,
			"gridPos": obj{"x": 0, "y": y, "w": 24, "h": 1}, "panels": []any{}}
	}
	table := p.Type == "table"
	instant := instantTypes[p.Type]
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
	steps := []any{obj{"color": "green", "value": nil}}
	color := obj{"mode": "thresholds"}
	switch {
	case p.Plain:
		steps = []any{obj{"color": "blue", "value": nil}}
		color = obj{"mode": "fixed", "fixedColor": "blue"}
	case len(p.Steps) > 0:
		steps = []any{obj{"color": p.Steps[0].Color, "value": nil}}
		for _, s := range p.Steps[1:] {
			steps = append(steps, obj{"color": s.Color, "value": s.Value})
		}
	case p.Type == "timeseries" || p.Type == "piechart" || p.Type == "state-timeline":
		color = obj{"mode": "palette-classic"}
	}
	defaults := obj{"unit": p.Unit, "color": color,
		"thresholds": obj{"mode": "absolute", "steps": steps}}
	if p.Links != nil {
		var links []any
		for _, l := range p.Links {
			links = append(links, obj{"title": l.Title, "url": l.URL, "targetBlank": false})
		}
		defaults["links"] = links
	}
	var options obj
	var overrides []any
	var transformations []any
	switch p.Type {
	case "stat":
		// No sparkline: the query is instant.
		options = obj{"reduceOptions": reduce, "colorMode": "value", "graphMode": "none",
			"textMode": "auto", "justifyMode": "auto", "orientation": "auto"}
	case "timeseries":
		stacking := "none"
		if p.Stack {
			stacking = "normal"
		}
		custom := obj{"drawStyle": "line", "lineWidth": 1, "fillOpacity": 10,
			"showPoints": "never", "stacking": obj{"mode": stacking, "group": "A"}}
		if p.Bars {
			custom["drawStyle"], custom["fillOpacity"] = "bars", 80
		}
		defaults["custom"] = custom
		options = obj{"legend": obj{"displayMode": "list", "placement": "bottom", "showLegend": true},
			"tooltip": obj{"mode": "multi", "sort": "desc"}}
	case "state-timeline":
		defaults["custom"] = obj{"fillOpacity": 70, "lineWidth": 0}
		options = obj{"showValue": "never", "mergeValues": true, "rowHeight": 0.9, "alignValue": "left",
			"legend":  obj{"displayMode": "list", "placement": "bottom", "showLegend": false},
			"tooltip": obj{"mode": "single", "sort": "none"}}
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
	if p.Interval != "" {
		panel["interval"] = p.Interval
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
	m := []string{inScope}
	for _, f := range Filters {
		m = append(m, fmt.Sprintf(`%s=~"$%s"`, f.Label, f.Var))
	}
	return "{" + strings.Join(append(m, extra...), ", ") + "}"
}

// inCluster filters by the cluster variable. Every selector has it: "All"
// is ".*", which also matches series without a cluster label, so one
// Prometheus without the label shows everything.
const inCluster = `cluster=~"$cluster"`

// inScope filters by cluster and scrape job: a Prometheus may scrape a test
// and a production exporter of one cluster.
const inScope = inCluster + `, job=~"$job"`

// clusterVar lists the clusters whose exporters report to this Prometheus
// (a cluster label added by relabeling, external labels or remote write);
// it is empty, and harmless, where there is none.
var clusterVar = Var{"cluster", "Cluster", `label_values(mirrord_exporter_build_info, cluster)`}

// jobVar lists the scrape jobs of the exporters of the chosen clusters.
var jobVar = Var{"job", "Job", `label_values(mirrord_exporter_build_info{cluster=~"$cluster"}, job)`}

// noCopies leaves out the pods mirrord creates for copy_target, as
// MetalBear's target panels do: a session on a copy is counted on its copy.
const noCopies = `target_name!~"mirrord-copy-.*"`

// sessionVars are the filters every session dashboard offers, chained so
// that each lists only values under the ones chosen before it.
func sessionVars() []Var {
	return []Var{
		clusterVar,
		jobVar,
		{"namespace", "Target namespace", `label_values(mirrord_sessions_started_total{cluster=~"$cluster", job=~"$job"}, target_namespace)`},
		{"target_type", "Target type", `label_values(mirrord_sessions_started_total{cluster=~"$cluster", job=~"$job", target_namespace=~"$namespace"}, target_type)`},
		{"target", "Target", `label_values(mirrord_sessions_started_total{cluster=~"$cluster", job=~"$job", target_namespace=~"$namespace", target_type=~"$target_type"}, target_name)`},
		{"user", "User", `label_values(mirrord_sessions_started_total{cluster=~"$cluster", job=~"$job", target_namespace=~"$namespace", target_type=~"$target_type", target_name=~"$target"}, client_user)`},
	}
}

// All is every bundled dashboard.
func All() []Dashboard {
	return []Dashboard{overview(), users(), targets(), exporter()}
}

// inRange is what counter m (with selector s) counted over the dashboard's
// time range, per series. increase() alone misses the first events of a
// scraped series born in the range: it appears with its first count
// already in it (1, not 0), and increase sees only growth between samples.
// A scraped series (it has an instance label) that did not exist a range
// ago was born in the range, so all of its value is in the range: it counts
// its current value. Backfilled series have no instance label and need no
// such care: backfill writes a 0 before a series' first count, and a series
// it leaves out while idle (--tsdb.series-idle) may be missing a range ago
// without being new. Sum it by the labels wanted.
func inRange(m, s string) string {
	x := m + s
	born := "(" + m + `{instance!="", ` + strings.TrimPrefix(s, "{") + " unless " + x + " offset $__range)"
	return "(increase(" + x + "[$__range]) unless " + born + ") or " + born
}

// byVersion is the family of sessions started by CLI version, labelled by
// client_cli_version and client_user but by no target: of the session
// filters only $user applies (userSel).
const byVersion = "mirrord_sessions_started_by_cli_version_total"

// userSel is sel for a family labelled by client_user but by no target.
func userSel() string {
	return "{" + inScope + `, client_user=~"$user"}`
}

// namedVersion names the empty client_cli_version in a table's rows: CLIs
// before 3.166 send none.
func namedVersion(expr string) string {
	return `label_replace(` + expr + `, "client_cli_version", "` + noVersion + `", "client_cli_version", "")`
}

// noVersion is the row of the sessions whose CLI sent no version.
const noVersion = "none (before 3.166)"

// olderShare is the share of the range's sessions started with a CLI
// version older than the newest one their exporter has seen
// (mirrord_cli_versions_newer above 0), 0 when none was, no data without
// sessions.
func olderShare() string {
	all := inRange(byVersion, userSel())
	older := `sum((` + all + `) and on (cluster, job, instance, client_cli_version) (mirrord_cli_versions_newer{` + inScope + `} > 0))`
	total := `sum(` + all + `)`
	return `(` + older + ` or 0 * ` + total + `) / (` + total + ` > 0)`
}

// perInterval counts counter m per bar of a bars panel.
func perInterval(m, s string) string {
	return "increase(" + m + s + "[$__interval])"
}

// zeroIfExporter makes an absent gauge series read 0 while an exporter in
// scope reports (nothing is active), and "No data" while none does, where
// "or vector(0)" would show 0 for a Prometheus that never saw an exporter.
const zeroIfExporter = ` or 0 * max(mirrord_exporter_build_info{` + inScope + `})`

// window is one of the windows of the exporter's *_seen and
// *_concurrent_peak gauges, which end at the newest event of the log.
func window(metric, w string) string {
	return `max(` + metric + `{window="` + w + `", ` + inScope + `})`
}

// seatDesc says what the seat gauges count.
const seatDesc = " A seat is a client_id: one client certificate, the unit MetalBear's licenses count. " +
	"The window ends at the newest event of the operator's log, so it does not depend on the dashboard's time range; " +
	"over several exporters (replicas or clusters) the largest value."

// durationQuantile gives a percentile of the session durations: from the
// native histogram, or from the classic buckets where Prometheus keeps only
// those (the exporter exports both; a Prometheus with native histograms on
// may keep only the native ones). NaN, where no session ended in the
// window, is left out rather than drawn.
func durationQuantile(q string) string {
	return `histogram_quantile(` + q + `, sum(rate(mirrord_session_duration_seconds` + sel() + `[$__rate_interval]))) >= 0 or ` +
		`histogram_quantile(` + q + `, sum by (le) (rate(mirrord_session_duration_seconds_bucket` + sel() + `[$__rate_interval]))) >= 0`
}

// toOverview links a table row to the Overview filtered by the row's user
// or target, keeping the time range and the other variables.
func toOverview(vars ...string) []Link {
	u := "/d/mirrord-overview/mirrord-overview?${__url_time_range}&${cluster:queryparam}&${job:queryparam}"
	for _, v := range vars {
		label := ""
		for _, f := range Filters {
			if f.Var == v {
				label = f.Label
			}
		}
		u += "&var-" + v + "=${__data.fields." + label + "}"
	}
	return []Link{{"Overview for this row", u}}
}

func overview() Dashboard {
	return Dashboard{
		File: "mirrord-overview.json", UID: "mirrord-overview", Title: "mirrord / Overview",
		Description: "Who uses mirrord now and over time, and how: sessions, users, seats, steal and mirror, copied targets.",
		Vars:        sessionVars(),
		Panels: []Panel{
			{Type: "stat", Title: "Active sessions", Unit: "short", W: 4, H: 4, Plain: true,
				Description: "Sessions started and not yet ended, now. No data: no exporter in scope reports.",
				Queries:     []Query{{`sum(mirrord_sessions_active` + sel() + `)` + zeroIfExporter, ""}}},
			{Type: "stat", Title: "Active users", Unit: "short", W: 4, H: 4, Plain: true,
				Description: "Users with at least one session running now. No data: no exporter in scope reports.",
				Queries:     []Query{{`count(sum by (client_user) (mirrord_sessions_active` + sel() + `) > 0)` + zeroIfExporter, ""}}},
			{Type: "stat", Title: "Seats, 30d", Unit: "short", W: 4, H: 4, Plain: true,
				Description: "Distinct mirrord seats seen in the last 30 days (mirrord_clients_seen)." + seatDesc + " Not filtered by target or user.",
				Queries:     []Query{{window("mirrord_clients_seen", "30d"), ""}}},
			{Type: "stat", Title: "Seats, 7d / 1d", Unit: "short", W: 4, H: 4, Plain: true,
				Description: "Distinct mirrord seats seen in the last 7 days and the last day (mirrord_clients_seen)." + seatDesc + " Not filtered by target or user.",
				Queries:     []Query{{window("mirrord_clients_seen", "7d"), "7d"}, {window("mirrord_clients_seen", "1d"), "1d"}}},
			{Type: "stat", Title: "Users, 30d / 7d / 1d", Unit: "short", W: 4, H: 4, Plain: true,
				Description: "Distinct client_user values seen in the last 30 days, 7 days and day (mirrord_users_seen): people, where seats are certificates (one person with two machines holds two seats). The windows end at the newest event of the operator's log. Not filtered by target or user.",
				Queries: []Query{{window("mirrord_users_seen", "30d"), "30d"}, {window("mirrord_users_seen", "7d"), "7d"},
					{window("mirrord_users_seen", "1d"), "1d"}}},
			{Type: "stat", Title: "Operator's last event age", Unit: "s", W: 4, H: 4,
				Steps:       ageSteps,
				Description: "Time since the newest session, port or copy event in the operator's log. Orange after an hour, red after a day: while people use mirrord, events come every few minutes; a day without any is a weekend, or a lost log stream (check the Exporter health dashboard).",
				Queries:     []Query{{`time() - max(mirrord_last_event_timestamp_seconds{` + inScope + `})`, ""}}},

			{Type: "stat", Title: "Peak concurrent sessions, 30d / 7d / 1d", Unit: "short", W: 8, H: 4, Plain: true,
				Description: "Most sessions running at once in the window (mirrord_sessions_concurrent_peak), ending at the newest event of the log. Not filtered by target or user.",
				Queries: []Query{{window("mirrord_sessions_concurrent_peak", "30d"), "30d"}, {window("mirrord_sessions_concurrent_peak", "7d"), "7d"},
					{window("mirrord_sessions_concurrent_peak", "1d"), "1d"}}},
			{Type: "stat", Title: "Peak concurrent users, 30d / 7d / 1d", Unit: "short", W: 8, H: 4, Plain: true,
				Description: "Most distinct users with a session running at once in the window (mirrord_users_concurrent_peak), ending at the newest event of the log. Not filtered by target or user.",
				Queries: []Query{{window("mirrord_users_concurrent_peak", "30d"), "30d"}, {window("mirrord_users_concurrent_peak", "7d"), "7d"},
					{window("mirrord_users_concurrent_peak", "1d"), "1d"}}},
			{Type: "stat", Title: "Seat limit", Unit: "short", W: 8, H: 4, Plain: true,
				Description: "Max seat count reached! records over the time range, and the active users the operator counted at the last one.",
				Queries: []Query{
					{`sum(` + inRange("mirrord_seat_limit_reached_total", `{`+inScope+`}`) + `)`, "limit reached"},
					{`max(mirrord_seat_limit_active_users{` + inScope + `})`, "active users at the limit"},
				}},

			{Type: "timeseries", Title: "Sessions started", Unit: "short", W: 12, H: 8, Stack: true, Bars: true, Interval: "5m",
				Description: "Session Start records per bar (5 minutes or more, as the time range needs), by target namespace.",
				Queries:     []Query{{`sum by (target_namespace) (` + perInterval("mirrord_sessions_started_total", sel()) + `)`, "{{target_namespace}}"}}},
			{Type: "timeseries", Title: "Active sessions and users", Unit: "short", W: 12, H: 8,
				Description: "Sessions running, and distinct users running them, over time.",
				Queries: []Query{
					{`sum(mirrord_sessions_active` + sel() + `)` + zeroIfExporter, "sessions"},
					{`count(sum by (client_user) (mirrord_sessions_active` + sel() + `) > 0)` + zeroIfExporter, "users"},
				}},

			{Type: "timeseries", Title: "Session duration percentiles", Unit: "s", W: 12, H: 8, Interval: "1h",
				Description: "Duration of the sessions that ended in the hour (or longer step) before each point: 50th, 90th and 99th percentile, from the native histogram or the classic buckets of mirrord_session_duration_seconds. Gaps: no session ended.",
				Queries:     []Query{{durationQuantile("0.5"), "p50"}, {durationQuantile("0.9"), "p90"}, {durationQuantile("0.99"), "p99"}}},
			{Type: "timeseries", Title: "Ports held: steal vs mirror", Unit: "short", W: 12, H: 8, Stack: true,
				Description: "Ports held by sessions now, by mode: steal takes the target's traffic, mirror copies it.",
				Queries:     []Query{{`sum by (mode) (mirrord_ports_active` + sel() + `)`, "{{mode}}"}}},

			{Type: "piechart", Title: "Steal vs mirror", Unit: "short", W: 8, H: 8,
				Description: "Ports stolen and ports mirrored over the dashboard's time range.",
				Queries: []Query{
					{`sum(` + inRange("mirrord_ports_stolen_total", sel()) + `)`, "steal"},
					{`sum(` + inRange("mirrord_ports_mirrored_total", sel()) + `)`, "mirror"},
				}},
			{Type: "piechart", Title: "Filtered vs unfiltered steals", Unit: "short", W: 8, H: 8,
				Description: "Port steals with an HTTP filter (only matching requests are stolen) against unfiltered ones (all traffic of the port), over the time range.",
				Queries:     []Query{{`sum by (http_filtered) (` + inRange("mirrord_ports_stolen_total", sel()) + `)`, "filtered={{http_filtered}}"}}},
			{Type: "piechart", Title: "Copy targets by scale_down", Unit: "short", W: 8, H: 8,
				Description: "Targets copied (copy_target) over the time range; scale_down=true also scaled the original to zero.",
				Queries:     []Query{{`sum by (scale_down) (` + inRange("mirrord_targets_copied_total", sel()) + `)`, "scale_down={{scale_down}}"}}},

			{Type: "timeseries", Title: "Traffic handled for sessions", Unit: "mps", W: 12, H: 8, Stack: true,
				Description: "Messages the operator processed for sessions (Message Processing records, operator 3.188 and later) per second, by kind (http, queue, message_bus) and mode. Not filtered by target or user: these records carry none.",
				Queries:     []Query{{`sum by (event_type, mode) (rate(mirrord_messages_processed_total{` + inScope + `}[$__rate_interval]))`, "{{event_type}} {{mode}}"}}},
			{Type: "timeseries", Title: "HTTP responses to sessions by class", Unit: "reqps", W: 12, H: 8, Stack: true,
				Description: "HTTP requests stolen or mirrored for sessions per second, by response status class (2xx, 5xx, ...). Not filtered by target or user: these records carry none.",
				Queries:     []Query{{`sum by (response_status_class) (rate(mirrord_messages_processed_total{` + inScope + `, event_type="http", response_status_class!=""}[$__rate_interval]))`, "{{response_status_class}}"}}},
		},
	}
}

// ageSteps colour the last event age: orange after an hour without events,
// red after a day (see the panels' descriptions).
var ageSteps = []Step{{"green", 0}, {"orange", 3600}, {"red", 86400}}

func users() Dashboard {
	by := "client_user"
	return Dashboard{
		File: "mirrord-users.json", UID: "mirrord-users", Title: "mirrord / Users",
		Description: "Per user: sessions, session hours, ports stolen and mirrored, last seen, which targets when.",
		Vars:        sessionVars(),
		Panels: []Panel{
			{Type: "table", Title: "Users", Unit: "short", W: 24, H: 10, Plain: true, Links: toOverview("user"),
				Description: "Every user with a session in the time range: sessions started, hours spent in sessions that ended, ports stolen and mirrored, sessions running now, and when they last had a session running. A row links to the Overview filtered by its user.",
				Queries: []Query{
					{`sum by (` + by + `) (` + inRange("mirrord_sessions_started_total", sel()) + `)`, ""},
					{`sum by (` + by + `) (` + inRange("mirrord_session_duration_seconds_sum", sel()) + `) / 3600`, ""},
					{`sum by (` + by + `) (` + inRange("mirrord_ports_stolen_total", sel()) + `)`, ""},
					{`sum by (` + by + `) (` + inRange("mirrord_ports_mirrored_total", sel()) + `)`, ""},
					{`sum by (` + by + `) (mirrord_sessions_active` + sel() + `)`, ""},
					{`max by (` + by + `) (max_over_time(timestamp(sum by (` + by + `) (mirrord_sessions_active` + sel() + `) > 0)[$__range:$__interval])) * 1000`, ""},
				},
				Columns: []Column{{"Sessions", "short"}, {"Session hours", "h"}, {"Ports stolen", "short"},
					{"Ports mirrored", "short"}, {"Active now", "short"}, {"Last seen", "dateTimeFromNow"}}},

			{Type: "bargauge", Title: "Top 10 users by sessions", Unit: "short", W: 8, H: 9, Plain: true,
				Description: "The ten users who started the most sessions in the time range.",
				Queries:     []Query{{`topk(10, sum by (` + by + `) (` + inRange("mirrord_sessions_started_total", sel()) + `))`, "{{client_user}}"}}},
			{Type: "bargauge", Title: "Top 10 users by session hours", Unit: "h", W: 8, H: 9, Plain: true,
				Description: "The ten users with the most hours in sessions that ended in the time range.",
				Queries:     []Query{{`topk(10, sum by (` + by + `) (` + inRange("mirrord_session_duration_seconds_sum", sel()) + `) / 3600)`, "{{client_user}}"}}},
			{Type: "bargauge", Title: "Top 10 users by ports stolen", Unit: "short", W: 8, H: 9, Plain: true,
				Description: "The ten users who stole the most ports in the time range: who takes traffic away from shared targets.",
				Queries:     []Query{{`topk(10, sum by (` + by + `) (` + inRange("mirrord_ports_stolen_total", sel()) + `))`, "{{client_user}}"}}},

			{Type: "state-timeline", Title: "Who used which target, when", Unit: "short", W: 24, H: 10,
				Description: "One row per user and target: coloured while the user had a session on the target, with the number of sessions. From mirrord_sessions_active, so as fine as the scrape interval; copied pods left out.",
				Queries:     []Query{{`sum by (client_user, target_namespace, target_name) (mirrord_sessions_active` + sel(noCopies) + `) > 0`, "{{client_user}} → {{target_namespace}}/{{target_name}}"}}},

			{Type: "timeseries", Title: "Active sessions by user", Unit: "short", W: 12, H: 8, Stack: true,
				Description: "Sessions running, per user.",
				Queries:     []Query{{`sum by (` + by + `) (mirrord_sessions_active` + sel() + `)`, "{{client_user}}"}}},
			{Type: "timeseries", Title: "Sessions started by user", Unit: "short", W: 12, H: 8, Stack: true, Bars: true, Interval: "5m",
				Description: "Session Start records per bar (5 minutes or more), per user.",
				Queries:     []Query{{`sum by (` + by + `) (` + perInterval("mirrord_sessions_started_total", sel()) + `)`, "{{client_user}}"}}},
			{Type: "timeseries", Title: "Ports stolen and mirrored by user", Unit: "short", W: 12, H: 8, Bars: true, Interval: "5m",
				Description: "Port Steal and Port Mirror records per bar (5 minutes or more), per user.",
				Queries: []Query{
					{`sum by (` + by + `) (` + perInterval("mirrord_ports_stolen_total", sel()) + `)`, "{{client_user}} steal"},
					{`sum by (` + by + `) (` + perInterval("mirrord_ports_mirrored_total", sel()) + `)`, "{{client_user}} mirror"},
				}},
			{Type: "table", Title: "Users and clients", Unit: "short", W: 12, H: 8, Plain: true, Links: toOverview("user"),
				Description: "Users by the client names they connected with (the client_name label), with the sessions started in the time range; MetalBear's user panels list the same pairs.",
				Queries:     []Query{{`sum by (client_user, client_name) (` + inRange("mirrord_sessions_started_total", sel()) + `)`, ""}},
				Columns:     []Column{{"Sessions", "short"}}},

			{Type: "table", Title: "CLI versions in use", Unit: "short", W: 16, H: 8, Plain: true,
				Description: "Per mirrord CLI version (client_cli_version, sent since operator 3.166; \"" + noVersion + "\" for older CLIs, which send none): sessions started and distinct users who started them in the time range, and how many versions seen are newer (0: the newest; the most over the exporters in scope). Filtered by user, not by target.",
				Queries: []Query{
					{namedVersion(`sum by (client_cli_version) (` + inRange(byVersion, userSel()) + `) > 0`), ""},
					{namedVersion(`count by (client_cli_version) (sum by (client_cli_version, client_user) (` + inRange(byVersion, userSel()) + `) > 0)`), ""},
					{namedVersion(`max by (client_cli_version) (mirrord_cli_versions_newer{` + inScope + `}) and on (client_cli_version) (sum by (client_cli_version) (` + inRange(byVersion, userSel()) + `) > 0)`), ""},
				},
				Columns: []Column{{"Sessions", "short"}, {"Users", "short"}, {"Newer versions", "short"}}},
			{Type: "stat", Title: "Sessions on older CLI versions", Unit: "percentunit", W: 8, H: 8, Plain: true,
				Description: "Share of the sessions started in the time range whose CLI version is older than the newest version their exporter has seen (mirrord_cli_versions_newer above 0), sessions of CLIs that send no version (before 3.166) included. Versions compare as dotted numbers, a pre-release older than its release. Filtered by user, not by target. No data: no session in the time range.",
				Queries:     []Query{{olderShare(), ""}}},
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
				Queries:     []Query{{`sum by (target_namespace) (` + inRange("mirrord_sessions_started_total", sel(noCopies)) + `)`, "{{target_namespace}}"}}},
			{Type: "piechart", Title: "Sessions by target type", Unit: "short", W: 8, H: 9,
				Description: "Sessions started in the time range by target type (deployment, pod, rollout, ..., targetless), copied pods left out.",
				Queries:     []Query{{`sum by (target_type) (` + inRange("mirrord_sessions_started_total", sel(noCopies)) + `)`, "{{target_type}}"}}},
			{Type: "piechart", Title: "Sessions by target", Unit: "short", W: 8, H: 9,
				Description: "Sessions started in the time range by target namespace and name, copied pods left out.",
				Queries:     []Query{{`sum by (target_namespace, target_name) (` + inRange("mirrord_sessions_started_total", sel(noCopies)) + `)`, "{{target_namespace}}/{{target_name}}"}}},

			{Type: "table", Title: "Targets", Unit: "short", W: 24, H: 10, Plain: true, Links: toOverview("namespace", "target"),
				Description: "Per target, copied pods left out: sessions started and distinct users in the time range, sessions running now. A row links to the Overview filtered by its target.",
				Queries: []Query{
					{`sum by (` + tgt + `) (` + inRange("mirrord_sessions_started_total", sel(noCopies)) + `)`, ""},
					{`count by (` + tgt + `) (sum by (` + tgt + `, client_user) (` + inRange("mirrord_sessions_started_total", sel(noCopies)) + `) > 0)`, ""},
					{`sum by (` + tgt + `) (mirrord_sessions_active` + sel(noCopies) + `)`, ""},
				},
				Columns: []Column{{"Sessions", "short"}, {"Users", "short"}, {"Active now", "short"}}},

			{Type: "table", Title: "Ports per target", Unit: "short", W: 12, H: 9, Plain: true, Links: toOverview("namespace", "target"),
				Description: "Per target: ports stolen with and without an HTTP filter and ports mirrored in the time range, copied pods included (their traffic is stolen on the copy).",
				Queries: []Query{
					{`sum by (` + tgt + `) (` + inRange("mirrord_ports_stolen_total", sel(`http_filtered="true"`)) + `)`, ""},
					{`sum by (` + tgt + `) (` + inRange("mirrord_ports_stolen_total", sel(`http_filtered="false"`)) + `)`, ""},
					{`sum by (` + tgt + `) (` + inRange("mirrord_ports_mirrored_total", sel()) + `)`, ""},
				},
				Columns: []Column{{"Stolen, filtered", "short"}, {"Stolen, unfiltered", "short"}, {"Mirrored", "short"}}},
			{Type: "table", Title: "Copied targets", Unit: "short", W: 12, H: 9, Plain: true, Links: toOverview("namespace", "target", "user"),
				Description: "Who copied which target (copy_target) in the time range, by scale_down (true: the original was scaled to zero meanwhile).",
				Queries:     []Query{{`sum by (` + tgt + `, client_user, scale_down) (` + inRange("mirrord_targets_copied_total", sel()) + `)`, ""}},
				Columns:     []Column{{"Copies", "short"}}},

			{Type: "timeseries", Title: "Active sessions by target", Unit: "short", W: 12, H: 8, Stack: true,
				Description: "Sessions running per target, copied pods left out.",
				Queries:     []Query{{`sum by (target_namespace, target_name) (mirrord_sessions_active` + sel(noCopies) + `)`, "{{target_namespace}}/{{target_name}}"}}},
			{Type: "timeseries", Title: "Ports held by target", Unit: "short", W: 12, H: 8, Stack: true,
				Description: "Ports held now per target and mode (steal or mirror), copied pods included.",
				Queries:     []Query{{`sum by (target_namespace, target_name, mode) (mirrord_ports_active` + sel() + `)`, "{{target_namespace}}/{{target_name}} {{mode}}"}}},
			{Type: "timeseries", Title: "Ports held by port number", Unit: "short", W: 12, H: 8, Stack: true,
				Description: "Ports held per port number and mode. Needs the port label (the exporter run with --label=port, which adds a series per port number): no data without it.",
				Queries:     []Query{{`sum by (port, mode) (mirrord_ports_active` + sel(`port!=""`) + `)`, "{{port}} {{mode}}"}}},
			{Type: "table", Title: "Sessions on copied pods", Unit: "short", W: 12, H: 8, Plain: true,
				Description: "Sessions started in the time range on the mirrord-copy-* pods that copy_target creates, the ones the panels above leave out.",
				Queries:     []Query{{`sum by (target_namespace, target_name, client_user) (` + inRange("mirrord_sessions_started_total", sel(`target_name=~"mirrord-copy-.*"`)) + `)`, ""}},
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
			jobVar,
			{"instance", "Instance", `label_values(mirrord_exporter_build_info{cluster=~"$cluster", job=~"$job"}, instance)`},
		},
		Panels: []Panel{
			{Type: "row", Title: "Status"},
			{Type: "stat", Title: "Up", Unit: "bool_yes_no", W: 4, H: 4, Steps: []Step{{"red", 0}, {"green", 1}},
				Description: "Whether Prometheus could scrape the exporter (the up series of its scrape job).",
				Queries:     []Query{{`min(up` + s + `)`, ""}}},
			{Type: "stat", Title: "Operator's last event age", Unit: "s", W: 4, H: 4, Steps: ageSteps,
				Description: "Time since the newest session, port or copy event the exporter read. Orange after an hour, red after a day: long while sessions run, the log stream may be lost.",
				Queries:     []Query{{`time() - max(mirrord_last_event_timestamp_seconds` + s + `)`, ""}}},
			{Type: "stat", Title: "Files followed", Unit: "short", W: 4, H: 4, Plain: true,
				Description: "Operator log files open now. 0 with a file --input.path means the file is missing (standard input always shows 0).",
				Queries:     []Query{{`sum(mirrord_exporter_files_followed` + s + `)`, ""}}},
			{Type: "stat", Title: "Sessions tracked", Unit: "short", W: 4, H: 4, Plain: true,
				Description: "Sessions held in the exporter's memory (started, not ended, not expired by --session.max-age).",
				Queries:     []Query{{`sum(mirrord_exporter_sessions_tracked` + s + `)`, ""}}},
			{Type: "stat", Title: "Samples per scrape", Unit: "short", W: 4, H: 4, Plain: true,
				Description: "Samples in the last scrape of the exporter (Prometheus' scrape_samples_scraped): its series count, which grows with users and targets.",
				Queries:     []Query{{`sum(scrape_samples_scraped` + s + `)`, ""}}},
			{Type: "stat", Title: "Malformed lines", Unit: "percentunit", W: 4, H: 4,
				Steps:       []Step{{"green", 0}, {"orange", 0.01}, {"red", 0.05}},
				Description: "Share of lines read that could not be used, over the time range: orange from 1%, red from 5% (the MirrordExporterMalformedLinesHigh alert's level). Near 100% with reason plain_text: set operator.jsonLog=true. No data: no line read.",
				Queries:     []Query{{`sum(` + inRange("mirrord_exporter_malformed_lines_total", s) + `) / (sum(` + inRange("mirrord_exporter_log_lines_total", s) + `) > 0)`, ""}}},

			{Type: "row", Title: "Reading the log"},

			{Type: "timeseries", Title: "Lines read", Unit: "suffix: lines/s", W: 8, H: 8,
				Description: "Physical lines read per second, by --input.path value.",
				Queries:     []Query{{`sum by (input) (rate(mirrord_exporter_log_lines_total` + s + `[$__rate_interval]))`, "{{input}}"}}},
			{Type: "timeseries", Title: "Bytes read", Unit: "Bps", W: 8, H: 8,
				Description: "Bytes read per second, by --input.path value.",
				Queries:     []Query{{`sum by (input) (rate(mirrord_exporter_log_bytes_total` + s + `[$__rate_interval]))`, "{{input}}"}}},
			{Type: "timeseries", Title: "Records by wrapper", Unit: "recps", W: 8, H: 8, Stack: true,
				Description: "Records per second after unwrapping, by the wrapper detected (json, docker, cri).",
				Queries:     []Query{{`sum by (wrapper) (rate(mirrord_exporter_log_records_total` + s + `[$__rate_interval]))`, "{{wrapper}}"}}},

			{Type: "timeseries", Title: "Malformed lines by reason", Unit: "suffix: lines/s", W: 12, H: 8, Stack: true,
				Description: "Unusable lines per second, by reason. plain_text: the operator logs text, not JSON; too_long: raise --input.max-line-bytes; missing_field, invalid_field: an operator version with other fields.",
				Queries:     []Query{{`sum by (reason) (rate(mirrord_exporter_malformed_lines_total` + s + `[$__rate_interval]))`, "{{reason}}"}}},
			{Type: "timeseries", Title: "Events applied", Unit: "eps", W: 12, H: 8, Stack: true,
				Description: "Functional events applied per second, by event.",
				Queries:     []Query{{`sum by (event) (rate(mirrord_exporter_events_total` + s + `[$__rate_interval]))`, "{{event}}"}}},

			{Type: "timeseries", Title: "Stream problems", Unit: "cps", W: 12, H: 8,
				Description: "Per second: file rotations seen (normal), file errors by operation, sessions expired by --session.max-age (their end was never logged), and bytes lost to truncation before they were read.",
				Queries: []Query{
					{`sum by (kind) (rate(mirrord_exporter_file_rotations_total` + s + `[$__rate_interval]))`, "rotation {{kind}}"},
					{`sum by (op) (rate(mirrord_exporter_file_errors_total` + s + `[$__rate_interval]))`, "error {{op}}"},
					{`sum(rate(mirrord_exporter_sessions_expired_total` + s + `[$__rate_interval]))`, "sessions expired"},
					{`sum by (reason) (rate(mirrord_exporter_log_bytes_lost_total` + s + `[$__rate_interval]))`, "bytes lost {{reason}}"},
				}},
			{Type: "row", Title: "Series and scrapes"},
			{Type: "timeseries", Title: "Series", Unit: "short", W: 12, H: 8,
				Description: "Samples per scrape and series added per scrape (Prometheus' scrape_samples_scraped and scrape_series_added): how the exporter's cardinality grows.",
				Queries: []Query{
					{`sum by (instance) (scrape_samples_scraped` + s + `)`, "samples {{instance}}"},
					{`sum by (instance) (scrape_series_added` + s + `)`, "series added {{instance}}"},
				}},

			{Type: "timeseries", Title: "Stalled scrapes, cut label values", Unit: "cps", W: 12, H: 8,
				Description: "Per second: scrapes whose client did not take the response within --web.write-timeout (their connection closed: a client that does not read, or a very slow link), and label values over 256 bytes kept as their start and a hash, by field (hostile or broken records).",
				Queries: []Query{
					{`sum(rate(mirrord_exporter_scrapes_stalled_total` + s + `[$__rate_interval]))`, "stalled scrapes"},
					{`sum by (field) (rate(mirrord_exporter_label_values_truncated_total` + s + `[$__rate_interval]))`, "cut {{field}}"},
				}},
			{Type: "row", Title: "Kubernetes API"},
			{Type: "timeseries", Title: "Kubernetes streams open", Unit: "short", W: 6, H: 8,
				Description: "Pod log streams open to the Kubernetes API server (--kubernetes), by instance. Below Kubernetes pods followed: streams are reconnecting; see Kubernetes reconnects and Kubernetes API errors. No data: no instance runs with --kubernetes.",
				Queries:     []Query{{`sum by (instance) (mirrord_exporter_kubernetes_streams_open` + s + `)`, "{{instance}}"}}},
			{Type: "timeseries", Title: "Kubernetes pods followed", Unit: "short", W: 6, H: 8,
				Description: "Operator pods matching --kubernetes.label-selector in --kubernetes.namespace whose container log is followed (streaming, or waiting to reconnect), by instance. 0: no pod matches, or listing pods is refused (see Kubernetes API errors).",
				Queries:     []Query{{`sum by (instance) (mirrord_exporter_kubernetes_pods_followed` + s + `)`, "{{instance}}"}}},
			{Type: "timeseries", Title: "Kubernetes reconnects", Unit: "cps", W: 6, H: 8, Stack: true,
				Description: "Pod log streams and pod watches opened again per second, by why the previous one ended. eof and watch_expired now and then are normal (stream timeouts, container restarts); steady error, forbidden or not_found are not.",
				Queries:     []Query{{`sum by (reason) (rate(mirrord_exporter_kubernetes_reconnects_total` + s + `[$__rate_interval]))`, "{{reason}}"}}},
			{Type: "timeseries", Title: "Kubernetes API errors", Unit: "reqps", W: 6, H: 8, Stack: true,
				Description: "Failed Kubernetes API requests per second, by operation (list, watch, logs) and HTTP status (none: no response). 403: the exporter's service account lacks list and watch on pods or get on pods/log; 404 on logs: the pod is gone.",
				Queries:     []Query{{`sum by (op, code) (rate(mirrord_exporter_kubernetes_api_errors_total` + s + `[$__rate_interval]))`, "{{op}} {{code}}"}}},

			{Type: "row", Title: "State file"},
			{Type: "timeseries", Title: "State save age", Unit: "s", W: 6, H: 8,
				Description: "Time since each instance last saved its --state.file. It grows past --state.save-interval when saves fail (see State saves): after a restart the exporter would read everything since the last good save again. No data: no instance runs with --state.file.",
				Queries:     []Query{{`max by (instance) (time() - mirrord_exporter_state_last_save_timestamp_seconds` + s + `)`, "{{instance}}"}}},
			{Type: "timeseries", Title: "State saves", Unit: "ops", W: 6, H: 8,
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
			{Type: "stat", Title: "Resumed from state", Unit: "short", W: 4, H: 8, Plain: true,
				Description: "Instances whose current run resumed from their --state.file, out of those that have one. Fewer than all: a run started afresh (no file yet, or one that could not be used and was set aside as .corrupt-<time>; the exporter's log says why).",
				Queries: []Query{
					{`sum(mirrord_exporter_state_restored` + s + `)`, "resumed"},
					{`count(mirrord_exporter_state_restored` + s + `)`, "with a state file"},
				}},

			{Type: "row", Title: "Series cap"},
			{Type: "timeseries", Title: "Series per family", Unit: "short", W: 8, H: 8,
				Description: "Series of each metric family labelled from the log (mirrord_exporter_series), __overflow__ series included; the largest of the selected instances. A family at --metrics.max-series plus its __overflow__ series is capped: see Updates to overflow series.",
				Queries:     []Query{{`max by (metric) (mirrord_exporter_series` + s + `)`, "{{metric}}"}}},
			{Type: "timeseries", Title: "Updates to overflow series", Unit: "ops", W: 8, H: 8, Stack: true,
				Description: "Updates per second routed to a family's __overflow__ series because it reached --metrics.max-series: new users and targets are counted in the totals but not under their own names. Above 0: raise --metrics.max-series, or drop labels with --no-label.",
				Queries:     []Query{{`sum by (metric) (rate(mirrord_exporter_series_overflow_total` + s + `[$__rate_interval]))`, "{{metric}}"}}},
			{Type: "timeseries", Title: "Series expired", Unit: "cps", W: 8, H: 8, Stack: true,
				Description: "Series deleted per second because they had no update for --metrics.series-ttl, by family. Always 0 while --metrics.series-ttl is 0 (the default). A counter series deleted and seen again restarts from 0.",
				Queries:     []Query{{`sum by (metric) (rate(mirrord_exporter_series_expired_total` + s + `[$__rate_interval]))`, "{{metric}}"}}},

			{Type: "row", Title: "Process"},
			{Type: "timeseries", Title: "Memory", Unit: "bytes", W: 8, H: 8,
				Description: "Resident memory and Go heap in use of the exporter.",
				Queries: []Query{
					{`sum by (instance) (process_resident_memory_bytes` + s + `)`, "resident {{instance}}"},
					{`sum by (instance) (go_memstats_heap_inuse_bytes` + s + `)`, "heap {{instance}}"},
				}},
			{Type: "timeseries", Title: "CPU", Unit: "percentunit", W: 8, H: 8,
				Description: "CPU used by the exporter, in cores.",
				Queries:     []Query{{`sum by (instance) (rate(process_cpu_seconds_total` + s + `[$__rate_interval]))`, "{{instance}}"}}},
			{Type: "table", Title: "Build", Unit: "short", W: 8, H: 8, Plain: true,
				Description: "Version and revision of each exporter instance.",
				Queries:     []Query{{`max by (instance, version, revision, goversion) (mirrord_exporter_build_info` + s + `)`, ""}},
				Columns:     []Column{{"Instances", "short"}}},
		},
	}
}
