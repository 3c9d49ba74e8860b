#!/usr/bin/env python3
"""A throw-away Linux VM with IPVS, for tests and benchmarks that need a
kernel this machine does not have.

Debian's cloud kernel boots under qemu (TCG, no KVM needed) straight into an
initramfs made of two concatenated cpio archives:

  base (cached)  busybox, kernel modules (IPVS and its schedulers, veth,
                 dummy, macvlan, bridge, 8021q, bonding, and their dependencies;
                 decompressed; our own modules.dep), keepalived and ipvsadm
                 with their shared libraries, /etc/passwd (root, nobody),
                 the exit helper
  per run        /init, the files and binaries a test needs (binaries with
                 the shared libraries `ldd` finds) and the test, /test

/init mounts /proc, /sys, /dev, /tmp and /run, brings lo up, loads the
modules named in /etc/vm/modules (default: ip_vs ip_vs_rr ip_vs_wrr ip_vs_lc
ip_vs_wlc ip_vs_sh), runs `/test` (a shell script, sourced after
/lib/vm/lib.sh: vm_modprobe NAME, vm_result LINE) and hands its exit status
to the host through qemu's isa-debug-exit device. The console (ttyS0) goes
to a file; a second serial port, /dev/ttyS1 in the guest (raw), goes to
another file for results. No network device: only loopback inside the guest.

  vm.py build [--force]                     build or reuse the cache
  vm.py run --init TEST [--file SRC:DEST]... [--bin SRC:DEST]...
            [--modules "m1 m2"] [--timeout S] [--console FILE] [--out FILE]
            [--smp N] [--mem MiB]             exit status = the guest's /test's

The cache lives in $UPKEEP_VM_CACHE, else <repo>/target/vm-cache. Building
downloads (apt-get download) the current linux-image-cloud-amd64 kernel,
busybox-static, keepalived and ipvsadm; it needs gcc (static glibc) for
the exit helper and the host's libraries for keepalived and ipvsadm;
what of that the host lacks (qemu, gcc, keepalived, ipvsadm, tcpdump,
iproute2) is installed first with apt-get, services not started.
Extra modules for the base: UPKEEP_VM_EXTRA_MODULES="name ...".
"""
import argparse
import fcntl
import glob
import gzip
import io
import lzma
import os
import re
import shutil
import signal
import stat
import struct
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
CACHE = os.environ.get("UPKEEP_VM_CACHE") or os.path.join(REPO, "target", "vm-cache")
# Bump when what goes into the base archive changes (the module list is part
# of the cache key by itself: editing it rebuilds an existing cache).
BASE_VERSION = "6"
BASE_MODULES = ["ip_vs", "ip_vs_rr", "ip_vs_wrr", "ip_vs_lc", "ip_vs_wlc", "ip_vs_sh", "ip_vs_dh",
                "ip_vs_fo", "ip_vs_ovf", "ip_vs_lblc", "ip_vs_lblcr", "ip_vs_mh", "ip_vs_sed",
                "ip_vs_nq", "ip_vs_ftp", "ip_vs_pe_sip", "veth", "dummy", "macvlan", "bridge",
                "8021q",
                # bonds (the VRRP flap lab's bond tests, daemon/tests/vrrp_flap_lab.rs)
                "bonding",
                # netlink capture (nlmon + tcpdump) and the tunnels IPVS TUN
                # forwards over (ipip; gre; fou for gue)
                "nlmon", "ipip", "ip_gre", "fou"]
# The host's iproute2 (network namespaces, nlmon links) and tcpdump, with the
# host's libraries: busybox's `ip` has neither. /usr/sbin comes after
# busybox's /bin in the guest's PATH: call them by full path.
HOST_BINARIES = [("/usr/bin/ip", "/usr/sbin/ip"), ("/usr/bin/tcpdump", "/usr/sbin/tcpdump")]
DEFAULT_LOAD = "ip_vs ip_vs_rr ip_vs_wrr ip_vs_lc ip_vs_wlc ip_vs_sh"
PACKAGES = ["busybox-static", "keepalived", "ipvsadm"]
# What the host needs to build the base and boot it: (file, Debian package).
# keepalived and ipvsadm are installed for their libraries, which the
# guest's copies (apt-get download, same version) are given from the host.
HOST_NEEDS = [("/usr/bin/qemu-system-x86_64", "qemu-system-x86"), ("/usr/bin/gcc", "gcc"),
              ("/usr/include/stdio.h", "libc6-dev"), ("/usr/sbin/keepalived", "keepalived"),
              ("/usr/sbin/ipvsadm", "ipvsadm"), ("/usr/bin/tcpdump", "tcpdump"),
              ("/usr/bin/ip", "iproute2"), ("/usr/bin/dpkg-deb", "dpkg")]


def log(msg):
    print(f"vm: {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------- cpio (newc)

class Cpio:
    """Writes a newc archive, every entry owned by root."""

    def __init__(self):
        self.buf = io.BytesIO()
        self.ino = 1
        self.dirs = set()

    def _entry(self, name, mode, data=b"", rdev=(0, 0)):
        name = name.lstrip("/")
        hdr = "070701" + "".join(f"{v:08x}" for v in (
            self.ino, mode, 0, 0, 2 if stat.S_ISDIR(mode) else 1, 0, len(data),
            0, 0, rdev[0], rdev[1], len(name) + 1, 0))
        self.ino += 1
        b = hdr.encode() + name.encode() + b"\0"
        b += b"\0" * (-len(b) % 4)
        b += data + b"\0" * (-len(data) % 4)
        self.buf.write(b)

    def mkdir(self, path, mode=0o755):
        path = "/" + path.strip("/")
        if path == "/" or path in self.dirs:
            return
        self.mkdir(os.path.dirname(path))
        self.dirs.add(path)
        self._entry(path, stat.S_IFDIR | mode)

    def file(self, path, data, mode=0o644):
        self.mkdir(os.path.dirname(path))
        self._entry(path, stat.S_IFREG | mode, data)

    def symlink(self, path, target):
        self.mkdir(os.path.dirname(path))
        self._entry(path, stat.S_IFLNK | 0o777, target.encode())

    def chardev(self, path, major, minor, mode=0o600):
        self.mkdir(os.path.dirname(path))
        self._entry(path, stat.S_IFCHR | mode, rdev=(major, minor))

    def copy(self, src, dest):
        """A host file, following symlinks; keeps the executable bits."""
        st = os.stat(src)
        self.file(dest, open(src, "rb").read(), st.st_mode & 0o777)

    def binary(self, src, dest):
        """An executable and the shared libraries (and loader) it needs."""
        self.copy(src, dest)
        for lib in shared_libs(src):
            self.copy(lib, lib)

    def bytes(self):
        self._entry("TRAILER!!!", 0)
        data = self.buf.getvalue()
        return data + b"\0" * (-len(data) % 512)


def shared_libs(path):
    """Paths of the shared libraries and the loader of a dynamic executable
    (none for a static one), as the host resolves them."""
    r = subprocess.run(["ldd", path], capture_output=True, text=True)
    if r.returncode != 0:  # "not a dynamic executable"
        return []
    libs = []
    for line in r.stdout.splitlines():
        if "not found" in line:
            raise RuntimeError(f"{path}: missing library on this host: {line.strip()}")
        m = re.search(r"(/\S+)\s+\(0x", line)
        if m:
            libs.append(m.group(1))
    return libs


# ---------------------------------------------------------------- modules

def modinfo(ko):
    """The .modinfo strings of a module image (bytes of an ELF64 .ko)."""
    shoff, = struct.unpack_from("<Q", ko, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", ko, 0x3A)
    secs = [struct.unpack_from("<IIQQQQ", ko, shoff + i * shentsize) for i in range(shnum)]
    stroff = secs[shstrndx][4]
    info = {}
    for name, _typ, _flags, _addr, off, size in secs:
        end = ko.index(b"\0", stroff + name)
        if ko[stroff + name:end] == b".modinfo":
            for item in ko[off:off + size].split(b"\0"):
                if b"=" in item:
                    k, v = item.decode(errors="replace").split("=", 1)
                    info.setdefault(k, v)
    return info


def read_module(path):
    data = open(path, "rb").read()
    if path.endswith(".xz"):
        return lzma.decompress(data)
    if path.endswith(".gz"):
        return gzip.decompress(data)
    if path.endswith(".zst"):
        return subprocess.run(["zstd", "-dc", path], capture_output=True, check=True).stdout
    return data


def module_closure(moddir, wanted):
    """{name: (relative path .ko, bytes, [dependency names])} for `wanted`
    and everything they depend on."""
    index = {}
    for p in glob.glob(os.path.join(moddir, "kernel", "**", "*.ko*"), recursive=True):
        base = os.path.basename(p)
        name = re.sub(r"\.ko(\.(xz|gz|zst))?$", "", base).replace("-", "_")
        index[name] = p
    out = {}
    todo = [w.replace("-", "_") for w in wanted]
    while todo:
        name = todo.pop()
        if name in out:
            continue
        if name not in index:
            raise RuntimeError(f"no module {name} in {moddir}")
        p = index[name]
        ko = read_module(p)
        deps = [d.replace("-", "_") for d in modinfo(ko).get("depends", "").split(",") if d]
        rel = re.sub(r"\.(xz|gz|zst)$", "", os.path.relpath(p, moddir))
        out[name] = (rel, ko, deps)
        todo.extend(deps)
    return out


# ---------------------------------------------------------------- the base

EXIT_C = r"""
#include <stdio.h>
#include <stdlib.h>
#include <sys/io.h>
/* vm-exit CODE: qemu (isa-debug-exit at 0xf4) exits with (CODE << 1) | 1. */
int main(int argc, char **argv) {
    int code = argc > 1 ? atoi(argv[1]) : 0;
    if (code < 0 || code > 127) code = 127;
    if (ioperm(0xf4, 4, 1) != 0) { perror("ioperm"); return 1; }
    outb((unsigned char)code, 0xf4);
    return 1; /* not reached with the device present */
}
"""

LIB_SH = r"""# Sourced by /init; tests may source it too.
KVER=$(uname -r)
# vm_modprobe NAME: loads a module and, first, what it depends on
# (from /lib/modules/KVER/modules.dep, written when the base was built).
vm_modprobe() {
    local name line dep d
    name=$(echo "$1" | tr - _)
    [ -d "/sys/module/$name" ] && return 0
    line=$(grep -E "(^|/)$(echo "$name" | sed 's/_/[-_]/g')\.ko:" "/lib/modules/$KVER/modules.dep") || {
        echo "vm_modprobe: no module $name" >&2; return 1; }
    for dep in ${line#*:}; do
        d=${dep##*/}; d=${d%.ko}
        vm_modprobe "$d" || return 1
    done
    [ -d "/sys/module/$name" ] || insmod "/lib/modules/$KVER/${line%%:*}"
}
# vm_result LINE...: one line to the results port (/dev/ttyS1, host: --out).
vm_result() { echo "$@" > /dev/ttyS1; }
"""

INIT_SH = r"""#!/bin/sh
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
export LD_LIBRARY_PATH=/lib/x86_64-linux-gnu:/usr/lib/x86_64-linux-gnu
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mkdir -p /dev/pts /dev/shm /tmp /run /var/run /var/tmp
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /tmp
mount -t tmpfs tmpfs /run
mount -t tmpfs tmpfs /dev/shm
hostname vm
ip link set lo up
stty -F /dev/ttyS1 raw -echo 2>/dev/null
. /lib/vm/lib.sh
rc=0
for m in $(cat /etc/vm/modules 2>/dev/null); do
    vm_modprobe "$m" || rc=126
done
if [ "$rc" = 0 ]; then
    if [ -f /test ]; then
        cd /tmp && sh -c '. /lib/vm/lib.sh && . /test'
        rc=$?
    else
        echo "vm: no /test"; rc=125
    fi
fi
echo "VM-EXIT-CODE=$rc"
sync
/bin/vm-exit "$rc"
poweroff -f
"""


def kernel_package():
    r = subprocess.run(["apt-cache", "depends", "linux-image-cloud-amd64"],
                       capture_output=True, text=True)
    if r.returncode != 0 or "Depends:" not in r.stdout:
        # A fresh machine (CI) may have no package lists yet.
        log("apt-get update (no package lists)")
        subprocess.run(["apt-get", "update", "-qq"], check=True)
        r = subprocess.run(["apt-cache", "depends", "linux-image-cloud-amd64"],
                           capture_output=True, text=True, check=True)
    m = re.search(r"Depends: (linux-image-\S+-cloud-amd64)\b", r.stdout)
    if not m:
        raise RuntimeError("cannot resolve linux-image-cloud-amd64: " + r.stdout)
    return m.group(1)


def download(pkg, debs):
    have = glob.glob(os.path.join(debs, pkg.split("=")[0] + "_*.deb"))
    if have:
        return have[0]
    log(f"apt-get download {pkg}")
    r = subprocess.run(["apt-get", "download", "-q", pkg], cwd=debs, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"apt-get download {pkg}: {r.stderr.strip()}")
    return glob.glob(os.path.join(debs, pkg + "_*.deb"))[0]


def host_packages():
    """Installs the packages of HOST_NEEDS whose file is missing (a fresh
    machine: the benchmarks ran into keepalived's libraries and tcpdump
    missing one at a time), with a policy-rc.d that keeps their services
    from starting on this host."""
    missing = sorted({pkg for path, pkg in HOST_NEEDS if not os.path.exists(path)})
    if not missing:
        return
    log("apt-get install " + " ".join(missing))
    policy = "/usr/sbin/policy-rc.d"
    made = not os.path.exists(policy)
    if made:
        with open(policy, "w") as f:
            f.write("#!/bin/sh\nexit 101\n")
        os.chmod(policy, 0o755)
    try:
        subprocess.run(["apt-get", "update", "-qq"], check=True)
        subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing], check=True,
                       env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"), stdout=subprocess.DEVNULL)
    finally:
        if made:
            os.unlink(policy)


def build(force=False):
    """Builds (or reuses) the cache; returns {kernel, base, kver}. One
    builder at a time: nextest runs the IPVS and the bond VM tests at once,
    and on a fresh checkout both found no cache and wrote the same files
    (one renamed vmlinuz.new from under the other)."""
    os.makedirs(CACHE, exist_ok=True)
    with open(os.path.join(CACHE, "build.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        host_packages()
        return _build(force)


def _build(force):
    stamp = os.path.join(CACHE, "base.stamp")
    kpkg = kernel_package()
    extra = os.environ.get("UPKEEP_VM_EXTRA_MODULES", "").split()
    # The modules are in the key: a cache built before a module was added
    # (a developer's checkout, CI's restored cache) is rebuilt, not reused.
    key = f"{BASE_VERSION} {kpkg} {' '.join(sorted(set(BASE_MODULES + extra)))}"
    paths = {"kernel": os.path.join(CACHE, "vmlinuz"), "base": os.path.join(CACHE, "base.cpio"),
             "kver": kpkg[len("linux-image-"):]}
    if not force and os.path.exists(stamp) and open(stamp).read() == key \
            and all(os.path.exists(paths[k]) for k in ("kernel", "base")):
        return paths
    debs = os.path.join(CACHE, "debs")
    os.makedirs(debs, exist_ok=True)
    for old in glob.glob(os.path.join(debs, "linux-image-*.deb")):
        if not os.path.basename(old).startswith(kpkg + "_"):
            os.unlink(old)
    kdeb = download(kpkg, debs)
    pkgs = {p: download(p, debs) for p in PACKAGES}
    with tempfile.TemporaryDirectory(prefix="upkeep-vm-") as tmp:
        log("unpacking " + ", ".join(os.path.basename(d) for d in [kdeb, *pkgs.values()]))
        for i, deb in enumerate([kdeb, *pkgs.values()]):
            subprocess.run(["dpkg-deb", "-x", deb, os.path.join(tmp, str(i))], check=True)
        kroot = os.path.join(tmp, "0")
        kver = paths["kver"]
        shutil.copy(glob.glob(os.path.join(kroot, "boot", "vmlinuz-*"))[0], paths["kernel"] + ".new")
        moddir = os.path.join(kroot, "lib", "modules", kver)
        c = Cpio()
        for d in ("dev", "proc", "sys", "tmp", "run", "root", "etc/vm", "usr/bin", "usr/sbin", "var"):
            c.mkdir(d)
        c.chardev("/dev/console", 5, 1)
        c.chardev("/dev/null", 1, 3, 0o666)
        # busybox and its applets
        bb = os.path.join(tmp, "1", "bin", "busybox")
        c.copy(bb, "/bin/busybox")
        applets = subprocess.run([bb, "--list"], capture_output=True, text=True, check=True).stdout.split()
        for a in applets:
            if a != "busybox":
                c.symlink(f"/bin/{a}", "busybox")
        c.symlink("/sbin", "bin")
        # keepalived, with the host's libraries
        c.binary(os.path.join(tmp, "2", "usr", "sbin", "keepalived"), "/usr/sbin/keepalived")
        c.binary(os.path.join(tmp, "3", "sbin", "ipvsadm"), "/usr/sbin/ipvsadm")
        for src, dest in HOST_BINARIES:
            c.binary(os.path.realpath(src), dest)
        # the exit helper
        src = os.path.join(tmp, "vm-exit.c")
        open(src, "w").write(EXIT_C)
        subprocess.run(["gcc", "-static", "-O2", "-o", os.path.join(tmp, "vm-exit"), src], check=True)
        c.copy(os.path.join(tmp, "vm-exit"), "/bin/vm-exit")
        # modules
        mods = module_closure(moddir, BASE_MODULES + extra)
        dep_lines = []
        for name, (rel, ko, deps) in sorted(mods.items()):
            c.file(f"/lib/modules/{kver}/{rel}", ko)
            dep_lines.append(f"{rel}: " + " ".join(mods[d][0] for d in deps))
        c.file(f"/lib/modules/{kver}/modules.dep", ("\n".join(dep_lines) + "\n").encode())
        for f in ("modules.builtin", "modules.order", "modules.builtin.modinfo"):
            if os.path.exists(os.path.join(moddir, f)):
                c.copy(os.path.join(moddir, f), f"/lib/modules/{kver}/{f}")
        # accounts and the rest of /etc
        # tcpdump (Debian's) drops to its own user after opening the
        # device and refuses to run without one
        c.file("/etc/passwd", b"root:x:0:0:root:/root:/bin/sh\n"
                              b"tcpdump:x:100:101::/nonexistent:/bin/false\n"
                              b"nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n")
        c.file("/etc/group", b"root:x:0:\ntcpdump:x:101:\nnogroup:x:65534:\n")
        c.file("/etc/nsswitch.conf", b"passwd: files\ngroup: files\nhosts: files\n")
        c.file("/etc/hosts", b"127.0.0.1 localhost\n::1 localhost\n")
        c.file("/etc/vm/modules", (DEFAULT_LOAD + "\n").encode())
        open(paths["base"] + ".new", "wb").write(c.bytes())
        log(f"base: {len(mods)} modules, {os.path.getsize(paths['base'] + '.new') >> 20} MiB")
    os.replace(paths["kernel"] + ".new", paths["kernel"])
    os.replace(paths["base"] + ".new", paths["base"])
    open(stamp, "w").write(key)
    return paths


# ---------------------------------------------------------------- running

def run(test, files=(), bins=(), modules=None, timeout=300, console=None, out=None,
        smp=2, mem=1024, append=""):
    """Boots the VM with /test = `test` (shell script text). `files` and
    `bins` are (host path, guest path) pairs. Returns (exit status, console
    text, results text): the guest's status, 124 on timeout, 125 when the
    guest did not report one (panic, crash)."""
    paths = build()
    if not shutil.which("qemu-system-x86_64"):
        raise RuntimeError("qemu-system-x86_64 missing: apt-get install --no-install-recommends qemu-system-x86")
    with tempfile.TemporaryDirectory(prefix="upkeep-vm-run-") as tmp:
        c = Cpio()
        for src, dest in files:
            c.copy(src, dest)
        for src, dest in bins:
            c.binary(src, dest)
        if modules is not None:
            c.file("/etc/vm/modules", (" ".join(modules) + "\n").encode())
        c.file("/test", test.encode(), 0o755)
        # /init and its library travel with every run (small, and editing
        # them does not need a rebuild of the base)
        c.file("/lib/vm/lib.sh", LIB_SH.encode())
        c.file("/init", INIT_SH.encode(), 0o755)
        initrd = os.path.join(tmp, "initrd")
        with open(initrd, "wb") as f:
            f.write(open(paths["base"], "rb").read())
            f.write(c.bytes())
        return qemu(*qemu_cmd(tmp, paths["kernel"], initrd, append, smp, mem, console, out),
                    timeout=timeout)


def qemu_cmd(tmp, kernel, initrd, append, smp, mem, console, out, extra=()):
    """The qemu command line of a VM run (TCG, no display, no network; the
    two serial ports to the files `console` and `out`, in `tmp` when None,
    both emptied first) and the console and out paths, for qemu()."""
    console = console or os.path.join(tmp, "console.log")
    out = out or os.path.join(tmp, "out.log")
    for p in (console, out):
        open(p, "w").close()
    cmd = ["qemu-system-x86_64", "-nodefaults", "-no-user-config", "-display", "none",
           "-accel", "tcg,thread=multi", "-cpu", "max", "-smp", str(smp), "-m", str(mem),
           "-kernel", kernel, "-initrd", initrd,
           # TSC as the clocksource (TCG's TSC follows the host clock, so
           # it is sound): clock_gettime then stays in the vDSO, as on
           # hardware; the kernel's default here (HPET) makes each call a
           # slow emulated syscall.
           "-append", f"console=ttyS0 quiet panic=-1 clocksource=tsc tsc=reliable {append}".strip(),
           *extra,
           "-serial", f"file:{console}", "-serial", f"file:{out}",
           "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04", "-no-reboot"]
    return cmd, console, out


def qemu(cmd, console, out, timeout, env=None):
    """Runs qemu (`cmd`, with isa-debug-exit and the two serial files
    `console` and `out`) until it exits or `timeout` passes. Returns (exit
    status, console text, results text): the guest's status, 124 on
    timeout, 125 when the guest did not report one (panic, crash)."""
    # SIGTERM and SIGHUP become SystemExit, so that the finally below
    # kills qemu (Ctrl-C arrives as KeyboardInterrupt; qemu is in a
    # session of its own and sees neither).
    def stop(signum, _frame):
        raise SystemExit(128 + signum)
    old = {s: signal.signal(s, stop) for s in (signal.SIGTERM, signal.SIGHUP)}
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, start_new_session=True, env=env)
    try:
        rc = proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        rc = None
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        for s, h in old.items():
            signal.signal(s, h)
    text = open(console, errors="replace").read()
    results = open(out, errors="replace").read()
    if rc is None:
        code = 124
    elif rc & 1:
        code = rc >> 1
    else:
        m = re.search(r"VM-EXIT-CODE=(\d+)", text)
        code = int(m.group(1)) if m else 125
    return code, text, results


def pair(s):
    src, _, dest = s.partition(":")
    return os.path.abspath(src), dest or "/" + os.path.basename(src)


def parser(doc):
    """The command line of a VM script: `build [--force]` and `run ...`
    (the caller adds run's options). Returns (parser, run's parser)."""
    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("build").add_argument("--force", action="store_true")
    return ap, sub.add_parser("run")


def main():
    ap, r = parser(__doc__)
    r.add_argument("--init", required=True, help="shell script run as /test in the guest")
    r.add_argument("--file", action="append", default=[], type=pair, help="SRC[:DEST]")
    r.add_argument("--bin", action="append", default=[], type=pair, help="SRC[:DEST], with its libraries")
    r.add_argument("--modules", help="modules to load before /test (default: %s)" % DEFAULT_LOAD)
    r.add_argument("--timeout", type=float, default=300)
    r.add_argument("--console", help="console log file (default: printed)")
    r.add_argument("--out", help="results file (guest /dev/ttyS1; default: printed)")
    r.add_argument("--smp", type=int, default=2)
    r.add_argument("--mem", type=int, default=1024)
    r.add_argument("--append", default="", help="more kernel arguments")
    a = ap.parse_args()
    if a.cmd == "build":
        p = build(a.force)
        print(f"kernel {p['kernel']}\nbase {p['base']}\nkver {p['kver']}")
        return 0
    t0 = time.time()
    code, text, results = run(open(a.init).read(), a.file, a.bin,
                              a.modules.split() if a.modules is not None else None,
                              a.timeout, a.console, a.out, a.smp, a.mem, a.append)
    return show(a, t0, code, text, results)


def show(a, t0, code, text, results):
    """The end of a `run` command: prints the console and the results unless
    --console / --out took them; returns the guest's status."""
    if not a.console:
        sys.stdout.write(text)
    if not a.out and results:
        sys.stdout.write("---- results (ttyS1)\n" + results)
    log(f"guest exit status {code} after {time.time() - t0:.1f} s")
    return code


if __name__ == "__main__":
    sys.exit(main())
