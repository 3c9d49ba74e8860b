//! The systemd unit passes `systemd-analyze verify` (scripts/verify-unit.sh,
//! which installs systemd when it is missing), and the executable has the
//! code an idle daemon runs linked together (daemon/hot-code.ld).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

#[test]
fn systemd_unit_verifies() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    let out = Command::new("bash")
        .arg("scripts/verify-unit.sh")
        .arg(env!("CARGO_BIN_EXE_upkeepd"))
        .current_dir(root)
        .output()
        .expect("run bash scripts/verify-unit.sh");
    assert!(
        out.status.success(),
        "scripts/verify-unit.sh failed: {}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// (name, address, size) of every section of an ELF64 little-endian file.
fn elf_sections(file: &[u8]) -> Vec<(String, u64, u64)> {
    let u16_at = |o: usize| u16::from_le_bytes(file[o..o + 2].try_into().unwrap()) as usize;
    let u32_at = |o: usize| u32::from_le_bytes(file[o..o + 4].try_into().unwrap()) as usize;
    let u64_at = |o: usize| u64::from_le_bytes(file[o..o + 8].try_into().unwrap());
    assert_eq!(&file[..5], b"\x7fELF\x02", "an ELF64 file");
    let (shoff, shentsize, shnum, shstrndx) = (
        u64_at(0x28) as usize,
        u16_at(0x3a),
        u16_at(0x3c),
        u16_at(0x3e),
    );
    let header = |i: usize| shoff + i * shentsize;
    let names = u64_at(header(shstrndx) + 0x18) as usize;
    (0..shnum)
        .map(|i| {
            let h = header(i);
            let name = &file[names + u32_at(h)..];
            let end = name.iter().position(|&b| b == 0).unwrap();
            (
                String::from_utf8_lossy(&name[..end]).into_owned(),
                u64_at(h + 0x10),
                u64_at(h + 0x20),
            )
        })
        .collect()
}

/// bench/README.md, "The code idle runs, packed": the functions the
/// profile found are placed before the rest of the code. A script whose
/// names no longer match the code (or that is not passed to the linker)
/// leaves the section small or absent; bench/hot_code.py makes it again.
#[test]
fn the_code_idle_runs_is_linked_together() {
    let file = std::fs::read(env!("CARGO_BIN_EXE_upkeepd")).unwrap();
    let sections = elf_sections(&file);
    let find = |n: &str| sections.iter().find(|s| s.0 == n).cloned();
    let idle = find(".text.upkeep_idle").expect("a .text.upkeep_idle section");
    let text = find(".text").expect("a .text section");
    assert!(
        idle.1 < text.1,
        "the idle code before the rest: {idle:?} {text:?}"
    );
    // About 1 MiB in a release build; a debug build inlines less and names
    // other instances, so the bound is far below either.
    assert!(idle.2 >= 128 << 10, "{idle:?}");
}
