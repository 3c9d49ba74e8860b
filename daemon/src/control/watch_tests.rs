use super::*;

fn transition() -> Kind {
    Kind::Transition {
        instance: "VI_1".into(),
        from: State::Backup,
        to: State::Master,
        cause: "master down".into(),
        priority: 100,
    }
}

#[test]
fn utc_spells_wall_clock_time() {
    assert_eq!(utc(0), "1970-01-01T00:00:00.000Z");
    // 2026-12-02T13:40:01.123Z
    assert_eq!(utc(1_796_218_801_123), "2026-12-02T13:40:01.123Z");
    // A leap day.
    assert_eq!(utc(951_782_400_000), "2000-02-29T00:00:00.000Z");
}

#[test]
fn human_lines() {
    let e = Event {
        at_ms: 1_796_218_801_123,
        kind: transition(),
    };
    assert_eq!(
        e.human(),
        "2026-12-02T13:40:01.123Z VI_1 BACKUP -> MASTER (master down) prio 100"
    );
    let line = |kind| Event { at_ms: 0, kind }.human()[25..].to_string();
    assert_eq!(
        line(Kind::Check {
            source: "script:chk".into(),
            state: Verdict::Down,
            value: None
        }),
        "check script:chk down"
    );
    assert_eq!(
        line(Kind::ReloadFinished {
            generation: 3,
            ok: false,
            error: Some("invalid configuration".into())
        }),
        "reload failed (invalid configuration); generation 3 still running"
    );
    assert_eq!(
        line(Kind::Addresses {
            instance: "VI_1".into(),
            restored: 1,
            removed: 0
        }),
        "VI_1 addresses: 1 removed by someone else put back"
    );
    assert_eq!(line(Kind::Lagged { missed: 7 }), "lagged: 7 events missed");
}

#[test]
fn json_lines_carry_an_event_tag_and_the_time() {
    let e = Event {
        at_ms: 5,
        kind: transition(),
    };
    let v: serde_json::Value = serde_json::to_value(&e).unwrap();
    assert_eq!(v["event"], "transition");
    assert_eq!(v["at_ms"], 5);
    assert_eq!(v["to"], "MASTER");
    let back: Event = serde_json::from_value(v).unwrap();
    assert_eq!(back, e);
    let r: Event =
        serde_json::from_str(r#"{"at_ms":1,"event":"reload_started","generation":2}"#).unwrap();
    assert_eq!(r.kind, Kind::ReloadStarted { generation: 2 });
}

/// A watcher that never reads holds the parent to nothing: publishing goes
/// on, what is kept stays at the capacity, and the watcher is told how many
/// it missed before it carries on with the newest.
#[tokio::test]
async fn a_watcher_that_never_reads_keeps_the_queue_bounded() {
    let hub = Hub::new(8, 2);
    let mut idle = hub.watch().unwrap();
    for generation in 0..10_000 {
        hub.publish(Kind::ReloadStarted { generation });
        assert!(hub.queued() <= 8);
    }
    let first = idle.next().await.unwrap();
    assert_eq!(first.kind, Kind::Lagged { missed: 10_000 - 8 });
    let next = idle.next().await.unwrap();
    assert_eq!(
        next.kind,
        Kind::ReloadStarted {
            generation: 10_000 - 8
        }
    );
}

/// Nobody watching: no channel is made, and publishing keeps nothing.
/// The first watcher makes it; a clone of the hub (the control server's)
/// publishes to the same watchers.
#[tokio::test]
async fn the_channel_is_made_for_the_first_watcher_and_shared_by_clones() {
    let hub = Hub::default();
    let server = hub.clone();
    for generation in 0..100 {
        hub.publish(Kind::ReloadStarted { generation });
    }
    assert!(hub.tx.get().is_none());
    assert_eq!(hub.queued(), 0);
    let mut w = server.watch().unwrap();
    assert!(hub.tx.get().is_some());
    assert!(hub.watched());
    hub.publish(Kind::Stopping);
    assert_eq!(w.next().await.unwrap().kind, Kind::Stopping);
}

#[test]
fn watchers_beyond_the_limit_are_refused_until_one_leaves() {
    let hub = Hub::new(8, 2);
    let a = hub.watch().unwrap();
    let _b = hub.watch().unwrap();
    assert!(hub.watch().is_err());
    drop(a);
    assert!(hub.watch().is_ok());
}

#[tokio::test]
async fn the_stream_ends_when_the_daemon_drops_the_hub() {
    let hub = Hub::default();
    let mut w = hub.watch().unwrap();
    hub.publish(Kind::Stopping);
    drop(hub);
    assert_eq!(w.next().await.unwrap().kind, Kind::Stopping);
    assert!(w.next().await.is_none());
}

/// A client that stops reading is dropped after the write time limit (its
/// slot comes back); publishing never waited for it.
#[tokio::test]
async fn a_client_that_stops_reading_is_disconnected() {
    let limit = Duration::from_millis(200);
    let hub = Hub::new(64, 1);
    let (server, _client) = tokio::net::UnixStream::pair().unwrap();
    let (read, write) = server.into_split();
    let task = tokio::spawn(hub.watch().unwrap().stream_within(read, write, limit));
    let big = "x".repeat(4096);
    // Far more than the socket buffer holds.
    for _ in 0..2000 {
        hub.publish(Kind::Check {
            source: big.clone(),
            state: Verdict::Down,
            value: None,
        });
        tokio::task::yield_now().await;
    }
    tokio::time::timeout(limit * 10, task)
        .await
        .expect("the watcher gave up")
        .unwrap();
    assert!(hub.watch().is_ok(), "its slot is free again");
}
