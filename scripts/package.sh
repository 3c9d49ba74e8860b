#!/usr/bin/env bash
# Builds upkeep's .deb and .rpm:
#   target/package/upkeep_VERSION-REV_amd64.deb     (dpkg-deb)
#   target/package/upkeep-VERSION-REV.x86_64.rpm    (rpmbuild)
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
# Installs what it needs: the musl target (rustup); musl-tools and rpm (for
# rpmbuild) from apt. dpkg-deb and rpmbuild are the distributions' own
# tools, so nothing is compiled for packaging (cargo-deb and
# cargo-generate-rpm took 4m45s to install on a fresh machine).
# Usage: scripts/package.sh [--revision N] [--no-build | --build-only] [--fast]
#   --no-build    package the binaries already built (fails when missing)
#   --build-only  build the binaries and plugins, package nothing (CI
#                 builds them beside the tests: scripts/test.sh)
#   --fast        lighter compression (test packages)
# Builds go to $CARGO_TARGET_DIR when set (CI: target/dist, so that this
# build does not wait on the tests' build for the lock on target/);
# packages always to target/package.
set -euo pipefail
cd "$(dirname "$0")/.."

TARGET=x86_64-unknown-linux-musl
PROFILE=dist
rev=1
build=1
build_only=""
fast=""
while [ $# -gt 0 ]; do
    case "$1" in
    --revision) rev=$2; shift 2 ;;
    --no-build) build=""; shift ;;
    --build-only) build_only=1; shift ;;
    --fast) fast=1; shift ;;
    *) echo "usage: scripts/package.sh [--revision N] [--no-build | --build-only] [--fast]" >&2; exit 2 ;;
    esac
done
case "$rev" in
'' | *[!0-9]*) echo "package.sh: --revision must be a number" >&2; exit 2 ;;
esac

if [ -z "$build" ] && [ -n "$build_only" ]; then
    echo "package.sh: --no-build and --build-only exclude each other" >&2
    exit 2
fi

out=target/package
builds=${CARGO_TARGET_DIR:-target}
bindir=$builds/$TARGET/$PROFILE
plugins=$builds/wasm32-wasip2/plugin
# Generated files (man pages, completions, plugins) before they are packaged.
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
if ! command -v rpmbuild >/dev/null; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends rpm >/dev/null
fi

# Version, summary and home page: the daemon's Cargo.toml (version,
# description, repository).
{ read -r version; read -r summary; read -r homepage; } < <(cargo metadata --locked --no-deps --format-version 1 |
    python3 -c 'import json,sys; p = next(p for p in json.load(sys.stdin)["packages"] if p["name"] == "upkeep"); print(p["version"]); print(p["description"]); print(p["repository"])')
[ -n "$homepage" ] || { echo "package.sh: cannot read upkeep's version, description and repository (cargo metadata)" >&2; exit 1; }
maintainer="upkeep maintainers <upkeep@example.invalid>"
# Reproducible dates (man pages, changelog, archive members): the commit's.
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}
step "upkeep $version-$rev"

# ---- binaries, plugins, documentation
if [ -n "$build" ]; then
    step "static binaries ($TARGET, profile $PROFILE)"
    # upkeep-gendoc (run here, not shipped) comes from the same build: a
    # separate dev build of it resolves features without the tests'
    # dev-dependencies and so compiled wasmtime and rustls again (4 minutes).
    cargo build --locked --profile "$PROFILE" --target "$TARGET" -p upkeep --bins -p upkeep-gendoc
    step "plugins (wasm32-wasip2)"
    rustup target list --installed | grep -qx wasm32-wasip2 || rustup target add wasm32-wasip2
    # The same package set as scripts/build-plugins.sh, so either reuses the
    # other's build (in the same target directory).
    cargo build --locked --profile plugin --target wasm32-wasip2 \
        -p upkeep-plugin-haproxy -p upkeep-plugin-nginx -p upkeep-plugin-conformance
fi
[ -z "$build_only" ] || exit 0
for f in "$bindir/upkeepd" "$bindir/upkeepctl" "$bindir/upkeep-plugin-host" "$bindir/upkeep-gendoc" \
    "$plugins/upkeep_plugin_haproxy.wasm" "$plugins/upkeep_plugin_nginx.wasm"; do
    [ -e "$f" ] || { echo "package.sh: $f missing (run without --no-build)" >&2; exit 1; }
done

rm -rf "$stage"
mkdir -p "$stage/plugins"
date=$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y-%m-%d)
"$bindir/upkeep-gendoc" "$stage" --date "$date"
gzip -9n "$stage"/man/*
cp "$plugins/upkeep_plugin_haproxy.wasm" "$stage/plugins/haproxy.wasm"
cp "$plugins/upkeep_plugin_nginx.wasm" "$stage/plugins/nginx.wasm"
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
mkdir -p "$out"
cat >"$out/changelog" <<EOF
upkeep ($version-$rev) unstable; urgency=medium

  * Built from upkeep commit $commit.

 -- $maintainer  $(date -u -R -d "@$SOURCE_DATE_EPOCH")
EOF

# ---- packages
# The same files in both, laid out by one list (packaging/README.md says
# where each goes and why): SRC DEST MODE, DEST relative to the root, a
# trailing / meaning "into this directory". deb and rpm differ only where
# the distributions do (the unit's directory, /etc/default against
# /etc/sysconfig, zsh's completion directory, the copyright's place).
assets() { # KIND (deb|rpm)
    local unitdir=usr/lib/systemd/system defaults=etc/sysconfig/upkeep zsh=usr/share/zsh/site-functions/
    if [ "$1" = deb ]; then
        unitdir=lib/systemd/system defaults=etc/default/upkeep zsh=usr/share/zsh/vendor-completions/
    fi
    cat <<EOF
$bindir/upkeepd usr/sbin/ 755
$bindir/upkeepctl usr/bin/ 755
$bindir/upkeep-plugin-host usr/libexec/upkeep/ 755
packaging/systemd/upkeep.service $unitdir/upkeep.service 644
packaging/systemd/upkeep.sysusers usr/lib/sysusers.d/upkeep.conf 644
packaging/systemd/upkeep.tmpfiles usr/lib/tmpfiles.d/upkeep.conf 644
packaging/upkeep.toml etc/upkeep/upkeep.toml 644
packaging/systemd/upkeep.default $defaults 644
plugin-sdk/wit/check.wit usr/share/upkeep/wit/check.wit 644
README.md usr/share/doc/upkeep/README.md 644
packaging/modules-load.d/ip_vs.conf usr/share/doc/upkeep/examples/modules-load.d/ip_vs.conf 644
EOF
    local f
    for f in "$stage"/man/*.8.gz; do echo "$f usr/share/man/man8/ 644"; done
    for f in "$stage"/man/*.5.gz; do echo "$f usr/share/man/man5/ 644"; done
    for f in "$stage"/completions/bash/*; do echo "$f usr/share/bash-completion/completions/ 644"; done
    for f in "$stage"/completions/zsh/*; do echo "$f $zsh 644"; done
    for f in "$stage"/completions/fish/*; do echo "$f usr/share/fish/vendor_completions.d/ 644"; done
    for f in "$stage"/plugins/*.wasm; do echo "$f usr/lib/upkeep/plugins/ 644"; done
    for f in docs/*.md; do echo "$f usr/share/doc/upkeep/ 644"; done
    if [ "$1" = deb ]; then
        echo "packaging/copyright usr/share/doc/upkeep/copyright 644"
        echo "packaging/deb/lintian-overrides usr/share/lintian/overrides/upkeep 644"
    else
        echo "packaging/copyright usr/share/licenses/upkeep/copyright 644"
    fi
}
# fill KIND ROOT: ROOT (made empty) holds the package's files, dated
# SOURCE_DATE_EPOCH.
fill() {
    local src dest mode
    rm -rf "$2"
    mkdir -p "$2"
    while read -r src dest mode; do
        case "$dest" in */) dest=$dest${src##*/} ;; esac
        install -D -m "$mode" "$src" "$2/$dest"
    done < <(assets "$1")
}
stamp() { find "$1" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +; }

description="upkeep keeps virtual IP addresses alive in front of a pair of load balancers,
as keepalived does: VRRP v2/v3, Linux IPVS virtual servers and health checks,
including WebAssembly check plugins. It reads existing keepalived.conf files as
they are, or its own TOML format, reports every configuration error at once,
and reloads without flapping."

rm -f "$out"/upkeep_"$version"-"$rev"_*.deb "$out"/upkeep-"$version"-"$rev".*.rpm
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

step "deb"
root=$work/deb
fill deb "$root"
gzip -9n <"$out/changelog" >"$root/usr/share/doc/upkeep/changelog.Debian.gz"
chmod 644 "$root/usr/share/doc/upkeep/changelog.Debian.gz"
mkdir -m 755 "$root/DEBIAN"
for s in postinst prerm postrm; do install -m 755 "packaging/deb/$s" "$root/DEBIAN/$s"; done
printf '/etc/default/upkeep\n/etc/upkeep/upkeep.toml\n' >"$root/DEBIAN/conffiles"
# md5sums of everything but the conffiles (dpkg keeps theirs), as dh_md5sums.
(cd "$root" && find . -type f ! -path './DEBIAN/*' ! -path './etc/*' -printf '%P\n' | LC_ALL=C sort |
    xargs md5sum) >"$root/DEBIAN/md5sums"
cat >"$root/DEBIAN/control" <<EOF
Package: upkeep
Version: $version-$rev
Architecture: amd64
Homepage: $homepage
Section: net
Priority: optional
Maintainer: $maintainer
Installed-Size: $(du -sk --apparent-size --exclude=DEBIAN "$root" | cut -f1)
Depends: systemd | systemd-sysusers, systemd | systemd-tmpfiles
Suggests: ipvsadm
Description: $summary
$(sed 's/^/ /' <<<"$description")
EOF
chmod 644 "$root/DEBIAN/control" "$root/DEBIAN/conffiles" "$root/DEBIAN/md5sums"
stamp "$root"
# xz as Debian's archive; --fast: gzip -1 (the VM test's extra revisions).
if [ -n "$fast" ]; then compress=(-Zgzip -z1); else compress=(-Zxz -z6); fi
dpkg-deb --root-owner-group "${compress[@]}" --build "$root" "$out/upkeep_${version}-${rev}_amd64.deb" >/dev/null

step "rpm"
root=$work/rpm
fill rpm "$root"
stamp "$root"
# %files: every file; the directories that are the package's own; the
# configuration kept across upgrades (noreplace); documentation flagged.
{
    echo '%defattr(-,root,root,-)'
    (cd "$root" && find . -mindepth 1 -type d -printf '/%P\n') | LC_ALL=C sort | while read -r d; do
        case "$d" in */upkeep | */upkeep/* | /etc/upkeep) echo "%dir $d" ;; esac
    done
    (cd "$root" && find . -type f -printf '/%P\n') | LC_ALL=C sort | while read -r f; do
        case "$f" in
        /etc/*) echo "%config(noreplace) $f" ;;
        /usr/share/man/* | /usr/share/doc/* | /usr/share/licenses/*) echo "%doc $f" ;;
        *) echo "$f" ;;
        esac
    done
} >"$work/files"
changelog_date=$(LC_ALL=C date -u -d "@$SOURCE_DATE_EPOCH" '+%a %b %d %Y')
cat >"$work/upkeep.spec" <<EOF
Name: upkeep
Version: $version
Release: $rev
Summary: $summary
License: GPL-2.0-or-later
URL: $homepage
Packager: $maintainer
# Static binaries: no library requirement to find, nothing for the
# distribution's post-install steps to strip, compress or link by build-id.
AutoReqProv: no
Requires: systemd
%global __os_install_post %{nil}
%global debug_package %{nil}
%global _build_id_links none

%description
$description

%install
cp -a "$root/." "%{buildroot}/"

# Scriptlets as packaging/rpm/ has them: % doubled, so that rpmbuild
# expands no macro named in their comments.
%post
$(sed 's/%/%%/g' packaging/rpm/post.sh)

%preun
$(sed 's/%/%%/g' packaging/rpm/preun.sh)

%postun
$(sed 's/%/%%/g' packaging/rpm/postun.sh)

%files -f $work/files

%changelog
* $changelog_date $maintainer - $version-$rev
- Built from upkeep commit $commit.
EOF
if [ -n "$fast" ]; then payload=w1.zstdio; else payload=w19.zstdio; fi
rpmbuild -bb --quiet --target x86_64-linux \
    --define "_topdir $work/rpmbuild" --define "_rpmdir $work/rpms" \
    --define "_binary_payload $payload" --define "_buildhost upkeep.invalid" \
    --define "use_source_date_epoch_as_buildtime 1" --define "clamp_mtime_to_source_date_epoch 1" \
    "$work/upkeep.spec" >"$work/rpmbuild.log" 2>&1 || { cat "$work/rpmbuild.log" >&2; exit 1; }
mv "$work/rpms/x86_64/upkeep-${version}-${rev}.x86_64.rpm" "$out/"

deb=$(ls "$out"/upkeep_"$version"-"$rev"_*.deb)
rpm=$(ls "$out"/upkeep-"$version"-"$rev".*.rpm)
ls -l "$deb" "$rpm" >&2
printf '%s\n%s\n' "$deb" "$rpm"
