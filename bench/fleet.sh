#!/usr/bin/env bash
# Fleet benchmark, one command: `bench/fleet.sh` (SITES="10000 50000", RUNS=3 by default).
# For each fleet size: a store filled with one realistic status per site (90 days, 16 cameras,
# one site in ten late; `ingest_load fill`), a release collector serving it, then the mailer's
# morning digest end to end (`vigia-mailer preview`: ListSites in pages of 500, then the render)
# — wall time, the mailer's own CPU time (user + sys: the collector's paging is in the wall time,
# not here) and peak RSS, median of RUNS; then the complete report `preview` wrote beside the
# digest (attached, or too large to attach: `[digest] attachment_max_bytes`). The smaller fleet is the baseline the
# larger is read against: time and memory should grow no faster than the fleet.
# BASE_BIN=<an older vigia-collector> compares the collectors side by side: for each fleet,
# ROUNDS (default 2) rounds alternate the old and the new collector on the same store, each
# measuring RUNS digests; each line says which collector served it.
set -euo pipefail
cd "$(dirname "$0")/.."
SITES=${SITES:-"10000 50000"}
RUNS=${RUNS:-3}
# CACHE=<size> sets the collector's [store] cache_capacity; unset, the key is left out and the
# collector sizes its cache to the store it finds (1.5x its size on disk, 64MiB to 1GiB).
CACHE=${CACHE:-}
BASE_BIN=${BASE_BIN:-}
if [ -z "${ROUNDS:-}" ]; then
  if [ -n "$BASE_BIN" ]; then ROUNDS=2; else ROUNDS=1; fi
fi
WORK=$(mktemp -d)
COLLECTOR_PID=
cleanup() {
  [ -n "$COLLECTOR_PID" ] && kill "$COLLECTOR_PID" 2>/dev/null && wait "$COLLECTOR_PID" 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT
cargo build --release --locked -q -p vigia-collector -p vigia-mailer --bins
cargo build --release --locked -q -p vigia-collector --example ingest_load
BIN=target/release
echo "== machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg); collector cache_capacity ${CACHE:-unset (sized to the store)}"
"$BIN/vigia-collector" ca init --dir "$WORK/certs" >/dev/null
"$BIN/vigia-collector" ca issue --dir "$WORK/certs" server --dns localhost --ip 127.0.0.1 >/dev/null
"$BIN/vigia-collector" ca issue --dir "$WORK/certs" reader --name mailer >/dev/null
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
printf '%-8s %-10s %10s %12s %14s %14s %10s %12s %10s\n' sites collector fill_s digest_ms mailer_cpu_ms mailer_rss_mb html_kb report_kb csv_kb
for n in $SITES; do
  data="$WORK/data-$n"
  fill=$(target/release/examples/ingest_load fill --data "$data" --sites "$n" | awk '/^fill_s/ {print $2}')
  cat > "$WORK/collector.toml" <<TOML
listen = "127.0.0.1:$PORT"
data_dir = "$data"
[tls]
ca = "$WORK/certs/ca.pem"
cert = "$WORK/certs/server.pem"
key = "$WORK/certs/server.key"
TOML
  if [ -n "$CACHE" ]; then printf '[store]\ncache_capacity = "%s"\n' "$CACHE" >> "$WORK/collector.toml"; fi
  for _round in $(seq 1 "$ROUNDS"); do
    for which in ${BASE_BIN:+base} new; do
      if [ "$which" = base ]; then COLLECTOR=$BASE_BIN; else COLLECTOR=$BIN/vigia-collector; fi
      VIGIA_LOG=warn "$COLLECTOR" --config "$WORK/collector.toml" run 2>"$WORK/collector-$n.log" &
      COLLECTOR_PID=$!
      for _ in $(seq 1 100); do
        (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break
        sleep 0.1
      done
      cat > "$WORK/mailer.toml" <<TOML
state_dir = "$WORK/mailer-state"
timezone = "America/Sao_Paulo"
language = "pt-BR"
[collector]
url = "https://localhost:$PORT"
ca = "$WORK/certs/ca.pem"
cert = "$WORK/certs/mailer.pem"
key = "$WORK/certs/mailer.key"
timeout = "120s"
[smtp]
host = "localhost"
from = "Vigia <vigia@example.com>"
to = ["ops@example.com"]
TOML
      : > "$WORK/ms" ; : > "$WORK/rss" ; : > "$WORK/cpu"
      for _ in $(seq 1 "$RUNS"); do
        start=$(date +%s%N)
        /usr/bin/time -f '%U %S %M' -o "$WORK/time" "$BIN/vigia-mailer" --config "$WORK/mailer.toml" preview --out "$WORK/digest.html" >/dev/null
        end=$(date +%s%N)
        echo $(( (end - start) / 1000000 )) >> "$WORK/ms"
        read -r user sys rss < <(tail -n 1 "$WORK/time")
        echo $(( rss / 1024 )) >> "$WORK/rss"
        awk -v u="$user" -v s="$sys" 'BEGIN {printf "%d\n", (u + s) * 1000}' >> "$WORK/cpu"
      done
      kb() { if [ -f "$1" ]; then echo $(( $(stat -c %s "$1") / 1024 )); else echo -; fi; }
      printf '%-8s %-10s %10s %12s %14s %14s %10s %12s %10s\n' "$n" "$which" "$fill" "$(median < "$WORK/ms")" "$(median < "$WORK/cpu")" "$(median < "$WORK/rss")" \
        "$(kb "$WORK/digest.html")" "$(kb "$(ls "$WORK"/auditoria-cftv-*.html 2>/dev/null | head -n 1)")" "$(kb "$(ls "$WORK"/auditoria-cftv-*.csv 2>/dev/null | head -n 1)")"
      rm -f "$WORK"/auditoria-cftv-*
      kill "$COLLECTOR_PID"; wait "$COLLECTOR_PID" 2>/dev/null || true; COLLECTOR_PID=
    done
  done
done
echo "targets (issue 13): 50,000 sites, digest end to end ≤ 3 s and mailer peak RSS ≤ 300 MB"
