//! `upkeepctl plugin run`: one plugin, run outside the daemon with a given
//! grant set, so that plugin authors can test without a configuration.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;

use super::grants::Grants;
use super::{Capacity, PluginProbe, PluginRun};
use crate::config::model::PluginCheck;

pub struct Trial {
    pub file: PathBuf,
    pub settings: PluginCheck,
    pub timeout: Duration,
    /// Runs after the first (for timing); each is a fresh instance.
    pub repeat: u32,
    /// Precompiled artefacts (created 0700 when missing).
    pub cache_dir: Option<PathBuf>,
    /// Run as this real server's checker (`host.real-server()`, and
    /// `$REAL_SERVER` in grants and args), as the daemon does.
    pub real_server: Option<std::net::SocketAddr>,
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub pass: bool,
    pub message: String,
    pub metrics: Vec<(String, f64)>,
    pub dropped_logs: u32,
    /// Compiling (or loading) the component.
    pub load_us: u64,
    pub runs: u32,
    /// Median and 99th percentile over all runs.
    pub instantiate_us: Percentiles,
    pub call_us: Percentiles,
    pub total_us: Percentiles,
}

#[derive(Debug, Serialize)]
pub struct Percentiles {
    pub p50: f64,
    pub p99: f64,
}

fn percentiles(mut v: Vec<Duration>) -> Percentiles {
    v.sort_unstable();
    let at = |q: f64| {
        let i = ((v.len().saturating_sub(1)) as f64 * q).round() as usize;
        v.get(i).map_or(0.0, |d| d.as_secs_f64() * 1e6)
    };
    Percentiles {
        p50: at(0.5),
        p99: at(0.99),
    }
}

/// `DIR/trial.key`: 32 random bytes, made on first use (mode 0600).
fn trial_key(dir: &std::path::Path) -> Result<Vec<u8>, String> {
    use std::io::{Read, Write};
    use std::os::unix::fs::OpenOptionsExt;
    let path = dir.join("trial.key");
    if let Ok(k) = crate::checker::fileread::read_regular(&path, 64, true)
        && k.len() == 32
    {
        return Ok(k);
    }
    let mut key = vec![0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut key))
        .map_err(|e| format!("random key: {e}"))?;
    let _ = std::fs::remove_file(&path);
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&path)
        .and_then(|mut f| f.write_all(&key))
        .map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(key)
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// Loads and runs the plugin `1 + repeat` times; the report describes the
/// last run's outcome and the timing of all.
pub async fn run(t: Trial) -> Result<Report, String> {
    let host = super::new_host(
        Capacity {
            instances: 2,
            memory_mib: t.settings.memory_mib,
        },
        t.cache_dir.clone(),
    )?;
    if let Some(d) = &t.cache_dir {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(d)
            .map_err(|e| format!("{}: {e}", d.display()))?;
        // A trial's own key, beside its artefacts (the daemon's comes from
        // the parent instead).
        super::set_cache_key(trial_key(d)?);
    }
    let (args, allow) = match t.real_server {
        Some(addr) => (
            t.settings.args_for_real_server(addr),
            t.settings.allow.for_real_server(addr),
        ),
        None => (t.settings.args.clone(), t.settings.allow.clone()),
    };
    let probe = PluginProbe {
        name: "trial".into(),
        file: t.file.clone(),
        args,
        memory_mib: t.settings.memory_mib,
        grants: Arc::new(Grants::from_config(&allow)),
        real_server: t.real_server,
    };
    let started = Instant::now();
    host.preload(&t.file).await?;
    let load = started.elapsed();
    let mut last: Option<PluginRun> = None;
    let (mut inst, mut call, mut total) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..=t.repeat {
        let r = host.run(&probe, t.timeout).await;
        inst.push(r.instantiate);
        call.push(r.call);
        total.push(r.instantiate + r.call);
        last = Some(r);
    }
    let last = last.ok_or("no run")?;
    Ok(Report {
        pass: last.outcome.ok,
        message: last.outcome.message,
        metrics: last.metrics,
        dropped_logs: last.dropped_logs,
        load_us: micros(load),
        runs: t.repeat + 1,
        instantiate_us: percentiles(inst),
        call_us: percentiles(call),
        total_us: percentiles(total),
    })
}
