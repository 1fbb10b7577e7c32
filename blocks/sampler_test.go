package blocks

import (
	"context"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/tsdb"
	"github.com/prometheus/prometheus/tsdb/chunkenc"

	"github.com/mirrord-exporter/mirrord-exporter/backfill"
	"github.com/mirrord-exporter/mirrord-exporter/collector"
	"github.com/mirrord-exporter/mirrord-exporter/decode"
)

var t0 = time.Date(2026, 8, 17, 18, 0, 0, 0, time.UTC)

// sample is one sample read back from the blocks: a float, or a native
// histogram's count.
type sample struct {
	at time.Duration // since t0
	v  float64
}

// backfillBlocks replays events into blocks with the given idle time and
// returns every series' samples by its labels' string.
func backfillBlocks(t *testing.T, events []decode.Event, idle time.Duration) map[string][]sample {
	t.Helper()
	reg := prometheus.NewRegistry()
	lc, err := decode.NewLabelConfig(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	c, err := collector.New(collector.Config{Labels: lc, Registerer: reg, CappedRegisterer: prometheus.NewRegistry(), SessionMaxAge: 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	w, err := Open(Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	s := NewSampler(w, SamplerConfig{Capped: c.Families(), Others: reg, Step: time.Minute, Idle: idle})
	seq := func(yield func(*decode.Event) bool) {
		for i := range events {
			if !yield(&events[i]) {
				return
			}
		}
	}
	if _, err := backfill.Replay(seq, c, time.Minute, s); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Finish(); err != nil {
		t.Fatal(err)
	}

	// The read-only DB wants a WAL, even an empty one.
	if err := os.Mkdir(filepath.Join(dir, "wal"), 0o755); err != nil {
		t.Fatal(err)
	}
	db, err := tsdb.OpenDBReadOnly(dir, "", slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	q, err := db.Querier(math.MinInt64, math.MaxInt64)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	out := map[string][]sample{}
	set := q.Select(context.Background(), false, nil, labels.MustNewMatcher(labels.MatchRegexp, "__name__", "mirrord_.+"))
	for set.Next() {
		series := set.At()
		var got []sample
		it := series.Iterator(nil)
		for typ := it.Next(); typ != chunkenc.ValNone; typ = it.Next() {
			var ts int64
			var v float64
			switch typ {
			case chunkenc.ValFloat:
				ts, v = it.At()
			case chunkenc.ValHistogram:
				var h *histogram.Histogram
				ts, h = it.AtHistogram(nil)
				v = float64(h.Count)
			default:
				t.Fatalf("%s: sample type %v", series.Labels(), typ)
			}
			got = append(got, sample{time.UnixMilli(ts).Sub(t0), v})
		}
		out[series.Labels().String()] = got
	}
	if err := set.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// steps returns a sample of v at every minute from from to to, inclusive.
func steps(from, to time.Duration, v float64) []sample {
	var out []sample
	for at := from; at <= to; at += time.Minute {
		out = append(out, sample{at, v})
	}
	return out
}

func TestSamplerIdleSeries(t *testing.T) {
	dave := []string{"dave@corp", "dave", "shop", "deployment", "cart"}
	erin := []string{"erin@corp", "erin", "shop", "deployment", "cart"}
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	events := []decode.Event{
		{Kind: decode.SessionStart, Time: at(30 * time.Second), SessionID: "a", Labels: dave},
		{Kind: decode.SessionEnd, Time: at(90 * time.Minute), SessionID: "a", Labels: dave, Duration: 5370, HasDuration: true},
		{Kind: decode.SessionStart, Time: at(100 * time.Minute), SessionID: "b", Labels: dave},
		{Kind: decode.SessionEnd, Time: at(101 * time.Minute), SessionID: "b", Labels: dave, Duration: 60, HasDuration: true},
		{Kind: decode.SessionStart, Time: at(150*time.Minute + 500*time.Millisecond), SessionID: "c", Labels: erin},
	}
	const (
		started = `{__name__="mirrord_sessions_started_total", client_name="dave", client_user="dave@corp", target_name="cart", target_namespace="shop", target_type="deployment"}`
		active  = `{__name__="mirrord_sessions_active", client_name="dave", client_user="dave@corp", target_name="cart", target_namespace="shop", target_type="deployment"}`
		native  = `{__name__="mirrord_session_duration_seconds", client_name="dave", client_user="dave@corp", target_name="cart", target_namespace="shop", target_type="deployment"}`
		erinSt  = `{__name__="mirrord_sessions_started_total", client_name="erin", client_user="erin@corp", target_name="cart", target_namespace="shop", target_type="deployment"}`
	)
	last := 150*time.Minute + 500*time.Millisecond // the last event

	t.Run("idle", func(t *testing.T) {
		got := backfillBlocks(t, events, 5*time.Minute)
		want := map[string][]sample{
			// Zero before the first sample; written until unchanged for 5m;
			// from 5m before its change with the old value; every series at
			// the last event.
			started: slices.Concat([]sample{{0, 0}}, steps(time.Minute, 5*time.Minute, 1),
				steps(95*time.Minute, 99*time.Minute, 1), steps(100*time.Minute, 104*time.Minute, 2), []sample{{last, 2}}),
			// A gauge that is not zero is always written.
			active: slices.Concat(steps(time.Minute, 89*time.Minute, 1), steps(90*time.Minute, 94*time.Minute, 0),
				steps(95*time.Minute, 99*time.Minute, 0), []sample{{100 * time.Minute, 1}}, steps(101*time.Minute, 105*time.Minute, 0), []sample{{last, 0}}),
			native: slices.Concat([]sample{{89 * time.Minute, 0}}, steps(90*time.Minute, 94*time.Minute, 1),
				steps(96*time.Minute, 100*time.Minute, 1), steps(101*time.Minute, 105*time.Minute, 2), []sample{{last, 2}}),
			erinSt: {{150 * time.Minute, 0}, {last, 1}},
		}
		for series, w := range want {
			if g := got[series]; !slices.Equal(g, w) {
				t.Errorf("%s:\n got %v\nwant %v", series, g, w)
			}
		}
	})
	t.Run("dense", func(t *testing.T) {
		got := backfillBlocks(t, events, 0)
		want := slices.Concat([]sample{{0, 0}}, steps(time.Minute, 99*time.Minute, 1), steps(100*time.Minute, 150*time.Minute, 2), []sample{{last, 2}})
		if g := got[started]; !slices.Equal(g, want) {
			t.Errorf("%s:\n got %v\nwant %v", started, g, want)
		}
		if n := len(got[native]); n != 150-89+2 {
			t.Errorf("native histogram: %d samples, want one a step from its first and at the last event", n)
		}
	})
}
