use std::time::Instant;

use tokio::io::AsyncWriteExt;

use super::*;

/// A runtime in a network namespace of this test's own (the probes here
/// listen and connect on loopback).
fn rt() -> tokio::runtime::Runtime {
    crate::testutil::private_netns();
    crate::ipc::tests::rt()
}

fn sh(cmd: &str) -> Vec<String> {
    vec!["/bin/sh".into(), "-c".into(), cmd.into()]
}

#[test]
fn script_exit_status_decides() {
    rt().block_on(async {
        let ok = script(&sh("echo fine; exit 0"), None, Duration::from_secs(5)).await;
        assert!(ok.ok);
        assert_eq!(ok.message, "exit 0: fine");
        let bad = script(&sh("echo broken >&2; exit 3"), None, Duration::from_secs(5)).await;
        assert!(!bad.ok);
        assert_eq!(bad.message, "exit 3: broken");
        let missing = script(&["/no/such/program".into()], None, Duration::from_secs(5)).await;
        assert!(!missing.ok && missing.message.contains("cannot run"));
        assert!(!script(&[], None, Duration::from_secs(1)).await.ok);
    });
}

/// Processes whose command line contains `needle`.
fn processes_with(needle: &str) -> Vec<String> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| {
            let cmd = std::fs::read(e.path().join("cmdline")).ok()?;
            let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
            cmd.contains(needle).then_some(cmd)
        })
        .collect()
}

#[test]
fn a_hanging_script_is_killed_with_its_whole_group() {
    rt().block_on(async {
        // Unique durations mark our processes: a backgrounded grandchild and
        // the script's own sleep, both far longer than the timeout.
        let tag = format!("{}", 100 + std::process::id() % 800);
        let (a, b) = (format!("61.{tag}"), format!("62.{tag}"));
        let cmd = format!("sleep {a} & sleep {b}");
        let start = Instant::now();
        let o = script(&sh(&cmd), None, Duration::from_millis(300)).await;
        assert!(!o.ok && o.message.contains("timed out"), "{o:?}");
        assert!(start.elapsed() < Duration::from_secs(3));
        tokio::time::sleep(Duration::from_millis(200)).await;
        for m in [&a, &b] {
            let left = processes_with(&format!("sleep {m}"));
            assert!(left.is_empty(), "left behind: {left:?}");
        }
    });
}

#[test]
fn huge_output_is_bounded() {
    rt().block_on(async {
        let o = script(
            &sh("head -c 10000000 /dev/zero | tr '\\0' x; echo; echo last"),
            None,
            Duration::from_secs(20),
        )
        .await;
        assert!(o.ok, "{o:?}");
        assert!(o.message.len() < 300, "{}", o.message.len());
    });
}

#[test]
fn tcp_connect_passes_against_a_listener_and_fails_without() {
    rt().block_on(async {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        assert!(
            run(&Probe::Tcp { addr, bind: None }, Duration::from_secs(2))
                .await
                .ok
        );
        drop(l);
        assert!(
            !run(&Probe::Tcp { addr, bind: None }, Duration::from_secs(2))
                .await
                .ok
        );
    });
}

/// The probe's TCP connect is closed in order too, as a bare connect is
/// (`connects::tests::a_passing_connect_is_closed_in_order` says why).
#[test]
fn a_tcp_probe_closes_in_order() {
    use std::io::Read;
    rt().block_on(async {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        assert!(
            run(&Probe::Tcp { addr, bind: None }, Duration::from_secs(2))
                .await
                .ok
        );
        let (mut server, _) = l.accept().unwrap();
        server
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        assert_eq!(server.read(&mut [0; 8]).map_err(|e| e.kind()), Ok(0));
    });
}

async fn serve_once(response: &'static [u8]) -> SocketAddr {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        if let Ok((mut s, _)) = l.accept().await {
            let mut buf = [0u8; 1024];
            let _ = tokio::io::AsyncReadExt::read(&mut s, &mut buf).await;
            let _ = s.write_all(response).await;
        }
    });
    addr
}

fn http_probe(addr: SocketAddr, status: Vec<(u16, u16)>, digest: Option<&str>) -> Probe {
    Probe::Http(Box::new(super::HttpProbe {
        addr,
        bind: None,
        host: "example".into(),
        path: "/".into(),
        status,
        digest: digest.map(str::to_string),
        tls: None,
    }))
}

#[test]
fn http_status_and_digest() {
    rt().block_on(async {
        let t = Duration::from_secs(2);
        let ok = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";
        let a = serve_once(ok).await;
        assert!(run(&http_probe(a, vec![], None), t).await.ok);
        // md5("hello")
        let a = serve_once(ok).await;
        assert!(run(&http_probe(a, vec![], Some("5d41402abc4b2a76b9719d911017c592")), t).await.ok);
        let a = serve_once(ok).await;
        let o = run(&http_probe(a, vec![], Some("00000000000000000000000000000000")), t).await;
        assert!(!o.ok && o.message.contains("digest"), "{o:?}");
        let a = serve_once(b"HTTP/1.1 503 Busy\r\n\r\n").await;
        assert!(!run(&http_probe(a, vec![], None), t).await.ok);
        let a = serve_once(b"HTTP/1.1 503 Busy\r\n\r\n").await;
        assert!(run(&http_probe(a, vec![(500, 503)], None), t).await.ok);
        let chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhe\r\n3\r\nllo\r\n0\r\n\r\n";
        let a = serve_once(chunked).await;
        assert!(run(&http_probe(a, vec![], Some("5d41402abc4b2a76b9719d911017c592")), t).await.ok);
        let a = serve_once(b"garbage").await;
        assert!(!run(&http_probe(a, vec![], None), t).await.ok);
    });
}

#[test]
fn dechunk_survives_malformed_input() {
    assert_eq!(dechunk(b"zz\r\nabc"), b"");
    assert_eq!(dechunk(b"5\r\nab"), b"");
    assert_eq!(dechunk(b"2\r\nab\r\n"), b"ab");
}

/// A TLS server with a throw-away self-signed certificate (openssl CLI),
/// answering one request.
async fn serve_tls_once(response: &'static [u8]) -> SocketAddr {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    // Read once here: the directory is gone when this returns.
    let dir = crate::testutil::TempDir::new("tls");
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    {
        let ok = std::process::Command::new("openssl")
            .args([
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-nodes",
                "-days",
                "1",
                "-subj",
                "/CN=upkeep-test",
                "-keyout",
            ])
            .arg(&key)
            .arg("-out")
            .arg(&cert)
            .output()
            .unwrap();
        assert!(
            ok.status.success(),
            "{}",
            String::from_utf8_lossy(&ok.stderr)
        );
    }
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&cert)
        .unwrap()
        .map(|c| c.unwrap())
        .collect();
    let key = PrivateKeyDer::from_pem_file(&key).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config));
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        if let Ok((s, _)) = l.accept().await
            && let Ok(mut s) = acceptor.accept(s).await
        {
            let mut buf = [0u8; 1024];
            let _ = tokio::io::AsyncReadExt::read(&mut s, &mut buf).await;
            let _ = s.write_all(response).await;
            let _ = s.shutdown().await;
        }
    });
    addr
}

#[test]
fn https_get_through_tls_with_a_self_signed_certificate() {
    rt().block_on(async {
        let t = Duration::from_secs(5);
        let tls = |sni: Option<&str>| {
            Some(Tls {
                sni: sni.map(str::to_string),
            })
        };
        let a = serve_tls_once(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello").await;
        let mut p = http_probe(a, vec![], Some("5d41402abc4b2a76b9719d911017c592"));
        if let Probe::Http(h) = &mut p {
            h.tls = tls(Some("example"));
        }
        let o = run(&p, t).await;
        assert!(o.ok && o.message.starts_with("GET https://"), "{o:?}");
        // A plain-HTTP server is not a TLS server.
        let a = serve_once(b"HTTP/1.1 200 OK\r\n\r\n").await;
        let mut p = http_probe(a, vec![], None);
        if let Probe::Http(h) = &mut p {
            h.tls = tls(None);
        }
        let o = run(&p, t).await;
        assert!(!o.ok && o.message.contains("TLS"), "{o:?}");
    });
}

#[test]
fn a_tracked_file_holds_a_number_or_counts_zero() {
    let dir = std::env::temp_dir().join(format!("upkeep-file-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let f = dir.join("v");
    let p = f.to_str().unwrap();
    let v = crate::checker::file_check::TrackFileValue::default();
    let file_value = |p: &str| v.read(p).0;
    assert_eq!(file_value(p), 0, "missing");
    std::fs::write(&f, "42\n").unwrap();
    assert_eq!(file_value(p), 42);
    std::fs::write(&f, "  -7 trailing words").unwrap();
    assert_eq!(file_value(p), -7);
    std::fs::write(&f, "not a number").unwrap();
    assert_eq!(file_value(p), 0);
    rt().block_on(async {
        std::fs::write(&f, "3").unwrap();
        let o = run(
            &Probe::File {
                path: p.into(),
                value: Default::default(),
            },
            Duration::from_secs(1),
        )
        .await;
        assert_eq!((o.ok, o.value), (false, Some(3)));
    });
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn an_abandoned_run_takes_its_process_group_with_it() {
    rt().block_on(async {
        let tag = format!("63.{}", 100 + std::process::id() % 800);
        let cmd = format!("sleep {tag} & sleep {tag}");
        // The run is dropped (as when the checker stops) before its timeout.
        let abandoned = tokio::time::timeout(
            Duration::from_millis(300),
            script(&sh(&cmd), None, Duration::from_secs(60)),
        )
        .await;
        assert!(abandoned.is_err());
        tokio::time::sleep(Duration::from_millis(200)).await;
        let left = processes_with(&format!("sleep {tag}"));
        assert!(left.is_empty(), "left behind: {left:?}");
    });
}

/// Thousands of checks each hold a scheduled `run` future while idle: it
/// must stay small (it was over 8 KiB with the script's read buffers inline).
#[test]
fn an_idle_check_costs_little_memory() {
    let p = Probe::Tcp {
        addr: "127.0.0.1:1".parse().unwrap(),
        bind: None,
    };
    let size = std::mem::size_of_val(&run(&p, Duration::from_secs(1)));
    assert!(size < 1024, "run() future is {size} bytes");
}

/// Regression: a FIFO at a tracked file's path blocked the checker's only
/// thread in open(2). The check now fails at once, value 0.
#[test]
fn a_fifo_as_a_tracked_file_fails_at_once() {
    let dir = std::env::temp_dir().join(format!("upkeep-probe-fifo-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let fifo = dir.join("flag");
    let _ = std::fs::remove_file(&fifo);
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    let path = fifo.display().to_string();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let o = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(run(
                &Probe::File {
                    path,
                    value: Default::default(),
                },
                Duration::from_secs(1),
            ));
        let _ = tx.send(o);
    });
    let o = rx
        .recv_timeout(Duration::from_secs(5))
        .expect("reading a FIFO blocked the check");
    assert_eq!(o.value, Some(0));
    let _ = std::fs::remove_dir_all(&dir);
}

/// keepalived's `bindto`: the check connects from the given address, for
/// TCP_CHECK and HTTP_GET alike.
#[test]
fn bindto_is_the_source_address_the_server_sees() {
    rt().block_on(async {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let bind = Some("127.0.0.2:0".parse().unwrap());
        let t = Duration::from_secs(2);
        let tcp = Probe::Tcp {
            addr,
            bind: bind.map(Box::new),
        };
        let (o, accepted) = tokio::join!(run(&tcp, t), l.accept());
        assert!(o.ok, "{o:?}");
        assert_eq!(accepted.unwrap().1.ip().to_string(), "127.0.0.2");

        let mut p = http_probe(addr, vec![], None);
        if let Probe::Http(h) = &mut p {
            h.bind = bind;
        }
        let serve = async {
            let (mut s, peer) = l.accept().await.unwrap();
            let mut buf = [0u8; 1024];
            let _ = tokio::io::AsyncReadExt::read(&mut s, &mut buf).await;
            let _ = s.write_all(b"HTTP/1.1 200 OK\r\n\r\n").await;
            peer
        };
        let (o, peer) = tokio::join!(run(&p, t), serve);
        assert!(o.ok, "{o:?}");
        assert_eq!(peer.ip().to_string(), "127.0.0.2");
    });
}

/// keepalived's `bind_port` (with `bindto`): the check's source port, and
/// the next check can use it again.
#[test]
fn bind_port_is_the_source_port_the_server_sees() {
    rt().block_on(async {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        // A port free now (bound and released).
        let port = std::net::TcpListener::bind("127.0.0.3:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let bind = Some(SocketAddr::new("127.0.0.3".parse().unwrap(), port));
        let t = Duration::from_secs(2);
        let tcp = Probe::Tcp {
            addr,
            bind: bind.map(Box::new),
        };
        for round in 0..2 {
            let (o, accepted) = tokio::join!(run(&tcp, t), l.accept());
            assert!(o.ok, "round {round}: {o:?}");
            let peer = accepted.unwrap().1;
            assert_eq!(
                (peer.ip().to_string(), peer.port()),
                ("127.0.0.3".into(), port)
            );
        }
    });
}

/// keepalived's `connect_timeout`: a connection nobody answers fails after
/// it, not after the kernel's own SYN retries.
#[test]
fn connect_timeout_bounds_an_unanswered_connect() {
    rt().block_on(async {
        // A subnet on a veth whose peer has no address: SYNs to the
        // subnet's other addresses go nowhere (ARP is never answered).
        for cmd in [
            "ip link add ct0 type veth peer name ct1",
            "ip addr add 10.99.0.1/24 dev ct0",
            "ip link set ct0 up",
            "ip link set ct1 up",
        ] {
            let args: Vec<&str> = cmd.split(' ').collect();
            let ok = std::process::Command::new(args[0])
                .args(&args[1..])
                .status();
            assert!(matches!(ok, Ok(s) if s.success()), "{cmd}: {ok:?}");
        }
        let addr = "10.99.0.2:80".parse().unwrap();
        let start = Instant::now();
        let o = run(&Probe::Tcp { addr, bind: None }, Duration::from_millis(400)).await;
        let took = start.elapsed();
        assert!(!o.ok && o.message.contains("timed out"), "{o:?}");
        assert!(took < Duration::from_secs(2), "took {took:?}");
    });
}

/// A UDP server on loopback that answers each datagram with what `answer`
/// makes of it (none: silence), for `n` datagrams.
async fn udp_server(
    n: usize,
    answer: impl Fn(&[u8]) -> Vec<Vec<u8>> + Send + 'static,
) -> SocketAddr {
    let s = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = s.local_addr().unwrap();
    tokio::spawn(async move {
        let mut buf = [0u8; 2048];
        for _ in 0..n {
            let Ok((len, from)) = s.recv_from(&mut buf).await else {
                return;
            };
            for a in answer(&buf[..len]) {
                let _ = s.send_to(&a, from).await;
            }
        }
        // Keep the port open (silent) until the test ends.
        std::future::pending::<()>().await;
    });
    addr
}

fn udp_probe(addr: SocketAddr, require_reply: bool, reply: Option<&str>) -> Probe {
    Probe::Udp(Box::new(super::super::udp::UdpCheck {
        addr,
        bind: None,
        payload: vec![0; 32],
        require_reply,
        reply: reply.and_then(|r| super::super::udp::parse_hex(r, true)),
        min_reply_length: 0,
        max_reply_length: 255,
    }))
}

#[test]
fn udp_probe_follows_keepalived() {
    rt().block_on(async {
        let t = Duration::from_millis(300);
        let echo = udp_server(10, |q| vec![[b"OK".as_slice(), &q[..1]].concat()]).await;
        assert!(run(&udp_probe(echo, true, Some("4f4b")), t).await.ok);
        let o = run(&udp_probe(echo, true, Some("4e4f")), t).await;
        assert!(!o.ok && o.message.contains("does not match"), "{o:?}");
        let silent = udp_server(10, |_| vec![]).await;
        assert!(run(&udp_probe(silent, false, None), t).await.ok);
        let o = run(&udp_probe(silent, true, None), t).await;
        assert!(!o.ok && o.message.contains("no reply"), "{o:?}");
        // Nothing listens: the port unreachable fails the check.
        let closed = {
            let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
            s.local_addr().unwrap()
        };
        let o = run(&udp_probe(closed, false, None), t).await;
        assert!(!o.ok && o.message.contains("refused"), "{o:?}");
    });
}

fn dns_probe(addr: SocketAddr) -> Probe {
    Probe::Dns(Box::new(super::DnsProbe {
        addr,
        bind: None,
        name: "www.example.test".into(),
        dns_type: crate::config::model::DnsType::A,
    }))
}

/// A reply to query `q`: its ID (changed by `id_delta`), QR set, `rcode`.
fn dns_reply(q: &[u8], id_delta: u16, rcode: u8) -> Vec<u8> {
    let mut r = q.to_vec();
    let id = u16::from_be_bytes([q[0], q[1]]).wrapping_add(id_delta);
    r[..2].copy_from_slice(&id.to_be_bytes());
    r[2] |= 0x80;
    r[3] = (r[3] & 0xf0) | rcode;
    r
}

#[test]
fn dns_probe_waits_for_its_id_and_judges_the_rcode() {
    rt().block_on(async {
        let t = Duration::from_millis(500);
        // Another ID and a bare header first: skipped; then the reply.
        let s = udp_server(1, |q| {
            vec![dns_reply(q, 1, 0), vec![0; 5], dns_reply(q, 0, 0)]
        })
        .await;
        let o = run(&dns_probe(s), t).await;
        assert!(o.ok, "{o:?}");
        let s = udp_server(1, |q| vec![dns_reply(q, 0, 3)]).await;
        let o = run(&dns_probe(s), t).await;
        assert!(!o.ok && o.message.contains("rcode 3"), "{o:?}");
        let s = udp_server(1, |q| {
            let mut r = dns_reply(q, 0, 0);
            r.truncate(r.len() - 3);
            vec![r]
        })
        .await;
        let o = run(&dns_probe(s), t).await;
        assert!(!o.ok && o.message.contains("garbled"), "{o:?}");
        // Only a reply with another ID: the caller's timeout ends the wait.
        let s = udp_server(1, |q| vec![dns_reply(q, 1, 0)]).await;
        let start = Instant::now();
        let o = run(&dns_probe(s), t).await;
        assert!(!o.ok && o.message.contains("no reply"), "{o:?}");
        assert!(start.elapsed() >= t);
        let s = udp_server(0, |_| vec![]).await;
        let o = run(&dns_probe(s), t).await;
        assert!(!o.ok && o.message.contains("no reply"), "{o:?}");
    });
}

/// The hand-built TCP_CHECK message reads as `format!` would write it.
#[test]
fn connected_to_matches_format() {
    for a in [
        "0.0.0.0:0",
        "127.0.0.1:20000",
        "10.200.39.250:80",
        "255.255.255.255:65535",
        "1.22.133.4:9",
        "[::1]:80",
        "[fe80::1%2]:443",
    ] {
        let addr: SocketAddr = a.parse().unwrap();
        assert_eq!(connected_to(addr), format!("connected to {addr}"), "{a}");
    }
}

/// The checker holds a probe per check: a TCP check's is the largest kind
/// kept inline (the rare kinds are boxed).
#[test]
fn a_probe_is_as_small_as_a_tcp_checks() {
    assert!(
        std::mem::size_of::<Probe>() <= 48,
        "{}",
        std::mem::size_of::<Probe>()
    );
}
