#!/usr/bin/env python3
"""Killing the Master's VRRP process: upkeep against keepalived.

A two-node lab in network namespaces (from vrrp_takeover.py): node A
(priority 100, advert_int 1) is Master, node B (99) Backup. On A, the process
that speaks VRRP is killed with SIGKILL --kills times, each time --every
seconds after A is again the only Master:
upkeep's VRRP worker (its parent restarts it) or keepalived's VRRP child (its
parent respawns it). A capture on the bridge gives, per kill:
  - kill -> A's next advert (ms);
  - the longest silence of A (ms), against the peer's Master_Down_Interval;
  - whether B took over (sent adverts) at all: a failover.
Needs root, tcpdump, keepalived, upkeepd (release build).

Usage: bench/worker_restart.py [--kills 5] [--every 2] [--only upkeep|keepalived]
"""
import argparse
import os
import shutil
import signal
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vrrp_takeover as vt  # noqa: E402


def vrrp_pid(lab, daemon, info):
    if daemon == "upkeep":
        import json
        d = os.path.dirname(info["term"])
        for _ in range(200):
            try:
                doc = json.load(open(os.path.join(d, "status.json")))
                pid = next((w["pid"] for w in doc["workers"] if w["role"] == "vrrp" and w["state"] == "running"), None)
                if pid:
                    return pid
            except (OSError, ValueError, KeyError):
                pass
            time.sleep(0.02)
        raise RuntimeError("no running VRRP worker")
    # keepalived: the parent's child (it respawns one after a kill).
    parent = vt.read_pid(info["term"])
    for _ in range(200):
        kids = vt.sh("pgrep", "-P", str(parent), check=False).split()
        if kids:
            return int(kids[0])
        time.sleep(0.02)
    raise RuntimeError("keepalived has no VRRP child")



def run(daemon, kills, every):
    lab = vt.Lab("wr")
    try:
        pcap = os.path.join(lab.dir, "wire.pcap")
        lab.spawn(lab.br, ["tcpdump", "--immediate-mode", "-U", "-n", "-i", "br0", "-w", pcap,
                           "ip proto 112"], "tcpdump.log")
        time.sleep(0.5)
        a = vt.start(lab, 0, daemon, vt.config(2, "1", 100))
        vt.start(lab, 1, daemon, vt.config(2, "1", 99))
        if not vt.wait(lambda: vt.has_vip(lab, 0), 15):
            raise RuntimeError("A never became master")
        time.sleep(3)
        kill_times = []
        for _ in range(kills):
            # Each kill starts from A as the only Master (keepalived needs its
            # child respawned and its preemption first).
            vt.wait(lambda: vt.has_vip(lab, 0) and not vt.has_vip(lab, 1), 90)
            time.sleep(every)
            pid = vrrp_pid(lab, daemon, a)
            kill_times.append(time.time())
            os.kill(pid, signal.SIGKILL)
            time.sleep(0.5)
        vt.wait(lambda: vt.has_vip(lab, 0) and not vt.has_vip(lab, 1), 90)
        time.sleep(1)
        ev = vt.parse_capture(pcap, lab.br)
        a_adv = [e[0] for e in ev if e[1] == "10.78.0.10" and e[2] == "advert" and e[3] > 0]
        b_adv = [e[0] for e in ev if e[1] == "10.78.0.11" and e[2] == "advert"]
        rows = []
        for k, t in enumerate(kill_times):
            end = kill_times[k + 1] if k + 1 < len(kill_times) else t + 90
            nxt = next((x for x in a_adv if x > t), None)
            before = max((x for x in a_adv if x <= t), default=t)
            gap = (nxt - before) * 1000 if nxt else float("inf")
            failover = any(t <= x < end for x in b_adv)
            rows.append(((nxt - t) * 1000 if nxt else float("inf"), gap, failover))
        return rows
    except RuntimeError:
        log = os.path.join(lab.dir, f"{daemon}0.log")
        sys.stderr.write(open(log).read()[-3000:] if os.path.exists(log) else "")
        raise
    finally:
        lab.destroy()
        shutil.rmtree(lab.dir, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kills", type=int, default=5)
    ap.add_argument("--every", type=float, default=2.0)
    ap.add_argument("--only", choices=["upkeep", "keepalived"])
    args = ap.parse_args()
    vt.ensure_release()
    mdi = (3 + 157 / 256) * 1000
    print(f"{'daemon':<11} {'kills':>5} {'kill->advert ms (median/max)':>29} {'longest silence ms':>19} {'failovers':>9}   (peer's Master_Down_Interval {mdi:.0f} ms)")
    for daemon in [args.only] if args.only else ["upkeep", "keepalived"]:
        rows = run(daemon, args.kills, args.every)
        lat = [r[0] for r in rows]
        gaps = [r[1] for r in rows]
        fo = sum(1 for r in rows if r[2])
        print(f"{daemon:<11} {len(rows):>5} {statistics.median(lat):>14.1f} / {max(lat):>12.1f} {max(gaps):>19.1f} {fo:>9}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
