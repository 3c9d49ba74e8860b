//! upkeep check plugin for HAProxy, through its stats socket.
//!
//! Arguments:
//! - `socket` (required): the stats socket's path (grant it with
//!   `allow.unix`). `show info` must answer: HAProxy is up.
//! - `backend` (optional): a backend (or `listen` section) whose servers
//!   are counted from `show stat`; a server counts as up when its status
//!   starts with `UP` (`UP`, `UP 1/3` while going down).
//! - `min_up` (default 1): with `backend`, the check passes when at least
//!   this many of its servers are up.
//!
//! An unreachable socket or a missing backend is a failed check (HAProxy is
//! down or not serving), not a plugin error. Metrics: `uptime_sec`,
//! `curr_conns`, `max_conn`, `idle_pct` (from `show info`, when present)
//! and, with `backend`, `servers_up` and `servers_total`.
//!
//! The parsing and the decision are pure functions of the socket's answers
//! (`evaluate` takes the exchange as a closure), so the unit tests run them
//! on the host without a WASM runtime.

use upkeep_plugin_sdk::{CheckError, HostError, Outcome, Request};

const KNOWN_ARGS: [&str; 3] = ["socket", "backend", "min_up"];

/// Metrics taken from `show info`: (field, metric name).
const INFO_METRICS: [(&str, &str); 4] = [
    ("Uptime_sec", "uptime_sec"),
    ("CurrConns", "curr_conns"),
    ("Maxconn", "max_conn"),
    ("Idle_pct", "idle_pct"),
];

/// Most non-UP servers named in a message.
const NAMED_SERVERS: usize = 8;

fn check(req: Request) -> Result<Outcome, CheckError> {
    evaluate(&req, |path, request| {
        upkeep_plugin_sdk::unix_exchange(path, request)
    })
}

upkeep_plugin_sdk::check!(check);

/// The check, with the stats socket exchange given as `exchange`.
pub fn evaluate(
    req: &Request,
    mut exchange: impl FnMut(&str, &[u8]) -> Result<Vec<u8>, HostError>,
) -> Result<Outcome, CheckError> {
    if let Some((k, _)) = req
        .args
        .iter()
        .find(|(k, _)| !KNOWN_ARGS.contains(&k.as_str()))
    {
        return Err(CheckError::BadConfig(format!(
            "unknown argument {k} (expected {})",
            KNOWN_ARGS.join(", ")
        )));
    }
    let socket = req.required("socket")?;
    let backend = req.arg("backend").filter(|b| !b.is_empty());
    let min_up: u32 = req.arg_or("min_up", 1)?;

    let info = match ask(&mut exchange, socket, "show info")? {
        Ok(text) => text,
        Err(why) => return Ok(Outcome::verdict(false, why)),
    };
    let info = match parse_info(&info) {
        Ok(i) => i,
        Err(why) => {
            return Ok(Outcome::verdict(
                false,
                format!("haproxy at {socket}: {why}"),
            ));
        }
    };
    let mut metrics: Vec<(&str, f64)> = INFO_METRICS
        .iter()
        .filter_map(|(field, name)| Some((*name, info.number(field)?)))
        .collect();
    let up_for = info.get("Uptime").unwrap_or("");
    let version = info.get("Version").unwrap_or("?");

    let Some(backend) = backend else {
        let mut msg = format!("haproxy {version} answers");
        if !up_for.is_empty() {
            msg.push_str(&format!(", up {up_for}"));
        }
        if let Some(c) = info.number("CurrConns") {
            msg.push_str(&format!(", {c} connections"));
        }
        return Ok(with_metrics(Outcome::verdict(true, msg), &metrics));
    };

    let stat = match ask(&mut exchange, socket, "show stat")? {
        Ok(text) => text,
        Err(why) => return Ok(with_metrics(Outcome::verdict(false, why), &metrics)),
    };
    let summary = match backend_servers(&stat, backend) {
        Ok(Some(s)) => s,
        Ok(None) => {
            return Ok(with_metrics(
                Outcome::verdict(false, format!("no backend {backend}")),
                &metrics,
            ));
        }
        Err(why) => {
            return Ok(with_metrics(
                Outcome::verdict(false, format!("haproxy at {socket}: {why}")),
                &metrics,
            ));
        }
    };
    metrics.push(("servers_up", f64::from(summary.up)));
    metrics.push(("servers_total", f64::from(summary.total())));
    let pass = summary.up >= min_up;
    let msg = format!(
        "backend {backend}: {}/{} servers up (min {min_up}){}",
        summary.up,
        summary.total(),
        summary.not_up_text()
    );
    Ok(with_metrics(Outcome::verdict(pass, msg), &metrics))
}

fn with_metrics(mut o: Outcome, metrics: &[(&str, f64)]) -> Outcome {
    for (name, v) in metrics {
        o = o.metric(*name, *v);
    }
    o
}

/// Sends `command` to the stats socket. `Ok(Err(why))` is a failed check
/// (HAProxy unreachable or not answering); `Err` a configuration error.
fn ask(
    exchange: &mut impl FnMut(&str, &[u8]) -> Result<Vec<u8>, HostError>,
    socket: &str,
    command: &str,
) -> Result<Result<String, String>, CheckError> {
    match exchange(socket, format!("{command}\n").as_bytes()) {
        Ok(bytes) => Ok(Ok(String::from_utf8_lossy(&bytes).into_owned())),
        Err(HostError::Denied(t)) => Err(CheckError::BadConfig(format!(
            "socket {t} is not granted (add it to allow.unix)"
        ))),
        Err(HostError::Invalid(e)) => Err(CheckError::BadConfig(format!("socket {socket}: {e}"))),
        Err(HostError::Io(e)) => Ok(Err(format!(
            "haproxy stats socket {socket} unreachable: {e}"
        ))),
        Err(HostError::TimedOut) => Ok(Err(format!(
            "haproxy stats socket {socket}: no answer to '{command}' in time"
        ))),
        Err(HostError::TooLarge(n)) => Ok(Err(format!(
            "haproxy stats socket {socket}: answer to '{command}' larger than {n} bytes"
        ))),
    }
}

/// The `Key: value` lines of `show info`.
#[derive(Debug, Default, PartialEq)]
pub struct Info {
    pub fields: Vec<(String, String)>,
}

impl Info {
    pub fn get(&self, key: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// A field as a finite number.
    pub fn number(&self, key: &str) -> Option<f64> {
        self.get(key)?.parse::<f64>().ok().filter(|v| v.is_finite())
    }
}

/// Parses the answer to `show info`. An answer without the fields HAProxy
/// always sends (an error text, an empty answer) is refused with its first
/// line.
pub fn parse_info(text: &str) -> Result<Info, String> {
    let fields: Vec<(String, String)> = text
        .lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .filter(|(k, _)| !k.is_empty())
        .collect();
    let info = Info { fields };
    if ["Name", "Version", "Pid", "Uptime_sec"]
        .iter()
        .any(|k| info.get(k).is_some())
    {
        Ok(info)
    } else {
        Err(format!(
            "unexpected answer to 'show info': {}",
            first_line(text)
        ))
    }
}

fn first_line(text: &str) -> String {
    let line = text.lines().map(str::trim).find(|l| !l.is_empty());
    match line {
        None => "(empty)".into(),
        Some(l) if l.chars().count() > 120 => {
            format!("'{}…'", l.chars().take(120).collect::<String>())
        }
        Some(l) => format!("'{l}'"),
    }
}

/// One backend's servers, from `show stat`.
#[derive(Debug, Default, PartialEq)]
pub struct Backend {
    pub up: u32,
    /// (server, status) of each server that is not up.
    pub not_up: Vec<(String, String)>,
}

impl Backend {
    pub fn total(&self) -> u32 {
        self.up
            .saturating_add(u32::try_from(self.not_up.len()).unwrap_or(u32::MAX))
    }

    fn not_up_text(&self) -> String {
        if self.not_up.is_empty() {
            return String::new();
        }
        let mut parts: Vec<String> = self
            .not_up
            .iter()
            .take(NAMED_SERVERS)
            .map(|(s, st)| format!("{s} {}", if st.is_empty() { "?" } else { st }))
            .collect();
        if self.not_up.len() > NAMED_SERVERS {
            parts.push(format!("{} more", self.not_up.len() - NAMED_SERVERS));
        }
        format!("; not up: {}", parts.join(", "))
    }
}

/// HAProxy's proxy types in the `type` column.
const TYPE_BACKEND: &str = "1";
const TYPE_SERVER: &str = "2";

/// The servers of `backend` in the answer to `show stat` (CSV whose header
/// line starts with `# pxname,svname,`). `Ok(None)` when there is no such
/// backend (a frontend of that name is not one); `Err` when the answer is
/// not the CSV.
pub fn backend_servers(csv: &str, backend: &str) -> Result<Option<Backend>, String> {
    let mut lines = csv.lines().map(|l| l.trim_end_matches('\r'));
    let header = lines
        .by_ref()
        .find(|l| !l.trim().is_empty())
        .and_then(|l| l.strip_prefix('#'))
        .ok_or_else(|| format!("unexpected answer to 'show stat': {}", first_line(csv)))?;
    let columns = split_csv(header.trim_start());
    let col = |name: &str| columns.iter().position(|c| c.trim() == name);
    let (Some(px), Some(sv), Some(status)) = (col("pxname"), col("svname"), col("status")) else {
        return Err(format!(
            "'show stat' lacks the pxname, svname or status column: {}",
            first_line(header)
        ));
    };
    let kind = col("type");
    let mut found = false;
    let mut b = Backend::default();
    for line in lines.filter(|l| !l.trim().is_empty() && !l.starts_with('#')) {
        let row = split_csv(line);
        if row.get(px).map(String::as_str) != Some(backend) {
            continue;
        }
        let Some(name) = row.get(sv) else { continue };
        // The type column when present (a server may be named BACKEND);
        // the pseudo-server names otherwise.
        let (is_backend, is_server) = match kind.and_then(|k| row.get(k)) {
            Some(t) if !t.is_empty() => (t == TYPE_BACKEND, t == TYPE_SERVER),
            _ => (name == "BACKEND", name != "BACKEND" && name != "FRONTEND"),
        };
        if is_backend {
            found = true;
        }
        if is_server {
            found = true;
            let st = row.get(status).map_or("", |s| s.trim());
            if st.starts_with("UP") {
                b.up = b.up.saturating_add(1);
            } else {
                b.not_up.push((name.clone(), st.to_string()));
            }
        }
    }
    Ok(found.then_some(b))
}

/// Splits one CSV line. HAProxy quotes a field holding a comma or a quote
/// ("..." with "" for a quote); an unterminated quote runs to the end.
pub fn split_csv(line: &str) -> Vec<String> {
    let mut fields = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            ('"', true) => quoted = false,
            ('"', false) if cur.is_empty() => quoted = true,
            (',', false) => fields.push(std::mem::take(&mut cur)),
            (c, _) => cur.push(c),
        }
    }
    fields.push(cur);
    fields
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    const INFO: &str = "Name: HAProxy\nVersion: 2.6.12-1+deb12u4\nRelease_date: 2026/10/17\n\
        Nbthread: 2\nPid: 31060\nUptime: 0d 0h00m01s\nUptime_sec: 1\nMaxconn: 9985\n\
        CurrConns: 3\nIdle_pct: 100\nnode: vm\nUnstoppable Jobs: 0\nBuild info: 2.6.12\n\n";

    const HEADER: &str = "# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,wredis,status,weight,act,bck,chkfail,chkdown,lastchg,downtime,qlimit,pid,iid,sid,throttle,lbtot,tracked,type,rate,rate_lim,rate_max,check_status,check_code,check_duration,hrsp_1xx,hrsp_2xx,hrsp_3xx,hrsp_4xx,hrsp_5xx,hrsp_other,hanafail,req_rate,req_rate_max,req_tot,cli_abrt,srv_abrt,comp_in,comp_out,comp_byp,comp_rsp,lastsess,last_chk,last_agt,qtime,ctime,rtime,ttime,agent_status,agent_code,agent_duration,check_desc,agent_desc,check_rise,check_fall,check_health,agent_rise,agent_fall,agent_health,addr,cookie,mode,algo,";

    /// A row of HEADER's shape: pxname, svname, status, type.
    fn row(px: &str, sv: &str, status: &str, kind: u8) -> String {
        let mut f = vec![String::new(); 77];
        f[0] = px.into();
        f[1] = sv.into();
        f[17] = status.into();
        f[32] = kind.to_string();
        f[56] = "\"Connection refused, errno 111\"".into();
        f.join(",")
    }

    fn stat() -> String {
        [
            HEADER.to_string(),
            row("fe", "FRONTEND", "OPEN", 0),
            row("web", "s1", "UP", 2),
            row("web", "s2", "DOWN", 2),
            row("web", "s3", "UP 1/3", 2),
            row("web", "s4", "MAINT", 2),
            row("web", "s5", "no check", 2),
            row("web", "BACKEND", "UP", 1),
            row("empty", "BACKEND", "DOWN", 1),
            row("only_fe", "FRONTEND", "OPEN", 0),
            String::new(),
            String::new(),
        ]
        .join("\n")
    }

    fn req(args: &[(&str, &str)]) -> Request {
        Request {
            name: "chk".into(),
            args: args
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            timeout_ms: 1000,
        }
    }

    /// A fake stats socket answering `show info` and `show stat`.
    fn fake(
        info: &'static str,
        stat: String,
    ) -> impl FnMut(&str, &[u8]) -> Result<Vec<u8>, HostError> {
        move |path, cmd| {
            assert_eq!(path, "/run/hap.sock");
            match cmd {
                b"show info\n" => Ok(info.as_bytes().to_vec()),
                b"show stat\n" => Ok(stat.as_bytes().to_vec()),
                other => panic!("unexpected command {other:?}"),
            }
        }
    }

    fn metric(o: &Outcome, name: &str) -> Option<f64> {
        o.metrics.iter().find(|m| m.name == name).map(|m| m.value)
    }

    #[test]
    fn info_fields_and_numbers() {
        let i = parse_info(INFO).unwrap();
        assert_eq!(i.get("Name"), Some("HAProxy"));
        assert_eq!(i.get("Uptime"), Some("0d 0h00m01s"));
        assert_eq!(i.number("Uptime_sec"), Some(1.0));
        assert_eq!(i.number("CurrConns"), Some(3.0));
        assert_eq!(i.number("node"), None);
        assert_eq!(i.get("Build info"), Some("2.6.12"));
    }

    #[test]
    fn info_refuses_what_is_not_show_info() {
        for bad in [
            "",
            "\n\n",
            "Unknown command, but maybe one of the following ones is a better match:\n  help : x\n",
            "Permission denied\n",
            "\u{0}\u{1}garbage: \u{ff}",
        ] {
            let e = parse_info(bad).unwrap_err();
            assert!(e.starts_with("unexpected answer"), "{bad:?}: {e}");
        }
        assert!(parse_info("").unwrap_err().contains("(empty)"));
    }

    #[test]
    fn counts_the_servers_of_a_backend() {
        let b = backend_servers(&stat(), "web").unwrap().unwrap();
        assert_eq!(b.up, 2);
        assert_eq!(b.total(), 5);
        assert_eq!(
            b.not_up,
            vec![
                ("s2".to_string(), "DOWN".to_string()),
                ("s4".into(), "MAINT".into()),
                ("s5".into(), "no check".into()),
            ]
        );
        let e = backend_servers(&stat(), "empty").unwrap().unwrap();
        assert_eq!((e.up, e.total()), (0, 0));
        assert_eq!(backend_servers(&stat(), "only_fe").unwrap(), None);
        assert_eq!(backend_servers(&stat(), "nope").unwrap(), None);
        assert_eq!(backend_servers(&stat(), "fe").unwrap(), None);
    }

    #[test]
    fn without_a_type_column_the_pseudo_servers_are_skipped_by_name() {
        let csv =
            "# pxname,svname,status\nweb,FRONTEND,OPEN\nweb,a,UP\nweb,b,DOWN\nweb,BACKEND,UP\n";
        let b = backend_servers(csv, "web").unwrap().unwrap();
        assert_eq!((b.up, b.total()), (1, 2));
        // Columns found by name, wherever they are.
        let csv = "# status,svname,pxname\r\nUP,a,web\r\nUP,b,web\r\nDOWN,c,other\r\n";
        let b = backend_servers(csv, "web").unwrap().unwrap();
        assert_eq!((b.up, b.total()), (2, 2));
    }

    #[test]
    fn stat_refuses_what_is_not_the_csv() {
        for bad in [
            "",
            "Unknown command\n",
            "pxname,svname,status\nweb,a,UP\n",
            "# a,b,c\nweb,a,UP\n",
        ] {
            assert!(backend_servers(bad, "web").is_err(), "{bad:?}");
        }
        // Short and ragged rows are skipped, not a panic.
        let csv = "# pxname,svname,qcur,status\nweb\nweb,a\nweb,b,0\nweb,c,0,UP,1,2,3\n\"web,d\n";
        let b = backend_servers(csv, "web").unwrap().unwrap();
        assert_eq!(b.up, 1);
        assert_eq!(
            b.not_up,
            vec![("a".into(), String::new()), ("b".into(), String::new())]
        );
    }

    #[test]
    fn csv_quotes() {
        assert_eq!(split_csv("a,,b"), vec!["a", "", "b"]);
        assert_eq!(split_csv("\"x, y\",z"), vec!["x, y", "z"]);
        assert_eq!(split_csv("\"say \"\"hi\"\"\",1"), vec!["say \"hi\"", "1"]);
        assert_eq!(split_csv("\"open"), vec!["open"]);
        assert_eq!(split_csv("a\"b,c"), vec!["a\"b", "c"]);
        assert_eq!(split_csv(""), vec![""]);
    }

    #[test]
    fn passes_while_enough_servers_are_up() {
        let o = evaluate(
            &req(&[("socket", "/run/hap.sock"), ("backend", "web")]),
            fake(INFO, stat()),
        )
        .unwrap();
        assert!(o.pass, "{}", o.message);
        assert_eq!(
            o.message,
            "backend web: 2/5 servers up (min 1); not up: s2 DOWN, s4 MAINT, s5 no check"
        );
        assert_eq!(metric(&o, "servers_up"), Some(2.0));
        assert_eq!(metric(&o, "servers_total"), Some(5.0));
        assert_eq!(metric(&o, "uptime_sec"), Some(1.0));
        assert_eq!(metric(&o, "curr_conns"), Some(3.0));

        let o = evaluate(
            &req(&[
                ("socket", "/run/hap.sock"),
                ("backend", "web"),
                ("min_up", "3"),
            ]),
            fake(INFO, stat()),
        )
        .unwrap();
        assert!(!o.pass);
        assert!(
            o.message.contains("2/5 servers up (min 3)"),
            "{}",
            o.message
        );
    }

    #[test]
    fn without_a_backend_only_show_info_is_asked() {
        let mut asked = Vec::new();
        let o = evaluate(&req(&[("socket", "/run/hap.sock")]), |_, cmd| {
            asked.push(cmd.to_vec());
            Ok(INFO.as_bytes().to_vec())
        })
        .unwrap();
        assert!(o.pass);
        assert_eq!(asked, vec![b"show info\n".to_vec()]);
        assert_eq!(
            o.message,
            "haproxy 2.6.12-1+deb12u4 answers, up 0d 0h00m01s, 3 connections"
        );
        assert_eq!(metric(&o, "servers_up"), None);
        assert_eq!(metric(&o, "max_conn"), Some(9985.0));
    }

    #[test]
    fn an_empty_or_unknown_backend_fails() {
        let o = evaluate(
            &req(&[("socket", "/run/hap.sock"), ("backend", "empty")]),
            fake(INFO, stat()),
        )
        .unwrap();
        assert!(!o.pass);
        assert_eq!(metric(&o, "servers_total"), Some(0.0));
        let o = evaluate(
            &req(&[("socket", "/run/hap.sock"), ("backend", "nope")]),
            fake(INFO, stat()),
        )
        .unwrap();
        assert!(!o.pass);
        assert_eq!(o.message, "no backend nope");
        // min_up 0 still needs the backend to exist, and then passes.
        let o = evaluate(
            &req(&[
                ("socket", "/run/hap.sock"),
                ("backend", "empty"),
                ("min_up", "0"),
            ]),
            fake(INFO, stat()),
        )
        .unwrap();
        assert!(o.pass, "{}", o.message);
    }

    #[test]
    fn an_unreachable_socket_is_a_failed_check_not_an_error() {
        for (e, want) in [
            (
                HostError::Io("Connection refused (os error 111)".into()),
                "unreachable: Connection refused",
            ),
            (
                HostError::Io("No such file or directory (os error 2)".into()),
                "unreachable",
            ),
            (HostError::TimedOut, "no answer to 'show info' in time"),
            (HostError::TooLarge(1 << 20), "larger than"),
        ] {
            let o = evaluate(
                &req(&[("socket", "/run/hap.sock"), ("backend", "web")]),
                |_, _| Err(e.clone()),
            )
            .unwrap();
            assert!(!o.pass);
            assert!(o.message.contains(want), "{}", o.message);
        }
        // Dies between the two commands.
        let o = evaluate(
            &req(&[("socket", "/run/hap.sock"), ("backend", "web")]),
            |_, cmd| {
                if cmd == b"show info\n" {
                    Ok(INFO.as_bytes().to_vec())
                } else {
                    Err(HostError::Io("Connection reset by peer".into()))
                }
            },
        )
        .unwrap();
        assert!(!o.pass);
        assert!(o.message.contains("Connection reset"), "{}", o.message);
        // Something answers, but not HAProxy.
        let o = evaluate(&req(&[("socket", "/run/hap.sock")]), |_, _| {
            Ok(b"HTTP/1.1 400 Bad Request\r\n\r\n".to_vec())
        })
        .unwrap();
        assert!(!o.pass);
        assert!(
            o.message.contains("unexpected answer to 'show info'"),
            "{}",
            o.message
        );
        // Permission denied on show stat (a socket below level user).
        let o = evaluate(
            &req(&[("socket", "/run/hap.sock"), ("backend", "web")]),
            fake(INFO, "Permission denied\n".into()),
        )
        .unwrap();
        assert!(!o.pass);
        assert!(o.message.contains("Permission denied"), "{}", o.message);
    }

    #[test]
    fn configuration_errors() {
        let bad = |args: &[(&str, &str)], e: Result<Vec<u8>, HostError>| match evaluate(
            &req(args),
            |_, _| e.clone(),
        ) {
            Err(CheckError::BadConfig(m)) => m,
            other => panic!("{args:?}: {other:?}"),
        };
        let ok = || Ok(INFO.as_bytes().to_vec());
        assert!(bad(&[], ok()).contains("socket is required"));
        assert!(bad(&[("socket", "/s"), ("min_up", "many")], ok()).contains("min_up"));
        assert!(bad(&[("socket", "/s"), ("min_up", "-1")], ok()).contains("min_up"));
        assert!(bad(&[("socket", "/s"), ("minup", "1")], ok()).contains("unknown argument minup"));
        assert!(
            bad(&[("socket", "/s")], Err(HostError::Denied("/s".into()))).contains("allow.unix")
        );
        assert!(
            bad(
                &[("socket", "s")],
                Err(HostError::Invalid("relative".into()))
            )
            .contains("relative")
        );
    }

    #[test]
    fn arbitrary_answers_do_not_panic() {
        // A small deterministic generator: bytes weighted towards the
        // characters the parsers look at.
        let alphabet = b"#,\"\n\r :UPDOWNBACKENDFRONTENDpxnamesvnamestatustype0123web\xff";
        let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
        for len in 0..600 {
            let mut s = Vec::with_capacity(len);
            for _ in 0..len {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                s.push(alphabet[(seed % alphabet.len() as u64) as usize]);
            }
            let text = String::from_utf8_lossy(&s).into_owned();
            let _ = parse_info(&text);
            let _ = backend_servers(&text, "web");
            let with_header = format!("# pxname,svname,status,type\n{text}");
            let _ = backend_servers(&with_header, "web");
            let _ = evaluate(
                &req(&[("socket", "/run/hap.sock"), ("backend", "web")]),
                |_, _| Ok(s.clone()),
            );
        }
    }
}
