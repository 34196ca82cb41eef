#!/usr/bin/env bash
# Profiles one `dsmpc bench` run with perf and prints where its CPU went (scripts/profile_report.py).
#
#   scripts/profile.sh SCENARIO [BENCH OPTIONS...]     e.g. scripts/profile.sh p3 --no-mpyc
#
# Builds a release binary with frame pointers into target/profiling (so call stacks can be
# walked), records every thread of the run with `perf record -g` into target/profiling/SCENARIO.data
# and prints the report. Needs Linux perf (Debian: linux-perf) and permission to use it
# (kernel.perf_event_paranoid ≤ 1, or root). Not part of the tests.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ $# -lt 1 ]; then
    echo "usage: scripts/profile.sh SCENARIO [BENCH OPTIONS...]" >&2
    exit 2
fi
command -v perf >/dev/null || { echo "perf is not installed (Debian: apt install linux-perf)" >&2; exit 1; }
scenario=$1
shift
export CARGO_TARGET_DIR=target/profiling
RUSTFLAGS="-C target-cpu=native -C force-frame-pointers=yes" cargo build --release --quiet
data=target/profiling/$scenario.data
perf record -g -o "$data" target/profiling/release/dsmpc bench "$scenario" --runs 1 "$@"
python3 scripts/profile_report.py "$data"
