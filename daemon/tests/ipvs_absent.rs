//! A kernel without IPVS (this development machine's: no module ip_vs, none
//! loadable): upkeepd with virtual servers validates, runs VRRP, and says
//! "the kernel has no IPVS (module ip_vs)" once in its log, in `upkeepctl
//! status` and in the metrics; its IPVS worker does not crash-loop. Needs
//! root (network namespaces); skipped, loudly, on a kernel that has IPVS.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a test crate fails by panicking

mod common;

use std::time::Duration;

use common::lab::Lab;

const UPKEEPD: &str = env!("CARGO_BIN_EXE_upkeepd");
const UPKEEPCTL: &str = env!("CARGO_BIN_EXE_upkeepctl");
const NO_IPVS: &str = "the kernel has no IPVS (module ip_vs)";

fn kernel_has_ipvs() -> bool {
    std::path::Path::new("/proc/net/ip_vs").exists()
        || std::path::Path::new("/sys/module/ip_vs").exists()
}

fn conf(lab: &Lab) -> String {
    let instance = common::lab::vrrp_instance(lab, 0, 100, &["10.77.0.100/24"], "");
    format!(
        r#"{instance}
{vs}"#,
        vs = common::lab::dr_virtual_server("10.77.0.100", 2, 1),
    )
}

#[test]
fn without_ipvs_vrrp_runs_and_the_missing_module_is_reported_once() {
    if kernel_has_ipvs() {
        eprintln!("\n\n*** SKIPPED: this kernel has IPVS; the test is for one without ***\n\n");
        return;
    }
    let mut lab = Lab::new(1);
    let keepalived_conf = conf(&lab);
    let path = lab.config_path(0, "keepalived.conf");
    std::fs::write(&path, &keepalived_conf).unwrap();
    // `upkeepd -t` validates regardless of the kernel.
    common::upkeepd_ok(&["-t".as_ref(), "-f".as_ref(), path.as_os_str()]);
    // The same configuration as TOML, with metrics.
    let dump = common::upkeepd_ok(&["--dump-config".as_ref(), "-f".as_ref(), path.as_os_str()]);
    let toml = format!("[global]\nmetrics_address = \"127.0.0.1:9650\"\n\n{dump}");
    lab.start(0, UPKEEPD, &toml, "upkeep.toml");
    lab.expect_state(0, "VI_1", "MASTER", Duration::from_secs(15));
    let reported = lab.wait(Duration::from_secs(15), || {
        lab.status(0)
            .is_some_and(|s| s["ipvs"]["error"] == NO_IPVS && s["ipvs"]["available"] == false)
    });
    assert!(reported, "status: {:?}\n{}", lab.status(0), lab.log(0));
    // Two more reconcile periods: still quiet, no restart, VRRP untouched.
    std::thread::sleep(Duration::from_secs(11));
    let log = lab.log(0);
    assert_eq!(log.matches(NO_IPVS).count(), 1, "{log}");
    assert_eq!(lab.worker_restarts(0, "ipvs"), Some(0), "{log}");
    assert_eq!(lab.state(0, "VI_1").as_deref(), Some("MASTER"));
    assert!(lab.has_addr(0, "10.77.0.100"));
    let s = lab.status(0).unwrap();
    assert_eq!(s["ipvs"]["error_kind"], "no_ipvs");
    assert_eq!(s["ipvs"]["errors"]["no_ipvs"], 1, "{s}");
    // upkeepctl status says it.
    let runtime = lab.runtime_dir(0);
    let out = lab.exec(
        0,
        &[
            UPKEEPCTL,
            "--runtime-dir",
            runtime.to_str().unwrap(),
            "status",
        ],
    );
    assert!(out.contains(NO_IPVS), "{out}");
    // So do the metrics.
    let metrics = lab.exec(0, &["curl", "-fsS", "http://127.0.0.1:9650/metrics"]);
    assert!(metrics.contains("upkeep_ipvs_available 0"), "{metrics}");
    assert!(
        metrics.contains(r#"upkeep_ipvs_errors_total{error="no_ipvs"} 1"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"upkeep_worker_up{role="ipvs"} 1"#),
        "{metrics}"
    );
}
