package report

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// Data is everything a report says, whatever its format: the text, JSON,
// CSV and HTML reports are renderings of it. The JSON field names follow
// the metrics'.
type Data struct {
	// From and To are the period reported.
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
	// Note, when not empty, says why the numbers are what they are, such
	// as a period without events.
	Note string `json:"note,omitempty"`

	SessionsStarted float64 `json:"sessions_started"`
	SessionsEnded   float64 `json:"sessions_ended"`
	// SessionsActive is the sessions active at the period's end.
	SessionsActive float64 `json:"sessions_active"`
	// DistinctUsers is the client_user values that started a session or
	// ended session time in the period.
	DistinctUsers int `json:"distinct_users"`
	// SessionHours is the session_duration of the sessions ended in the
	// period, in hours; SessionsWithDuration the sessions it adds up.
	SessionHours         float64 `json:"session_hours"`
	SessionsWithDuration float64 `json:"sessions_with_duration"`

	PortsStolen float64 `json:"ports_stolen"`
	// PortsStolenHTTPFiltered is the steals with an HTTP filter, among
	// PortsStolen.
	PortsStolenHTTPFiltered float64 `json:"ports_stolen_http_filtered"`
	PortsMirrored           float64 `json:"ports_mirrored"`
	TargetsCopied           float64 `json:"targets_copied"`
	// TargetsCopiedScaleDown is the copies that scaled the original down.
	TargetsCopiedScaleDown float64 `json:"targets_copied_scale_down"`
	SeatLimitReached       float64 `json:"seat_limit_reached"`

	// SessionsConcurrentPeak and UsersConcurrentPeak are the most sessions,
	// and the most distinct users with a session, active at once in the
	// whole hours of operator time that overlap the period
	// (mirrord_sessions_concurrent_peak, mirrord_users_concurrent_peak).
	SessionsConcurrentPeak int64 `json:"sessions_concurrent_peak"`
	UsersConcurrentPeak    int64 `json:"users_concurrent_peak"`

	// DistinctUsersPerDay, PerWeek and PerMonth count the client_user
	// values with a session started or ended in each calendar day, ISO
	// week and month (UTC) of the period, every one of them listed.
	DistinctUsersPerDay   []Bucket `json:"distinct_users_per_day"`
	DistinctUsersPerWeek  []Bucket `json:"distinct_users_per_week"`
	DistinctUsersPerMonth []Bucket `json:"distinct_users_per_month"`

	// Users, Teams (target namespaces) and Targets are the busiest, by
	// sessions started, then session hours, then name: the top of them.
	Users   []Share `json:"users"`
	Teams   []Share `json:"teams"`
	Targets []Share `json:"targets"`

	// CLIVersions is the sessions started by client_cli_version, from
	// mirrord_sessions_started_by_cli_version_total; null when the metrics
	// have no such family.
	CLIVersions []CLIVersion `json:"cli_versions"`
}

// Bucket is one day, week or month of the period.
type Bucket struct {
	// Period is 2026-08-17, 2026-W34 or 2026-08.
	Period string `json:"period"`
	// Start is the bucket's first instant (it may be before the period's).
	Start         time.Time `json:"start"`
	DistinctUsers int       `json:"distinct_users"`
}

// Share is one user's, team's or target's part.
type Share struct {
	Name            string  `json:"name"`
	SessionsStarted float64 `json:"sessions_started"`
	SessionHours    float64 `json:"session_hours"`
}

// CLIVersion is the sessions started by one client_cli_version.
type CLIVersion struct {
	Version         string  `json:"client_cli_version"`
	SessionsStarted float64 `json:"sessions_started"`
}

// Peaks are the concurrent peaks of a period (Data.SessionsConcurrentPeak).
type Peaks struct{ Sessions, Users int64 }

// Data is the report of u over the period from from to to (to included if
// toIncluded, as when it is the last event's time, not --to), listing the top busiest users,
// teams and targets (all if top is negative). cal, if not nil, gives the
// distinct users per day, week and month.
func (u *Usage) Data(from, to time.Time, toIncluded bool, top int, cal *Calendar, peaks Peaks) *Data {
	d := &Data{
		From: from.UTC(), To: to.UTC(), Note: u.Note,
		SessionsStarted: u.started, SessionsEnded: u.ended, SessionsActive: u.active,
		DistinctUsers: countNonZero(u.users),
		SessionHours:  u.durationSum / 3600, SessionsWithDuration: u.durationN,
		PortsStolen: u.stolen, PortsStolenHTTPFiltered: u.filtered, PortsMirrored: u.mirrors,
		TargetsCopied: u.copied, TargetsCopiedScaleDown: u.scaledDown,
		SeatLimitReached:       u.seatLimit,
		SessionsConcurrentPeak: peaks.Sessions, UsersConcurrentPeak: peaks.Users,
		Users: shares(u.users, top), Teams: shares(u.teams, top), Targets: shares(u.targets, top),
	}
	last := d.To
	if !toIncluded && last.After(d.From) {
		last = last.Add(-time.Nanosecond)
	}
	if last.Before(d.From) {
		last = d.From
	}
	for i, b := range []*[]Bucket{&d.DistinctUsersPerDay, &d.DistinctUsersPerWeek, &d.DistinctUsersPerMonth} {
		unit := units[i]
		*b = []Bucket{}
		for s := unit.start(d.From); !s.After(last); s = unit.next(s) {
			n := 0
			if cal != nil {
				n = cal.units[i].count(s)
			}
			*b = append(*b, Bucket{Period: unit.name(s), Start: s, DistinctUsers: n})
		}
	}
	if u.cli != nil {
		d.CLIVersions = []CLIVersion{}
		for _, v := range slices.Sorted(maps.Keys(u.cli)) {
			if u.cli[v] > 0 {
				d.CLIVersions = append(d.CLIVersions, CLIVersion{Version: v, SessionsStarted: u.cli[v]})
			}
		}
		slices.SortStableFunc(d.CLIVersions, func(a, b CLIVersion) int { return cmp.Compare(b.SessionsStarted, a.SessionsStarted) })
	}
	return d
}

// shares lists the busiest entries of m, as writeTop orders them.
func shares(m map[string]*tally, top int) []Share {
	out := []Share{}
	for _, k := range busiest(m, top) {
		out = append(out, Share{Name: k, SessionsStarted: m[k].sessions, SessionHours: m[k].seconds / 3600})
	}
	return out
}

// unit is a calendar unit: day, ISO week or month, in UTC.
type unit struct {
	start func(time.Time) time.Time
	next  func(time.Time) time.Time
	name  func(time.Time) string
}

var units = [3]unit{
	{
		start: func(t time.Time) time.Time {
			t = t.UTC()
			return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
		},
		next: func(t time.Time) time.Time { return t.AddDate(0, 0, 1) },
		name: func(t time.Time) string { return t.Format(time.DateOnly) },
	},
	{
		start: func(t time.Time) time.Time {
			t = t.UTC()
			wd := (int(t.Weekday()) + 6) % 7 // Monday 0
			return time.Date(t.Year(), t.Month(), t.Day()-wd, 0, 0, 0, 0, time.UTC)
		},
		next: func(t time.Time) time.Time { return t.AddDate(0, 0, 7) },
		name: func(t time.Time) string {
			y, w := t.ISOWeek()
			return fmt.Sprintf("%04d-W%02d", y, w)
		},
	},
	{
		start: func(t time.Time) time.Time {
			t = t.UTC()
			return time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
		},
		next: func(t time.Time) time.Time { return t.AddDate(0, 1, 0) },
		name: func(t time.Time) string { return t.Format("2006-01") },
	},
}

// Calendar counts the distinct users of each day, ISO week and month (UTC)
// from events seen in time order. It holds the users of the open buckets
// only, the newest two of each unit: a bucket is closed, and its users
// forgotten, once an event two buckets later is seen; an event older than
// the open buckets (more than a day, week or month out of order) is not
// counted.
type Calendar struct {
	units [3]calendarUnit
}

// calendarUnit is the buckets of one unit.
type calendarUnit struct {
	unit   unit
	open   map[time.Time]map[string]struct{}
	counts map[time.Time]int
	newest time.Time
}

// NewCalendar returns an empty calendar.
func NewCalendar() *Calendar {
	c := &Calendar{}
	for i := range c.units {
		c.units[i] = calendarUnit{unit: units[i], open: map[time.Time]map[string]struct{}{}, counts: map[time.Time]int{}}
	}
	return c
}

// Add counts user in the day, week and month of t.
func (c *Calendar) Add(t time.Time, user string) {
	for i := range c.units {
		c.units[i].add(t, user)
	}
}

func (u *calendarUnit) add(t time.Time, user string) {
	s := u.unit.start(t)
	if s.After(u.newest) || u.newest.IsZero() {
		u.newest = s
		// Close the buckets before the previous one.
		for k, set := range u.open {
			if u.unit.next(k).Before(s) {
				u.counts[k] = len(set)
				delete(u.open, k)
			}
		}
	}
	set, ok := u.open[s]
	if !ok {
		if _, closed := u.counts[s]; closed || u.unit.next(s).Before(u.newest) {
			return
		}
		set = map[string]struct{}{}
		u.open[s] = set
	}
	set[user] = struct{}{}
}

// count is the distinct users of the bucket starting at s.
func (u *calendarUnit) count(s time.Time) int {
	if set, ok := u.open[s]; ok {
		return len(set)
	}
	return u.counts[s]
}

// busiest is the keys of m with sessions or hours, by sessions started,
// then session hours, then name, cut at top unless it is negative.
func busiest(m map[string]*tally, top int) []string {
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
	return keys
}
