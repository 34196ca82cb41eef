"""Milliseconds one `Deployment.submit` takes from Python, against a `LocalCluster`: the
operator creates a task, the DPs submit one after another, the operator closes and reads the
result. Each round prints its phases; the last line is JSON with the median per-submit time.

    python python/benchmarks/submit_time.py [--dps 20] [--dim 651] [--mode verifiable] [--rounds 3]
"""

import argparse
import json
import statistics
import time

import numpy as np

import dsmpc


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dps", type=int, default=20)
    parser.add_argument("--dim", type=int, default=651)
    parser.add_argument("--mode", default="verifiable", choices=["verifiable", "fast"])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    per_submit = []
    with dsmpc.LocalCluster(cps=3, dps=args.dps, threshold=2) as cluster:
        dep = cluster.deployment
        values = np.full(args.dim, 0.5)
        for r in range(1, args.rounds + 1):
            t0 = time.monotonic()
            task = dep.create_task(func="sum", dim=args.dim, min=-1e6, max=1e6, scale=8,
                                   deadline=600, mode=args.mode)  # fmt: skip
            t1 = time.monotonic()
            for i in range(1, args.dps + 1):
                dep.submit(f"dp{i}", task, values)
            t2 = time.monotonic()
            dep.close(task)
            result = dep.result(task, wait=120)
            t3 = time.monotonic()
            assert np.allclose(result.values, 0.5 * args.dps), result.values
            per_submit.append((t2 - t1) / args.dps * 1000)
            print(f"round {r}: create {t1 - t0:.3f} s, submit {per_submit[-1]:.1f} ms each, "
                  f"close + result {t3 - t2:.3f} s")  # fmt: skip
    print(json.dumps({"dps": args.dps, "dim": args.dim, "mode": args.mode,
                      "submit_ms_median": round(statistics.median(per_submit), 2),
                      "submit_ms_rounds": [round(x, 2) for x in per_submit]}))  # fmt: skip


if __name__ == "__main__":
    main()
