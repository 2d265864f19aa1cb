#!/usr/bin/env bash
# Probe spool benchmark, one command: `bench/probe_spool.sh [STATUSES] [RUNS]`.
#  1. Spool push: statuses per second taken by the on-disk spool (each one written to a temporary
#     file, fsynced, renamed, the folder fsynced, and the state file likewise).
#  2. Backlog drain: a spool of STATUSES (an outage's worth) delivered to a real collector on
#     loopback (mutual TLS, every ack durable in sled), with the daemon's window of 64
#     unacknowledged statuses, side by side with stop-and-wait (window 1, one round trip per
#     status, as the old tool POSTed its reports), alternating runs; medians and the ratio.
# Collector and probe run in one process (probe/examples/spool_drain.rs) on the same machine.
set -euo pipefail
cd "$(dirname "$0")/.."
echo "== machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
cargo build --release --locked -q -p vigia-probe --example spool_drain
VIGIA_LOG=warn ./target/release/examples/spool_drain "${1:-5000}" "${2:-3}"
