#!/usr/bin/env bash
# Collector benchmarks, one command: `bench/collector.sh`.
#  1. Ingest (statuses of 16 cameras x 90 days with per-camera day bitmaps): statuses acknowledged per second (each ack = durable in sled) from 200 concurrent
#     mutual-TLS probe streams on loopback (median of 3 runs), then p50/p99 ack latency at half
#     that rate; side by side with the old design (Flask + waitress, JSON POST into a dict, no TLS,
#     not durable) driven at its best client concurrency (median of 5 runs at that concurrency).
#     Also the latency at fixed rates of 5,000/s and 10,000/s (SWEEP_RATES).
#  2. Connections: 10,000 concurrent idle probe streams (one TLS connection each); the
#     collector's RSS before and after, and bytes per stream.
# The load generator (collector/examples/ingest_load.rs) runs on the same machine.
# Each throughput and latency run sends under a spool id of its own: runs re-using the sites
# and sequence numbers of an earlier run on the same collector were answered as re-sends (dedup,
# no history written), which inflated every run after the first. The ack-latency runs on a fresh
# store and on one holding a week of history are bench/latency.sh.
# BASE_BIN=/path/to/an/earlier/vigia-collector compares ingest throughput only, that binary
# ("before") against this tree's ("after"), driven by this tree's load generator (the same
# client for both): ROUNDS rounds (default 2), each starting one collector per binary on a fresh
# store for RUNS throughput runs, the order alternating between rounds so neither side always
# runs on the warmer or quieter machine; medians, the ratio after/before and the load average of
# every run, then it exits (the latency, Flask and idle sections measure the current build only).
# Without it the script runs as it always did.
set -euo pipefail
cd "$(dirname "$0")/.."

ulimit -n "$(ulimit -Hn)"
STREAMS=${STREAMS:-200}
IDLE=${IDLE:-10000}
RUNS=${RUNS:-3}

echo "== machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), open files $(ulimit -n)"
echo "== load average before: $(cut -d' ' -f1-3 /proc/loadavg) (other work on the machine skews every figure)"
cargo build --release --locked -q -p vigia-collector --bin vigia-collector --example ingest_load
BIN=$PWD/target/release/vigia-collector
LOAD=$PWD/target/release/examples/ingest_load
BASE_BIN=${BASE_BIN:-}
# COMPRESSION=true: the collectors create their stores with `[store] compression = true` (the
# key is left out otherwise, so that a BASE_BIN from before it reads the same file).
STORE_TOML=
[ "${COMPRESSION:-false}" = true ] && STORE_TOML=$'[store]\ncompression = true'

WORK=$(mktemp -d)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
field() { awk -v k="$1" '$1==k {print $2}'; }

"$LOAD" setup --dir "$WORK"

# Statuses carry 16 cameras and 90 days, each camera with its day bitmap (the default shape of
# ingest_load); the sizes say what the per-camera fields cost.
echo "== status size (encoded protobuf)"
echo "   4 cameras, 30 days, before per-camera days: $("$LOAD" size --cameras 4 --days 30 --legacy | field status_bytes) B"
echo "   16 cameras, 90 days, before per-camera days: $("$LOAD" size --legacy | field status_bytes) B"
echo "   16 cameras, 90 days, with per-camera days:   $("$LOAD" size | field status_bytes) B"

start_collector() { # data-dir-name port [binary, default $BIN]
  cat > "$WORK/collector.toml" <<TOML
listen = "127.0.0.1:$2"
data_dir = "$WORK/$1"
shutdown_grace = "2s"
[tls]
ca = "$WORK/certs/ca.pem"
cert = "$WORK/certs/server.pem"
key = "$WORK/certs/server.key"
# Generous: the per-site token bucket (default 120/min, burst 10,000) must not refuse the
# throughput runs, or they measure the limiter instead of the store.
[ingest]
statuses_per_minute = 100000000
burst = 100000000
$STORE_TOML
TOML
  VIGIA_LOG=warn "${3:-$BIN}" --config "$WORK/collector.toml" run 2>>"$WORK/collector.log" &
  COLLECTOR=$!
  PIDS+=("$COLLECTOR")
}
stop_collector() {
  kill -TERM "$COLLECTOR"
  wait "$COLLECTOR" || true
}

if [ -n "$BASE_BIN" ]; then
  ROUNDS=${ROUNDS:-2}
  echo "== ingest before/after: $STREAMS mTLS probe streams, every ack durable; $ROUNDS rounds x $RUNS runs per binary"
  echo "   before: $BASE_BIN"
  echo "   after:  $BIN"
  echo "   load average at the start: $(cut -d' ' -f1-3 /proc/loadavg)"
  T_AFTER=()
  T_BEFORE=()
  for round in $(seq "$ROUNDS"); do
    order="after before"
    [ $((round % 2)) = 0 ] && order="before after"
    for which in $order; do
      bin=$BIN
      [ "$which" = before ] && bin=$BASE_BIN
      PORT=$(free_port)
      start_collector "data-$which-$round" "$PORT" "$bin"
      for i in $(seq "$RUNS"); do
        v=$("$LOAD" throughput --dir "$WORK" --addr "127.0.0.1:$PORT" --streams "$STREAMS" | field acks_per_s)
        echo "   round $round, $which, run $i: $v acks/s (load $(cut -d' ' -f1-3 /proc/loadavg))"
        if [ "$which" = before ]; then T_BEFORE+=("$v"); else T_AFTER+=("$v"); fi
      done
      stop_collector
      rm -rf "${WORK:?}/data-$which-$round"
    done
  done
  MED_A=$(printf '%s\n' "${T_AFTER[@]}" | median)
  MED_B=$(printf '%s\n' "${T_BEFORE[@]}" | median)
  echo
  echo "== summary (median of $((ROUNDS * RUNS)) runs each; load average at the end: $(cut -d' ' -f1-3 /proc/loadavg))"
  echo "| | before | after | after/before |"
  echo "|---|---:|---:|---:|"
  echo "| ingest, durable acks/s (median) | $MED_B | $MED_A | $(awk -v a="$MED_A" -v b="$MED_B" 'BEGIN {printf "%.2f", a/b}') |"
  echo "| runs (acks/s) | $(echo "${T_BEFORE[@]}" | sed 's/ /, /g') | $(echo "${T_AFTER[@]}" | sed 's/ /, /g') | |"
  exit 0
fi

echo "== ingest: $STREAMS mTLS probe streams, every ack durable"
PORT=$(free_port)
start_collector data-ingest "$PORT"
TPUT=()
for i in $(seq "$RUNS"); do
  out=$("$LOAD" throughput --dir "$WORK" --addr "127.0.0.1:$PORT" --streams "$STREAMS")
  v=$(echo "$out" | field acks_per_s)
  echo "   run $i: $v acks/s"
  TPUT+=("$v")
done
TPUT_MED=$(printf '%s\n' "${TPUT[@]}" | median)
RATE=$((TPUT_MED / 2))
echo "   median: $TPUT_MED acks/s"
stop_collector
echo "   store size after the throughput runs: $(du -sh "$WORK/data-ingest" | cut -f1)"
# A fresh store for the latency runs, so sled's clean-up of the throughput burst is not measured.
PORT=$(free_port)
start_collector data-latency "$PORT"
echo "== ack latency at half that rate ($RATE statuses/s over $STREAMS streams)"
P99=()
for i in $(seq "$RUNS"); do
  out=$("$LOAD" latency --dir "$WORK" --addr "127.0.0.1:$PORT" --streams "$STREAMS" --rate "$RATE")
  echo "   run $i: $(echo "$out" | tr '\n' ' ')"
  P99+=("$(echo "$out" | field p99_ms) $(echo "$out" | tr '\n' ' ')")
done
# The run with the median p99, reported whole.
LAT=$(printf '%s\n' "${P99[@]}" | sort -n | sed -n "$(( (RUNS + 1) / 2 ))p" | cut -d' ' -f2- | tr ' ' '\n' | paste - - -d' ')
SWEEP_RATES=${SWEEP_RATES:-5000 10000}
LSWEEP=""
for r in $SWEEP_RATES; do
  echo "== ack latency at a fixed $r statuses/s (the issue's 10,000/s target and half of it)"
  out=$("$LOAD" latency --dir "$WORK" --addr "127.0.0.1:$PORT" --streams "$STREAMS" --rate "$r")
  echo "$out" | sed 's/^/   /'
  LSWEEP="$LSWEEP
collector ack latency at $r/s: p50 $(echo "$out" | field p50_ms) ms, p99 $(echo "$out" | field p99_ms) ms, achieved $(echo "$out" | field acks_per_s)/s"
done
stop_collector

echo "== baseline: Flask + waitress, JSON POST into a dict (no TLS, not durable)"
python3 -m pip install -q flask waitress >/dev/null 2>&1 || python3 -m pip install -q --user flask waitress
FPORT=$(free_port)
python3 bench/baselines/flask_server.py "$FPORT" 4 2>>"$WORK/flask.log" &
FLASK=$!
PIDS+=("$FLASK")
for _ in $(seq 100); do
  python3 -c "import socket,sys; socket.create_connection(('127.0.0.1',$FPORT),1)" 2>/dev/null && break
  sleep 0.1
done
SWEEP=$("$LOAD" http --addr "127.0.0.1:$FPORT" --concurrency 1,2,4,8,16,32)
echo "$SWEEP" | sed 's/^/   /'
BEST_C=$(echo "$SWEEP" | field http_best_concurrency)
FL=()
for i in $(seq 5); do
  v=$("$LOAD" http --addr "127.0.0.1:$FPORT" --concurrency "$BEST_C" | field http_best_rps)
  echo "   run $i at concurrency $BEST_C: $v requests/s"
  FL+=("$v")
done
FLASK_MED=$(printf '%s\n' "${FL[@]}" | median)
kill -TERM "$FLASK"; wait "$FLASK" 2>/dev/null || true

echo "== $IDLE idle probe streams (one TLS connection each)"
PORT=$(free_port)
start_collector data-idle "$PORT"
IDLE_OUT=$("$LOAD" idle --dir "$WORK" --addr "127.0.0.1:$PORT" --conns "$IDLE" --pid "$COLLECTOR")
echo "$IDLE_OUT" | sed 's/^/   /'
stop_collector

echo
echo "== summary"
echo "collector ingest (median of $RUNS): $TPUT_MED acks/s"
echo "collector ack latency at $RATE/s (half; run with the median p99 of $RUNS): p50 $(echo "$LAT" | field p50_ms) ms, p99 $(echo "$LAT" | field p99_ms) ms, achieved $(echo "$LAT" | field acks_per_s)/s"
echo "${LSWEEP#?}"
echo "flask baseline (median of 5, concurrency $BEST_C): $FLASK_MED requests/s"
echo "ratio collector/flask: $(awk -v a="$TPUT_MED" -v b="$FLASK_MED" 'BEGIN {printf "%.1fx", a/b}')"
echo "idle streams: $(echo "$IDLE_OUT" | field idle_streams), RSS $(echo "$IDLE_OUT" | field rss_after_mib) MiB, $(echo "$IDLE_OUT" | field bytes_per_stream) bytes/stream"
echo "ListSites over those $(echo "$IDLE_OUT" | field idle_streams) sites in pages of 500 (median of 3): $(echo "$IDLE_OUT" | field list_sites_ms) ms, $(echo "$IDLE_OUT" | field list_sites_bytes) bytes, largest page $(echo "$IDLE_OUT" | field list_sites_largest_page_bytes) bytes"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
