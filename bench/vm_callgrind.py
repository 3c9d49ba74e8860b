#!/usr/bin/env python3
"""Callgrind profiles of the IPVS worker while it programs a real IPVS table.

This machine's kernel has no IPVS, so bench/checker_load.py --callgrind
sees the IPVS worker only failing its netlink calls; the code it runs
against a kernel that has IPVS (the real servers' updates, the table's
reads) shows only in the IPVS VM (tests/vm/vm.py). Here upkeepd runs under
valgrind's callgrind in that VM with bench/checker_load_vm.py's
configuration and listener (N TCP checks at 1 s), twice: --short and
--long seconds. The profiles of the processes whose role is in --roles
(default the IPVS worker: the parent and the checker are profiled on the
host, faster) are written to DIR/short and DIR/long, names as the linker
sees them, for bench/hot_code.py --steady DIR.

Under valgrind in a TCG guest a worker answers the parent's ping tens of
seconds late: the guest's daemon runs with UPKEEP_HEARTBEAT_TIMEOUT=600
(supervisor/heartbeat.rs), or the IPVS worker is restarted in the window.
The checker is not traced (it would take the guest's CPU from the others).
Each worker's profile is dumped through vgdb before the daemon is stopped
(the first part, callgrind.out.PID.1: start-up and the window).

Usage: bench/vm_callgrind.py DIR [--checks 500] [--short 90] [--long 240]
       [--upkeepd target/release/upkeepd] [--roles ipvs]
Needs what tests/vm/vm.py needs, gcc and valgrind (apt-get install -y valgrind).
"""
import argparse
import os
import re
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(ROOT, "tests", "vm"))
sys.path.insert(0, HERE)
import vm  # noqa: E402
import checker_load_vm as clv  # noqa: E402

# Debian's /usr/bin/valgrind is a wrapper script around valgrind.bin; the
# tool and preload objects are found through VALGRIND_LIB.
VALGRIND = "/usr/bin/valgrind.bin"
VALGRIND_LIB = "/usr/libexec/valgrind"
VALGRIND_FILES = ["callgrind-amd64-linux", "vgpreload_core-amd64-linux.so", "default.supp"]


def guest_script(seconds):
    """The guest's /test: listener, upkeepd under callgrind for `seconds`,
    then every profile sent back line by line, marked with its pid."""
    return f"""
set -u
sysctl -w net.ipv4.ip_local_port_range="1024 65535" >/dev/null
ulimit -n 65536
/usr/bin/listener 20000 {clv.PORTS} 1000 > /tmp/listener.out 2>&1 &
sleep 1
mkdir -p /tmp/cg; chmod 1777 /tmp/cg
export UPKEEP_SECCOMP=off UPKEEP_LANDLOCK=off UPKEEP_HEARTBEAT_TIMEOUT=600
export LD_PRELOAD=/usr/lib/selfexe_shim.so SELFEXE_SHIM_PATH=/usr/sbin/upkeepd VALGRIND_LIB={VALGRIND_LIB}
valgrind --tool=callgrind --trace-children=yes --trace-children-skip-by-arg=checker \\
  --dump-instr=no --demangle=no --callgrind-out-file=/tmp/cg/callgrind.out.%p \\
  /usr/sbin/upkeepd -f {clv.CONF} --runtime-dir /run/upkeep > /tmp/daemon.log 2>&1 &
DPID=$!
sleep {seconds}
vm_result "LISTENER $(tail -n 1 /tmp/listener.out)"
# Each traced worker's profile now, through valgrind's gdbserver: at
# shutdown the parent kills a worker whose socket reset (it closed with
# pings unread) while valgrind is still writing the profile out.
for d in /proc/[0-9]*; do
  case "$(tr '\\0' ' ' < $d/cmdline 2>/dev/null)" in
    *callgrind*--role*) p=${{d#/proc/}}; vgdb --pid=$p dump > /dev/null 2>&1 || vm_result "NODUMP $p";;
  esac
done
sleep 5
kill -TERM $DPID
i=0; while kill -0 $DPID 2>/dev/null && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done
sleep 2
tail -n 20 /tmp/daemon.log
for f in /tmp/cg/callgrind.out.*.1; do
  p=${{f#/tmp/cg/callgrind.out.}}; p=${{p%.1}}
  vm_result "FILE $p $(wc -c < $f)"
  sed "s/^/CG $p /" $f > /dev/ttyS1
done
"""


def profiles(results):
    """{pid: profile text} from the guest's CG lines."""
    out = {}
    for line in results.splitlines():
        m = re.match(r"CG (\d+) (.*)$", line)
        if m:
            out.setdefault(m[1], []).append(m[2])
        elif re.match(r"CG (\d+) ?$", line):
            out.setdefault(line.split()[1], []).append("")
    return {p: "\n".join(lines) + "\n" for p, lines in out.items()}


def role_of(text):
    m = re.search(r"^cmd:.*--role (\w+)", text, re.M)
    return m[1] if m else "parent"


def window(args, seconds, where, files, bins):
    os.makedirs(where, exist_ok=True)
    code, text, results = vm.run(guest_script(seconds), files, bins, timeout=seconds + 600,
                                 console=os.path.join(where, "console"))
    kept = []
    for pid, prof in profiles(results).items():
        role = role_of(prof)
        if role in args.roles:
            path = os.path.join(where, f"callgrind.out.{pid}")
            open(path, "w").write(prof)
            kept.append((role, path))
    listener = [l for l in results.splitlines() if l.startswith("LISTENER")]
    print(f"{seconds} s: guest exit {code}, {listener}, kept {kept}", flush=True)
    if code != 0 or not kept:
        sys.exit(f"no profile of {args.roles} from the guest (console: {where}/console)")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("--checks", type=int, default=500)
    ap.add_argument("--short", type=int, default=90)
    ap.add_argument("--long", type=int, default=240)
    ap.add_argument("--upkeepd", default=os.path.join(ROOT, "target", "release", "upkeepd"))
    ap.add_argument("--roles", nargs="+", default=["ipvs"])
    args = ap.parse_args()
    if not (os.path.exists(VALGRIND) and os.path.exists("/usr/bin/vgdb") and all(os.path.exists(os.path.join(VALGRIND_LIB, f)) for f in VALGRIND_FILES)):
        sys.exit("valgrind missing: apt-get install -y valgrind")
    out = os.path.abspath(args.dir)
    os.makedirs(out, exist_ok=True)
    shim = os.path.join(out, "selfexe_shim.so")
    subprocess.run(["gcc", "-O2", "-shared", "-fPIC", "-o", shim, os.path.join(HERE, "selfexe_shim.c"), "-ldl"],
                   check=True)
    conf = os.path.join(out, "keepalived.conf")
    open(conf, "w").write(clv.conf(args.checks))
    files = [(conf, clv.CONF), (clv.listener_binary(), "/usr/bin/listener"), (shim, "/usr/lib/selfexe_shim.so"),
             *((os.path.join(VALGRIND_LIB, f), os.path.join(VALGRIND_LIB, f)) for f in VALGRIND_FILES)]
    bins = [(os.path.abspath(args.upkeepd), "/usr/sbin/upkeepd"), (VALGRIND, "/usr/bin/valgrind"),
            ("/usr/bin/vgdb", "/usr/bin/vgdb")]
    if not shutil.which("qemu-system-x86_64"):
        sys.exit("qemu-system-x86_64 missing: apt-get install --no-install-recommends qemu-system-x86")
    window(args, args.short, os.path.join(out, "short"), files, bins)
    window(args, args.long, os.path.join(out, "long"), files, bins)


if __name__ == "__main__":
    main()
