#!/usr/bin/env bash
# Inspects the packages scripts/package.sh built (target/package/) without a
# VM: file lists with modes and owners, conffiles, dependencies and
# scriptlets against what packaging/ says; lintian (deb) and rpmlint (rpm),
# every remaining warning justified in packaging/deb/lintian-overrides or
# packaging/rpm/rpmlintrc; the binaries static (no interpreter, no shared
# library, no GLIBC_ symbol version: they run on el8's glibc 2.28 and
# without any C library); and the .rpm installed with `rpm --root` into a
# root that holds nothing but busybox, scriptlets run, where the static
# upkeepd then runs a VRRP instance for real (in a network namespace made
# here), before an upgrade and an erase that must leave nothing behind.
# Prints PASS/FAIL lines; exits 1 at the first failure.
# Usage: scripts/check-packages.sh [REVISION]   (as root; default 1)
set -euo pipefail
cd "$(dirname "$0")/.."
rev=${1:-1}
out=target/package
version=$(cargo metadata --locked --no-deps --format-version 1 |
    python3 -c 'import json,sys; print(next(p["version"] for p in json.load(sys.stdin)["packages"] if p["name"] == "upkeep"))')
deb=$out/upkeep_${version}-${rev}_amd64.deb
rpm=$out/upkeep-${version}-${rev}.x86_64.rpm
for f in "$deb" "$rpm"; do
    [ -f "$f" ] || { echo "check-packages: $f missing: run scripts/package.sh" >&2; exit 1; }
done

pkgs=()
command -v lintian >/dev/null || pkgs+=(lintian)
command -v rpmlint >/dev/null || pkgs+=(rpmlint)
command -v rpm >/dev/null || pkgs+=(rpm)
command -v readelf >/dev/null || pkgs+=(binutils)
if [ ${#pkgs[@]} -gt 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null
fi

tmp=$(mktemp -d)
ns=""
cleanup() {
    [ -n "$ns" ] && { ip netns pids "$ns" 2>/dev/null | xargs -r kill -9 2>/dev/null || true; }
    [ -n "$ns" ] && ip netns del "$ns" 2>/dev/null
    umount "$tmp/rpmroot/proc" 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT
pass() { echo "PASS $*"; }
fail() {
    echo "FAIL $1: $2" >&2
    exit 1
}
# same NAME EXPECTED ACTUAL: the two texts are equal, else a diff.
same() {
    if [ "$2" != "$3" ]; then
        diff -u <(echo "$2") <(echo "$3") >&2 || true
        fail "$1" "differs from what packaging/ says (diff above: - expected, + actual)"
    fi
}

# ---------------------------------------------------------------- the .deb
# Files (not directories): mode owner/group path (dpkg-deb --root-owner-group).
actual=$(dpkg-deb -c "$deb" | awk '$1 !~ /^d/ { print $1, $2, $6 }' | sort -k3)
expect=$(sort -k3 <<'EOF'
-rwxr-xr-x root/root ./usr/sbin/upkeepd
-rwxr-xr-x root/root ./usr/bin/upkeepctl
-rwxr-xr-x root/root ./usr/libexec/upkeep/upkeep-plugin-host
-rw-r--r-- root/root ./lib/systemd/system/upkeep.service
-rw-r--r-- root/root ./usr/lib/sysusers.d/upkeep.conf
-rw-r--r-- root/root ./usr/lib/tmpfiles.d/upkeep.conf
-rw-r--r-- root/root ./etc/upkeep/upkeep.toml
-rw-r--r-- root/root ./etc/default/upkeep
-rw-r--r-- root/root ./usr/share/man/man8/upkeepd.8.gz
-rw-r--r-- root/root ./usr/share/man/man8/upkeepctl.8.gz
-rw-r--r-- root/root ./usr/share/man/man5/upkeep.toml.5.gz
-rw-r--r-- root/root ./usr/share/man/man5/upkeep-keepalived.conf.5.gz
-rw-r--r-- root/root ./usr/share/bash-completion/completions/upkeepd
-rw-r--r-- root/root ./usr/share/bash-completion/completions/upkeepctl
-rw-r--r-- root/root ./usr/share/zsh/vendor-completions/_upkeepd
-rw-r--r-- root/root ./usr/share/zsh/vendor-completions/_upkeepctl
-rw-r--r-- root/root ./usr/share/fish/vendor_completions.d/upkeepd.fish
-rw-r--r-- root/root ./usr/share/fish/vendor_completions.d/upkeepctl.fish
-rw-r--r-- root/root ./usr/share/upkeep/wit/check.wit
-rw-r--r-- root/root ./usr/lib/upkeep/plugins/haproxy.wasm
-rw-r--r-- root/root ./usr/lib/upkeep/plugins/nginx.wasm
-rw-r--r-- root/root ./usr/share/doc/upkeep/README.md
-rw-r--r-- root/root ./usr/share/doc/upkeep/architecture.md
-rw-r--r-- root/root ./usr/share/doc/upkeep/config.md
-rw-r--r-- root/root ./usr/share/doc/upkeep/ipvs.md
-rw-r--r-- root/root ./usr/share/doc/upkeep/operations.md
-rw-r--r-- root/root ./usr/share/doc/upkeep/plugins.md
-rw-r--r-- root/root ./usr/share/doc/upkeep/security.md
-rw-r--r-- root/root ./usr/share/doc/upkeep/copyright
-rw-r--r-- root/root ./usr/share/doc/upkeep/changelog.Debian.gz
-rw-r--r-- root/root ./usr/share/doc/upkeep/examples/modules-load.d/ip_vs.conf
-rw-r--r-- root/root ./usr/share/lintian/overrides/upkeep
EOF
)
same deb.files "$expect" "$actual"
dpkg-deb -c "$deb" | awk '$1 ~ /^d/ && $1 != "drwxr-xr-x" { print; bad = 1 } $2 != "root/root" { print; bad = 1 } END { exit bad }' ||
    fail deb.files "a directory not 0755 or an entry not owned by root"
pass "deb.files (${deb##*/}: $(echo "$actual" | wc -l) files, modes and owners)"

mkdir -p "$tmp/deb"
dpkg-deb -e "$deb" "$tmp/deb/control"
same deb.conffiles "$(printf '/etc/default/upkeep\n/etc/upkeep/upkeep.toml')" "$(sort "$tmp/deb/control/conffiles")"
pass deb.conffiles
field() { dpkg-deb -f "$deb" "$1"; }
same deb.depends "systemd | systemd-sysusers, systemd | systemd-tmpfiles" "$(field Depends)"
[ -z "$(field Pre-Depends)" ] || fail deb.depends "Pre-Depends: $(field Pre-Depends)"
same deb.version "$version-$rev" "$(field Version)"
pass "deb.control (Depends: $(field Depends); Installed-Size: $(field Installed-Size) KiB)"
for s in postinst prerm postrm; do
    cmp -s "packaging/deb/$s" "$tmp/deb/control/$s" || fail deb.scripts "$s differs from packaging/deb/$s"
    [ -x "$tmp/deb/control/$s" ] || fail deb.scripts "$s not executable"
    sh -n "$tmp/deb/control/$s" || fail deb.scripts "$s: syntax"
done
[ ! -e "$tmp/deb/control/preinst" ] || fail deb.scripts "unexpected preinst"
pass "deb.scripts (postinst, prerm, postrm as in packaging/deb/)"

lintian_out=$(lintian --fail-on error,warning --display-info "$deb" 2>&1) || {
    echo "$lintian_out" >&2
    fail lintian "errors or warnings (justify an override in packaging/deb/lintian-overrides, or fix)"
}
[ -z "$(echo "$lintian_out" | grep -E '^[EW]:')" ] || fail lintian "$lintian_out"
pass "lintian (no error or warning; $(echo "$lintian_out" | grep -c '^[IPX]:' || true) info/pedantic notes)"

# ---------------------------------------------------------------- the .rpm
q() { rpm -qp --nosignature "$@" "$rpm" 2>/dev/null; }
actual=$(q --qf '[%{FILEMODES:perms} %{FILEUSERNAME}/%{FILEGROUPNAME} %{FILEFLAGS:fflags} %{FILENAMES}\n]' | sort -k4)
expect=$(sort -k4 <<'EOF'
-rwxr-xr-x root/root  /usr/sbin/upkeepd
-rwxr-xr-x root/root  /usr/bin/upkeepctl
-rwxr-xr-x root/root  /usr/libexec/upkeep/upkeep-plugin-host
-rw-r--r-- root/root  /usr/lib/systemd/system/upkeep.service
-rw-r--r-- root/root  /usr/lib/sysusers.d/upkeep.conf
-rw-r--r-- root/root  /usr/lib/tmpfiles.d/upkeep.conf
-rw-r--r-- root/root cn /etc/upkeep/upkeep.toml
-rw-r--r-- root/root cn /etc/sysconfig/upkeep
-rw-r--r-- root/root d /usr/share/man/man8/upkeepd.8.gz
-rw-r--r-- root/root d /usr/share/man/man8/upkeepctl.8.gz
-rw-r--r-- root/root d /usr/share/man/man5/upkeep.toml.5.gz
-rw-r--r-- root/root d /usr/share/man/man5/upkeep-keepalived.conf.5.gz
-rw-r--r-- root/root  /usr/share/bash-completion/completions/upkeepd
-rw-r--r-- root/root  /usr/share/bash-completion/completions/upkeepctl
-rw-r--r-- root/root  /usr/share/zsh/site-functions/_upkeepd
-rw-r--r-- root/root  /usr/share/zsh/site-functions/_upkeepctl
-rw-r--r-- root/root  /usr/share/fish/vendor_completions.d/upkeepd.fish
-rw-r--r-- root/root  /usr/share/fish/vendor_completions.d/upkeepctl.fish
-rw-r--r-- root/root  /usr/share/upkeep/wit/check.wit
-rw-r--r-- root/root  /usr/lib/upkeep/plugins/haproxy.wasm
-rw-r--r-- root/root  /usr/lib/upkeep/plugins/nginx.wasm
-rw-r--r-- root/root d /usr/share/doc/upkeep/README.md
-rw-r--r-- root/root d /usr/share/doc/upkeep/architecture.md
-rw-r--r-- root/root d /usr/share/doc/upkeep/config.md
-rw-r--r-- root/root d /usr/share/doc/upkeep/ipvs.md
-rw-r--r-- root/root d /usr/share/doc/upkeep/operations.md
-rw-r--r-- root/root d /usr/share/doc/upkeep/plugins.md
-rw-r--r-- root/root d /usr/share/doc/upkeep/security.md
-rw-r--r-- root/root d /usr/share/doc/upkeep/examples/modules-load.d/ip_vs.conf
-rw-r--r-- root/root d /usr/share/licenses/upkeep/copyright
drwxr-xr-x root/root  /etc/upkeep
drwxr-xr-x root/root  /usr/lib/upkeep
drwxr-xr-x root/root  /usr/lib/upkeep/plugins
drwxr-xr-x root/root  /usr/libexec/upkeep
drwxr-xr-x root/root  /usr/share/doc/upkeep
drwxr-xr-x root/root  /usr/share/doc/upkeep/examples
drwxr-xr-x root/root  /usr/share/doc/upkeep/examples/modules-load.d
drwxr-xr-x root/root  /usr/share/licenses/upkeep
drwxr-xr-x root/root  /usr/share/upkeep
drwxr-xr-x root/root  /usr/share/upkeep/wit
EOF
)
same rpm.files "$expect" "$actual"
rpm_files=$(echo "$actual" | grep -vc '^d')
pass "rpm.files (${rpm##*/}: $rpm_files files and the package's own $(echo "$actual" | grep -c '^d') directories, modes, owners, config(noreplace) and doc flags)"
# systemd, and /bin/sh for each scriptlet; nothing found automatically
# (AutoReqProv: no, the binaries are static).
same rpm.requires "$(printf '/bin/sh\nsystemd')" \
    "$(q --requires | grep -v '^rpmlib(' | sort -u)"
same rpm.version "$version-$rev" "$(q --qf '%{VERSION}-%{RELEASE}')"
pass "rpm.header (Requires: systemd, /bin/sh; size $(q --qf '%{SIZE}') bytes installed)"
scripts=$(q --scripts)
for s in post preun postun; do
    label=$(case $s in post) echo postinstall ;; preun) echo preuninstall ;; postun) echo postuninstall ;; esac)
    body=$(echo "$scripts" | awk -v l="$label scriptlet" 'index($0, l) == 1 { on = 1; next } /scriptlet \(using/ { on = 0 } on')
    same "rpm.scripts.$s" "$(cat "packaging/rpm/$s.sh")" "$body"
done
[ "$(echo "$scripts" | grep -c 'scriptlet (using /bin/sh)')" = 3 ] || fail rpm.scripts "$scripts"
pass "rpm.scripts (rpm -qp --scripts: %post, %preun, %postun as in packaging/rpm/)"

rpmlint_out=$(rpmlint -c packaging/rpm/rpmlint.toml -r packaging/rpm/rpmlintrc "$rpm" 2>&1) || true
summary=$(echo "$rpmlint_out" | grep -E '[0-9]+ errors?, [0-9]+ warnings?' | tail -1)
echo "$summary" | grep -qE ' 0 errors?, 0 warnings?' || {
    echo "$rpmlint_out" >&2
    fail rpmlint "errors or warnings (justify a filter in packaging/rpm/rpmlintrc, or fix)"
}
pass "rpmlint ($summary)"

# ---------------------------------------------------------------- static binaries
mkdir -p "$tmp/x/deb" "$tmp/x/rpm"
dpkg-deb -x "$deb" "$tmp/x/deb"
# Debian's rpm2cpio 4.18 exits 1 after writing a complete archive: check
# the archive instead (cpio reads it to its trailer, every file is there).
rpm2cpio "$rpm" >"$tmp/payload.cpio" || true
(cd "$tmp/x/rpm" && cpio -idm --quiet <"$tmp/payload.cpio") || fail static "cannot unpack the rpm's payload"
[ "$(find "$tmp/x/rpm" -type f | wc -l)" = "$rpm_files" ] || fail static "the rpm's payload is incomplete"
for b in usr/sbin/upkeepd usr/bin/upkeepctl usr/libexec/upkeep/upkeep-plugin-host; do
    cmp -s "$tmp/x/deb/$b" "$tmp/x/rpm/$b" || fail static "$b differs between the packages"
    f=$tmp/x/rpm/$b
    readelf -lW "$f" | grep -q 'Requesting program interpreter' && fail static "$b has a program interpreter"
    readelf -dW "$f" | grep -q '(NEEDED)' && fail static "$b needs shared libraries: $(readelf -dW "$f" | grep NEEDED)"
    readelf -VW "$f" | grep -q 'GLIBC_' && fail static "$b references GLIBC_ symbol versions"
    file -b "$f" | grep -q 'static' || fail static "file(1): $(file -b "$f")"
done
pass "static (no interpreter, no NEEDED, no GLIBC_ version in upkeepd, upkeepctl and upkeep-plugin-host: $(file -b "$tmp/x/rpm/usr/sbin/upkeepd" | grep -o "static[^,]*"))"

# ---------------------------------------------------------------- rpm --root: scriptlets, a bare root
root=$tmp/rpmroot
mkdir -p "$root/bin" "$root/dev" "$root/etc" "$root/proc" "$root/run" "$root/tmp"
# busybox-static (no C library either): /bin/sh for the scriptlets.
(cd "$tmp" && apt-get download -q busybox-static >/dev/null 2>&1) || fail rpm.root "apt-get download busybox-static"
dpkg-deb -x "$tmp"/busybox-static_*.deb "$tmp/bb"
cp "$tmp/bb/bin/busybox" "$root/bin/busybox"
for a in sh rm rmdir; do ln -s busybox "$root/bin/$a"; done
mknod -m 666 "$root/dev/null" c 1 3
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$root/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$root/etc/group"
rpm --root "$root" --initdb
# --nodeps: the root's rpm database knows no systemd package.
rpm --root "$root" -i --nodeps "$rpm" >"$tmp/rpm.log" 2>&1 || { cat "$tmp/rpm.log" >&2; fail rpm.root "rpm -i failed"; }
rpm --root "$root" -q upkeep >/dev/null || fail rpm.root "not in the root's rpm database"
verify=$(rpm --root "$root" -V --nodeps upkeep 2>&1) || fail rpm.root "rpm -V: $verify"
[ -z "$(find "$root" -name 'libc.so*' -o -name 'ld-linux*' -o -name 'ld-musl*')" ] || fail rpm.root "a C library in the bare root"
pass "rpm.root (installed with its scriptlets into a root of busybox only; rpm -V clean)"
chroot "$root" /usr/sbin/upkeepd --version | grep -q "upkeepd $version" || fail rpm.root "upkeepd --version"
chroot "$root" /usr/sbin/upkeepd -t -f /etc/upkeep/upkeep.toml || fail rpm.root "upkeepd -t on the shipped example"
# A real run: VRRP on a veth in a namespace, the daemon chrooted into the bare root.
ns=ukpkg$$
ip netns add "$ns"
ip -n "$ns" link add v0 type veth peer name v1
ip -n "$ns" addr add 10.98.0.1/24 dev v0
ip -n "$ns" link set lo up
ip -n "$ns" link set v0 up
ip -n "$ns" link set v1 up
cat >"$root/etc/upkeep/run.toml" <<'EOF'
[[vrrp_instance]]
name = "VI_1"
state = "MASTER"
interface = "v0"
virtual_router_id = 52
priority = 150
advert_int = 1
virtual_ipaddress = ["10.98.0.100/24"]
track_script = ["chk_haproxy"]

# A plugin check (no haproxy runs: it fails, and only withholds +10), so
# that the checker is the packaged plugin host.
[[vrrp_script]]
name = "chk_haproxy"
interval = 1
weight = 10

[vrrp_script.plugin]
file = "/usr/lib/upkeep/plugins/haproxy.wasm"
args = { socket = "/run/haproxy/admin.sock", backend = "web" }

[vrrp_script.plugin.allow]
unix = ["/run/haproxy/admin.sock"]
EOF
mount -t proc proc "$root/proc"
ip netns exec "$ns" chroot "$root" /usr/sbin/upkeepd -f /etc/upkeep/run.toml --runtime-dir /run/upkeep \
    --cache-dir /tmp/cache >"$tmp/run.log" 2>&1 &
# ip netns exec and chroot exec in turn: $! is upkeepd, the parent.
upkeepd=$!
ok=""
for _ in $(seq 1 200); do
    if ip -n "$ns" -4 -o addr show dev v0 | grep -q ' 10.98.0.100/' &&
        grep -q MASTER "$root/run/upkeep/status.json" 2>/dev/null; then
        ok=1
        break
    fi
    sleep 0.1
done
[ -n "$ok" ] || { cat "$tmp/run.log" >&2; fail rpm.root.run "not MASTER with the VIP within 20 s"; }
hosts=$(for p in $(ip netns pids "$ns"); do readlink "/proc/$p/exe"; done | grep -c "^$root/usr/libexec/upkeep/upkeep-plugin-host\$" || true)
[ "$hosts" = 1 ] || { cat "$tmp/run.log" >&2; fail rpm.root.run "no checker from /usr/libexec/upkeep/upkeep-plugin-host"; }
# SIGTERM to the parent alone, as systemd's stop does: it stops its workers.
# (Signalling every pid in the namespace raced with their exits: a worker
# gone before its kill made xargs, and with it the script, fail with 123.)
kill -TERM "$upkeepd"
for _ in $(seq 1 100); do [ -z "$(ip netns pids "$ns")" ] && break; sleep 0.1; done
[ -z "$(ip netns pids "$ns")" ] || fail rpm.root.run "did not stop on SIGTERM"
ip -n "$ns" -4 -o addr show dev v0 | grep -q ' 10.98.0.100/' && fail rpm.root.run "VIP left after stop"
umount "$root/proc"
ip netns del "$ns"
ns=""
rm -f "$root/etc/upkeep/run.toml"
pass "rpm.root.run (the static upkeepd, in that root, took the VIP as Master with its plugin check in upkeep-plugin-host, and gave it back on SIGTERM)"
# Upgrade to the same build as a newer release, then erase: nothing may stay.
if [ -f "$out/upkeep-${version}-$((rev + 1)).x86_64.rpm" ]; then
    rpm --root "$root" -U --nodeps "$out/upkeep-${version}-$((rev + 1)).x86_64.rpm" >"$tmp/rpm.log" 2>&1 ||
        { cat "$tmp/rpm.log" >&2; fail rpm.root "rpm -U failed"; }
    pass "rpm.root.upgrade (to release $((rev + 1)))"
fi
rpm --root "$root" -e upkeep >"$tmp/rpm.log" 2>&1 || { cat "$tmp/rpm.log" >&2; fail rpm.root "rpm -e failed"; }
# No file but the root's own (busybox, /dev/null, passwd, group, rpm's
# database) and no directory of the package's; rpm leaves parent directories
# such as /usr/share/man, which any real system has.
left=$(cd "$root" && find . ! -type d | grep -vE '^\./(bin/.*|dev/null|etc/(passwd|group)|root/\.rpmdb/.*|var/lib/rpm/.*|usr/lib/sysimage/rpm/.*)$' || true)
left+=$(cd "$root" && find . -type d -name '*upkeep*')
[ -z "$left" ] || fail rpm.root.erase "left behind: $left"
pass "rpm.root.erase (nothing of the package left in the root)"
