#!/usr/bin/env python3
"""TCP checks at 1 s intervals (or --interval S): upkeep against keepalived, in a VM with IPVS.

keepalived runs real-server checks only where it can program IPVS, so both
daemons run in the IPVS VM (tests/vm/vm.py: Debian's cloud kernel under
qemu), one boot each, with the same keepalived.conf: N/100 virtual servers x
100 real servers, TCP_CHECK { connect_timeout 1 }, delay_loop 1 (--interval), lb_kind NAT (DR would
make IPVS drop the real servers' ports, merging them).
Real server v.r is 127.1.0.(v+1) port 20000+r; a static listener in the
guest (bench/checker_load_listener.c) accepts on ports 20000-20099 and tells
the real servers apart by the connection's destination.

Per daemon, after --warmup s, over --seconds s:
  - CPU (utime+stime from /proc/PID/stat) and RSS (VmRSS) of the checker
    process (upkeep: the `--role checker` worker; keepalived: its checker
    child, -C), and of all the daemon's processes together;
  - checks done per second (connections the listener accepted);
  - interval jitter per real server, from the listener: |time between two
    connections to the same real server - the interval|, p50/p99/max;
  - for upkeep, its own start lateness against schedule (logged every 10 s);
  - memory: each process's smaps_rollup (and anonymous memory by kind of
    mapping) once after the window, and the median of three readings 5 s
    apart after it (one reading can catch a large message in flight).

With --rounds R, each size is run R times per daemon, the order reversed
every other round (A B B A ...: a drift of the host or of apt's guest
kernel between boots falls on both), and a last table gives, per round,
upkeep's CPU per check over keepalived's and their median: one pair moves
by 15 % either way between boots of the same builds (TCG has no steal
time: a vCPU thread the host preempts charges the guest process on it).

With --strace S, after the memory readings every process of the daemon
runs under `strace -c -f` for S s (the host's strace, copied in), in a
listener window of its own: system calls per check run, by call.

With --seeds NAME..., each seed's configuration instead (bench/memory.py
rewrites it: interface eth0, a veth pair, the node 10.78.0.10), idle, both
daemons whole (keepalived with VRRP): its real servers 10.78.0.47 and .57
answer HTTP (busybox httpd on lo). Memory and CPU ticks per process; the
lvs-dr seeds need IPVS, which is why they are measured here and not on
the host, where keepalived exits.

With --interval S, every check runs every S s (delay_loop S): 10,000 checks
at 5 s are 2,000 a second, what the TCG guest can do (at 1 s neither daemon
keeps the schedule there: the guest's kernel manages about 3,000 loopback
handshakes a second), with tables of 10,000 in every process.

Usage: bench/checker_load_vm.py [--checks 10000 2000 500] [--seconds 20]
       [--warmup 10] [--rounds 1] [--strace S] [--interval 1] [--upkeepd target/release/upkeepd]
       [--seeds nginx haproxy lvs-dr lvs-dr-dual] [--smp 2] [--json FILE]
Needs what tests/vm/vm.py needs (qemu-system-x86, gcc, apt-get download).
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(ROOT, "tests", "vm"))
import vm  # noqa: E402
sys.path.insert(0, HERE)
import memory  # noqa: E402  (the seeds as bench/memory.py rewrites them)

PORTS = 100
CONF = "/etc/bench/keepalived.conf"

GUEST = r"""
set -u
DAEMON=@DAEMON@ WARMUP=@WARMUP@ MEASURE=@MEASURE@ STRACE=@STRACE@ SEED=@SEED@
sysctl -w net.ipv4.ip_local_port_range="1024 65535" >/dev/null
sysctl -w net.core.somaxconn=4096 >/dev/null
ulimit -n 65536
LPID=
if [ $SEED = 1 ]; then
    # bench/memory.py's namespace, in the guest: eth0 (this node) with its
    # veth peer, and the seeds' two real servers answering HTTP on lo.
    /usr/sbin/ip link add eth0 type veth peer name eth1
    /usr/sbin/ip addr add @NODE@/24 dev eth0
    /usr/sbin/ip link set eth0 up
    /usr/sbin/ip link set eth1 up
    mkdir -p /tmp/www
    echo ok > /tmp/www/index.html
    for a in @REAL_SERVERS@; do
        /usr/sbin/ip addr add $a/32 dev lo
        busybox httpd -p $a:80 -h /tmp/www || vm_result "ERROR httpd on $a"
    done
else
    /usr/bin/listener 20000 @PORTS@ @INTERVAL_MS@ > /tmp/listener.out 2>&1 &
    LPID=$!
fi
listener() { [ -z "$LPID" ] || kill -$1 $LPID; }
sleep 1
if [ $DAEMON = upkeep ]; then
    EXE=/usr/sbin/upkeepd
    $EXE -f @CONF@ --runtime-dir /run/upkeep > /tmp/daemon.log 2>&1 &
else
    EXE=/usr/sbin/keepalived
    # The checker alone (-C) for checks; a seed runs VRRP too.
    ONLY=-C
    [ $SEED = 1 ] && ONLY=
    $EXE -n -l $ONLY -f @CONF@ -p /run/keepalived.pid -c /run/checkers.pid -r /run/vrrp.pid > /tmp/daemon.log 2>&1 &
fi
DPID=$!
pids() {
    for p in /proc/[0-9]*; do
        [ "$(readlink $p/exe 2>/dev/null)" = $EXE ] && echo ${p#/proc/}
    done
}
CPID=
i=0
[ $SEED = 1 ] && CPID=none  # a seed may have no checker (keepalived's: none without virtual servers)
while [ -z "$CPID" ] && [ $i -lt 600 ]; do
    if [ $DAEMON = upkeep ]; then
        for p in $(pids); do
            tr '\0' ' ' < /proc/$p/cmdline | grep -q -- '--role checker' && CPID=$p
        done
    elif [ -s /run/checkers.pid ]; then
        CPID=$(cat /run/checkers.pid)
    fi
    [ -n "$CPID" ] || sleep 0.1
    i=$((i + 1))
done
if [ -z "$CPID" ]; then
    vm_result "ERROR no checker process"
    tail -n 40 /tmp/daemon.log
    exit 3
fi
vm_result "CHECKER $CPID"
# What a clock read costs depends on it (a syscall where the vDSO cannot
# read the source).
vm_result "CLOCKSOURCE $(cat /sys/devices/system/clocksource/clocksource0/current_clocksource)"
snap() {
    read up idle < /proc/uptime
    # How many lateness reports (every 10 s) were logged by now: those
    # after snap 0's and up to snap 1's fall in the window.
    vm_result "LATEMARK $1 $(grep -c 'check start lateness' /tmp/daemon.log)"
    vm_result "UPTIME $1 $up $idle"
    vm_result "CPUSTAT $1 $(head -n 1 /proc/stat)"
    for p in $(pids); do
        s=$(cat /proc/$p/stat 2>/dev/null) && vm_result "STAT $1 $s"
        vm_result "ROLE $p $(role $p)"
    done
}
role() {
    if [ $DAEMON = upkeep ]; then
        r=$(tr '\0' ' ' < /proc/$1/cmdline | sed -n 's/.*--role \([a-z]*\).*/\1/p')
        echo ${r:-parent}
    elif [ "$1" = "$(cat /run/checkers.pid 2>/dev/null)" ]; then
        echo checker
    elif [ "$1" = "$(cat /run/vrrp.pid 2>/dev/null)" ]; then
        echo vrrp
    else
        echo parent
    fi
}
sleep $WARMUP
listener USR1
snap 0
sleep $MEASURE
snap 1
listener USR2
sleep 1
# Three more readings of every process's memory, 5 s apart: one reading
# can catch a report in flight (an IPVS status of a megabyte at 10,000
# real servers after a health change), which the median leaves out.
for i in 1 2 3; do
    for p in $(pids); do
        vm_result "SAMPLE $i $p $(awk '/^(Pss|Anonymous):/ { printf "%s%s ", $1, $2 }' /proc/$p/smaps_rollup)"
    done
    [ $i = 3 ] || sleep 5
done
for p in $(pids); do
    vm_result "RSS $p $(grep VmRSS /proc/$p/status | tr -s ' \t' ' ')"
    vm_result "SMAPS $p $(awk '/^(Rss|Pss|Anonymous|Private_Dirty):/ { printf "%s%s ", $1, $2 }' /proc/$p/smaps_rollup)"
    vm_result "ROLE $p $(role $p)"
    # The executable's code mapping: how much of it the process maps.
    vm_result "CODE $p $(awk -v exe="$(readlink /proc/$p/exe)" '$2 ~ /x/ && $6 == exe { f = 1; next } f && /^(Rss|Pss):/ { printf "%s%s ", $1, $2 } /^Pss:/ { f = 0 }' /proc/$p/smaps)"
    # Anonymous memory by kind of mapping (bench/memory.py --mappings):
    # glibc's main heap, other anonymous mappings (thread arenas and
    # stacks, large blocks), the executable's relocated data, libraries.
    vm_result "ANON $p $(awk -v exe="$(readlink /proc/$p/exe)" '/^[0-9a-f]+-[0-9a-f]+ / { n = (NF >= 6) ? $6 : ""; k = (n == "") ? "mmap" : (n == "[heap]") ? "heap" : (n == "[stack]") ? "stack" : (n == exe) ? "binary" : (n ~ /[.]so/) ? "libs" : "other"; next } /^Anonymous:/ { a[k] += $2 } END { for (k in a) printf "%s:%d ", k, a[k] }' /proc/$p/smaps)"
done
vm_result "$(grep LISTENER /tmp/listener.out | head -n 1)"
if [ "$STRACE" -gt 0 ]; then
    # System calls of every thread of every process of the daemon, over a
    # window of their own (strace slows what it traces: not the window above).
    listener USR1
    for p in $(pids); do
        /usr/bin/strace -c -f -o /tmp/strace.$p -p $p > /dev/null 2>&1 &
    done
    sleep $STRACE
    killall -INT strace 2>/dev/null
    listener USR2
    sleep 2
    vm_result "STRACEWIN $(grep LISTENER /tmp/listener.out | sed -n 2p)"
    for p in $(pids); do
        awk -v p=$p '$NF ~ /^[a-z_0-9]+$/ && $NF != "syscall" && $NF != "total" { print "STRACE", p, $NF, $4 }' /tmp/strace.$p 2>/dev/null |
            while read -r l; do vm_result "$l"; done
    done
fi
grep "check start lateness" /tmp/daemon.log | while read -r l; do vm_result "LOG $l"; done
if [ $DAEMON = upkeep ]; then
    vm_result "UP $(grep -o '"state": *"up"' /run/upkeep/status.json | wc -l)"
else
    vm_result "UP $(grep -c -- '-> [0-9A-F]' /proc/net/ip_vs)"
fi
vm_result "ERRLINES $(grep -ciE 'error|fail|timeout|timed out' /tmp/daemon.log)"
vm_result "RESTARTS $(grep -c 'restarting' /tmp/daemon.log)"
vm_result "DOWN $(grep -cE 'state="down"|TCP connection to .* failed' /tmp/daemon.log)"
echo "---- the first failed checks (why a check went down)"
grep -m 10 -E 'check failed|state="down"|TCP connection to .* failed' /tmp/daemon.log
echo "---- daemon log, without the per-check lines"
grep -v -e 'check state changed' -e 'TCP connection to' -e 'Gained quorum' -e 'quorum virtual_server' -e 'Adding service' \
    -e 'Enabling service' -e 'Removing service' -e 'Disabling service' /tmp/daemon.log | head -n 80
echo "---- daemon log (last lines)"
tail -n 5 /tmp/daemon.log
kill $DPID
sleep 1
exit 0
"""


def conf(n, interval=1):
    out = ["global_defs {\n    router_id vmbench\n}\n"]
    for v in range(max(1, n // PORTS)):
        rs = "".join(f"""    real_server 127.1.{v // 250}.{v % 250 + 1} {20000 + r} {{
        weight 1
        TCP_CHECK {{
            connect_timeout 1
        }}
    }}
""" for r in range(PORTS))
        out.append(f"""virtual_server 10.200.{v // 250}.{v % 250 + 1} 80 {{
    delay_loop {interval}
    lb_algo rr
    lb_kind NAT
    protocol TCP
{rs}}}
""")
    return "".join(out)


def listener_binary():
    src = os.path.join(HERE, "checker_load_listener.c")
    out = os.path.join(vm.CACHE, "checker_load_listener")
    if not os.path.exists(out) or os.path.getmtime(out) < os.path.getmtime(src):
        os.makedirs(vm.CACHE, exist_ok=True)
        subprocess.run(["gcc", "-O2", "-static", "-o", out, src], check=True)
    return out


def parse(results, hz=100):
    stats = {0: {}, 1: {}}
    up = {}
    cpu = {}
    roles = {}
    r = {"rss_kib": {}, "smaps_kib": {}, "lateness": [], "roles": roles}
    for line in results.splitlines():
        f = line.split()
        if not f:
            continue
        if f[0] == "CHECKER":
            r["checker"] = f[1]
        elif f[0] == "UPTIME":
            up[int(f[1])] = float(f[2])
        elif f[0] == "CPUSTAT":
            cpu[int(f[1])] = [int(x) for x in f[3:]]
        elif f[0] == "STAT":
            which = int(f[1])
            rest = line.split(" ", 2)[2]
            pid = rest.split()[0]
            g = rest.rsplit(")", 1)[1].split()
            stats[which][pid] = int(g[11]) + int(g[12])
        elif f[0] == "RSS" and len(f) >= 4:
            r["rss_kib"][f[1]] = int(f[3])
        elif f[0] == "SMAPS":
            r["smaps_kib"][f[1]] = {k.rstrip(":"): int(v) for k, v in (x.split(":") for x in f[2:])}
        elif f[0] == "SAMPLE":
            r.setdefault("samples_kib", {}).setdefault(f[2], []).append(
                {k.rstrip(":"): int(v) for k, v in (x.split(":") for x in f[3:])})
        elif f[0] == "CODE":
            r.setdefault("code_kib", {})[f[1]] = {k.rstrip(":"): int(v) for k, v in (x.split(":") for x in f[2:])}
        elif f[0] == "ANON":
            r.setdefault("anon_kib", {})[f[1]] = {k: int(v) for k, v in (x.split(":") for x in f[2:])}
        elif f[0] == "LATEMARK":
            r.setdefault("late_marks", {})[int(f[1])] = int(f[2])
        elif f[0] == "STRACEWIN":
            r["strace_window"] = {k: float(v) for k, v in (x.split("=") for x in f[2:])}
        elif f[0] == "STRACE" and len(f) == 4 and f[3].isdigit():
            r.setdefault("strace", {}).setdefault(f[1], {})[f[2]] = int(f[3])
        elif f[0] == "LISTENER":
            r["listener"] = {k: float(v) for k, v in (x.split("=") for x in f[1:])}
        elif f[0] == "LOG":
            m = re.search(r"check start lateness\S*\s.*?runs=(\d+)\S* .*?p50_us=(\d+)\S* .*?p99_us=(\d+)\S* "
                          r".*?max_us=(\d+)", re.sub(r"\x1b\[[0-9;]*m", "", line))
            if m:
                r["lateness"].append([int(x) for x in m.groups()])
        elif f[0] == "UP":
            r["up"] = int(f[1])
        elif f[0] == "ERRLINES":
            r["error_lines"] = int(f[1])
        elif f[0] == "ROLE":
            roles[f[1]] = f[2]
        elif f[0] == "RESTARTS":
            r["restart_lines"] = int(f[1])
        elif f[0] == "DOWN":
            r["down_events"] = int(f[1])
    if 0 in up and 1 in up:
        secs = up[1] - up[0]
        r["window_s"] = secs
        # CPU in the window per process: a process started during the
        # window (a restarted worker) counts whole; one that died in it is lost
        used = {p: stats[1][p] - stats[0].get(p, 0) for p in stats[1]}
        r["cpu_total_pct"] = sum(used.values()) / hz / secs * 100
        by_role = {}
        for p, t in used.items():
            by_role[roles.get(p, "?")] = by_role.get(roles.get(p, "?"), 0) + t
        r["cpu_by_role_pct"] = {k: v / hz / secs * 100 for k, v in by_role.items()}
        r["cpu_checker_pct"] = r["cpu_by_role_pct"].get("checker")
        r["processes"] = len(used)
        if 0 in cpu and 1 in cpu:
            d = [b - a for a, b in zip(cpu[0], cpu[1])]
            busy = sum(d) - d[3] - (d[4] if len(d) > 4 else 0)
            r["vm_busy_pct"] = busy / max(1, sum(d)) * 100
    return r


def seed_files(seed, workdir):
    """A seed's configuration as bench/memory.py rewrites it, its check
    script moved to the guest's /etc/bench: (configuration text, files)."""
    d = tempfile.mkdtemp(prefix="seed-", dir=workdir)
    text = memory.seed_conf(seed, d).replace(os.path.join(d, "check.sh"), "/etc/bench/check.sh")
    return text, [(os.path.join(d, "check.sh"), "/etc/bench/check.sh")]


def run_one(daemon, checks, args, workdir, n=None):
    """One boot: `checks` TCP checks, or a seed's configuration when it is a
    seed's name (no listener then; the seeds' real servers answer HTTP)."""
    seed = isinstance(checks, str)
    tag = f"{daemon}-{checks}" + ("" if n is None else f"-r{n + 1}")
    cfg = os.path.join(workdir, f"{tag}.conf")
    if seed:
        text, files = seed_files(checks, workdir)
    else:
        text, files = conf(checks, args.interval), [(listener_binary(), "/usr/bin/listener")]
    open(cfg, "w").write(text)
    test = (GUEST.replace("@DAEMON@", daemon).replace("@WARMUP@", str(args.warmup))
            .replace("@MEASURE@", str(args.seconds)).replace("@STRACE@", str(args.strace)).replace("@PORTS@", str(PORTS)).replace("@CONF@", CONF)
            .replace("@INTERVAL_MS@", str(args.interval * 1000)).replace("@SEED@", "1" if seed else "0")
            .replace("@NODE@", memory.NODE).replace("@REAL_SERVERS@", " ".join(memory.REAL_SERVERS)))
    files.append((cfg, CONF))
    bins = [(args.upkeepd, "/usr/sbin/upkeepd")] if daemon == "upkeep" else []
    if args.strace:
        bins.append(("/usr/bin/strace", "/usr/bin/strace"))
    console = os.path.join(workdir, f"{tag}.console")
    out = os.path.join(workdir, f"{tag}.out")
    load0 = os.getloadavg()[0]
    t0 = time.time()
    modules = vm.DEFAULT_LOAD.split() + (["veth"] if seed else [])
    code, text, results = vm.run(test, files, bins, modules=modules, timeout=args.warmup + args.seconds + 120,
                                 console=console, out=out, smp=args.smp, mem=args.mem)
    r = parse(results)
    r.update(daemon=daemon, checks=checks, exit=code, boot_to_end_s=round(time.time() - t0, 1),
             host_load=[round(load0, 2), round(os.getloadavg()[0], 2)], console=console, out=out)
    if code != 0 or ("listener" not in r and not seed):
        sys.stderr.write(f"{daemon} {checks}: guest exit {code}; console {console}\n")
        sys.stderr.write(text[-3000:])
    return r


def in_window(r):
    """upkeep's lateness reports (runs, p50, p99, max in µs) that cover 10 s
    inside the measured window: not the warm-up's, nor those of the memory
    readings after it (awk over smaps, heavy under TCG). Without marks (an
    older guest script), all but the first (start-up)."""
    late = r.get("lateness", [])
    # Keys are numbers, or strings in a --json file read back.
    m = {int(k): v for k, v in r.get("late_marks", {}).items()}
    if 0 in m and 1 in m:
        # Report m[0] + 1 began before the window.
        return late[m[0] + 1:m[1]]
    return late[1:]


def done_per_s(r):
    """Checks done a second in the window (connections the listener accepted)."""
    li = r.get("listener", {})
    return li["accepts"] / li["window_s"] if li.get("window_s") else None


def per_check(r):
    """CPU ms per check run, all of the daemon's processes."""
    done = done_per_s(r)
    return r["cpu_total_pct"] * 10 / done if done and r.get("cpu_total_pct") is not None else None


def syscalls(rows):
    """Per run, each process's system calls per check, the commonest first."""
    out = []
    for r in rows:
        li = r.get("strace_window", {})
        if not li.get("accepts"):
            continue
        n = li["accepts"]
        for pid, calls in r.get("strace", {}).items():
            total = sum(calls.values())
            top = ", ".join(f"{k} {v / n:.2f}" for k, v in sorted(calls.items(), key=lambda x: -x[1])[:8])
            out.append(f"  {r['daemon']} {r['checks']} {r['roles'].get(pid, '?')}: {total / n:.2f} a check ({top})")
    return "\n".join(out)


def ratios(rows):
    """Per size and round, upkeep's CPU per check over keepalived's."""
    out = ["| checks | round | upkeep ms/check | keepalived ms/check | ratio |", "|---:|---:|---:|---:|---:|"]
    sizes = {}
    for r in rows:
        sizes.setdefault(r["checks"], {}).setdefault(r.get("round", 0), {})[r["daemon"]] = per_check(r)
    for checks, rounds in sizes.items():
        got = []
        for n, pair in sorted(rounds.items()):
            u, k = pair.get("upkeep"), pair.get("keepalived")
            q = u / k if u and k else None
            if q is not None:
                got.append(q)
            out.append(f"| {checks:,} | {n + 1} | {fmt(u, '.3f')} | {fmt(k, '.3f')} | {fmt(q, '.2f')} |")
        if len(got) > 1:
            out.append(f"| {checks:,} | median of {len(got)} | | | {statistics.median(got):.2f} "
                       f"(range {min(got):.2f}–{max(got):.2f}) |")
    return "\n".join(out)


def fmt(v, spec=".1f", default="–"):
    return default if v is None else format(v, spec)


def table(rows):
    out = ["| daemon | checks | done/s | checker CPU | all processes CPU | CPU ms per check "
           "| checker RSS | all RSS | interval jitter p50 / p99 / max (listener) "
           "| upkeep lateness p99 (per 10 s in the window) | worker restarts |",
           "|---|---:|---:|---:|---:|---:|---:|---:|---|---|---:|"]
    for r in rows:
        li = r.get("listener", {})
        done = done_per_s(r)
        rss = r.get("rss_kib", {})
        crss = sum(v for p, v in rss.items() if r["roles"].get(p) == "checker")
        late = in_window(r)
        late_s = " / ".join(f"{x[2] / 1000:.1f}" for x in late) + " ms" if late else "–"
        jit = (f"{li['p50_us'] / 1000:.1f} / {li['p99_us'] / 1000:.1f} / {li['max_us'] / 1000:.0f} ms"
               if li.get("samples") else "–")
        per = per_check(r)
        restarts = r.get("restart_lines", 0) if r["daemon"] == "upkeep" else "–"
        out.append(
            f"| {r['daemon']} | {r['checks']:,} | {fmt(done, ',.0f')} | {fmt(r.get('cpu_checker_pct'))} % "
            f"| {fmt(r.get('cpu_total_pct'))} % | {fmt(per, '.2f')} "
            f"| {fmt(crss / 1024 if crss else None)} MiB "
            f"| {fmt(sum(rss.values()) / 1024 if rss else None)} MiB | {jit} | {late_s} | {restarts} |")
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--checks", type=int, nargs="+", default=[10000, 2000, 500])
    ap.add_argument("--seconds", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--upkeepd", default=os.path.join(ROOT, "target", "release", "upkeepd"))
    ap.add_argument("--daemons", nargs="+", default=["upkeep", "keepalived"])
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--strace", type=int, default=0, metavar="S",
                    help="after the window, count each process's system calls for S s (strace -c -f)")
    ap.add_argument("--interval", type=int, default=1, metavar="S",
                    help="every check every S s (delay_loop; the listener's jitter is against it)")
    ap.add_argument("--seeds", nargs="+", choices=["nginx", "haproxy", "lvs-dr", "lvs-dr-dual"],
                    help="instead of --checks: each seed's configuration idle, as bench/memory.py runs it")
    ap.add_argument("--smp", type=int, default=2)
    ap.add_argument("--mem", type=int, default=1024)
    ap.add_argument("--json")
    ap.add_argument("--keep", help="directory for configurations, consoles and raw results")
    args = ap.parse_args()
    if "upkeep" in args.daemons and not os.path.exists(args.upkeepd):
        sys.exit(f"{args.upkeepd}: missing (cargo build --release --bin upkeepd)")
    vm.build()
    workdir = args.keep or tempfile.mkdtemp(prefix="upkeep-chk-vm-")
    os.makedirs(workdir, exist_ok=True)
    rows = []
    for checks in args.seeds or args.checks:
        for n in range(args.rounds):
            for daemon in args.daemons if n % 2 == 0 else args.daemons[::-1]:
                r = run_one(daemon, checks, args, workdir, n if args.rounds > 1 else None)
                r["round"] = n
                rows.append(r)
                print(f"round {n + 1}: {daemon} {checks}: exit {r['exit']}, {r.get('up')} up, "
                      f"checker {r.get('checker')}, {fmt(done_per_s(r), '.0f')} checks/s, "
                      f"VM busy {fmt(r.get('vm_busy_pct'))} %, host load {r['host_load']}, "
                      f"{r['boot_to_end_s']} s", flush=True)
    print()
    if args.seeds:
        print(f"VM: qemu TCG, {args.smp} vCPUs, {args.mem} MiB; seeds idle; "
              f"warm-up {args.warmup} s, measured {args.seconds} s")
        print(seed_table(rows))
        return finish(rows, args, workdir)
    print(f"VM: qemu TCG, {args.smp} vCPUs, {args.mem} MiB; checks every {args.interval} s; "
          f"warm-up {args.warmup} s, measured {args.seconds} s")
    print(table(rows))
    if args.strace:
        print("\nSystem calls per check run (strace -c -f, its own window):")
        print(syscalls(rows))
    if {"upkeep", "keepalived"} <= set(args.daemons):
        print("\nCPU per check, upkeep over keepalived, per round:")
        print(ratios(rows))
    return finish(rows, args, workdir)


def medians(r):
    """Each process's median of the three readings after the window:
    {pid: (PSS, anonymous)} in MiB."""
    return {pid: tuple(statistics.median(s.get(k, 0) for s in samples) / 1024 for k in ("Pss", "Anonymous"))
            for pid, samples in r.get("samples_kib", {}).items()}


def memory_text(r, med):
    """`medians` as text: the total PSS / anonymous, and by process."""
    total = f"{sum(v[0] for v in med.values()):.1f} / {sum(v[1] for v in med.values()):.1f}"
    return total, ", ".join(f"{r['roles'].get(p, '?')} {v[0]:.1f} / {v[1]:.1f}" for p, v in med.items())


def seed_table(rows):
    """Per seed and daemon: processes, CPU over the window, memory (the
    median of three readings) in total and by process, real servers up."""
    out = ["| seed | daemon | round | processes | CPU ticks in the window (10 ms) | PSS / anonymous MiB "
           "| by process | real servers up |", "|---|---|---:|---:|---:|---|---|---:|"]
    for r in rows:
        med = medians(r)
        # Percent of a CPU over the window's seconds: ticks of 10 ms (parse's hz 100).
        ticks = r.get("cpu_total_pct", 0) * r.get("window_s", 0)
        total, parts = memory_text(r, med)
        out.append(f"| {r['checks']} | {r['daemon']} | {r.get('round', 0) + 1} | {len(med)} | {ticks:.0f} "
                   f"| {total} | {parts} | {r.get('up', '–')} |")
    return "\n".join(out)


def finish(rows, args, workdir):
    """The JSON file, every process's memory, and the exit status."""
    if args.json:
        json.dump(rows, open(args.json, "w"), indent=1)
    print("\nsmaps_rollup at the end, MiB (bench/memory.py's columns):")
    for r in rows:
        for pid, v in r.get("smaps_kib", {}).items():
            print(f"  {r['daemon']} {r['checks']} {r['roles'].get(pid, '?')}: PSS {v.get('Pss', 0) / 1024:.1f} "
                  f"RSS {v.get('Rss', 0) / 1024:.1f} anon {v.get('Anonymous', 0) / 1024:.1f} "
                  f"private dirty {v.get('Private_Dirty', 0) / 1024:.1f}; "
                  f"code mapped {r.get('code_kib', {}).get(pid, {}).get('Rss', 0) / 1024:.1f} "
                  f"(PSS {r.get('code_kib', {}).get(pid, {}).get('Pss', 0) / 1024:.1f})")
            anon = r.get("anon_kib", {}).get(pid, {})
            if anon:
                print("    anonymous KiB by mapping: " + ", ".join(
                    f"{k} {anon[k]}" for k in sorted(anon, key=lambda k: -anon[k])))
    print("\nmedian of three readings 5 s apart after the window, MiB (PSS / anonymous):")
    for r in rows:
        med = medians(r)
        if med:
            total, parts = memory_text(r, med)
            print(f"  {r['daemon']} {r['checks']}: total {total} ({parts})")
    print(f"raw results and consoles: {workdir}")
    return 0 if all(r["exit"] == 0 for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
