//! The heap, and the executable's pages this process has stopped running.

/// Largest allocation glibc serves from its heap; larger ones get mmaps of
/// their own, unmapped when freed. glibc's default (128 KiB) grows each
/// time such a mapping is freed, up to 32 MiB: after the first serialised
/// configuration or batch of results was freed, every later buffer of
/// megabytes (the next batch, the IPC frames) came from the heap and left
/// it fragmented (the parent's [heap] at 10,000 checks: 136 MiB for 51 MiB
/// in use; bench/README.md, "Memory against keepalived"). Fixed, the
/// threshold stays where it is. (glibc only: the musl build has no use.)
#[cfg(target_env = "gnu")]
const MMAP_THRESHOLD: i32 = 256 << 10;

/// Fixes glibc's mmap threshold (see [`MMAP_THRESHOLD`]) and the amount
/// of free heap top kept before it is given back (the same), and turns
/// transparent huge pages off for this process (see [`no_huge_pages`]).
/// Called at the start of the parent and of each worker. mimalloc, the
/// static (musl) build's allocator, has no such setting and returns pages
/// by itself.
pub fn tune_heap() {
    no_huge_pages();
    #[cfg(target_env = "gnu")]
    // SAFETY: mallopt only sets allocator parameters; no pointer is involved.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD);
        libc::mallopt(libc::M_TRIM_THRESHOLD, MMAP_THRESHOLD);
    }
}

/// Turns transparent huge pages off for this process and what it starts
/// (the setting is inherited over fork and kept over exec). Debian's
/// kernels fault anonymous memory in 2 MiB at a time (THP "always"):
/// the first packet into an IPC frame buffer made 2 MiB of it resident,
/// which no `MADV_DONTNEED` of the buffer's tail gave back (the parent at
/// 500 checks in the IPVS VM: 1.9 of its 3.1 MiB anonymous; issue 18).
/// upkeep's memory is small and scattered; huge pages only cost it.
/// Best effort: an old kernel without the setting changes nothing.
fn no_huge_pages() {
    // SAFETY: prctl with PR_SET_THP_DISABLE takes plain integers and sets
    // a flag of this process; no pointer is involved.
    unsafe {
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
    }
}

/// Gives free heap memory at the top of malloc's arenas back to the kernel
/// (after compiling a large plugin, for example).
/// mimalloc, the static (musl) build's allocator, returns only some freed
/// pages by itself: a forced collect there took the idle daemon at the
/// Nginx seed from 3.0 to 2.8 MiB anonymous and, at 2,000 checks a second,
/// from 13.5–13.9 to 9.5 MiB, for about 0.8 % of a core in the checker
/// (bench/README.md, "The code idle runs, packed"). A collect without
/// force kept 12.7 MiB there.
pub fn trim_heap() {
    #[cfg(target_env = "gnu")]
    {
        // SAFETY: malloc_trim only releases free memory; no pointer is involved.
        unsafe {
            libc::malloc_trim(0);
        }
        if apart_lately() {
            trim_apart_arena();
        }
    }
    #[cfg(all(target_env = "musl", not(feature = "system-allocator")))]
    // SAFETY: mi_collect only frees and purges memory mimalloc holds free;
    // no pointer is involved. The symbol is mimalloc's, linked by the
    // global allocator (crate::alloc).
    unsafe {
        mi_collect(true);
    }
}

#[cfg(all(target_env = "musl", not(feature = "system-allocator")))]
unsafe extern "C" {
    fn mi_collect(force: bool);
}

/// When [`apart`]'s thread last ended, leaving its glibc arena on the
/// free list.
#[cfg(target_env = "gnu")]
static APART_ENDED: std::sync::Mutex<Option<std::time::Instant>> = std::sync::Mutex::new(None);

/// How long after [`apart`] each [`trim_heap`] trims its arena too. Not
/// only the first: what `apart` returned may still be in use then, and a
/// thread that is running (the runtime's blocking pool) may hold that
/// arena while the trimming thread is given another.
#[cfg(target_env = "gnu")]
const TRIM_APART_FOR: std::time::Duration = std::time::Duration::from_secs(60);

#[cfg(target_env = "gnu")]
fn apart_ended() {
    let mut at = APART_ENDED
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    *at = Some(std::time::Instant::now());
}

#[cfg(target_env = "gnu")]
fn apart_lately() -> bool {
    let at = APART_ENDED
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    at.is_some_and(|t| t.elapsed() < TRIM_APART_FOR)
}

/// glibc's default `M_TOP_PAD`: free room kept at a heap's top when it is
/// trimmed, so that it does not grow again by a system call per block.
#[cfg(target_env = "gnu")]
const TOP_PAD: i32 = 128 << 10;

/// A block served from an arena's top (below [`MMAP_THRESHOLD`]) and
/// large enough that freeing it makes glibc trim that arena.
#[cfg(target_env = "gnu")]
const NUDGE: usize = 128 << 10;

/// Gives back the free memory of the arena [`apart`]'s last thread used.
/// `malloc_trim` does not: it releases a thread arena's free blocks but
/// not its top, and that top, where the parse's or decode's blocks were
/// freed, is trimmed only by a free of 64 KiB or more into it, and then
/// only beyond the trim threshold and the top pad: the parent's kept
/// 260–570 KiB resident at 2,000 checks once the configuration it had
/// parsed was freed (issue 18). A thread started now gets that arena
/// (glibc hands a new thread a free arena before it makes one); it
/// allocates and frees one block there, with the threshold and pad at
/// nothing for that moment, and ends.
#[cfg(target_env = "gnu")]
fn trim_apart_arena() {
    let nudge = || {
        // SAFETY: mallopt only sets allocator parameters; the block is
        // this closure's own, freed at once and never read or written.
        unsafe {
            libc::mallopt(libc::M_TOP_PAD, 0);
            libc::mallopt(libc::M_TRIM_THRESHOLD, 0);
            // black_box: LLVM removes a `free(malloc(n))` whose block is
            // never used, and did in the release build (only the four
            // mallopt calls were left: the arena's top stayed resident,
            // 248 KiB of the parent at 2,000 checks; issue 18).
            libc::free(std::hint::black_box(libc::malloc(NUDGE)));
            libc::mallopt(libc::M_TRIM_THRESHOLD, MMAP_THRESHOLD);
            libc::mallopt(libc::M_TOP_PAD, TOP_PAD);
        }
    };
    if let Ok(h) = std::thread::Builder::new()
        .name("trim".into())
        .stack_size(64 << 10)
        .spawn(nudge)
    {
        let _ = h.join();
    }
}

/// How often [`trim_heap_now_and_then`] trims. Every 5 s, the parent at
/// 10,000 checks grew by 4–5 MiB of free heap touched again between trims
/// (its mean over 30 s 23.0 MiB; every second 20.7, for no CPU that
/// `bench/cpu_per_check.py` can see: 1.7 µs per check either way).
const TRIM_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// When [`trim_heap`] is due: at most once per [`TRIM_EVERY`], and a
/// request made sooner is owed, not dropped. Dropped, what was freed just
/// after a trim stayed resident until something asked again: for the IPVS
/// worker, whose status goes out every 30 s when nothing changes, until
/// the next one (issue 18).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TrimClock {
    last: Option<std::time::Instant>,
    owed: bool,
}

impl TrimClock {
    /// Memory was just freed: whether to trim now (else it is owed).
    pub fn ask(&mut self, now: std::time::Instant) -> bool {
        self.owed = true;
        self.owed_due(now)
    }

    /// Whether a trim asked for earlier is due now.
    pub fn owed_due(&mut self, now: std::time::Instant) -> bool {
        if !self.owed
            || self
                .last
                .is_some_and(|t| now.saturating_duration_since(t) < TRIM_EVERY)
        {
            return false;
        }
        self.owed = false;
        self.last = Some(now);
        true
    }
}

static TRIM_CLOCK: std::sync::Mutex<TrimClock> = std::sync::Mutex::new(TrimClock {
    last: None,
    owed: false,
});

fn trim_when(due: impl FnOnce(&mut TrimClock, std::time::Instant) -> bool) {
    let now = std::time::Instant::now();
    let go = due(
        &mut TRIM_CLOCK
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner),
        now,
    );
    if go {
        trim_heap();
    }
}

/// [`trim_heap`], at most once per [`TRIM_EVERY`]: called on a busy
/// path (the parent after publishing, the checker after a batch). At
/// 10,000 checks the free memory that result batches leave behind between
/// glibc's own trims (which release only the heap's top) was 7 of the
/// parent's 36 MiB and 3 of the checker's 22 (bench/README.md); a trim
/// costs about a millisecond there. A request within [`TRIM_EVERY`] of
/// the last trim is owed: [`trim_heap_owed`] makes it later.
pub fn trim_heap_now_and_then() {
    trim_when(TrimClock::ask);
}

/// The trim [`trim_heap_now_and_then`] put off, once it is due: called
/// from a loop's periodic tick.
pub fn trim_heap_owed() {
    trim_when(TrimClock::owed_due);
}

/// Runs `f` on a thread of its own and returns what it returns (on this
/// thread if none can be started). For reading a configuration: glibc
/// gives a new thread an arena of its own, so the parse's temporaries (at
/// 10,000 real servers a peak of 44 MiB for a 10 MiB model) stay out of
/// the main heap. There they left the model and everything allocated
/// after it spread over pages that no trim could give back (the parent:
/// 40 MiB resident for 18 MiB live). The caller then copies the result
/// into the main heap in one piece (`Config::compact`) and drops the
/// original, whose arena frees whole.
pub fn apart<T: Send>(f: impl Fn() -> T + Sync) -> T {
    std::thread::scope(|s| {
        let spawned = std::thread::Builder::new()
            .name("load".into())
            // The main thread's size: the parser recurses into blocks.
            .stack_size(8 << 20)
            .spawn_scoped(s, &f);
        match spawned {
            Ok(h) => {
                let out = h.join();
                #[cfg(target_env = "gnu")]
                apart_ended();
                out.unwrap_or_else(|p| std::panic::resume_unwind(p))
            }
            Err(_) => f(),
        }
    })
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

pub(crate) fn page_size() -> usize {
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
    RELEASES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
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

/// Room left below the caller's frame: the frames of the calls made after
/// the stack pointer is read (this module's, the madvise wrapper's) and
/// the ABI's red zone lie there.
const STACK_MARGIN: usize = 16 << 10;

/// How far below that the pages are given back: more than start-up ever
/// went, and within the kernel's guard gap under the main stack.
const STACK_RELEASE: usize = 1 << 20;

/// An address in `main`'s frame (see [`note_main_stack`]); 0 until set.
static MAIN_STACK: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Called first thing in `main`: marks the main thread's stack, so that
/// [`release_stack_below_here`] acts only there.
#[inline(never)]
pub fn note_main_stack() {
    let marker = 0u8;
    let here = std::ptr::from_ref(std::hint::black_box(&marker)) as usize;
    MAIN_STACK.store(here, std::sync::atomic::Ordering::Relaxed);
}

/// Gives back the main thread's stack pages below the caller (less
/// [`STACK_MARGIN`]): start-up (decoding a configuration, the first
/// netlink dumps) went about 30 KiB deeper than a process's loop runs,
/// and those pages stayed resident in each of the four processes (issue
/// 18). Below the stack pointer nothing is live; the pages read as zeros
/// when next used. Nothing happens off the main thread's stack (a
/// thread's stack is a mapping of its own, in the mmap area, far from
/// the main stack). Returns whether it ran.
#[inline(never)]
pub fn release_stack_below_here() -> bool {
    let marker = 0u8;
    let here = std::ptr::from_ref(std::hint::black_box(&marker)) as usize;
    let top = MAIN_STACK.load(std::sync::atomic::Ordering::Relaxed);
    // On main's stack: below main's frame, within the stack's usual limit.
    if top == 0 || here >= top || top - here > 8 << 20 {
        return false;
    }
    release_below(here);
    true
}

/// Drops the pages of [STACK_RELEASE] below `here` less [STACK_MARGIN],
/// where `here` is an address in the caller's frame on the running stack.
fn release_below(here: usize) {
    let page = page_size();
    let Some(end) = here.checked_sub(STACK_MARGIN).map(|a| a & !(page - 1)) else {
        return;
    };
    let start = end.saturating_sub(STACK_RELEASE);
    // SAFETY: [start, end) lies below the running frame by STACK_MARGIN on
    // the running thread's stack: nothing there is live. What of it is not
    // mapped (the guard gap) madvise skips (ENOMEM, ignored). Dropped
    // pages read as zeros.
    unsafe {
        libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_DONTNEED);
    }
}

static RELEASES: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// How many times [`release_startup_pages`] has run in this process
/// without a debugger attached (tests of when it runs).
pub fn releases() -> usize {
    RELEASES.load(std::sync::atomic::Ordering::Relaxed)
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

/// A zero-filled buffer in an anonymous mapping of its own: its pages
/// become resident only where written, it never takes (or pins) heap
/// memory, and pages can be given back. The IPC frame buffers (4 MiB each)
/// are these: allocated with calloc after the configuration was loaded,
/// glibc served them from free heap chunks, zeroed them (all resident)
/// and kept the heap from being trimmed; 8 of the parent's 46 MiB at
/// 10,000 checks.
pub struct PageBuf {
    ptr: std::ptr::NonNull<u8>,
    len: usize,
}

// SAFETY: the mapping is owned by the value alone (like a Vec<u8>'s
// buffer); access goes through &self / &mut self.
unsafe impl Send for PageBuf {}
// SAFETY: as above; shared references only read.
unsafe impl Sync for PageBuf {}

impl PageBuf {
    /// `len` bytes of zeros (rounded up to pages by the kernel).
    pub fn new(len: usize) -> std::io::Result<Self> {
        // SAFETY: a new private anonymous mapping; no existing memory is
        // touched. MAP_NORESERVE: the pages are reserved when written.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len.max(1),
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(std::io::Error::last_os_error());
        }
        let ptr = std::ptr::NonNull::new(p.cast::<u8>())
            .ok_or_else(|| std::io::Error::from_raw_os_error(libc::ENOMEM))?;
        // Resident only where written also under THP "always", in a
        // process that did not call `no_huge_pages` (tests, tools).
        // SAFETY: the range is the mapping just made, owned by no one else;
        // MADV_NOHUGEPAGE only sets a flag on it. Refused (no THP in this
        // kernel), nothing changes.
        unsafe {
            libc::madvise(p, len.max(1), libc::MADV_NOHUGEPAGE);
        }
        Ok(Self { ptr, len })
    }

    /// Gives the pages after the first `keep` bytes (rounded up to a page)
    /// back to the kernel; they read as zeros again.
    pub fn release_after(&mut self, keep: usize) {
        let page = page_size();
        let from = keep.div_ceil(page).saturating_mul(page);
        if from >= self.len {
            return;
        }
        // SAFETY: the range lies inside our own private anonymous mapping
        // (from < len, page-aligned); &mut self means no one reads it
        // meanwhile, and zeros are a valid content for a byte buffer.
        unsafe {
            libc::madvise(
                self.ptr.as_ptr().add(from).cast(),
                self.len - from,
                libc::MADV_DONTNEED,
            );
        }
    }
}

/// Pages of the mapped range from `start` (page-aligned), `len` bytes
/// long, that are resident (mincore).
#[cfg(test)]
fn resident_pages_of(start: usize, len: usize) -> usize {
    let mut vec = vec![0u8; len.div_ceil(page_size())];
    // SAFETY: mincore only reads the page tables of the range (the
    // caller's own mapping) and writes a byte a page into vec.
    let r = unsafe { libc::mincore(start as *mut libc::c_void, len, vec.as_mut_ptr()) };
    assert_eq!(r, 0);
    vec.iter().filter(|&&v| v & 1 == 1).count()
}

#[cfg(test)]
impl PageBuf {
    /// Pages that are resident.
    pub(crate) fn resident_pages(&self) -> usize {
        resident_pages_of(self.ptr.as_ptr() as usize, self.len)
    }
}

impl std::ops::Deref for PageBuf {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        // SAFETY: ptr..ptr+len is our mapping, readable, initialised (zeros
        // or what was written through deref_mut).
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }
}

impl std::ops::DerefMut for PageBuf {
    fn deref_mut(&mut self) -> &mut [u8] {
        // SAFETY: as in deref, and &mut self makes the access exclusive.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }
}

impl Drop for PageBuf {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the mapping made in new; no slice of it
        // outlives self.
        unsafe {
            libc::munmap(self.ptr.as_ptr().cast(), self.len.max(1));
        }
    }
}

impl std::fmt::Debug for PageBuf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PageBuf").field("len", &self.len).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The value of the line starting `field` (e.g. "Rss:") for the
    /// mapping that holds `addr` (/proc/self/smaps).
    fn smaps_field_at(addr: usize, field: &str) -> Option<String> {
        let smaps = std::fs::read_to_string("/proc/self/smaps").ok()?;
        let mut inside = false;
        for line in smaps.lines() {
            let first = line.split_whitespace().next().unwrap_or("");
            if let Some((lo, hi)) = first.split_once('-')
                && let (Ok(lo), Ok(hi)) =
                    (usize::from_str_radix(lo, 16), usize::from_str_radix(hi, 16))
            {
                inside = (lo..hi).contains(&addr);
            } else if inside && let Some(v) = line.strip_prefix(field) {
                return Some(v.trim().to_string());
            }
        }
        None
    }

    /// Resident KiB of the mapping that holds `addr`.
    fn resident_kib_around(addr: usize) -> Option<usize> {
        smaps_field_at(addr, "Rss:")?
            .trim_end_matches(" kB")
            .trim()
            .parse()
            .ok()
    }

    /// Regression (issue 18): a trim asked for within `TRIM_EVERY` of the
    /// last one was dropped, and the memory freed then stayed resident
    /// until something asked again (for the IPVS worker, up to 30 s later).
    #[test]
    fn a_trim_asked_for_too_soon_is_owed_not_dropped() {
        let t0 = std::time::Instant::now();
        let mut c = TrimClock::default();
        assert!(!c.owed_due(t0), "nothing asked, nothing owed");
        assert!(c.ask(t0), "the first request trims");
        assert!(!c.owed_due(t0 + TRIM_EVERY), "nothing freed since");
        let soon = t0 + TRIM_EVERY / 2;
        assert!(!c.ask(soon), "too soon: owed");
        assert!(!c.owed_due(soon + TRIM_EVERY / 4), "still too soon");
        assert!(c.owed_due(t0 + TRIM_EVERY), "made once due");
        assert!(!c.owed_due(t0 + TRIM_EVERY * 3), "and only once");
        // Many requests in one period are one trim.
        let t1 = t0 + TRIM_EVERY * 4;
        assert!(c.ask(t1));
        assert!(!c.ask(t1) && !c.ask(t1 + TRIM_EVERY / 2));
        assert!(c.owed_due(t1 + TRIM_EVERY));
        assert!(!c.owed_due(t1 + TRIM_EVERY * 2));
    }

    /// What `apart`'s thread allocated, freed, is given back by the next
    /// trim: glibc's `malloc_trim` alone left a thread arena's top
    /// resident (the parent's: 260–570 KiB at 2,000 checks, issue 18).
    #[cfg(target_env = "gnu")]
    #[test]
    fn what_apart_freed_is_given_back_by_the_next_trim() {
        tune_heap();
        // Three MiB in small blocks, freed on this thread, as a decoded
        // configuration is once copied.
        let blocks = apart(|| (0..30_000).map(|i| format!("{i:>90}")).collect::<Vec<_>>());
        let addr = blocks[blocks.len() / 2].as_ptr() as usize;
        let before = resident_kib_around(addr).unwrap_or(0);
        assert!(before > 2048, "the arena held {before} KiB");
        drop(blocks);
        trim_heap();
        let after = resident_kib_around(addr).unwrap_or(0);
        assert!(after <= 32, "the arena kept {after} KiB resident");
    }

    /// Pages a deep call touched below a frame are given back, and the
    /// frame's own data is intact (on a thread of 4 MiB, whose stack's
    /// pages below are all its own).
    #[test]
    fn stack_pages_below_the_caller_are_given_back() {
        #[inline(never)]
        fn deep(n: usize) -> u8 {
            let mut block = [0u8; 4096];
            block[n % 4096] = 1;
            std::hint::black_box(&mut block);
            if n == 0 {
                block[0]
            } else {
                deep(n - 1).wrapping_add(block[1])
            }
        }
        fn resident(lo: usize, hi: usize) -> usize {
            resident_pages_of(lo, hi - lo) * page_size()
        }
        let t = std::thread::Builder::new().stack_size(4 << 20).spawn(|| {
            let mine = [7u8; 1024];
            let here = std::ptr::from_ref(std::hint::black_box(&mine)) as usize;
            let page = page_size();
            let hi = (here - STACK_MARGIN) & !(page - 1);
            let lo = hi - (512 << 10);
            std::hint::black_box(deep(150));
            let before = resident(lo, hi);
            assert!(before >= 400 << 10, "{before} bytes touched below");
            release_below(here);
            assert_eq!(resident(lo, hi), 0);
            assert!(mine.iter().all(|&b| b == 7));
            std::hint::black_box(deep(10));
        });
        t.unwrap().join().unwrap();
        // Off the main stack (this test's thread), nothing is done.
        assert!(!release_stack_below_here());
    }

    /// `apart` runs its function on another thread and hands back what
    /// it returns, or its panic. (What that does to the parent's heap is
    /// measured by checker_lab's `ten_thousand_checks_keep_the_parent_small`
    /// on the real daemon.)
    #[test]
    fn apart_runs_elsewhere_and_hands_back_the_result_or_the_panic() {
        let here = std::thread::current().id();
        let (there, name) = apart(|| {
            let t = std::thread::current();
            (t.id(), t.name().map(str::to_string))
        });
        assert_ne!(there, here);
        assert_eq!(name.as_deref(), Some("load"));
        let panicked =
            std::panic::catch_unwind(|| apart(|| -> u8 { panic!("in the load thread") }));
        assert!(panicked.is_err());
    }

    #[test]
    fn a_page_buffer_is_resident_where_written_and_gives_pages_back() {
        let mut b = PageBuf::new(4 << 20).unwrap();
        assert_eq!(b.len(), 4 << 20);
        assert_eq!(b.resident_pages(), 0, "nothing resident before use");
        // (Reading maps the kernel's shared zero page, which mincore
        // counts: residency is checked before that.)
        assert!(b.iter().step_by(4096).all(|&x| x == 0));
        b[..3 << 20].fill(7);
        let written = b.resident_pages();
        assert!(written >= 768, "{written} pages after writing 3 MiB");
        b.release_after(10_000);
        // Rounded up: the first three pages stay.
        assert_eq!(b.resident_pages(), 3);
        assert_eq!(b[12287], 7);
        assert_eq!(b[12288], 0);
        assert!(b[12288..].iter().all(|&x| x == 0));
        b.release_after(usize::MAX);
        assert_eq!(b[0], 7);
    }

    /// A frame buffer never gets huge pages (under THP "always" its first
    /// packet made 2 MiB resident), and the processes turn THP off.
    #[test]
    fn frame_buffers_and_the_processes_take_no_huge_pages() {
        let b = PageBuf::new(4 << 20).unwrap();
        let flags = smaps_field_at(b.as_ptr() as usize, "VmFlags:").unwrap();
        assert!(flags.split(' ').any(|f| f == "nh"), "flags {flags}");
        tune_heap();
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        // (THP_enabled is in the status since Linux 5.0.)
        if let Some(v) = status.lines().find_map(|l| l.strip_prefix("THP_enabled:")) {
            assert_eq!(v.trim(), "0");
        }
        // SAFETY: PR_GET_THP_DISABLE takes no pointer and returns the flag.
        assert_eq!(
            unsafe { libc::prctl(libc::PR_GET_THP_DISABLE, 0, 0, 0, 0) },
            1
        );
    }

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
