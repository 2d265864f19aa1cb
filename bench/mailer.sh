#!/usr/bin/env bash
# Mailer benchmark, one command: `bench/mailer.sh`.
#  1. Render the whole digest (HTML body, complete report, text part, CSV) for 10,000 sites: median of 21 runs, against the 100 ms target.
#  2. The HTML body size for 1,000 and 300 sites (and the attachments), against Gmail's 102 KB clip.
#  3. Side by side: the old tool's approach (bench/baselines/mailer_digest.py, the same table by
#     string concatenation in Python) on the same exported fleets.
# BASE_BENCH=/path/to/an/earlier/build/of/the/render/bench/binary (for instance from
# `cargo bench --no-run -p vigia-mailer --bench render` in a worktree of an older commit) instead
# runs that binary ("before") and this tree's ("after") alternately, ROUNDS times each (default
# 5), and prints the medians of their 10,000-site render medians, the ratio after/before and the
# load average at each run. Without it the script runs as it always did.
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
echo "== machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
if [ -n "${BASE_BENCH:-}" ]; then
  AFTER_BENCH=$(cargo bench --no-run --locked -q -p vigia-mailer --bench render --message-format=json |
    python3 -c 'import json,sys
for l in sys.stdin:
    m = json.loads(l)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "render" and m.get("executable"):
        print(m["executable"])')
  ROUNDS=${ROUNDS:-5}
  echo "== render before/after, $ROUNDS alternating rounds (each binary: 21 renders per fleet, median)"
  echo "   before: $BASE_BENCH"
  echo "   after:  $AFTER_BENCH"
  for round in $(seq "$ROUNDS"); do
    order="after before"
    [ $((round % 2)) = 0 ] && order="before after"
    for which in $order; do
      exe=$AFTER_BENCH
      [ "$which" = before ] && exe=$BASE_BENCH
      load=$(cut -d' ' -f1-3 /proc/loadavg)
      # Run from the package's folder, as cargo bench does.
      (cd mailer && "$exe") >"$WORK/$which-$round.txt"
      echo "$which $round $load" >>"$WORK/runs"
      echo "   round $round, $which (load $load): 10,000 sites 10% / all problems $(grep -E '^10,000 sites' "$WORK/$which-$round.txt" | awk '{print $5}' | paste -sd' ')"
    done
  done
  python3 - "$WORK" <<'PY'
import statistics, sys
work = sys.argv[1]
labels = ["10,000 sites, 10% problems", "10,000 sites, all problems"]
runs = [l.split(" ", 2) for l in open(work + "/runs").read().splitlines()]
ms = {(w, lab): [] for w in ("before", "after") for lab in labels}
for which, rnd, _ in runs:
    for line in open(f"{work}/{which}-{rnd}.txt"):
        for lab in labels:
            if line.startswith(lab):
                ms[(which, lab)].append(float(line[len(lab):].split()[0].rstrip("ms")))
print()
print(f"== summary (median of {len(runs) // 2} runs each, each run itself the median of 21 renders)")
print("| fleet | before (ms) | after (ms) | after/before | before runs | after runs |")
print("|---|---:|---:|---:|---|---|")
for lab in labels:
    b, a = statistics.median(ms[("before", lab)]), statistics.median(ms[("after", lab)])
    fmt = lambda v: ", ".join(f"{x:.1f}" for x in v)
    print(f"| {lab} | {b:.1f} | {a:.1f} | {a / b:.2f} | {fmt(ms[('before', lab)])} | {fmt(ms[('after', lab)])} |")
print("load average per run: " + "; ".join(f"{w} {r}: {l}" for w, r, l in runs))
PY
  echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
  exit 0
fi
cargo bench --locked -q -p vigia-mailer --bench render -- --export "$WORK"
echo
PY=python3
[ -x /usr/bin/python3 ] && PY=/usr/bin/python3
"$PY" bench/baselines/mailer_digest.py "$WORK/fleet-10000.json" "$WORK/fleet-300.json" "${RUNS:-5}" "$WORK/vigia-10000-ms.txt"
