#!/usr/bin/env python3
"""IPVS table programming: upkeep against ipvsadm-restore and keepalived
2.2.7, in the VM of tests/vm (this host has no IPVS), one boot.

The table: --services virtual services (TCP, wrr, NAT) of --per real servers
each (10,000 in 100 by default), static (no checks: every real server is up
at once in both daemons), the same keepalived.conf for both daemons.

Measured, in this order:
  1. cold start: from launching ipvsadm-restore / upkeepd / keepalived (-C,
     checker only) to /proc/net/ip_vs listing every real server; for upkeep
     also its own figure for the start reconcile (log: took_us);
  2. a reload changing one real server's weight (upkeep: upkeepctl reload;
     keepalived: SIGHUP): time until the kernel shows the new weight, and the
     IPVS netlink requests sent (nlmon capture: writes and reads by command);
  3. an unchanged table: upkeep reconciles it every 5 s: the duration of
     those reconciles (status.json) and the IPVS worker's CPU over --idle s
     (utime+stime); keepalived's checker child's CPU over the same time.

Usage: bench/ipvs_vm.py [--services 100] [--per 100] [--idle 60]
       [--upkeepd target/release/upkeepd] [--json FILE]
Build first: cargo build --release --no-default-features --bin upkeepd --bin upkeepctl
(plugins are not needed here).
"""
import argparse
import base64
import json
import os
import re
import struct
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(ROOT, "tests", "vm"))
import vm  # noqa: E402

CMDS = {1: "NEW_SERVICE", 2: "SET_SERVICE", 3: "DEL_SERVICE", 4: "GET_SERVICE", 5: "NEW_DEST",
        6: "SET_DEST", 7: "DEL_DEST", 8: "GET_DEST", 9: "NEW_DAEMON", 10: "DEL_DAEMON",
        11: "GET_DAEMON", 15: "GET_INFO", 17: "FLUSH"}

GUEST = r"""
set -u
export PATH=/usr/sbin:/bin:/sbin:/usr/bin
vm_modprobe nlmon
EXPECT=@EXPECT@
IDLE=@IDLE@
now() { cut -d' ' -f1 /proc/uptime; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.3f", b - a }'; }
full() { [ "$(wc -l < /proc/net/ip_vs)" -ge "$EXPECT" ]; }
# wait_full: polls /proc/net/ip_vs every 20 ms (at most 600 s).
wait_full() { i=0; while ! full && [ $i -lt 15000 ]; do sleep 0.02; i=$((i + 1)); done; full; }
# weight_is HEXRS W: /proc/net/ip_vs shows real server HEXRS (0A010064:0050)
# with weight W (read from /proc, not netlink: the capture counts only the
# daemons' requests).
weight_is() { grep -q " -> $1 *[A-Za-z]* *$2 " /proc/net/ip_vs; }
wait_weight() { i=0; while ! weight_is "$@" && [ $i -lt 1200 ]; do sleep 0.05; i=$((i + 1)); done; weight_is "$@"; }
capture() {
    /usr/sbin/ip link add nlmon0 type nlmon; /usr/sbin/ip link set nlmon0 up
    # 100 bytes a datagram: the headers of its first message (the dump
    # replies are megabytes; every request here is alone in its datagram).
    /usr/sbin/tcpdump -Z root -U -s 100 -i nlmon0 -w "/tmp/$1.pcap" 2>/tmp/tcpdump.log &
    TCPDUMP=$!
    i=0; while ! grep -q listening /tmp/tcpdump.log && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
}
capture_end() {
    sleep 1; kill $TCPDUMP; wait $TCPDUMP; /usr/sbin/ip link del nlmon0
    vm_result "PCAP $1"
    base64 "/tmp/$1.pcap" > /dev/ttyS1
    vm_result "ENDPCAP"
}
cpu() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
HZ=100

# ---- 1. ipvsadm-restore
t=$(now)
# ipvsadm-restore is "ipvsadm -R"
ipvsadm -R < /bench/rules
wait_full || { vm_result "ERROR restore incomplete"; exit 1; }
vm_result "restore_cold_s $(since "$t")"
ipvsadm -C

# ---- 2. upkeep
mkdir -p /run/u
t=$(now)
RUST_LOG=info,upkeep::ipvs=debug /usr/sbin/upkeepd -f /bench/keepalived.conf --runtime-dir /run/u > /tmp/upkeep.log 2>&1 &
UPID=$!
wait_full || { vm_result "ERROR upkeep incomplete"; tail -50 /tmp/upkeep.log; exit 1; }
vm_result "upkeep_cold_s $(since "$t")"
sleep 1
vm_result "upkeep_cold_reconcile_us $(grep 'cause="start"' /tmp/upkeep.log | sed -n 's/.*took_us=\([0-9]*\).*/\1/p' | head -1)"
sleep 6
IPVS=$(awk '/"role": "ipvs"/ { f = 1 } f && /"pid"/ { gsub(/[^0-9]/, "", $2); print $2; exit }' /run/u/status.json)
c0=$(cpu "$IPVS"); t=$(now)
sleep "$IDLE"
vm_result "upkeep_idle_cpu_pct $(awk -v c="$(( $(cpu "$IPVS") - c0 ))" -v s="$(since "$t")" -v hz=$HZ 'BEGIN { printf "%.2f", 100 * c / hz / s }')"
vm_result "upkeep_periodic_reconcile_us $(grep 'nothing to change' /tmp/upkeep.log | grep -o 'took_us=[0-9]*' | cut -d= -f2 | tr '\n' ' ')"
vm_result "upkeep_periodic_dump_us $(grep 'nothing to change' /tmp/upkeep.log | grep -o 'dump_us=[0-9]*' | cut -d= -f2 | tr '\n' ' ')"
capture upkeep_reload
sed 's/^@CHANGE_FROM@$/@CHANGE_TO@/' /bench/keepalived.conf > /tmp/k2 && cp /tmp/k2 /bench/keepalived.conf
t=$(now)
/usr/sbin/upkeepctl --runtime-dir /run/u reload > /dev/null
wait_weight @HEXRS@ 7 || { vm_result "ERROR upkeep reload not applied"; tail -50 /tmp/upkeep.log; exit 1; }
vm_result "upkeep_reload_s $(since "$t")"
sleep 1
vm_result "upkeep_reload_reconcile_us $(grep 'cause="reload"' /tmp/upkeep.log | sed -n 's/.*took_us=\([0-9]*\).*/\1/p' | head -1)"
capture_end upkeep_reload
kill $UPID; wait $UPID
ipvsadm -C
cp /bench/keepalived.orig /bench/keepalived.conf

# ---- 3. keepalived
t=$(now)
/usr/sbin/keepalived -n -l -C -f /bench/keepalived.conf -p /run/k.pid -c /run/kc.pid > /tmp/k.log 2>&1 &
KPID=$!
wait_full || { vm_result "ERROR keepalived incomplete"; tail -50 /tmp/k.log; exit 1; }
vm_result "keepalived_cold_s $(since "$t")"
sleep 6
KC=$(cat /run/kc.pid)
c0=$(cpu "$KC"); t=$(now)
sleep "$IDLE"
vm_result "keepalived_idle_cpu_pct $(awk -v c="$(( $(cpu "$KC") - c0 ))" -v s="$(since "$t")" -v hz=$HZ 'BEGIN { printf "%.2f", 100 * c / hz / s }')"
capture keepalived_reload
sed 's/^@CHANGE_FROM@$/@CHANGE_TO@/' /bench/keepalived.conf > /tmp/k2 && cp /tmp/k2 /bench/keepalived.conf
t=$(now)
kill -HUP "$(cat /run/k.pid)"
wait_weight @HEXRS@ 7 || { vm_result "ERROR keepalived reload not applied"; tail -50 /tmp/k.log; exit 1; }
vm_result "keepalived_reload_s $(since "$t")"
capture_end keepalived_reload
kill $KPID; wait $KPID
"""


def config(services, per):
    vs, rules = [], []
    for i in range(services):
        svc = f"10.0.{i // 250}.{i % 250 + 1}"
        vs.append(f"virtual_server {svc} 80 {{\n    lb_algo wrr\n    lb_kind NAT\n    protocol TCP\n")
        rules.append(f"-A -t {svc}:80 -s wrr")
        for j in range(per):
            rs = f"10.{1 + i // 250}.{i % 250}.{j + 1}"
            vs.append(f"    real_server {rs} 80 {{\n        weight 1\n    }}\n")
            rules.append(f"-a -t {svc}:80 -r {rs}:80 -m -w 1")
        vs.append("}\n")
    return "".join(vs), "\n".join(rules) + "\n"


def ipvs_requests(pcap):
    """{command: count} of the IPVS generic netlink requests in a capture."""
    magic, = struct.unpack_from("<I", pcap, 0)
    assert magic == 0xA1B2C3D4
    off, counts = 24, {}
    while off + 16 <= len(pcap):
        caplen, = struct.unpack_from("<I", pcap, off + 8)
        p = pcap[off + 16: off + 16 + caplen]
        off += 16 + caplen
        if len(p) < 16 or struct.unpack_from(">H", p, 14)[0] != 16:
            continue
        data, o = p[16:], 0
        while o + 20 <= len(data):
            length, typ, flags = struct.unpack_from("=IHH", data, o)
            if length < 16:
                break
            if typ != 0x10 and flags & 1:
                name = CMDS.get(data[o + 16], str(data[o + 16]))
                counts[name] = counts.get(name, 0) + 1
            o += (length + 3) & ~3
    return counts


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--services", type=int, default=100)
    ap.add_argument("--per", type=int, default=100)
    ap.add_argument("--idle", type=int, default=60)
    ap.add_argument("--upkeepd", default=os.path.join(ROOT, "target", "release", "upkeepd"))
    ap.add_argument("--json")
    a = ap.parse_args()
    upkeepctl = os.path.join(os.path.dirname(a.upkeepd), "upkeepctl")
    for b in (a.upkeepd, upkeepctl):
        if not os.path.exists(b):
            sys.exit(f"{b}: missing (cargo build --release --no-default-features --bin upkeepd --bin upkeepctl)")
    conf, rules = config(a.services, a.per)
    # The reload: the last real server of the first service, weight 1 -> 7.
    hexrs = f"0A0100{a.per:02X}:0050"
    lines = conf.split("\n")
    idx = next(i for i, l in enumerate(lines) if l == f"    real_server 10.1.0.{a.per} 80 {{")
    lines[idx + 1] = "        weight 1 #change"
    conf = "\n".join(lines)
    guest = (GUEST.replace("@EXPECT@", str(3 + a.services + a.services * a.per))
             .replace("@IDLE@", str(a.idle)).replace("@HEXRS@", hexrs)
             .replace("@CHANGE_FROM@", "        weight 1 #change")
             .replace("@CHANGE_TO@", "        weight 7 #change"))
    with tempfile.TemporaryDirectory(prefix="upkeep-bench-ipvs-") as tmp:
        files = []
        for name, text in (("keepalived.conf", conf), ("keepalived.orig", conf), ("rules", rules)):
            path = os.path.join(tmp, name)
            open(path, "w").write(text)
            files.append((path, f"/bench/{name}"))
        code, console, results = vm.run(guest, files=files,
                                        bins=[(a.upkeepd, "/usr/sbin/upkeepd"), (upkeepctl, "/usr/sbin/upkeepctl")],
                                        modules=["ip_vs", "ip_vs_wrr"], timeout=1800, mem=2048)
    if code != 0 or "ERROR" in results:
        sys.stdout.write(console[-5000:])
        sys.exit(f"guest exit status {code}: {[l for l in results.splitlines() if 'ERROR' in l]}")
    out, pcap, name = {}, None, None
    for line in results.splitlines():
        if line.startswith("PCAP "):
            name, pcap = line.split()[1], []
        elif line == "ENDPCAP":
            out[name + "_requests"] = ipvs_requests(base64.b64decode("".join(pcap)))
            pcap = None
        elif pcap is not None:
            pcap.append(line.strip())
        elif re.match(r"^\w+ ", line):
            k, v = line.split(" ", 1)
            vals = [float(x) for x in v.split()]
            out[k] = vals[0] if len(vals) == 1 else vals
    out["table"] = {"services": a.services, "real_servers": a.services * a.per}
    print(json.dumps(out, indent=2))
    if a.json:
        json.dump(out, open(a.json, "w"), indent=2)


if __name__ == "__main__":
    main()
