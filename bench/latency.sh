#!/usr/bin/env bash
# Ack latency, one command: `bench/latency.sh` (issue 13, "bounded ack latency").
#  1. Throughput: 200 mutual-TLS probe streams, each keeping 32 statuses unacknowledged, every
#     ack durable; median of RUNS runs on one collector. Each run sends under a spool id of its
#     own, so no run is answered as re-sends of an earlier one (dedup writes no history).
#  2. Ack latency at half that rate on a fresh store: RUNS runs, each printed, the median-p99 one
#     kept.
#  3. A week of history for the latency run's sites: SITES sites x 288 statuses a day (one every
#     5 minutes) x 7 days, written with the collector stopped through the collector's own Writer
#     (`ingest_load week`: a manual clock walks the week, so the store holds the keys, full
#     statuses and heartbeats such probes would have left, folded into blocks by the hourly prune
#     pass run at each simulated hour as the collector runs it; the same bytes as the real ingest
#     path minus TLS and gRPC, in seconds instead of a week).
#  4. Ack latency at the same rate again, the same collector binary on that store.
# `[ingest]` is set generously (the per-site token bucket would otherwise refuse the throughput
# runs and measure the limiter). The collector logs a `group commit` line per second (debug):
# the slowest write, sled flush, wait for the flusher and arrival-to-ack within the collector;
# the script prints their maxima per phase, beside the load generator's own send lag (how late
# it sent against its schedule: its share of the 2 shared cores). Load average at each phase.
# PIN=1 pins the collector to CPU 0 and the load generator to CPU 1 (taskset).
set -euo pipefail
cd "$(dirname "$0")/.."

ulimit -n "$(ulimit -Hn)"
STREAMS=${STREAMS:-200}
RUNS=${RUNS:-3}
SITES=${SITES:-200}
SPAN_DAYS=${SPAN_DAYS:-7}
PIN=${PIN:-0}
# COMPRESSION=true: the collector creates its stores with `[store] compression = true` (the
# key is left out otherwise, as in bench/collector.sh).
STORE_TOML=
[ "${COMPRESSION:-false}" = true ] && STORE_TOML=$'[store]\ncompression = true'

echo "== machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
cargo build --release --locked -q -p vigia-collector --bin vigia-collector --example ingest_load
# COLLECTOR_BIN runs another collector binary (an earlier build, for a before/after).
BIN=${COLLECTOR_BIN:-$PWD/target/release/vigia-collector}
LOAD=$PWD/target/release/examples/ingest_load
C_PIN=()
L_PIN=()
if [ "$PIN" = 1 ]; then
  C_PIN=(taskset -c 0)
  L_PIN=(taskset -c 1)
fi
load() { "${L_PIN[@]}" "$LOAD" "$@"; }

WORK=$(mktemp -d)
COLLECTOR=
cleanup() {
  if [ -n "$COLLECTOR" ]; then kill -TERM "$COLLECTOR" 2>/dev/null || true; fi
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
field() { awk -v k="$1" '$1==k {print $2}'; }
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }

load setup --dir "$WORK"

start_collector() { # data-dir-name
  PORT=$(free_port)
  cat > "$WORK/collector.toml" <<TOML
listen = "127.0.0.1:$PORT"
data_dir = "$WORK/$1"
shutdown_grace = "2s"
[tls]
ca = "$WORK/certs/ca.pem"
cert = "$WORK/certs/server.pem"
key = "$WORK/certs/server.key"
[ingest]
statuses_per_minute = 100000000
burst = 100000000
$STORE_TOML
TOML
  : > "$WORK/collector.log"
  VIGIA_LOG=warn,vigia_collector::writer=debug "${C_PIN[@]}" "$BIN" --config "$WORK/collector.toml" run 2>>"$WORK/collector.log" &
  COLLECTOR=$!
}
stop_collector() {
  kill -TERM "$COLLECTOR"
  wait "$COLLECTOR" || true
  COLLECTOR=
}
# The collector's own figures since line $1 of its log: the maxima over the group-commit lines.
collector_maxima() {
  tail -n +"$(($1 + 1))" "$WORK/collector.log" | { grep 'group commit' || true; } | awk '
    { for (i = 1; i <= NF; i++) { split($i, kv, "="); if (kv[1] ~ /_max_us$/ && kv[2] + 0 > m[kv[1]]) m[kv[1]] = kv[2] + 0 }
      for (i = 1; i <= NF; i++) { split($i, kv, "="); if (kv[1] == "ack_max_us" && kv[2] + 0 > 50000) slow++ } n++ }
    END { printf "collector (%d s logged): write_max %.1f ms, flush_max %.1f ms, wait_max %.1f ms, ack_max %.1f ms, seconds with an ack over 50 ms: %d\n",
          n, m["write_max_us"] / 1000, m["flush_max_us"] / 1000, m["wait_max_us"] / 1000, m["ack_max_us"] / 1000, slow }'
}
# Latency runs at $1 statuses/s on the running collector; sets LAT (the median-p99 run) and LATC.
latency_runs() {
  local rows=() out line
  local mark
  mark=$(wc -l < "$WORK/collector.log")
  for i in $(seq "$RUNS"); do
    out=$(load latency --dir "$WORK" --addr "127.0.0.1:$PORT" --streams "$STREAMS" --rate "$1" --timeline 2>"$WORK/timeline.$i")
    line="p50 $(echo "$out" | field p50_ms) p99 $(echo "$out" | field p99_ms) max $(echo "$out" | field max_ms) ms, achieved $(echo "$out" | field acks_per_s)/s, generator send lag p99 $(echo "$out" | field send_lag_p99_ms) max $(echo "$out" | field send_lag_max_ms) ms, load $(loadavg)"
    echo "   run $i: $line"
    sed 's/^/      /' "$WORK/timeline.$i"
    rows+=("$(echo "$out" | field p99_ms) $line")
  done
  LAT=$(printf '%s\n' "${rows[@]}" | sort -n | sed -n "$(((RUNS + 1) / 2))p" | cut -d' ' -f2-)
  LATC=$(collector_maxima "$mark")
  echo "   $LATC"
}

echo "== throughput: $STREAMS mTLS probe streams, every ack durable (load $(loadavg))"
start_collector data-tput
TPUT=()
for i in $(seq "$RUNS"); do
  v=$(load throughput --dir "$WORK" --addr "127.0.0.1:$PORT" --streams "$STREAMS" | field acks_per_s)
  echo "   run $i: $v acks/s (load $(loadavg))"
  TPUT+=("$v")
done
stop_collector
TPUT_MED=$(printf '%s\n' "${TPUT[@]}" | median)
RATE=$((TPUT_MED / 2))
echo "   median: $TPUT_MED acks/s; store after the runs: $(du -sh "$WORK/data-tput" | cut -f1)"

echo "== ack latency at half that rate, $RATE statuses/s, fresh store (load $(loadavg))"
start_collector data-lat
FRESH_LOAD=$(loadavg)
latency_runs "$RATE"
FRESH=$LAT
FRESH_C=$LATC
stop_collector
FRESH_SIZE=$(du -sh "$WORK/data-lat" | cut -f1)

echo "== a week of history: $SITES sites x $((86400 / 300)) statuses/day x $SPAN_DAYS days through the collector's Writer (load $(loadavg))"
WEEK_OUT=$(load week --data "$WORK/data-lat" --sites "$SITES" --prefix lat --span-days "$SPAN_DAYS" --interval 300)
echo "$WEEK_OUT" | sed 's/^/   /'
WEEK_SIZE=$(du -sh "$WORK/data-lat" | cut -f1)

echo "== ack latency at $RATE statuses/s on the store holding the week ($WEEK_SIZE; load $(loadavg))"
start_collector data-lat
WEEK_LOAD=$(loadavg)
latency_runs "$RATE"
WEEK=$LAT
WEEK_C=$LATC
stop_collector

echo
echo "== summary (p99 target: 50 ms)"
echo "throughput (median of $RUNS): $TPUT_MED acks/s; latency runs at half of it, $RATE/s, the run with the median p99 of $RUNS:"
echo "fresh store ($FRESH_SIZE after, load at start $FRESH_LOAD): $FRESH"
echo "   $FRESH_C"
echo "store with $SPAN_DAYS days of $SITES sites ($WEEK_SIZE, $(echo "$WEEK_OUT" | field week_statuses) statuses written in $(echo "$WEEK_OUT" | field week_s) s; load at start $WEEK_LOAD): $WEEK"
echo "   $WEEK_C"
echo "load average after: $(loadavg)"
