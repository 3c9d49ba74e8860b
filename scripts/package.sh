#!/usr/bin/env bash
# Builds upkeep's .deb and .rpm:
#   target/package/upkeep_VERSION-REV_amd64.deb     (cargo-deb)
#   target/package/upkeep-VERSION-REV.x86_64.rpm    (cargo-generate-rpm)
# VERSION is the workspace's ([workspace.package] version in Cargo.toml);
# REV is 1, or --revision N (the VM test builds a "newer" package this way).
#
# Both packages hold the same static binaries (x86_64-unknown-linux-musl,
# mimalloc; profile dist): no C library needed at run time, so they run on
# el8 (glibc 2.28), el9, Debian and Ubuntu alike (packaging/README.md).
# Man pages and completions are generated here from the clap definitions
# and docs/ (packaging/gendoc); the haproxy and nginx plugins are built from
# source (wasm32-wasip2).
#
# Installs what it needs: the musl target (rustup), musl-tools (apt),
# cargo-deb and cargo-generate-rpm (cargo install, pinned versions).
# Usage: scripts/package.sh [--revision N] [--no-build] [--fast]
#   --no-build  package the binaries already built (fails when missing)
#   --fast      lighter compression (test packages)
set -euo pipefail
cd "$(dirname "$0")/.."

TARGET=x86_64-unknown-linux-musl
PROFILE=dist
CARGO_DEB_VERSION=3.8.0
CARGO_RPM_VERSION=0.21.1
rev=1
build=1
fast=()
while [ $# -gt 0 ]; do
    case "$1" in
    --revision) rev=$2; shift 2 ;;
    --no-build) build=""; shift ;;
    --fast) fast=(--fast); shift ;;
    *) echo "usage: scripts/package.sh [--revision N] [--no-build] [--fast]" >&2; exit 2 ;;
    esac
done
case "$rev" in
'' | *[!0-9]*) echo "package.sh: --revision must be a number" >&2; exit 2 ;;
esac

out=target/package
bindir=target/$TARGET/$PROFILE
# daemon/Cargo.toml names these as target/release/package-stage/...: both
# tools map target/release/ to $bindir.
stage=$bindir/package-stage

step() { printf 'package: %s\n' "$*" >&2; }

# ---- tools
if [ -n "$build" ]; then
    rustup target list --installed | grep -qx "$TARGET" || rustup target add "$TARGET"
    if ! command -v musl-gcc >/dev/null; then
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends musl-tools >/dev/null
    fi
fi
have_tool() { # NAME VERSION: installed at exactly that version
    "$1" --version 2>/dev/null | grep -qF "$2"
}
if ! have_tool cargo-deb "$CARGO_DEB_VERSION" || ! have_tool cargo-generate-rpm "$CARGO_RPM_VERSION"; then
    step "installing cargo-deb $CARGO_DEB_VERSION and cargo-generate-rpm $CARGO_RPM_VERSION"
    cargo install --locked --quiet "cargo-deb@$CARGO_DEB_VERSION" "cargo-generate-rpm@$CARGO_RPM_VERSION"
fi

version=$(cargo metadata --locked --no-deps --format-version 1 |
    python3 -c 'import json,sys; print(next(p["version"] for p in json.load(sys.stdin)["packages"] if p["name"] == "upkeep"))')
# Reproducible dates (man pages, changelog, archive members): the commit's.
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}
step "upkeep $version-$rev"

# ---- binaries, plugins, documentation
if [ -n "$build" ]; then
    step "static binaries ($TARGET, profile $PROFILE)"
    cargo build --locked --profile "$PROFILE" --target "$TARGET" -p upkeep --bins
    step "plugins (wasm32-wasip2)"
    rustup target list --installed | grep -qx wasm32-wasip2 || rustup target add wasm32-wasip2
    # The same package set as scripts/build-plugins.sh, so either reuses the other's build.
    cargo build --locked --profile plugin --target wasm32-wasip2 \
        -p upkeep-plugin-haproxy -p upkeep-plugin-nginx -p upkeep-plugin-conformance
    # --workspace: the features the tests build with, so nothing rebuilds.
    cargo build --locked --workspace --bin upkeep-gendoc
fi
for f in "$bindir/upkeepd" "$bindir/upkeepctl" "$bindir/upkeep-plugin-host" target/debug/upkeep-gendoc \
    target/wasm32-wasip2/plugin/upkeep_plugin_haproxy.wasm target/wasm32-wasip2/plugin/upkeep_plugin_nginx.wasm; do
    [ -e "$f" ] || { echo "package.sh: $f missing (run without --no-build)" >&2; exit 1; }
done

rm -rf "$stage"
mkdir -p "$stage/plugins"
date=$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y-%m-%d)
target/debug/upkeep-gendoc "$stage" --date "$date"
gzip -9n "$stage"/man/*
cp target/wasm32-wasip2/plugin/upkeep_plugin_haproxy.wasm "$stage/plugins/haproxy.wasm"
cp target/wasm32-wasip2/plugin/upkeep_plugin_nginx.wasm "$stage/plugins/nginx.wasm"
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
mkdir -p "$out"
cat >"$out/changelog" <<EOF
upkeep ($version-$rev) unstable; urgency=medium

  * Built from upkeep commit $commit.

 -- upkeep maintainers <upkeep@example.invalid>  $(date -u -R -d "@$SOURCE_DATE_EPOCH")
EOF

# ---- packages
mkdir -p "$out"
rm -f "$out"/upkeep_"$version"-"$rev"_*.deb "$out"/upkeep-"$version"-"$rev".*.rpm
step "deb"
cargo deb --locked -p upkeep --no-build --no-strip "${fast[@]}" --target "$TARGET" --profile "$PROFILE" \
    --deb-version "$version-$rev" --output "$out/" >/dev/null
step "rpm"
cargo generate-rpm -p daemon --target "$TARGET" --profile "$PROFILE" \
    -s "release = \"$rev\"" -o "$out/" >/dev/null
deb=$(ls "$out"/upkeep_"$version"-"$rev"_*.deb)
rpm=$(ls "$out"/upkeep-"$version"-"$rev".*.rpm)
ls -l "$deb" "$rpm" >&2
printf '%s\n%s\n' "$deb" "$rpm"
