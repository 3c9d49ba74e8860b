#!/usr/bin/env python3
"""VRRP at scale: 1,000 VRRPv3 instances between two nodes, upkeep against
keepalived with the same keepalived.conf (issue 18, goal 3).

Lab (network namespaces, created here and removed after each run):
ukscale-a (priority 100) and ukscale-b (priority 99), each with --nics
veth interfaces eth0..ethN-1; interface k of both nodes is on bridge brk in
ukscale-br. VRIDs are 1..255 per interface, so the instances are spread over
the interfaces (250 each for 1,000 on 4). One /32 VIP per instance.

Per daemon: both nodes start (state BACKUP), A must hold every VIP and B
none; after --settle seconds the steady window of --seconds begins. A
capture on every bridge (tcpdump, a pcap per bridge) gives, per instance,
the intervals between A's adverts: p1/p50/p99/max over all instances.
Spurious transitions: adverts from B, or state changes in either daemon's
log, after the settle. CPU: utime+stime of every process in each node's
namespace over the window, per advert (A sent, B received: the adverts of
A on the wire). Then the reload: instance --reload-instance gets another
VIP, A is sent SIGHUP, the time until the new VIP is on A's interface
(`ip monitor address`), and transitions of the others after it.

Usage: bench/vrrp_scale.py [--instances 1000] [--advert 0.1] [--seconds 600]
        [--stress 2] [--daemons upkeep,keepalived] [--json FILE]
Needs root, tcpdump, keepalived, stress-ng (with --stress), upkeepd (release).
"""
import argparse
import json
import os
import select
import shutil
import signal
import struct
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vrrp_takeover as vt  # noqa: E402

sh = vt.sh
PREFIX = "ukscale"
HZ = os.sysconf("SC_CLK_TCK")


class ScaleLab(vt.Lab):
    """vrrp_takeover's lab with `nics` interfaces per node, each pair on its
    own bridge (a VRID is unique per interface only)."""

    def __init__(self, nics, prefix=PREFIX):
        self.ns = [f"{prefix}-a", f"{prefix}-b"]
        self.br = f"{prefix}-br"
        self.nics = nics
        self.procs = []
        self.dir = vt.tempfile.mkdtemp(prefix="upkeep-scale-")
        self.destroy()
        sh("ip", "netns", "add", self.br)
        for ns in self.ns:
            sh("ip", "netns", "add", ns)
            sh("ip", "-n", ns, "link", "set", "lo", "up")
        for k in range(nics):
            br = f"br{k}"
            sh("ip", "-n", self.br, "link", "add", br, "type", "bridge")
            sh("ip", "-n", self.br, "link", "set", br, "type", "bridge", "mcast_snooping", "0")
            sh("ip", "-n", self.br, "link", "set", br, "up")
            for i, ns in enumerate(self.ns):
                port = f"p{k}n{i}"
                sh("ip", "link", "add", f"eth{k}", "netns", ns, "type", "veth", "peer", "name", port,
                   "netns", self.br)
                sh("ip", "-n", self.br, "link", "set", port, "master", br, "up")
                sh("ip", "-n", ns, "link", "set", f"eth{k}", "up")
                sh("ip", "-n", ns, "addr", "add", f"{src_ip(k, i)}/24", "dev", f"eth{k}")


def src_ip(nic, node):
    return f"10.90.{nic}.{10 + node}"


def placement(n, instances, nics):
    """Instance n -> (interface, VRID): consecutive instances share an interface."""
    per = -(-instances // nics)
    return n // per, n % per + 1


def vip(n, generation=0):
    # 10.91.x.y for the configured VIPs; 10.92.x.y for a reload's change.
    return f"10.{91 + generation}.{n // 250}.{n % 250 + 1}"


def config(instances, nics, advert, prio, changed=None):
    """The keepalived.conf both daemons read. `changed`: this instance's VIP
    is the reload's new one."""
    out = ["global_defs {\n    vrrp_version 3\n}\n"]
    for n in range(instances):
        nic, vrid = placement(n, instances, nics)
        out.append(f"""vrrp_instance VI_{n + 1} {{
    state BACKUP
    interface eth{nic}
    virtual_router_id {vrid}
    priority {prio}
    advert_int {advert}
    virtual_ipaddress {{
        {vip(n, 1 if n == changed else 0)}/32
    }}
}}
""")
    return "".join(out)


def vips_held(ns):
    out = sh("ip", "-n", ns, "-4", "-o", "addr", "show")
    return sum(1 for line in out.splitlines() if " 10.91." in line or " 10.92." in line)


def ns_pids(ns):
    return [int(p) for p in sh("ip", "netns", "pids", ns, check=False).split()]


def cpu_ticks(pids):
    total = 0
    for p in pids:
        try:
            f = open(f"/proc/{p}/stat").read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(f[11]) + int(f[12])
    return total


def transitions(path, start=0):
    """State changes logged after byte `start` of a daemon's log."""
    try:
        with open(path, "rb") as f:
            f.seek(start)
            text = f.read().decode(errors="replace")
    except OSError:
        return 0
    return sum(1 for line in text.splitlines()
               if "state change" in line or "Entering MASTER" in line or "Entering BACKUP" in line
               or "Entering FAULT" in line)


def log_size(path):
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


def read_pcap(path):
    """(time, source IPv4 as int, VRID, priority) of every VRRP packet."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 24:
        return
    magic = struct.unpack_from("<I", data, 0)[0]
    endian, scale = {0xa1b2c3d4: ("<", 1e-6), 0xa1b23c4d: ("<", 1e-9),
                     0xd4c3b2a1: (">", 1e-6), 0x4d3cb2a1: (">", 1e-9)}[magic]
    rec = struct.Struct(endian + "IIII")
    off = 24
    end = len(data)
    while off + 16 <= end:
        sec, frac, incl, _ = rec.unpack_from(data, off)
        off += 16
        p = off
        off += incl
        if off > end:
            break
        # Ethernet (14) + IPv4 (IHL); protocol 112 only (tcpdump's filter).
        ihl = (data[p + 14] & 0x0F) * 4
        v = p + 14 + ihl
        if v + 3 > off:
            continue
        src = struct.unpack_from(">I", data, p + 26)[0]
        yield sec + frac * scale, src, data[v + 1], data[v + 2]


def ip_int(a):
    return struct.unpack(">I", bytes(int(x) for x in a.split(".")))[0]


def analyse(pcaps, nics, t0, t1, advert):
    """Interval stats of A's adverts in [t0, t1], adverts from B after t0,
    A's advert count in the window."""
    a_src = {ip_int(src_ip(k, 0)) for k in range(nics)}
    hist = {}
    count = 0
    maxiv = 0.0
    maxat = None
    b_adverts = 0
    b_first = None
    b_instances = set()
    a_in_window = 0
    for k, path in enumerate(pcaps):
        last = {}
        for t, src, vrid, prio in read_pcap(path):
            if t < t0:
                if src in a_src:
                    last[vrid] = t
                continue
            if t > t1:
                continue
            if src not in a_src:
                b_adverts += 1
                b_first = t if b_first is None else min(b_first, t)
                b_instances.add((k, vrid))
                continue
            a_in_window += 1
            prev = last.get(vrid)
            last[vrid] = t
            if prev is None:
                continue
            iv = (t - prev) * 1000.0
            b = int(iv * 100)  # 10 µs buckets
            hist[b] = hist.get(b, 0) + 1
            count += 1
            if iv > maxiv:
                maxiv, maxat = iv, (k, vrid, t)

    def pct(q):
        want = q * count
        seen = 0
        for b in sorted(hist):
            seen += hist[b]
            if seen >= want:
                return b / 100.0
        return float("nan")

    return {
        "intervals": count,
        "p1_ms": pct(0.01), "p50_ms": pct(0.50), "p99_ms": pct(0.99), "p999_ms": pct(0.999),
        "max_ms": maxiv, "max_at": maxat,
        "over_10pct": sum(n for b, n in hist.items() if b / 100.0 > advert * 1100),
        "a_adverts": a_in_window,
        "b_adverts": b_adverts, "b_first": b_first, "b_instances": sorted(b_instances),
    }


def capture(lab, nics):
    files, procs = [], []
    for k in range(nics):
        path = os.path.join(lab.dir, f"br{k}.pcap")
        log = open(os.path.join(lab.dir, f"tcpdump{k}.log"), "w")
        p = subprocess.Popen(["ip", "netns", "exec", lab.br, "tcpdump", "-n", "-s", "64", "-B", "16384",
                              "-i", f"br{k}", "-w", path, "ip proto 112"],
                             stdout=subprocess.DEVNULL, stderr=log)
        files.append(path)
        procs.append(p)
    return files, procs


def stop_capture(lab, procs):
    dropped = 0
    for p in procs:
        p.send_signal(signal.SIGINT)
    for k, p in enumerate(procs):
        p.wait(timeout=30)
        for line in open(os.path.join(lab.dir, f"tcpdump{k}.log")):
            if "dropped by kernel" in line:
                dropped += int(line.split()[0])
    return dropped


def reload_time(lab, node, term_pid_file, instances, changed, limit=30.0):
    """SIGHUP node's daemon; ms until the changed instance's new VIP is on
    its interface (seen by `ip monitor address`), or None."""
    new = vip(changed, 1)
    mon = subprocess.Popen(["ip", "-n", lab.ns[node], "monitor", "address"], stdout=subprocess.PIPE)
    try:
        time.sleep(0.3)
        pid = vt.read_pid(term_pid_file)
        t0 = time.monotonic()
        os.kill(pid, signal.SIGHUP)
        end = t0 + limit
        fd = mon.stdout.fileno()
        buf = ""
        while time.monotonic() < end:
            if not select.select([fd], [], [], 0.05)[0]:
                continue
            buf += os.read(fd, 65536).decode(errors="replace")
            *lines, buf = buf.split("\n")
            if any(f" {new}/32" in line and not line.startswith("Deleted") for line in lines):
                return (time.monotonic() - t0) * 1000.0
        return None
    finally:
        mon.kill()
        mon.wait()


def run(daemon, args):
    lab = ScaleLab(args.nics, args.prefix)
    stress = None
    try:
        pcaps, caps = capture(lab, args.nics)
        time.sleep(0.5)
        text = {node: config(args.instances, args.nics, args.advert, prio)
                for node, prio in [(0, 100), (1, 99)]}
        if args.stress:
            stress = subprocess.Popen(["stress-ng", "--cpu", str(args.stress), "--quiet"],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        t_start = time.monotonic()
        a = vt.start(lab, 0, daemon, text[0])
        vt.start(lab, 1, daemon, text[1])
        logs = [os.path.join(lab.dir, f"{daemon}{n}.log") for n in (0, 1)]
        if not vt.wait(lambda: vips_held(lab.ns[0]) == args.instances, args.start_limit):
            raise RuntimeError(f"{daemon}: after {args.start_limit} s A holds {vips_held(lab.ns[0])} and B "
                               f"{vips_held(lab.ns[1])} of {args.instances} VIPs")
        started_s = time.monotonic() - t_start
        if not vt.wait(lambda: vips_held(lab.ns[1]) == 0, 30):
            raise RuntimeError(f"{daemon}: B holds {vips_held(lab.ns[1])} VIPs")
        time.sleep(args.settle)
        pids = [ns_pids(lab.ns[0]), ns_pids(lab.ns[1])]
        offs = [log_size(p) for p in logs]
        c0 = [cpu_ticks(p) for p in pids]
        w0, m0 = time.time(), time.monotonic()
        time.sleep(args.seconds)
        c1 = [cpu_ticks(p) for p in pids]
        w1, m1 = time.time(), time.monotonic()
        steady_trans = [transitions(p, o) for p, o in zip(logs, offs)]
        loadavg = open("/proc/loadavg").read().split()[:3]
        # The reload: one instance's VIP changes on A.
        changed = args.reload_instance
        conf_a = os.path.join(lab.dir, f"{daemon}0", "keepalived.conf")
        with open(conf_a, "w") as f:
            f.write(config(args.instances, args.nics, args.advert, 100, changed=changed))
        offs2 = [log_size(p) for p in logs]
        r0 = time.time()
        reload_ms = reload_time(lab, 0, a["term"], args.instances, changed)
        time.sleep(args.after_reload)
        r1 = time.time()
        reload_trans = [transitions(p, o) for p, o in zip(logs, offs2)]
        old_gone = f" {vip(changed)}/" not in sh("ip", "-n", lab.ns[0], "-4", "-o", "addr", "show")
        held_after = vips_held(lab.ns[0])
        if stress:
            stress.send_signal(signal.SIGINT)
            stress.wait()
            stress = None
        dropped = stop_capture(lab, caps)
        steady = analyse(pcaps, args.nics, w0, w1, args.advert)
        during = analyse(pcaps, args.nics, r0, r1, args.advert)
        secs = m1 - m0
        cpu_ms = [(c1[i] - c0[i]) * 1000.0 / HZ for i in (0, 1)]
        adverts = steady["a_adverts"]
        res = {
            "daemon": daemon, "instances": args.instances, "advert_s": args.advert,
            "seconds": round(secs, 1), "stress": args.stress, "loadavg": loadavg,
            "start_s": round(started_s, 1),
            "adverts_a": adverts,
            "adverts_expected": round(args.instances * secs / args.advert),
            "p1_ms": steady["p1_ms"], "p50_ms": steady["p50_ms"], "p99_ms": steady["p99_ms"],
            "p999_ms": steady["p999_ms"], "max_ms": round(steady["max_ms"], 2),
            "over_10pct": steady["over_10pct"],
            "b_adverts_steady": steady["b_adverts"], "b_instances_steady": steady["b_instances"], "transitions_steady": steady_trans,
            "cpu_ms_a": cpu_ms[0], "cpu_ms_b": cpu_ms[1],
            "cpu_pct_a": cpu_ms[0] / secs / 10, "cpu_pct_b": cpu_ms[1] / secs / 10,
            "us_per_advert_a": cpu_ms[0] * 1000 / max(adverts, 1),
            "us_per_advert_b": cpu_ms[1] * 1000 / max(adverts, 1),
            "us_per_advert": (cpu_ms[0] + cpu_ms[1]) * 1000 / max(2 * adverts, 1),
            "reload_ms": reload_ms, "reload_old_vip_gone": old_gone, "vips_after_reload": held_after,
            "reload_transitions": reload_trans, "reload_b_adverts": during["b_adverts"],
            "reload_b_instances": during["b_instances"],
            "reload_max_gap_ms": round(during["max_ms"], 2),
            "capture_dropped": dropped,
        }
        return res
    finally:
        if stress:
            stress.kill()
            stress.wait()
        if args.keep:
            print(f"kept {lab.dir}", file=sys.stderr)
        lab.destroy()
        if not args.keep:
            shutil.rmtree(lab.dir, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--instances", type=int, default=1000)
    ap.add_argument("--nics", type=int, default=4)
    ap.add_argument("--advert", type=float, default=0.1)
    ap.add_argument("--seconds", type=float, default=600)
    ap.add_argument("--settle", type=float, default=5)
    ap.add_argument("--start-limit", type=float, default=120)
    ap.add_argument("--after-reload", type=float, default=3)
    ap.add_argument("--reload-instance", type=int, help="the instance the reload changes (default: the middle one)")
    ap.add_argument("--stress", type=int, default=0, help="stress-ng --cpu N in the root namespace")
    ap.add_argument("--daemons", default="upkeep,keepalived")
    ap.add_argument("--prefix", default=PREFIX,
                    help="namespace names (two runs at once need two prefixes)")
    ap.add_argument("--upkeepd", help="another upkeepd binary (default: target/release/upkeepd)")
    ap.add_argument("--build", action="store_true", help="cargo build --release first")
    ap.add_argument("--keep", action="store_true", help="keep the run directory (logs, pcaps)")
    ap.add_argument("--json", help="append results here (one JSON object a line)")
    args = ap.parse_args()
    if -(-args.instances // args.nics) > 255:
        ap.error("more than 255 instances per interface: raise --nics")
    if args.reload_instance is None:
        args.reload_instance = args.instances // 2
    if args.upkeepd:
        vt.UPKEEPD = os.path.abspath(args.upkeepd)
    if args.build:
        vt.ensure_release()
    if args.stress and not shutil.which("stress-ng"):
        subprocess.run(["apt-get", "install", "-y", "stress-ng"], check=True)
    for daemon in args.daemons.split(","):
        res = run(daemon, args)
        print(json.dumps(res), flush=True)
        if args.json:
            with open(args.json, "a") as f:
                f.write(json.dumps(res) + "\n")


if __name__ == "__main__":
    sys.exit(main())
