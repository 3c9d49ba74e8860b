#!/usr/bin/env python3
"""10,000 TCP checks at 1 s intervals against local listeners.

In a network namespace created here (loopback only), 100 listening ports
accept connections; upkeepd runs 100 virtual servers x 100 real servers with
TCP_CHECK (delay_loop 1), i.e. 10,000 checks a second. Reports the checker
process's CPU and RSS over --seconds, and the scheduler's lateness of check
starts against their schedule (p50/p99/max, as the checker logs it every
10 s). keepalived's checker needs a kernel with IPVS to run real-server
checks, which this machine's kernel lacks: no keepalived figure here.

Needs root and a release build (built when missing).
Usage: bench/checker_load.py [--checks 10000] [--seconds 30]
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vrrp_takeover as vt  # noqa: E402

NS = "ukbenchchk"
LISTENER = r"""
import socket, selectors, sys
sel = selectors.DefaultSelector()
for p in range(20000, 20100):
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", p)); s.listen(4096); s.setblocking(False)
    sel.register(s, selectors.EVENT_READ)
while True:
    for key, _ in sel.select():
        try:
            c, _ = key.fileobj.accept(); c.close()
        except BlockingIOError:
            pass
"""


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


def run(upkeepd, conf_text, settle, measure, extra=()):
    """Runs `upkeepd` on `conf_text` in a namespace of its own (loopback,
    with the 100 listeners), waits until every worker runs and `settle`
    seconds more, then returns measure(runtime_dir, status_doc, checker_pid).
    Everything is removed afterwards; on failure the log's tail is printed."""
    d = tempfile.mkdtemp(prefix="upkeep-chk-bench-")
    subprocess.run(["ip", "netns", "del", NS], capture_output=True)
    subprocess.run(["ip", "netns", "add", NS], check=True)
    procs = []
    try:
        subprocess.run(["ip", "-n", NS, "link", "set", "lo", "up"], check=True)
        procs.append(subprocess.Popen(["ip", "netns", "exec", NS, "python3", "-c", LISTENER]))
        path = os.path.join(d, "upkeep.toml")
        open(path, "w").write(conf_text)
        log = open(os.path.join(d, "upkeepd.log"), "w")
        procs.append(subprocess.Popen(["ip", "netns", "exec", NS, upkeepd, "-f", path, "--runtime-dir", d, *extra],
                                      stdout=subprocess.DEVNULL, stderr=log))
        doc = None
        for _ in range(300):
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
        vt.teardown_netns(NS, procs, d)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--checks", type=int, default=10000)
    ap.add_argument("--seconds", type=int, default=30)
    args = ap.parse_args()
    vt.ensure_release()

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
    run(vt.UPKEEPD, conf(args.checks), 12, measure)


if __name__ == "__main__":
    sys.exit(main())
