# The IPVS scenarios, run in one VM by daemon/tests/ipvs_vm.rs. Each
# scenario is a function `scenario_NAME` (in this file or another
# tests/vm/ipvs/*.sh, all copied to /ipvs); /scenarios lists which to run.
# Each reports `ok NAME` or `fail NAME: WHY` on the results port; a failing
# scenario does not stop the others. Every wait is bounded.
export PATH=/usr/sbin:/bin:/sbin:/usr/bin
. /ipvs/lib.sh
for f in /ipvs/*.sh; do
    case "$f" in /ipvs/suite.sh | /ipvs/lib.sh) ;; *) . "$f" ;; esac
done
for m in ip_vs ip_vs_rr ip_vs_wrr ip_vs_lc ip_vs_wlc ip_vs_lblc ip_vs_lblcr ip_vs_dh \
         ip_vs_sh ip_vs_mh ip_vs_sed ip_vs_nq ip_vs_fo ip_vs_ovf dummy veth bridge nlmon \
         ipip ip_gre fou; do
    vm_modprobe "$m" || { vm_result "fail modules: $m"; exit 1; }
done

# scenario_client: the genl client against the kernel (ipvs_vm.rs in_vm_client).
scenario_client() {
    ip link add sync0 type dummy && ip link set sync0 up multicast on &&
        ip addr add 192.0.2.1/24 dev sync0 || return 1
    /bin/ipvs-vm --ignored --exact in_vm_client --nocapture --test-threads=1
    rc=$?
    ip link del sync0
    return $rc
}

failed=0
while read -r name; do
    [ -n "$name" ] || continue
    echo "=== scenario $name"
    start=$(date +%s)
    : >/tmp/scenario.pids
    ( "scenario_$name" ) > "/tmp/scenario-$name.log" 2>&1
    rc=$?
    # What the scenario started (each in a session of its own), whole groups.
    for pid in $(cat /tmp/scenario.pids); do
        kill -9 -- "-$pid" 2>/dev/null || kill -9 "$pid" 2>/dev/null
    done
    for ns in $(ip netns list 2>/dev/null | cut -d' ' -f1); do ip netns del "$ns"; done
    for l in $(ip -o link show | awk -F': ' '{print $2}' | cut -d@ -f1); do
        [ "$l" = lo ] || ip link del "$l" 2>/dev/null
    done
    if [ $rc = 0 ]; then
        vm_result "ok $name"
    else
        failed=1
        vm_result "fail $name: exit $rc (console has its log)"
    fi
    cat "/tmp/scenario-$name.log"
    if [ $rc != 0 ]; then
        for f in /tmp/*.log; do echo "----- $f"; tail -n 60 "$f"; done
    fi
    echo "=== scenario $name took $(( $(date +%s) - start )) s"
    ipvsadm -C 2>/dev/null
done < /scenarios
exit $failed
