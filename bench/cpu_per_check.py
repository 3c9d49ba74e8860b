#!/usr/bin/env python3
"""CPU per TCP check of each upkeep process, on this host.

Starts upkeepd in a namespace of its own (bench/memory.py's lab: one VRRP
instance and N TCP checks every second against a local listener), lets it
run --warm seconds, then reads each process's user and system ticks over
--span seconds: microseconds of CPU per check run, per process. The
system part of the checker is mostly the kernel's loopback TCP handshake
(keepalived's checker pays it too); the parent's is what a result costs on
its way through. keepalived cannot run these checks on a kernel without
IPVS: its comparison is in the VM (bench/checker_load_vm.py).

Usage: bench/cpu_per_check.py [--checks 10000] [--warm 20] [--span 30]
                              [--upkeepd target/release/upkeepd]
"""
import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import memory as m  # noqa: E402


def ticks(binary):
    out = {}
    for pid, name in m.upkeep_procs(binary):
        try:
            f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        out[name] = (int(f[11]), int(f[12]))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--checks", type=int, default=10000)
    ap.add_argument("--warm", type=float, default=20)
    ap.add_argument("--span", type=float, default=30)
    ap.add_argument("--upkeepd", default="target/release/upkeepd")
    a = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("cpu_per_check.py: run as root (network namespaces)")
    binary = os.path.realpath(a.upkeepd)
    d = tempfile.mkdtemp(prefix="upkeep-cpu-")
    procs = []
    try:
        m.netns_up()
        conf = os.path.join(d, "keepalived.conf")
        open(conf, "w").write(m.checks_conf(a.checks, 1))
        procs.append(subprocess.Popen(["ip", "netns", "exec", m.NS, "python3", "-c", m.LISTENER]))
        procs.append(subprocess.Popen(
            ["ip", "netns", "exec", m.NS, binary, "-f", conf, "--runtime-dir", d, "--state-dir", d,
             "--cache-dir", os.path.join(d, "cache")],
            stdout=subprocess.DEVNULL, stderr=open(os.path.join(d, "daemon.log"), "w")))
        time.sleep(a.warm)
        before = ticks(binary)
        time.sleep(a.span)
        after = ticks(binary)
        if procs[-1].poll() is not None:
            sys.exit("cpu_per_check.py: upkeepd exited: see " + os.path.join(d, "daemon.log"))
        hz = os.sysconf("SC_CLK_TCK")
        runs = a.span * a.checks
        print(f"{a.checks} TCP checks every 1 s, {a.span:.0f} s, {binary}")
        print("| process | CPU ms | µs per check | user | system |")
        print("|---|---:|---:|---:|---:|")
        total = [0.0, 0.0]
        for name, (u1, s1) in after.items():
            u0, s0 = before.get(name, (u1, s1))
            u, s = (u1 - u0) * 1000 / hz, (s1 - s0) * 1000 / hz
            total[0] += u
            total[1] += s
            print(f"| {name} | {u + s:.0f} | {(u + s) * 1000 / runs:.1f} | {u * 1000 / runs:.1f} | {s * 1000 / runs:.1f} |")
        u, s = total
        print(f"| all | {u + s:.0f} | {(u + s) * 1000 / runs:.1f} | {u * 1000 / runs:.1f} | {s * 1000 / runs:.1f} |")
    finally:
        for p in reversed(procs):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        time.sleep(1)
        m.netns_down(procs)


if __name__ == "__main__":
    main()
