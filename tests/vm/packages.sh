#!/usr/bin/env bash
# The package tests (issue: .deb and .rpm installed and run under a real
# systemd). As root:
#   1. builds both packages (scripts/package.sh), and revisions 2 and 3 of
#      the same build for the upgrade tests;
#   2. inspects them (scripts/check-packages.sh: file lists, modes, owners,
#      conffiles, dependencies, scriptlets, lintian, rpmlint, static
#      binaries, rpm --root into a bare root);
#   3. boots a Debian 12 system under qemu with systemd as PID 1
#      (tests/vm/system.py; root cached in target/vm-cache/system) and runs
#      tests/vm/packages-guest.sh in it: install, start, reload, a broken
#      configuration, hung workers, stop, upgrades, the seeds' idle memory,
#      purge; then the .rpm with its scriptlets.
# Prints PASS/FAIL/MEASURE lines; exit status 0 only when all passed.
# Console: target/package/vm-console.log; results: target/package/vm-results.txt.
set -euo pipefail
cd "$(dirname "$0")/../.."

pkgs=()
command -v qemu-system-x86_64 >/dev/null || pkgs+=(qemu-system-x86)
command -v mmdebstrap >/dev/null || pkgs+=(mmdebstrap)
command -v mkfs.ext4 >/dev/null || pkgs+=(e2fsprogs)
command -v rpm >/dev/null || pkgs+=(rpm)
command -v lintian >/dev/null || pkgs+=(lintian)
command -v rpmlint >/dev/null || pkgs+=(rpmlint)
command -v musl-gcc >/dev/null || pkgs+=(musl-tools)
[ -e /usr/lib/x86_64-linux-gnu/libc.a ] || pkgs+=(libc6-dev)
if [ ${#pkgs[@]} -gt 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null
fi

t0=$(date +%s)
bash scripts/package.sh >/dev/null
bash scripts/package.sh --revision 2 --no-build --fast >/dev/null
bash scripts/package.sh --revision 3 --no-build --fast >/dev/null
echo "packages built in $(($(date +%s) - t0)) s"
bash scripts/check-packages.sh 1

version=$(cargo metadata --locked --no-deps --format-version 1 |
    python3 -c 'import json,sys; print(next(p["version"] for p in json.load(sys.stdin)["packages"] if p["name"] == "upkeep"))')
out=target/package
payload=$(mktemp -d)
trap 'rm -rf "$payload"' EXIT
cp tests/vm/packages-guest.sh "$payload/test.sh"
echo "$version" >"$payload/VERSION"
for r in 1 2 3; do cp "$out/upkeep_${version}-${r}_amd64.deb" "$payload/"; done
for r in 1 2; do cp "$out/upkeep-${version}-${r}.x86_64.rpm" "$payload/"; done
mkdir "$payload/seeds"
cp tests/fixtures/seeds/*.conf tests/fixtures/seeds/*.sh "$payload/seeds/"
for f in "$out"/upkeep_"${version}"-1_amd64.deb "$out"/upkeep-"${version}"-1.x86_64.rpm; do
    echo "MEASURE size.${f##*.} $(stat -c %s "$f") bytes"
done
echo "MEASURE installed_size.deb $(dpkg-deb -f "$out/upkeep_${version}-1_amd64.deb" Installed-Size) KiB"

t0=$(date +%s)
python3 tests/vm/system.py build
set +e
python3 tests/vm/system.py run --payload "$payload" --timeout 1200 \
    --console "$out/vm-console.log" --out "$out/vm-results.txt"
rc=$?
set -e
cat "$out/vm-results.txt"
echo "VM test: exit status $rc after $(($(date +%s) - t0)) s (console: $out/vm-console.log)"
if [ "$rc" -ne 0 ]; then
    grep -q '^FAIL' "$out/vm-results.txt" || tail -80 "$out/vm-console.log"
    exit 1
fi
grep -q '^PASS rpm.erase' "$out/vm-results.txt" || { echo "the VM test did not get to the end" >&2; exit 1; }
