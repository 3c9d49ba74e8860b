#!/usr/bin/env bash
# Fuzz the configuration readers, the VRRP and IPC decoders and the parent's
# handling of worker messages (parent_msgs) for a bounded time (cargo-fuzz /
# libFuzzer).
#
#   scripts/fuzz.sh                    # every target, 30 s each
#   FUZZ_SECONDS=300 scripts/fuzz.sh   # longer
#   scripts/fuzz.sh toml_conf          # only the targets named
#
# Environment:
#   FUZZ_SECONDS    time per target (default 30), passed as -max_total_time
#   FUZZ_BUILD_ONLY 1: build the targets and stop (scripts/test.sh builds
#                   them beside the tests, then runs this again)
#   FUZZ_SANITIZER  address (default) or none; see below
#   FUZZ_PROFILE    release (default: cargo-fuzz's optimised build, one
#                   codegen unit) or dev (fuzz/Cargo.toml's dev profile,
#                   opt-level 1: about 5.5 instead of 8 minutes to build
#                   from scratch on 2 cores, fewer executions a second; what
#                   CI's 20-second smoke run uses)
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
profile=${FUZZ_PROFILE:-release}
case "$profile" in
release) mode=(--release) ;;
dev) mode=(--dev) ;;
*) echo "fuzz.sh: FUZZ_PROFILE must be release or dev" >&2; exit 2 ;;
esac
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    targets=(keepalived_conf toml_conf vrrp_packet ipc_frame parent_msgs)
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

for t in "${targets[@]}"; do
    RUSTC_BOOTSTRAP=1 cargo fuzz build "${mode[@]}" --sanitizer "$sanitizer" "$t"
done
[ "${FUZZ_BUILD_ONLY:-}" = 1 ] && exit 0

# Seed corpora, copied fresh on every run (fuzz/corpus is git-ignored).
corpus="$root/fuzz/corpus"
mkdir -p "$corpus/keepalived_conf" "$corpus/toml_conf" "$corpus/vrrp_packet" "$corpus/ipc_frame" "$corpus/parent_msgs"
# VRRP seeds: a v2 IPv4 packet with its IP header (selector 0) and a v3 IPv6
# advert (selector 1), as the packet tests' golden bytes.
printf '\x00\x45\x00\x00\x28\x00\x00\x00\x00\xff\x70\x00\x00\xc0\xa8\x01\x67\xe0\x00\x00\x12\x21\x33\x64\x01\x01\x01\x1d\xa9\xc0\xa8\x01\xdc\x31\x32\x33\x34\x35\x36\x00\x00' >"$corpus/vrrp_packet/seed-v2"
printf '\x01\x31\x07\xc8\x01\x00\x05\xdb\x12\x20\x01\x0d\xb8\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x07' >"$corpus/vrrp_packet/seed-v3-ipv6"
for f in "$root"/tests/fixtures/seeds/*.conf "$root"/../shared/fixtures/keepalived-samples/keepalived.conf.*; do
    [ -f "$f" ] && cp -f "$f" "$corpus/keepalived_conf/seed-$(basename "$f")"
done
# TOML seeds: the keepalived seeds converted by `upkeepctl convert`, the
# dev build's. After scripts/test.sh's test run that binary is there, built
# with the tests' features; `cargo build --bin upkeepctl` would resolve
# features without the dev-dependencies and compile wasmtime, rustls and the
# daemon again (3 minutes). For seeds an older binary does no harm.
ctl="$root/target/debug/upkeepctl"
[ -x "$ctl" ] || cargo build --quiet --locked --bin upkeepctl
for f in "$corpus"/keepalived_conf/seed-*; do
    "$ctl" convert -i a "$f" >"$corpus/toml_conf/$(basename "$f").toml" 2>/dev/null ||
        rm -f "$corpus/toml_conf/$(basename "$f").toml"
done
# IPC seeds: frames as `ipc::encode` writes them ("UK", version 1, body
# length as u32 big endian, JSON body), one per message shape.
ipc_seed() { # NAME JSON (ASCII)
    local n=${#2}
    {
        printf 'UK\x00\x01'
        printf "\\x$(printf %02x $((n >> 24 & 255)))\\x$(printf %02x $((n >> 16 & 255)))"
        printf "\\x$(printf %02x $((n >> 8 & 255)))\\x$(printf %02x $((n & 255)))"
        printf '%s' "$2"
    } >"$corpus/ipc_frame/seed-$1"
}
ipc_seed ping '{"type":"ping","seq":7}'
ipc_seed check_state '{"type":"check_state","source":"script:chk","state":"up","last_result":"exit 0","latency_us":1200,"failures":0,"runs":3}'
ipc_seed vrrp_status '{"type":"vrrp_status","instances":[{"name":"VI_1","state":"MASTER","priority":100,"base_priority":100,"master":"192.168.1.1","vips":["192.168.1.100/24"],"last_cause":"timeout","last_transition_ms":1700000000000,"adverts_sent":5,"adverts_received":0,"transitions":1,"drops":{"ttl":1}}],"unmatched_drops":{"unknown_vrid":2}}'
ipc_seed start '{"type":"start","generation":1,"config":{},"resume":{"states":{"VI_1":"MASTER"},"tracks":{"script:chk":true},"real_servers_down":{"10.0.0.1:80/tcp":["192.168.1.10:80"]}}}'
# And a Start frame carrying each TOML seed's configuration: the model
# serializes alike in TOML and JSON, so python3's tomllib (3.11+) converts
# them where it is available.
ipc_start_py='
import json, struct, sys, tomllib
with open(sys.argv[1], "rb") as f:
    config = tomllib.load(f)
resume = {"states": {}, "tracks": {}, "real_servers_down": {}}
msg = {"type": "start", "generation": 1, "config": config, "resume": resume}
body = json.dumps(msg, separators=(",", ":")).encode()
sys.stdout.buffer.write(b"UK\x00\x01" + struct.pack(">I", len(body)) + body)
'
if python3 -c 'import tomllib' 2>/dev/null; then
    for f in "$corpus"/toml_conf/seed-*.toml; do
        [ -f "$f" ] || continue
        name=$(basename "$f" .toml)
        out="$corpus/ipc_frame/seed-start-${name#seed-}"
        python3 -c "$ipc_start_py" "$f" >"$out" 2>/dev/null || rm -f "$out"
    done
fi


logdir="$root/fuzz/artifacts/logs"
mkdir -p "$logdir"
status=0
summary=()
for t in "${targets[@]}"; do
    log="$logdir/$t.log"
    echo "fuzz.sh: running $t for ${seconds}s (log: ${log#"$root"/})" >&2
    rc=0
    RUSTC_BOOTSTRAP=1 cargo fuzz run "${mode[@]}" --sanitizer "$sanitizer" "$t" -- \
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
