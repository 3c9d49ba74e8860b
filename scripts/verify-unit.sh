#!/usr/bin/env bash
# Verifies packaging/systemd/upkeep.service with `systemd-analyze verify`.
#
# Usage: scripts/verify-unit.sh [UPKEEPD]
#
# /usr/sbin/upkeepd does not exist on a development machine, and verify
# insists that Exec*= binaries do, so a temporary copy of the unit points
# them at UPKEEPD (default: target/debug/upkeepd, built when missing).
# Installs systemd when systemd-analyze is missing (as root, apt-get).
# Fails when systemd-analyze fails or says anything at all about the unit:
# warnings count.
set -euo pipefail
cd "$(dirname "$0")/.."

unit=packaging/systemd/upkeep.service
bin=${1:-target/debug/upkeepd}

if ! command -v systemd-analyze >/dev/null; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "verify-unit: systemd-analyze missing; run as root to install systemd" >&2
        exit 1
    fi
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq systemd >/dev/null
fi

if [ ! -e "$bin" ] && [ $# -eq 0 ]; then
    cargo build -p upkeep --bin upkeepd
fi
if [ ! -x "$bin" ]; then
    echo "verify-unit: $bin: no such executable" >&2
    exit 1
fi
bin=$(realpath "$bin")

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
copy=$tmp/upkeep.service

# Replace /usr/sbin/upkeepd on Exec*= lines only; escape the sed replacement.
esc=$(printf '%s' "$bin" | sed -e 's/[&|\\]/\\&/g')
sed -e "/^Exec/s|/usr/sbin/upkeepd|$esc|g" "$unit" >"$copy"
want=$(grep -c '^Exec.*/usr/sbin/upkeepd' "$unit")
got=$(grep -cF -- "$bin" "$copy" || true)
if [ "$want" -lt 2 ] || [ "$got" -ne "$want" ]; then
    echo "verify-unit: expected ExecStartPre= and ExecStart= on /usr/sbin/upkeepd" >&2
    exit 1
fi

# --man=no: the man page named in Documentation= is not installed here (it
# comes with the packages), and checking it would always warn.
set +e
out=$(systemd-analyze --man=no verify "$copy" 2>&1)
rc=$?
set -e

# In a container verify may also talk about other units or a missing
# /run/systemd; only lines about our unit matter (they all name it).
about=$(printf '%s\n' "$out" | grep -F 'upkeep.service' || true)
if [ -n "$out" ]; then
    printf 'systemd-analyze verify printed:\n%s\n' "$out" >&2
fi
if [ "$rc" -ne 0 ]; then
    echo "verify-unit: systemd-analyze verify failed (exit $rc)" >&2
    exit 1
fi
if [ -n "$about" ]; then
    echo "verify-unit: systemd-analyze reported problems with $unit" >&2
    exit 1
fi
echo "verify-unit: $unit OK (systemd-analyze verify, ExecStart=$bin)"
