//! The plugin host of a build without the `plugins` feature (the fuzz
//! targets link the daemon library without wasmtime). It cannot be
//! created, so every plugin check fails with the reason.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{Capacity, PluginProbe, PluginRun};

pub struct PluginHost {
    never: std::convert::Infallible,
}

impl PluginHost {
    pub fn new(_capacity: Capacity, _cache_dir: Option<PathBuf>) -> Result<Self, String> {
        Err("this upkeep was built without WASM plugin support".into())
    }

    pub fn capacity(&self) -> Capacity {
        match self.never {}
    }

    pub fn forget(&self) {
        match self.never {}
    }

    pub async fn preload(&self, _file: &Path) -> Result<(), String> {
        match self.never {}
    }

    pub async fn run(&self, _probe: &PluginProbe, _timeout: Duration) -> PluginRun {
        match self.never {}
    }
}
