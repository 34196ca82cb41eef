"""Does the extension add overhead over the CLI? `dsmpc simulate` both ways, alternating.

Runs the same simulation as the CLI binary (`dsmpc simulate --json`, a child process) and as
`dsmpc.simulate(...)` (in this process), alternately, and prints the medians of the simulation's
own wall time (`wall_s`, measured inside Rust from first key to result) and of the whole call as
seen from Python (for the CLI: the child process from spawn to exit), and their ratios.

    python python/benchmarks/simulate_overhead.py --cli target/release/dsmpc --runs 7
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time

import dsmpc


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cli", default="target/release/dsmpc", help="the dsmpc binary")
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--dps", type=int, default=1000)
    parser.add_argument("--dim", type=int, default=100)
    parser.add_argument("--mode", default="fast")
    args = parser.parse_args()
    shape = ["--dps", str(args.dps), "--cps", "5", "--threshold", "3", "--dim", str(args.dim),
             "--func", "sum", "--mode", args.mode]  # fmt: skip
    inner = {"cli": [], "python": []}
    outer = {"cli": [], "python": []}
    for i in range(args.runs):
        for way in (("cli", "python") if i % 2 == 0 else ("python", "cli")):
            with tempfile.TemporaryDirectory() as log:
                started = time.monotonic()
                if way == "cli":
                    out = subprocess.run([args.cli, "simulate", *shape, "--json", "--log-dir", log],
                                         check=True, capture_output=True, text=True)  # fmt: skip
                    result = json.loads(out.stdout)
                else:
                    result = dsmpc.simulate(dps=args.dps, cps=5, threshold=3, dim=args.dim,
                                            func="sum", mode=args.mode, log_dir=log).raw
                outer[way].append(time.monotonic() - started)
                assert result["match"], result
                inner[way].append(result["wall_s"])
    med = {k: (statistics.median(inner[k]), statistics.median(outer[k])) for k in inner}
    report = {
        "shape": " ".join(shape), "runs": args.runs,
        "cli_wall_s": med["cli"][0], "python_wall_s": med["python"][0],
        "cli_call_s": med["cli"][1], "python_call_s": med["python"][1],
        "wall_ratio_python_over_cli": med["python"][0] / med["cli"][0],
        "call_ratio_python_over_cli": med["python"][1] / med["cli"][1],
    }  # fmt: skip
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
