#!/usr/bin/env python3
"""Idle-connection flood, before and after (issue 19): for each dsmpc binary given, start a
deployment (cloud, edge, 3 CPs) on 127.0.0.1, open IDLE TCP connections to the cloud from this one
process (they never send a byte), and time `dsmpc task create` while they are held. The binaries
are measured in alternating rounds (this machine's speed drifts); medians are printed.

    scripts/idle-flood.py [--idle 5000] [--rounds 5] BINARY [BINARY ...]
"""

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time


def free_base_port():
    for base in range(32000, 60000, 16):
        try:
            socks = []
            for p in range(base, base + 6):
                s = socket.socket()
                s.bind(("127.0.0.1", p))
                socks.append(s)
            for s in socks:
                s.close()
            return base
        except OSError:
            for s in socks:
                s.close()
    sys.exit("no free ports")


class Deployment:
    def __init__(self, binary, workdir):
        self.binary = binary
        self.dir = os.path.join(workdir, "dep")
        self.base = free_base_port()
        subprocess.run(
            [binary, "init", self.dir, "--cps", "3", "--dps", "1", "--threshold", "2",
             "--base-port", str(self.base)],
            check=True, stdout=subprocess.DEVNULL)
        self.procs = []
        for args in (["cloud"], ["edge"], ["cp", "--id", "cp1"], ["cp", "--id", "cp2"],
                     ["cp", "--id", "cp3"]):
            self.procs.append(subprocess.Popen(
                [binary, *args, "--deployment", self.dir],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        time.sleep(1.0)

    def create_seconds(self):
        start = time.monotonic()
        out = subprocess.run(
            [self.binary, "task", "create", "--deployment", self.dir, "--func", "sum",
             "--timeout", "60"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        took = time.monotonic() - start
        if out.returncode != 0:
            return None, out.stderr.strip().splitlines()[-1]
        return took, None

    def stop(self):
        for p in self.procs:
            p.kill()
            p.wait()


def hold_idle(port, count):
    """COUNT connections to PORT, each established (blocking connect, 1 s each at most)."""
    socks = []
    for _ in range(count):
        s = socket.socket()
        s.settimeout(1.0)
        try:
            s.connect(("127.0.0.1", port))
        except OSError:
            s.close()
            continue
        socks.append(s)
    time.sleep(0.5)
    return socks


def established(port):
    out = subprocess.run(["ss", "-Htn", "state", "established", f"( dport = :{port} )"],
                         capture_output=True, text=True)
    return len(out.stdout.splitlines())


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--idle", type=int, default=5000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("binaries", nargs="+")
    args = ap.parse_args()
    times = {b: [] for b in args.binaries}
    errors = {b: [] for b in args.binaries}
    for r in range(args.rounds):
        for b in args.binaries:
            with tempfile.TemporaryDirectory() as work:
                dep = Deployment(b, work)
                try:
                    quiet, _ = dep.create_seconds()
                    socks = hold_idle(dep.base, args.idle)
                    still = established(dep.base)
                    took, err = dep.create_seconds()
                    for s in socks:
                        s.close()
                finally:
                    dep.stop()
            if took is None:
                errors[b].append(err)
            else:
                times[b].append(took)
            print(f"round {r + 1} {b}: quiet {quiet:.3f} s, with {len(socks)} idle sockets opened "
                  f"({still} still established) "
                  f"{'failed: ' + err if took is None else f'{took:.3f} s'}",
                  flush=True)
    for b in args.binaries:
        t = times[b]
        med = f"{statistics.median(t):.3f} s" if t else "-"
        print(f"{b}: task create with {args.idle} idle sockets: median {med} over {len(t)} runs, "
              f"{len(errors[b])} failed")


if __name__ == "__main__":
    main()
