#!/usr/bin/env python3
"""Captures what ipvsadm sends the kernel over generic netlink, for the
codec's golden-byte tests (daemon/src/ipvs/genl/golden.txt).

Boots the VM of tests/vm, adds an nlmon link, runs each ipvsadm command of
COMMANDS under tcpdump, and writes every IPVS request (not the replies, not
the controller's family look-up) as hex, after the command that sent it.
The netlink header's sequence number and port id are zeroed (they differ
from run to run); the family id is kept (the test takes it from the file).

    tests/vm/ipvs/capture_ipvsadm.py [--out daemon/src/ipvs/genl/golden.txt]
"""
import argparse
import base64
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
import vm  # noqa: E402

# One ipvsadm invocation a line. Each must send at least one IPVS request;
# the kernel's answer does not matter (a refused request was still sent).
COMMANDS = [
    "-A -t 10.0.0.1:80 -s wrr",
    "-A -u 10.0.0.2:53 -s rr -p 300 -M 255.255.255.0",
    "--add-service --sctp-service 10.0.0.3:3868 -s sh -b sh-port,sh-fallback",
    "-A -f 7 -s mh -b mh-port,mh-fallback -o",
    "-A -t [2001:db8::1]:443 -s lc -p 60 -M 64",
    "-A -f 9 -6 -s wlc",
    "-A -t 10.0.0.4:80 -s rr -p 30 --pe sip",
    "-E -t 10.0.0.1:80 -s wlc",
    "-a -t 10.0.0.1:80 -r 192.168.1.2:80 -g -w 2",
    "-a -t 10.0.0.1:80 -r 192.168.1.3:8080 -m -w 3 -x 100 -y 10",
    "-a -t 10.0.0.1:80 -r 192.168.1.4 -i -w 1",
    "-a -t 10.0.0.1:80 -r 192.168.1.5 -i -w 1 --tun-type gue --tun-port 6080 --tun-nocsum",
    "-a -t 10.0.0.1:80 -r 192.168.1.6 -i -w 1 --tun-type gue --tun-port 6081 --tun-remcsum",
    "-a -t 10.0.0.1:80 -r 192.168.1.7 -i -w 1 --tun-type gre --tun-csum",
    "-a -t [2001:db8::1]:443 -r [2001:db8::10]:443 -m -w 1",
    "-a -f 7 -r 192.168.1.8 -g -w 4",
    "-e -t 10.0.0.1:80 -r 192.168.1.2:80 -g -w 5",
    "-d -t 10.0.0.1:80 -r 192.168.1.2:80",
    "-D -t 10.0.0.1:80",
    "-D -f 7",
    "-L -n",
    "--start-daemon master --mcast-interface eth0 --syncid 5 --sync-maxlen 1400 --mcast-group 239.1.2.3 --mcast-port 8850 --mcast-ttl 2",
    "--start-daemon backup --mcast-interface eth0 --syncid 5",
    "-L --daemon",
    "--stop-daemon master",
    "-C",
]

GUEST = r"""
set -e
vm_modprobe nlmon
vm_modprobe dummy
vm_modprobe ip_vs_mh
vm_modprobe ip_vs_pe_sip
/usr/sbin/ip link add eth0 type dummy
/usr/sbin/ip link set eth0 up multicast on
/usr/sbin/ip addr add 192.0.2.1/24 dev eth0
/usr/sbin/ip link add nlmon0 type nlmon
/usr/sbin/ip link set nlmon0 up
/usr/sbin/tcpdump -Z root -U -s 0 -i nlmon0 -w /tmp/nl.pcap 2>/tmp/tcpdump.log &
tcpd=$!
sleep 2
while read -r line; do
    [ -n "$line" ] || continue
    echo "ipvsadm $line"
    # a marker in the capture: an rtnetlink request starts each command
    /usr/sbin/ip link show dev lo >/dev/null
    eval "ipvsadm $line" || echo "  (refused: $?)"
    sleep 0.2
done < /commands
sleep 1
kill $tcpd
wait $tcpd || true
cat /tmp/tcpdump.log
base64 /tmp/nl.pcap | while read -r l; do vm_result "$l"; done
"""

NLMSG_HDR = struct.Struct("=IHHII")
GENL_ID_CTRL = 0x10
NETLINK_ROUTE = 0
NETLINK_GENERIC = 16


def packets(pcap):
    """(link type, [packet bytes]) of a pcap file."""
    magic, = struct.unpack_from("<I", pcap, 0)
    if magic != 0xA1B2C3D4:
        raise RuntimeError(f"not a little-endian pcap file (magic {magic:#x})")
    linktype, = struct.unpack_from("<I", pcap, 20)
    out, off = [], 24
    while off + 16 <= len(pcap):
        _s, _us, caplen, _len = struct.unpack_from("<IIII", pcap, off)
        out.append(pcap[off + 16: off + 16 + caplen])
        off += 16 + caplen
    return linktype, out


def requests(pcap):
    """(netlink protocol, message type, message) of every request sent to
    the kernel."""
    linktype, pkts = packets(pcap)
    # DLT_NETLINK (253): a 16-byte cooked header; SLL2 (276): 20 bytes.
    skip = {253: 16, 113: 16, 276: 20}.get(linktype)
    if skip is None:
        raise RuntimeError(f"unexpected link type {linktype}")
    for p in pkts:
        # the cooked header ends with the netlink protocol (big endian)
        proto, = struct.unpack_from(">H", p, skip - 2)
        data = p[skip:]
        off = 0
        while off + 16 <= len(data):
            length, typ, flags, _seq, pid = NLMSG_HDR.unpack_from(data, off)
            if length < 16 or off + length > len(data):
                break
            msg = bytearray(data[off:off + length])
            # requests carry NLM_F_REQUEST (1); the kernel's messages do not
            if flags & 1:
                yield proto, typ, msg
            off += (length + 3) & ~3


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=os.path.join(vm.REPO, "daemon/src/ipvs/genl/golden.txt"))
    a = ap.parse_args()
    with open("/tmp/upkeep-ipvsadm-commands", "w") as f:
        f.write("\n".join(COMMANDS) + "\n")
    code, console, results = vm.run(GUEST, files=[("/tmp/upkeep-ipvsadm-commands", "/commands")],
                                     timeout=300)
    if code != 0:
        sys.stdout.write(console)
        raise SystemExit(f"guest exit status {code}")
    pcap = base64.b64decode("".join(results.split()))
    # Group by command: an rtnetlink request (protocol 0) marks the start of
    # each; the controller's family look-ups (type 0x10) are left out.
    groups, current, family = [], None, None
    for proto, typ, msg in requests(pcap):
        if proto == NETLINK_ROUTE:
            # `ip` sends several: one group per run of them
            if current is None or current[1]:
                current = [len(groups), []]
                groups.append(current)
            continue
        if proto != NETLINK_GENERIC or typ == GENL_ID_CTRL or current is None:
            continue
        family = typ
        struct.pack_into("=II", msg, 8, 0, 0)
        current[1].append(bytes(msg))
    if len(groups) != len(COMMANDS):
        sys.stdout.write(console)
        raise SystemExit(f"{len(groups)} groups of requests for {len(COMMANDS)} commands")
    lines = [
        "# What ipvsadm sends the kernel (IPVS generic netlink requests), captured with",
        "# nlmon + tcpdump in the VM of tests/vm by tests/vm/ipvs/capture_ipvsadm.py.",
        f"# ipvsadm 1.31 (Debian 12), kernel {vm.build()['kver']}. Sequence numbers and",
        "# port ids zeroed. Format: '> ARGS' (the ipvsadm command line), then one hex",
        "# line per request it sent, in order.",
        f"family {family}",
    ]
    for (i, msgs), cmd in zip(groups, COMMANDS):
        lines.append(f"> {cmd}")
        lines.extend(m.hex() for m in msgs)
    open(a.out, "w").write("\n".join(lines) + "\n")
    print(f"wrote {a.out}: {sum(len(m) for _, m in groups)} requests")


if __name__ == "__main__":
    main()
