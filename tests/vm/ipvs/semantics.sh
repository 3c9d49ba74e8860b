# scenario_semantics: keepalived's semantics where they touch the kernel:
# lvs_flush at start; a virtual_server_group (address range and fwmark)
# expanded into its services with shared checks; inhibit_on_failure
# (weight 0); notify_up / notify_down; ha_suspend following a VRRP
# instance; alpha with quorum_down / quorum_up; lvs_flush_onstop VS at stop
# (a service upkeep does not own stays). Health is driven by files the
# checks test (MISC_CHECK, run as the checker's user).
scenario_semantics() {
    ip netns add s && ip -n s link set lo up && ip -n s link add eth0 type dummy &&
        ip -n s link set eth0 up multicast on && ip -n s addr add 192.168.60.1/24 dev eth0 || return 1
    rm -f /tmp/rs*.up /tmp/*.notified_* /tmp/q.* /tmp/vi2.ok
    touch /tmp/rs1.up /tmp/rs2.up
    ip netns exec s ipvsadm -A -t 10.9.9.9:80 -s rr || return 1
    cat >/tmp/sem.conf <<'CONF'
global_defs {
    lvs_flush
    lvs_flush_onstop VS
}
vrrp_script chk_vi2 {
    script "/bin/test -e /tmp/vi2.ok"
    interval 1
}
vrrp_instance VI_1 {
    state MASTER
    interface eth0
    virtual_router_id 80
    priority 100
    advert_int 1
    virtual_ipaddress {
        10.0.5.100/32
    }
}
vrrp_instance VI_2 {
    state BACKUP
    interface eth0
    virtual_router_id 81
    priority 100
    advert_int 1
    track_script {
        chk_vi2
    }
    virtual_ipaddress {
        10.0.6.100/32
    }
}
virtual_server_group G {
    10.0.5.1-3 80
    fwmark 9
}
virtual_server group G {
    protocol TCP
    delay_loop 1
    lb_algo rr
    lb_kind DR
    inhibit_on_failure
    real_server 10.1.0.1 80 {
        notify_up "/bin/touch /tmp/rs1.notified_up"
        notify_down "/bin/touch /tmp/rs1.notified_down"
        MISC_CHECK {
            misc_path "/bin/test -e /tmp/rs1.up"
            retry 0
        }
    }
    real_server 10.1.0.2 80 {
        MISC_CHECK {
            misc_path "/bin/test -e /tmp/rs2.up"
            retry 0
        }
    }
}
virtual_server 10.0.6.100 80 {
    protocol TCP
    delay_loop 1
    lb_algo wrr
    lb_kind DR
    ha_suspend
    alpha
    quorum 2
    quorum_up "/bin/touch /tmp/q.up"
    quorum_down "/bin/touch /tmp/q.down"
    real_server 10.1.0.3 80 {
        weight 2
        MISC_CHECK {
            misc_path "/bin/test -e /tmp/rs3.up"
            retry 0
        }
    }
}
CONF
    upkeep sem /tmp/sem.conf s
    wait_until 20 is_state sem VI_1 MASTER || fail "VI_1 not MASTER" || return
    wait_until 20 is_state sem VI_2 FAULT || fail "VI_2 not FAULT" || return
    local svc
    note "the group: every member service, both real servers"
    for svc in 10.0.5.1:80 10.0.5.2:80 10.0.5.3:80; do
        wait_until 10 has_rs s $svc 10.1.0.2:80 1 || fail "$svc" || return
        has_rs s $svc 10.1.0.1:80 1 || fail "$svc rs1" || return
    done
    ip netns exec s ipvsadm -Ln -f 9 | grep -q "10.1.0.2:80" || fail "fwmark 9" || return
    note "lvs_flush removed what was there before"
    ! has_service s 10.9.9.9:80 || fail "lvs_flush did not flush" || return
    note "alpha and ha_suspend: quorum lost at start (quorum_down), service out while VI_2 is not MASTER"
    wait_until 10 test -e /tmp/q.down || fail "no quorum_down at start" || return
    ! has_service s 10.0.6.100:80 || fail "suspended service in the kernel" || return
    touch /tmp/vi2.ok
    wait_until 20 is_state sem VI_2 MASTER || fail "VI_2 not MASTER" || return
    wait_until 10 has_service s 10.0.6.100:80 || fail "service not back with VI_2 MASTER" || return
    lacks_rs s 10.0.6.100:80 10.1.0.3:80 || fail "alpha: rs3 in before its check passed" || return
    touch /tmp/rs3.up
    wait_until 10 has_rs s 10.0.6.100:80 10.1.0.3:80 2 || fail "rs3 not in after its check" || return
    wait_until 10 test -e /tmp/q.up || fail "no quorum_up" || return

    note "inhibit_on_failure: a failed server stays with weight 0 in every member; notify_down"
    ip netns exec s ipvsadm -A -t 10.9.9.8:80 -s rr
    rm /tmp/rs1.up
    for svc in 10.0.5.1:80 10.0.5.2:80 10.0.5.3:80; do
        wait_until 10 has_rs s $svc 10.1.0.1:80 0 || fail "$svc rs1 not weight 0" || return
    done
    wait_until 10 test -e /tmp/rs1.notified_down || fail "no notify_down" || return
    touch /tmp/rs1.up
    wait_until 10 has_rs s 10.0.5.2:80 10.1.0.1:80 1 || fail "rs1 not back" || return
    wait_until 10 test -e /tmp/rs1.notified_up || fail "no notify_up" || return

    note "lvs_flush_onstop VS: upkeep's services go, the other stays"
    kill -TERM "$(upkeep_pid sem)"
    wait_until 15 sh -c '! kill -0 '"$(upkeep_pid sem)" || fail "did not stop" || return
    ! has_service s 10.0.5.1:80 || fail "owned service left" || return
    ! has_service s 10.0.6.100:80 || fail "owned service left" || return
    has_service s 10.9.9.8:80 || fail "a service upkeep does not own was removed" || return
}
