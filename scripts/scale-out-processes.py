#!/usr/bin/env python3
"""A scale-out task with every role in a process of its own, to measure each one's peak RSS:
two cloud front-ends over PostgreSQL, the edge, and each CP as two workers, started from the
command line (`dsmpc init --cloud-frontends 2 --database URL`, `dsmpc cloud --frontend I`,
`dsmpc cp --worker J/2`, `dsmpc edge`). The DPs submit from this Python process through the
`dsmpc` package (threads; the GIL is released while each submits), one fast-mode scalar each.
The result must equal the plaintext sum; then each server's peak RSS (VmHWM) is read from /proc.

    python scripts/scale-out-processes.py --database URL [--dps 100000] [--threads 2]

Needs `pip install ./python` and a release build (`--dsmpc`, default target/release/dsmpc).
The database URL is an administrator's: a fresh database is made and dropped.
"""

import argparse
import concurrent.futures
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import dsmpc

CPS, THRESHOLD, WORKERS, FRONTENDS = 5, 3, 2, 2


def with_database(url: str, name: str) -> str:
    base, _, query = url.partition("?")
    head, _, _ = base.rpartition("/")
    return f"{head}/{name}" + (f"?{query}" if query else "")


def psql(url: str, sql: str) -> None:
    subprocess.run(["psql", url, "-qc", sql], check=True, capture_output=True)


def peak_rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", required=True, help="an administrator's PostgreSQL URL")
    parser.add_argument("--dps", type=int, default=100_000)
    parser.add_argument("--threads", type=int, default=2, help="DP submitting threads")
    parser.add_argument("--dsmpc", default="target/release/dsmpc")
    parser.add_argument("--base-port", type=int, default=17400)
    args = parser.parse_args()
    name = f"dsmpc_scale_{os.getpid()}"
    psql(args.database, f"DROP DATABASE IF EXISTS {name}")
    psql(args.database, f"CREATE DATABASE {name}")
    url = with_database(args.database, name)
    work = Path(tempfile.mkdtemp(prefix="dsmpc-scale-"))
    deployment = work / "deploy"
    servers = {}
    phases = {}
    try:
        clock = time.monotonic()
        subprocess.run([args.dsmpc, "init", str(deployment), "--dps", str(args.dps),
                        "--cps", str(CPS), "--threshold", str(THRESHOLD),
                        "--cloud-frontends", str(FRONTENDS), "--database", url,
                        "--base-port", str(args.base_port)],
                       check=True, capture_output=True)  # fmt: skip
        phases["init (keys, DP registration)"] = time.monotonic() - clock

        def start(role: str, *extra: str) -> None:
            log = open(work / f"{role}.log", "ab")
            servers[role] = subprocess.Popen(
                [args.dsmpc, *extra, "--deployment", str(deployment)],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log,
            )  # fmt: skip

        for i in range(1, FRONTENDS + 1):
            start(f"cloud{i}", "cloud", "--database", url, "--frontend", str(i))
        start("edge", "edge")
        for c in range(1, CPS + 1):
            for w in range(1, WORKERS + 1):
                start(f"cp{c}-w{w}", "cp", "--id", f"cp{c}", "--worker", f"{w}/{WORKERS}")
        time.sleep(2)
        dep = dsmpc.Deployment(deployment)
        clock = time.monotonic()
        task = dep.create_task(func="sum", dim=1, min=0, max=1000, scale=0,
                               deadline=max(600, args.dps // 50), mode="fast",
                               timeout=120)  # fmt: skip
        phases["task create"] = time.monotonic() - clock

        def submit(k: int) -> None:
            dep.submit(f"dp{k}", task, [k % 1000], timeout=120)

        clock = time.monotonic()
        done = 0
        with concurrent.futures.ThreadPoolExecutor(args.threads) as pool:
            for _ in pool.map(submit, range(1, args.dps + 1), chunksize=64):
                done += 1
                if done % max(1, args.dps // 10) == 0:
                    print(f"{done} of {args.dps} DPs submitted", file=sys.stderr, flush=True)
        phases["submissions"] = time.monotonic() - clock
        clock = time.monotonic()
        dep.close(task)
        result = dep.result(task, wait=1800)
        phases["close to result"] = time.monotonic() - clock
        expected = sum(k % 1000 for k in range(1, args.dps + 1))
        exact = result.exact[0]
        roles = {
            role: {"peak_rss_mib": round(peak_rss_mib(p.pid), 1),
                   "cpu_s": round(cpu_seconds(p.pid), 1)}
            for role, p in servers.items()
        }  # fmt: skip
        report = {
            "dps": args.dps, "cps": CPS, "t": THRESHOLD, "cloud_frontends": FRONTENDS,
            "cp_workers": WORKERS, "mode": "fast", "dim": 1,
            "exact": int(exact.split(".")[0]) == expected and len(result.included) == args.dps,
            "result": exact, "expected": expected, "included": len(result.included),
            "phases_s": {k: round(v, 1) for k, v in phases.items()},
            "roles": roles,
        }  # fmt: skip
        print(json.dumps(report))
        if not report["exact"]:
            sys.exit("the result is not the plaintext sum")
    finally:
        for p in servers.values():
            p.send_signal(signal.SIGTERM)
        for p in servers.values():
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
        subprocess.run(["rm", "-rf", str(work)])
        psql(args.database, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


if __name__ == "__main__":
    main()
