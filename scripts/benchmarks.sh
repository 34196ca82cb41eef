#!/usr/bin/env bash
# Regenerates BENCHMARKS.md: builds the release binary and the dsmpc-net examples, installs the
# MPyC baseline into .venv-bench (from bench/requirements.txt), runs every `dsmpc bench` scenario,
# the examples that split their CPU time and the growth series, and writes the tables. Options are
# passed to scripts/benchmarks.py (--quick: one run per scenario, no split and no growth series;
# --full: p5, scale-d and scale-n three times, growth to N = 10^5 and d = 10^6; --runs N).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release
cargo build --release -p dsmpc-net --examples
if [ ! -x .venv-bench/bin/python ]; then
    python3 -m venv .venv-bench
fi
.venv-bench/bin/pip install --quiet --disable-pip-version-check -r bench/requirements.txt
exec python3 scripts/benchmarks.py "$@"
