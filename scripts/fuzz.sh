#!/usr/bin/env bash
# Runs every cargo-fuzz target in fuzz/ for RUNS inputs each (default 10^6) with libFuzzer and
# prints one line per target: its name, the inputs run and the time taken. A crash stops the
# script with libFuzzer's report and the input in fuzz/artifacts/<target>/.
#
#   scripts/fuzz.sh [RUNS]
#
# Needs the nightly toolchain and cargo-fuzz (`rustup toolchain install nightly`,
# `cargo install cargo-fuzz`). CI runs the stable proptest equivalent instead
# (crates/dsmpc-core/tests/decoders.rs).
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
runs="${1:-1000000}"
cargo +nightly fuzz build -O
for target in $(cargo +nightly fuzz list); do
    start=$(date +%s)
    log=$(mktemp)
    if ! cargo +nightly fuzz run -O "$target" -- -runs="$runs" -max_len=8192 >"$log" 2>&1; then
        tail -40 "$log"
        echo "FAILED: $target"
        exit 1
    fi
    done_line=$(grep -E "^Done [0-9]+ runs" "$log" | tail -1)
    echo "$target: ${done_line:-no summary} ($(( $(date +%s) - start )) s)"
    rm -f "$log"
done
