#!/usr/bin/env python3
"""Where a profiled run's CPU went: reads a `perf record -g` file and prints the share of all
samples by part of the system (each sample counted once, by the first rule its call stack
matches) and, for samples in the kernel, by system call.

    python3 scripts/profile_report.py perf.data

`scripts/profile.sh` records such a file for a `dsmpc bench` scenario. The parts:

* protocol: the work the in-memory harness also does (`examples/protocol_cost`): DP keys, DP
  sharing and sealing, the cloud's bundle checks, the CPs' opening, checking and aggregating,
  the edge;
* channel: the Noise handshake and the connection's life (connect, accept, shutdown, close) and
  the transport's AEAD and framing (`examples/connection_cost` prices these);
* servers: everything else: the cloud's journal (SQLite and its fsyncs), the tokio runtime,
  socket sends and receives, futex waits, page faults, the allocator.

Stacks come from frame pointers (build with `-C force-frame-pointers=yes`); glibc has none, so
allocator samples are counted as `servers: allocator` whoever called it.
"""

import collections
import re
import subprocess
import sys

# (part, name, stack substrings); the first rule that matches a sample's stack takes it.
RULES = [
    ("protocol", "DP keys (setup)", ["SecretIdentity::generate"]),
    ("channel", "Noise handshake", ["handshake::", "snow::", "x25519::"]),
    ("channel", "connect, accept, shutdown, close",
     ["sys_connect", "sys_accept", "sys_shutdown", "sys_close", "sys_socket"]),
    ("servers", "cloud journal (SQLite, fsync)", ["journal::"]),
    ("protocol", "DP prepare and seal", ["Upload::bundle", "roles::dp::Dp"]),
    ("protocol", "cloud bundle checks and deliveries",
     ["roles::cloud::Cloud", "check_bundle", "check_contents"]),
    ("protocol", "edge", ["roles::edge::"]),
    ("protocol", "CP open, check, aggregate", ["roles::cp::", "crypto::signature::", "arbiter::"]),
    ("protocol", "wire codec", ["codec::", "Encode>::encode", "Decode>::decode"]),
    ("channel", "transport AEAD and frames",
     ["Channel::seal", "Channel::open", "channel::frame::", "aes_gcm"]),
    ("servers", "socket sends and receives",
     ["sys_sendto", "sys_recvfrom", "sys_write", "sys_read", "sys_epoll"]),
    ("servers", "futex waits and yields", ["sys_futex", "sys_sched_yield"]),
    ("servers", "page faults", ["asm_exc_page_fault"]),
    ("servers", "allocator",
     ["_int_malloc", "_int_free", "malloc", "cfree", "realloc", "unlink_chunk",
      "malloc_consolidate", "_int_memalign"]),
    ("servers", "tokio runtime", ["tokio::"]),
    ("protocol", "curve arithmetic on rayon threads", ["curve25519_dalek"]),
]


def samples(path):
    """Each sample's call stack (leaf first), from `perf script`."""
    out = subprocess.run(["perf", "script", "-i", path], capture_output=True, text=True,
                         check=True).stdout
    for block in out.split("\n\n"):
        lines = block.strip().split("\n")
        if len(lines) >= 2:
            yield [line.strip() for line in lines[1:]]


def syscall(stack):
    """The system call a kernel sample is in, or what else brought it into the kernel."""
    for frame in stack:
        found = re.search(r"__(?:x64|se)_sys_(\w+)", frame)
        if found:
            return found.group(1)
    text = "\n".join(stack)
    if "asm_exc_page_fault" in text:
        return "page fault"
    if "asm_sysvec" in text or "asm_common_interrupt" in text:
        return "interrupt"
    return "other kernel work"


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    parts, names, calls = collections.Counter(), collections.Counter(), collections.Counter()
    total = 0
    for stack in samples(sys.argv[1]):
        total += 1
        text = "\n".join(stack)
        part, name = next(((p, n) for p, n, pats in RULES if any(s in text for s in pats)),
                          ("servers", "other"))
        parts[part] += 1
        names[(part, name)] += 1
        if "[kernel" in stack[0]:
            calls[syscall(stack)] += 1
    if not total:
        sys.exit("no samples")
    share = lambda n: f"{100 * n / total:5.1f}%"
    print(f"{total} samples")
    for part, n in parts.most_common():
        print(f"{share(n)}  {part}")
        for (p, name), m in names.most_common():
            if p == part:
                print(f"    {share(m)}  {name}")
    print(f"{share(sum(calls.values()))}  in the kernel, by system call:")
    for name, n in calls.most_common(12):
        print(f"    {share(n)}  {name}")


if __name__ == "__main__":
    main()
