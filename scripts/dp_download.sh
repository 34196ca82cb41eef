#!/usr/bin/env bash
# What one data provider downloads to submit one scalar, in a deployment of N DPs: the bytes of
# every message whose destination is that DP in its flow log (`dsmpc dp --flow-log`).
#
#   scripts/dp_download.sh 1000 100000 1000000
#
# For each N: `init --dps 1` (dp1, a real DP with a key file), N − 1 synthetic DPs registered in
# the cloud's store (examples/register_synthetic_dps.rs), the servers started, a task over every
# registered DP, dp1's submission. Needs a release build (`cargo build --release --examples`).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
D=$root/target/release/dsmpc
REG=$root/target/release/examples/register_synthetic_dps
[ -x "$D" ] && [ -x "$REG" ] || { echo "run: cargo build --release --examples" >&2; exit 1; }
for n in "$@"; do
  dir=$(mktemp -d)
  trap 'pkill -P $$ || true; rm -rf "$dir"' EXIT
  port=$((20000 + RANDOM % 30000))
  "$D" init "$dir/dep" --cps 3 --dps 1 --threshold 2 --base-port "$port" > /dev/null
  if [ "$n" -gt 1 ]; then "$REG" "$dir/dep/cloud.db" $((n - 1)) > /dev/null; fi
  "$D" cloud --deployment "$dir/dep" 2> "$dir/cloud.log" &
  "$D" edge --deployment "$dir/dep" 2> "$dir/edge.log" &
  for i in 1 2 3; do "$D" cp --deployment "$dir/dep" --id "cp$i" 2> "$dir/cp$i.log" & done
  task=$("$D" task create --deployment "$dir/dep" --func sum --min -100 --max 100 \
           --deadline 600 --timeout 600 2> "$dir/create.log" | tail -1)
  "$D" dp --deployment "$dir/dep" --id dp1 --task "$task" --value 5 \
     --flow-log "$dir/dp1.jsonl" 2> /dev/null
  bytes=$(python3 -c '
import json, sys
total = 0
for line in open(sys.argv[1]):
    e = json.loads(line)
    if e.get("dst") == "dp1" and "bytes" in e:
        total += e["bytes"]
print(total)' "$dir/dp1.jsonl")
  echo "dps=$n dp1_download_bytes=$bytes"
  pkill -P $$ || true
  wait 2> /dev/null || true
  rm -rf "$dir"
done
