#!/usr/bin/env python3
"""The packages' static build against the glibc build: binary size, speed
and memory of three allocators.

  glibc     target/release: x86_64-unknown-linux-gnu, glibc's malloc
            (dynamic; what the tests and other benchmarks run)
  mimalloc  target/x86_64-unknown-linux-musl/dist: static musl with
            mimalloc (daemon/src/alloc.rs): what the packages ship
  mallocng  the same static build with musl's own malloc
            (feature system-allocator), kept in target/bench-alloc/

Measures, per build: the stripped size of upkeepd; `upkeepd -t` on a
10,000-check configuration (parsing, validation: many small allocations;
median of 5); compiling the haproxy plugin with `upkeepctl plugin run`
(cranelift on several threads; median load time of 3) and instantiate +
call (p50 of 2,000 runs); the checker at 5,000 TCP checks a second for
20 s (CPU, RSS; as bench/checker_load.py, in a namespace made here); an
idle daemon with nothing configured (PSS of all its processes); and the
time from start to READY=1 with the haproxy seed (median of 5).

Needs root. --build builds the three (the musl ones: a full build of their
own the first time). Usage: bench/allocator.py [--build] [--checks N]
"""
import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import checker_load as cl  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MUSL = "x86_64-unknown-linux-musl"
BUILDS = {
    "glibc": os.path.join(ROOT, "target", "release"),
    "mimalloc": os.path.join(ROOT, "target", MUSL, "dist"),
    "mallocng": os.path.join(ROOT, "target", "bench-alloc", "mallocng"),
}
PLUGIN = os.path.join(ROOT, "target", "plugins", "haproxy.wasm")
NS = "ukbenchready"
# The daemons' plugin cache: somewhere thrown away (not /var/cache/upkeep).
CACHE_ARGS = ("--cache-dir", "/tmp/upkeep-bench-alloc-cache")


def cargo(*args):
    subprocess.run(["cargo", *args, "--locked"], cwd=ROOT, check=True)


def build():
    cargo("build", "--release", "--bins")
    base = ["build", "--profile", "dist", "--target", MUSL, "-p", "upkeep", "--bins"]
    cargo(*base, "--features", "system-allocator")
    os.makedirs(BUILDS["mallocng"], exist_ok=True)
    for b in ("upkeepd", "upkeepctl"):
        shutil.copy(os.path.join(BUILDS["mimalloc"], b), os.path.join(BUILDS["mallocng"], b))
    cargo(*base)  # back to mimalloc (the upkeep crate only is rebuilt)
    if not os.path.exists(PLUGIN):
        subprocess.run(["bash", "scripts/build-plugins.sh"], cwd=ROOT, check=True)


def stripped_size(path):
    with tempfile.NamedTemporaryFile() as t:
        subprocess.run(["strip", "-o", t.name, path], check=True)
        return os.path.getsize(t.name)


def timed(cmd, runs):
    out = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True)
        out.append(time.perf_counter() - t0)
    return statistics.median(out)


def plugin_cost(ctl):
    args = [ctl, "plugin", "run", PLUGIN, "--arg", "socket=/run/nonexistent.sock",
            "--allow", "unix=/run/nonexistent.sock", "--json"]
    loads = []
    for _ in range(3):
        r = subprocess.run(args, capture_output=True, text=True)
        loads.append(json.loads(r.stdout)["load_us"])
    r = subprocess.run(args + ["--repeat", "2000"], capture_output=True, text=True)
    total = json.loads(r.stdout)["total_us"]["p50"]
    return statistics.median(loads) / 1000, total


def pss_kib(pid):
    try:
        for line in open(f"/proc/{pid}/smaps_rollup"):
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def checker_load(upkeepd, checks, seconds):
    def measure(_d, _doc, checker):
        t0, c0 = time.time(), cl.ticks(checker)
        time.sleep(seconds)
        t1, c1 = time.time(), cl.ticks(checker)
        return (c1 - c0) / os.sysconf("SC_CLK_TCK") / (t1 - t0) * 100, cl.rss_kib(checker)
    return cl.run(upkeepd, cl.conf(checks), 12, measure, CACHE_ARGS)


def idle(upkeepd):
    def measure(_d, doc, _checker):
        pids = [doc["pid"]] + [w["pid"] for w in doc["workers"] if w["pid"]]
        return sum(pss_kib(p) for p in pids), len(pids)
    return cl.run(upkeepd, "# nothing configured\n", 5, measure, CACHE_ARGS)


def ready_ms(upkeepd, runs=5):
    """Median time from starting upkeepd (the haproxy seed, its check a
    /bin/true) to its READY=1 on a notify socket, as systemd would hear it;
    in a namespace with a veth pair made here."""
    seed = open(os.path.join(ROOT, "tests", "fixtures", "seeds", "haproxy-master.conf")).read()
    conf = seed.replace("enp0s3", "v0").replace("/etc/keepalived/haproxy_check.sh", "/bin/true")
    d = tempfile.mkdtemp(prefix="upkeep-ready-")
    subprocess.run(["ip", "netns", "del", NS], capture_output=True)
    subprocess.run(["ip", "netns", "add", NS], check=True)
    try:
        for args in (["link", "add", "v0", "type", "veth", "peer", "name", "v1"],
                     ["addr", "add", "10.97.0.1/24", "dev", "v0"], ["link", "set", "v0", "up"],
                     ["link", "set", "v1", "up"], ["link", "set", "lo", "up"]):
            subprocess.run(["ip", "-n", NS, *args], check=True)
        path = os.path.join(d, "keepalived.conf")
        open(path, "w").write(conf)
        times = []
        for k in range(runs):
            sock_path = os.path.join(d, f"notify{k}")
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            sock.bind(sock_path)
            sock.settimeout(30)
            t0 = time.perf_counter()
            p = subprocess.Popen(["ip", "netns", "exec", NS, upkeepd, "-f", path, "--runtime-dir",
                                  os.path.join(d, "run"), *CACHE_ARGS],
                                 env=dict(os.environ, NOTIFY_SOCKET=sock_path),
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                while b"READY=1" not in sock.recv(4096):
                    pass
                times.append(time.perf_counter() - t0)
            finally:
                p.terminate()
                p.wait(timeout=20)
                sock.close()
        return statistics.median(times) * 1000
    finally:
        cl.vt.teardown_netns(NS, (), d)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", action="store_true")
    ap.add_argument("--checks", type=int, default=5000)
    ap.add_argument("--seconds", type=int, default=20)
    args = ap.parse_args()
    if args.build:
        build()
    with tempfile.TemporaryDirectory() as tmp:
        big = os.path.join(tmp, "big.toml")
        open(big, "w").write(cl.conf(10000))
        rows = []
        for name, d in BUILDS.items():
            upkeepd, ctl = os.path.join(d, "upkeepd"), os.path.join(d, "upkeepctl")
            if not os.path.exists(upkeepd):
                print(f"{name}: {upkeepd} missing (run with --build)", file=sys.stderr)
                return 1
            size = stripped_size(upkeepd)
            parse = timed([upkeepd, "-t", "-f", big], 5)
            load_ms, call_us = plugin_cost(ctl)
            cpu, rss = checker_load(upkeepd, args.checks, args.seconds)
            idle_pss, nprocs = idle(upkeepd)
            ready = ready_ms(upkeepd)
            rows.append((name, size, parse, load_ms, call_us, cpu, rss, idle_pss, nprocs, ready))
            print(f"{name}: {rows[-1]}", file=sys.stderr, flush=True)
    print(f"| build | upkeepd (stripped) | `-t`, 10,000 checks | plugin compile | instantiate+call p50 "
          f"| checker, {args.checks} checks/s: CPU | RSS | idle, {rows[0][8]} processes: PSS | start to READY=1 |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, size, parse, load_ms, call_us, cpu, rss, idle_pss, _, ready in rows:
        print(f"| {name} | {size / 1048576:.1f} MiB | {parse * 1000:.0f} ms | {load_ms:.0f} ms | {call_us:.1f} µs "
              f"| {cpu:.1f} % | {rss / 1024:.1f} MiB | {idle_pss / 1024:.1f} MiB | {ready:.0f} ms |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
