//! Native TOML: the reader (serde plus the span-keeping second parse and
//! validation) must not panic on any text.
#![no_main]

use libfuzzer_sys::fuzz_target;
use upkeep::config::{self, Format, LoadOptions};

fuzz_target!(|text: &str| {
    let opts = LoadOptions {
        config_id: Some("a".into()),
    };
    let _ = config::load_str("fuzz.toml", text, Format::Toml, &opts);
});
