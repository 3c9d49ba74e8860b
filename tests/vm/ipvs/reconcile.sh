# scenario_reconcile: one upkeepd, a virtual server of static real servers:
# the table is programmed; changes made by hand (ipvsadm -d, -e, -D) on its
# service are repaired within a reconcile period; a service added by hand
# for another address stays; a reload that changes one weight is exactly
# one SET_DEST; SIGTERM leaves the table (no lvs_flush_onstop).
scenario_reconcile() {
    ip link add eth0 type dummy && ip link set eth0 up multicast on &&
        ip addr add 192.168.50.1/24 dev eth0 || return 1
    ipvsadm -A -t 10.0.0.99:80 -s rr && ipvsadm -a -t 10.0.0.99:80 -r 10.0.9.1:80 -g || return 1
    cat >/tmp/r.conf <<'CONF'
vrrp_instance VI_1 {
    state MASTER
    interface eth0
    virtual_router_id 60
    priority 100
    advert_int 1
    virtual_ipaddress {
        10.0.0.100/32
    }
}
virtual_server 10.0.0.100 80 {
    delay_loop 6
    lb_algo wrr
    lb_kind DR
    protocol TCP
    real_server 10.0.1.1 80 {
        weight 1
    }
    real_server 10.0.1.2 80 {
        weight 2
    }
}
CONF
    upkeep r /tmp/r.conf
    local vs=10.0.0.100:80
    wait_until 20 has_rs $vs 10.0.1.2:80 2 || { ipvsadm -Ln; fail "not programmed"; return; }
    has_rs $vs 10.0.1.1:80 1 || fail "10.0.1.1 weight" || return
    ipvsadm -Ln -t $vs | grep -q "wrr" || fail "scheduler" || return

    note "drift by hand is repaired within a period (5 s)"
    ipvsadm -d -t $vs -r 10.0.1.1:80
    wait_until 8 has_rs $vs 10.0.1.1:80 1 || fail "-d not repaired" || return
    ipvsadm -e -t $vs -r 10.0.1.2:80 -g -w 9
    wait_until 8 has_rs $vs 10.0.1.2:80 2 || fail "-e not repaired" || return
    ipvsadm -a -t $vs -r 10.0.1.7:80 -g -w 1
    wait_until 8 lacks_rs $vs 10.0.1.7:80 || fail "stranger not removed" || return
    ipvsadm -D -t $vs
    wait_until 8 has_rs $vs 10.0.1.2:80 2 || fail "-D not repaired" || return
    grep -q "drifted" /tmp/r.log || fail "drift not logged" || return
    has_rs 10.0.0.99:80 10.0.9.1:80 1 || fail "a service upkeep does not own was touched" || return

    note "a restarted IPVS worker reconciles at start"
    local ipvs
    ipvs=$(awk '/"role": "ipvs"/ { f = 1 } f && /"pid"/ { gsub(/[^0-9]/, "", $2); print $2; exit }' /run/r/status.json)
    kill -9 "$ipvs"
    ipvsadm -d -t $vs -r 10.0.1.2:80
    wait_until 10 has_rs $vs 10.0.1.2:80 2 || fail "not repaired after the worker's restart" || return
    [ "$(grep -c 'cause="start"' /tmp/r.log)" = 2 ] || fail "no reconcile at the restart" || return
    has_rs 10.0.0.99:80 10.0.9.1:80 1 || fail "the restart touched a service upkeep does not own" || return

    note "a reload changing one weight is one SET_DEST"
    capture_start /tmp/reload.pcap || fail "no capture" || return
    sed -i 's/weight 2/weight 5/' /tmp/r.conf
    /usr/sbin/upkeepctl --runtime-dir /run/r reload || fail "reload" || return
    wait_until 10 has_rs $vs 10.0.1.2:80 5 || fail "reload not applied" || return
    sleep 1
    capture_stop
    requests /tmp/reload.pcap >/tmp/reload.req
    cat /tmp/reload.req
    writes=$(grep -v "^GET_" /tmp/reload.req | grep -c .)
    [ "$writes" = 1 ] && grep -q "^SET_DEST 10.0.1.2:80 -> 10.0.0.100:80/tcp route weight 5" /tmp/reload.req ||
        fail "expected exactly one SET_DEST, got $writes writes" || return

    note "status and metrics show the kernel"
    /usr/sbin/upkeepctl --runtime-dir /run/r status | tee /tmp/r.status
    grep -q "10.0.1.2:80" /tmp/r.status || fail "status" || return

    note "stop leaves the table"
    kill -TERM "$(upkeep_pid r)"
    wait_until 15 sh -c '! kill -0 '"$(upkeep_pid r)" || fail "upkeepd did not stop" || return
    has_rs $vs 10.0.1.2:80 5 || fail "table removed at stop" || return
    ip link del eth0
}
