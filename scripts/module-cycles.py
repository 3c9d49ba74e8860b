#!/usr/bin/env python3
"""Lists import circles between the daemon's modules (one module per file).

An edge A -> B means a file of module A names an item of module B: in a
`use` (crate::, super::, self::) or a path in code (`crate::x::y::z`). A
module's `pub use self::child::...` re-export (a facade) is not an edge.
Test code (`*_tests.rs`, `tests.rs`, `#[cfg(test)] mod tests {...}` at the
end of a file) is left out: tests may name anything.

Exit status 1 when a circle exists (a strongly connected set of two or more
modules), with each circle printed; 0 otherwise.
"""
import os
import re
import sys

ROOT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "daemon", "src")
ROOT = os.path.normpath(ROOT)


def module_of(path):
    rel = os.path.relpath(path, ROOT)[:-3].split(os.sep)
    if rel[-1] in ("mod", "lib"):
        rel = rel[:-1]
    if rel and rel[0] == "bin":
        return None
    return tuple(rel)


def strip(text):
    # Comments and strings out; drop an inline test module at the end.
    text = re.sub(r"//[^\n]*", "", text)
    text = re.sub(r'"(\\.|[^"\\])*"', '""', text)
    m = re.search(r"#\[cfg\(test\)\]\s*(pub(\(crate\))?\s+)?mod\s+\w+\s*\{", text)
    if m:
        text = text[: m.start()]
    return text


def expand_use(tree):
    """`a::{b, c::{d, e}}` -> [a::b, a::c::d, a::c::e]."""
    tree = tree.replace(" ", "").replace("\n", "")
    m = re.match(r"^([^{]*)\{(.*)\}$", tree)
    if not m:
        return [tree]
    prefix, inner = m.group(1), m.group(2)
    parts, depth, cur = [], 0, ""
    for ch in inner:
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    if cur:
        parts.append(cur)
    out = []
    for p in parts:
        for e in expand_use(p):
            out.append(prefix + e if e != "self" else prefix.rstrip(":"))
    return out


def resolve(mod, path, modules):
    segs = [s for s in path.split("::") if s]
    if not segs:
        return None
    if segs[0] == "crate":
        base, segs = (), segs[1:]
    elif segs[0] in ("super", "self"):
        base = mod
        while segs and segs[0] in ("super", "self"):
            if segs[0] == "super":
                base = base[:-1]
            segs = segs[1:]
    else:
        return None
    full = base + tuple(s.split(" as ")[0] for s in segs)
    for n in range(len(full), -1, -1):
        if full[:n] in modules:
            return full[:n]
    return None


def main():
    files = {}
    for d, _, names in os.walk(ROOT):
        for n in names:
            if not n.endswith(".rs") or n.endswith("_tests.rs") or n == "tests.rs" or n == "testutil.rs":
                continue
            p = os.path.join(d, n)
            m = module_of(p)
            if m is not None:
                files[m] = p
    modules = set(files)
    edges = {m: set() for m in modules}
    for mod, path in files.items():
        text = strip(open(path, encoding="utf-8").read())
        for m in re.finditer(r"\b(pub(\([^)]*\))?\s+)?use\s+([^;]+);", text):
            public = m.group(1) is not None
            for p in expand_use(m.group(3)):
                t = resolve(mod, p, modules)
                if t is None or t == mod:
                    continue
                if public and p.startswith("self::") and t[: len(mod)] == mod:
                    continue  # a facade re-exporting its own child
                edges[mod].add(t)
        for m in re.finditer(r"\b((?:crate|super)(?:::\w+)+)", text):
            t = resolve(mod, m.group(1), modules)
            if t is not None and t != mod:
                edges[mod].add(t)
    # Tarjan's strongly connected components.
    index, low, on, stack, sccs, counter = {}, {}, set(), [], [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                sccs.append(comp)

    sys.setrecursionlimit(10000)
    for v in sorted(modules):
        if v not in index:
            visit(v)
    name = lambda m: "::".join(m) or "crate"
    for comp in sccs:
        members = set(comp)
        print("circle: " + ", ".join(sorted(name(m) for m in comp)))
        for a in sorted(comp):
            for b in sorted(edges[a] & members):
                print(f"    {name(a)} -> {name(b)}")
    print(f"{len(modules)} modules, {sum(len(e) for e in edges.values())} edges, {len(sccs)} circles")
    return 1 if sccs else 0


sys.exit(main())
