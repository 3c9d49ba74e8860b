#!/usr/bin/env bash
# upkeep's demo. The two-node failover lab (network namespaces, veth, bridge,
# two upkeepd running the Nginx pair configuration) arrives with the VRRP
# issue; until then this shows the configuration layer on that same pair.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --quiet --bins
bin=target/debug

for node in nginx-master nginx-backup; do
    echo "== upkeepd -t -f tests/fixtures/seeds/$node.conf"
    "$bin/upkeepd" -t -f "tests/fixtures/seeds/$node.conf" && echo "valid"
done

echo
echo "== upkeepd -t on a configuration with a typo (nginx-backup-typo.conf)"
"$bin/upkeepd" -t -f tests/fixtures/seeds/nginx-backup-typo.conf || echo "(exit $?: refused, as it should be)"

echo
echo "== upkeepctl convert tests/fixtures/seeds/nginx-master.conf"
"$bin/upkeepctl" convert tests/fixtures/seeds/nginx-master.conf

echo
echo "The failover demo (two upkeepd nodes in network namespaces) is not available yet: it comes with the VRRP issue."
