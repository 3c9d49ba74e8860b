#!/usr/bin/env bash
# Builds plugins/conformance-c into target/plugins/conformance-c.wasm (a WASI
# p2 component). Run from anywhere; paths are taken from the repo root.
#
# Steps: (1) Debian's clang + wasi-libc if missing, (2) upkeep-plugin-tool
# (plugin-sdk/tool, a standalone crate) if missing or stale, (3) C bindings
# from plugin-sdk/wit, (4) clang -> core wasm module (wasm32-wasi, reactor),
# (5) core module + WASI preview1 reactor adapter -> component.
#
# Debian 12's wasi-libc (2022) has no wasm32-wasip2 sysroot, so clang cannot
# emit a p2 component directly; the preview1 adapter does the translation.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
SRC="$ROOT/plugins/conformance-c"
WIT="$ROOT/plugin-sdk/wit"
OUT_DIR="$ROOT/target/plugins"
WORK="$ROOT/target/plugins/conformance-c.build"
TOOL="$ROOT/target/tool/release/upkeep-plugin-tool"

# --- 1. toolchain --------------------------------------------------------
CLANG="${CLANG:-}"
if [ -z "$CLANG" ]; then
  for v in 19 18 17 16; do
    if command -v "clang-$v" >/dev/null 2>&1 && [ -e /usr/lib/wasm32-wasi/libc.a ] \
       && [ -e "/usr/lib/llvm-$v/bin/wasm-ld" ] \
       && [ -e "/usr/lib/llvm-$v/lib/clang/$v/lib/wasi/libclang_rt.builtins-wasm32.a" ]; then
      CLANG="clang-$v"; break
    fi
  done
fi
if [ -z "$CLANG" ]; then
  echo "build.sh: installing clang-19, lld-19, wasi-libc (Debian packages)" >&2
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq \
    clang-19 lld-19 wasi-libc libclang-rt-19-dev-wasm32 >/dev/null
  CLANG=clang-19
fi

# --- 2. upkeep-plugin-tool -----------------------------------------------
# cargo is a no-op when the tool is up to date.
nice -n 19 cargo build --release --quiet -j "${TOOL_JOBS:-1}" \
  --manifest-path "$ROOT/plugin-sdk/tool/Cargo.toml" --target-dir "$ROOT/target/tool"

# --- 3. bindings ---------------------------------------------------------
rm -rf "$WORK"
mkdir -p "$WORK/bindings" "$OUT_DIR"
"$TOOL" c-bindings --wit "$WIT" --world plugin --out "$WORK/bindings" >/dev/null

# --- 4. core module ------------------------------------------------------
# -mexec-model=reactor: no main, wasi-libc's _initialize runs the C
# constructors; the adapter and the host call it before `check`.
"$CLANG" --target=wasm32-wasi -mexec-model=reactor -O2 -std=c11 \
  -Wall -Wextra -Werror -Wno-unused-parameter \
  -I "$WORK/bindings" \
  "$SRC/conformance.c" "$WORK/bindings/plugin.c" "$WORK/bindings/plugin_component_type.o" \
  -Wl,--strip-debug \
  -o "$WORK/conformance-c.core.wasm"

# --- 5. component --------------------------------------------------------
"$TOOL" componentize --adapter reactor "$WORK/conformance-c.core.wasm" \
  -o "$OUT_DIR/conformance-c.wasm"
