#!/usr/bin/env bash
# Mailer benchmark, one command: `bench/mailer.sh`.
#  1. Render the whole digest (HTML body, complete report, text part, CSV) for 10,000 sites: median of 21 runs, against the 100 ms target.
#  2. The HTML body size for 1,000 and 300 sites (and the attachments), against Gmail's 102 KB clip.
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
