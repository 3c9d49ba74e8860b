#!/usr/bin/env bash
# upkeep's demo: a two-node lab in network namespaces (veth + bridge, all
# created here and removed on exit, Ctrl-C included) running the Nginx pair
# configuration from the seeds, rewritten to the lab's addresses. It shows the
# VIP on the master, kills the master, and measures the takeover from a
# packet capture. Run as root. Traffic stays inside the namespaces.
set -euo pipefail
cd "$(dirname "$0")/.."

need() { command -v "$1" >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq "$2" >/dev/null; }; }
need ip iproute2
need tcpdump tcpdump

cargo build --quiet --bins
# Where cargo put it: CARGO_TARGET_DIR when set (a shared build), else target/.
bin=${CARGO_TARGET_DIR:-$PWD/target}/debug/upkeepd
[ -x "$bin" ] || { echo "demo: $bin was not built" >&2; exit 1; }
work=$(mktemp -d /tmp/upkeep-demo.XXXXXX)
A=updemo-a B=updemo-b BR=updemo-br VIP=10.77.0.100

cleanup() {
    set +e
    for ns in $A $B $BR; do
        for pid in $(ip netns pids $ns 2>/dev/null); do kill -9 "$pid" 2>/dev/null; done
        ip netns del $ns 2>/dev/null
    done
    rm -rf "$work"
}
trap cleanup EXIT INT TERM
cleanup 2>/dev/null; work=$(mktemp -d /tmp/upkeep-demo.XXXXXX)

echo "== lab: $A (10.77.0.10) and $B (10.77.0.11) on a bridge in $BR"
ip netns add $BR
ip -n $BR link add br0 type bridge
ip -n $BR link set br0 type bridge mcast_snooping 0
ip -n $BR link set br0 up
i=0
for ns in $A $B; do
    ip netns add $ns
    ip link add eth0 netns $ns type veth peer name p$i netns $BR
    ip -n $BR link set p$i master br0 up
    ip -n $ns link set lo up
    ip -n $ns link set eth0 up
    ip -n $ns addr add 10.77.0.1$i/24 dev eth0
    i=$((i + 1))
done

# The seed configurations, with the lab's addresses.
sed -e 's/192.168.1.103/10.77.0.10/; s/192.168.1.108/'$VIP'/' tests/fixtures/seeds/nginx-master.conf >"$work/a.conf"
sed -e 's/192.168.1.104/10.77.0.11/; s/192.168.1.108/'$VIP'/' tests/fixtures/seeds/nginx-backup.conf >"$work/b.conf"

ip netns exec $BR tcpdump --immediate-mode -U -n -i br0 -w "$work/wire.pcap" 'ip proto 112 or arp' 2>/dev/null &
sleep 0.5
ip netns exec $A "$bin" -f "$work/a.conf" --runtime-dir "$work/a" 2>"$work/a.log" &
ip netns exec $B "$bin" -f "$work/b.conf" --runtime-dir "$work/b" 2>"$work/b.log" &
# Killed on purpose below: no job-control chatter.
disown -a

has_vip() { ip -n "$1" -4 addr show dev eth0 | grep -q " $VIP/"; }
state() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["instances"][0]["state"])' "$work/$1/status.json" 2>/dev/null || echo "?"; }

echo "== starting upkeepd on both nodes (priority 100 and 99, advert_int 1)"
for _ in $(seq 1 100); do has_vip $A && break; sleep 0.1; done
sleep 1.5
echo "   $A: $(state a)   $B: $(state b)"
echo "   VIP $VIP on $A: $(has_vip $A && echo yes || echo no), on $B: $(has_vip $B && echo yes || echo no)"
# The demo says so, and exits non-zero, when it did not show what it claims.
failed=""
has_vip $A || failed="$failed; $A never took the VIP"

worker_pid() { python3 -c 'import json,sys; print(next((w["pid"] for w in json.load(open(sys.argv[1]))["workers"] if w["role"]=="vrrp" and w["state"]=="running"), ""))' "$work/$1/status.json" 2>/dev/null; }
echo "== kill -9 the VRRP worker of the master ($A), three times: the parent restarts it and it resumes as Master"
for round in 1 2 3; do
    old=$(worker_pid a)
    kill -9 "$old"
    for _ in $(seq 1 200); do new=$(worker_pid a); [ -n "$new" ] && [ "$new" != "$old" ] && break; sleep 0.01; done
    echo "   round $round: worker $old -> $new; $A: $(state a), VIP on $A: $(has_vip $A && echo yes || echo no); $B: $(state b)"
    has_vip $A || failed="$failed; $A lost the VIP when its VRRP worker died (round $round)"
    sleep 1.5
done

echo "== kill -9 the master ($A): every upkeepd process on it, as if the node died"
for pid in $(ip netns pids "$A"); do kill -9 "$pid" 2>/dev/null || true; done
t0=$(date +%s.%N)
for _ in $(seq 1 1000); do has_vip $B && break; sleep 0.005; done
t1=$(date +%s.%N)
# The status file follows the VIP by a moment: wait for it to say so.
for _ in $(seq 1 100); do [ "$(state b)" = MASTER ] && break; sleep 0.02; done
echo "   $B: $(state b); VIP on $B: $(has_vip $B && echo yes || echo no) ($(python3 -c "print(round(($t1-$t0)*1000))") ms after the kill)"
has_vip $B || failed="$failed; $B did not take the VIP over"
sleep 1

echo "== takeover measured on the wire (capture on the bridge)"
ip netns exec $BR tcpdump -r "$work/wire.pcap" -n -tt 2>/dev/null | python3 -c '
import sys
last_a = first_b = first_garp = None
gap = 0.0
for line in sys.stdin:
    f = line.split()
    t = float(f[0])
    if "10.77.0.10 > 224.0.0.18" in line:
        if last_a:
            gap = max(gap, t - last_a)
        last_a = t
    elif "10.77.0.11 > 224.0.0.18" in line and first_b is None and last_a:
        first_b = t
    elif "ARP" in line and "tell 10.77.0.100" in line and first_b and first_garp is None:
        first_garp = t
mdi = 3 + 157 / 256
print("   longest gap between adverts from A before it died (VRRP worker restarts included): %.1f ms" % (gap * 1000))
if last_a and first_b:
    print("   last advert from A -> first advert from B: %.1f ms (RFC 3768 Master_Down_Interval for priority 99: %.1f ms)" % ((first_b - last_a) * 1000, mdi * 1000))
if last_a and first_garp:
    print("   last advert from A -> first gratuitous ARP from B: %.1f ms" % ((first_garp - last_a) * 1000))
'
echo "== done; cleaning up"
if [ -n "$failed" ]; then
    echo "FAILED${failed}" >&2
    exit 1
fi
