#!/usr/bin/env python3
"""Nothing silent: every field of the configuration model is read somewhere
outside daemon/src/config/.

A field that only config/ touches is parsed (and validated, converted,
printed) and then ignored: the user believes they have a behaviour they do
not have. Such a keyword must be implemented, or warned about by name as
"accepted but not supported" (and then left out of the model).

Reads count as `.field` (a field access) in daemon/src outside config/ and
outside unit-test files, and in the config/ modules that act at run time
(ACTING: the script plan the supervisor runs scripts by). A field read by a
model method (`VrrpInstance::family`) counts when that method is called
outside config/. `#[serde(skip)]` bookkeeping (`src`) is exempt. Field names
are matched by name, so a field whose name another struct also has may pass
unnoticed: the check finds fields nothing reads, not every ignored one.

The allowlist names a reason per entry; an entry no longer needed is an
error too, so the list only shrinks (entries "being implemented" by a
parallel branch are only reported).

Run from the repository root: python3 scripts/unread-fields.py
"""

import pathlib
import re
import sys

MODEL = pathlib.Path("daemon/src/config/model")
SRC = pathlib.Path("daemon/src")
# config/ modules that decide what happens at run time (used by supervisor/).
ACTING = {
    "daemon/src/config/scripts.rs",
    "daemon/src/config/script_security.rs",
    # vrrp_strict acts at load time, as keepalived's vrrp_complete_instance.
    "daemon/src/config/strict.rs",
}

BEING_IMPLEMENTED = "being implemented (issue 15)"

# "Struct.field": why nothing outside config/ reads it.
ALLOW = {
    "CheckExt.misc_dynamic": "TOML only: the checker ignores MISC_CHECK exit codes 2-255 "
    "(keepalived sets the weight from them); keepalived.conf's misc_dynamic is warned about",
}

STRUCT = re.compile(r"^pub struct (\w+)\s*\{(.*?)^\}", re.S | re.M)
FIELD = re.compile(r"^\s*pub (\w+):", re.M)


def model_fields():
    for path in sorted(MODEL.glob("*.rs")):
        text = path.read_text()
        for m in STRUCT.finditer(text):
            body = m.group(2)
            lines = body.splitlines()
            for i, line in enumerate(lines):
                f = FIELD.match(line)
                if not f:
                    continue
                attrs = " ".join(lines[max(0, i - 3) : i])
                if "serde(skip)" in attrs and f.group(1) == "src":
                    continue
                yield m.group(1), f.group(1), path


def outside_config():
    texts = []
    for path in sorted(SRC.rglob("*.rs")):
        rel = path.as_posix()
        if rel.startswith("daemon/src/config/") and rel not in ACTING:
            continue
        if path.name == "tests.rs" or path.name.endswith("_tests.rs"):
            continue
        text = path.read_text()
        # Unit tests at the end of a file read fields to check them, not to act.
        text = text.split("#[cfg(test)]\nmod tests")[0]
        texts.append(text)
    return "\n".join(texts)


def accessor_reads(code):
    """Fields read in a model method that code outside config/ calls."""
    fn = re.compile(r"^\s*pub fn (\w+)\(&self[^{]*\{", re.M)
    reads = set()
    for path in sorted(MODEL.glob("*.rs")):
        text = path.read_text().split("#[cfg(test)]")[0]
        for m in fn.finditer(text):
            depth, i = 1, m.end()
            while depth and i < len(text):
                depth += {"{": 1, "}": -1}.get(text[i], 0)
                i += 1
            if re.search(r"\." + m.group(1) + r"\(", code):
                reads |= set(re.findall(r"\.(\w+)\b(?!\()", text[m.end() : i]))
    return reads


def main():
    code = outside_config()
    via_methods = accessor_reads(code)
    unread = []
    seen = set()
    for struct, field, path in model_fields():
        key = f"{struct}.{field}"
        seen.add(key)
        if field in via_methods or re.search(r"\." + re.escape(field) + r"\b", code):
            if key in ALLOW and ALLOW[key] == BEING_IMPLEMENTED:
                print(f"note: {key} is read outside config/ now ({BEING_IMPLEMENTED} on the allowlist)")
            elif key in ALLOW:
                print(f"{key}: read outside config/ now; remove it from the allowlist in {sys.argv[0]}")
                unread.append(key)
            continue
        if key not in ALLOW:
            print(f"{key} ({path}): read nowhere outside daemon/src/config/: parsed and then ignored")
            unread.append(key)
    for key in sorted(set(ALLOW) - seen):
        if ALLOW[key] == BEING_IMPLEMENTED:
            print(f"note: {key} is not a model field (yet): {BEING_IMPLEMENTED}")
            continue
        print(f"{key}: on the allowlist but not a model field any more; remove it")
        unread.append(key)
    if unread:
        print(f"{len(unread)} problem(s): implement the field, or warn 'accepted but not supported' and drop it, "
              "or allowlist it with a reason", file=sys.stderr)
        return 1
    print(f"model fields: {len(seen)}, allowlisted: {len(ALLOW)}, all others read outside config/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
