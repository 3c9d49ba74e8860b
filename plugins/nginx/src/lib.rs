//! upkeep check plugin for nginx.
//!
//! Arguments:
//! - `url` (required): what to GET (grant it with `allow.http`), e.g.
//!   `http://127.0.0.1/nginx_status`.
//! - `mode`: `stub_status` (default) requires status 200 and a
//!   `stub_status` page, whose numbers become the metrics `active`,
//!   `accepts`, `handled`, `requests`, `reading`, `writing` and `waiting`;
//!   `probe` passes on any 2xx or 3xx status (metrics `status`,
//!   `body_bytes`).
//! - `expect` (probe only): a text the body must contain.
//! - `process` (optional): a process name (grant it with
//!   `allow.processes`) of which at least one must run (metric
//!   `processes`).
//!
//! A refused connection, a timeout or a wrong answer is a failed check
//! (nginx is down), not a plugin error; a target that is not granted is a
//! configuration error.
//!
//! The parsing and the decision are pure functions of the host's answers
//! (`evaluate` takes the host calls as closures), so the unit tests run
//! them on the host without a WASM runtime.

use upkeep_plugin_sdk::{CheckError, HostError, HttpResponse, Outcome, Request};

const KNOWN_ARGS: [&str; 4] = ["url", "mode", "expect", "process"];

fn check(req: Request) -> Result<Outcome, CheckError> {
    evaluate(
        &req,
        |url| upkeep_plugin_sdk::http_get(url, &[]),
        upkeep_plugin_sdk::process_count,
    )
}

upkeep_plugin_sdk::check!(check);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    StubStatus,
    Probe,
}

/// The check, with the host's `http-get` and `process-count` given as
/// closures.
pub fn evaluate(
    req: &Request,
    mut get: impl FnMut(&str) -> Result<HttpResponse, HostError>,
    mut processes: impl FnMut(&str) -> Result<u32, HostError>,
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
    let url = req.required("url")?;
    let mode = match req.arg("mode").unwrap_or("stub_status") {
        "stub_status" => Mode::StubStatus,
        "probe" => Mode::Probe,
        other => {
            return Err(CheckError::BadConfig(format!(
                "mode '{other}': expected stub_status or probe"
            )));
        }
    };
    let expect = req.arg("expect").filter(|e| !e.is_empty());
    if expect.is_some() && mode != Mode::Probe {
        return Err(CheckError::BadConfig(
            "argument expect is only used with mode probe".into(),
        ));
    }
    let process = req.arg("process").filter(|p| !p.is_empty());

    // The process first: it is cheap, and without one the URL's answer
    // (if any) is not nginx's.
    let mut metrics: Vec<(&'static str, f64)> = Vec::new();
    let mut process_note = String::new();
    if let Some(name) = process {
        let n = match processes(name) {
            Ok(n) => n,
            Err(HostError::Denied(t)) => {
                return Err(CheckError::BadConfig(format!(
                    "process {t} is not granted (add it to allow.processes)"
                )));
            }
            Err(e) => return Err(CheckError::from(e)),
        };
        metrics.push(("processes", f64::from(n)));
        if n == 0 {
            return Ok(with_metrics(
                Outcome::verdict(false, format!("no {name} process")),
                &metrics,
            ));
        }
        process_note = format!(" ({n} {name} processes)");
    }

    let resp = match get(url) {
        Ok(r) => r,
        Err(HostError::Denied(t)) => {
            return Err(CheckError::BadConfig(format!(
                "url {t} is not granted (add it to allow.http)"
            )));
        }
        Err(HostError::Invalid(e)) => return Err(CheckError::BadConfig(format!("url: {e}"))),
        Err(HostError::Io(e)) => {
            return Ok(with_metrics(
                Outcome::verdict(false, format!("GET {url}: {e}")),
                &metrics,
            ));
        }
        Err(HostError::TimedOut) => {
            return Ok(with_metrics(
                Outcome::verdict(false, format!("GET {url}: no answer in time")),
                &metrics,
            ));
        }
        Err(HostError::TooLarge(n)) => {
            return Ok(with_metrics(
                Outcome::verdict(false, format!("GET {url}: body larger than {n} bytes")),
                &metrics,
            ));
        }
    };
    let outcome = match mode {
        Mode::StubStatus => stub_status(url, &resp),
        Mode::Probe => probe(url, &resp, expect),
    };
    let outcome = Outcome {
        message: format!("{}{process_note}", outcome.message),
        ..outcome
    };
    Ok(with_metrics(outcome, &metrics))
}

fn with_metrics(mut o: Outcome, metrics: &[(&str, f64)]) -> Outcome {
    for (name, v) in metrics {
        o = o.metric(*name, *v);
    }
    o
}

fn stub_status(url: &str, resp: &HttpResponse) -> Outcome {
    if resp.status != 200 {
        return Outcome::verdict(false, format!("GET {url}: status {}", resp.status));
    }
    let text = String::from_utf8_lossy(&resp.body);
    match parse_stub_status(&text) {
        Some(s) => {
            let mut o = Outcome::verdict(
                true,
                format!(
                    "nginx up: {} active connections, {} requests",
                    s.active, s.requests
                ),
            );
            for (name, v) in s.metrics() {
                o = o.metric(name, v as f64);
            }
            o
        }
        None => Outcome::verdict(
            false,
            format!(
                "GET {url}: not an nginx stub_status page (is stub_status on in that location?)"
            ),
        ),
    }
}

fn probe(url: &str, resp: &HttpResponse, expect: Option<&str>) -> Outcome {
    let status = resp.status;
    let with = |o: Outcome| {
        o.metric("status", f64::from(status))
            .metric("body_bytes", resp.body.len() as f64)
    };
    if !(200..=399).contains(&status) {
        return with(Outcome::verdict(
            false,
            format!("GET {url}: status {status}"),
        ));
    }
    if let Some(want) = expect
        && !String::from_utf8_lossy(&resp.body).contains(want)
    {
        return with(Outcome::verdict(
            false,
            format!("GET {url}: status {status}, but the body lacks '{want}'"),
        ));
    }
    with(Outcome::verdict(
        true,
        format!("GET {url}: status {status}"),
    ))
}

/// The numbers of nginx's `stub_status` page:
///
/// ```text
/// Active connections: 291
/// server accepts handled requests
///  16630948 16630948 31070465
/// Reading: 6 Writing: 179 Waiting: 106
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StubStatus {
    pub active: u64,
    pub accepts: u64,
    pub handled: u64,
    pub requests: u64,
    pub reading: u64,
    pub writing: u64,
    pub waiting: u64,
}

impl StubStatus {
    pub fn metrics(&self) -> [(&'static str, u64); 7] {
        [
            ("active", self.active),
            ("accepts", self.accepts),
            ("handled", self.handled),
            ("requests", self.requests),
            ("reading", self.reading),
            ("writing", self.writing),
            ("waiting", self.waiting),
        ]
    }
}

/// Parses a `stub_status` page; `None` unless every number is there.
pub fn parse_stub_status(text: &str) -> Option<StubStatus> {
    let words: Vec<&str> = text.split_whitespace().collect();
    let number = |i: usize| words.get(i)?.parse::<u64>().ok();
    let after = |label: &[&str]| {
        let at = words.windows(label.len()).position(|w| w == label)?;
        Some(at + label.len())
    };
    let active = number(after(&["Active", "connections:"])?)?;
    let counters = after(&["server", "accepts", "handled", "requests"])?;
    Some(StubStatus {
        active,
        accepts: number(counters)?,
        handled: number(counters + 1)?,
        requests: number(counters + 2)?,
        reading: number(after(&["Reading:"])?)?,
        writing: number(after(&["Writing:"])?)?,
        waiting: number(after(&["Waiting:"])?)?,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    const PAGE: &str = "Active connections: 291 \nserver accepts handled requests\n 16630948 16630948 31070465 \nReading: 6 Writing: 179 Waiting: 106 \n";
    const URL: &str = "http://127.0.0.1/nginx_status";

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

    fn resp(status: u16, body: &str) -> Result<HttpResponse, HostError> {
        Ok(HttpResponse {
            status,
            headers: vec![("content-type".into(), "text/plain".into())],
            body: body.as_bytes().to_vec(),
        })
    }

    fn metric(o: &Outcome, name: &str) -> Option<f64> {
        o.metrics.iter().find(|m| m.name == name).map(|m| m.value)
    }

    fn no_process(_: &str) -> Result<u32, HostError> {
        panic!("process-count called without a process argument")
    }

    #[test]
    fn parses_stub_status() {
        assert_eq!(
            parse_stub_status(PAGE),
            Some(StubStatus {
                active: 291,
                accepts: 16630948,
                handled: 16630948,
                requests: 31070465,
                reading: 6,
                writing: 179,
                waiting: 106,
            })
        );
        // Line endings and spacing do not matter.
        let crlf = PAGE.replace('\n', "\r\n").replace(' ', "  ");
        assert_eq!(parse_stub_status(&crlf), parse_stub_status(PAGE));
    }

    #[test]
    fn refuses_what_is_not_stub_status() {
        for bad in [
            "",
            "<html><body>Welcome to nginx!</body></html>",
            "Active connections: x \nserver accepts handled requests\n 1 1 1 \nReading: 0 Writing: 1 Waiting: 0 \n",
            "Active connections: 1 \nserver accepts handled requests\n 1 1 \nReading: 0 Writing: 1 Waiting: 0 \n",
            "Active connections: 1 \nserver accepts handled requests\n 1 1 1 \nReading: 0 Writing: 1 \n",
            "Active connections: 1 \nserver accepts handled requests\n 1 1 1 \nReading: 0 Writing: 1 Waiting:",
            "Active connections: -1 \nserver accepts handled requests\n 1 1 1 \nReading: 0 Writing: 1 Waiting: 0 \n",
            "Active connections: 99999999999999999999999 \nserver accepts handled requests\n 1 1 1 \nReading: 0 Writing: 1 Waiting: 0 \n",
        ] {
            assert_eq!(parse_stub_status(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn stub_status_mode_passes_with_metrics() {
        let o = evaluate(
            &req(&[("url", URL)]),
            |u| {
                assert_eq!(u, URL);
                resp(200, PAGE)
            },
            no_process,
        )
        .unwrap();
        assert!(o.pass, "{}", o.message);
        assert_eq!(
            o.message,
            "nginx up: 291 active connections, 31070465 requests"
        );
        for (name, v) in [
            ("active", 291.0),
            ("accepts", 16630948.0),
            ("handled", 16630948.0),
            ("requests", 31070465.0),
            ("reading", 6.0),
            ("writing", 179.0),
            ("waiting", 106.0),
        ] {
            assert_eq!(metric(&o, name), Some(v), "{name}");
        }
    }

    #[test]
    fn stub_status_mode_fails_on_a_wrong_answer() {
        let o = evaluate(
            &req(&[("url", URL)]),
            |_| resp(404, "not found"),
            no_process,
        )
        .unwrap();
        assert!(!o.pass);
        assert_eq!(o.message, format!("GET {URL}: status 404"));
        // 3xx is not the status page either.
        let o = evaluate(&req(&[("url", URL)]), |_| resp(301, ""), no_process).unwrap();
        assert!(!o.pass);
        let o = evaluate(
            &req(&[("url", URL)]),
            |_| resp(200, "<html>hello</html>"),
            no_process,
        )
        .unwrap();
        assert!(!o.pass);
        assert!(
            o.message.contains("not an nginx stub_status page"),
            "{}",
            o.message
        );
    }

    #[test]
    fn probe_mode() {
        let args = [("url", "http://127.0.0.1/"), ("mode", "probe")];
        for (status, pass) in [
            (200, true),
            (204, true),
            (302, true),
            (399, true),
            (404, false),
            (500, false),
            (199, false),
        ] {
            let o = evaluate(&req(&args), |_| resp(status, "hello world"), no_process).unwrap();
            assert_eq!(o.pass, pass, "{status}: {}", o.message);
            assert_eq!(metric(&o, "status"), Some(f64::from(status)));
            assert_eq!(metric(&o, "body_bytes"), Some(11.0));
        }
        let with = |expect: &str| {
            let mut a = args.to_vec();
            a.push(("expect", expect));
            evaluate(&req(&a), |_| resp(200, "hello world"), no_process).unwrap()
        };
        assert!(with("lo wo").pass);
        let o = with("bye");
        assert!(!o.pass);
        assert!(o.message.contains("lacks 'bye'"), "{}", o.message);
        // Not valid UTF-8: compared lossily, no panic.
        let o = evaluate(
            &req(&[
                ("url", "http://127.0.0.1/"),
                ("mode", "probe"),
                ("expect", "ok"),
            ]),
            |_| {
                Ok(HttpResponse {
                    status: 200,
                    headers: vec![],
                    body: vec![0xff, 0xfe, b'o', b'k'],
                })
            },
            no_process,
        )
        .unwrap();
        assert!(o.pass, "{}", o.message);
    }

    #[test]
    fn an_unreachable_nginx_is_a_failed_check_not_an_error() {
        for (e, want) in [
            (
                HostError::Io("Connection refused (os error 111)".into()),
                "Connection refused",
            ),
            (HostError::TimedOut, "no answer in time"),
            (HostError::TooLarge(1 << 20), "larger than"),
            (
                HostError::Io("malformed response: no complete response head".into()),
                "malformed",
            ),
        ] {
            for mode in ["stub_status", "probe"] {
                let o = evaluate(
                    &req(&[("url", URL), ("mode", mode)]),
                    |_| Err(e.clone()),
                    no_process,
                )
                .unwrap();
                assert!(!o.pass);
                assert!(o.message.contains(want), "{}", o.message);
                assert!(
                    o.message.starts_with(&format!("GET {URL}")),
                    "{}",
                    o.message
                );
            }
        }
    }

    #[test]
    fn the_process_argument() {
        let args = [("url", URL), ("process", "nginx")];
        let o = evaluate(
            &req(&args),
            |_| resp(200, PAGE),
            |n| {
                assert_eq!(n, "nginx");
                Ok(3)
            },
        )
        .unwrap();
        assert!(o.pass);
        assert!(o.message.ends_with("(3 nginx processes)"), "{}", o.message);
        assert_eq!(metric(&o, "processes"), Some(3.0));
        assert_eq!(metric(&o, "active"), Some(291.0));

        let o = evaluate(&req(&args), |_| resp(200, PAGE), |_| Ok(0)).unwrap();
        assert!(!o.pass);
        assert_eq!(o.message, "no nginx process");
        assert_eq!(metric(&o, "processes"), Some(0.0));

        // The process runs, the URL does not answer.
        let o = evaluate(
            &req(&args),
            |_| Err(HostError::Io("Connection refused".into())),
            |_| Ok(1),
        )
        .unwrap();
        assert!(!o.pass);
        assert_eq!(metric(&o, "processes"), Some(1.0));
    }

    #[test]
    fn configuration_errors() {
        let bad = |args: &[(&str, &str)],
                   get: Result<HttpResponse, HostError>,
                   procs: Result<u32, HostError>| {
            match evaluate(&req(args), |_| get.clone(), |_| procs.clone()) {
                Err(CheckError::BadConfig(m)) => m,
                other => panic!("{args:?}: {other:?}"),
            }
        };
        let ok = || resp(200, PAGE);
        assert!(bad(&[], ok(), Ok(1)).contains("url is required"));
        assert!(bad(&[("url", URL), ("mode", "status")], ok(), Ok(1)).contains("mode 'status'"));
        assert!(
            bad(&[("url", URL), ("expect", "x")], ok(), Ok(1))
                .contains("only used with mode probe")
        );
        assert!(
            bad(&[("url", URL), ("proces", "nginx")], ok(), Ok(1))
                .contains("unknown argument proces")
        );
        assert!(
            bad(&[("url", URL)], Err(HostError::Denied(URL.into())), Ok(1)).contains("allow.http")
        );
        assert!(
            bad(
                &[("url", "ftp://x")],
                Err(HostError::Invalid("expected an http:// URL".into())),
                Ok(1)
            )
            .contains("http://")
        );
        assert!(
            bad(
                &[("url", URL), ("process", "nginx")],
                ok(),
                Err(HostError::Denied("nginx".into()))
            )
            .contains("allow.processes")
        );
    }

    #[test]
    fn arbitrary_pages_do_not_panic() {
        let alphabet = b"Active connections: server accepts handled requests Reading: Writing: Waiting: 0123456789\n\r -\xff";
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        for len in 0..800 {
            let mut s = Vec::with_capacity(len);
            for _ in 0..len {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                s.push(alphabet[(seed % alphabet.len() as u64) as usize]);
            }
            let _ = parse_stub_status(&String::from_utf8_lossy(&s));
            let _ = evaluate(
                &req(&[("url", URL)]),
                |_| {
                    Ok(HttpResponse {
                        status: 200,
                        headers: vec![],
                        body: s.clone(),
                    })
                },
                no_process,
            );
        }
    }
}
