#!/usr/bin/env python3
"""A whole Debian system under qemu, systemd as PID 1, for the package tests.

vm.py boots an initramfs with busybox; packages need the real thing: a
Debian 12 (bookworm) root made by mmdebstrap from Debian's packages, with
systemd, booted from an ext4 disk by Debian's cloud kernel (the one vm.py
downloads). The guest is the whole system: dpkg, rpm and systemctl run in
it as on a server.

  root (cached)   target/vm-cache/system/root.img: ext4 made with
                  `mkfs.ext4 -d` from the mmdebstrap tree, plus the kernel's
                  modules (depmod), a unit that runs the test at boot
                  (vmtest.service) and the exit helper. Rebuilt only when
                  ROOT_VERSION, the package list or the kernel change.
  boot (cached)   target/vm-cache/system/boot.cpio: busybox and virtio_blk
                  (a module in the cloud kernel); its /init mounts /dev/vda
                  and switch_roots to /lib/systemd/systemd.
  per run         the root disk opened with snapshot=on (writes go to a
                  throw-away overlay: every run starts from the same root)
                  and a second disk, /dev/vdb: a tar of the test's files,
                  unpacked to /srv/payload; vmtest.service runs
                  /srv/payload/test.sh there and hands its exit status to
                  the host (isa-debug-exit), as vm.py does.

The console (kernel, systemd, the test's output) goes to --console; lines
the test writes to /dev/ttyS1 go to --out. No network device: only what
the test builds inside the guest (veth, namespaces).

  system.py build [--force]
  system.py run --payload DIR [--timeout S] [--console F] [--out F] [--mem MiB]
"""
import glob
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import vm  # noqa: E402

# Bump when what goes into the root or the boot archive changes.
ROOT_VERSION = "1"
SUITE = "bookworm"
MIRROR = "http://deb.debian.org/debian"
# minbase (Priority: required: dpkg, apt, passwd, sysvinit-utils' pidof, ...)
# plus what the tests use.
PACKAGES = ["systemd", "systemd-sysv", "iproute2", "kmod", "procps", "tcpdump", "rpm", "man-db",
            "jq", "e2fsprogs"]
BOOT_MODULES = ["virtio_pci", "virtio_blk"]
DIR = os.path.join(vm.CACHE, "system")

BOOT_INIT = r"""#!/bin/sh
# Loads virtio_blk, mounts the root disk and hands over to systemd.
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
for m in $(cat /etc/boot-modules); do insmod "/lib/modules/$m" || echo "boot: insmod $m failed"; done
i=0
while [ ! -b /dev/vda ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
mkdir -p /newroot
if ! mount -t ext4 -o rw /dev/vda /newroot; then
    echo "boot: cannot mount /dev/vda"; echo "VM-EXIT-CODE=125"; poweroff -f
fi
umount /proc /sys
mount --move /dev /newroot/dev
exec switch_root /newroot /lib/systemd/systemd
"""

RUNTEST = r"""#!/bin/sh
# vmtest.service: unpack the payload disk, run its test.sh, report.
mkdir -p /srv/payload
rc=125
if tar -xf /dev/vdb -C /srv/payload; then
    stty -F /dev/ttyS1 raw -echo 2>/dev/null
    cd /srv/payload && bash ./test.sh
    rc=$?
else
    echo "vmtest: cannot read the payload disk"
fi
echo "VM-EXIT-CODE=$rc"
sync
/usr/local/sbin/vm-exit "$rc"
"""

VMTEST_UNIT = """[Unit]
Description=upkeep VM test (tests/vm/system.py)
After=multi-user.target

[Service]
Type=oneshot
ExecStart=/usr/local/sbin/vm-runtest
StandardOutput=tty
StandardError=tty
TTYPath=/dev/ttyS0
TimeoutStartSec=infinity

[Install]
WantedBy=multi-user.target
"""

# Units that would wait for devices (no udev here) or run periodic jobs.
MASK = ["serial-getty@ttyS0.service", "getty@tty1.service", "getty.target", "apt-daily.timer",
        "apt-daily-upgrade.timer", "e2scrub_all.timer", "e2scrub_reap.service", "fstrim.timer",
        "man-db.timer", "dpkg-db-backup.timer", "systemd-timesyncd.service"]


def log(msg):
    print(f"system: {msg}", file=sys.stderr, flush=True)


def paths():
    return {"root": os.path.join(DIR, "root.img"), "boot": os.path.join(DIR, "boot.cpio"),
            "stamp": os.path.join(DIR, "stamp")}


def build(force=False):
    """Builds (or reuses) the root disk and the boot archive."""
    base = vm.build()
    p = paths()
    key = f"{ROOT_VERSION} {SUITE} {base['kver']} {' '.join(PACKAGES)}"
    if not force and os.path.exists(p["stamp"]) and open(p["stamp"]).read() == key \
            and os.path.exists(p["root"]) and os.path.exists(p["boot"]):
        return {**p, "kernel": base["kernel"]}
    for tool, pkg in (("mmdebstrap", "mmdebstrap"), ("mkfs.ext4", "e2fsprogs")):
        if not shutil.which(tool):
            raise RuntimeError(f"{tool} missing: apt-get install {pkg}")
    os.makedirs(DIR, exist_ok=True)
    t0 = time.time()
    kdeb = glob.glob(os.path.join(vm.CACHE, "debs", f"linux-image-{base['kver']}_*.deb"))[0]
    with tempfile.TemporaryDirectory(prefix="upkeep-system-", dir=DIR) as tmp:
        root = os.path.join(tmp, "root")
        log(f"mmdebstrap {SUITE} ({', '.join(PACKAGES)})")
        subprocess.run(["mmdebstrap", "--quiet", "--mode=root", "--variant=minbase",
                        "--include=" + ",".join(PACKAGES), SUITE, root, MIRROR], check=True)
        kroot = os.path.join(tmp, "kernel")
        subprocess.run(["dpkg-deb", "-x", kdeb, kroot], check=True)
        kver = base["kver"]
        moddir = os.path.join(kroot, "lib", "modules", kver)
        shutil.copytree(moddir, os.path.join(root, "lib", "modules", kver), symlinks=True)
        # The root's own depmod (kmod), run inside it.
        subprocess.run(["chroot", root, "depmod", "-a", kver], check=True)
        configure(root)
        # The boot archive: busybox, the virtio modules (decompressed).
        c = vm.Cpio()
        for d in ("dev", "proc", "sys", "newroot"):
            c.mkdir(d)
        c.chardev("/dev/console", 5, 1)
        bbdeb = vm.download("busybox-static", os.path.join(vm.CACHE, "debs"))
        bb = os.path.join(tmp, "bb")
        subprocess.run(["dpkg-deb", "-x", bbdeb, bb], check=True)
        c.copy(os.path.join(bb, "bin", "busybox"), "/bin/busybox")
        for a in ("sh", "mount", "umount", "insmod", "sleep", "mkdir", "switch_root", "poweroff", "cat", "echo"):
            c.symlink(f"/bin/{a}", "busybox")
        mods = vm.module_closure(moddir, BOOT_MODULES)
        order, seen = [], set()

        def visit(name):
            if name in seen:
                return
            seen.add(name)
            for d in mods[name][2]:
                visit(d)
            order.append(name)
        for m in BOOT_MODULES:
            visit(m)
        for name in order:
            c.file(f"/lib/modules/{name}.ko", mods[name][1])
        c.file("/etc/boot-modules", ("\n".join(f"{n}.ko" for n in order) + "\n").encode())
        c.file("/init", BOOT_INIT.encode(), 0o755)
        open(p["boot"] + ".new", "wb").write(c.bytes())
        log("mkfs.ext4 -d")
        if os.path.exists(p["root"] + ".new"):
            os.unlink(p["root"] + ".new")
        subprocess.run(["mkfs.ext4", "-q", "-F", "-L", "upkeep-root", "-E", "root_owner=0:0",
                        "-d", root, p["root"] + ".new", "2G"], check=True)
    os.replace(p["boot"] + ".new", p["boot"])
    os.replace(p["root"] + ".new", p["root"])
    open(p["stamp"], "w").write(key)
    log(f"root built in {time.time() - t0:.0f} s: {os.path.getsize(p['root']) >> 20} MiB (sparse)")
    return {**p, "kernel": base["kernel"]}


def configure(root):
    """Makes the bootstrapped tree a bootable system that runs the test."""
    def write(rel, text, mode=0o644):
        path = os.path.join(root, rel.lstrip("/"))
        os.makedirs(os.path.dirname(path), exist_ok=True)
        open(path, "w").write(text)
        os.chmod(path, mode)
    write("/etc/hostname", "upkeep-vm\n")
    write("/etc/hosts", "127.0.0.1 localhost\n127.0.1.1 upkeep-vm\n::1 localhost\n")
    # No udev: nothing in fstab may wait for a device unit. The root is
    # mounted read-write by the boot archive.
    write("/etc/fstab", "# root: mounted by the boot archive (tests/vm/system.py)\n")
    write("/etc/systemd/journald.conf.d/vm.conf", "[Journal]\nStorage=volatile\n")
    write("/usr/local/sbin/vm-runtest", RUNTEST, 0o755)
    write("/etc/systemd/system/vmtest.service", VMTEST_UNIT)
    wants = os.path.join(root, "etc/systemd/system/multi-user.target.wants")
    os.makedirs(wants, exist_ok=True)
    os.symlink("/etc/systemd/system/vmtest.service", os.path.join(wants, "vmtest.service"))
    for unit in MASK:
        link = os.path.join(root, "etc/systemd/system", unit)
        if os.path.lexists(link):
            os.unlink(link)
        os.symlink("/dev/null", link)
    src = os.path.join(root, "tmp", "vm-exit.c")
    open(src, "w").write(vm.EXIT_C)
    subprocess.run(["gcc", "-static", "-O2", "-o", os.path.join(root, "usr/local/sbin/vm-exit"), src],
                   check=True)
    os.unlink(src)
    # A machine id now, so that the journal and units see a configured system.
    open(os.path.join(root, "etc/machine-id"), "w").write(os.urandom(16).hex() + "\n")


def payload_tar(src_dir, dest):
    """The files of `src_dir` as a tar (the guest's /dev/vdb), padded to
    whole 512-byte sectors."""
    with tarfile.open(dest, "w", format=tarfile.GNU_FORMAT) as t:
        for name in sorted(os.listdir(src_dir)):
            t.add(os.path.join(src_dir, name), arcname=name)
    size = os.path.getsize(dest)
    with open(dest, "ab") as f:
        f.write(b"\0" * (-size % 512))


def run(payload_dir, timeout=900, console=None, out=None, mem=1536, smp=2, append=""):
    """Boots the system with `payload_dir` (which must hold test.sh) as
    /srv/payload. Returns (exit status, console text, results text): the
    test's status, 124 on timeout, 125 when the guest reported none."""
    if not shutil.which("qemu-system-x86_64"):
        raise RuntimeError("qemu-system-x86_64 missing: apt-get install --no-install-recommends qemu-system-x86")
    if not os.path.exists(os.path.join(payload_dir, "test.sh")):
        raise RuntimeError(f"{payload_dir}/test.sh missing")
    p = build()
    with tempfile.TemporaryDirectory(prefix="upkeep-system-run-") as tmp:
        tar = os.path.join(tmp, "payload.tar")
        payload_tar(payload_dir, tar)
        extra = ["-drive", f"file={p['root']},if=virtio,format=raw,snapshot=on",
                 "-drive", f"file={tar},if=virtio,format=raw,readonly=on"]
        cmd = vm.qemu_cmd(tmp, p["kernel"], p["boot"], "systemd.show_status=false " + append,
                          smp, mem, console, out, extra)
        # TMPDIR: where qemu puts the snapshot overlay (removed with tmp).
        return vm.qemu(*cmd, timeout=timeout, env=dict(os.environ, TMPDIR=tmp))


def main():
    ap, r = vm.parser(__doc__)
    r.add_argument("--payload", required=True, help="directory with test.sh (and its files)")
    r.add_argument("--timeout", type=float, default=900)
    r.add_argument("--console")
    r.add_argument("--out")
    r.add_argument("--mem", type=int, default=1536)
    a = ap.parse_args()
    if a.cmd == "build":
        p = build(a.force)
        print(f"root {p['root']}\nboot {p['boot']}\nkernel {p['kernel']}")
        return 0
    t0 = time.time()
    code, text, results = run(a.payload, a.timeout, a.console, a.out, a.mem)
    return vm.show(a, t0, code, text, results)


if __name__ == "__main__":
    sys.exit(main())
