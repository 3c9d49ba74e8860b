#!/usr/bin/env bash
# Runs every check and test upkeep has. Works on a fresh machine of this kind
# as root: it installs what it needs. CI runs exactly this (.ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."

# Each step's start in seconds since this script began (where CI time goes).
step() { printf '\n=== %s (at %ds)\n' "$*" "$SECONDS"; }

step "packages"
# The namespace lab and interop tests need these; install whatever is missing.
pkgs=()
command -v ip >/dev/null || pkgs+=(iproute2)
command -v tcpdump >/dev/null || pkgs+=(tcpdump)
command -v keepalived >/dev/null || pkgs+=(keepalived)
command -v python3 >/dev/null || pkgs+=(python3)
command -v nft >/dev/null || pkgs+=(nftables)
command -v curl >/dev/null || pkgs+=(curl)
command -v openssl >/dev/null || pkgs+=(openssl)
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || pkgs+=(nginx)
command -v haproxy >/dev/null || [ -x /usr/sbin/haproxy ] || pkgs+=(haproxy)
# UDP_CHECK and DNS_CHECK labs (net_checks_lab): a UDP responder, a DNS server.
command -v socat >/dev/null || pkgs+=(socat)
command -v unbound >/dev/null || [ -x /usr/sbin/unbound ] || pkgs+=(unbound)
# SMTP alerts (daemon/tests/smtp_lab.rs): a real SMTP server, in Debian's python3.
[ -x /usr/bin/aiosmtpd ] || pkgs+=(python3-aiosmtpd)
command -v systemd-analyze >/dev/null || pkgs+=(systemd)
# The IPVS VM (tests/vm): qemu, and ipvsadm's libraries for the guest's copy.
command -v qemu-system-x86_64 >/dev/null || pkgs+=(qemu-system-x86)
command -v ipvsadm >/dev/null || [ -x /usr/sbin/ipvsadm ] || pkgs+=(ipvsadm)
if [ ${#pkgs[@]} -gt 0 ]; then
    # Install without starting services on this host (the tests start their
    # own nginx and haproxy inside the namespaces they create).
    made_policy=""
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod +x /usr/sbin/policy-rc.d
        made_policy=1
    fi
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null
    if [ -n "$made_policy" ]; then rm -f /usr/sbin/policy-rc.d; fi
fi

step "toolchain"
rustup component add clippy rustfmt >/dev/null
if ! cargo nextest --version >/dev/null 2>&1; then
    cargo install cargo-nextest --locked
fi
rustc --version
cargo nextest --version | head -n1

step "format"
cargo fmt --all -- --check

step "structure"
# No import circles between the daemon's modules; unsafe only under sys/.
python3 scripts/module-cycles.py
# Nothing silent: every model field is read outside config/ (or allowlisted with a reason).
python3 scripts/unread-fields.py
if grep -rln 'unsafe' daemon/src --include='*.rs' | grep -v '^daemon/src/sys/' | xargs -r grep -ln 'unsafe {\|unsafe fn\|unsafe impl' ; then
    echo "unsafe code outside daemon/src/sys/" >&2
    exit 1
fi

step "clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "plugins (WASM, built from source)"
bash scripts/build-plugins.sh

step "tests"
# The packages' static build (profile dist, musl: 17 to 19 minutes on 2
# cores, most of it one crate after another: cranelift-codegen, wasmtime,
# upkeep) goes on beside the tests' build and run, at the lowest priority,
# in a target directory of its own (cargo locks target/ for a build). Its
# own session, so that a failing run takes the whole build down with it.
dist_dir=target/dist
setsid nice -n 19 env CARGO_TARGET_DIR="$dist_dir" \
    bash scripts/package.sh --build-only >target/dist-build.log 2>&1 &
dist_build=$!
trap 'kill -- -"$dist_build" 2>/dev/null || true' EXIT
# One build profile (dev) for everything; nextest runs each test in its own process.
cargo nextest run --workspace --locked --no-run
# The fuzz targets' build (6.5 min on 2 cores) goes on beside the tests, at
# the lowest priority: the tests mostly wait on VRRP timers.
fuzz_profile="${FUZZ_PROFILE:-dev}"
setsid nice -n 19 env FUZZ_BUILD_ONLY=1 FUZZ_PROFILE="$fuzz_profile" \
    bash scripts/fuzz.sh >target/fuzz-build.log 2>&1 &
fuzz_build=$!
trap 'kill -- -"$fuzz_build" -"$dist_build" 2>/dev/null || true' EXIT
# Waits for the fuzz build once; a failed build shows its log and ends the run.
fuzz_built=""
fuzz_build_result() {
    [ -n "$fuzz_built" ] && return 0
    if ! wait "$fuzz_build"; then
        cat target/fuzz-build.log >&2
        echo "the fuzz targets did not build" >&2
        exit 1
    fi
    fuzz_built=1
}
cargo nextest run --workspace --locked --no-fail-fast
# A fuzz build that has already failed ends the run now, not after the packages.
kill -0 "$fuzz_build" 2>/dev/null || fuzz_build_result

step "packages (.deb and .rpm: built, inspected, installed and run under systemd in a VM)"
# The static build began beside the tests; the rest of it at full speed.
if ! wait "$dist_build"; then
    cat target/dist-build.log >&2
    echo "the packages' static build failed" >&2
    exit 1
fi
echo "static build done (at ${SECONDS}s)"
# packaging/README.md: the static build, lintian, rpmlint, rpm --root, and a
# Debian system booted under qemu (root cached in target/vm-cache/system).
CARGO_TARGET_DIR="$dist_dir" bash tests/vm/packages.sh

step "fuzz (bounded smoke run)"
# The targets were built beside the tests.
fuzz_build_result
trap - EXIT
# The dev fuzz profile: 2.5 minutes less to build than release for 20 s a target.
FUZZ_SECONDS="${FUZZ_SECONDS:-20}" FUZZ_PROFILE="$fuzz_profile" bash scripts/fuzz.sh

step "done"
