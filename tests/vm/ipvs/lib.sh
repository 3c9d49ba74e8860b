# Helpers for the IPVS scenarios (sourced by suite.sh). Every wait is
# bounded; processes a scenario starts are recorded in /tmp/scenario.pids
# and killed by suite.sh after it.

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
    mkdir -p "/run/$name" "/var/cache/$name"
    if [ -n "$ns" ]; then
        RUST_LOG=info bg "$name" ip netns exec "$ns" /usr/sbin/upkeepd -f "$conf" \
            --runtime-dir "/run/$name" --cache-dir "/var/cache/$name"
    else
        RUST_LOG=info bg "$name" /usr/sbin/upkeepd -f "$conf" \
            --runtime-dir "/run/$name" --cache-dir "/var/cache/$name"
    fi
}

# upkeep_pid NAME: the daemon's pid.
upkeep_pid() { cat "/run/$1/upkeepd.pid" 2>/dev/null; }

# state NAME INSTANCE: the VRRP state upkeepd NAME reports.
state() {
    grep -o "\"name\": \"$2\"[^}]*\"state\": \"[A-Z]*\"" "/run/$1/status.json" 2>/dev/null |
        sed 's/.*"state": "//; s/"//'
}
is_state() { [ "$(state "$1" "$2")" = "$3" ]; }

# capture_start / capture_stop FILE: netlink capture (nlmon0 + tcpdump).
capture_start() {
    ip link add nlmon0 type nlmon 2>/dev/null
    ip link set nlmon0 up
    /usr/sbin/tcpdump -Z root -U -s 0 -i nlmon0 -w "$1" 2>/tmp/tcpdump.log &
    echo $! >/tmp/tcpdump.pid
    echo $! >>/tmp/scenario.pids
    wait_until 10 grep -q listening /tmp/tcpdump.log
}
capture_stop() {
    sleep 0.5
    kill "$(cat /tmp/tcpdump.pid)" 2>/dev/null
    wait "$(cat /tmp/tcpdump.pid)" 2>/dev/null
    ip link del nlmon0 2>/dev/null
}
# requests FILE: the IPVS requests in a capture, one a line, decoded by
# upkeep's codec (`NEW_DEST 10.0.1.1:80 -> 10.0.0.100:80/tcp route weight 1`).
requests() {
    UPKEEP_PCAP=$1 /bin/ipvs-vm --ignored --exact in_vm_pcap_requests --nocapture \
        --test-threads=1 2>/dev/null | sed -n 's/^REQUEST //p'
}
