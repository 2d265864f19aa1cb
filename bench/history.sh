#!/usr/bin/env bash
# History benchmark, one command: `bench/history.sh`.
# Ingests DAYS simulated days of 5-minute reports for SITES sites (one recorder, CAMERAS cameras,
# rolling 30-day retention: new recordings every scan, a new day at midnight, one camera stopping
# for six hours and recovering, one day deleted) through the collector's Writer on a manual
# clock (collector/examples/history_load.rs), then reports the store's size per site-day: bytes
# on disk (du of the sled folder after a flush) and logical bytes (keys + values of every tree).
# Side by side in one run:
#   beats - heartbeats only, never thinned (the collector before history thinning);
#   thin  - the same stream with the periodic prune pass (thin::compact, default [history]:
#           full_for 7d, hourly_for 30d) run every simulated hour, as the collector runs it;
# beats and thin on a store without sled's page compression for the store's own tree (off, the
# default; the archive, where the pass moves history past its first hour, is always
# compressed), and thin again with it on (`[store] compression = true`);
# and, from the statuses' encoded size, what storing every status in full (layout 1) takes.
set -euo pipefail
cd "$(dirname "$0")/.."

SITES=${SITES:-100}
DAYS=${DAYS:-30}
CAMERAS=${CAMERAS:-8}

echo "== machine: $(nproc) cores, load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
cargo build --release --locked -q -p vigia-collector --example history_load
LOAD=$PWD/target/release/examples/history_load
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

for run in beats:off:off thin:off:off thin:on:off; do
    IFS=: read -r mode compression idle <<<"$run"
    "$LOAD" --dir "$WORK/$mode" --sites "$SITES" --days "$DAYS" --cameras "$CAMERAS" --mode "$mode" --compression "$compression" --gc-idle "$idle"
    echo "   du -sk: $(du -sk "$WORK/$mode" | cut -f1) KiB; load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
    rm -rf "${WORK:?}/$mode"
done
