# Connection sync between the seed's directors: a long-lived TCP
# connection through the master carries on after the master dies and the
# backup takes over (the backup's kernel had it from the sync daemon);
# without sync configured the same connection is reset.

# sync_configs WITH: the seed pair with an echo service on port 9000 (DR to
# r47), and with WITH=1 `lvs_sync_daemon ens37 VI_1`.
sync_configs() {
    local f
    for f in master backup; do
        if [ "$1" = 1 ]; then
            sed 's/^    vrrp_mcast_group4 234.10.10.10$/&\n    lvs_sync_daemon ens37 VI_1/' \
                "/seeds/lvs-dr-$f.conf" >"/tmp/sync-$f.conf"
        else
            cp "/seeds/lvs-dr-$f.conf" "/tmp/sync-$f.conf"
        fi
        cat >>"/tmp/sync-$f.conf" <<'CONF'

virtual_server 10.0.0.100 9000 {
    lb_algo rr
    lb_kind DR
    protocol TCP
    real_server 192.168.234.47 9000 {
        weight 1
    }
}
CONF
    done
}

# sync_failover WITH: runs the pair and the connection, kills the master;
# prints how many of 150 lines came back.
sync_failover() {
    seed_topology || return 1
    echo_server r47 9000
    sync_configs "$1"
    upkeep a /tmp/sync-master.conf da
    upkeep b /tmp/sync-backup.conf db
    wait_until 20 is_state a VI_1 MASTER && wait_until 20 is_state b VI_1 BACKUP || fail "states" || return
    wait_until 20 has_rs da 10.0.0.100:9000 192.168.234.47:9000 1 || fail "A's table" || return
    if [ "$1" = 1 ]; then
        wait_until 20 sh -c '/usr/sbin/ip netns exec da ipvsadm -L --daemon | grep -q "master sync daemon"' ||
            fail "no master sync daemon on A" || return
        wait_until 20 sh -c '/usr/sbin/ip netns exec db ipvsadm -L --daemon | grep -q "backup sync daemon"' ||
            fail "no backup sync daemon on B" || return
        ip netns exec da ipvsadm -L --daemon
        ip netns exec db ipvsadm -L --daemon
    fi
    long_client sync c 10.0.0.100 9000 150
    wait_until 10 sh -c '[ "$(grep -c "^line " /tmp/sync.out)" -ge 20 ]' || fail "no echo" || return
    if [ "$1" = 1 ]; then
        wait_until 10 sh -c '/usr/sbin/ip netns exec db ipvsadm -Lnc | grep -q "10.0.0.100:9000"' ||
            fail "the connection did not reach B" || return
        ip netns exec db ipvsadm -Lnc
    fi
    crash da
    wait_until 15 is_state b VI_1 MASTER || fail "B did not take over" || return
    wait_until 30 client_done sync
    echo "echoed $(echoed sync) of 150"
}

scenario_sync() {
    sync_failover 1 || return 1
    [ "$(echoed sync)" = 150 ] || fail "the connection did not survive the failover" || return
    vm_result "measure sync: with sync the connection carried on ($(echoed sync)/150 lines)"
}

scenario_nosync() {
    sync_failover 0 || return 1
    [ "$(echoed sync)" -lt 150 ] || fail "without sync the connection survived" || return
    grep -qi "reset\|refused" /tmp/sync.out || true
    vm_result "measure nosync: without sync the connection ended after $(echoed sync)/150 lines"
}
