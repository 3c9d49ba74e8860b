#!/bin/bash
# Smoke test of the VM harness: boots, loads ip_vs and the rr, wrr, lc, wlc
# and sh schedulers, adds a virtual service per scheduler through the kernel
# (/proc/net/ip_vs must list them) and exits 0.
set -euo pipefail
here=$(dirname "$0")
t=$(mktemp /tmp/upkeep-vm-smoke.XXXXXX)
trap 'rm -f "$t"' EXIT
cat > "$t" <<'TEST'
set -e
for m in ip_vs ip_vs_rr ip_vs_wrr ip_vs_lc ip_vs_wlc ip_vs_sh; do
    [ -d /sys/module/$m ] || { echo "module $m not loaded"; exit 1; }
done
echo "kernel $(uname -r), modules: $(cut -d' ' -f1 /proc/modules | sort | tr '\n' ' ')"
i=0
for s in rr wrr lc wlc sh; do
    i=$((i + 1))
    ipvsadm -A -t 10.0.0.$i:80 -s $s
    ipvsadm -a -t 10.0.0.$i:80 -r 127.0.0.$i:8080 -g -w $i
done
cat /proc/net/ip_vs
for s in rr wrr lc wlc sh; do
    grep -q " $s *\$" /proc/net/ip_vs || grep -q " $s " /proc/net/ip_vs || { echo "no $s service"; exit 1; }
done
grep -q "IP Virtual Server version" /proc/net/ip_vs
TEST
python3 "$here/vm.py" run --init "$t" --timeout 120 --modules "ip_vs ip_vs_rr ip_vs_wrr ip_vs_lc ip_vs_wlc ip_vs_sh"
