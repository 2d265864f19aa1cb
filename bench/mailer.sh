#!/usr/bin/env bash
# Mailer benchmark, one command: `bench/mailer.sh`.
#  1. Render the digest (HTML + text) for 10,000 sites: median of 11 runs, against the 100 ms target.
#  2. The HTML size for 300 sites, against Gmail's 102 KB clipping limit.
#  3. Side by side: the old tool's approach (bench/baselines/mailer_digest.py, the same table by
#     string concatenation in Python) on the same exported fleets.
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
echo "== machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
cargo bench --locked -q -p vigia-mailer --bench render -- --export "$WORK"
echo
PY=python3
[ -x /usr/bin/python3 ] && PY=/usr/bin/python3
"$PY" bench/baselines/mailer_digest.py "$WORK/fleet-10000.json" "$WORK/fleet-300.json" "${RUNS:-5}" "$WORK/vigia-10000-ms.txt"
