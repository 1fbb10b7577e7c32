package loggen

import (
	"math"
	"strconv"
)

// Metric names, as the exporter exposes them.
const (
	mStarted      = "mirrord_sessions_started_total"
	mEnded        = "mirrord_sessions_ended_total"
	mDuration     = "mirrord_session_duration_seconds"
	mActive       = "mirrord_sessions_active"
	mStolen       = "mirrord_ports_stolen_total"
	mMirrored     = "mirrord_ports_mirrored_total"
	mReleased     = "mirrord_ports_released_total"
	mPortsActive  = "mirrord_ports_active"
	mCopied       = "mirrord_targets_copied_total"
	mSeatReached  = "mirrord_seat_limit_reached_total"
	mSeatUsers    = "mirrord_seat_limit_active_users"
	mMessages     = "mirrord_messages_processed_total"
	mLastEvent    = "mirrord_last_event_timestamp_seconds"
	mByVersion    = "mirrord_sessions_started_by_cli_version_total"
	mNewer        = "mirrord_cli_versions_newer"
	reasonNotJSON = "not_json"
	reasonBadJSON = "invalid_json"
)

// durationBuckets are the classic bucket bounds of
// mirrord_session_duration_seconds, as the exporter exposes them (its
// native buckets do not show in the text format, which Diff reads). They
// are written out here, not taken from the exporter: a change of them is a
// change of what dashboards and recording rules see.
var durationBuckets = []float64{10, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 28800, 43200, 86400}

// bucketLabel is the le label of a classic bucket with upper bound b: the
// shortest decimal, or +Inf.
func bucketLabel(b float64) string {
	return strconv.FormatFloat(b, 'g', -1, 64)
}

// observeDuration adds one observation of d seconds to the classic buckets
// of the duration histogram series with labels (its _bucket series,
// cumulative, +Inf included), creating them all at 0 first.
func observeDuration(series map[string]float64, labels map[string]string, d float64) {
	le := make(map[string]string, len(labels)+1)
	for k, v := range labels {
		le[k] = v
	}
	for _, b := range append(durationBuckets[:len(durationBuckets):len(durationBuckets)], math.Inf(1)) {
		le["le"] = bucketLabel(b)
		key := SeriesKey(mDuration+"_bucket", le)
		series[key] += 0
		if d <= b {
			series[key]++
		}
	}
}

// portKey is one entry of the ports_active gauge.
type portKey struct {
	session string
	port    int
	mode    string
}

// tally follows the exporter's semantics over the records as they are
// written, from what the generator meant to write (not from the bytes: the
// package's tests re-read the bytes independently and compare).
type tally struct {
	series    map[string]float64
	events    map[string]float64
	malformed map[string]float64

	active    map[string]string    // session_id → its sessions_active series
	ports     map[portKey]string   // entry → its ports_active series
	bySession map[string][]portKey // entries added per session_id, some maybe gone
	durations map[string]bool      // label sets with a duration observed
	last      int64                // unix µs of the last session/port/copy event
	hasLast   bool
	versions  map[string]bool // client_cli_version of the Starts
}

func newTally() *tally {
	return &tally{
		series:    map[string]float64{},
		events:    map[string]float64{},
		malformed: map[string]float64{},
		active:    map[string]string{},
		ports:     map[portKey]string{},
		bySession: map[string][]portKey{},
		durations: map[string]bool{},
		versions:  map[string]bool{},
	}
}

func (t *tally) bad(reason string) { t.malformed[reason]++ }

// observed tells whether an End of p's label set has put a duration in the
// histogram.
func (t *tally) observed(p *party) bool {
	return t.durations[SeriesKey(mDuration, p.labels)]
}

// apply counts one functional record written at us.
func (t *tally) apply(e *event, us int64) {
	if e.defect != valid {
		t.bad(e.defect.reason())
		return
	}
	t.events[e.kind.name()]++
	p := e.party
	switch e.kind {
	case kSeat:
		t.series[mSeatReached]++
		t.series[mSeatUsers] = float64(e.users)
		return
	case kMessage:
		class := ""
		if e.msg.status != 0 {
			class = strconv.Itoa(e.msg.status/100) + "xx"
		}
		t.series[SeriesKey(mMessages, map[string]string{
			"event_type": e.msg.eventType, "mode": e.msg.mode,
			"queue_type": e.msg.queueType, "response_status_class": class,
		})]++
		return
	}
	t.last, t.hasLast = us, true
	switch e.kind {
	case kStart:
		t.series[SeriesKey(mStarted, p.labels)]++
		t.series[SeriesKey(mByVersion, map[string]string{"client_cli_version": p.c.version, "client_user": p.labels["client_user"]})]++
		t.versions[p.c.version] = true
		key := SeriesKey(mActive, p.labels)
		t.series[key] += 0 // a label set that had a Start shows, even at 0
		if _, ok := t.active[e.sess.id]; !ok {
			t.active[e.sess.id] = key
			t.series[key]++
		}
	case kEnd:
		t.series[SeriesKey(mEnded, p.labels)]++
		if !e.noDur {
			h := SeriesKey(mDuration, p.labels)
			t.durations[h] = true
			t.series[SeriesKey(mDuration+"_count", p.labels)]++
			t.series[SeriesKey(mDuration+"_sum", p.labels)] += float64(e.dur) / 1e6
			observeDuration(t.series, p.labels, float64(e.dur)/1e6)
		}
		if key, ok := t.active[e.sess.id]; ok {
			t.series[key]--
			delete(t.active, e.sess.id)
		}
		for _, k := range t.bySession[e.sess.id] {
			t.dropPort(k)
		}
		delete(t.bySession, e.sess.id)
	case kSteal, kMirror:
		mode, counter := "steal", SeriesKey(mMirrored, p.labels)
		if e.kind == kSteal {
			counter = SeriesKey(mStolen, p.with("http_filtered", strconv.FormatBool(e.hasFilter && e.filter != "")))
		} else {
			mode = "mirror"
		}
		t.series[counter]++
		k := portKey{e.sess.id, e.port, mode}
		if _, ok := t.ports[k]; !ok {
			key := SeriesKey(mPortsActive, p.with("mode", mode))
			t.ports[k] = key
			t.series[key]++
			t.bySession[k.session] = append(t.bySession[k.session], k)
		}
	case kRelease:
		t.series[SeriesKey(mReleased, p.labels)]++
		t.dropPort(portKey{e.sess.id, e.port, "steal"})
		t.dropPort(portKey{e.sess.id, e.port, "mirror"})
	case kCopy:
		t.series[SeriesKey(mCopied, p.with("scale_down", strconv.FormatBool(e.scale)))]++
	}
}

func (t *tally) dropPort(k portKey) {
	if key, ok := t.ports[k]; ok {
		t.series[key]--
		delete(t.ports, k)
	}
}

// finish gives the Truth. The seat-limit counter has no labels, so the
// exporter shows it from the start; the last-event gauge and the seat users
// gauge only once they have a value.
func (t *tally) finish(lines, records int) Truth {
	if _, ok := t.series[mSeatReached]; !ok {
		t.series[mSeatReached] = 0
	}
	if t.hasLast {
		t.series[mLastEvent] = float64(t.last) / 1e6
	}
	for v, newer := range versionsNewer(t.versions) {
		t.series[SeriesKey(mNewer, map[string]string{"client_cli_version": v})] = float64(newer)
	}
	return Truth{Series: t.series, Events: t.events, Malformed: t.malformed, Lines: lines, Records: records}
}
