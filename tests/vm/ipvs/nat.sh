# scenario_nat: one director forwarding by NAT between a client network
# (br0) and a server network (br1): wrr 1:2 through it; a long-lived TCP
# connection carries on through a reload that changes its real server's
# weight, which is exactly one SET_DEST.
scenario_nat() {
    bridge br0 && bridge br1 || return 1
    node c eth0 10.0.0.10/24 || return 1
    ip -n c route add default via 10.0.0.2
    node d eth0 10.0.0.2/24 || return 1
    BR=br1 node d eth1 192.168.100.1/24 || return 1
    ip netns exec d sysctl -qw net.ipv4.ip_forward=1
    local r
    for r in 11 12; do
        BR=br1 node "n$r" eth0 "192.168.100.$r/24" || return 1
        ip -n "n$r" route add default via 192.168.100.1
        mkdir -p "/www/n$r" && echo "n$r" >"/www/n$r/index.html"
        bg "httpd-n$r" /usr/sbin/ip netns exec "n$r" busybox httpd -f -p 80 -h "/www/n$r"
    done
    echo_server n11 9000
    cat >/tmp/nat.conf <<'CONF'
vrrp_instance VI_1 {
    state MASTER
    interface eth0
    virtual_router_id 70
    priority 100
    advert_int 1
    virtual_ipaddress {
        10.0.0.100/24
    }
}
virtual_server 10.0.0.100 80 {
    delay_loop 2
    lb_algo wrr
    lb_kind NAT
    protocol TCP
    real_server 192.168.100.11 80 {
        weight 1
        HTTP_GET {
            url {
                path /
                status_code 200
            }
            connect_timeout 2
        }
    }
    real_server 192.168.100.12 80 {
        weight 2
        HTTP_GET {
            url {
                path /
                status_code 200
            }
            connect_timeout 2
        }
    }
}
virtual_server 10.0.0.100 9000 {
    lb_algo rr
    lb_kind NAT
    protocol TCP
    real_server 192.168.100.11 9000 {
        weight 1
    }
}
CONF
    upkeep nat /tmp/nat.conf d
    wait_until 20 is_state nat VI_1 MASTER || fail "not MASTER" || return
    wait_until 20 has_rs d 10.0.0.100:80 192.168.100.12:80 2 || fail "table" || return
    wait_until 10 serves c http://10.0.0.100/ n11 || wait_until 5 serves c http://10.0.0.100/ n12 ||
        fail "nothing served" || return
    tally c http://10.0.0.100/ 30 | tee /tmp/tally
    grep -qx "n11 10" /tmp/tally && grep -qx "n12 20" /tmp/tally || fail "not 10/20" || return
    vm_result "measure nat wrr: $(tr '\n' ' ' </tmp/tally)"

    note "a reload changing the weight of the server a connection uses"
    long_client nat-echo c 10.0.0.100 9000 80
    wait_until 10 sh -c '[ "$(grep -c "^line " /tmp/nat-echo.out)" -ge 10 ]' || fail "no echo" || return
    capture_start /tmp/nat.pcap d || fail "no capture" || return
    awk '/real_server 192.168.100.11 9000/ { s = 1 } s && /weight 1/ { sub(/weight 1/, "weight 3"); s = 0 } { print }' \
        /tmp/nat.conf >/tmp/nat.conf.new && mv /tmp/nat.conf.new /tmp/nat.conf
    /usr/sbin/upkeepctl --runtime-dir /run/nat reload || fail "reload" || return
    wait_until 10 has_rs d 10.0.0.100:9000 192.168.100.11:9000 3 || fail "not applied" || return
    capture_stop d
    wait_until 20 client_done nat-echo || fail "the client did not finish" || return
    [ "$(echoed nat-echo)" = 80 ] || fail "connection lost: $(echoed nat-echo) of 80 lines echoed" || return
    requests /tmp/nat.pcap | grep -v "^GET_" >/tmp/nat.req
    cat /tmp/nat.req
    [ "$(grep -c . /tmp/nat.req)" = 1 ] &&
        grep -q "^SET_DEST 192.168.100.11:9000 -> 10.0.0.100:9000/tcp masq weight 3" /tmp/nat.req ||
        fail "not exactly one SET_DEST" || return
}
