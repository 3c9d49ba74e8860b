#!/usr/bin/env python3
"""Planned maintenance: what a client of the VIP sees when the Master gives
the VIP up on purpose.

Two nodes in network namespaces (vrrp_takeover.py's lab): A priority 150
(nopreempt), B priority 100, advert_int 1 (VRRPv2), one VIP; an HTTP server
(python3 -m http.server) on each node. A client on the bridge opens a new
TCP connection to VIP:8080 every 10 ms and makes one HTTP request (timeout
200 ms), for --seconds seconds; 2 s in, A gives the VIP up by:

  handover     upkeepctl handover             (upkeep)
  maintenance  upkeepctl maintenance on       (upkeep)
  sigterm      SIGTERM to upkeepd             (upkeep; what systemctl stop does)
  keepalived   SIGTERM to keepalived          (keepalived 2.2.7; its way)

Reported per way: failed requests and the longest time between two
answered requests (ms), per run and as the median of --runs runs.
Needs root, keepalived; uses target/release/upkeepd, else target/debug.
Usage: bench/handover.py [--runs 3] [--seconds 6] [--only WAY]
"""
import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vrrp_takeover as vt  # noqa: E402

ROOT = vt.ROOT
CLIENT_IP = "10.78.0.200"
WAYS = ["handover", "maintenance", "sigterm", "keepalived"]

CLIENT = r"""
import json, socket, sys, time
vip, seconds = sys.argv[1], float(sys.argv[2])
start = time.monotonic()
ok, failed, last_ok, gap = 0, 0, None, 0.0
while time.monotonic() - start < seconds:
    t = time.monotonic()
    try:
        s = socket.create_connection((vip, 8080), timeout=0.2)
        s.settimeout(0.2)
        s.sendall(b"GET / HTTP/1.0\r\n\r\n")
        data = b""
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
        s.close()
        good = data.startswith(b"HTTP/1.0 200")
    except OSError:
        good = False
    now = time.monotonic()
    if good:
        ok += 1
        if last_ok is not None:
            gap = max(gap, now - last_ok)
        last_ok = now
    else:
        failed += 1
    time.sleep(max(0.0, 0.01 - (time.monotonic() - t)))
print(json.dumps({"ok": ok, "failed": failed, "gap_ms": gap * 1000}))
"""


def upkeepd():
    for kind in ["release", "debug"]:
        p = os.path.join(ROOT, "target", kind, "upkeepd")
        if os.path.exists(p):
            return p, os.path.join(ROOT, "target", kind, "upkeepctl")
    raise SystemExit("build upkeepd first (cargo build --bins)")


def conf(prio, nopreempt):
    return f"""vrrp_instance VI_1 {{
    state BACKUP
    interface eth0
    virtual_router_id 51
    priority {prio}
    advert_int 1
{"    nopreempt" if nopreempt else ""}
    virtual_ipaddress {{
        {vt.VIP}
    }}
}}
"""


def one_run(way, tag):
    daemon_bin, ctl = upkeepd()
    daemon = "keepalived" if way == "keepalived" else "upkeep"
    lab = vt.Lab(f"h{tag}")
    try:
        vt.sh("ip", "-n", lab.br, "addr", "add", f"{CLIENT_IP}/24", "dev", "br0")
        for node in range(2):
            d = os.path.join(lab.dir, f"www{node}")
            os.makedirs(d)
            open(os.path.join(d, "index.html"), "w").write(f"node {node}\n")
            lab.spawn(lab.ns[node], ["python3", "-m", "http.server", "8080", "--bind", "0.0.0.0",
                                     "--directory", d], f"www{node}.log")
        vt.UPKEEPD = daemon_bin
        procs = [vt.start(lab, 0, daemon, conf(150, True))]
        if not vt.wait(lambda: vt.has_vip(lab, 0), 10):
            raise RuntimeError("A never became Master")
        procs.append(vt.start(lab, 1, daemon, conf(100, False)))
        time.sleep(3)
        client = subprocess.Popen(["ip", "netns", "exec", lab.br, "python3", "-c", CLIENT, vt.VIP,
                                   str(ARGS.seconds)], stdout=subprocess.PIPE, text=True)
        time.sleep(2)
        run_dir = os.path.join(lab.dir, "upkeep0")
        if way == "handover":
            subprocess.run([ctl, "--runtime-dir", run_dir, "handover"], check=True, capture_output=True)
        elif way == "maintenance":
            subprocess.run([ctl, "--runtime-dir", run_dir, "maintenance", "on"], check=True,
                           capture_output=True)
        else:
            os.kill(vt.read_pid(procs[0]["term"]), signal.SIGTERM)
        out, _ = client.communicate(timeout=ARGS.seconds + 10)
        r = json.loads(out)
        if not vt.has_vip(lab, 1) or vt.has_vip(lab, 0):
            raise RuntimeError("B does not hold the VIP alone at the end")
        return r
    finally:
        lab.destroy()


def main():
    global ARGS
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=6)
    ap.add_argument("--only", choices=WAYS)
    ARGS = ap.parse_args()
    print(f"{'way':<12} {'failed (median)':>15} {'gap ms (median)':>16}   per run: failed/gap ms")
    for way in [ARGS.only] if ARGS.only else WAYS:
        rs = [one_run(way, r) for r in range(ARGS.runs)]
        per = " ".join(f"{r['failed']}/{r['gap_ms']:.0f}" for r in rs)
        print(f"{way:<12} {statistics.median(r['failed'] for r in rs):>15} "
              f"{statistics.median(r['gap_ms'] for r in rs):>16.0f}   {per}  "
              f"(answered {min(r['ok'] for r in rs)}..{max(r['ok'] for r in rs)})", flush=True)


if __name__ == "__main__":
    sys.exit(main())
