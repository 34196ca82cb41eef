#!/usr/bin/env python3
"""Alternating `dsmpc bench ingest` runs: SQLite, then PostgreSQL, then (optionally) PostgreSQL
with another dsmpc binary, round after round, so the machine's drift falls on every variant
alike. Prints each run and then the medians and ratios.

    scripts/ingest-alternating.py --database URL [--runs 5] [--dsmpc target/release/dsmpc]
                                  [--baseline OTHER_DSMPC]

PostgreSQL's own CPU per run (every `postgres` process's user + system time, setup included)
is read from /proc, so it is only meaningful for a server on this machine
(`scripts/pg-test-server.sh`), and only while nothing else uses that server.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys


def postgres_cpu_seconds():
    """User + system CPU seconds of every process named `postgres` (children's included)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        if name != "postgres":
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        # utime, stime, cutime, cstime are fields 14..17 of the whole line.
        total += sum(int(v) for v in fields[11:15])
    return total / ticks


def run(binary, database):
    cmd = [binary, "bench", "ingest", "--runs", "1", "--json"]
    if database:
        cmd += ["--database", database]
    before = postgres_cpu_seconds()
    out = subprocess.run(cmd, capture_output=True, text=True)
    after = postgres_cpu_seconds()
    if out.returncode != 0:
        sys.exit(f"{' '.join(cmd[:4])} failed ({out.returncode}):\n{out.stderr}")
    report = json.loads(out.stdout)
    return {
        "per_second": report["per_second"],
        "cpu_s": report["cpu_s"],
        "database_bytes_per_bundle": report.get("database_bytes_per_bundle"),
        "postgres_cpu_s": round(after - before, 2) if database else None,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", required=True, help="PostgreSQL administrator's URL")
    parser.add_argument("--runs", type=int, default=5, help="rounds (default 5)")
    parser.add_argument("--dsmpc", default="target/release/dsmpc", help="the dsmpc to measure")
    parser.add_argument("--baseline", help="another dsmpc, run on PostgreSQL beside it")
    args = parser.parse_args()
    variants = [("sqlite", args.dsmpc, None), ("postgres", args.dsmpc, args.database)]
    if args.baseline:
        variants.insert(1, ("postgres-baseline", args.baseline, args.database))
    results = {name: [] for name, _, _ in variants}
    for round_ in range(1, args.runs + 1):
        for name, binary, database in variants:
            r = run(binary, database)
            results[name].append(r)
            print(json.dumps({"round": round_, "variant": name, **r}), flush=True)
    medians = {
        name: {
            key: statistics.median(r[key] for r in runs)
            for key in ("per_second", "cpu_s", "database_bytes_per_bundle", "postgres_cpu_s")
            if runs[0][key] is not None
        }
        for name, runs in results.items()
    }
    summary = {"medians": medians}
    pg = medians["postgres"]["per_second"]
    summary["postgres_over_sqlite"] = round(pg / medians["sqlite"]["per_second"], 3)
    if args.baseline:
        summary["postgres_over_baseline"] = round(
            pg / medians["postgres-baseline"]["per_second"], 3
        )
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
