//! The heap, and the executable's pages this process has stopped running.

/// Largest allocation glibc serves from its heap; larger ones get mmaps of
/// their own, unmapped when freed. glibc's default (128 KiB) grows each
/// time such a mapping is freed, up to 32 MiB: after the first serialised
/// configuration or batch of results was freed, every later buffer of
/// megabytes (the next batch, the IPC frames) came from the heap and left
/// it fragmented (the parent's [heap] at 10,000 checks: 136 MiB for 51 MiB
/// in use; bench/README.md, "Memory against keepalived"). Fixed, the
/// threshold stays where it is.
const MMAP_THRESHOLD: i32 = 256 << 10;

/// Fixes glibc's mmap threshold (see [`MMAP_THRESHOLD`]) and the amount
/// of free heap top kept before it is given back (the same). Called at the
/// start of the parent and of each worker. mimalloc, the static (musl)
/// build's allocator, has no such setting and returns pages by itself.
pub fn tune_heap() {
    #[cfg(target_env = "gnu")]
    // SAFETY: mallopt only sets allocator parameters; no pointer is involved.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD);
        libc::mallopt(libc::M_TRIM_THRESHOLD, MMAP_THRESHOLD);
    }
}

/// Gives free heap memory at the top of malloc's arenas back to the kernel
/// (after compiling a large plugin, for example).
/// mimalloc, the static (musl) build's allocator, returns freed pages by
/// itself.
pub fn trim_heap() {
    #[cfg(target_env = "gnu")]
    // SAFETY: malloc_trim only releases free memory; no pointer is involved.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// A read-only part of the executable's image, page-aligned inward.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segment {
    pub start: usize,
    pub len: usize,
}

/// The main executable's segments that are mapped without write permission
/// (code, read-only data, unwind tables), without any page that the
/// read-only-after-relocation part (`PT_GNU_RELRO`) or a writable segment
/// touches: those hold this process's own relocated or written data.
pub fn read_only_segments() -> Vec<Segment> {
    let mut found: Vec<Segment> = Vec::new();
    // SAFETY: dl_iterate_phdr calls `collect` synchronously with pointers
    // valid for the call; `found` outlives it and is only used there.
    unsafe {
        libc::dl_iterate_phdr(Some(collect), (&raw mut found).cast());
    }
    found
}

unsafe extern "C" fn collect(
    info: *mut libc::dl_phdr_info,
    _size: libc::size_t,
    data: *mut libc::c_void,
) -> libc::c_int {
    // Every return is 1, which ends the iteration: the first object reported
    // is the main executable; the rest are shared libraries (their pages are
    // shared with other programs).
    // SAFETY: `data` is the vector that `read_only_segments` passed.
    let found = unsafe { &mut *data.cast::<Vec<Segment>>() };
    if info.is_null() {
        return 1;
    }
    // SAFETY: the loader guarantees `info` and its program headers are valid
    // during the callback.
    let (bias, phdrs) = unsafe {
        let info = &*info;
        if info.dlpi_phdr.is_null() {
            return 1;
        }
        (
            info.dlpi_addr as usize,
            std::slice::from_raw_parts(info.dlpi_phdr, usize::from(info.dlpi_phnum)),
        )
    };
    let page = page_size();
    let span = |ph: &libc::Elf64_Phdr| {
        let start = bias.wrapping_add(ph.p_vaddr as usize);
        (start, start.wrapping_add(ph.p_memsz as usize))
    };
    let keep: Vec<(usize, usize)> = phdrs
        .iter()
        .filter(|ph| {
            ph.p_type == libc::PT_GNU_RELRO
                || (ph.p_type == libc::PT_LOAD && ph.p_flags & libc::PF_W != 0)
        })
        .map(|ph| {
            let (s, e) = span(ph);
            (s & !(page - 1), e.next_multiple_of(page))
        })
        .collect();
    for ph in phdrs
        .iter()
        .filter(|ph| ph.p_type == libc::PT_LOAD && ph.p_flags & libc::PF_W == 0)
    {
        let (s, e) = span(ph);
        // Inward: a page this segment shares with another is left alone.
        let (start, end) = (s.next_multiple_of(page), e & !(page - 1));
        if end <= start || keep.iter().any(|&(ks, ke)| ks < end && start < ke) {
            continue;
        }
        found.push(Segment {
            start,
            len: end - start,
        });
    }
    1
}

fn page_size() -> usize {
    // SAFETY: sysconf has no memory effects.
    let n = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    usize::try_from(n).ok().filter(|&n| n > 0).unwrap_or(4096)
}

/// Drops this process's mappings of the executable's read-only pages
/// (MADV_DONTNEED). They are clean copies of the file: the next use maps
/// them again from the page cache. Called once a process has started (and
/// after a reload), it leaves mapped only the code the process runs from
/// then on, not the start-up code it ran once (the configuration parser,
/// argument parsing, netlink set-up) nor what the kernel mapped around it.
/// Nothing is lost; returns the bytes advised. Skipped while a debugger is
/// attached (its breakpoints are private copies of code pages, which this
/// would drop).
pub fn release_startup_pages() -> usize {
    if traced() {
        return 0;
    }
    let mut released = 0;
    for seg in read_only_segments() {
        // SAFETY: the range is page-aligned and lies inside a read-only,
        // private, file-backed segment of the main executable that no
        // write or relocation has touched (see `read_only_segments`), so
        // dropping the pages changes no content: the next access reads the
        // same bytes from the file.
        let rc =
            unsafe { libc::madvise(seg.start as *mut libc::c_void, seg.len, libc::MADV_DONTNEED) };
        if rc == 0 {
            released += seg.len;
        }
    }
    released
}

fn traced() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("TracerPid:"))
                .map(|v| v.trim() != "0")
        })
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_executables_code_is_found_and_no_writable_page_is_in_it() {
        let segs = read_only_segments();
        let here =
            the_executables_code_is_found_and_no_writable_page_is_in_it as *const () as usize;
        assert!(
            segs.iter()
                .any(|s| s.start <= here && here < s.start + s.len),
            "this function's code {here:#x} is in no segment of {segs:?}"
        );
        let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
        for line in maps.lines() {
            let mut f = line.split_whitespace();
            let (range, perms) = (f.next().unwrap(), f.next().unwrap());
            let (s, e) = range.split_once('-').unwrap();
            let (s, e) = (
                usize::from_str_radix(s, 16).unwrap(),
                usize::from_str_radix(e, 16).unwrap(),
            );
            if perms.contains('w') {
                assert!(
                    !segs.iter().any(|g| g.start < e && s < g.start + g.len),
                    "writable mapping {line} overlaps {segs:?}"
                );
            }
        }
    }

    #[test]
    fn released_pages_read_back_the_same() {
        // Read-only data and code work after their pages are dropped.
        static TABLE: [u64; 4] = [7, 11, 13, 17];
        let before: u64 = std::hint::black_box(&TABLE).iter().sum();
        assert!(release_startup_pages() > 0);
        let after: u64 = std::hint::black_box(&TABLE).iter().sum();
        assert_eq!(before, after);
        assert_eq!(format!("{}", 48), "48");
    }
}
