#!/usr/bin/env python3
"""From kill -9 of an nginx that cannot restart to the VIP answered by the
backup: upkeep's restart-then-demote against keepalived with a check in the
style of the seed's nginx_check.sh, same lab, same cadence.

Two nodes in network namespaces (vrrp_takeover.py's lab), nginx on each
(serving "node-a" / "node-b"), a client on the bridge fetching http://VIP/.
A's nginx configuration is broken, then every nginx process of A is killed;
the time until the client gets "node-b" is measured, --runs times.

- upkeep: vrrp_script `curl` every 1 s (fall 1), upkeep_restart nginx,
  grace 3 s, demote resign (priority-0 advert, the peer takes over after
  Skew_Time).
- keepalived: the seed's logic as a vrrp_script every 1 s: nginx down ->
  start it, sleep 3, still down -> stop keepalived (by its pid file, not
  killall, since both nodes share the host), which resigns with priority 0.

Needs root, nginx, curl, keepalived; builds the release upkeepd if missing.
Usage: bench/nginx_failover.py [--runs 5]
"""
import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vrrp_takeover as vt  # noqa: E402

CLIENT_IP = "10.78.0.200"


def nginx_conf(d, page):
    return f"""daemon on;
pid {d}/nginx.pid;
error_log {d}/nginx-error.log;
events {{ worker_connections 64; }}
http {{
    access_log off;
    server {{ listen 80; location / {{ default_type text/plain; return 200 "{page}\\n"; }} }}
}}
"""


KEEPALIVED_CHECK = """#!/bin/bash
# nginx_check.sh's logic as a vrrp_script: restart nginx if it died; if the
# restart fails, stop keepalived so that the BACKUP takes the VIP.
if ! kill -0 "$(cat {d}/nginx.pid 2>/dev/null)" 2>/dev/null; then
    /usr/sbin/nginx -c {d}/nginx.conf
    sleep 3
    if ! kill -0 "$(cat {d}/nginx.pid 2>/dev/null)" 2>/dev/null; then
        kill -TERM "$(cat {d}/k.pid)"
        exit 1
    fi
fi
exit 0
"""


def daemon_conf(daemon, d, prio):
    instance = f"""vrrp_instance VI_1 {{
    state BACKUP
    interface eth0
    virtual_router_id 51
    priority {prio}
    advert_int 1
    virtual_ipaddress {{
        {vt.VIP}
    }}
    track_script {{
        chk_nginx
    }}
}}
"""
    if daemon == "upkeep":
        return f"""vrrp_script chk_nginx {{
    script "/usr/bin/curl -fsS -m 1 -o /dev/null http://127.0.0.1/"
    interval 1
    fall 1
    upkeep_restart "/usr/sbin/nginx -c {d}/nginx.conf"
    upkeep_restart_grace 3
    upkeep_demote resign
}}
""" + instance
    return f"""vrrp_script chk_nginx {{
    script "{d}/check.sh"
    interval 1
    timeout 10
    fall 1
}}
""" + instance


def fetch(lab):
    r = subprocess.run(["ip", "netns", "exec", lab.br, "curl", "-s", "-m", "0.5", f"http://{vt.VIP}/"],
                       capture_output=True, text=True)
    return r.stdout.strip()


def kill_nginx(lab, node):
    for pid in vt.sh("ip", "netns", "pids", lab.ns[node], check=False).split():
        try:
            if open(f"/proc/{pid}/comm").read().strip() == "nginx":
                os.kill(int(pid), signal.SIGKILL)
        except OSError:
            pass


def one_run(daemon, tag):
    lab = vt.Lab(f"n{tag}")
    try:
        vt.sh("ip", "-n", lab.br, "addr", "add", f"{CLIENT_IP}/24", "dev", "br0")
        dirs = []
        for node, page in [(0, "node-a"), (1, "node-b")]:
            d = os.path.join(lab.dir, f"{daemon}{node}")
            os.makedirs(d, exist_ok=True)
            open(f"{d}/nginx.conf", "w").write(nginx_conf(d, page))
            open(f"{d}/check.sh", "w").write(KEEPALIVED_CHECK.format(d=d))
            os.chmod(f"{d}/check.sh", 0o755)
            vt.sh("ip", "netns", "exec", lab.ns[node], "/usr/sbin/nginx", "-c", f"{d}/nginx.conf")
            dirs.append(d)
        for node, prio in [(0, 100), (1, 99)]:
            vt.start(lab, node, daemon, daemon_conf(daemon, dirs[node], prio))
        if not vt.wait(lambda: fetch(lab) == "node-a", 20):
            raise RuntimeError("client never reached A")
        time.sleep(2)
        open(f"{dirs[0]}/nginx.conf", "w").write("broken;\n")
        t0 = time.time()
        kill_nginx(lab, 0)
        if not vt.wait(lambda: fetch(lab) == "node-b", 30):
            raise RuntimeError("client never reached B")
        return (time.time() - t0) * 1000
    finally:
        lab.destroy()
        shutil.rmtree(lab.dir, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    vt.ensure_release()
    print(f"{'daemon':<11} {'median ms':>10} {'min':>8} {'max':>8}   (kill -9 of a broken nginx -> client served by B; {args.runs} runs)")
    for daemon in ["upkeep", "keepalived"]:
        ms = [one_run(daemon, r) for r in range(args.runs)]
        print(f"{daemon:<11} {statistics.median(ms):>10.0f} {min(ms):>8.0f} {max(ms):>8.0f}   {[round(m) for m in ms]}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
