// Package report summarises the usage metrics of saved logs for people:
// period, sessions, users, session hours, ports, copied targets, and the
// busiest users and targets.
package report

import (
	"cmp"
	"fmt"
	"io"
	"math"
	"slices"
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
	u := &Usage{users: map[string]*tally{}, targets: map[string]*tally{}}
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
			user, target := l["client_user"], targetName(l)
			switch mf.GetName() {
			case "mirrord_sessions_started_total":
				v := m.GetCounter().GetValue()
				u.started += v
				share(u.users, user).sessions += v
				share(u.targets, target).sessions += v
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
		Note:      u.Note,
	}
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
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "Period:\t%s to %s (%s)\n", first.Format(time.RFC3339), last.Format(time.RFC3339), last.Sub(first).Round(time.Second))
	if u.Note != "" {
		fmt.Fprintf(tw, "Note:\t%s\n", u.Note)
	}
	fmt.Fprintf(tw, "Sessions:\t%s started, %s ended, %s active at the end\n", num(u.started), num(u.ended), num(u.active))
	fmt.Fprintf(tw, "Distinct users:\t%d\n", countNonZero(u.users))
	fmt.Fprintf(tw, "Session hours:\t%.1f (over %s ended sessions with a duration)\n", u.durationSum/3600, num(u.durationN))
	fmt.Fprintf(tw, "Ports:\t%s stolen (%s with an HTTP filter), %s mirrored\n", num(u.stolen), num(u.filtered), num(u.mirrors))
	fmt.Fprintf(tw, "Copied targets:\t%s (%s scaling the original down)\n", num(u.copied), num(u.scaledDown))
	fmt.Fprintf(tw, "Seat limit reached:\t%s times\n", num(u.seatLimit))
	writeTop(tw, "user", u.users, top)
	writeTop(tw, "target", u.targets, top)
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	return nil
}

// writeTop lists the busiest entries by sessions started, then by session
// hours, then by name, so that the order is the same on every run.
func writeTop(w io.Writer, what string, m map[string]*tally, top int) {
	keys := make([]string, 0, len(m))
	for k, t := range m {
		if t.sessions > 0 || t.seconds > 0 {
			keys = append(keys, k)
		}
	}
	slices.SortFunc(keys, func(a, b string) int {
		if c := cmp.Compare(m[b].sessions, m[a].sessions); c != 0 {
			return c
		}
		if c := cmp.Compare(m[b].seconds, m[a].seconds); c != 0 {
			return c
		}
		return strings.Compare(a, b)
	})
	if top >= 0 && len(keys) > top {
		keys = keys[:top]
	}
	fmt.Fprintf(w, "\nTop %ss\tsessions\thours\n", what)
	for _, k := range keys {
		fmt.Fprintf(w, "  %s\t%s\t%.1f\n", k, num(m[k].sessions), m[k].seconds/3600)
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
