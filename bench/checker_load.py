#!/usr/bin/env python3
"""10,000 TCP checks at 1 s intervals against local listeners.

In a network namespace created here (loopback only), 100 listening ports
accept connections; upkeepd runs 100 virtual servers x 100 real servers with
TCP_CHECK (delay_loop 1), i.e. 10,000 checks a second. Reports the checker
process's CPU and RSS over --seconds, and the scheduler's lateness of check
starts against their schedule (p50/p99/max, as the checker logs it every
10 s). keepalived's checker needs a kernel with IPVS to run real-server
checks, which this machine's kernel lacks: no keepalived figure here.

With --callgrind, every upkeepd process runs under valgrind's callgrind
(seccomp and Landlock off: valgrind makes calls the filter does not list,
and its control pipes live in /tmp); after the
settle time the counters are zeroed, after --seconds dumped, and the user
instructions each process executed are divided by the check runs in the
window (connections the listeners accepted): instructions per check, per process, with
the profiles kept in DIR/short and DIR/long (the two windows) for
callgrind_annotate; with --mangled, names as the linker sees them, for
bench/hot_code.py --steady. Far slower than native: use a few hundred to
a few thousand checks.

Needs root and a release build (built when missing).
Usage: bench/checker_load.py [--checks 10000] [--seconds 30] [--netns NAME]
       [--callgrind DIR [--mangled]] [--upkeepd PATH]
"""
import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vrrp_takeover as vt  # noqa: E402

NS = os.environ.get("UPKEEP_BENCH_NETNS", "ukbenchchk")
# Run with `python3 -c LISTENER` in the namespace.
LISTENER = open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "tools",
                             "tcp_listeners.py")).read()


def conf(n):
    per = 100
    out = []
    for v in range(max(1, n // per)):
        rs = "".join(
            f"""[[virtual_server.real_server]]
ip = "127.0.{v // 250}.{v % 250 + 1}"
port = {20000 + r}
[[virtual_server.real_server.checker]]
type = "TCP_CHECK"
connect_ip = "127.0.0.1"
connect_timeout = 1
"""
            for r in range(per))
        out.append(f"""[[virtual_server]]
ip = "10.200.{v // 250}.{v % 250 + 1}"
port = 80
delay_loop = 1
lb_algo = "rr"
lb_kind = "DR"
{rs}""")
    return "".join(out)


def ticks(pid):
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return int(f[11]) + int(f[12])


def rss_kib(pid):
    return int(next(l for l in open(f"/proc/{pid}/status") if l.startswith("VmRSS")).split()[1])


def run(upkeepd, conf_text, settle, measure, extra=(), wrap=(), env=None, ns=None):
    """Runs `upkeepd` on `conf_text` in a namespace of its own (loopback,
    with the 100 listeners), waits until every worker runs and `settle`
    seconds more, then returns measure(runtime_dir, status_doc, checker_pid).
    `wrap` goes before the command (a profiler), `env` adds to its
    environment. Everything is removed afterwards; on failure the log's tail
    is printed."""
    netns = ns or NS
    d = tempfile.mkdtemp(prefix="upkeep-chk-bench-")
    subprocess.run(["ip", "netns", "del", netns], capture_output=True)
    subprocess.run(["ip", "netns", "add", netns], check=True)
    procs = []
    try:
        subprocess.run(["ip", "-n", netns, "link", "set", "lo", "up"], check=True)
        procs.append(subprocess.Popen(["ip", "netns", "exec", netns, "python3", "-c", LISTENER],
                                      env=dict(os.environ, TCP_LISTENERS_COUNT=os.path.join(d, "accepted"))))
        open(os.path.join(d, "listener.pid"), "w").write(str(procs[-1].pid))
        path = os.path.join(d, "upkeep.toml")
        open(path, "w").write(conf_text)
        log = open(os.path.join(d, "upkeepd.log"), "w")
        procs.append(subprocess.Popen(["ip", "netns", "exec", netns, *wrap, upkeepd, "-f", path, "--runtime-dir", d,
                                       *extra], stdout=subprocess.DEVNULL, stderr=log,
                                      env=dict(os.environ, **(env or {}))))
        doc = None
        for _ in range(3000 if wrap else 300):
            try:
                doc = json.load(open(os.path.join(d, "status.json")))
                if doc["workers"] and all(w["state"] == "running" for w in doc["workers"]):
                    break
            except (OSError, ValueError, KeyError):
                pass
            time.sleep(0.1)
        else:
            raise RuntimeError("workers did not start; see " + d)
        checker = next((w["pid"] for w in doc["workers"] if w["role"] == "checker"), None)
        time.sleep(settle)
        return measure(d, json.load(open(os.path.join(d, "status.json"))), checker)
    except Exception:
        sys.stderr.write(open(os.path.join(d, "upkeepd.log")).read()[-4000:])
        raise
    finally:
        vt.teardown_netns(netns, procs, d)


def runs(d):
    """Check runs so far: the connections the listeners accepted (status.json's
    `runs` may be seconds old: counters alone travel every few seconds)."""
    path = os.path.join(d, "accepted")
    if os.path.exists(path):
        os.unlink(path)
    os.kill(int(open(os.path.join(d, "listener.pid")).read()), signal.SIGUSR1)
    for _ in range(100):
        if os.path.exists(path):
            return int(open(path).read())
        time.sleep(0.02)
    raise RuntimeError("the listener did not report its count")


def callgrind(args):
    """Instructions per check run, per process, under callgrind."""
    out = os.path.abspath(args.callgrind)
    os.makedirs(out, exist_ok=True)
    # Workers are started as /proc/self/exe, under valgrind its tool: the
    # shim makes that exec run upkeepd (under valgrind again).
    shim = os.path.join(out, "selfexe_shim.so")
    subprocess.run(["gcc", "-O2", "-shared", "-fPIC", "-o", shim,
                    os.path.join(os.path.dirname(os.path.abspath(__file__)), "selfexe_shim.c"), "-ldl"], check=True)
    upkeepd = os.path.abspath(args.upkeepd)
    env = {"UPKEEP_SECCOMP": "off", "UPKEEP_LANDLOCK": "off", "LD_PRELOAD": shim, "SELFEXE_SHIM_PATH": upkeepd}
    # Mangled names with --mangled: what a linker script names (bench/hot_code.py --steady).
    wrap = ["valgrind", "--tool=callgrind", "--trace-children=yes", "--dump-instr=no",
            *(["--demangle=no"] if args.mangled else [])]

    def profiled(ns):
        pids = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True).stdout.split()
        found = {}
        for p in pids:
            try:
                if "callgrind" in os.readlink(f"/proc/{p}/exe"):
                    argv = open(f"/proc/{p}/cmdline").read().split("\0")
                    found[p] = argv[argv.index("--role") + 1] if "--role" in argv else "parent"
            except (OSError, ValueError):
                pass
        return found

    def window(seconds, name):
        """One run measured `seconds`, stopped and waited for (callgrind
        writes its profile at exit, here into DIR/`name`): ({pid: role},
        check runs so far)."""
        where = os.path.join(out, name)
        os.makedirs(where, exist_ok=True)

        def measure(d, _doc, _checker):
            procs = profiled(args.netns)
            # callgrind made each profile as root at start; the workers
            # write theirs at exit under their own account.
            for p in procs:
                uid = int(next(l for l in open(f"/proc/{p}/status") if l.startswith("Uid:")).split()[1])
                os.chown(os.path.join(where, f"callgrind.out.{p}"), uid, -1)
            time.sleep(seconds)
            n = runs(d)
            parent = next(p for p, role in procs.items() if role == "parent")
            os.kill(int(parent), signal.SIGTERM)
            for _ in range(600):
                if not any(os.path.exists(f"/proc/{p}") for p in procs):
                    break
                time.sleep(0.1)
            return procs, n
        procs, n = run(upkeepd, conf(args.checks), args.settle, measure,
                       wrap=[*wrap, f"--callgrind-out-file={where}/callgrind.out.%p"], env=env, ns=args.netns)
        ir = {}
        for p, role in procs.items():
            for line in open(os.path.join(where, f"callgrind.out.{p}")):
                if line.startswith(("summary:", "totals:")):
                    ir[role] = ir.get(role, 0) + int(line.split()[1])
                    break
        return ir, n

    # The same start-up and shutdown in both runs: their difference is the
    # cost of the check runs in between.
    short, long_ = args.seconds // 4, args.seconds
    (ir0, n0), (ir1, n1) = window(short, "short"), window(long_, "long")
    n = n1 - n0
    print(f"checks {args.checks}: {n} more runs in {long_ - short} s more under callgrind")
    for role in sorted(ir1):
        print(f"  {role:8} {(ir1[role] - ir0.get(role, 0)) / max(1, n):,.0f} instructions per check run")
    print(f"  all      {(sum(ir1.values()) - sum(ir0.values())) / max(1, n):,.0f} instructions per check run")
    print(f"profiles: {out}/short and {out}/long (callgrind_annotate callgrind.out.PID)")




def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--checks", type=int, default=10000)
    ap.add_argument("--seconds", type=int, default=30)
    ap.add_argument("--netns", default=NS, help="network namespace to create and use (default %(default)s)")
    ap.add_argument("--upkeepd", default=vt.UPKEEPD, help="binary (default: the release build, built when stale)")
    ap.add_argument("--callgrind", metavar="DIR", help="count instructions per check run under callgrind")
    ap.add_argument("--mangled", action="store_true", help="with --callgrind: profiles with mangled names "
                    "(for bench/hot_code.py --steady)")
    ap.add_argument("--settle", type=int, default=12, help="seconds after start before measuring")
    args = ap.parse_args()
    if args.upkeepd == vt.UPKEEPD:
        vt.ensure_release()
    if args.callgrind:
        return callgrind(args)

    def measure(d, _doc, checker):
        t0, c0 = time.time(), ticks(checker)
        time.sleep(args.seconds)
        t1, c1 = time.time(), ticks(checker)
        cpu = (c1 - c0) / os.sysconf("SC_CLK_TCK") / (t1 - t0) * 100
        rss = rss_kib(checker)
        doc = json.load(open(os.path.join(d, "status.json")))
        up = sum(1 for c in doc["checks"] if c["state"] == "up")
        text = open(os.path.join(d, "upkeepd.log")).read()
        reports = re.findall(r"check start lateness runs=(\d+) p50_us=(\d+) p99_us=(\d+) max_us=(\d+)", text)
        print(f"checks {args.checks} (up {up}), interval 1 s, {args.seconds} s measured")
        print(f"checker CPU {cpu:.1f} % of one core, RSS {rss / 1024:.1f} MiB")
        for r in reports[1:]:
            runs, p50, p99, mx = map(int, r)
            print(f"lateness over 10 s: {runs} runs, p50 {p50 / 1000:.2f} ms, p99 {p99 / 1000:.2f} ms, max {mx / 1000:.2f} ms")
    # 12 s: past the first spread-out round and one lateness report.
    run(args.upkeepd, conf(args.checks), args.settle, measure, ns=args.netns)

if __name__ == "__main__":
    sys.exit(main())
