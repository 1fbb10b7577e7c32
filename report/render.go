package report

import (
	_ "embed"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"strconv"
	"strings"
	"time"
)

// Format is how a report is written.
type Format string

// The formats of a report.
const (
	FormatText Format = "text"
	FormatJSON Format = "json"
	FormatCSV  Format = "csv"
	FormatHTML Format = "html"
)

// Formats are the formats Render writes, the default first.
var Formats = []Format{FormatText, FormatJSON, FormatCSV, FormatHTML}

// ParseTime reads a period's bound as --from and --to give it: an RFC 3339
// time, or a date meaning its midnight UTC; zero for an empty value. Its
// error completes a sentence that starts with the flag's name.
func ParseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("must be an RFC 3339 time such as 2026-08-01T09:30:00Z or a date such as 2026-08-01 (midnight UTC), got %q", s)
}

// ParseFormat returns the format named s.
func ParseFormat(s string) (Format, error) {
	for _, f := range Formats {
		if string(f) == s {
			return f, nil
		}
	}
	names := make([]string, len(Formats))
	for i, f := range Formats {
		names[i] = string(f)
	}
	return "", fmt.Errorf("unknown report format %q: want one of %s", s, strings.Join(names, ", "))
}

// Render writes d in format f.
func (d *Data) Render(w io.Writer, f Format) error {
	var err error
	switch f {
	case FormatText, "":
		return d.writeText(w)
	case FormatJSON:
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		err = enc.Encode(d)
	case FormatCSV:
		err = d.writeCSV(w)
	case FormatHTML:
		err = htmlReport.Execute(w, d.page())
	default:
		_, err = ParseFormat(string(f))
		return err
	}
	if err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	return nil
}

// fnum is a number as the JSON, CSV and HTML attributes give it: exact,
// without exponent.
func fnum(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }

// writeCSV writes d as rows of section, name, field and value: the summary
// (section "summary", no name), then one row per bucket of distinct users
// per day, week and month (name the period), then two rows per user, team
// and target (sessions_started and session_hours), then one per CLI
// version.
func (d *Data) writeCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	rows := [][]string{{"section", "name", "field", "value"}}
	sum := func(field, value string) { rows = append(rows, []string{"summary", "", field, value}) }
	sum("from", d.From.Format(time.RFC3339Nano))
	sum("to", d.To.Format(time.RFC3339Nano))
	if d.Note != "" {
		sum("note", d.Note)
	}
	for _, c := range d.headline() {
		sum(c.ID, c.Value)
	}
	for _, b := range []struct {
		section string
		list    []Bucket
	}{
		{"distinct_users_per_day", d.DistinctUsersPerDay},
		{"distinct_users_per_week", d.DistinctUsersPerWeek},
		{"distinct_users_per_month", d.DistinctUsersPerMonth},
	} {
		for _, x := range b.list {
			rows = append(rows, []string{b.section, x.Period, "distinct_users", strconv.Itoa(x.DistinctUsers)})
		}
	}
	for _, s := range []struct {
		section string
		list    []Share
	}{{"users", d.Users}, {"teams", d.Teams}, {"targets", d.Targets}} {
		for _, x := range s.list {
			rows = append(rows,
				[]string{s.section, x.Name, "sessions_started", fnum(x.SessionsStarted)},
				[]string{s.section, x.Name, "session_hours", fnum(x.SessionHours)})
		}
	}
	for _, v := range d.CLIVersions {
		rows = append(rows, []string{"cli_versions", v.Version, "sessions_started", fnum(v.SessionsStarted)})
	}
	if err := cw.WriteAll(rows); err != nil {
		return err
	}
	return cw.Error()
}

// card is one headline number: its JSON field name, its value as the JSON
// gives it, and what the HTML report calls it.
type card struct {
	ID, Value, Label, Shown string
}

// headline is the summary's numbers, in the JSON's names.
func (d *Data) headline() []card {
	c := func(id string, v float64, label string) card {
		return card{ID: id, Value: fnum(v), Label: label, Shown: num(v)}
	}
	hours := c("session_hours", d.SessionHours, "session hours")
	hours.Shown = fmt.Sprintf("%.1f", d.SessionHours)
	return []card{
		c("distinct_users", float64(d.DistinctUsers), "distinct users"),
		c("sessions_started", d.SessionsStarted, "sessions started"),
		c("sessions_ended", d.SessionsEnded, "sessions ended"),
		c("sessions_active", d.SessionsActive, "sessions active at the end"),
		hours,
		c("sessions_with_duration", d.SessionsWithDuration, "ended sessions with a duration"),
		c("sessions_concurrent_peak", float64(d.SessionsConcurrentPeak), "most sessions at once"),
		c("users_concurrent_peak", float64(d.UsersConcurrentPeak), "most users at once"),
		c("ports_stolen", d.PortsStolen, "ports stolen"),
		c("ports_stolen_http_filtered", d.PortsStolenHTTPFiltered, "stolen with an HTTP filter"),
		c("ports_mirrored", d.PortsMirrored, "ports mirrored"),
		c("targets_copied", d.TargetsCopied, "targets copied"),
		c("targets_copied_scale_down", d.TargetsCopiedScaleDown, "copies scaling the original down"),
		c("seat_limit_reached", d.SeatLimitReached, "seat limit reached"),
	}
}

// page is what the HTML template shows.
type page struct {
	*Data
	Cards []card
	Chart chart
	// Steal is the bar of steal against mirror: filtered steals, other
	// steals, mirrors, in percent of their sum.
	Steal []segment
}

// chart is the bar chart of distinct users per day, in SVG units.
type chart struct {
	Width, Height, Base int
	Max                 int
	Bars                []bar
	Ticks               []tick
}

type bar struct {
	Period        string
	Users         int
	X, Y, W, H    float64
	LabelX        float64
	Label, ValueY string
}

type tick struct {
	Y     float64
	Label int
}

type segment struct {
	ID, Label, Class string
	Value            float64
	Percent          float64
}

func (d *Data) page() page {
	p := page{Data: d, Cards: d.headline()}
	const width, height, top, base = 1100, 300, 20, 260
	ch := chart{Width: width, Height: height, Base: base}
	for _, b := range d.DistinctUsersPerDay {
		ch.Max = max(ch.Max, b.DistinctUsers)
	}
	scale := max(ch.Max, 1)
	n := len(d.DistinctUsersPerDay)
	slot := float64(width-60) / float64(max(n, 1))
	every := max(1, (n+23)/24) // at most about 24 date labels
	for i, b := range d.DistinctUsersPerDay {
		h := float64(b.DistinctUsers) / float64(scale) * float64(base-top)
		x := 50 + float64(i)*slot
		br := bar{Period: b.Period, Users: b.DistinctUsers, X: x + slot*0.1, W: slot * 0.8, H: h, Y: float64(base) - h, LabelX: x + slot/2}
		if i%every == 0 {
			br.Label = b.Period[5:]
		}
		if n <= 40 {
			br.ValueY = strconv.FormatFloat(float64(base)-h-4, 'f', 1, 64)
		}
		ch.Bars = append(ch.Bars, br)
	}
	for _, v := range []int{0, scale / 2, scale} {
		ch.Ticks = append(ch.Ticks, tick{Y: float64(base) - float64(v)/float64(scale)*float64(base-top), Label: v})
	}
	p.Chart = ch
	total := d.PortsStolen + d.PortsMirrored
	for _, s := range []segment{
		{ID: "steal_filtered", Label: "stolen with an HTTP filter", Class: "filtered", Value: d.PortsStolenHTTPFiltered},
		{ID: "steal_unfiltered", Label: "stolen, whole port", Class: "stolen", Value: d.PortsStolen - d.PortsStolenHTTPFiltered},
		{ID: "mirror", Label: "mirrored", Class: "mirrored", Value: d.PortsMirrored},
	} {
		if total > 0 {
			s.Percent = s.Value / total * 100
		}
		p.Steal = append(p.Steal, s)
	}
	return p
}

// shareTable is one of the HTML report's tables of shares.
type shareTable struct {
	ID, Title, Column string
	List              []Share
}

//go:embed report.html
var htmlText string

var htmlReport = template.Must(template.New("report").Funcs(template.FuncMap{
	"fnum":  fnum,
	"num":   num,
	"hours": func(v float64) string { return fmt.Sprintf("%.1f", v) },
	"time":  func(t time.Time) string { return t.Format(time.RFC3339) },
	"pct":   func(v float64) string { return strconv.FormatFloat(v, 'f', 3, 64) },
	"f1":    func(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) },
	"shareTables": func(d *Data) []shareTable {
		return []shareTable{
			{"users", "Sessions per user", "client_user", d.Users},
			{"teams", "Sessions per team (target namespace)", "target_namespace", d.Teams},
			{"targets", "Top targets", "target", d.Targets},
		}
	},
}).Parse(htmlText))
