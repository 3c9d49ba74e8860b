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
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/hot-code.ld");
        println!("cargo:rustc-link-arg-bin=upkeepd=-Wl,-T,{script}");
    }
}
