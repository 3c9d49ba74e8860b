#!/usr/bin/env python3
"""Cost of WASM check plugins: instantiate + call per check, and checker RSS.

1. `upkeepctl plugin run FILE --repeat N --json` (release build) for the
   Rust, C and Python conformance plugins and the haproxy and nginx plugins
   (no probes: each call is the plugin's own work plus the host's, with
   nothing to wait for). Each run is a fresh instance from an InstancePre
   with the pooling allocator. Reports p50/p99 of instantiate, call and
   their sum.
2. Checker RSS (VmRSS) in a running upkeepd with 0, 1 and 10 plugin checks
   (plus a Python one alone), in a network namespace made here, after the
   plugins are compiled and have run for a while.

Needs root, a release build (built here) and target/plugins/ (built by
scripts/build-plugins.sh).
Usage: bench/plugin_cost.py [--repeat 20000] [--settle 8]
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
import vrrp_takeover as vt  # noqa: E402

CTL = os.path.join(vt.ROOT, "target", "release", "upkeepctl")
PLUGINS = os.path.join(vt.ROOT, "target", "plugins")
NS = "ukbenchplug"


def cost(name, repeat, cache):
    # haproxy and nginx need their required arg; nothing is granted, so
    # they answer at once (denied) and the call measures the plugin itself.
    extra = {"haproxy": ["--arg", "socket=/nonexistent"],
             "nginx": ["--arg", "url=http://127.0.0.1:1/"]}.get(name, [])
    out = subprocess.run([CTL, "plugin", "run", os.path.join(PLUGINS, name + ".wasm"), "--json",
                          "--repeat", str(repeat), "--cache-dir", cache] + extra,
                         capture_output=True, text=True)
    if out.returncode == 2:
        raise RuntimeError(out.stderr)
    return json.loads(out.stdout)


def checker_rss(checks, d):
    """Starts upkeepd with `checks` (list of plugin file names) as plugin
    checks plus one shell check, returns the checker's VmRSS, VmHWM and anonymous memory in MiB."""
    conf = ""
    for i, f in enumerate(checks):
        path = os.path.join(d, f + ".wasm")
        if not os.path.exists(path):
            shutil.copy(os.path.join(PLUGINS, f + ".wasm"), path)
        conf += f"""[[vrrp_script]]
name = "p{i}"
interval = 1
timeout = 0.5
[vrrp_script.plugin]
file = "{path}"
args = {{ file = "/proc/loadavg" }}
[vrrp_script.plugin.allow]
files = ["/proc/loadavg"]
"""
    conf += '[[vrrp_script]]\nname = "shell"\nscript = "/bin/true"\ninterval = 1\n'
    path = os.path.join(d, "upkeep.toml")
    open(path, "w").write(conf)
    run = os.path.join(d, "run")
    os.makedirs(run, exist_ok=True)
    # The checker runs unprivileged: it must be able to read the plugins.
    os.chmod(d, 0o755)
    log = open(os.path.join(d, "upkeepd.log"), "a")
    p = subprocess.Popen(["ip", "netns", "exec", NS, vt.UPKEEPD, "-f", path, "--runtime-dir", run,
                          "--cache-dir", os.path.join(d, "cache")], stdout=subprocess.DEVNULL, stderr=log)
    try:
        deadline = time.time() + 120
        while time.time() < deadline:
            try:
                doc = json.load(open(os.path.join(run, "status.json")))
                ran = [c for c in doc["checks"] if c["runs"] >= 3]
                broken = [c for c in doc["checks"] if "plugin" in (c.get("last_result") or "")
                          and "cannot" in (c.get("last_result") or "")]
                if broken:
                    raise RuntimeError(f"plugin not loaded: {broken[0]}")
                if len(ran) == len(checks) + 1:
                    pid = next(w["pid"] for w in doc["workers"] if w["role"] == "checker")
                    time.sleep(args.settle)
                    st = open(f"/proc/{pid}/status").read().splitlines()
                    kib = {l.split(":")[0]: int(l.split()[1]) for l in st if l.startswith(("VmRSS", "VmHWM"))}
                    # Anonymous: memory of this process alone (RSS also
                    # counts the binary's pages, shared with the parent).
                    anon = next(int(l.split()[1]) for l in open(f"/proc/{pid}/smaps_rollup")
                                if l.startswith("Anonymous:"))
                    return kib["VmRSS"] / 1024, kib["VmHWM"] / 1024, anon / 1024
            except (OSError, ValueError, KeyError, StopIteration):
                pass
            time.sleep(0.2)
        raise RuntimeError("checks did not run; see " + d)
    finally:
        p.send_signal(signal.SIGTERM)
        p.wait(timeout=10)


def main():
    global args
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=20000)
    ap.add_argument("--settle", type=int, default=8)
    args = ap.parse_args()
    vt.ensure_release()
    d = tempfile.mkdtemp(prefix="upkeep-plugin-bench-")
    os.chmod(d, 0o755)
    subprocess.run(["ip", "netns", "del", NS], capture_output=True)
    subprocess.run(["ip", "netns", "add", NS], check=True)
    try:
        subprocess.run(["ip", "-n", NS, "link", "set", "lo", "up"], check=True)
        print(f"instantiate + call, {args.repeat} runs each (fresh instance per run), in microseconds")
        print("| plugin | size | compile (ms) | instantiate p50 | call p50 | total p50 | total p99 |")
        print("|---|---:|---:|---:|---:|---:|---:|")
        cache = os.path.join(d, "ctl-cache")
        for name in ["conformance-rust", "conformance-c", "conformance-py", "haproxy", "nginx"]:
            cost(name, 0, cache)  # compile once into the cache
            r = cost(name, args.repeat if name != "conformance-py" else args.repeat // 10, cache)
            size = os.path.getsize(os.path.join(PLUGINS, name + ".wasm"))
            first = cost(name, 0, os.path.join(d, "cold-" + name))
            print(f"| {name} | {size / 1024:.0f} KiB | {first['load_us'] / 1000:.0f} | {r['instantiate_us']['p50']:.1f} | "
                  f"{r['call_us']['p50']:.1f} | {r['total_us']['p50']:.1f} | {r['total_us']['p99']:.1f} |")
        print()
        print("checker RSS with N plugin checks (plus one shell check), MiB")
        print("| plugin checks | files | RSS, first start | peak (compiling) | RSS, start from cache | anonymous, from cache |")
        print("|---|---|---:|---:|---:|---:|")
        ten = ["conformance-rust", "conformance-c", "haproxy", "nginx"] * 2 + ["conformance-rust", "conformance-c"]
        for label, checks in [("0", []), ("1 (Rust)", ["conformance-rust"]), ("10", ten),
                              ("1 (Python)", ["conformance-py"])]:
            sub = tempfile.mkdtemp(dir=d)
            rss, peak, _ = checker_rss(checks, sub)
            warm, _, anon = checker_rss(checks, sub)  # again: compiled plugins come from the cache
            files = ", ".join(sorted(set(checks))) or "-"
            print(f"| {label} | {files} | {rss:.1f} | {peak:.1f} | {warm:.1f} | {anon:.1f} |")
    finally:
        vt.teardown_netns(NS, (), d)


if __name__ == "__main__":
    main()
