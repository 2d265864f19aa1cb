#!/usr/bin/env bash
# tokio-cron-scheduler's JobScheduler against Vigia's schedule loop, one command:
# `bash bench/job_scheduler.sh` (~1 min after a ~1 min build). Built in a temporary crate outside
# the workspace, which does not declare tokio-cron-scheduler (docs/scheduling.md says why).
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$WORK/src"
cp bench/job_scheduler.rs "$WORK/src/main.rs"
cat > "$WORK/Cargo.toml" <<'TOML'
[package]
name = "job-scheduler-bench"
version = "0.0.0"
edition = "2021"
publish = false

[dependencies]
tokio-cron-scheduler = { version = "=0.15.1", default-features = false }
tokio = { version = "1", features = ["rt-multi-thread", "macros", "time", "sync"] }
chrono = { version = "0.4", default-features = false, features = ["std", "clock"] }
libc = "0.2"

[workspace]
TOML
cargo build -q --release --manifest-path "$WORK/Cargo.toml" --target-dir "${BENCH_TARGET:-$WORK/target}"
"${BENCH_TARGET:-$WORK/target}/release/job-scheduler-bench"
