#!/usr/bin/env bash
# Builds plugins/conformance-py into target/plugins/conformance-py.wasm (a
# WASI p2 component holding CPython, the stdlib and app.py) with
# componentize-py, installed at the pinned version into a venv under target/.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
SRC="$ROOT/plugins/conformance-py"
VENV="$ROOT/target/py-venv"
OUT_DIR="$ROOT/target/plugins"
PY="${PYTHON:-python3}"

want="$(grep -E '^componentize-py==' "$SRC/requirements.txt")"
if ! [ -x "$VENV/bin/componentize-py" ] \
   || [ "$("$VENV/bin/pip" freeze 2>/dev/null | grep -E '^componentize-py==')" != "$want" ]; then
  "$PY" -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check -r "$SRC/requirements.txt"
fi

# componentize-py runs the guest's CPython (3.14, in wasm) over the app at
# build time, and that writes __pycache__ next to the sources: build from a
# copy under target/ so the source tree stays clean.
STAGE="$OUT_DIR/conformance-py.build"
rm -rf "$STAGE"
mkdir -p "$STAGE"
cp "$SRC/app.py" "$STAGE/"

# Not activating the venv on purpose: with VIRTUAL_ENV set, componentize-py
# also puts the venv's site-packages on the guest's path. -p limits the
# guest's Python path to the staged app.
cd "$STAGE"
env -u VIRTUAL_ENV PYTHONDONTWRITEBYTECODE=1 "$VENV/bin/componentize-py" \
  -d "$ROOT/plugin-sdk/wit" -w plugin \
  componentize -p "$STAGE" app -o "$OUT_DIR/conformance-py.wasm"
