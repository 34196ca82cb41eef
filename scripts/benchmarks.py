#!/usr/bin/env python3
"""Writes BENCHMARKS.md from `dsmpc bench … --json` runs (called by scripts/benchmarks.sh).

Every figure in the file comes from a run made by this script on the machine it describes; nothing
is typed in by hand except the prose and the seeds' figures (from SEEDS.md) they are compared with.
"""

import argparse
import datetime
import glob
import json
import os
import platform
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DSMPC = os.path.join(ROOT, "target", "release", "dsmpc")
PYTHON = os.path.join(ROOT, ".venv-bench", "bin", "python")

SCENARIOS = [
    ("p1", "1000 DPs, 5 CPs, t = 3, d = 1, verifiable", "≤ 0.5 s (D-SMPC prototype: 71.8 s)"),
    ("p1-validated", "p1 with every input proven in a 16-bit range (Bulletproofs+)",
     "≤ 1.5× p1 (0.75 s), proof ≤ 700 B per DP"),
    ("p3", "1000 DPs, 3 CPs, t = 2, d = 1000, fast", "≤ 0.5 s, ≥ 4× MPyC, ≤ 8.3 KB per DP"),
    ("p3-validated", "p3 with every element proven in a 16-bit range (a proof over the shares)",
     "≤ 3 s; DP upload and CPU ≤ Prio3SumVec's (same run)"),
    ("p3v", "1000 DPs, 3 CPs, t = 2, d = 1000, verifiable", "≤ 3 s"),
    ("p5", "100,000 DPs, 7 CPs, t = 4, d = 1, verifiable", "≤ 30 s, ≤ 300 MiB"),
    ("scale-d", "1000 DPs, 3 CPs, t = 2, d = 10^6, fast", "≤ 150 s, ≤ 2 GiB"),
    ("scale-n", "10^6 DPs, 5 CPs, t = 3, d = 1, fast", "≤ 1 GiB"),
    ("swarm30", "30 peer-mode participant processes", "≤ 2 s (Lua seed: 78–109 s)"),
    ("ingest", "scalar bundles accepted durably by one cloud", "≥ 20,000 /s (Janus: 1–2 k/s)"),
    ("flood", "`task create` while one process holds 5000 idle + 100 trickling sockets to the cloud",
     "≤ 1 s"),
]


# No single `dsmpc bench` run here takes more than a few minutes (p5, three runs, about 11).
BENCH_TIMEOUT_S = 1800


def echo(cmd):
    """Prints the command about to run, paths inside the repository made relative."""
    print("$", " ".join(os.path.relpath(c, ROOT) if c.startswith(ROOT) else c for c in cmd), flush=True)


def bench(scenario, *extra):
    cmd = [DSMPC, "bench", scenario, "--json", *extra]
    if scenario == "p3" and "--no-mpyc" not in extra:
        cmd += ["--mpyc-python", PYTHON]
    echo(cmd)
    command = " ".join(["dsmpc", "bench", scenario, "--json", *extra])
    try:
        out = subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=ROOT,
                             timeout=BENCH_TIMEOUT_S)
        report = json.loads(out.stdout.strip().splitlines()[-1])
    except subprocess.TimeoutExpired:
        report = {"error": f"did not finish within {BENCH_TIMEOUT_S} s"}
    except (subprocess.CalledProcessError, json.JSONDecodeError, IndexError) as e:
        # A failed run is reported in the tables instead of discarding every other figure.
        stderr = getattr(e, "stderr", "") or ""
        last = [l for l in stderr.strip().splitlines() if "WARN" not in l][-1:] or [str(e)]
        report = {"error": last[0][:300]}
    if "error" in report:
        print(f"  failed: {report['error']}", flush=True)
    report["command"] = command
    return report


EXAMPLES = os.path.join(ROOT, "target", "release", "examples")
# protocol_cost runs p1, p3 and p3v at `dsmpc bench`'s sizes and p5 at 10^4 DPs: its harness
# grows as N² (each DP checks the whole signed task), while `dsmpc bench`'s cost per DP does not.
SPLIT_SCENARIOS = ("p1", "p3", "p3v", "p5")


def example(name, *args):
    """The stdout of one of dsmpc-net's examples (built by scripts/benchmarks.sh), or None."""
    cmd = [os.path.join(EXAMPLES, name), *args]
    echo(cmd)
    try:
        return subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=ROOT,
                              timeout=BENCH_TIMEOUT_S).stdout
    except (OSError, subprocess.SubprocessError) as e:
        print(f"  failed: {e}", flush=True)
        return None


def cost_split():
    """Per DP, in core-ms: the protocol in memory (setup + the rest) for each scenario, and the
    Noise channel's cost per connection; None for what could not be measured."""
    protocol = {}
    out = example("protocol_cost", *SPLIT_SCENARIOS)
    for line in (out or "").splitlines():
        m = re.match(r"(\w+): .*setup ([0-9.]+) core-ms per DP, protocol ([0-9.]+) core-ms per DP", line)
        if m:
            protocol[m.group(1)] = float(m.group(2)) + float(m.group(3))
    out = example("connection_cost")
    m = re.search(r"Noise XX channel: .* ([0-9]+) µs of CPU per connection", out or "")
    channel = int(m.group(1)) / 1000 if m else None
    return protocol, channel


def split_rows(results, protocol, channel):
    cores = os.cpu_count() or 1
    rows = ["| scenario | `dsmpc bench` CPU per DP | protocol in memory | Noise channel | servers (the rest) "
            "| bound: (protocol + channel) × N on "
            f"{cores} cores | measured wall | target |",
            "|---|---|---|---|---|---|---|---|"]
    for name, _, target in SCENARIOS:
        r = results.get(name)
        if name not in SPLIT_SCENARIOS or r is None or "error" in r or name not in protocol:
            continue
        dps = r["shape"]["dps"]
        cpu = r.get("cpu_s")
        bench_ms = None if cpu is None else 1000 * cpu / dps
        floor_ms = None if channel is None else protocol[name] + channel
        servers = bound = "—"
        if floor_ms is not None:
            bound = secs(floor_ms * dps / 1000 / cores)
            if bench_ms is not None:
                rest = bench_ms - floor_ms
                servers = f"{rest:.2f} ms" if rest >= 0 else f"≈ 0 ({rest:.2f} ms)"
        mpyc_wall = r.get("mpyc", {}).get("wall_s")
        if mpyc_wall:
            target += f"; 4× MPyC: {mpyc_wall / 4:.3f} s"
        rows.append(f"| `{name}` | {'—' if bench_ms is None else f'{bench_ms:.2f} ms'} | "
                    f"{protocol[name]:.2f} ms | {'—' if channel is None else f'{channel:.2f} ms'} | "
                    f"{servers} | {bound} | {secs(r['wall_s'])} | {target} |")
    return rows


def dp_download(sizes=(1000, 100_000, 1_000_000)):
    """(N, bytes) for one DP's download in a deployment of N DPs (scripts/dp_download.sh)."""
    cmd = [os.path.join(ROOT, "scripts", "dp_download.sh"), *map(str, sizes)]
    echo(cmd)
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=BENCH_TIMEOUT_S).stdout
    rows = re.findall(r"dps=(\d+) dp1_download_bytes=(\d+)", out)
    return [(int(n), int(b)) for n, b in rows]


def sh(*cmd):
    try:
        return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def machine():
    model = "unknown"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    flags = set()
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
                break
    # curve25519-dalek picks its vector backend from these: IFMA is about twice as fast as AVX2.
    vector = "AVX-512 IFMA" if "avx512ifma" in flags else "AVX2" if "avx2" in flags else "none"
    mem = "unknown"
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal"):
                mem = f"{int(line.split()[1]) / 1048576:.0f} GiB"
    return {
        "cpu": model,
        "vector": vector,
        "cores": os.cpu_count(),
        "memory": mem,
        "kernel": platform.release(),
        "rustc": sh("rustc", "--version"),
        "commit": sh("git", "-C", ROOT, "rev-parse", "--short", "HEAD"),
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    }


def mib(b):
    return "n/a" if b is None else f"{b / 1048576:.0f} MiB"


def secs(s):
    return f"{s:.3f} s" if s < 10 else f"{s:.1f} s"


def verdict(r):
    targets = r.get("targets", {})
    if not targets:
        return "—"
    missed = [k for k, ok in targets.items() if not ok]
    return "met" if not missed else "missed: " + "; ".join(missed)


def scenario_rows(results):
    rows = ["| scenario | shape | wall (median) | runs | CPU (core-s) | bytes per DP | peak RSS | target | verdict |",
            "|---|---|---|---|---|---|---|---|---|"]
    for name, shape, target in SCENARIOS:
        r = results.get(name)
        if r is None:
            continue
        if "error" in r:
            rows.append(f"| `{name}` | {shape} | failed: {r['error']} | | | | | {target} | missed |")
            continue
        wall = secs(r["wall_s"])
        if name == "ingest":
            wall = f"{r['per_second']:,.0f} bundles/s ({r['bundles']} in {secs(r['wall_s'])})"
        if name == "flood":
            wall = f"{secs(r['wall_s'])} a task create (without the flood: {secs(r['quiet_s'])})"
        runs = ", ".join(f"{w:.3f}" for w in r.get("wall_runs_s", [])) or ", ".join(
            f"{x:,.0f}" for x in r.get("per_second_runs", []))
        per_dp = r.get("bytes_per_dp")
        cpu = r.get("cpu_s")
        cpu = "—" if cpu is None else f"{cpu:.2f} ({cpu / r['wall_s']:.2f} cores busy)"
        rows.append(f"| `{name}` | {shape} | {wall} | {runs} | {cpu} | "
                    f"{'—' if per_dp is None else f'{per_dp:,.0f}'} | {mib(r.get('peak_rss_bytes'))} | "
                    f"{target} | {verdict(r)} |")
    return rows


def phase_rows(results):
    rows = []
    for name in ("p1", "p3", "p3v", "p5"):
        r = results.get(name)
        if r is None or "error" in r:
            continue
        phases = ", ".join(f"{k} {v:.3f}" for k, v in r["phases_s"].items())
        roles = ", ".join(f"{k} {v:,}" for k, v in r["bytes_per_role"].items())
        rows.append(f"* `{name}` ({r['shape']['field']}): phases (s) {phases}. Bytes sent by role: {roles}.")
    return rows


def growth_rows(series, key, label):
    rows = [f"| {label} | N·d | wall | µs per N·d element | bytes per DP | peak RSS |",
            "|---|---|---|---|---|---|"]
    for r in series:
        if "error" in r:
            rows.append(f"| `{r['command']}` | failed: {r['error']} | | | | |")
            continue
        shape = r["shape"]
        nd = shape["dps"] * shape["dim"]
        rows.append(f"| {shape[key]:,} | {nd:,} | {secs(r['wall_s'])} | {r['wall_s'] / nd * 1e6:.2f} | "
                    f"{r['bytes_per_dp']:,.0f} | {mib(r.get('peak_rss_bytes'))} |")
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="one run each, no growth series")
    parser.add_argument("--skip", action="append", default=[], metavar="SCENARIO",
                        help="leave a scenario (or \"download\", the DP download table) out (repeatable)")
    parser.add_argument("--full", action="store_true",
                        help="p5, scale-d and scale-n --runs N too, and growth up to N = 10^5 and d = 10^6 (many minutes)")
    parser.add_argument("--out", default=os.path.join(ROOT, "BENCHMARKS.md"))
    args = parser.parse_args()
    runs = "1" if args.quick else str(args.runs)
    results = {}
    for name, _, _ in SCENARIOS:
        if name in args.skip:
            continue
        # p5, scale-d and scale-n take minutes per run: one run unless --full.
        slow = name in ("p5", "scale-d", "scale-n")
        results[name] = bench(name, "--runs", "1" if slow and not args.full else runs)
    # Right after the scenarios, so that the split compares figures of the same minutes.
    protocol, channel = cost_split() if not args.quick else ({}, None)
    growth_p1, growth_p3 = [], []
    if not args.quick:
        largest = 1 if args.full else 0
        for n in (1000, 10_000, 100_000)[: 2 + largest]:
            growth_p1.append(bench("p1", "--runs", "1", "--dps", str(n)))
        for d in (100, 1000, 10_000, 100_000, 1_000_000)[: 3 + 2 * largest]:
            growth_p3.append(bench("p3", "--runs", "1", "--no-mpyc", "--dim", str(d)))
    download = [] if args.quick or "download" in args.skip else dp_download()
    m = machine()
    p3 = results.get("p3", {})
    mpyc = p3.get("mpyc", {})
    lines = [
        "# dsmpc benchmarks",
        "",
        "Generated by `scripts/benchmarks.sh` (which runs `scripts/benchmarks.py`); do not edit by hand.",
        "",
        f"Machine: {m['cpu']} (vector unit for curve25519-dalek: {m['vector']}), {m['cores']} cores, "
        f"{m['memory']}, Linux {m['kernel']}; {m['rustc']}; "
        f"release build with target-cpu=native (`.cargo/config.toml`); commit {m['commit']}; {m['date']}.",
        "",
        "## Method",
        "",
        "* `p1`, `p3`, `p3v`, `p5` run the whole protocol in one process (a fresh one per run) exactly as `dsmpc simulate` does: "
        "cloud, edge and CP servers on 127.0.0.1 with Noise channels and SQLite stores (WAL, synchronous "
        "commits), every DP a separate Noise client, every check on; a run fails unless the result equals "
        "the plaintext and every DP is included. Wall time is from the first key generated to the result "
        "in hand (setup included). Bytes are those that crossed the sockets (Noise frames included), by "
        "sending role; bytes per DP is everything DPs sent divided by N. CPU is the user and system time "
        "of every thread of the run's process over the same span (`/proc/self/stat`), for the median run; "
        "divided by the wall time it says how many of the 2 cores were busy on average. This VM's speed "
        "drifts by ±20% over minutes, wall and CPU alike; the MPyC baseline, run in the same minutes, "
        "shows the state of the machine at the time.",
        "* Peak RSS is the run's process's VmHWM, the largest over the runs; for `swarm30` the largest participant "
        "process; for the MPyC baseline the largest of its three processes.",
        "* `swarm30` starts 30 `dsmpc participant` processes (the first coordinates and hosts cloud and "
        "edge) and checks every one's weighted sum against the plaintext.",
        "* `ingest`: see `crates/dsmpc-net/src/bench.rs`; bundles are prepared before the clock starts, "
        "each is acknowledged only after its SQLite commit, and the store is checked to hold them all.",
        "* Medians of the runs shown. `dsmpc bench SCENARIO` prints the same figures as a table.",
        "",
        "## Scenarios",
        "",
        *scenario_rows(results),
        "",
        *phase_rows(results),
        "",
    ]
    if "wall_s" in mpyc:
        lines += [
            "## `p3` against MPyC, same run",
            "",
            f"MPyC {sh(PYTHON, '-c', 'import mpyc; print(mpyc.__version__)')} with numpy and gmpy2, "
            f"{mpyc['method']}: median {mpyc['wall_s']:.3f} s wall (runs "
            f"{', '.join(f'{w:.3f}' for w in mpyc['wall_runs_s'])}; {mpyc['inner_wall_s']:.3f} s "
            f"inside party 0), peak {mib(mpyc.get('peak_rss_bytes_per_party'))} per party. dsmpc `p3`: "
            f"{p3['wall_s']:.3f} s, **{p3['speedup_vs_mpyc']:.1f}×** faster, with every party behind "
            "authenticated encryption and the cloud's durable log.",
            "",
        ]
    p3v = results.get("p3-validated", {})
    prio3 = p3v.get("prio3", {})
    if "prio3_shard_ms" in prio3:
        lines += [
            "## `p3-validated` against Prio3SumVec, same run",
            "",
            f"One DP of `p3-validated` (d = 1000 elements, {prio3['bits']} bits each, "
            f"{prio3['aggregators']} CPs, t = 2, M61) against a Prio3SumVec client (`prio` 0.18: "
            f"Field128, the same length, bits and {prio3['aggregators']} aggregators, optimal chunk "
            f"length), {prio3['rounds']} alternating rounds in one process (`crates/dsmpc/src/bench/client.rs`). "
            f"Upload: dsmpc's encoded bundle {prio3['dsmpc_upload_bytes']:,} bytes against Prio3's public "
            f"share, input shares and nonce {prio3['prio3_upload_bytes']:,} bytes "
            f"(**{prio3['upload_ratio']:.2f}×**). CPU, medians: dsmpc shares and proves in "
            f"{prio3['dsmpc_share_and_prove_ms']:.2f} ms against Prio3's `shard` "
            f"{prio3['prio3_shard_ms']:.2f} ms (**{prio3['cpu_ratio_share_and_prove']:.2f}×**); "
            f"with sealing every share to its CP and signing the bundle (which Prio3 leaves to HPKE "
            f"in DAP), {prio3['dsmpc_submit_ms']:.2f} ms ({prio3['cpu_ratio_submit']:.2f}×). "
            "What dsmpc adds over Prio3: t-of-n (any t of the CPs decide each DP's validity and "
            "reconstruct), and a CP whose verifier share is off is named.",
            "",
        ]
    split = split_rows(results, protocol, channel)
    if len(split) > 2:
        lines += [
            "## Where the CPU goes",
            "",
            "Each scenario's CPU per DP in three parts, measured in the same minutes as the table above: "
            "the protocol itself (`cargo run --release -p dsmpc-net --example protocol_cost`: every role's "
            "state machine and every message through the codec in memory, without sockets, Noise or "
            "SQLite; key generation included; `p5` at 10^4 DPs), one Noise XX connection "
            "(`--example connection_cost`), and the rest, which is the servers' own work (the cloud's "
            "durable commits, framing, socket system calls, the runtime's wake-ups, the allocator). "
            "The bound is what the first two alone take on every core of this machine: no target "
            "under it can be met by making the servers cheaper. `scripts/profile.sh SCENARIO` "
            "sorts one run's perf samples into the same parts; `docs/architecture.md` (Performance) "
            "says what each part is made of. The harness checks each bundle's signature at the cloud "
            "alone where the cloud's server batches them, so its column runs a little high and the "
            "servers' a little low (below zero is shown as ≈ 0).",
            "",
            *split,
            "",
        ]
    if args.skip:
        lines += [f"Left out of this run: {', '.join(args.skip)}.", ""]
    if "mpyc" in p3 and "wall_s" not in mpyc:
        lines += [f"MPyC baseline not run: {p3['mpyc'].get('skipped')}", ""]
    if growth_p1:
        lines += ["## Growth", "", "Without `--full` the series stop at N = 10^4 and d = 10^4 (`p5` is N = 10^5 at d = 1, `scale-n` N = 10^6 at d = 1, "
                  "`scale-d` d = 10^6 at N = 1000). Memory should grow with N by a few KB per DP "
                  "(the per-DP records of every party in one process) and with d by O(d) only: "
                  "no process holds an N × d matrix.", "",
                  "`p1` (d = 1) as N grows (`dsmpc bench p1 --runs 1 --dps N`):", "",
                  *growth_rows(growth_p1, "dps", "N"), "",
                  "`p3` (N = 1000, fast) as d grows (`dsmpc bench p3 --runs 1 --no-mpyc --dim D`):", "",
                  *growth_rows(growth_p3, "dim", "d"), ""]
    if download:
        lines += ["## What one DP downloads", "",
                  "Bytes of every message addressed to one data provider while it submits one scalar, in a "
                  "deployment whose task lists N DPs (`scripts/dp_download.sh N`: `init --dps 1`, N − 1 synthetic "
                  "DPs registered in the cloud's store, servers started, a task over every registered DP, then "
                  "`dsmpc dp --flow-log`). The signed task is a header of constant size; the DP fetches only its "
                  "own entry with a Merkle proof of ⌈log2 N⌉ hashes, and the roster it loads lists the servers "
                  "only. Target: ≤ 16 KB, flat in N.", "",
                  "| N | bytes to the DP |", "|---|---|",
                  *[f"| {n:,} | {b:,} |" for n, b in download], ""]
    # Sections measured by other commands (the Python package, Flower), kept across
    # regenerations: each file of bench/extra/ as it is, in name order.
    for extra in sorted(glob.glob(os.path.join(os.path.dirname(__file__), "..", "bench", "extra", "*.md"))):
        with open(extra) as f:
            lines += [f.read().rstrip("\n"), ""]
    lines += ["## Raw results", "", "```json",
              *[json.dumps(r, sort_keys=True) for r in [*results.values(), *growth_p1, *growth_p3]],
              "```", ""]
    with open(args.out, "w") as f:
        f.write("\n".join(lines))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    sys.exit(main())
