#!/usr/bin/env python3
"""Live heap of a process by allocation site, from a heaptrack recording.

The recording is stopped by SIGKILL, so what heaptrack calls "leaked" is
the heap still allocated at that moment. heaptrack_print writes it as
flame-graph stacks (root first, one line per stack, bytes last); this sums
the bytes by the innermost frame of the daemon's own code (`upkeep::`),
i.e. the function of ours that asked for the memory, and, with --depth N,
by its N innermost own frames (the call path).

Usage: bench/heap_sites.py FILE.zst [--top 12] [--depth 1]
See bench/README.md ("Memory against keepalived") for how the recordings
are made.
"""
import argparse
import collections
import re
import subprocess
import sys


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("file")
    ap.add_argument("--top", type=int, default=12)
    ap.add_argument("--depth", type=int, default=1)
    args = ap.parse_args()
    out = subprocess.run(["heaptrack_print", "-f", args.file, "--flamegraph-cost-type", "leaked",
                          "-F", "/dev/stdout", "-p", "0", "-a", "0", "-T", "0", "-l", "0"],
                         capture_output=True, text=True, check=True).stdout
    by = collections.Counter()
    total = 0
    for line in out.splitlines():
        stack, _, n = line.rpartition(" ")
        if not n.isdigit():
            continue
        n = int(n)
        total += n
        frames = stack.split(";")
        own = [re.sub(r"::h[0-9a-f]{16}$", "", f) for f in frames if f.startswith(("upkeep::", "<upkeep::"))]
        key = " <- ".join(reversed(own[-args.depth:])) if own else "(no upkeep frame) " + (frames[-1] if frames else "?")
        by[key] += n
    print(f"live heap at the kill: {total / 1048576:.2f} MiB")
    for key, n in by.most_common(args.top):
        print(f"{n / 1048576:8.2f} MiB  {n * 100 / max(total, 1):5.1f} %  {key}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
