// Package report summarises the usage metrics of saved logs for people:
// period, sessions, users, session hours, ports, copied targets, and the
// busiest users and targets.
package report

import (
	"fmt"
	"io"
	"math"
	"strings"
	"text/tabwriter"
	"time"

	dto "github.com/prometheus/client_model/go"
)

// Usage is the report's view of the final metrics.
type Usage struct {
	started, ended, active    float64
	durationSum, durationN    float64
	stolen, filtered, mirrors float64
	copied, scaledDown        float64
	seatLimit                 float64
	users                     map[string]*tally
	targets                   map[string]*tally
	// teams are the target namespaces' shares.
	teams map[string]*tally
	// cli is the sessions started by client_cli_version; nil when the
	// metrics have no mirrord_sessions_started_by_cli_version_total.
	cli map[string]float64
	// Note, when not empty, is printed under the period: why the numbers
	// are what they are, such as a period without events.
	Note string
}

// tally is one user's or target's share.
type tally struct {
	sessions, seconds float64
}

// Summarize adds up the mirrord_* families of a replay.
func Summarize(families []*dto.MetricFamily) *Usage {
	u := &Usage{users: map[string]*tally{}, targets: map[string]*tally{}, teams: map[string]*tally{}}
	share := func(m map[string]*tally, key string) *tally {
		t, ok := m[key]
		if !ok {
			t = &tally{}
			m[key] = t
		}
		return t
	}
	for _, mf := range families {
		for _, m := range mf.GetMetric() {
			l := map[string]string{}
			for _, lp := range m.GetLabel() {
				l[lp.GetName()] = lp.GetValue()
			}
			user, target, team := l["client_user"], targetName(l), l["target_namespace"]
			if team == "" {
				team = "(none)"
			}
			switch mf.GetName() {
			case "mirrord_sessions_started_total":
				v := m.GetCounter().GetValue()
				u.started += v
				share(u.users, user).sessions += v
				share(u.targets, target).sessions += v
				share(u.teams, team).sessions += v
			case "mirrord_sessions_ended_total":
				u.ended += m.GetCounter().GetValue()
			case "mirrord_sessions_active":
				u.active += m.GetGauge().GetValue()
			case "mirrord_session_duration_seconds":
				h := m.GetHistogram()
				u.durationSum += h.GetSampleSum()
				u.durationN += float64(h.GetSampleCount())
				share(u.users, user).seconds += h.GetSampleSum()
				share(u.targets, target).seconds += h.GetSampleSum()
				share(u.teams, team).seconds += h.GetSampleSum()
			case "mirrord_ports_stolen_total":
				u.stolen += m.GetCounter().GetValue()
				if l["http_filtered"] == "true" {
					u.filtered += m.GetCounter().GetValue()
				}
			case "mirrord_ports_mirrored_total":
				u.mirrors += m.GetCounter().GetValue()
			case "mirrord_targets_copied_total":
				u.copied += m.GetCounter().GetValue()
				if l["scale_down"] == "true" {
					u.scaledDown += m.GetCounter().GetValue()
				}
			case cliVersionFamily:
				if u.cli == nil {
					u.cli = map[string]float64{}
				}
				u.cli[l["client_cli_version"]] += m.GetCounter().GetValue()
			case "mirrord_seat_limit_reached_total":
				u.seatLimit += m.GetCounter().GetValue()
			}
		}
	}
	return u
}

// Since is the usage between before and u, taken from the same replay at an
// earlier and a later instant: the increase of the counters and of the
// session time, and u's sessions active (at the later instant). Users and
// targets that started no session and ended no session time in between are
// left out of the distinct users and the top lists.
func (u *Usage) Since(before *Usage) *Usage {
	return &Usage{
		started: u.started - before.started, ended: u.ended - before.ended, active: u.active,
		durationSum: u.durationSum - before.durationSum, durationN: u.durationN - before.durationN,
		stolen: u.stolen - before.stolen, filtered: u.filtered - before.filtered, mirrors: u.mirrors - before.mirrors,
		copied: u.copied - before.copied, scaledDown: u.scaledDown - before.scaledDown,
		seatLimit: u.seatLimit - before.seatLimit,
		users:     tallySince(u.users, before.users),
		targets:   tallySince(u.targets, before.targets),
		teams:     tallySince(u.teams, before.teams),
		cli:       countSince(u.cli, before.cli),
		Note:      u.Note,
	}
}

// cliVersionFamily is the family of the sessions started by CLI version.
const cliVersionFamily = "mirrord_sessions_started_by_cli_version_total"

// countSince is each count's increase from before to now; nil if now is.
func countSince(now, before map[string]float64) map[string]float64 {
	if now == nil {
		return nil
	}
	out := make(map[string]float64, len(now))
	for k, v := range now {
		out[k] = v - before[k]
	}
	return out
}

// tallySince is each share's increase from before to now.
func tallySince(now, before map[string]*tally) map[string]*tally {
	out := make(map[string]*tally, len(now))
	for k, t := range now {
		d := *t
		if b, ok := before[k]; ok {
			d.sessions -= b.sessions
			d.seconds -= b.seconds
		}
		if math.Abs(d.seconds) < 1e-6 {
			// Durations are in microseconds: less is the rounding of
			// sums added in another order once a series appeared.
			d.seconds = 0
		}
		out[k] = &d
	}
	return out
}

// targetName is namespace/type/name, or the type alone for targetless
// sessions; labels dropped with --no-label are left out.
func targetName(l map[string]string) string {
	var parts []string
	for _, k := range []string{"target_namespace", "target_type", "target_name"} {
		if v := l[k]; v != "" {
			parts = append(parts, v)
		}
	}
	if len(parts) == 0 {
		return "(none)"
	}
	return strings.Join(parts, "/")
}

// Write prints the report of the period from first to last, listing the top
// busiest users and targets (all of them if top is negative).
func (u *Usage) Write(w io.Writer, first, last time.Time, top int) error {
	return u.Data(first, last, true, top, nil, Peaks{}).Render(w, FormatText)
}

// writeText prints d as the text report.
func (d *Data) writeText(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "Period:\t%s to %s (%s)\n", d.From.Format(time.RFC3339), d.To.Format(time.RFC3339), d.To.Sub(d.From).Round(time.Second))
	if d.Note != "" {
		fmt.Fprintf(tw, "Note:\t%s\n", d.Note)
	}
	fmt.Fprintf(tw, "Sessions:\t%s started, %s ended, %s active at the end\n", num(d.SessionsStarted), num(d.SessionsEnded), num(d.SessionsActive))
	fmt.Fprintf(tw, "Distinct users:\t%d\n", d.DistinctUsers)
	fmt.Fprintf(tw, "Session hours:\t%.1f (over %s ended sessions with a duration)\n", d.SessionHours, num(d.SessionsWithDuration))
	fmt.Fprintf(tw, "Ports:\t%s stolen (%s with an HTTP filter), %s mirrored\n", num(d.PortsStolen), num(d.PortsStolenHTTPFiltered), num(d.PortsMirrored))
	fmt.Fprintf(tw, "Copied targets:\t%s (%s scaling the original down)\n", num(d.TargetsCopied), num(d.TargetsCopiedScaleDown))
	fmt.Fprintf(tw, "Seat limit reached:\t%s times\n", num(d.SeatLimitReached))
	writeTop(tw, "user", d.Users)
	writeTop(tw, "target", d.Targets)
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	return nil
}

// writeTop lists the busiest entries, as busiest orders them.
func writeTop(w io.Writer, what string, list []Share) {
	fmt.Fprintf(w, "\nTop %ss\tsessions\thours\n", what)
	for _, s := range list {
		fmt.Fprintf(w, "  %s\t%s\t%.1f\n", s.Name, num(s.SessionsStarted), s.SessionHours)
	}
}

func countNonZero(m map[string]*tally) int {
	n := 0
	for _, t := range m {
		if t.sessions > 0 || t.seconds > 0 {
			n++
		}
	}
	return n
}

// num prints a count without a fraction.
func num(v float64) string { return fmt.Sprintf("%.0f", v) }
