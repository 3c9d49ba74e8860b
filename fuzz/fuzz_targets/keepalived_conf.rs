//! keepalived.conf syntax: the reader must not panic on any input, and a
//! configuration that loads without errors must survive conversion to native
//! TOML unchanged (`upkeepctl convert` relies on this).
#![no_main]

use libfuzzer_sys::fuzz_target;
use upkeep::config::{self, Format, LoadOptions};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    // `include` is refused for in-memory input, so this never touches files.
    let opts = LoadOptions {
        config_id: Some("a".into()),
    };
    let loaded = config::load_str("fuzz.conf", &text, Format::Keepalived, &opts);
    if !loaded.is_ok() {
        return;
    }
    let toml = config::native::to_toml(&loaded.config, "fuzz", &[]).unwrap_or_else(|e| {
        panic!(
            "to_toml failed on a valid config: {e}\n{:#?}",
            loaded.config
        )
    });
    let back = config::load_str("fuzz.toml", &toml, Format::Toml, &opts);
    assert!(
        back.is_ok(),
        "converted TOML does not load:\n{:#?}\n--- TOML ---\n{toml}",
        back.diagnostics
    );
    assert!(
        back.config == loaded.config,
        "round trip changed the config\n--- TOML ---\n{toml}\n--- original ---\n{:#?}\n--- reloaded ---\n{:#?}",
        loaded.config,
        back.config
    );
});
