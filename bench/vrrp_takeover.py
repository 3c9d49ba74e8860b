#!/usr/bin/env python3
"""VRRP takeover benchmark: upkeep against keepalived, same lab, same settings.

For each daemon, interval and stop signal, a two-node lab in network
namespaces (veth + bridge, created here, removed after each run) runs node A
(priority 100) and node B (priority 99). A is stopped; a capture on the bridge
gives:
  - SIGKILL: A's last advert -> B's first advert, against Master_Down_Interval
  - SIGTERM: A's priority-0 advert -> B's first advert, against Skew_Time
  - and the same to B's first gratuitous ARP.
Reports the median of --runs runs. Also idle CPU and RSS with 1 and 200
instances (--idle). Needs root, tcpdump, keepalived, upkeepd (built).

Usage: bench/vrrp_takeover.py [--runs 5] [--idle] [--only upkeep|keepalived]
"""
import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
UPKEEPD = os.path.join(ROOT, "target", "release", "upkeepd")
VIP = "10.78.0.100"


def sh(*args, check=True):
    return subprocess.run(args, check=check, capture_output=True, text=True).stdout


class Lab:
    def __init__(self, tag):
        self.ns = [f"bk{tag}a", f"bk{tag}b"]
        self.br = f"bk{tag}br"
        self.procs = []
        self.dir = tempfile.mkdtemp(prefix="upkeep-bench-")
        self.destroy()
        sh("ip", "netns", "add", self.br)
        sh("ip", "-n", self.br, "link", "add", "br0", "type", "bridge")
        sh("ip", "-n", self.br, "link", "set", "br0", "type", "bridge", "mcast_snooping", "0")
        sh("ip", "-n", self.br, "link", "set", "br0", "up")
        for i, ns in enumerate(self.ns):
            sh("ip", "netns", "add", ns)
            sh("ip", "link", "add", "eth0", "netns", ns, "type", "veth", "peer", "name", f"p{i}", "netns", self.br)
            sh("ip", "-n", self.br, "link", "set", f"p{i}", "master", "br0", "up")
            sh("ip", "-n", ns, "link", "set", "lo", "up")
            sh("ip", "-n", ns, "link", "set", "eth0", "up")
            sh("ip", "-n", ns, "addr", "add", f"10.78.0.{10 + i}/24", "dev", "eth0")

    def spawn(self, ns, args, log):
        p = subprocess.Popen(["ip", "netns", "exec", ns] + args, stdout=subprocess.DEVNULL,
                             stderr=open(os.path.join(self.dir, log), "w"))
        self.procs.append(p)
        return p

    def destroy(self):
        for p in getattr(self, "procs", []):
            p.kill()
            p.wait()
        for ns in self.ns + [self.br]:
            for pid in sh("ip", "netns", "pids", ns, check=False).split():
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except ProcessLookupError:
                    pass
            sh("ip", "netns", "del", ns, check=False)


def config(version, interval, prio, instances=1):
    out = []
    for n in range(instances):
        vip = VIP if n == 0 else f"10.79.{n // 250}.{n % 250 + 1}"
        out.append(f"""vrrp_instance VI_{n + 1} {{
    state BACKUP
    interface eth0
    version {version}
    virtual_router_id {n % 255 + 1}
    priority {prio}
    advert_int {interval}
    virtual_ipaddress {{
        {vip}
    }}
}}
""")
    return "".join(out)


def start(lab, node, daemon, text):
    d = os.path.join(lab.dir, f"{daemon}{node}")
    os.makedirs(d, exist_ok=True)
    conf = os.path.join(d, "keepalived.conf")
    with open(conf, "w") as f:
        f.write(text)
    ns = lab.ns[node]
    if daemon == "upkeep":
        lab.spawn(ns, [UPKEEPD, "-f", conf, "--runtime-dir", d, "--state-dir", d], f"{daemon}{node}.log")
        return {"pids": [os.path.join(d, "upkeepd.pid")], "term": os.path.join(d, "upkeepd.pid")}
    pid, vpid = os.path.join(d, "k.pid"), os.path.join(d, "kv.pid")
    lab.spawn(ns, ["keepalived", "-n", "-l", "-P", "-f", conf, "-p", pid, "-r", vpid], f"{daemon}{node}.log")
    return {"pids": [vpid, pid], "term": pid}


def read_pid(path, limit=10):
    end = time.time() + limit
    while time.time() < end:
        try:
            return int(open(path).read().strip())
        except (OSError, ValueError):
            time.sleep(0.05)
    raise RuntimeError(f"no pid in {path}")


def has_vip(lab, node):
    return f" {VIP}/" in sh("ip", "-n", lab.ns[node], "-4", "addr", "show", "dev", "eth0")


def wait(cond, limit):
    end = time.time() + limit
    while time.time() < end:
        if cond():
            return True
        time.sleep(0.02)
    return False


def parse_capture(pcap, br):
    """(time, src, kind, priority) for VRRP adverts and ARPs on the wire."""
    out = sh("ip", "netns", "exec", br, "tcpdump", "-r", pcap, "-n", "-tt", check=False)
    events = []
    for line in out.splitlines():
        f = line.split()
        if not f:
            continue
        try:
            t = float(f[0])
        except ValueError:
            continue
        if "VRRP" in line and "Advertisement" in line:
            src = next((w for w in f if w.startswith("10.78.0.")), "?")
            prio = line.split("prio ")[1].split(",")[0] if "prio " in line else "?"
            events.append((t, src, "advert", int(prio)))
        elif "ARP" in line and f"tell {VIP}" in line:  # not the duplicate probe (tell 0.0.0.0)
            events.append((t, "?", "garp", None))
    return events


def one_run(daemon, version, interval, sig, tag):
    lab = Lab(tag)
    try:
        pcap = os.path.join(lab.dir, "wire.pcap")
        lab.spawn(lab.br, ["tcpdump", "--immediate-mode", "-U", "-n", "-i", "br0", "-w", pcap,
                           "ip proto 112 or arp"], "tcpdump.log")
        time.sleep(0.5)
        a = start(lab, 0, daemon, config(version, interval, 100))
        start(lab, 1, daemon, config(version, interval, 99))
        if not wait(lambda: has_vip(lab, 0), 15):
            raise RuntimeError("A never became master")
        time.sleep(max(1.0, 4 * float(interval)))
        if sig == "KILL":
            # The node dies: every process of the daemon (upkeep's parent
            # and workers, keepalived's parent and children) at once.
            for p in a["pids"]:
                read_pid(p)
            for pid in sh("ip", "netns", "pids", lab.ns[0], check=False).split():
                os.kill(int(pid), signal.SIGKILL)
        else:
            os.kill(read_pid(a["term"]), signal.SIGTERM)
        if not wait(lambda: has_vip(lab, 1), 15):
            raise RuntimeError("B never took over")
        time.sleep(0.5)
        ev = parse_capture(pcap, lab.br)
        a_adverts = [e for e in ev if e[1] == "10.78.0.10" and e[2] == "advert"]
        if sig == "KILL":
            start_t = a_adverts[-1][0]
        else:
            start_t = next(e[0] for e in a_adverts if e[3] == 0)
        b_first = next(e[0] for e in ev if e[1] == "10.78.0.11" and e[2] == "advert" and e[0] > start_t)
        garp = next((e[0] for e in ev if e[2] == "garp" and e[0] > start_t), None)
        return (b_first - start_t) * 1000, (garp - start_t) * 1000 if garp else None
    finally:
        lab.destroy()
        shutil.rmtree(lab.dir, ignore_errors=True)


def rfc_ms(version, interval, sig, prio=99):
    iv = float(interval)
    skew = (256 - prio) / 256 if version == 2 else (256 - prio) * iv / 256
    return skew * 1000 if sig == "TERM" else (3 * iv + skew) * 1000


def idle(daemon, instances, seconds=20):
    lab = Lab("idle")
    try:
        info = start(lab, 0, daemon, config(2, 1, 100, instances))
        start(lab, 1, daemon, config(2, 1, 99, instances))
        time.sleep(6)
        for p in info["pids"]:
            read_pid(p)
        # Every process of the daemon on node A (upkeep: parent + workers).
        pids = [int(p) for p in sh("ip", "netns", "pids", lab.ns[0]).split()]
        def ticks():
            return sum(int(open(f"/proc/{p}/stat").read().rsplit(")", 1)[1].split()[11]) +
                       int(open(f"/proc/{p}/stat").read().rsplit(")", 1)[1].split()[12]) for p in pids)
        t0, c0 = time.time(), ticks()
        time.sleep(seconds)
        t1, c1 = time.time(), ticks()
        hz = os.sysconf("SC_CLK_TCK")
        cpu = (c1 - c0) / hz / (t1 - t0) * 100
        rss = sum(int(next(l for l in open(f"/proc/{p}/status") if l.startswith("VmRSS")).split()[1]) for p in pids)
        return cpu, rss
    finally:
        lab.destroy()
        shutil.rmtree(lab.dir, ignore_errors=True)


def teardown_netns(ns, procs=(), d=None):
    """Stops `procs` (SIGTERM, then 1 s), SIGKILLs whatever is left in
    network namespace `ns`, removes it and the directory `d`."""
    for p in procs:
        p.send_signal(signal.SIGTERM)
    if procs:
        time.sleep(1)
    for pid in subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True).stdout.split():
        try:
            os.kill(int(pid), signal.SIGKILL)
        except ProcessLookupError:
            pass
    subprocess.run(["ip", "netns", "del", ns], capture_output=True)
    if d:
        shutil.rmtree(d, ignore_errors=True)


def ensure_release():
    """Builds the release binaries the benchmarks run (a no-op when fresh:
    a stale binary would measure old code)."""
    subprocess.run(["cargo", "build", "--release", "--locked", "--bins"], cwd=ROOT, check=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--idle", action="store_true")
    ap.add_argument("--only", choices=["upkeep", "keepalived"])
    ap.add_argument("--json", help="write results here")
    args = ap.parse_args()
    ensure_release()
    daemons = [args.only] if args.only else ["upkeep", "keepalived"]
    results = []
    print(f"{'daemon':<11} {'ver':>3} {'int':>5} {'stop':>5} {'RFC ms':>9} {'advert ms':>10} {'delta':>7} {'GARP ms':>9}   (median of {args.runs})")
    for version, interval in [(2, "1"), (3, "0.1"), (3, "0.01")]:
        for sig in ["KILL", "TERM"]:
            for daemon in daemons:
                adv, garp = [], []
                for r in range(args.runs):
                    a, g = one_run(daemon, version, interval, sig, f"{r}")
                    adv.append(a)
                    if g is not None:
                        garp.append(g)
                rfc = rfc_ms(version, interval, sig)
                med = statistics.median(adv)
                gmed = statistics.median(garp) if garp else float("nan")
                results.append(dict(daemon=daemon, version=version, interval=interval, stop=sig, rfc_ms=rfc,
                                    advert_ms=med, garp_ms=gmed, runs=adv))
                print(f"{daemon:<11} {version:>3} {interval:>5} {sig:>5} {rfc:>9.2f} {med:>10.2f} {med - rfc:>+7.2f} {gmed:>9.2f}", flush=True)
    if args.idle:
        print(f"\n{'daemon':<11} {'instances':>9} {'CPU %':>7} {'RSS KiB':>8}   (both nodes' master side, advert_int 1, 20 s)")
        for n in [1, 200]:
            for daemon in daemons:
                cpu, rss = idle(daemon, n)
                results.append(dict(daemon=daemon, instances=n, cpu_percent=cpu, rss_kib=rss))
                print(f"{daemon:<11} {n:>9} {cpu:>7.2f} {rss:>8}", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    sys.exit(main())
