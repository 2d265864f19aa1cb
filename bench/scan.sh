#!/usr/bin/env bash
# The scanner benchmark (issue 3), one command:  bash bench/scan.sh
#
# Builds synthetic recording trees of FILES files (default 200,000) in each vendor layout and in
# two shapes (SHAPES, default "few many"): `few`, 35 days x 8 cameras (few big folders), and
# `many`, 130 days x 32 cameras (iVMS: 4,160 folders of 48 files), with mtimes set, plus trees ten
# times smaller, then compares in one run, warm page cache, median of RUNS runs (default 7) each:
#   - `vigia-probe scan` (release build, full scan, no cache),
#   - GNU `find ROOT -type f -printf '%T@\n'`,
#   - bench/baselines/old_scan.py, what the old tool did (os.listdir + os.path.getmtime into a
#     list, then min, max and a set of dates),
#   - `vigia-probe scan --cache FILE` on the unchanged tree plus one new file in today's folder,
# the mean CPU time (user + system) of the full scan and of the rescan (a loaded machine moves it
# much less than the wall time), and peak RSS (/usr/bin/time -v) of the full scan on both tree
# sizes and of the rescan.
# Prints a Markdown table (also written to $BENCH_DIR/results.md).
# BASE_BIN=/path/to/an/earlier/vigia-probe adds that binary to the same hyperfine runs (full scan
# and rescan, each with its own cache file: the two builds' cache formats may differ) and prints
# a second table, before/after side by side with the ratios after/before and the load average at
# each row (written to $BENCH_DIR/compare.md). Without it the script runs as it always did.
set -euo pipefail
cd "$(dirname "$0")/.."

FILES=${FILES:-200000}
SMALL=$((FILES / 10))
RUNS=${RUNS:-7}
WORK=${BENCH_DIR:-/tmp/vigia-bench-scan}
LAYOUTS=${LAYOUTS:-"intelbras digifort ivms"}
SHAPES=${SHAPES:-"few many"}

shape_args() { # shape -> days cameras
    case $1 in
        few) echo "35 8" ;;
        many) echo "130 32" ;;
        *) echo "unknown shape $1" >&2; exit 2 ;;
    esac
}

need() { command -v "$1" >/dev/null 2>&1; }
if ! need hyperfine || [ ! -x /usr/bin/time ]; then
    apt-get update -qq && apt-get install -y -qq hyperfine time >/dev/null
fi
need python3 || { echo "python3 is needed for the tree builder and the baseline" >&2; exit 1; }

cargo build --release -q -p vigia-probe
BIN=$PWD/target/release/vigia-probe
BASE_BIN=${BASE_BIN:-}
mkdir -p "$WORK"

tree() { # layout files shape -> root (built once, reused while the file count matches)
    local root="$WORK/$1-$2"
    [ "$3" = few ] || root="$WORK/$1-$3-$2"
    if [ "$(cat "$root.done" 2>/dev/null)" != "$2" ]; then
        rm -rf "$root" "$root.done"
        echo "building $root ..." >&2
        # shellcheck disable=SC2046
        python3 bench/scan_tree.py "$1" "$root" "$2" $(shape_args "$3")
        echo "$2" >"$root.done"
    fi
    echo "$root"
}

config() { # layout root -> config file
    local cfg="$WORK/$1-$(basename "$2").toml"
    printf 'site = "bench"\n[[recorder]]\nid = "r"\ntechnology = "%s"\npath = "%s"\n' "$1" "$2" >"$cfg"
    echo "$cfg"
}

recording_ext() { # layout -> the extension of its recordings
    case $1 in
        intelbras) echo dav ;;
        digifort) echo dar ;;
        ivms) echo mp4 ;;
    esac
}

today_dir() { # layout root -> the folder a recorder writes into now
    case $1 in
        intelbras) date +"$2/%Y/%m/%d" ;;
        digifort) echo "$2/cam01/Dados" ;;
        ivms) date +"$2/%Y-%m-%d/cam01" ;;
    esac
}

median_ms() { # hyperfine json, command index -> median in ms
    python3 -c 'import json,sys; r=json.load(open(sys.argv[1]))["results"][int(sys.argv[2])]; print("%.1f" % (r["median"]*1000))' "$1" "$2"
}

cpu_ms() { # hyperfine json, command index -> mean CPU time (user + system) in ms: on a loaded
    # machine it moves much less than the wall time, which waits for the cores
    python3 -c 'import json,sys; r=json.load(open(sys.argv[1]))["results"][int(sys.argv[2])]; print("%.1f" % ((r["user"]+r["system"])*1000))' "$1" "$2"
}

rss_of() { # command... -> median peak RSS (MB) of 3 runs, from /usr/bin/time -v
    local f
    f=$(mktemp)
    local vals=()
    for _ in 1 2 3; do
        /usr/bin/time -v -o "$f" "$@" >/dev/null 2>&1
        vals+=("$(awk '/Maximum resident/ {print $6}' "$f")")
    done
    rm -f "$f"
    printf '%s\n' "${vals[@]}" | sort -n | sed -n 2p | awk '{printf "%.1f", $1/1024}'
}

rows=()
crows=()
for shape in $SHAPES; do
for layout in $LAYOUTS; do
    big=$(tree "$layout" "$FILES" "$shape")
    small=$(tree "$layout" "$SMALL" "$shape")
    cfg=$(config "$layout" "$big")
    cfg_small=$(config "$layout" "$small")
    json="$WORK/$layout-$shape-full.json"
    base_full=()
    [ -z "$BASE_BIN" ] || base_full=(-n before "$BASE_BIN --config $cfg scan")
    load_full=$(cut -d' ' -f1-3 /proc/loadavg)
    hyperfine -N --style basic --warmup 2 --runs "$RUNS" --export-json "$json" \
        -n vigia "$BIN --config $cfg scan" \
        -n find "find $big -type f -printf %T@\\n" \
        -n old "python3 bench/baselines/old_scan.py $layout $big" "${base_full[@]}" >&2

    cache="$WORK/$layout-$shape.cache"
    rm -rf "$cache" "$cache".*
    "$BIN" --config "$cfg" scan --cache "$cache" >/dev/null
    today=$(today_dir "$layout" "$big")
    mkdir -p "$today"
    ijson="$WORK/$layout-$shape-incremental.json"
    base_inc=()
    if [ -n "$BASE_BIN" ]; then
        base_cache="$WORK/$layout-$shape-before.cache"
        rm -rf "$base_cache" "$base_cache".*
        "$BASE_BIN" --config "$cfg" scan --cache "$base_cache" >/dev/null
        base_inc=(-n before "$BASE_BIN --config $cfg scan --cache $base_cache")
    fi
    load_inc=$(cut -d' ' -f1-3 /proc/loadavg)
    hyperfine -N --style basic --warmup 2 --runs "$RUNS" --export-json "$ijson" \
        --prepare "python3 -c 'import sys,time; open(sys.argv[1] + \"/bench-%d.\" % time.time_ns() + sys.argv[2], \"w\")' $today $(recording_ext "$layout")" \
        -n incremental "$BIN --config $cfg scan --cache $cache" "${base_inc[@]}" >&2
    if [ -n "$BASE_BIN" ]; then
        crows+=("$(python3 - "$layout" "$shape" "$json" "$ijson" "$load_full" "$load_inc" \
            "$(rss_of "$BIN" --config "$cfg" scan)" "$(rss_of "$BASE_BIN" --config "$cfg" scan)" <<'PY'
import json, sys
l, sh, fj, ij, lf, li, ra, rb = sys.argv[1:]
f = json.load(open(fj))["results"]
i = json.load(open(ij))["results"]
med = lambda r: r["median"] * 1000
cpu = lambda r: (r["user"] + r["system"]) * 1000
fa, fb, ia, ib = f[0], f[3], i[0], i[1]
print(f"| {l} | {sh} | {med(fb):.0f} | {med(fa):.0f} | **{med(fa)/med(fb):.2f}** | {cpu(fb):.0f} | {cpu(fa):.0f} | {cpu(fa)/cpu(fb):.2f} | {lf} "
      f"| {med(ib):.1f} | {med(ia):.1f} | **{med(ia)/med(ib):.2f}** | {cpu(ib):.1f} | {cpu(ia):.1f} | {cpu(ia)/cpu(ib):.2f} | {li} | {rb} | {ra} |")
PY
)")
    fi

    v=$(median_ms "$json" 0); f=$(median_ms "$json" 1); o=$(median_ms "$json" 2)
    i=$(median_ms "$ijson" 0)
    vc=$(cpu_ms "$json" 0); ic=$(cpu_ms "$ijson" 0)
    r_big=$(rss_of "$BIN" --config "$cfg" scan)
    r_small=$(rss_of "$BIN" --config "$cfg_small" scan)
    r_inc=$(rss_of "$BIN" --config "$cfg" scan --cache "$cache")
    r_find=$(rss_of find "$big" -type f -printf '%T@\n')
    r_old=$(rss_of python3 bench/baselines/old_scan.py "$layout" "$big")
    folders=$(find "$big" -type d | wc -l)
    # What one more rescan writes: the growth of the cache's files (the journal and the heap are
    # appended to; the base is rewritten only when the journal has outgrown it).
    before=$(du -sb "$cache" "$cache".* 2>/dev/null | awk '{s+=$1} END {print s+0}')
    python3 -c 'import sys,time; open(sys.argv[1] + "/bench-%d." % time.time_ns() + sys.argv[2], "w")' "$today" "$(recording_ext "$layout")"
    "$BIN" --config "$cfg" scan --cache "$cache" >/dev/null
    after=$(du -sb "$cache" "$cache".* 2>/dev/null | awk '{s+=$1} END {print s+0}')
    rows+=("$(python3 - "$layout" "$shape" "$folders" "$v" "$f" "$o" "$i" "$r_big" "$r_small" "$r_inc" "$r_find" "$r_old" "$before" "$after" "$vc" "$ic" <<'PY'
import sys
l, sh, nd, v, f, o, i, rb, rs, ri, rf, ro, b, a, vc, ic = sys.argv[1:]
v, f, o, i, vc, ic = map(float, (v, f, o, i, vc, ic))
print(f"| {l} | {sh} | {nd} | {v:.0f} | {f:.0f} | {o:.0f} | **{v/f:.2f}** | {o/v:.1f}× | {i:.1f} | **{v/i:.0f}×** | {vc:.0f} / {ic:.1f} = {vc/ic:.0f}× | {rb} | {rs} | {ri} | {rf} | {ro} | {int(b)//1024} | {int(a)-int(b):+d} |")
PY
)")
    # Leave the tree as it was: remove the files the incremental runs added.
    find "$today" -name 'bench-*' -delete
    [ -z "$BASE_BIN" ] || rm -rf "$base_cache" "$base_cache".*
done
done

{
    echo "Machine: $(nproc) cores, $(uname -sr), $(date -u +%Y-%m-%dT%H:%MZ), load average $(cut -d' ' -f1-3 /proc/loadavg)."
    echo "Trees: $FILES files per layout and shape (few: 35 days x 8 cameras; many: 130 days x 32 cameras), small trees $SMALL files; median of $RUNS runs, warm cache."
    echo
    echo "| layout | shape | folders | vigia full (ms) | find (ms) | old tool (ms) | vigia/find | old/vigia | rescan (ms) | full/rescan | CPU full / rescan (ms) | RSS full (MB) | RSS full, 10× smaller (MB) | RSS rescan (MB) | RSS find (MB) | RSS old (MB) | cache (KB) | bytes written by a rescan |"
    echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
    printf '%s\n' "${rows[@]}"
} | tee "$WORK/results.md"

if [ -n "$BASE_BIN" ]; then
    echo
    {
        echo "Before/after in the same hyperfine runs: before = $BASE_BIN, after = $BIN; median of $RUNS runs (wall ms), mean CPU user + system (ms), load average at the start of each hyperfine run; ratio = after/before (below 1: after is faster)."
        echo
        echo "| layout | shape | full before | full after | after/before | CPU full before | CPU full after | CPU ratio | load (full) | rescan before | rescan after | after/before | CPU rescan before | CPU rescan after | CPU ratio | load (rescan) | RSS full before (MB) | RSS full after (MB) |"
        echo "|---|---|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---|---:|---:|"
        printf '%s\n' "${crows[@]}"
    } | tee "$WORK/compare.md"
fi
