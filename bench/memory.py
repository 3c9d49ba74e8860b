#!/usr/bin/env python3
"""Memory of every process of upkeep and of keepalived 2.2.7, same
configurations, one daemon after the other (issue 18, first goal).

In a network namespace created here (a veth pair eth0/eth1 and loopback,
nothing outside it), each daemon runs alone with:

  - each seed configuration (tests/fixtures/seeds, or ../shared beside the
    checkout): interface names and addresses rewritten to the namespace,
    the seeds' check scripts replaced by a harmless one (the haproxy seed's
    would start services and `killall keepalived`); the Nginx seed gets one
    vrrp_script every 2 s, as in the issue's baseline;
  - one VRRP instance plus N TCP checks (--checks, default 500 and 2000;
    add 10000 when there is time), generated as bench/checker_load.py does,
    against its 100 listening ports on 127.0.0.1, delay_loop --delay-loop.

After --settle seconds (30 by default) it reads /proc/PID/smaps_rollup and
/proc/PID/status of every process of the daemon (upkeep: the parent and
each worker, named by argv[0], daemon/src/procname.rs; keepalived: parent,
vrrp and checker children, by their pid files) and prints per process PSS,
RSS, anonymous, private dirty and threads, and totals. --samples N reads
N times, --every S seconds apart, and gives each process's mean (a heap
that grows between trims is caught at any point otherwise). CPU: the
clock ticks (utime + stime, 10 ms each) of every process from the middle
of the settle time to the last reading. --json FILE writes every row.

Builds (--builds): glibc = target/release (the release build, glibc
malloc); musl = target/x86_64-unknown-linux-musl/dist (the packages'
static musl + mimalloc build, scripts/package.sh), skipped when missing.
keepalived's checker needs IPVS; without it (this machine's kernel) the
checker child exits at start and only the VRRP side remains: the table
says how many processes each daemon had.

--mappings also sums /proc/PID/smaps by kind of mapping (binary, [heap],
anonymous mmaps, libraries...) and lists the largest anonymous mappings.
UPKEEP_MEM_NS names the namespace (two runs side by side). Results are in
bench/README.md, "Memory against keepalived".

Needs root and keepalived. Usage:
  bench/memory.py [--settle 30] [--checks 500,2000[,10000]] [--seeds nginx,...]
                  [--builds glibc,musl | --upkeepd PATH] [--daemons upkeep,keepalived]
                  [--mappings] [--json FILE]
"""
import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from checker_load import LISTENER  # noqa: E402  (the same 100 listening ports)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NS = os.environ.get("UPKEEP_MEM_NS", "ukbenchmem")  # two runs side by side need two names
NODE = "10.78.0.10"
# The seeds' real servers, as seed_conf rewrites them.
REAL_SERVERS = ("10.78.0.47", "10.78.0.57")
BUILDS = {
    "glibc": os.path.join(ROOT, "target", "release", "upkeepd"),
    "musl": os.path.join(ROOT, "target", "x86_64-unknown-linux-musl", "dist", "upkeepd"),
}
CHECK = "#!/bin/sh\n# the seed's check, healthy path: nothing to restart\nexit 0\n"
FIELDS = ("Pss", "Rss", "Anonymous", "Private_Dirty")


def seeds_dir():
    shared = os.path.join(ROOT, "..", "shared", "fixtures", "seeds")
    return shared if os.path.isdir(shared) else os.path.join(ROOT, "tests", "fixtures", "seeds")


def seed_conf(name, d):
    """The seed `name` (nginx, haproxy, lvs-dr, lvs-dr-dual) rewritten to
    the namespace: interface eth0, this node 10.78.0.10, VIPs 10.78.0.1xx,
    real servers 10.78.0.4x/5x (no listener there: those HTTP_GET checks
    fail, as a director's would with its real servers down)."""
    file = {"nginx": "nginx-master.conf", "haproxy": "haproxy-master.conf",
            "lvs-dr": "lvs-dr-master.conf", "lvs-dr-dual": "lvs-dr-dual-a.conf"}[name]
    text = open(os.path.join(seeds_dir(), file)).read()
    script = os.path.join(d, "check.sh")
    open(script, "w").write(CHECK)
    os.chmod(script, 0o755)
    for old, new in [("enp0s3", "eth0"), ("ens37", "eth0"), ("192.168.1.103", NODE),
                     ("192.168.1.108", "10.78.0.100"), ("192.168.1.220", "10.78.0.101"),
                     ("10.0.0.100", "10.78.0.100"), ("10.0.0.200", "10.78.0.102"),
                     ("192.168.234.47", REAL_SERVERS[0]), ("192.168.234.57", REAL_SERVERS[1]),
                     ("/etc/keepalived/haproxy_check.sh", script)]:
        text = text.replace(old, new)
    if name == "nginx":
        # The issue's baseline: one script check every 2 s.
        text = text.replace("vrrp_instance VI_1 {", f"""vrrp_script chk_nginx {{
    script "{script}"
    interval 2
}}

vrrp_instance VI_1 {{""").replace("    advert_int 1\n", "    advert_int 1\n    track_script {\n        chk_nginx\n    }\n", 1)
    return text


def checks_conf(n, delay_loop):
    """One VRRP instance and n TCP checks: n/100 virtual servers of 100 real
    servers each, as bench/checker_load.py, in keepalived.conf syntax (both
    daemons read it)."""
    out = [f"""vrrp_instance VI_1 {{
    state MASTER
    interface eth0
    virtual_router_id 51
    priority 100
    advert_int 1
    virtual_ipaddress {{
        10.78.0.100
    }}
}}
"""]
    for v in range(max(1, n // 100)):
        out.append(f"virtual_server 10.200.{v // 250}.{v % 250 + 1} 80 {{\n"
                   f"    delay_loop {delay_loop}\n    lb_algo rr\n    lb_kind DR\n    protocol TCP\n")
        for r in range(100):
            out.append(f"    real_server 127.0.{v // 250}.{v % 250 + 1} {20000 + r} {{\n"
                       "        TCP_CHECK {\n            connect_ip 127.0.0.1\n"
                       "            connect_timeout 1\n        }\n    }\n")
        out.append("}\n")
    return "".join(out)


def sh(*args, check=True):
    return subprocess.run(args, check=check, capture_output=True, text=True).stdout


def netns_up():
    netns_down()
    sh("ip", "netns", "add", NS)
    for args in (["link", "add", "eth0", "type", "veth", "peer", "name", "eth1"],
                 ["addr", "add", f"{NODE}/24", "dev", "eth0"], ["link", "set", "eth0", "up"],
                 ["link", "set", "eth1", "up"], ["link", "set", "lo", "up"]):
        sh("ip", "-n", NS, *args)


def ns_pids():
    return [int(p) for p in sh("ip", "netns", "pids", NS, check=False).split()]


def netns_down(procs=()):
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(timeout=5)
    for pid in ns_pids():
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    sh("ip", "netns", "del", NS, check=False)


def comm(pid):
    return open(f"/proc/{pid}/comm").read().strip()


def proc_row(pid, name):
    row = {"process": name, "pid": pid}
    for line in open(f"/proc/{pid}/smaps_rollup"):
        k, _, v = line.partition(":")
        if k in FIELDS:
            row[k] = int(v.split()[0])
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("Threads:"):
            row["threads"] = int(line.split()[1])
    return row


def mappings(pid):
    """/proc/PID/smaps summed by kind of mapping: the binary, shared
    libraries, [heap] (brk: glibc's main arena), [stack], other anonymous
    mappings (thread stacks, glibc's thread arenas, mimalloc's segments,
    mmap'd large allocations) and other files. KiB of Rss, Pss, Anonymous,
    and the count of anonymous mappings of each kind."""
    exe = os.readlink(f"/proc/{pid}/exe")
    out, kind, top, cur = {}, None, [], None
    for line in open(f"/proc/{pid}/smaps"):
        f = line.split()
        if "-" in f[0] and not f[0].endswith(":"):
            name = f[5] if len(f) > 5 else ""
            lo, hi = (int(x, 16) for x in f[0].split("-"))
            cur = {"size": (hi - lo) // 1024, "perms": f[1], "name": name or "anon", "Rss": 0, "Anonymous": 0}
            top.append(cur)
            kind = ("binary" if name == exe else "[heap]" if name == "[heap]" else "[stack]" if name == "[stack]"
                    else "anon mmap" if name == "" else "libraries" if ".so" in name
                    else "vdso/vvar" if name.startswith("[") else "other files")
            k = out.setdefault(kind, {"Rss": 0, "Pss": 0, "Anonymous": 0, "maps": 0})
            k["maps"] += 1
        elif f[0].rstrip(":") in ("Rss", "Pss", "Anonymous"):
            out[kind][f[0].rstrip(":")] += int(f[1])
            if f[0] != "Pss:":
                cur[f[0].rstrip(":")] = int(f[1])
    # The largest anonymous pieces: [heap], thread stacks (8 MiB for
    # pthreads, 2 MiB for Rust's), glibc thread arenas (64 MiB reserved),
    # allocator segments.
    out["_top_anon"] = sorted((m for m in top if m["Anonymous"]), key=lambda m: -m["Anonymous"])[:8]
    return out


def print_mappings(rows):
    for r in rows:
        print(f"    {r['process']} (pid {r['pid']}, {r['threads']} threads): by mapping, KiB")
        kinds = {k: v for k, v in r["mappings"].items() if not k.startswith("_")}
        for kind, v in sorted(kinds.items(), key=lambda kv: -kv[1]["Rss"]):
            print(f"      {kind:<12} RSS {v['Rss']:>7} PSS {v['Pss']:>7} anon {v['Anonymous']:>7}  ({v['maps']} mappings)")
        print("      largest anonymous mappings (KiB anon / size, perms, name):",
              ", ".join(f"{m['Anonymous']}/{m['size']} {m['perms']} {m['name'].split('/')[-1]}"
                        for m in r["mappings"]["_top_anon"]))


def upkeep_procs(binary):
    exe = os.path.realpath(binary)
    # With a plugin check the checker is upkeep-plugin-host, beside upkeepd.
    host = os.path.join(os.path.dirname(exe), "upkeep-plugin-host")
    out = []
    for pid in ns_pids():
        try:
            # Workers run the parent's file (/proc/self/exe), whatever it is called.
            if os.readlink(f"/proc/{pid}/exe") not in (exe, host):
                continue  # a check script, the listener
            argv0 = open(f"/proc/{pid}/cmdline").read().split("\0")[0]
            name = argv0.removeprefix("upkeepd: ").removesuffix(" worker") if argv0.startswith("upkeepd: ") else "parent"
            out.append((pid, name))
        except OSError:
            pass
    return out


def keepalived_procs(d):
    out = []
    for file, name in [("k.pid", "parent"), ("kv.pid", "vrrp"), ("kc.pid", "checker")]:
        try:
            pid = int(open(os.path.join(d, file)).read().strip())
            if comm(pid) == "keepalived":
                out.append((pid, name))
        except (OSError, ValueError):
            pass
    return out


def evict(path):
    """Drops the executable's pages from the page cache, so that each run
    reads it as after a boot or an install. What a file just copied or
    linked left in the cache changed the code mapped by as much as 1.7 MiB
    of PSS over three processes for the same bytes (2026-12-04: the same
    build read 7.3 and 8.8 MiB at the Nginx seed from two copies, 7.1 from
    either once evicted)."""
    if not path:
        return
    fd = os.open(os.path.realpath(path), os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def measure(daemon, binary, conf_text, settle, listener, detail=False, samples=1, every=2.0, heaptrack=None,
            hook=None):
    """Starts `daemon` on `conf_text` in a fresh namespace, waits until its
    processes are up and `settle` seconds more, returns the rows: with
    `samples` > 1, each process's mean over that many readings `every`
    seconds apart (a heap that grows and is trimmed between readings).
    `hook`, if given, is called with the processes after the settle time
    (bench/hot_code.py)."""
    d = tempfile.mkdtemp(prefix="upkeep-mem-")
    procs = []
    try:
        netns_up()
        if listener:
            procs.append(subprocess.Popen(["ip", "netns", "exec", NS, "python3", "-c", LISTENER]))
        conf = os.path.join(d, "keepalived.conf")
        open(conf, "w").write(conf_text)
        log = open(os.path.join(d, "daemon.log"), "w")
        if daemon == "upkeep":
            cmd = [binary, "-f", conf, "--runtime-dir", d, "--state-dir", d, "--cache-dir", os.path.join(d, "cache")]
            if heaptrack:
                # The parent only (heaptrack takes its variables out of the
                # environment upkeepd passes on); its readings include
                # heaptrack's own memory.
                cmd = ["heaptrack", "-o", heaptrack, *cmd]
            want = None
        else:
            cmd = ["keepalived", "-n", "-l", "-D", "-f", conf, "-p", os.path.join(d, "k.pid"),
                   "-r", os.path.join(d, "kv.pid"), "-c", os.path.join(d, "kc.pid")]
            want = None
        evict(binary if daemon == "upkeep" else shutil.which("keepalived"))
        procs.append(subprocess.Popen(["ip", "netns", "exec", NS, *cmd], stdout=subprocess.DEVNULL, stderr=log))
        end = time.time() + 60
        while time.time() < end:
            if daemon == "upkeep":
                try:
                    doc = json.load(open(os.path.join(d, "status.json")))
                    want = doc["workers"] and all(w["state"] == "running" for w in doc["workers"])
                except (OSError, ValueError, KeyError):
                    want = False
            else:
                want = len(keepalived_procs(d)) >= 2
            if want or procs[-1].poll() is not None:
                break
            time.sleep(0.2)
        if procs[-1].poll() is not None:
            tail = open(os.path.join(d, "daemon.log")).read().strip().splitlines()[-4:]
            raise RuntimeError(f"{daemon} exited at start: " + " | ".join(tail))
        procs_of = (lambda: upkeep_procs(binary)) if daemon == "upkeep" else (lambda: keepalived_procs(d))
        # CPU over the settle time and the readings: the settle's first
        # half is left out (start-up work).
        time.sleep(settle / 2)
        ticks0, t0 = cpu_ticks(procs_of()), time.time()
        time.sleep(settle / 2)
        if procs[-1].poll() is not None:
            tail = open(os.path.join(d, "daemon.log")).read().strip().splitlines()[-4:]
            raise RuntimeError(f"{daemon} exited during the settle time: " + " | ".join(tail))
        if hook:
            hook(procs_of())
        readings = []
        for k in range(max(1, samples)):
            if k:
                time.sleep(every)
            rows = []
            for pid, name in procs_of():
                try:
                    rows.append(proc_row(pid, name))
                    if detail and k == 0:
                        rows[-1]["mappings"] = mappings(pid)
                except OSError:
                    pass
            readings.append(rows)
        rows = mean_rows(readings)
        ticks1, span = cpu_ticks(procs_of()), time.time() - t0
        for r in rows:
            if r["pid"] in ticks0 and r["pid"] in ticks1:
                r["cpu_ticks"] = ticks1[r["pid"]] - ticks0[r["pid"]]
                r["cpu_span_s"] = round(span, 1)
        return rows
    finally:
        netns_down(procs)
        shutil.rmtree(d, ignore_errors=True)


def cpu_ticks(procs):
    """utime + stime (clock ticks) of each pid."""
    out = {}
    for pid, _ in procs:
        try:
            f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
            out[pid] = int(f[11]) + int(f[12])
        except (OSError, ValueError, IndexError):
            pass
    return out


def mean_rows(readings):
    """Per process (by pid), the mean of each field over the readings
    that saw it; the anonymous memory's least and most as well."""
    if len(readings) == 1:
        return readings[0]
    out = []
    for first in readings[0]:
        seen = [r for rows in readings for r in rows if r["pid"] == first["pid"]]
        row = dict(first)
        for k in (*FIELDS, "threads"):
            if k in first:
                row[k] = round(sum(r.get(k, 0) for r in seen) / len(seen))
        row["anon_min"] = min(r.get("Anonymous", 0) for r in seen)
        row["anon_max"] = max(r.get("Anonymous", 0) for r in seen)
        row["samples"] = len(seen)
        out.append(row)
    return out


def mib(kib):
    return f"{kib / 1024:.1f}"


def print_table(case, daemon, rows):
    print(f"\n{case} — {daemon}")
    print(f"  {'process':<10} {'PSS':>7} {'RSS':>7} {'anon':>7} {'priv dirty':>10} {'threads':>7}   (MiB)")
    for r in rows:
        spread = f"   anon {mib(r['anon_min'])}–{mib(r['anon_max'])} over {r['samples']}" if "anon_min" in r else ""
        print(f"  {r['process']:<10} {mib(r['Pss']):>7} {mib(r['Rss']):>7} {mib(r['Anonymous']):>7} "
              f"{mib(r['Private_Dirty']):>10} {r['threads']:>7}{spread}")
    t = total(rows)
    if any("cpu_ticks" in r for r in rows):
        ticks = sum(r.get("cpu_ticks", 0) for r in rows)
        span = max(r.get("cpu_span_s", 0) for r in rows)
        per = ", ".join(f"{r['process']} {r.get('cpu_ticks', '?')}" for r in rows)
        print(f"  CPU: {ticks} ticks in {span} s ({per})")
    print(f"  {'total':<10} {mib(t['Pss']):>7} {mib(t['Rss']):>7} {mib(t['Anonymous']):>7} "
          f"{mib(t['Private_Dirty']):>10} {t['threads']:>7}   ({len(rows)} processes)", flush=True)


def total(rows):
    t = {k: sum(r.get(k, 0) for r in rows) for k in (*FIELDS, "threads", "cpu_ticks")}
    t["cpu_span_s"] = max((r.get("cpu_span_s", 0) for r in rows), default=0)
    return t


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--settle", type=float, default=30, help="seconds idle before reading (default 30)")
    ap.add_argument("--checks", default="500,2000", help="TCP check counts, comma-separated ('' for none)")
    ap.add_argument("--delay-loop", type=int, default=1)
    ap.add_argument("--seeds", default="nginx,haproxy,lvs-dr,lvs-dr-dual", help="seeds, comma-separated ('' for none)")
    ap.add_argument("--builds", default="glibc,musl")
    ap.add_argument("--daemons", default="upkeep,keepalived")
    ap.add_argument("--upkeepd", help="measure this upkeepd binary instead of --builds")
    ap.add_argument("--mappings", action="store_true", help="also sum /proc/PID/smaps by kind of mapping")
    ap.add_argument("--samples", type=int, default=1,
                    help="readings per daemon after the settle time, averaged (default 1)")
    ap.add_argument("--every", type=float, default=2.0, help="seconds between readings (default 2)")
    ap.add_argument("--json", help="write every row here")
    ap.add_argument("--heaptrack", metavar="DIR",
                    help="record upkeep's parent with heaptrack into DIR/CASE.zst (read with bench/heap_sites.py)")
    args = ap.parse_args()
    builds = {args.upkeepd: args.upkeepd} if args.upkeepd else {b: BUILDS[b] for b in args.builds.split(",") if b}
    for b, path in list(builds.items()):
        if not os.path.exists(path):
            print(f"build {b}: {path} missing, skipped", file=sys.stderr)
            del builds[b]
    runners = []
    for daemon in args.daemons.split(","):
        if daemon == "upkeep":
            runners += [(f"upkeep ({b})", "upkeep", p) for b, p in builds.items()]
        elif daemon == "keepalived":
            runners.append(("keepalived 2.2.7", "keepalived", "keepalived"))
    cases = [(f"seed {s}", s, None) for s in args.seeds.split(",") if s]
    cases += [(f"{int(n):,} TCP checks", None, int(n)) for n in args.checks.split(",") if n]
    results, summary = [], []
    for case, seed, n in cases:
        for label, daemon, binary in runners:
            with tempfile.TemporaryDirectory(prefix="upkeep-mem-conf-") as cd:
                text = seed_conf(seed, cd) if seed else checks_conf(n, args.delay_loop)
                try:
                    ht = None
                    if args.heaptrack and daemon == "upkeep":
                        os.makedirs(args.heaptrack, exist_ok=True)
                        ht = os.path.join(args.heaptrack, case.replace(",", "").replace(" ", "-"))
                    rows = measure(daemon, binary, text, args.settle, listener=n is not None,
                                   detail=args.mappings, samples=args.samples, every=args.every, heaptrack=ht)
                except RuntimeError as e:
                    print(f"\n{case} — {label}: {e}", file=sys.stderr)
                    continue
            print_table(case, label, rows)
            if args.mappings:
                print_mappings(rows)
            results.append({"case": case, "daemon": label, "settle_s": args.settle, "processes": rows,
                            "total": total(rows)})
            summary.append((case, label, len(rows), total(rows)))
    print(f"\n| configuration | daemon | processes | PSS MiB | RSS MiB | anonymous MiB | private dirty MiB | threads | CPU ticks (s) |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for case, label, nproc, t in summary:
        print(f"| {case} | {label} | {nproc} | {mib(t['Pss'])} | {mib(t['Rss'])} | {mib(t['Anonymous'])} "
              f"| {mib(t['Private_Dirty'])} | {t['threads']} | {t['cpu_ticks']} ({t['cpu_span_s']}) |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
