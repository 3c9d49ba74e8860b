//! `upkeepctl`: control and conversion client for upkeep.

#![forbid(unsafe_code)]

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use upkeep::checker::plugin::trial::Trial;
use upkeep::cli::print_diagnostics;
use upkeep::cli::upkeepctl::{Args, Command, MaintenanceAction, PluginCommand};
use upkeep::config::model::{PluginCheck, PluginGrants};
use upkeep::config::{self, LoadOptions, native};
use upkeep::control::status::WorkerState;
use upkeep::control::{self, Request, Response};

fn main() -> ExitCode {
    let args = Args::parse();
    match args.command {
        Command::Convert { file, config_id } => convert(&file, config_id),
        Command::Status { json } => status(&args.runtime_dir, json),
        Command::Reload => reload(&args.runtime_dir),
        Command::Reexec => reexec(&args.runtime_dir),
        Command::Maintenance { action, instances } => {
            maintenance(&args.runtime_dir, action, instances)
        }
        Command::Handover {
            instances,
            force,
            wait,
        } => handover(
            &args.runtime_dir,
            instances,
            force,
            Duration::from_secs(wait),
        ),
        Command::Watch { json, instance } => watch(&args.runtime_dir, json, instance.as_deref()),
        Command::Plugin(PluginCommand::Run {
            file,
            config,
            args,
            allow,
            memory,
            real_server,
            timeout,
            repeat,
            cache_dir,
            json,
        }) => {
            let settings =
                match plugin_settings(config.as_deref(), &args, &allow, memory, real_server) {
                    Ok(s) => s,
                    Err(e) => {
                        eprintln!("upkeepctl: {e}");
                        return ExitCode::from(2);
                    }
                };
            plugin_run(
                Trial {
                    file,
                    settings,
                    timeout: Duration::from_millis(timeout),
                    repeat,
                    cache_dir,
                    real_server,
                },
                json,
            )
        }
    }
}

/// `upkeepctl watch`: the daemon's events until it closes the stream (0
/// when it said it was stopping, 1 otherwise), Ctrl-C, or stdout closing
/// (0); 1 when refused, 2 when the daemon cannot be reached.
fn watch(runtime_dir: &Path, json: bool, instance: Option<&str>) -> ExitCode {
    use std::io::{BufRead, Write};
    use upkeep::control::watch::{Event, Kind, now_ms, utc};
    let (first, reader) = match control::watch(runtime_dir) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("upkeepctl: {e}");
            return ExitCode::from(2);
        }
    };
    if !matches!(first, Response::Watching { .. }) {
        return refused(&first);
    }
    let mut out = std::io::stdout().lock();
    let mut stopping = false;
    for line in reader.lines() {
        let Ok(line) = line else { break };
        let event: Event = match serde_json::from_str(&line) {
            Ok(e) => e,
            // From a newer daemon: shown as it came.
            Err(_) => {
                if writeln!(out, "{line}").and_then(|()| out.flush()).is_err() {
                    return ExitCode::SUCCESS;
                }
                continue;
            }
        };
        stopping |= event.kind == Kind::Stopping;
        if instance.is_some_and(|want| event.kind.instance().is_some_and(|i| i != want)) {
            continue;
        }
        let text = if json { line } else { event.human() };
        // stdout closed (a pipe's reader left): done, not an error.
        if writeln!(out, "{text}").and_then(|()| out.flush()).is_err() {
            return ExitCode::SUCCESS;
        }
    }
    let last = format!("{} the daemon closed the stream", utc(now_ms()));
    // JSON lines stay JSON on stdout: the last word goes to stderr.
    if json {
        eprintln!("upkeepctl: {last}");
    } else {
        let _ = writeln!(out, "{last}");
    }
    if stopping {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// The plugin table from `--config`, plus the command line's additions.
fn plugin_settings(
    config: Option<&Path>,
    args: &[String],
    allow: &[String],
    memory: Option<u32>,
    real_server: Option<std::net::SocketAddr>,
) -> Result<PluginCheck, String> {
    let mut s = match config {
        Some(p) => {
            let text = std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()))?;
            #[derive(serde::Deserialize)]
            #[serde(deny_unknown_fields)]
            struct Table {
                #[serde(default)]
                file: Option<String>,
                #[serde(flatten)]
                plugin: PluginTable,
            }
            #[derive(serde::Deserialize)]
            struct PluginTable {
                #[serde(default, with = "upkeep::config::values::ordered_pairs")]
                args: Vec<(String, String)>,
                #[serde(default)]
                memory_mib: Option<u32>,
                #[serde(default)]
                allow: upkeep::config::model::PluginGrants,
            }
            let t: Table = toml::from_str(&text).map_err(|e| format!("{}: {e}", p.display()))?;
            let _ = t.file;
            PluginCheck {
                file: String::new(),
                args: t.plugin.args,
                memory_mib: t
                    .plugin
                    .memory_mib
                    .unwrap_or(PluginCheck::DEFAULT_MEMORY_MIB),
                allow: t.plugin.allow,
            }
        }
        None => PluginCheck::default(),
    };
    for a in args {
        let (k, v) = a
            .split_once('=')
            .ok_or_else(|| format!("--arg '{a}': expected KEY=VALUE"))?;
        s.args.push((k.into(), v.into()));
    }
    for a in allow {
        let (kind, target) = a
            .split_once('=')
            .ok_or_else(|| format!("--allow '{a}': expected KIND=TARGET"))?;
        // `$REAL_SERVER` stands for --real-server's address, as in the
        // daemon; the grant is checked as it will be used.
        let checked = match real_server {
            None if target.contains(PluginGrants::REAL_SERVER) => {
                return Err(format!(
                    "--allow '{a}': $REAL_SERVER needs --real-server IP:PORT"
                ));
            }
            None => target.to_string(),
            Some(addr) => PluginGrants::substitute(kind, target, addr)
                .map_err(|why| format!("--allow '{a}': {why}"))?,
        };
        if let Some(why) = upkeep::config::validate::bad_grant(kind, &checked) {
            return Err(format!("--allow '{a}': {why}"));
        }
        let mut known = false;
        for (name, list) in s.allow.kinds_mut() {
            if name == kind {
                list.push(target.into());
                known = true;
            }
        }
        if !known {
            return Err(format!(
                "--allow '{a}': KIND is one of tcp, http, unix, file, process"
            ));
        }
    }
    if let Some(m) = memory {
        s.memory_mib = m;
    }
    if !(1..=PluginCheck::MAX_MEMORY_MIB).contains(&s.memory_mib) {
        return Err(format!(
            "memory {} MiB: expected 1 to {}",
            s.memory_mib,
            PluginCheck::MAX_MEMORY_MIB
        ));
    }
    Ok(s)
}

fn plugin_run(trial: Trial, json: bool) -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("upkeepctl: {e}");
            return ExitCode::from(2);
        }
    };
    upkeep::checker::plugin::install(upkeep::checker::plugin::wasm_host);
    let report = match runtime.block_on(upkeep::checker::plugin::trial::run(trial)) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("upkeepctl: {e}");
            return ExitCode::from(2);
        }
    };
    if json {
        match serde_json::to_string_pretty(&report) {
            Ok(t) => println!("{t}"),
            Err(e) => {
                eprintln!("upkeepctl: {e}");
                return ExitCode::from(2);
            }
        }
    } else {
        let verdict = if report.pass { "PASS" } else { "FAIL" };
        println!("{verdict} {}", report.message);
        for (name, value) in &report.metrics {
            println!("metric {name} = {value}");
        }
        if report.dropped_logs > 0 {
            println!("log lines dropped: {}", report.dropped_logs);
        }
        println!(
            "load {:.1} ms; {} run(s): instantiate p50 {:.1} us, call p50 {:.1} us, total p50 {:.1} us, p99 {:.1} us",
            report.load_us as f64 / 1000.0,
            report.runs,
            report.instantiate_us.p50,
            report.call_us.p50,
            report.total_us.p50,
            report.total_us.p99
        );
    }
    if report.pass {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

fn ask(dir: &Path, req: &Request) -> Result<Response, ExitCode> {
    control::request(dir, req, Duration::from_secs(40)).map_err(|e| {
        eprintln!("upkeepctl: {e}");
        ExitCode::from(2)
    })
}

fn status(dir: &Path, json: bool) -> ExitCode {
    let doc = match ask(dir, &Request::Status) {
        Ok(Response::Status(doc)) => doc,
        Ok(other) => return refused(&other),
        Err(code) => return code,
    };
    if json {
        return match serde_json::to_string_pretty(&doc) {
            Ok(t) => {
                println!("{t}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("upkeepctl: {e}");
                ExitCode::from(1)
            }
        };
    }
    print!("{}", upkeep::control::render::text(&doc));
    ExitCode::SUCCESS
}

fn reload(dir: &Path) -> ExitCode {
    match ask(dir, &Request::Reload) {
        Ok(Response::Reload {
            ok: true,
            generation,
            ..
        }) => {
            println!("reloaded (configuration generation {generation})");
            ExitCode::SUCCESS
        }
        Ok(Response::Reload {
            error, generation, ..
        }) => {
            eprintln!(
                "upkeepctl: reload failed; generation {generation} still running: {}",
                error.unwrap_or_default()
            );
            ExitCode::from(1)
        }
        Ok(other) => refused(&other),
        Err(code) => code,
    }
}

/// Asks for the re-exec and waits (bounded) until the new image runs:
/// every worker running, none of them one the old image had.
fn reexec(dir: &Path) -> ExitCode {
    let pids = |doc: &upkeep::control::status::StatusDoc| -> Vec<u32> {
        doc.workers.iter().filter_map(|w| w.pid).collect()
    };
    let old = match ask(dir, &Request::Status) {
        Ok(Response::Status(doc)) => pids(&doc),
        Ok(other) => return refused(&other),
        Err(code) => return code,
    };
    match ask(dir, &Request::Reexec) {
        Ok(Response::Reexec { pid }) => {
            let deadline = std::time::Instant::now() + Duration::from_secs(30);
            while std::time::Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(200));
                // Refused connections are expected while the image changes.
                if let Ok(Response::Status(doc)) =
                    control::request(dir, &Request::Status, Duration::from_secs(5))
                    && !doc.workers.is_empty()
                    && doc.workers.iter().all(|w| {
                        w.state == WorkerState::Running && !w.pid.is_some_and(|p| old.contains(&p))
                    })
                {
                    println!("re-executed (pid {pid})");
                    return ExitCode::SUCCESS;
                }
            }
            eprintln!("upkeepctl: upkeepd (pid {pid}) did not come back within 30 s");
            ExitCode::from(1)
        }
        Ok(other) => refused(&other),
        Err(code) => code,
    }
}

fn maintenance(dir: &Path, action: MaintenanceAction, instances: Vec<String>) -> ExitCode {
    let on = match action {
        MaintenanceAction::On => Some(true),
        MaintenanceAction::Off => Some(false),
        MaintenanceAction::Status if instances.is_empty() => None,
        MaintenanceAction::Status => {
            eprintln!("upkeepctl: `maintenance status` takes no instance names");
            return ExitCode::from(2);
        }
    };
    match ask(dir, &Request::Maintenance { on, instances }) {
        Ok(Response::Maintenance { instances }) if instances.is_empty() => {
            println!("no instance in maintenance");
            ExitCode::SUCCESS
        }
        Ok(Response::Maintenance { instances }) => {
            let names: Vec<&str> = instances.iter().map(String::as_str).collect();
            println!("in maintenance: {}", names.join(" "));
            ExitCode::SUCCESS
        }
        Ok(other) => refused(&other),
        Err(code) => code,
    }
}

/// Asks for the handover, then waits (bounded) until every instance named
/// in the answer is Backup with the handover complete (another router was
/// heard as Master).
fn handover(dir: &Path, instances: Vec<String>, force: bool, wait: Duration) -> ExitCode {
    let started = std::time::Instant::now();
    let targets = match ask(dir, &Request::Handover { instances, force }) {
        Ok(Response::Handover { instances }) => instances,
        Ok(other) => return refused(&other),
        Err(code) => return code,
    };
    let mut pending = targets.clone();
    while started.elapsed() < wait {
        std::thread::sleep(Duration::from_millis(20));
        let Ok(Response::Status(doc)) =
            control::request(dir, &Request::Status, Duration::from_secs(5))
        else {
            continue;
        };
        pending.retain(|name| {
            let done = doc.instances.iter().find(|i| &i.name == name).map(|i| {
                (
                    i.state == upkeep::vrrp::fsm::State::Backup && !i.handover,
                    i.master,
                )
            });
            match done {
                Some((true, master)) => {
                    let to = master.map_or_else(|| "the peer".to_string(), |m| m.to_string());
                    println!(
                        "{name}: handed over to {to} in {:.2} s",
                        started.elapsed().as_secs_f64()
                    );
                    false
                }
                _ => true,
            }
        });
        if pending.is_empty() {
            return ExitCode::SUCCESS;
        }
    }
    eprintln!(
        "upkeepctl: no other Master heard within {} s for: {}",
        wait.as_secs(),
        pending.join(" ")
    );
    ExitCode::from(1)
}

fn refused(r: &Response) -> ExitCode {
    match r {
        Response::Error { message } => eprintln!("upkeepctl: {message}"),
        _ => eprintln!("upkeepctl: unexpected response from the daemon"),
    }
    ExitCode::from(1)
}

fn convert(file: &std::path::Path, config_id: Option<String>) -> ExitCode {
    let loaded = config::load(file, &LoadOptions { config_id });
    print_diagnostics(&loaded.diagnostics);
    if !loaded.is_ok() {
        eprintln!(
            "upkeepctl: {}: not converted because of the errors above",
            file.display()
        );
        return ExitCode::from(1);
    }
    let dropped = loaded.diagnostics.dropped_keywords();
    match native::to_toml(&loaded.config, &file.display().to_string(), &dropped) {
        Ok(text) => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("upkeepctl: cannot write TOML: {e}");
            ExitCode::from(1)
        }
    }
}
