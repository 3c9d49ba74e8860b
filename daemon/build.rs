//! Links the functions an idle upkeepd runs together at the start of its
//! code (daemon/hot-code.ld, made by bench/hot_code.py): every process maps
//! the one executable, and at idle it maps the pages it runs and the 64 KiB
//! the kernel maps around each fault. With the idle code spread over the
//! 9 MiB of `.text`, that was most of the daemon's PSS at the seeds.
fn main() {
    println!("cargo:rerun-if-changed=hot-code.ld");
    // GNU ld (the musl build) and lld (the glibc build) read it; upkeepd
    // is Linux only.
    if std::env::var("CARGO_CFG_TARGET_OS").is_ok_and(|os| os == "linux") {
        // The directory of this build, not the one this script was
        // compiled in: a target directory shared by two checkouts reuses
        // the compiled script, and linked against the other's file (or
        // failed when that checkout was gone).
        let dir = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| ".".into());
        println!("cargo:rustc-link-arg-bin=upkeepd=-Wl,-T,{dir}/hot-code.ld");
    }
}
