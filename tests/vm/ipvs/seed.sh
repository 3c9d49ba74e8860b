# The seed LVS-DR pair (tests/fixtures/seeds/lvs-dr-*.conf, used as they
# are: the directors' links are named ens37, the addresses are the seed's),
# two real servers serving HTTP with the VIP on lo, and a client.

# seed_topology: directors da (.27) and db (.37), real servers r47, r57,
# client c (10.0.0.10).
seed_topology() {
    bridge || return 1
    node da ens37 192.168.234.27/24 || return 1
    node db ens37 192.168.234.37/24 || return 1
    node c eth0 10.0.0.10/24 || return 1
    real_server r47 192.168.234.47/24 10.0.0.100 10.0.0.200 || return 1
    real_server r57 192.168.234.57/24 10.0.0.100 10.0.0.200 || return 1
    # The real servers answer the clients' network directly (DR).
    ip -n r47 addr add 10.0.0.47/24 dev eth0
    ip -n r57 addr add 10.0.0.57/24 dev eth0
}

# scenario_seed_dr: the seed's wrr 1:2 through the master; the master
# killed: the backup takes the VIP and serves; a real server stopped leaves
# the table after the seed's check timing and its share goes to the other;
# both stopped: the backup's sorry_server (127.0.0.1:80, a local httpd).
scenario_seed_dr() {
    seed_topology || return 1
    mkdir -p /www/sorry && echo sorry >/www/sorry/index.html
    bg httpd-sorry /usr/sbin/ip netns exec db busybox httpd -f -p 80 -h /www/sorry
    upkeep a /seeds/lvs-dr-master.conf da
    upkeep b /seeds/lvs-dr-backup.conf db
    local vs=10.0.0.100:80 t
    wait_until 20 is_state a VI_1 MASTER || fail "A not MASTER" || return
    wait_until 20 is_state b VI_1 BACKUP || fail "B not BACKUP" || return
    wait_until 20 has_rs da $vs 192.168.234.57:80 2 || fail "A's table" || return
    has_rs da $vs 192.168.234.47:80 1 || fail "A's table (47)" || return
    # B (not MASTER) holds the same table, ready; its sorry server is out.
    wait_until 20 has_rs db $vs 192.168.234.57:80 2 || fail "B's table" || return
    lacks_rs db $vs 127.0.0.1:80 || fail "sorry server in use" || return
    wait_until 10 serves c http://10.0.0.100/ r47 || wait_until 10 serves c http://10.0.0.100/ r57 ||
        fail "the client gets nothing" || return

    note "wrr 1:2"
    tally c http://10.0.0.100/ 30 | tee /tmp/tally
    grep -qx "r47 10" /tmp/tally && grep -qx "r57 20" /tmp/tally || fail "not 10/20" || return
    vm_result "measure seed_dr wrr: $(tr '\n' ' ' </tmp/tally)"

    note "the master killed: the backup takes the VIP and serves"
    t=$(now)
    crash da
    wait_until 15 is_state b VI_1 MASTER || fail "B did not take over" || return
    wait_until 15 serves c http://10.0.0.100/ r57 || wait_until 5 serves c http://10.0.0.100/ r47 ||
        fail "nothing served after the failover" || return
    vm_result "measure seed_dr failover: $(since "$t") s to serve through B"
    tally c http://10.0.0.100/ 30 | tee /tmp/tally
    grep -qx "r47 10" /tmp/tally && grep -qx "r57 20" /tmp/tally || fail "B: not 10/20" || return

    note "a real server stopped leaves after the check timing"
    t=$(now)
    kill -9 "$(cat /tmp/httpd-r47.pid)"
    wait_until 30 lacks_rs db $vs 192.168.234.47:80 || fail "r47 still in the table" || return
    vm_result "measure seed_dr rs-down: $(since "$t") s to leave the table (seed timing: at most 15 + 3)"
    tally c http://10.0.0.100/ 9 | tee /tmp/tally
    grep -qx "r57 9" /tmp/tally || fail "r47's share did not go to r57" || return

    note "both stopped: the sorry server"
    kill -9 "$(cat /tmp/httpd-r57.pid)"
    wait_until 30 has_rs db $vs 127.0.0.1:80 1 || { ip netns exec db ipvsadm -Ln; fail "no sorry server"; return; }
    lacks_rs db $vs 192.168.234.57:80 || fail "r57 still in" || return
    wait_until 10 serves c http://10.0.0.100/ sorry || fail "the sorry server does not serve" || return
    grep -q "quorum" /tmp/b.log || fail "no quorum log" || return

    note "one back: quorum again, the sorry server leaves"
    bg httpd-r57 /usr/sbin/ip netns exec r57 busybox httpd -f -p 80 -h /www/r57
    wait_until 20 has_rs db $vs 192.168.234.57:80 2 || fail "r57 not back" || return
    wait_until 10 lacks_rs db $vs 127.0.0.1:80 || fail "sorry server still in" || return
    wait_until 10 serves c http://10.0.0.100/ r57 || fail "r57 does not serve" || return
}

# scenario_seed_dual: the dual-master pair: each director serves its VIP;
# one killed, the other serves both.
scenario_seed_dual() {
    seed_topology || return 1
    upkeep a /seeds/lvs-dr-dual-a.conf da
    upkeep b /seeds/lvs-dr-dual-b.conf db
    wait_until 20 is_state a VI_1 MASTER && wait_until 20 is_state b VI_2 MASTER ||
        fail "not dual master" || return
    wait_until 20 is_state a VI_2 BACKUP && wait_until 20 is_state b VI_1 BACKUP ||
        fail "backups" || return
    wait_until 20 serves c http://10.0.0.100/ r47 || fail ".100 not r47" || return
    wait_until 20 serves c http://10.0.0.200/ r57 || fail ".200 not r57" || return
    ip -n da addr show ens37 | grep -q 10.0.0.100 && ! ip -n da addr show ens37 | grep -q 10.0.0.200 ||
        fail "A holds the wrong VIPs" || return
    crash da
    wait_until 15 is_state b VI_1 MASTER || fail "B did not take VI_1" || return
    wait_until 15 serves c http://10.0.0.100/ r47 || fail ".100 not served through B" || return
    serves c http://10.0.0.200/ r57 || fail ".200 lost" || return
}
