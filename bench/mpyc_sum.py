"""MPyC baseline for `dsmpc bench p3`: the sum of N secret vectors of length D over 3 local parties.

Run by `dsmpc bench p3` as three processes (`-M3 -I0`, `-I1`, `-I2`); each party inputs its
share of the N vectors (drawn at random in [-1000, 1000]) as one secure numpy array, the
parties add them, open the sum, and party 0 prints one JSON line with its wall and CPU time.
"""

import json
import sys
import time

import numpy as np
from mpyc.runtime import mpc


async def main(n: int, d: int) -> None:
    started = time.perf_counter()
    cpu = time.process_time()
    await mpc.start()
    secint = mpc.SecInt(32)
    parties = len(mpc.parties)
    # MPyC needs every sender's array to have one shape: each party inputs ceil(n / parties)
    # rows, the surplus rows (at most parties - 1 in all) being zeros.
    rows = -(-n // parties)
    mine = max(0, min(rows, n - mpc.pid * rows))
    rng = np.random.default_rng()
    local = np.zeros((rows, d), dtype=np.int64)
    local[:mine] = rng.integers(-1000, 1001, size=(mine, d))
    inputs = mpc.input(secint.array(local))
    total = inputs[0].sum(axis=0)
    for shared in inputs[1:]:
        total = total + shared.sum(axis=0)
    opened = await mpc.output(total)
    await mpc.shutdown()
    if mpc.pid == 0:
        print(json.dumps({
            "n": n,
            "d": d,
            "parties": parties,
            "wall_s": time.perf_counter() - started,
            "cpu_s": time.process_time() - cpu,
            "checksum": int(np.sum(np.array(opened, dtype=object))),
        }))


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if not a.startswith("-")]
    mpc.run(main(int(args[0]) if args else 1000, int(args[1]) if len(args) > 1 else 1000))
