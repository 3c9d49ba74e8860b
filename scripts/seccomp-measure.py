#!/usr/bin/env python3
"""Which system calls each worker role makes, from `strace -ff` traces.

Measure (a lab test's daemons under strace, with the filters off so that a
missing call shows up instead of killing the worker):

    mkdir -p /tmp/st
    UPKEEP_SECCOMP=off UPKEEP_LAB_WRAPPER="strace -ff -qq -o /tmp/st/t" \\
        cargo nextest run --test supervisor_lab
    python3 scripts/seccomp-measure.py /tmp/st daemon/src/sandbox/seccomp.rs

Each trace file is one thread (t.TID). A thread's role is that of the
`execve(... "--role", "ROLE" ...)` it made, else of the thread or process
that cloned it: the checker's scripts count as the checker (they run under
its filter), the parent's children before their exec as the parent (not
filtered). With the path of seccomp.rs, it also prints the calls a role made
that its list lacks (calls made before the filter is installed, between the
exec and the end of privilege dropping, show up there too: execve, capset,
setgroups...).
"""

import collections
import os
import re
import sys

LINE = re.compile(r"^(?:<\.\.\. )?([a-z0-9_]+)[( ]")
CLONE = re.compile(r"^(clone3?|fork|vfork)\(.*\)\s*=\s*(\d+)")
CLONE_RESUMED = re.compile(r"^<\.\.\. (clone3?|fork|vfork) resumed>.*=\s*(\d+)")
ROLE = re.compile(r'^execve\([^\[]*\[[^\]]*"--role", "(\w+)"')


def main():
    d = sys.argv[1]
    parent = {}
    role = {}
    calls = collections.defaultdict(collections.Counter)
    for f in os.listdir(d):
        if not f.startswith("t."):
            continue
        tid = int(f.split(".")[-1])
        with open(os.path.join(d, f), errors="replace") as fh:
            for line in fh:
                m = CLONE.match(line) or CLONE_RESUMED.match(line)
                if m:
                    parent[int(m.group(2))] = tid
                m = ROLE.match(line)
                if m and " = 0" in line:
                    role[tid] = m.group(1)
                    calls[tid] = collections.Counter()  # only after the exec
                m = LINE.match(line)
                if m and not line.startswith("+++") and not line.startswith("---"):
                    calls[tid][m.group(1)] += 1

    def role_of(t, seen=0):
        if t in role:
            return role[t]
        if t in parent and seen < 64:
            return role_of(parent[t], seen + 1)
        return "parent"

    by_role = collections.defaultdict(collections.Counter)
    for t, c in calls.items():
        by_role[role_of(t)].update(c)
    listed = lists(sys.argv[2]) if len(sys.argv) > 2 else None
    for r in sorted(by_role):
        names = sorted(by_role[r])
        print(f"{r} ({len(names)}): {' '.join(names)}")
        if listed is not None and r in listed:
            missing = [n for n in names if n not in listed[r]]
            print(f"  missing from the {r} list: {' '.join(missing) or '-'}")


def lists(path):
    """Each role's allowed names, read from seccomp.rs's constant lists
    (composed as `allowed()` composes them, on x86_64)."""
    src = open(path).read()
    consts = {}
    for m in re.finditer(r"const (\w+): &\[i64\] = &\[(.*?)\];", src, re.S):
        consts.setdefault(m.group(1), set()).update(re.findall(r"libc::SYS_(\w+)", m.group(2)))
    base = consts["BASE"] | consts["BASE_X86_64"]
    res = {
        "vrrp": base | consts["SPAWN"] | consts["VRRP"],
        "ipvs": set(base),
        "checker": base | consts["SPAWN"] | consts["CHECKER"] | consts["CHECKER_X86_64"],
    }
    return {r: v - consts["NEVER"] for r, v in res.items()}


if __name__ == "__main__":
    main()
