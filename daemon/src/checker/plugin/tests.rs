//! Misbehaving plugins, written as WAT components so that each test is
//! self-contained: the host must turn every one into a failed run with a
//! reason and carry on.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::*;

/// A core module's memory and a bump-allocating `realloc` (the canonical
/// ABI's), shared by the WAT components below.
const MEMORY_AND_REALLOC: &str = r#"(memory (export "mem") 1)
    (global $heap (mut i32) (i32.const 4096))
    (func (export "realloc") (param i32 i32 i32 i32) (result i32)
      (local $p i32)
      global.get $heap
      i32.const 7
      i32.add
      i32.const -8
      i32.and
      local.tee $p
      local.get 3
      i32.add
      global.set $heap
      local.get $p)"#;

/// The component's `check` export and the types it names, lifted from core
/// instance `$i` with the memory and realloc of core instance `mem`.
fn check_export(mem: &str) -> String {
    format!(
        r#"  (type $metric' (record (field "name" string) (field "value" f64)))
  (export $metric "metric" (type $metric'))
  (type $outcome' (record (field "pass" bool) (field "message" string) (field "metrics" (list $metric))))
  (export $outcome "outcome" (type $outcome'))
  (type $request' (record (field "name" string) (field "args" (list (tuple string string))) (field "timeout-ms" u32)))
  (export $request "request" (type $request'))
  (type $check-error' (variant (case "bad-config" string) (case "failed" string)))
  (export $check-error "check-error" (type $check-error'))
  (func $check (param "request" $request) (result (result $outcome (error $check-error)))
    (canon lift (core func $i "check") (memory (core memory {mem} "mem")) (realloc (core func {mem} "realloc"))))
  (export "check" (func $check)))"#
    )
}

/// A component exporting `check` whose core function runs `body` and then
/// returns the result area at 256 (pre-filled by `data` segments).
fn wat(body: &str, data: &str) -> String {
    format!(
        r#"(component
  (core module $m
    {MEMORY_AND_REALLOC}
    {data}
    (func (export "check") (param i32 i32 i32 i32 i32) (result i32)
      {body}
      i32.const 256))
  (core instance $i (instantiate $m))
{}"#,
        check_export("$i")
    )
}

/// ok(outcome{pass: true, message: "ok", metrics: []}).
const PASS_DATA: &str = r#"(data (i32.const 256) "\00\00\00\00\01\00\00\00\00\02\00\00\02\00\00\00\00\00\00\00\00\00\00\00")
    (data (i32.const 512) "ok")"#;

fn host() -> PluginHost {
    PluginHost::new(
        Capacity {
            instances: 4,
            memory_mib: 16,
        },
        None,
    )
    .unwrap()
}

fn probe(dir: &std::path::Path, name: &str, text: &str) -> PluginProbe {
    let bytes = wat::parse_str(text).unwrap();
    let file = dir.join(format!("{name}.wasm"));
    std::fs::write(&file, bytes).unwrap();
    PluginProbe {
        name: name.into(),
        file,
        args: vec![("k".into(), "v".into())],
        memory_mib: 2,
        grants: Arc::new(Grants::default()),
        real_server: None,
    }
}

fn tmp() -> crate::testutil::TempDir {
    crate::testutil::TempDir::new("plugin-test")
}

fn rt() -> tokio::runtime::Runtime {
    crate::ipc::tests::rt()
}

#[test]
fn a_passing_plugin_passes() {
    let d = tmp();
    let p = probe(&d, "pass", &wat("", PASS_DATA));
    let h = host();
    let run = rt().block_on(h.run(&p, Duration::from_secs(1)));
    assert!(run.outcome.ok, "{:?}", run.outcome);
    assert_eq!(run.outcome.message, "ok");
}

#[test]
fn a_replaced_plugin_file_is_read_again_after_forget() {
    let d = tmp();
    let p = probe(&d, "replaced", &wat("", PASS_DATA));
    let h = host();
    let rt = rt();
    assert!(rt.block_on(h.run(&p, Duration::from_secs(1))).outcome.ok);
    std::fs::write(
        &p.file,
        wat::parse_str(wat("unreachable", PASS_DATA)).unwrap(),
    )
    .unwrap();
    // Until the checker reloads, the compiled plugin stays.
    assert!(rt.block_on(h.run(&p, Duration::from_secs(1))).outcome.ok);
    h.forget();
    let run = rt.block_on(h.run(&p, Duration::from_secs(1)));
    assert!(
        run.outcome.message.starts_with("trapped:"),
        "{:?}",
        run.outcome
    );
}

#[test]
fn an_infinite_loop_fails_at_its_timeout_and_other_tasks_keep_running() {
    let d = tmp();
    let p = probe(&d, "spin", &wat("(loop $l (br $l))", PASS_DATA));
    let h = host();
    let rt = rt();
    rt.block_on(h.preload(&p.file)).unwrap();
    let timeout = Duration::from_millis(300);
    // Scheduling noise on a loaded machine can delay one attempt (or spend
    // most of it instantiating, leaving the other task few turns); the
    // bounds are that the best of three lands within 50 ms of the timeout
    // and that in the best one the other task ran at least 5 times.
    let mut best = Duration::MAX;
    let mut most_ticks = 0;
    for _ in 0..3 {
        let ticks = Arc::new(std::sync::atomic::AtomicU32::new(0));
        let t = ticks.clone();
        let started = Instant::now();
        let run = rt.block_on(async {
            // Another task on the same single thread must keep running.
            let other = tokio::spawn(async move {
                loop {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    t.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
            });
            let run = h.run(&p, timeout).await;
            other.abort();
            run
        });
        let took = started.elapsed();
        assert!(!run.outcome.ok);
        assert!(
            run.outcome.message.contains("timed out after 300 ms"),
            "{}",
            run.outcome.message
        );
        assert!(took >= timeout, "stopped early: {took:?}");
        best = best.min(took);
        most_ticks = most_ticks.max(ticks.load(std::sync::atomic::Ordering::Relaxed));
        if best <= timeout + Duration::from_millis(50) && most_ticks >= 5 {
            break;
        }
    }
    assert!(
        most_ticks >= 5,
        "the spinning plugin starved the other task: {most_ticks} turns at best"
    );
    assert!(
        best <= timeout + Duration::from_millis(50),
        "best run took {best:?}"
    );
}

#[test]
fn a_memory_bomb_fails_at_the_limit() {
    let d = tmp();
    let p = probe(
        &d,
        "grow",
        &wat(
            "(loop $l (drop (memory.grow (i32.const 1))) (br $l))",
            PASS_DATA,
        ),
    );
    let run = rt().block_on(host().run(&p, Duration::from_secs(5)));
    assert!(!run.outcome.ok);
    assert_eq!(run.outcome.message, "memory limit of 2 MiB exceeded");
}

#[test]
fn a_trap_fails_with_the_reason() {
    let d = tmp();
    let p = probe(&d, "trap", &wat("unreachable", PASS_DATA));
    let run = rt().block_on(host().run(&p, Duration::from_secs(1)));
    assert!(!run.outcome.ok);
    assert!(
        run.outcome.message.starts_with("trapped:") && run.outcome.message.contains("unreachable"),
        "{}",
        run.outcome.message
    );
}

#[test]
fn a_bad_return_value_fails() {
    let d = tmp();
    // Discriminant 7 is not a case of `result`.
    let p = probe(
        &d,
        "badret",
        &wat("(i32.store8 (i32.const 256) (i32.const 7))", PASS_DATA),
    );
    let run = rt().block_on(host().run(&p, Duration::from_secs(1)));
    assert!(!run.outcome.ok);
    assert!(
        run.outcome.message.starts_with("failed:"),
        "{}",
        run.outcome.message
    );
    // A message that is not UTF-8 is refused the same way.
    let data = PASS_DATA.replace(r#""ok""#, r#""\ff\fe""#);
    let p = probe(&d, "badutf8", &wat("", &data));
    let run = rt().block_on(host().run(&p, Duration::from_secs(1)));
    assert!(!run.outcome.ok, "{:?}", run.outcome);
}

#[test]
fn files_that_are_not_plugins_fail_every_run_with_the_reason() {
    let d = tmp();
    let core = d.join("core.wasm");
    std::fs::write(&core, wat::parse_str("(module)").unwrap()).unwrap();
    let wrong = d.join("wrong.wasm");
    std::fs::write(
        &wrong,
        wat::parse_str("(component (core module $m) (core instance (instantiate $m)))").unwrap(),
    )
    .unwrap();
    let h = host();
    let rt = rt();
    for (file, want) in [
        (core, "not a valid component"),
        (wrong, "does not export `check`"),
        (d.join("missing.wasm"), "cannot read"),
    ] {
        let p = PluginProbe {
            name: "x".into(),
            file,
            args: vec![],
            memory_mib: 2,
            grants: Arc::new(Grants::default()),
            real_server: None,
        };
        let run = rt.block_on(h.run(&p, Duration::from_secs(1)));
        assert!(!run.outcome.ok);
        assert!(
            run.outcome.message.contains(want),
            "{}",
            run.outcome.message
        );
    }
}

#[test]
fn the_cache_reuses_an_artefact_and_ignores_an_unsafe_directory() {
    let t = tmp();
    let d = t.join("cache");
    std::fs::create_dir_all(&d).unwrap();
    std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o700)).unwrap();
    let bytes = wat::parse_str(wat("", PASS_DATA)).unwrap();
    let h = host();
    let secret = [7u8; 32];
    let key = cache::key(&h.engine, &bytes);
    cache::component(&h.engine, &bytes, Some(&d), Some(&secret)).unwrap();
    assert!(d.join(&key).exists());
    let t = Instant::now();
    cache::component(&h.engine, &bytes, Some(&d), Some(&secret)).unwrap();
    assert!(t.elapsed() < Duration::from_secs(5));
    // A corrupt artefact is compiled again, not trusted.
    std::fs::write(d.join(&key), b"garbage").unwrap();
    cache::component(&h.engine, &bytes, Some(&d), Some(&secret)).unwrap();
    // Without the parent's key the cache is not used at all.
    std::fs::remove_file(d.join(&key)).unwrap();
    cache::component(&h.engine, &bytes, Some(&d), None).unwrap();
    assert!(!d.join(&key).exists());
    // World-writable: not used at all.
    std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o777)).unwrap();
    cache::component(&h.engine, &bytes, Some(&d), Some(&secret)).unwrap();
    assert!(!d.join(&key).exists());
}

/// Regression: anything running as the checker's account (every script it
/// runs) could plant native code in the cache, and the next checker loaded
/// it. An artefact planted under a plugin's name — another plugin's,
/// genuinely compiled, with or without its own MAC — is not loaded.
#[test]
fn a_planted_artefact_is_not_loaded() {
    let t = tmp();
    let d = t.join("planted");
    std::fs::create_dir_all(&d).unwrap();
    std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o700)).unwrap();
    let h = host();
    let secret = [9u8; 32];
    let honest = wat::parse_str(wat("unreachable", PASS_DATA)).unwrap();
    let evil = wat::parse_str(wat("", PASS_DATA)).unwrap();
    // The attacker caches their plugin (a valid MAC, for their plugin)...
    cache::component(&h.engine, &evil, Some(&d), Some(&secret)).unwrap();
    let evil_file = d.join(cache::key(&h.engine, &evil));
    // ...and puts it where the honest plugin's artefact goes.
    let honest_file = d.join(cache::key(&h.engine, &honest));
    std::fs::copy(&evil_file, &honest_file).unwrap();
    let planted = std::fs::read(&honest_file).unwrap();
    let p = PluginProbe {
        name: "honest".into(),
        file: d.join("honest.wasm"),
        args: Vec::new(),
        memory_mib: 2,
        grants: Arc::new(Grants::default()),
        real_server: None,
    };
    std::fs::write(&p.file, &honest).unwrap();
    crate::checker::plugin::set_cache_key(secret.to_vec());
    let h = PluginHost::new(
        Capacity {
            instances: 2,
            memory_mib: 16,
        },
        Some(d.clone()),
    )
    .unwrap();
    let run = rt().block_on(h.run(&p, Duration::from_secs(5)));
    // The honest plugin traps; the planted one would have passed.
    assert!(
        !run.outcome.ok,
        "the planted artefact ran: {:?}",
        run.outcome
    );
    assert_ne!(
        std::fs::read(&honest_file).unwrap(),
        planted,
        "not replaced"
    );
}

use std::os::unix::fs::PermissionsExt;

/// Regression: the memory limit applied to each linear memory, so a
/// component with several core instances (each with its memory) got
/// several times its limit. Two memories of 1.25 MiB each now exceed a
/// 2 MiB limit together; one alone fits.
#[test]
fn the_memory_limit_counts_every_memory_of_the_run() {
    let d = tmp();
    let second = r#"(core instance $i (instantiate $m))
  (core module $big (memory (export "m") 20))
  (core instance $b (instantiate $big))"#;
    let text = wat("", PASS_DATA)
        .replace(
            "(memory (export \"mem\") 1)",
            "(memory (export \"mem\") 20)",
        )
        .replace("(core instance $i (instantiate $m))", second);
    let p = probe(&d, "two-memories", &text);
    let run = rt().block_on(host().run(&p, Duration::from_secs(5)));
    assert!(!run.outcome.ok, "{:?}", run.outcome);
    assert_eq!(run.outcome.message, "memory limit of 2 MiB exceeded");
    let alone = wat(
        "",
        &format!("{PASS_DATA}\n    (data (i32.const 1310000) \"x\")"),
    )
    .replace(
        "(memory (export \"mem\") 1)",
        "(memory (export \"mem\") 20)",
    );
    let p = probe(&d, "one-memory", &alone);
    let run = rt().block_on(host().run(&p, Duration::from_secs(5)));
    assert!(run.outcome.ok, "{:?}", run.outcome);
}

/// A component importing `upkeep:check/host@VERSION` with `imports` (its
/// instance type) and running `body` in `check`; `env` lists the lowered
/// imports the core module sees (`(func ...)` lines for module `env`).
fn wat_importing(
    version: &str,
    imports: &str,
    lower: &str,
    env: &str,
    body: &str,
    data: &str,
) -> String {
    format!(
        r#"(component
  (import "upkeep:check/host@{version}" (instance $host {imports}))
  (core module $mem
    {MEMORY_AND_REALLOC})
  (core instance $mi (instantiate $mem))
  {lower}
  (core module $m
    (import "env" "mem" (memory 1))
    {env}
    {data}
    (func (export "check") (param i32 i32 i32 i32 i32) (result i32)
      {body}
      i32.const 256))
  (core instance $i (instantiate $m (with "env" (instance
    (export "mem" (memory $mi "mem"))
    (export "f" (func $f))))))
{}"#,
        check_export("$mi")
    )
}

/// A plugin for upkeep:check@0.1.1 that calls `host.real-server()`: the
/// message is the IP (or "none") and the metric `port` the port.
fn real_server_plugin() -> String {
    wat_importing(
        "0.1.1",
        r#"(type $endpoint' (record (field "ip" string) (field "port" u16)))
    (export "endpoint" (type $endpoint (eq $endpoint')))
    (type $rs (func (result (option $endpoint))))
    (export "real-server" (func (type $rs)))"#,
        r#"(alias export $host "real-server" (func $rs))
  (core func $f (canon lower (func $rs) (memory (core memory $mi "mem")) (realloc (core func $mi "realloc"))))"#,
        r#"(import "env" "f" (func $real_server (param i32)))"#,
        // option<endpoint> at 128: tag, then ip (ptr, len) at 132/136 and
        // the port at 140. On some: message = ip, metrics = [port].
        r#"(call $real_server (i32.const 128))
      (if (i32.load8_u (i32.const 128))
        (then
          (i32.store (i32.const 264) (i32.load (i32.const 132)))
          (i32.store (i32.const 268) (i32.load (i32.const 136)))
          (i32.store (i32.const 272) (i32.const 1024))
          (i32.store (i32.const 276) (i32.const 1))
          (i32.store (i32.const 1024) (i32.const 1100))
          (i32.store (i32.const 1028) (i32.const 4))
          (f64.store (i32.const 1032) (f64.convert_i32_u (i32.load16_u (i32.const 140))))))"#,
        r#"(data (i32.const 256) "\00\00\00\00\01\00\00\00\00\02\00\00\04\00\00\00\00\00\00\00\00\00\00\00")
    (data (i32.const 512) "none")
    (data (i32.const 1100) "port")"#,
    )
}

/// Issue 16: a real server's checker learns the address it checks from
/// `host.real-server()` (0.1.1); a vrrp_script's gets none.
#[test]
fn real_server_gives_the_checked_address_and_none_in_a_vrrp_script() {
    let d = tmp();
    let h = host();
    for (real_server, message, port) in [
        (Some("192.0.2.7:8080"), "192.0.2.7", Some(8080.0)),
        (Some("[2001:db8::1]:443"), "2001:db8::1", Some(443.0)),
        (None, "none", None),
    ] {
        let mut p = probe(&d, "real-server", &real_server_plugin());
        p.real_server = real_server.map(|a| a.parse().unwrap());
        let run = rt().block_on(h.run(&p, Duration::from_secs(2)));
        assert!(run.outcome.ok, "{real_server:?}: {:?}", run.outcome);
        assert_eq!(run.outcome.message, message, "{real_server:?}");
        let got = run.metrics.iter().find(|(n, _)| n == "port").map(|m| m.1);
        assert_eq!(got, port, "{real_server:?}: {:?}", run.metrics);
    }
}

/// Issue 16: a plugin built for upkeep:check@0.1.0 (before real-server)
/// still links against the 0.1.1 host and runs.
#[test]
fn a_plugin_built_for_0_1_0_still_links_and_runs() {
    let d = tmp();
    let text = wat_importing(
        "0.1.0",
        r#"(type $now (func (result u64)))
    (export "monotonic-now" (func (type $now)))"#,
        r#"(alias export $host "monotonic-now" (func $now))
  (core func $f (canon lower (func $now)))"#,
        r#"(import "env" "f" (func $now (result i64)))"#,
        "(drop (call $now))",
        PASS_DATA,
    );
    let p = probe(&d, "old", &text);
    let run = rt().block_on(host().run(&p, Duration::from_secs(2)));
    assert!(run.outcome.ok, "{:?}", run.outcome);
    assert_eq!(run.outcome.message, "ok");
}
