use proptest::prelude::*;

use super::msg::{CheckStatus, Resume};
use super::*;

fn sample() -> Msg {
    Msg::CheckState(CheckStatus {
        source: "script:chk".into(),
        state: crate::checker::health::Verdict::Up,
        last_result: Some("exit 0".into()),
        latency_us: Some(1200),
        failures: 0,
        runs: 3,
        value: None,
        policy: None,
        metrics: Vec::new(),
    })
}

#[test]
fn frames_round_trip() {
    for m in [
        sample(),
        Msg::Ping { seq: 7 },
        Msg::Shutdown,
        Msg::Start {
            generation: 1,
            config: Box::default(),
            resume: Resume::default(),
            plugin_key: None,
        },
    ] {
        let f = encode(&m).unwrap();
        assert_eq!(&f[..2], b"UK");
        assert_eq!(decode(&f).unwrap(), m);
    }
}

#[test]
fn malformed_frames_are_errors() {
    let good = encode(&sample()).unwrap();
    assert!(matches!(decode(&good[..5]), Err(IpcError::Short(5))));
    let mut bad = good.clone();
    bad[0] = b'X';
    assert!(matches!(decode(&bad), Err(IpcError::BadMagic(_))));
    // Version 1 (before messages could span frames) is refused too.
    let mut v1 = good.clone();
    v1[3] = 1;
    assert!(matches!(
        decode(&v1),
        Err(IpcError::WrongVersion { got: 1 })
    ));
    let mut long = good.clone();
    long.push(b' ');
    assert!(matches!(
        decode(&long),
        Err(IpcError::LengthMismatch { .. })
    ));
    let mut body = good[..HEADER_LEN].to_vec();
    body.extend_from_slice(b"{\"nope\":{}}");
    let n = (body.len() - HEADER_LEN) as u32;
    body[4..8].copy_from_slice(&n.to_be_bytes());
    assert!(matches!(decode(&body), Err(IpcError::Body(_))));
    assert!(matches!(
        decode(&vec![0u8; MAX_FRAME + 1]),
        Err(IpcError::TooLarge(_))
    ));
}

proptest! {
    /// Issue 18: an endpoint serialises as `SocketAddr` does (IPv4 by
    /// hand, IPv6 through it) and reads back.
    #[test]
    fn an_endpoint_serialises_as_a_socket_address(ip in any::<u32>(), ip6 in any::<u128>(), port in any::<u16>()) {
        for a in [
            std::net::SocketAddr::from((std::net::Ipv4Addr::from(ip), port)),
            std::net::SocketAddr::from((std::net::Ipv6Addr::from(ip6), port)),
        ] {
            let e = crate::ipc::msg::Endpoint::from(a);
            let text = serde_json::to_string(&e).unwrap();
            prop_assert_eq!(&text, &serde_json::to_string(&a).unwrap());
            prop_assert_eq!(serde_json::from_str::<crate::ipc::msg::Endpoint>(&text).unwrap(), e);
        }
    }

    #[test]
    fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = decode(&bytes);
    }

    #[test]
    fn decode_with_valid_header_never_panics(body in proptest::collection::vec(any::<u8>(), 0..256)) {
        let mut f = b"UK".to_vec();
        f.extend_from_slice(&PROTOCOL_VERSION.to_be_bytes());
        f.extend_from_slice(&(body.len() as u32).to_be_bytes());
        f.extend_from_slice(&body);
        let _ = decode(&f);
    }
}

pub fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn channel_carries_messages_and_credentials() {
    rt().block_on(async {
        let (a, b) = socketpair().unwrap();
        let (a, b) = (Channel::new(a).unwrap(), Channel::new(b).unwrap());
        a.pass_credentials().unwrap();
        b.send(&sample()).await.unwrap();
        let mut buf = Reader::new(FROM_WORKER_LIMIT);
        let (m, cred) = a.recv(&mut buf).await.unwrap();
        assert_eq!(m, sample());
        let cred = cred.expect("credentials attached");
        assert_eq!(cred.pid, std::process::id());
    });
}

/// This process's anonymous resident memory (KiB).
fn rss_anon_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("RssAnon:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

/// A reader's frame buffer costs only the pages messages fill. It used to
/// be grown by writing all MAX_FRAME bytes: 4 MiB resident in every worker
/// and again per worker in the parent (bench/README.md, "Memory against
/// keepalived"). RssAnon is the whole process's: nextest runs each test in
/// a process of its own.
#[test]
fn a_readers_buffer_is_resident_only_where_messages_filled_it() {
    rt().block_on(async {
        let (a, b) = socketpair().unwrap();
        let (a, b) = (Channel::new(a).unwrap(), Channel::new(b).unwrap());
        let before = rss_anon_kib();
        let mut readers = Vec::new();
        for _ in 0..4 {
            let mut r = Reader::new(FROM_WORKER_LIMIT);
            b.send(&sample()).await.unwrap();
            assert_eq!(a.recv(&mut r).await.unwrap().0, sample());
            readers.push(r);
        }
        let grown = rss_anon_kib().saturating_sub(before);
        // Four written buffers were 16 MiB; four touched ones a few pages.
        assert!(grown < 4 * 1024, "{grown} KiB resident for four readers");
    });
}

#[test]
fn channel_reports_garbage_and_close() {
    rt().block_on(async {
        let (a, b) = socketpair().unwrap();
        let (a, b) = (Channel::new(a).unwrap(), Channel::new(b).unwrap());
        let mut buf = Reader::new(FROM_WORKER_LIMIT);
        b.send_frame(b"random garbage").await.unwrap();
        assert!(matches!(a.recv(&mut buf).await, Err(IpcError::BadMagic(_))));
        // Bigger than the receiver's limit: reported with its real size.
        let big = vec![0u8; MAX_FRAME + 10];
        if b.send_frame(&big).await.is_ok() {
            assert!(matches!(
                a.recv(&mut buf).await,
                Err(IpcError::TooLarge(n)) if n == MAX_FRAME + 10
            ));
        }
        // The channel still works after errors.
        b.send(&Msg::Ping { seq: 1 }).await.unwrap();
        assert_eq!(a.recv(&mut buf).await.unwrap().0, Msg::Ping { seq: 1 });
        drop(b);
        assert!(matches!(a.recv(&mut buf).await, Err(IpcError::Closed)));
    });
}

#[test]
fn every_fixture_config_crosses_the_channel_intact() {
    let dirs = [
        concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures/seeds"),
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../shared/fixtures/keepalived-samples"
        ),
    ];
    let mut n = 0;
    for dir in dirs {
        let Ok(entries) = std::fs::read_dir(dir) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            let name = p.to_string_lossy().to_string();
            if name.ends_with(".md") || name.ends_with(".sh") {
                continue;
            }
            let loaded = crate::config::load(&p, &crate::config::LoadOptions::default());
            if !loaded.is_ok() {
                continue;
            }
            let m = Msg::Reload {
                generation: 2,
                config: Box::new(loaded.config.clone()),
            };
            let back = decode(&encode(&m).unwrap()).unwrap();
            assert_eq!(back, m, "{name}");
            n += 1;
        }
    }
    assert!(n >= 30, "only {n} configurations found");
}

/// States travel as keepalived's words; a word that is not a state is a
/// malformed frame (the connection is reset), not a state to guess at.
#[test]
fn states_keep_their_json_words_and_unknown_words_are_refused() {
    use crate::vrrp::fsm::State;
    let t = Msg::Transition(super::msg::Transition {
        instance: "VI_1".into(),
        from: State::Backup,
        to: State::Master,
        cause: "test".into(),
        priority: 100,
        maintenance: false,
    });
    let json = serde_json::to_string(&t).unwrap();
    assert!(json.contains(r#""from":"BACKUP","to":"MASTER""#), "{json}");
    let check = serde_json::to_string(&sample()).unwrap();
    assert!(check.contains(r#""state":"up""#), "{check}");
    let weird = json.replace("\"MASTER\"", "\"WEIRD\"");
    let mut frame = Vec::new();
    frame.extend_from_slice(&MAGIC);
    frame.extend_from_slice(&PROTOCOL_VERSION.to_be_bytes());
    frame.extend_from_slice(&(weird.len() as u32).to_be_bytes());
    frame.extend_from_slice(weird.as_bytes());
    assert!(matches!(decode(&frame), Err(IpcError::Body(_))));
    let w = serde_json::to_string(&crate::control::status::WorkerState::Restarting).unwrap();
    assert_eq!(w, r#""restarting""#);
}

/// A message larger than one frame (a configuration with thousands of
/// tracked files, a batch of thousands of results) goes over several and
/// arrives whole; one larger than the receiver's limit is refused, and the
/// channel carries on with the next.
#[test]
fn messages_larger_than_a_frame_cross_in_pieces_up_to_the_receivers_limit() {
    let checks: Vec<CheckStatus> = (0..40_000)
        .map(|i| CheckStatus {
            source: format!("file:tracked-file-number-{i:08}"),
            value: Some(i),
            ..match sample() {
                Msg::CheckState(c) => c,
                _ => unreachable!(),
            }
        })
        .collect();
    let big = Msg::Checks { checks };
    let n = frames(&big).unwrap().len();
    assert!(n >= 2, "{n} frame(s)");
    assert!(matches!(encode(&big), Err(IpcError::TooLarge(_))));
    rt().block_on(async {
        let (a, b) = socketpair().unwrap();
        let (a, b) = (Channel::new(a).unwrap(), Channel::new(b).unwrap());
        a.pass_credentials().unwrap();
        let sender = tokio::spawn(async move {
            b.send(&big).await.unwrap();
            b.send(&big).await.unwrap();
            b.send(&Msg::Ping { seq: 9 }).await.unwrap();
            (b, big)
        });
        let mut r = Reader::new(FROM_WORKER_LIMIT);
        let (got, cred) = a.recv(&mut r).await.unwrap();
        assert_eq!(cred.map(|c| c.pid), Some(std::process::id()));
        let mut small = Reader::new(MAX_FRAME);
        assert!(matches!(
            a.recv(&mut small).await,
            Err(IpcError::MessageTooLarge(_))
        ));
        // The rest of the refused message, then the next one.
        let mut next = a.recv(&mut small).await;
        while matches!(
            next,
            Err(IpcError::MessageTooLarge(_)) | Err(IpcError::Body(_))
        ) {
            next = a.recv(&mut small).await;
        }
        assert_eq!(next.unwrap().0, Msg::Ping { seq: 9 });
        let (_b, big) = sender.await.unwrap();
        assert_eq!(got, big);
    });
}

/// Issue 18: a frame above RELEASE_ABOVE gives its buffer's pages back
/// after it is read; the message must be read out whole first, in one
/// frame and in several, and the next one must arrive intact. Such large
/// messages are decoded on a thread of their own; one that does not decode
/// is an error there too, after which the next arrives.
#[test]
fn large_messages_read_back_whole_when_the_buffer_gives_pages_back() {
    rt().block_on(async {
        let (a, b) = socketpair().unwrap();
        let (a, b) = (Channel::new(a).unwrap(), Channel::new(b).unwrap());
        let mut r = Reader::new(16 << 20);
        // One frame of a megabyte that is not a message.
        b.send_frame(&super::frame(&vec![b'['; 1 << 20], false))
            .await
            .unwrap();
        assert!(matches!(a.recv(&mut r).await, Err(IpcError::Body(_))));
        let text = |n: usize, c: u8| Msg::Metrics {
            text: std::iter::repeat_n(char::from(c), n).collect(),
        };
        for (n, c) in [
            (1 << 20, b'a'),
            (300 << 10, b'b'),
            (7 << 20, b'c'),
            (100, b'd'),
            (3 << 20, b'e'),
        ] {
            let m = text(n, c);
            b.send(&m).await.unwrap();
            assert_eq!(a.recv(&mut r).await.unwrap().0, m, "{n} bytes of {c}");
        }
    });
}

/// Issue 18: a frame below RELEASE_ABOVE (a worker's configuration at
/// 2,000 checks) left its pages resident for good; once no frame comes for
/// QUIET, all but KEEP_WHEN_QUIET are given back (also when the caller
/// starts `recv` again and again meanwhile), and the next message still
/// reads whole.
#[test]
fn a_quiet_reader_gives_back_what_its_last_large_frame_touched() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .unwrap();
    rt.block_on(async {
        let (a, b) = socketpair().unwrap();
        let (a, b) = (Channel::new(a).unwrap(), Channel::new(b).unwrap());
        let mut r = Reader::new(16 << 20);
        let text = |n: usize, c: u8| Msg::Metrics {
            text: std::iter::repeat_n(char::from(c), n).collect(),
        };
        let big = text(200 << 10, b'a');
        b.send(&big).await.unwrap();
        assert_eq!(a.recv(&mut r).await.unwrap().0, big);
        let page = crate::sys::mem::page_size();
        let resident = |r: &Reader| r.frame.as_ref().map_or(0, |f| f.resident_pages() * page);
        assert!(resident(&r) >= 200 << 10, "{} bytes resident", resident(&r));
        // Nothing comes for twice QUIET (virtual time), while the caller
        // starts `recv` again every tenth of it, as a worker's loop does.
        for _ in 0..20 {
            assert!(
                tokio::time::timeout(QUIET / 10, a.recv(&mut r))
                    .await
                    .is_err()
            );
        }
        assert!(
            resident(&r) <= KEEP_WHEN_QUIET,
            "{} bytes resident",
            resident(&r)
        );
        for m in [text(100, b'b'), text(200 << 10, b'c')] {
            b.send(&m).await.unwrap();
            assert_eq!(a.recv(&mut r).await.unwrap().0, m);
        }
    });
}

/// Issue 18: a batch of check results and the IPVS worker's table are
/// written into a buffer sized for them at once (grown by doubling from
/// 256 bytes, a batch of 100 checks was copied seven times), and not
/// into one far larger than they need.
#[test]
fn large_messages_are_encoded_into_a_buffer_of_about_their_size() {
    use crate::ipc::msg::{RealServerStatus, VirtualServerStatus};
    let checks = (0..100u16)
        .map(|i| CheckStatus {
            source: format!(
                "real_server:10.200.0.1:80/tcp/127.1.0.{}:{}",
                i % 250,
                20000 + i
            ),
            state: crate::checker::health::Verdict::Up,
            last_result: Some(format!("connected to 127.1.0.{}:{}", i % 250, 20000 + i)),
            latency_us: Some(123_456),
            failures: 12_345,
            runs: 1_234_567,
            value: None,
            policy: None,
            metrics: Vec::new(),
        })
        .collect();
    let status = Msg::IpvsStatus {
        virtual_servers: (0..10u8)
            .map(|v| VirtualServerStatus {
                key: format!("10.200.0.{v}:80/tcp"),
                scheduler: "rr".into(),
                real_servers: (0..100u16)
                    .map(|r| RealServerStatus {
                        address: std::net::SocketAddr::from(([127, 1, 0, v], 20000 + r)).into(),
                        weight: 1,
                        up: true,
                        desired_weight: Some(1),
                        kernel_weight: Some(1),
                        active_conns: 123_456,
                        inactive_conns: 123_456,
                        ..RealServerStatus::default()
                    })
                    .collect(),
                quorum_up: true,
                ..VirtualServerStatus::default()
            })
            .collect(),
        kernel: Box::default(),
    };
    for m in [Msg::Checks { checks }, status] {
        let len = serde_json::to_vec(&m).unwrap().len();
        let hint = m.size_hint();
        assert!(
            hint >= len && hint <= 2 * len,
            "{}: {len} bytes, hint {hint}",
            m.kind()
        );
    }
    assert_eq!(Msg::Ping { seq: 1 }.size_hint(), 256);
}

/// A real server's status is written and read as before (its address as a
/// `SocketAddr` writes it) and is held in 52 bytes, not 80 (issue 18).
#[test]
fn a_real_servers_status_is_small_and_reads_as_before() {
    use crate::ipc::msg::{Endpoint, RealServerStatus};
    assert!(std::mem::size_of::<RealServerStatus>() <= 52);
    for text in ["10.0.0.2:80", "[2001:db8::7]:8080", "0.0.0.0:0"] {
        let e: Endpoint = text.parse().unwrap();
        assert_eq!(e.to_string(), text);
        let json = serde_json::to_string(&e).unwrap();
        let a: std::net::SocketAddr = text.parse().unwrap();
        assert_eq!(json, serde_json::to_string(&a).unwrap());
        assert_eq!(serde_json::from_str::<Endpoint>(&json).unwrap(), e);
    }
    // As the IPVS worker wrote it before (u64 counters, i64 weight).
    let old = r#"{"address":"[2001:db8::7]:8080","weight":5,"up":true,
        "desired_weight":5,"kernel_weight":null,"active_conns":7,"inactive_conns":0}"#;
    let rs: RealServerStatus = serde_json::from_str(old).unwrap();
    assert_eq!(rs.address.port, 8080);
    assert_eq!(
        (rs.weight, rs.desired_weight, rs.kernel_weight),
        (5, Some(5), None)
    );
    assert_eq!((rs.active_conns, rs.inactive_conns), (7, 0));
    // A count the new fields cannot hold is refused, not wrapped.
    let big = old.replace("\"active_conns\":7", "\"active_conns\":4294967296");
    assert!(serde_json::from_str::<RealServerStatus>(&big).is_err());
    for bad in ["10.0.0.2", "10.0.0.2:99999", "[::1]", "x:80"] {
        assert!(bad.parse::<Endpoint>().is_err(), "{bad}");
        assert!(serde_json::from_str::<Endpoint>(&format!("\"{bad}\"")).is_err());
    }
}
