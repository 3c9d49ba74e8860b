#!/usr/bin/env python3
"""Which pages of upkeepd's code an idle daemon runs (issue 18, first goal:
PSS at the seeds).

Every process of upkeep maps the one upkeepd file, and PSS counts each page
of it that any of them has mapped. At idle that is far more than the code
idle runs: the kernel maps 64 KiB around every page fault, and the hot
functions are spread over the 9 MiB of `.text`. This script finds the
pages idle really runs, exactly, page by page:

 1. the daemon starts with read-ahead off on the binary's disk (see
    NoReadahead; restored once its processes run) and runs a configuration
    (a seed or N TCP checks, as bench/memory.py does, in its namespace)
    for --settle seconds;
 2. one gdb stops every process and unmaps the executable's read-only
    mappings in each (MADV_DONTNEED, which the daemon itself does after
    start: sys::mem::release_startup_pages);
 3. while they are stopped, the file's pages are dropped from the page
    cache (POSIX_FADV_DONTNEED; nothing maps them now), so that a fault
    reads its own page only and can map around itself only pages another
    fault brought in;
 4. after --idle seconds, mincore(2) over the file says which pages came
    back: the pages some process ran or read.

It prints the pages per section and, with --linker-script FILE, writes the
functions on the resident `.text` pages as a linker script that places
them first (daemon/hot-code.ld; the patterns leave out what depends on the
build, so that one file serves the glibc and the static musl builds).

The functions on a touched page are a superset of those idle runs. Made
exact in three builds (bench/README.md, "The code idle runs, packed"):
--align-each writes the candidates each on pages of their own; a build
with that script, profiled, names exactly the ones idle runs; --keep adds,
from the packed build, what still ran outside `.text.upkeep_idle`.

Needs root, gdb, and an unstripped build (target/release/upkeepd). Usage:
  bench/hot_code.py [--seeds nginx,haproxy,lvs-dr] [--checks 500] [--settle 10]
                    [--idle 30] [--upkeepd PATH] [--linker-script daemon/hot-code.ld]
                    [--align-each | --keep daemon/hot-code.ld]
"""
import argparse
import bisect
import ctypes
import mmap
import os
import re
import shlex
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import memory  # noqa: E402

PAGE = 4096
MADV_DONTNEED = 4
libc = ctypes.CDLL(None, use_errno=True)
libc.mmap.restype = ctypes.c_void_p
libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
libc.mincore.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_char_p]
libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]


def resident_pages(path):
    """The file's pages in the page cache (mincore over a mapping of it)."""
    size = os.path.getsize(path)
    fd = os.open(path, os.O_RDONLY)
    try:
        addr = libc.mmap(None, size, mmap.PROT_READ, mmap.MAP_SHARED, fd, 0)
        if addr in (None, ctypes.c_void_p(-1).value):
            raise OSError(ctypes.get_errno(), "mmap")
        n = (size + PAGE - 1) // PAGE
        vec = ctypes.create_string_buffer(n)
        if libc.mincore(addr, size, vec) != 0:
            raise OSError(ctypes.get_errno(), "mincore")
        libc.munmap(addr, size)
        return {i for i in range(n) if vec.raw[i] & 1}
    finally:
        os.close(fd)


def exe_readonly_smaps(pid):
    """The executable's read-only mappings in `pid`: [start, size, Rss KiB,
    Anonymous KiB] each, from /proc/PID/smaps."""
    exe = os.readlink(f"/proc/{pid}/exe")
    out, cur = [], None
    for line in open(f"/proc/{pid}/smaps"):
        f = line.split()
        if "-" in f[0] and not f[0].endswith(":"):
            cur = None
            if len(f) >= 6 and f[5] == exe and "w" not in f[1]:
                lo, hi = (int(x, 16) for x in f[0].split("-"))
                cur = [lo, hi - lo, 0, 0]
                out.append(cur)
        elif cur is not None and f[0] in ("Rss:", "Anonymous:"):
            cur[2 if f[0] == "Rss:" else 3] = int(f[1])
    return out


def exe_readonly_maps(pid):
    """(start, size) of the executable's read-only mappings that no write
    touched: RELRO (read-only after the relocations wrote it) holds private
    copies, which MADV_DONTNEED would turn back into the file's unrelocated
    bytes."""
    return [(lo, n) for lo, n, _, anon in exe_readonly_smaps(pid) if anon == 0]


def code_rss(pid):
    """KiB of the executable's read-only mappings resident in `pid`."""
    return sum(rss for _, _, rss, _ in exe_readonly_smaps(pid))


class NoReadahead:
    """read_ahead_kb 0 on the binary's block device while the daemon's
    processes exec it: a fault in an executable mapping reads ra_pages
    around itself whatever madvise says (MADV_RANDOM is not honoured for
    VM_EXEC, kernel 6.18: one fault read 539 pages here), and a file keeps
    the value it was opened with, so restoring it once the processes run
    changes nothing for them."""

    def __init__(self, path):
        st = os.stat(path)
        dev = os.path.realpath(f"/sys/dev/block/{os.major(st.st_dev)}:{os.minor(st.st_dev)}")
        if os.path.exists(os.path.join(dev, "partition")):
            dev = os.path.dirname(dev)
        self.knob = os.path.join(dev, "queue", "read_ahead_kb")
        self.old = None
        if not os.path.exists(self.knob):
            print(f"no {self.knob}: the pages counted include read-ahead", file=sys.stderr)
            self.knob = None

    def __enter__(self):
        if self.knob:
            self.old = open(self.knob).read().strip()
            open(self.knob, "w").write("0")
        return self

    def restore(self):
        if self.old is not None:
            open(self.knob, "w").write(self.old)
            self.old = None

    def __exit__(self, *exc):
        self.restore()


def drop_and_evict(pids, binary):
    """In one gdb, which keeps every process it attached stopped (all-stop
    mode): attach each, madvise its read-only mappings of the executable,
    then drop the file from the page cache while none of them runs, then
    let them go. Returns the file's resident pages right after."""
    cmds = ["-ex", "set unwindonsignal on", "-ex", "set auto-load off"]
    calls = 0
    for i, pid in enumerate(pids):
        if i:
            cmds += ["-ex", "add-inferior", "-ex", f"inferior {i + 1}"]
        cmds += ["-ex", f"attach {pid}"]
        for lo, n in exe_readonly_maps(pid):
            cmds += ["-ex", f"call (int)madvise((void*){lo:#x}, {n}, {MADV_DONTNEED})"]
            calls += 1
    # memory.evict fsyncs first: a file just copied has dirty pages, which stay.
    evict_and_count = f"import sys; sys.path.insert(0, {os.path.dirname(os.path.abspath(__file__))!r}); " \
        f"import hot_code; hot_code.memory.evict({binary!r}); " \
        f"print('resident', len(hot_code.resident_pages({binary!r})))"
    cmds += ["-ex", f"shell python3 -c {shlex.quote(evict_and_count)}"]
    r = subprocess.run(["gdb", "-nx", "-batch", *cmds], capture_output=True, text=True, timeout=120)
    results = re.findall(r"^\$\d+ = (-?\d+)", r.stdout, re.M)
    left = re.search(r"^resident (\d+)", r.stdout, re.M)
    if len(results) != calls or any(x != "0" for x in results) or not left:
        raise RuntimeError(f"madvise: {r.stdout[-600:]} {r.stderr[-600:]}")
    return int(left[1])


def sections(path):
    """(name, file offset, size, address) of the allocated sections."""
    out = []
    for line in subprocess.run(["readelf", "-SW", path], capture_output=True, text=True, check=True).stdout.splitlines():
        m = re.match(r"\s*\[\s*\d+\]\s+(\S+)\s+\S+\s+([0-9a-f]+)\s+([0-9a-f]+)\s+([0-9a-f]+)\s+\S+\s+(\S*A\S*)", line)
        if m:
            out.append((m[1], int(m[3], 16), int(m[4], 16), int(m[2], 16)))
    return out


def text_symbols(path):
    """(address, size, mangled name) of every function."""
    out = []
    for line in subprocess.run(["nm", "-S", "--defined-only", path], capture_output=True, text=True, check=True).stdout.splitlines():
        f = line.split()
        if len(f) == 4 and f[2] in "tTwW":
            out.append((int(f[0], 16), int(f[1], 16), f[3]))
    return sorted(out)


def pattern(name):
    """A linker input-section pattern for a function in every build: what
    depends on the build is left out. Rust's legacy mangling ends in a hash
    (17h...E), v0 names its crates by hash (Cs..._) and refers back by byte
    offset (B..._), which moves with the hashes' lengths; LLVM adds
    .llvm.N to names it made local."""
    name = re.sub(r"17h[0-9a-f]{16}E", "17h*E", name)
    if name.startswith("_R"):
        name = re.sub(r"Cs[0-9A-Za-z]*_", "Cs*_", name)
        name = re.sub(r"B[0-9A-Za-z]*_", "B*_", name)
    name = re.sub(r"\.llvm\.\d+$", ".llvm.*", name)
    return re.sub(r"\*(\*)+", "*", name)


ROLES = ("parent", "checker", "ipvs", "vrrp")

# Where a script made with --steady turns from its groups to the idle patterns.
REST_MARK = "/* The rest idle runs, by pattern (any build). */"


def callgrind_self_costs(path):
    """(role, {mangled function of upkeepd: instructions in it}) of one
    callgrind profile made with --demangle=no."""
    role, names, objs, costs = "parent", {}, {}, {}
    obj = fn = None
    after_calls = False
    for line in open(path, errors="replace"):
        if line.startswith("cmd:"):
            m = re.search(r"--role (\w+)", line)
            role = m[1] if m else "parent"
            continue
        m = re.match(r"(c?ob|c?fn|fl|fi|fe|cfi|cfl)=\((\d+)\)(?: (.*))?$", line.rstrip("\n"))
        if m:
            kind, i, name = m.groups()
            table = objs if kind.endswith("ob") else names if kind.endswith("fn") else None
            if table is not None and name is not None:
                table[i] = name
            if kind == "ob":
                obj = objs.get(i)
            elif kind == "fn":
                fn = names.get(i)
            continue
        if line.startswith("calls="):
            after_calls = True
            continue
        if line[:1].isdigit() or line[:1] in "+-*":
            # The line after calls= is the callee's inclusive cost.
            if after_calls:
                after_calls = False
                continue
            f = line.split()
            # valgrind names code outside the file's .text section (in
            # .text.upkeep_idle) "???".
            if len(f) >= 2 and fn and obj and (obj == "???" or "upkeepd" in obj):
                costs[fn] = costs.get(fn, 0) + int(f[1])
    return role, costs


def steady_roles(dirs):
    """{mangled function: roles that ran it while steady}: in each DIR, the
    profiles of two runs of one load that differ only in length
    (bench/checker_load.py --callgrind DIR --mangled writes DIR/short and
    DIR/long); a function steady runs has more instructions in the long one."""
    out = {}
    for d in dirs:
        runs = {}
        for window in ("short", "long"):
            per_role = {}
            for path in sorted(os.listdir(os.path.join(d, window))):
                if path.startswith("callgrind.out."):
                    role, costs = callgrind_self_costs(os.path.join(d, window, path))
                    acc = per_role.setdefault(role, {})
                    for fn, n in costs.items():
                        acc[fn] = acc.get(fn, 0) + n
            runs[window] = per_role
        for role, costs in runs["long"].items():
            before = runs["short"].get(role, {})
            for fn, n in costs.items():
                if n > before.get(fn, 0):
                    out.setdefault(fn, set()).add(role)
    return out


def gray_rank(roles):
    """A place in the reflected Gray code over ROLES' bits (the parent's
    the highest): ordered so, every set of functions a role runs lies in
    one run (the parent's, the checker's) or two (the IPVS worker's)."""
    code = sum(1 << (len(ROLES) - 1 - ROLES.index(r)) for r in roles if r in ROLES)
    rank, bit = 0, code
    # The inverse of g = b ^ (b >> 1).
    while bit:
        rank ^= bit
        bit >>= 1
    return rank


# Whole modules placed after the profiled functions, each together: a
# worker's code that the profiles cannot see. The IPVS worker talks to the
# kernel's IPVS only where the kernel has it, which the machine that makes
# the profiles lacks (in the IPVS VM it mapped 2.9 MiB of code at 2,000
# checks with this left out); the VRRP worker runs at the seeds, which are
# not profiled. Legacy names carry the path as `6upkeep4ipvs`, generics over
# a module's types as `upkeep..ipvs..`; v0 names as the former.
MODULE_GROUPS = (
    ("ipvs", ("*6upkeep4ipvs*", "*upkeep..ipvs..*")),
    ("vrrp", ("*6upkeep4vrrp*", "*upkeep..vrrp..*")),
)


def exact_pattern(name, members):
    """The input-section pattern for this very function: the build-free
    pattern when that takes in this function only (`members`: how many
    functions each pattern takes in), so that the static musl build,
    whose hashes differ, gets it too; else its name with this build's
    hash, LLVM's local suffix left out (it follows the module)."""
    if members.get(pattern(name), 0) == 1:
        return pattern(name)
    return re.sub(r"\.llvm\.\d+$", ".llvm.*", name)


def linker_script(patterns, cases, align_each=False, exact=()):
    """GNU ld and lld both read this beside their default script (INSERT).
    `align_each`: every pattern's functions on pages of their own, for a
    build to profile (a touched page then names one pattern). `exact`:
    (comment, [pattern]) groups placed first (see --steady)."""
    lines = [
        "/* The functions an idle upkeepd runs, placed together at the start of",
        " * the code, so that the pages every process maps at idle (and the",
        " * 64 KiB the kernel maps around each fault) hold little else.",
        f" * Made by bench/hot_code.py ({cases}); see bench/README.md,",
        " * \"The code idle runs, packed\" and \"The code each process runs under load,",
        " * packed by process\". A pattern that matches nothing costs",
        " * nothing; a function missing here only lies elsewhere. */",
        "SECTIONS",
        "{",
        "  .text.upkeep_idle :",
        "  {",
    ]
    for comment, group in exact:
        lines.append(f"    /* {comment} */")
        lines += [f"    *(.text.{p})" for p in group]
    if exact:
        lines.append(f"    {REST_MARK}")
    for p in patterns:
        if align_each:
            lines.append("    . = ALIGN(4096);")
        lines.append(f"    *(.text.{p})")
    lines += ["  }", "}", "INSERT BEFORE .text;", ""]
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", default="nginx,haproxy,lvs-dr")
    ap.add_argument("--checks", default="")
    ap.add_argument("--settle", type=float, default=10)
    ap.add_argument("--idle", type=float, default=30)
    ap.add_argument("--upkeepd", default=memory.BUILDS["glibc"])
    ap.add_argument("--linker-script", help="write the functions on resident .text pages here, as "
                    "a linker script (daemon/hot-code.ld)")
    ap.add_argument("--keep", help="a script whose patterns stay (the one this build was linked with, made from "
                    "a build with --align-each): with it, only functions outside .text.upkeep_idle are added")
    ap.add_argument("--steady", action="append", default=[], metavar="DIR",
                    help="callgrind profiles of a load (bench/checker_load.py --callgrind DIR --mangled): "
                    "the functions each process runs while steady go first, by this build's exact "
                    "names, grouped by the processes that run them (repeatable)")
    ap.add_argument("--align-each", action="store_true",
                    help="the script for a build to profile: each pattern on pages of its own")
    a = ap.parse_args()
    binary = os.path.realpath(a.upkeepd)
    secs = sections(binary)
    code = [s for s in secs if s[0] == ".text" or s[0].startswith(".text.")]
    syms = text_symbols(binary)
    cases = [(f"seed {s}", memory.seed_conf(s, memory.seeds_dir()), False) for s in a.seeds.split(",") if s]
    cases += [(f"{n} TCP checks", memory.checks_conf(int(n), 1), True) for n in a.checks.split(",") if n]
    hot = set()
    for case, conf, listener in cases:
        got = {}

        def hook(procs):
            ra.restore()
            # The named processes only: a checker's child on its way into
            # a script runs the same file for a moment.
            pids = [pid for pid, _ in procs if "\nState:\tZ" not in open(f"/proc/{pid}/status").read()]
            got["after_drop"] = drop_and_evict(pids, binary)
            time.sleep(a.idle)
            got["pages"] = resident_pages(binary)
            got["procs"] = [f"{name} {code_rss(pid)} KiB" for pid, name in procs if pid in pids]

        with NoReadahead(binary) as ra:
            memory.measure("upkeep", binary, conf, a.settle, listener, hook=hook)
        pages = got["pages"]
        hot |= pages
        print(f"{case}: {got['after_drop']} pages resident after the drop, {len(pages)} after {a.idle:.0f} s idle "
              f"({len(pages) * 4} KiB); code mapped per process: {', '.join(got['procs'])}")
        for name, off, size, _ in secs:
            n = sum(1 for p in pages if off <= p * PAGE < off + size or p * PAGE <= off < (p + 1) * PAGE)
            if n:
                print(f"    {name:<20} {n:>5} of {(size + PAGE - 1) // PAGE:>5} pages")
    hot_text, funcs = [], set()
    starts = [s[0] for s in syms]
    for name, toff, tsize, taddr in code:
        if a.keep and name == ".text.upkeep_idle":
            continue
        for p in sorted(p for p in hot if toff <= p * PAGE < toff + tsize):
            hot_text.append(p)
            lo, hi = taddr + p * PAGE - toff, taddr + (p + 1) * PAGE - toff
            # Functions are at most a few hundred KiB: look back that far.
            i = bisect.bisect_left(starts, lo - (1 << 20))
            while i < len(syms) and syms[i][0] < hi:
                if syms[i][0] + max(syms[i][1], 1) > lo:
                    funcs.add(syms[i])
                i += 1
    funcs = sorted(funcs)
    size = sum(s[1] for s in funcs)
    print(f"all cases: {len(hot)} pages, {len(hot_text)} of .text; {len(funcs)} functions on them, {size / 1024:.0f} KiB")
    if a.linker_script:
        # A pattern takes every function its name matches (every
        # instantiation of a generic, in Rust's legacy mangling): the small
        # ones first, so that the large families, of which idle may run one
        # instance, do not spread the rest.
        # Per pattern: the size of the functions it takes in, and how many.
        family, members = {}, {}
        for _, size, name in syms:
            p = pattern(name)
            family[p] = family.get(p, 0) + size
            members[p] = members.get(p, 0) + 1
        found = {pattern(name) for _, _, name in funcs}
        keep_text = open(a.keep).read() if a.keep else ""
        if a.keep:
            # A script made with --steady: its idle patterns only (the
            # groups are made again from the profiles given now).
            text = keep_text.split(REST_MARK, 1)[-1]
            kept = {line.strip()[len("*(.text."):-1] for line in text.splitlines() if line.strip().startswith("*(.text.")}
            print(f"{len(found - kept)} patterns added to the {len(kept)} of {a.keep}:")
            for p in sorted(found - kept):
                print(f"    {p[:140]}")
            found |= kept
        patterns = sorted(found, key=lambda p: (family.get(p, 0), p))
        cases_text = ", ".join(c for c, _, _ in cases) + f", {a.idle:.0f} s idle"
        exact = []
        if a.steady:
            roles = steady_roles(a.steady)
            sizes = {name: size for _, size, name in syms}
            groups = {}
            for fn, rs in roles.items():
                if fn in sizes:
                    groups.setdefault(frozenset(rs), []).append(fn)
            for rs in sorted(groups, key=gray_rank):
                names = sorted(groups[rs])
                kib = sum(sizes[n] for n in names) / 1024
                exact.append((f"run while steady by: {', '.join(r for r in ROLES if r in rs)} "
                              f"({len(names)} functions, {kib:.0f} KiB)", [exact_pattern(n, members) for n in names]))
                print(f"steady, {'+'.join(r for r in ROLES if r in rs)}: {len(names)} functions, {kib:.0f} KiB")
            for module, globs in MODULE_GROUPS:
                exact.append((f"the rest of the {module} module, whole", list(globs)))
            if not cases and a.keep:
                # The patterns kept are the earlier profile's: say which.
                made = re.search(r"Made by bench/hot_code.py \(([^;)]*)", re.sub(r"\n \* ?", " ", keep_text))
                cases_text = made[1].strip() if made else cases_text
            cases_text += (f";\n * first, by exact name, what each process ran while steady in {len(a.steady)} "
                           "profile(s) of\n * bench/checker_load.py --callgrind DIR --mangled")
        open(a.linker_script, "w").write(linker_script(patterns, cases_text, a.align_each, exact))
        print(f"wrote {len(patterns)} patterns to {a.linker_script}")


if __name__ == "__main__":
    main()
