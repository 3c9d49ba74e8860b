#!/usr/bin/env bash
# Fuzz the configuration readers for a bounded time (cargo-fuzz / libFuzzer).
#
#   scripts/fuzz.sh                    # every target, 30 s each
#   FUZZ_SECONDS=300 scripts/fuzz.sh   # longer
#   scripts/fuzz.sh toml_conf          # only the targets named
#
# Environment:
#   FUZZ_SECONDS    time per target (default 30), passed as -max_total_time
#   FUZZ_SANITIZER  address (default) or none; see below
#
# Prints one line per target (executions, result) and exits non-zero if any
# target crashed or could not run. Crashing inputs are left in
# fuzz/artifacts/TARGET/ (git-ignored); reproduce one with
#   RUSTC_BOOTSTRAP=1 cargo fuzz run TARGET fuzz/artifacts/TARGET/crash-...
# and shrink it with `cargo fuzz tmin TARGET FILE`.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

seconds=${FUZZ_SECONDS:-30}
sanitizer=${FUZZ_SANITIZER:-address}
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    targets=(keepalived_conf toml_conf vrrp_packet)
fi

# Sanitizer choice on stable rustc (checked with rustc 1.95, cargo-fuzz 0.13):
# cargo-fuzz's coverage instrumentation (-Cpasses=sancov-module, -Cllvm-args)
# is stable, but `--sanitizer address` adds -Zsanitizer=address, which stable
# refuses ("the option `Z` is only accepted on the nightly compiler").
# RUSTC_BOOTSTRAP=1 lifts that, and the ASan runtime ships with the stable
# x86_64-unknown-linux-gnu std (librustc-stable_rt.asan.a), so the default
# ASan build links and runs. It is kept as the default because it also checks
# the unsafe code in dependencies and libFuzzer's C++ side. The readers are
# safe Rust, so FUZZ_SANITIZER=none (no -Z flags at all, builds without
# RUSTC_BOOTSTRAP; measured about 2x the executions per second on
# keepalived_conf and 5x on toml_conf) loses little and is the fallback where
# the ASan runtime is missing. It is set only on the fuzz commands: cargo
# fingerprints it, and the shared dev build must not be rebuilt because of it.

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz.sh: installing cargo-fuzz" >&2
    cargo install cargo-fuzz --locked
fi

# Seed corpora, copied fresh on every run (fuzz/corpus is git-ignored).
corpus="$root/fuzz/corpus"
mkdir -p "$corpus/keepalived_conf" "$corpus/toml_conf" "$corpus/vrrp_packet"
# VRRP seeds: a v2 IPv4 packet with its IP header (selector 0) and a v3 IPv6
# advert (selector 1), as the packet tests' golden bytes.
printf '\x00\x45\x00\x00\x28\x00\x00\x00\x00\xff\x70\x00\x00\xc0\xa8\x01\x67\xe0\x00\x00\x12\x21\x33\x64\x01\x01\x01\x1d\xa9\xc0\xa8\x01\xdc\x31\x32\x33\x34\x35\x36\x00\x00' >"$corpus/vrrp_packet/seed-v2"
printf '\x01\x31\x07\xc8\x01\x00\x05\xdb\x12\x20\x01\x0d\xb8\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x07' >"$corpus/vrrp_packet/seed-v3-ipv6"
for f in "$root"/tests/fixtures/seeds/*.conf "$root"/../shared/fixtures/keepalived-samples/keepalived.conf.*; do
    [ -f "$f" ] && cp -f "$f" "$corpus/keepalived_conf/seed-$(basename "$f")"
done
# TOML seeds: the keepalived seeds converted by `upkeepctl convert`, built
# with the one dev profile every test shares (a no-op after the test run).
cargo build --quiet --locked --bin upkeepctl
ctl="$root/target/debug/upkeepctl"
for f in "$corpus"/keepalived_conf/seed-*; do
    "$ctl" convert -i a "$f" >"$corpus/toml_conf/$(basename "$f").toml" 2>/dev/null ||
        rm -f "$corpus/toml_conf/$(basename "$f").toml"
done

for t in "${targets[@]}"; do
    RUSTC_BOOTSTRAP=1 cargo fuzz build --sanitizer "$sanitizer" "$t"
done

logdir="$root/fuzz/artifacts/logs"
mkdir -p "$logdir"
status=0
summary=()
for t in "${targets[@]}"; do
    log="$logdir/$t.log"
    echo "fuzz.sh: running $t for ${seconds}s (log: ${log#"$root"/})" >&2
    rc=0
    RUSTC_BOOTSTRAP=1 cargo fuzz run --sanitizer "$sanitizer" "$t" -- \
        -max_total_time="$seconds" -print_final_stats=1 >"$log" 2>&1 || rc=$?
    # Executions: libFuzzer's final stats, else its last "#N ..." status line.
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n1)
    if [ -z "$execs" ]; then
        execs=$(grep -oE '^#[0-9]+' "$log" | tail -n1 | tr -d '#' || true)
    fi
    artifact=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -n1)
    if [ "$rc" -eq 0 ]; then
        result=ok
    elif [ -n "$artifact" ]; then
        result="CRASH ($artifact)"
        status=1
    else
        result="FAILED (exit $rc, see ${log#"$root"/})"
        status=1
    fi
    if [ "$rc" -ne 0 ]; then
        grep -m1 -E "panicked at|ERROR: (libFuzzer|AddressSanitizer)" "$log" >&2 || true
    fi
    summary+=("$(printf '%-16s execs=%-10s %s' "$t" "${execs:-?}" "$result")")
done

printf '%s\n' "${summary[@]}"
exit "$status"
