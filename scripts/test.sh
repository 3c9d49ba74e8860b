#!/usr/bin/env bash
# Runs every check and test upkeep has. Works on a fresh machine of this kind
# as root: it installs what it needs. CI runs exactly this (.ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n=== %s\n' "$*"; }

step "packages"
# The namespace lab and interop tests need these; install whatever is missing.
pkgs=()
command -v ip >/dev/null || pkgs+=(iproute2)
command -v tcpdump >/dev/null || pkgs+=(tcpdump)
command -v keepalived >/dev/null || pkgs+=(keepalived)
command -v python3 >/dev/null || pkgs+=(python3)
command -v nft >/dev/null || pkgs+=(nftables)
if [ ${#pkgs[@]} -gt 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${pkgs[@]}" >/dev/null
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

step "clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "tests"
# One build profile (dev) for everything; nextest runs each test in its own process.
cargo nextest run --workspace --locked --no-fail-fast

step "fuzz (bounded smoke run)"
FUZZ_SECONDS="${FUZZ_SECONDS:-20}" bash scripts/fuzz.sh

step "done"
