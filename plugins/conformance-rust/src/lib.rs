//! The conformance plugin: exercises every host import as its arguments say,
//! so that the host's tests can hold the Rust, C and Python versions to the
//! same outcomes. The behaviour is specified in plugins/README.md.

use upkeep_plugin_sdk::{CheckError, HostError, Level, Metric, Outcome, Request, host};

/// A probe's part of the message, its metric, and whether it is healthy.
type Probe = (String, Option<(&'static str, f64)>, bool);

fn check(req: Request) -> Result<Outcome, CheckError> {
    host::log(Level::Debug, "conformance start");
    let mut parts: Vec<String> = Vec::new();
    let mut metrics: Vec<Metric> = Vec::new();
    let mut ok = true;
    let mut metric = |name: &str, value: f64| {
        metrics.push(Metric {
            name: name.into(),
            value,
        })
    };
    for (key, value) in &req.args {
        // Ok(Some((part, metric, ok))) for a probe; Err for a failed host call.
        let probe: Result<Option<Probe>, HostError> = match key.as_str() {
            "http" => host::http_get(value, &[]).map(|r| {
                Some((
                    r.status.to_string(),
                    Some(("http.status", f64::from(r.status))),
                    r.status == 200,
                ))
            }),
            "tcp" => tcp(value, &req),
            "real-server" => match upkeep_plugin_sdk::real_server() {
                None => Ok(Some(("none".into(), None, false))),
                Some(addr) => tcp(&addr.to_string(), &req),
            },
            "unix" => host::unix_exchange(value, b"show info\n").map(|got| {
                let n = got.len();
                Some((format!("{n}B"), Some(("unix.bytes", n as f64)), n >= 1))
            }),
            "file" => host::read_file(value).map(|got| {
                let n = got.len();
                Some((format!("{n}B"), Some(("file.bytes", n as f64)), true))
            }),
            "process" => host::process_count(value)
                .map(|n| Some((n.to_string(), Some(("process.count", f64::from(n))), n >= 1))),
            "tcp-send" => Ok(None),
            "log" => {
                // Digits only: Rust's parse would also take a leading '+'.
                let n = value
                    .bytes()
                    .all(|b| b.is_ascii_digit())
                    .then(|| value.parse::<u32>().ok())
                    .flatten()
                    .ok_or_else(|| {
                        CheckError::BadConfig(format!("log wants a count, not {value}"))
                    })?;
                for i in 0..n {
                    host::log(Level::Info, &format!("line {i}"));
                }
                Ok(Some((n.to_string(), None, true)))
            }
            "spin" => spin(),
            "grow" => grow(),
            "trap" => std::process::abort(),
            other => return Err(CheckError::BadConfig(format!("unknown arg {other}"))),
        };
        match probe {
            Ok(None) => {}
            Ok(Some((part, m, good))) => {
                parts.push(format!("{key}={part}"));
                if let Some((name, v)) = m {
                    metric(name, v);
                }
                ok &= good;
            }
            Err(e) => {
                parts.push(format!("{key}=error:{}", e.kind()));
                ok = false;
            }
        }
    }
    let first = host::monotonic_now();
    let second = host::monotonic_now();
    if second < first {
        return Err(CheckError::Failed("clock went backwards".into()));
    }
    metric("args", req.args.len() as f64);
    Ok(Outcome {
        pass: ok,
        message: parts.join(" "),
        metrics,
    })
}

/// Connects to `address`, sends `tcp-send` (default `PING\n`) and reads up
/// to 256 bytes; healthy on at least one.
fn tcp(address: &str, req: &Request) -> Result<Option<Probe>, HostError> {
    let send = req
        .args
        .iter()
        .find(|(k, _)| k == "tcp-send")
        .map_or(b"PING\n".to_vec(), |(_, v)| v.as_bytes().to_vec());
    let conn = host::tcp_connect(address)?;
    conn.send(&send)?;
    let got = conn.receive(256)?;
    let n = got.len();
    Ok(Some((
        format!("{n}B"),
        Some(("tcp.bytes", n as f64)),
        n >= 1,
    )))
}

fn spin() -> ! {
    let mut n = 0u64;
    loop {
        n = std::hint::black_box(n.wrapping_add(1));
    }
}

fn grow() -> ! {
    // Keeps every block and touches it; failing to allocate aborts (a trap).
    let mut kept: Vec<Vec<u8>> = Vec::new();
    loop {
        kept.push(vec![1u8; 1 << 20]);
        std::hint::black_box(&kept);
    }
}

upkeep_plugin_sdk::check!(check);
