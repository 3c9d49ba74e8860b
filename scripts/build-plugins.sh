#!/usr/bin/env bash
# Builds every WASM plugin from source into target/plugins/:
#   haproxy.wasm, nginx.wasm, conformance-rust.wasm  (Rust, wasm32-wasip2)
#   conformance-c.wasm                               (C: clang + wasi-libc)
#   conformance-py.wasm                              (Python: componentize-py)
# Installs what it needs (rustup target, Debian packages, a venv under
# target/). The tests and benchmarks read the files from target/plugins/.
set -euo pipefail
cd "$(dirname "$0")/.."
out=target/plugins
mkdir -p "$out"

rustup target add wasm32-wasip2 >/dev/null 2>&1 || rustup target add wasm32-wasip2
cargo build --locked --profile plugin --target wasm32-wasip2 \
    -p upkeep-plugin-haproxy -p upkeep-plugin-nginx -p upkeep-plugin-conformance
for p in haproxy nginx conformance; do
    name=$p
    [ "$p" = conformance ] && name=conformance-rust
    cp "target/wasm32-wasip2/plugin/upkeep_plugin_${p}.wasm" "$out/$name.wasm"
done

command -v python3 >/dev/null || { apt-get update -qq && apt-get install -y -qq python3 >/dev/null; }
python3 -c 'import venv, ensurepip' 2>/dev/null || {
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
}
TOOL_JOBS="${TOOL_JOBS:-2}" bash plugins/conformance-c/build.sh
bash plugins/conformance-py/build.sh
ls -l "$out"/*.wasm
