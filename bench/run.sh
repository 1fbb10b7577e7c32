#!/usr/bin/env bash
# Times `exporter --once` against grep on the two workloads of the
# performance targets (docs/performance.md), in each wrapper, and measures
# the follow-mode latency and CPU use, then probes the running exporter
# (bench/probe). Usage: bench/run.sh [lines]   (default 1000000)
#
# Two greps: `grep -c ''` only counts newlines (about 25M lines/s on the
# reference machine), `grep -c $GREP_WORD` (default: session) searches every
# line for a word, at about the 9M lines/s the performance issue quotes for
# grep -c.
#
# Each time is the best of $RUNS runs (default 3), taken on a warm page cache.
# Needs GNU time (/usr/bin/time, Debian package "time") for the peak RSS.
set -euo pipefail
cd "$(dirname "$0")/.."

LINES=${1:-1000000}
RUNS=${RUNS:-3}
GREP_WORD=${GREP_WORD:-session}
LATENCY_N=${LATENCY_N:-200}

if [[ ! -x /usr/bin/time ]]; then
  echo "bench/run.sh needs GNU time: apt-get install -y time" >&2
  exit 1
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

echo "# $(date -u +%FT%TZ)  $(nproc) cores  $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')  $(free -g | awk '/^Mem:/{print $2" GiB"}')  $(go version | cut -d' ' -f3)"
# Built as the Dockerfile builds it: static, without symbols.
CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o "$tmp/exporter" ./cmd/exporter
go build -o "$tmp/loggen" ./cmd/loggen
go build -o "$tmp/latency" ./bench/latency
go build -o "$tmp/probe" ./bench/probe

# now_ns prints a monotonic-enough wall clock in nanoseconds.
now_ns() { date +%s%N; }

# best_of CMD... runs CMD $RUNS times, prints the fastest wall time in seconds.
# Output goes to a file, not /dev/null: GNU grep stops at the first match when
# its output is /dev/null, which would time nothing.
best_of() {
  local best='' t0 t1 d
  for ((r = 0; r < RUNS; r++)); do
    t0=$(now_ns)
    "$@" >"$tmp/best.out" 2>/dev/null
    t1=$(now_ns)
    d=$((t1 - t0))
    if [[ -z $best || $d -lt $best ]]; then best=$d; fi
  done
  awk -v ns="$best" 'BEGIN { printf "%.3f", ns / 1e9 }'
}

# sessions_for NOISE BIG: sessions that give about $LINES lines, from a
# sample of 1000 sessions.
sessions_for() {
  local sample
  sample=$("$tmp/loggen" -noise "$1" $2 -sessions 1000 | wc -l)
  echo $(((LINES * 1000 + sample / 2) / sample))
}

printf '%-6s %-7s %9s %7s %10s %7s %7s %8s %8s %7s %12s %8s\n' \
  workload wrapper lines MB exporter_s grep_s ratio grepw_s ratio_w vs_raw lines/s rss_MB
for wl in debug info; do
  case $wl in
    debug) noise=0.95 big='' ;;
    info) noise=0.6 big='-big' ;;
  esac
  sessions=$(sessions_for "$noise" "$big")
  echo "# $wl: loggen -noise $noise $big -sessions $sessions"
  raw_s=''
  for wrapper in raw docker cri; do
    f="$tmp/$wl-$wrapper.log"
    "$tmp/loggen" -noise "$noise" $big -sessions "$sessions" -wrapper "$wrapper" -o "$f"
    lines=$(grep -c '' "$f")
    mb=$(awk -v b="$(stat -c %s "$f")" 'BEGIN { printf "%.0f", b / 1e6 }')
    sync "$f"           # written back now, not while the runs are timed
    cat "$f" >/dev/null # warm the page cache
    # Check once that the exporter read the whole file, and take its peak RSS.
    /usr/bin/time -f %M -o "$tmp/rss" "$tmp/exporter" --once --input.path="$f" >"$tmp/out" 2>"$tmp/err"
    read_lines=$(awk '/^mirrord_exporter_log_lines_total\{/{print $2}' "$tmp/out")
    if [[ $read_lines != "$lines" ]]; then
      echo "exporter read $read_lines lines of $lines in $f" >&2
      exit 1
    fi
    rss_mb=$(awk '{ printf "%.1f", $1 / 1024 }' "$tmp/rss")
    exp_s=$(best_of "$tmp/exporter" --once --input.path="$f")
    grep_s=$(best_of grep -c '' "$f")
    grepw_s=$(best_of grep -c "$GREP_WORD" "$f")
    [[ $wrapper == raw ]] && raw_s=$exp_s
    awk -v wl="$wl" -v w="$wrapper" -v n="$lines" -v mb="$mb" -v e="$exp_s" -v g="$grep_s" -v gw="$grepw_s" -v raw="$raw_s" -v rss="$rss_mb" \
      'BEGIN { printf "%-6s %-7s %9d %7s %10.3f %7.3f %6.1fx %8.3f %7.1fx %6.2fx %12.0f %8s\n", wl, w, n, mb, e, g, e / g, gw, e / gw, e / raw, n / e, rss }'
    rm -f "$f"
  done
done

echo
"$tmp/latency" -exporter "$tmp/exporter" -n "$LATENCY_N"
"$tmp/latency" -exporter "$tmp/exporter" -n 20 -args=--no-input.inotify | sed 's/^/without inotify: /'
for rate in 1000 10000 100000; do
  "$tmp/latency" -exporter "$tmp/exporter" -rate "$rate" -duration 5s
done

echo
# The README's reliability figures: load, idle connections, hostile requests,
# stalled readers, SIGTERM (about 1 minute).
"$tmp/probe" -exporter "$tmp/exporter"
