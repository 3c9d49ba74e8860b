# Helpers for the IPVS scenarios (sourced by suite.sh). Every wait is
# bounded; processes a scenario starts are recorded in /tmp/scenario.pids
# and killed by suite.sh after it.

# iproute2 (busybox's sh runs its own applets before PATH: name it).
ip() { /usr/sbin/ip "$@"; }

# fail MESSAGE: says why and returns 1 (use as `... || fail "why"; return`).
fail() { echo "FAIL: $*"; return 1; }
note() { echo "--- $*"; }

# wait_until SECONDS COMMAND...: polls every 0.2 s; 0 when it held.
wait_until() {
    local limit=$1 i=0
    shift
    while [ "$i" -lt $((limit * 5)) ]; do
        "$@" >/dev/null 2>&1 && return 0
        sleep 0.2
        i=$((i + 1))
    done
    return 1
}

# bg NAME COMMAND...: runs a command in the background in a session of its
# own (suite.sh kills the whole group after the scenario), logged to
# /tmp/NAME.log.
bg() {
    local name=$1
    shift
    setsid "$@" >"/tmp/$name.log" 2>&1 &
    echo $! >>/tmp/scenario.pids
    echo $! >"/tmp/$name.pid"
}

# weight [NS] SERVICE RS: the weight ipvsadm shows for real server RS of
# TCP service SERVICE (nothing when absent).
weight() {
    local pre=""
    if [ $# = 3 ]; then pre="ip netns exec $1"; shift; fi
    $pre ipvsadm -Ln -t "$1" 2>/dev/null | awk -v rs="$2" '$1 == "->" && $2 == rs { print $4 }'
}
# has_rs [NS] SERVICE RS WEIGHT, lacks_rs [NS] SERVICE RS
has_rs() {
    if [ $# = 4 ]; then
        [ "$(weight "$1" "$2" "$3")" = "$4" ]
    else
        [ "$(weight "$1" "$2")" = "$3" ]
    fi
}
lacks_rs() { [ -z "$(weight "$@")" ]; }
has_service() {
    local pre=""
    if [ $# = 2 ]; then pre="ip netns exec $1"; shift; fi
    $pre ipvsadm -Ln -t "$1" >/dev/null 2>&1
}

# upkeep NAME CONFIG-FILE [NS]: starts upkeepd (logs /tmp/NAME.log,
# runtime dir /run/NAME).
upkeep() {
    local name=$1 conf=$2 ns=$3
    # A fresh runtime directory: a stale status.json of an earlier scenario
    # would answer the waits below.
    rm -rf "/run/$name"
    mkdir -p "/run/$name" "/var/cache/$name"
    if [ -n "$ns" ]; then
        RUST_LOG=${UPKEEP_LOG:-info} bg "$name" /usr/sbin/ip netns exec "$ns" /usr/sbin/upkeepd -f "$conf" \
            --runtime-dir "/run/$name" --cache-dir "/var/cache/$name"
    else
        RUST_LOG=${UPKEEP_LOG:-info} bg "$name" /usr/sbin/upkeepd -f "$conf" \
            --runtime-dir "/run/$name" --cache-dir "/var/cache/$name"
    fi
}

# upkeep_pid NAME: the daemon's pid.
upkeep_pid() { cat "/run/$1/upkeepd.pid" 2>/dev/null; }

# state NAME INSTANCE: the VRRP state upkeepd NAME reports.
state() {
    awk -v n="\"$2\"," '$1 == "\"name\":" && $2 == n { f = 1 }
        f && $1 == "\"state\":" { gsub(/[",]/, "", $2); print $2; exit }' "/run/$1/status.json" 2>/dev/null
}
is_state() { [ "$(state "$1" "$2")" = "$3" ]; }

# capture_start FILE [NS] / capture_stop [NS]: netlink capture (nlmon0 +
# tcpdump) in namespace NS (netlink is per namespace).
capture_start() {
    echo "$1" >/tmp/capture.file
    local pre=""
    [ -n "$2" ] && pre="/usr/sbin/ip netns exec $2"
    $pre /usr/sbin/ip link add nlmon0 type nlmon 2>/dev/null
    $pre /usr/sbin/ip link set nlmon0 up
    $pre /usr/sbin/tcpdump -Z root -U -s 0 -i nlmon0 -w "$1" 2>/tmp/tcpdump.log &
    echo $! >/tmp/tcpdump.pid
    echo $! >>/tmp/scenario.pids
    wait_until 10 grep -q listening /tmp/tcpdump.log
}
capture_stop() {
    local pre=""
    [ -n "$1" ] && pre="/usr/sbin/ip netns exec $1"
    # tcpdump may not have read what the kernel queued for it yet (a
    # loaded TCG guest: 39 received by the filter, 0 written): wait until
    # it wrote something past the pcap header (24 bytes), at most 10 s.
    wait_until 10 sh -c '[ "$(stat -c %s "$(cat /tmp/capture.file)" 2>/dev/null || echo 0)" -gt 24 ]'  || true
    sleep 1
    kill "$(cat /tmp/tcpdump.pid)" 2>/dev/null
    wait "$(cat /tmp/tcpdump.pid)" 2>/dev/null
    $pre /usr/sbin/ip link del nlmon0 2>/dev/null
}
# requests FILE: the IPVS requests in a capture, one a line, decoded by
# upkeep's codec (`NEW_DEST 10.0.1.1:80 -> 10.0.0.100:80/tcp route weight 1`).
requests() {
    UPKEEP_PCAP=$1 /bin/ipvs-vm --ignored --exact in_vm_pcap_requests --nocapture \
        --test-threads=1 2>/dev/null | sed -n 's/^REQUEST //p'
}

# crash NS: kill -9 every process in namespace NS (a director that dies:
# upkeepd's workers have sessions of their own) and take its links down.
crash() {
    local pid l
    for pid in $(ip netns pids "$1"); do kill -9 "$pid" 2>/dev/null; done
    for l in $(ip -n "$1" -o link show | awk -F': ' '{print $2}' | cut -d@ -f1); do
        [ "$l" = lo ] || ip -n "$1" link set "$l" down
    done
}

# now: seconds since boot, with hundredths.
now() { cut -d' ' -f1 /proc/uptime; }
# since T: seconds since T (now - T), to a tenth.
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

# Topology: bridges in the VM's own namespace (br0, and others by name);
# every node a namespace with a veth on one.
bridge() {
    local b=${1:-br0}
    ip link add "$b" type bridge && ip link set "$b" type bridge mcast_snooping 0 &&
        ip link set "$b" up
}
# node NS IFNAME ADDR/PREFIX...: a namespace (made when new) with link
# IFNAME on bridge $BR (default br0), with these addresses.
node() {
    local ns=$1 ifn=$2 a
    shift 2
    [ -e "/run/netns/$ns" ] || ip netns add "$ns" || return 1
    ip link add "$ifn" netns "$ns" type veth peer name "v-$ns-$ifn" || return 1
    ip link set "v-$ns-$ifn" master "${BR:-br0}" up
    ip -n "$ns" link set lo up
    ip -n "$ns" link set "$ifn" up
    for a in "$@"; do ip -n "$ns" addr add "$a" dev "$ifn" || return 1; done
}
# real_server NS ADDR/PREFIX VIP...: a DR real server: VIPs on lo, no ARP
# for them (arp_ignore=1, arp_announce=2), and busybox httpd on port 80
# answering its name.
real_server() {
    local ns=$1 addr=$2 v
    shift 2
    node "$ns" eth0 "$addr" || return 1
    for v in "$@"; do ip -n "$ns" addr add "$v/32" dev lo; done
    ip netns exec "$ns" sysctl -qw net.ipv4.conf.all.arp_ignore=1 net.ipv4.conf.all.arp_announce=2 \
        net.ipv4.conf.eth0.arp_ignore=1 net.ipv4.conf.eth0.arp_announce=2
    mkdir -p "/www/$ns"
    echo "$ns" >"/www/$ns/index.html"
    bg "httpd-$ns" /usr/sbin/ip netns exec "$ns" busybox httpd -f -p 80 -h "/www/$ns"
}
# fetch NS URL: one HTTP/1.0 GET of http://HOST[:PORT]/PATH from namespace
# NS: the body's last line, or nothing. (busybox's static wget crashes on
# name lookup here: nc speaks HTTP.)
fetch() {
    local hp=${2#http://} path
    path=/${hp#*/}
    hp=${hp%%/*}
    printf 'GET %s HTTP/1.0\r\nHost: %s\r\n\r\n' "$path" "$hp" |
        ip netns exec "$1" nc -w 2 "${hp%%:*}" "$(echo "$hp" | awk -F: '{ print ($2 == "" ? 80 : $2) }')" 2>/dev/null |
        tail -n 1 | tr -d '\r'
}
# tally NS URL N: N requests; "name count" lines, sorted.
tally() {
    local i=0
    while [ $i -lt "$3" ]; do fetch "$1" "$2" || echo "(failed)"; i=$((i + 1)); done |
        sort | uniq -c | awk '{ print $2, $1 }'
}
serves() { [ "$(fetch "$1" "$2")" = "$3" ]; }

# echo_server NS PORT: a TCP echo server (busybox nc, persistent).
echo_server() { bg "echo-$1" /usr/sbin/ip netns exec "$1" busybox nc -ll -p "$2" -e cat; }
# long_client NAME NS HOST PORT N: one TCP connection that sends a line
# every 0.1 s, N lines, and keeps what comes back in /tmp/NAME.out.
long_client() {
    local name=$1 ns=$2 host=$3 port=$4 n=$5
    (i=0; while [ $i -lt "$n" ]; do echo "line $i"; sleep 0.1; i=$((i + 1)); done; sleep 1) |
        /usr/sbin/ip netns exec "$ns" busybox nc "$host" "$port" >"/tmp/$name.out" 2>&1 &
    echo $! >"/tmp/$name.pid"
    echo $! >>/tmp/scenario.pids
}
# echoed NAME: lines the long client got back so far.
echoed() { grep -c '^line ' "/tmp/$1.out" 2>/dev/null; }
# client_done NAME: the long client's connection has ended.
client_done() { ! kill -0 "$(cat "/tmp/$1.pid")" 2>/dev/null; }
