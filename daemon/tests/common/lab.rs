//! A network-namespace lab for integration tests: `n` nodes, each in its own
//! namespace with `eth0` on a bridge in another namespace, all created by the
//! test and removed on drop (also when the test fails). Traffic never leaves
//! these namespaces. Every wait is bounded.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

static COUNTER: AtomicU32 = AtomicU32::new(0);

pub struct Node {
    pub ns: String,
    /// IPv4 address on eth0 (10.77.0.(10+k)/24) and IPv6 (fd77::(10+k)/64).
    pub v4: String,
    pub v6: String,
    pub dir: PathBuf,
    pub child: Option<Child>,
    /// Other processes started in this node (peers such as keepalived, captures).
    pub extra: Vec<Child>,
}

pub struct Lab {
    pub nodes: Vec<Node>,
    bridge_ns: String,
    dir: PathBuf,
    /// A command the daemon is started under (e.g. `unshare --pid ...`).
    pub wrapper: Vec<String>,
    /// Processes in the bridge's namespace (captures on `br0`).
    bridge_extra: Vec<Child>,
}

/// Runs a command; panics with its output when it fails.
pub fn sh(args: &[&str]) -> String {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .unwrap_or_else(|e| panic!("{args:?}: {e}"));
    assert!(
        out.status.success(),
        "{args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn sh_ok(args: &[&str]) -> bool {
    Command::new(args[0])
        .args(&args[1..])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

pub fn require_root() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "network-namespace tests need root (run scripts/test.sh as root)"
    );
}

impl Lab {
    pub fn new(n: usize) -> Lab {
        require_root();
        let id = format!(
            "{}{}",
            std::process::id() % 100_000,
            COUNTER.fetch_add(1, Ordering::SeqCst)
        );
        let dir = std::env::temp_dir().join(format!("upkeep-lab-{id}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("lab dir");
        let bridge_ns = format!("uk{id}br");
        let mut lab = Lab {
            nodes: Vec::new(),
            bridge_ns: bridge_ns.clone(),
            // A command to run the daemons under, for diagnosis
            // (scripts/seccomp-measure.py traces them with strace).
            wrapper: std::env::var("UPKEEP_LAB_WRAPPER")
                .map(|w| w.split_whitespace().map(String::from).collect())
                .unwrap_or_default(),
            dir,
            bridge_extra: Vec::new(),
        };
        sh(&["ip", "netns", "add", &bridge_ns]);
        sh(&[
            "ip", "-n", &bridge_ns, "link", "add", "br0", "type", "bridge",
        ]);
        // No multicast snooping: the bridge forwards VRRP multicast to every port at once.
        sh(&[
            "ip",
            "-n",
            &bridge_ns,
            "link",
            "set",
            "br0",
            "type",
            "bridge",
            "mcast_snooping",
            "0",
        ]);
        sh(&["ip", "-n", &bridge_ns, "link", "set", "br0", "up"]);
        for k in 0..n {
            let ns = format!("uk{id}n{k}");
            let node_dir = lab.dir.join(format!("n{k}"));
            std::fs::create_dir_all(&node_dir).expect("node dir");
            lab.nodes.push(Node {
                ns: ns.clone(),
                v4: format!("10.77.0.{}", 10 + k),
                v6: format!("fd77::{}", 10 + k),
                dir: node_dir,
                child: None,
                extra: Vec::new(),
            });
            sh(&["ip", "netns", "add", &ns]);
            // Before the link exists, so that it starts without DAD.
            sh(&[
                "ip",
                "netns",
                "exec",
                &ns,
                "sysctl",
                "-qw",
                "net.ipv6.conf.all.accept_dad=0",
                "net.ipv6.conf.default.accept_dad=0",
            ]);
            lab.plug(k);
        }
        // Wait for the link-local addresses (bounded).
        for k in 0..n {
            lab.wait(Duration::from_secs(5), || {
                lab.ip(k, &["-6", "addr", "show", "dev", "eth0", "scope", "link"])
                    .contains("fe80")
            });
        }
        lab
    }

    /// Connects node `k` to the bridge: `eth0` (a veth whose peer `pK` is
    /// a bridge port), up, with the node's addresses. `Lab::new` does it
    /// for every node; a test that deleted `eth0` does it again.
    pub fn plug(&self, k: usize) {
        let ns = self.nodes[k].ns.as_str();
        let bridge_ns = self.bridge_ns.as_str();
        let peer = format!("p{k}");
        sh(&[
            "ip", "link", "add", "eth0", "netns", ns, "type", "veth", "peer", "name", &peer,
            "netns", bridge_ns,
        ]);
        sh(&[
            "ip", "-n", bridge_ns, "link", "set", &peer, "master", "br0", "up",
        ]);
        sh(&["ip", "-n", ns, "link", "set", "lo", "up"]);
        sh(&["ip", "-n", ns, "link", "set", "eth0", "up"]);
        sh(&[
            "ip",
            "-n",
            ns,
            "addr",
            "add",
            &format!("10.77.0.{}/24", 10 + k),
            "dev",
            "eth0",
        ]);
        sh(&[
            "ip",
            "-n",
            ns,
            "addr",
            "add",
            &format!("fd77::{}/64", 10 + k),
            "dev",
            "eth0",
            "nodad",
        ]);
    }

    /// Deletes node `k`'s `eth0` (and with it its bridge port).
    pub fn unplug(&self, k: usize) {
        self.ip(k, &["link", "del", "eth0"]);
    }

    /// `ip -n BRIDGE_NS args...`: the bridge side (ports `pK`, `pKa`...).
    pub fn bridge_ip(&self, args: &[&str]) -> String {
        let mut v = vec!["ip", "-n", self.bridge_ns.as_str()];
        v.extend_from_slice(args);
        sh(&v)
    }

    /// Whether the kernel makes links of `kind` (`bond`, `vlan`): some
    /// kernels are built without them. Tried on node `k`'s `eth0`.
    pub fn supports(&self, k: usize, kind: &str) -> bool {
        let ns = self.nodes[k].ns.as_str();
        let made = match kind {
            "vlan" => sh_ok(&[
                "ip", "-n", ns, "link", "add", "link", "eth0", "name", "probe0", "type", "vlan",
                "id", "4000",
            ]),
            _ => sh_ok(&["ip", "-n", ns, "link", "add", "probe0", "type", kind]),
        };
        if made {
            let _ = sh_ok(&["ip", "-n", ns, "link", "del", "probe0"]);
        }
        made
    }

    /// An active-backup bond `name` (miimon 100 ms) on node `k`, without members.
    pub fn add_bond(&self, k: usize, name: &str) {
        self.ip(
            k,
            &[
                "link",
                "add",
                name,
                "type",
                "bond",
                "mode",
                "active-backup",
                "miimon",
                "100",
            ],
        );
    }

    /// Node `k`'s `eth0` replaced by an active-backup bond `bond0` (miimon
    /// 100 ms) of two veths, `m0` and `m1`, whose peers `pKa` and `pKb` are
    /// ports of the same bridge (the inactive member drops what it
    /// receives, so the bond hears each frame once). The node's addresses
    /// move to `bond0`. Pulling `pKa` down on the bridge side takes `m0`'s
    /// carrier away.
    pub fn bond(&self, k: usize) {
        self.unplug(k);
        let ns = self.nodes[k].ns.as_str();
        let bridge_ns = self.bridge_ns.as_str();
        self.add_bond(k, "bond0");
        for (m, side) in [("m0", "a"), ("m1", "b")] {
            let peer = format!("p{k}{side}");
            sh(&[
                "ip", "link", "add", m, "netns", ns, "type", "veth", "peer", "name", &peer,
                "netns", bridge_ns,
            ]);
            sh(&[
                "ip", "-n", bridge_ns, "link", "set", &peer, "master", "br0", "up",
            ]);
            self.ip(k, &["link", "set", m, "master", "bond0"]);
        }
        self.ip(k, &["link", "set", "bond0", "up"]);
        self.ip(
            k,
            &[
                "addr",
                "add",
                &format!("10.77.0.{}/24", 10 + k),
                "dev",
                "bond0",
            ],
        );
        let lab = self;
        assert!(
            lab.wait(Duration::from_secs(5), || {
                lab.ip(k, &["link", "show", "bond0"]).contains("LOWER_UP")
            }),
            "bond0 of node {k} did not come up: {}",
            lab.ip(k, &["-d", "link", "show", "bond0"])
        );
    }

    /// A VLAN `eth0.ID` on node `k`'s `eth0`, up, with 10.(ID+68).0.(10+k)/24
    /// (VLAN 10: 10.78.0.x). The bridge does not filter VLANs: tagged
    /// frames pass between the nodes' VLANs of one ID.
    pub fn vlan(&self, k: usize, id: u16) -> String {
        let name = format!("eth0.{id}");
        let id_s = id.to_string();
        self.ip(
            k,
            &[
                "link", "add", "link", "eth0", "name", &name, "type", "vlan", "id", &id_s,
            ],
        );
        self.ip(k, &["link", "set", &name, "up"]);
        self.ip(
            k,
            &[
                "addr",
                "add",
                &format!("10.{}.0.{}/24", u32::from(id) + 68, 10 + k),
                "dev",
                &name,
            ],
        );
        name
    }

    /// Every process in node `k`'s network namespace stopped (SIGSTOP),
    /// then killed (SIGKILL): a node that dies at once. Killed one by one,
    /// a child that outlives its parent for a moment may resign first
    /// (keepalived's VRRP process sends priority 0 when its parent goes).
    pub fn kill_all(&mut self, k: usize) -> usize {
        let out = Command::new("ip")
            .args(["netns", "pids", &self.nodes[k].ns])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default();
        let pids: Vec<i32> = out
            .split_whitespace()
            .filter_map(|p| p.parse().ok())
            .collect();
        for sig in [
            nix::sys::signal::Signal::SIGSTOP,
            nix::sys::signal::Signal::SIGKILL,
        ] {
            for &pid in &pids {
                let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), sig);
            }
        }
        if let Some(mut c) = self.nodes[k].child.take() {
            let _ = c.wait();
        }
        pids.len()
    }

    /// `ip -n NS args...`
    pub fn ip(&self, k: usize, args: &[&str]) -> String {
        let mut v = vec!["ip", "-n", self.nodes[k].ns.as_str()];
        v.extend_from_slice(args);
        sh(&v)
    }

    /// `ip -n NS ARGS...` racing the daemon, which may put an address back
    /// while ip still works: a flush then gives up ("Flush remains
    /// incomplete after 10 rounds") and fails, which is the daemon doing its
    /// job. The exit status is ignored; the caller checks the outcome.
    pub fn ip_racing(&self, k: usize, args: &[&str]) {
        let mut v = vec!["ip", "-n", self.nodes[k].ns.as_str()];
        v.extend_from_slice(args);
        let _ = sh_ok(&v);
    }

    /// Runs a command inside node `k`'s namespace.
    pub fn exec(&self, k: usize, args: &[&str]) -> String {
        let mut v = vec!["ip", "netns", "exec", self.nodes[k].ns.as_str()];
        v.extend_from_slice(args);
        sh(&v)
    }

    /// The pids of the processes named `name` (their comm) in node `k`'s
    /// network namespace.
    pub fn pids_named(&self, k: usize, name: &str) -> Vec<i32> {
        let out = Command::new("ip")
            .args(["netns", "pids", &self.nodes[k].ns])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default();
        out.split_whitespace()
            .filter(|pid| {
                std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() == name)
            })
            .filter_map(|pid| pid.parse().ok())
            .collect()
    }

    /// Whether a process named `name` runs in node `k`'s namespace.
    pub fn runs(&self, k: usize, name: &str) -> bool {
        !self.pids_named(k, name).is_empty()
    }

    /// kill -9 every process named `name` in node `k`'s namespace; how many.
    pub fn kill_named(&self, k: usize, name: &str) -> usize {
        let pids = self.pids_named(k, name);
        for &pid in &pids {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        pids.len()
    }

    /// What node `k` gets from `url` (curl, 1 s at most; empty on failure).
    pub fn fetch(&self, k: usize, url: &str) -> String {
        let out = Command::new("ip")
            .args([
                "netns",
                "exec",
                &self.nodes[k].ns,
                "curl",
                "-s",
                "-m",
                "1",
                url,
            ])
            .output();
        out.map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_default()
    }

    /// Writes node `k`'s nginx.conf (port 80 answering `page`, with a
    /// stub_status location when asked) and starts nginx; the file's path.
    pub fn start_nginx(&self, k: usize, page: &str, stub_status: bool) -> String {
        let dir = self.nodes[k].dir.display().to_string();
        let path = format!("{dir}/nginx.conf");
        std::fs::write(&path, nginx_conf(&dir, page, stub_status)).expect("writing nginx.conf");
        self.exec(k, &["/usr/sbin/nginx", "-c", &path]);
        path
    }

    pub fn config_path(&self, k: usize, name: &str) -> PathBuf {
        self.nodes[k].dir.join(name)
    }

    /// Starts upkeepd on node `k` with the given configuration text.
    pub fn start(&mut self, k: usize, bin: &str, config: &str, file_name: &str) {
        self.start_with(k, bin, config, file_name, &[], &[]);
    }

    /// Like [`Lab::start`], with more arguments and environment variables.
    pub fn start_with(
        &mut self,
        k: usize,
        bin: &str,
        config: &str,
        file_name: &str,
        args: &[&str],
        env: &[(&str, &str)],
    ) {
        let conf = self.config_path(k, file_name);
        std::fs::write(&conf, config).expect("write config");
        let node = &self.nodes[k];
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(node.dir.join("upkeepd.log"))
            .expect("log");
        let runtime = node.dir.join("run");
        let _ = std::fs::remove_file(runtime.join("status.json"));
        let child = Command::new("ip")
            .args(["netns", "exec", &node.ns])
            .args(&self.wrapper)
            .args([bin, "-f"])
            .arg(&conf)
            .arg("--runtime-dir")
            .arg(&runtime)
            .arg("--cache-dir")
            .arg(node.dir.join("cache"))
            .arg("--state-dir")
            .arg(node.dir.join("state"))
            .args(args)
            .envs(env.iter().copied())
            .env("RUST_LOG", "debug")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn upkeepd");
        self.nodes[k].child = Some(child);
    }

    /// Starts another program in node `k` (kept until the lab is dropped).
    pub fn spawn(&mut self, k: usize, args: &[&str], log_name: &str) {
        let node = &self.nodes[k];
        let log = std::fs::File::create(node.dir.join(log_name)).expect("log");
        let child = Command::new("ip")
            .args(["netns", "exec", &node.ns])
            .args(args)
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("spawn");
        self.nodes[k].extra.push(child);
    }

    /// Starts Debian's keepalived (VRRP only, in the foreground) on node `k`.
    pub fn start_keepalived(&mut self, k: usize, config: &str) {
        let dir = self.nodes[k].dir.clone();
        let conf = dir.join("keepalived.conf");
        std::fs::write(&conf, config).expect("write keepalived.conf");
        let (c, p, r) = (
            conf.to_string_lossy().into_owned(),
            dir.join("k.pid"),
            dir.join("kv.pid"),
        );
        let _ = std::fs::remove_file(&p);
        let _ = std::fs::remove_file(&r);
        let (p, r) = (
            p.to_string_lossy().into_owned(),
            r.to_string_lossy().into_owned(),
        );
        self.spawn(
            k,
            &[
                "keepalived",
                "-n",
                "-l",
                "-D",
                "-P",
                "-f",
                &c,
                "-p",
                &p,
                "-r",
                &r,
            ],
            "keepalived.log",
        );
        // Bounded wait for its VRRP child.
        self.wait(Duration::from_secs(5), || dir.join("kv.pid").exists());
    }

    /// Starts keepalived with `confs[k]` on each node `k` and waits
    /// (bounded) for node 0 to hold `vip`, then two more seconds.
    pub fn start_keepalived_nodes(&mut self, confs: &[String], vip: &str) {
        for (k, c) in confs.iter().enumerate() {
            self.start_keepalived(k, c);
        }
        assert!(
            self.wait(Duration::from_secs(10), || self.has_addr(0, vip)),
            "{}",
            self.keepalived_log(0)
        );
        std::thread::sleep(Duration::from_secs(2));
    }

    /// Runs `upkeepctl` against node `k`'s daemon as uid and gid 65534
    /// (nobody): for the control socket's refusals.
    pub fn upkeepctl_as_nobody(&self, k: usize, args: &[&str]) -> std::process::Output {
        Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(env!("CARGO_BIN_EXE_upkeepctl"))
            .arg("--runtime-dir")
            .arg(self.runtime_dir(k))
            .args(args)
            .output()
            .expect("setpriv")
    }

    /// Sends `sig` to keepalived's parent and VRRP child on node `k`.
    pub fn signal_keepalived(&mut self, k: usize, sig: i32) {
        for f in ["kv.pid", "k.pid"] {
            let pid = std::fs::read_to_string(self.nodes[k].dir.join(f))
                .ok()
                .and_then(|s| s.trim().parse::<i32>().ok());
            if let Some(pid) = pid {
                // SAFETY: kill(2) with a pid from keepalived's own pid file.
                unsafe {
                    libc::kill(pid, sig);
                }
            }
        }
    }

    pub fn keepalived_log(&self, k: usize) -> String {
        std::fs::read_to_string(self.nodes[k].dir.join("keepalived.log")).unwrap_or_default()
    }

    pub fn signal(&mut self, k: usize, sig: i32) {
        if let Some(pid) = self.daemon_pid(k) {
            // SAFETY: kill(2) with a pid we read from the daemon's pid file.
            unsafe {
                libc::kill(pid, sig);
            }
        }
    }

    /// Waits (bounded) for the daemon of node `k` to exit; its exit time.
    pub fn wait_exit(&mut self, k: usize, limit: Duration) -> Option<Duration> {
        let start = Instant::now();
        let child = self.nodes[k].child.as_mut()?;
        while start.elapsed() < limit {
            if let Ok(Some(_)) = child.try_wait() {
                self.nodes[k].child = None;
                return Some(start.elapsed());
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        None
    }

    /// The daemon's own pid (the child is `ip netns exec`, which execs it).
    pub fn daemon_pid(&self, k: usize) -> Option<i32> {
        let p = self.nodes[k].dir.join("run/upkeepd.pid");
        std::fs::read_to_string(p).ok()?.trim().parse().ok()
    }

    /// The runtime directory of node `k` (for upkeepctl --runtime-dir).
    pub fn runtime_dir(&self, k: usize) -> PathBuf {
        self.nodes[k].dir.join("run")
    }

    /// The pid of worker `role` on node `k`, when it is running.
    pub fn worker_pid(&self, k: usize, role: &str) -> Option<i32> {
        let s = self.status(k)?;
        let w = s["workers"]
            .as_array()?
            .iter()
            .find(|w| w["role"] == role && w["state"] == "running")?
            .clone();
        i32::try_from(w["pid"].as_i64()?).ok()
    }

    /// How often worker `role` on node `k` has been restarted.
    pub fn worker_restarts(&self, k: usize, role: &str) -> Option<u64> {
        let s = self.status(k)?;
        s["workers"]
            .as_array()?
            .iter()
            .find(|w| w["role"] == role)?["restarts"]
            .as_u64()
    }

    pub fn status(&self, k: usize) -> Option<serde_json::Value> {
        let text = std::fs::read_to_string(self.nodes[k].dir.join("run/status.json")).ok()?;
        serde_json::from_str(&text).ok()
    }

    /// Starts tcpdump on node `k`'s eth0 writing `file` (in the node's
    /// directory) with `filter`, and gives it time to start; returns the
    /// path. `--immediate-mode`: else libpcap hands packets over in blocks
    /// up to a second late.
    pub fn capture(&mut self, k: usize, file: &str, filter: &str) -> PathBuf {
        let pcap = self.nodes[k].dir.join(file);
        self.spawn(
            k,
            &[
                "tcpdump",
                "--immediate-mode",
                "-U",
                "-n",
                "-i",
                "eth0",
                "-w",
                pcap.to_str().unwrap_or_default(),
                filter,
            ],
            &format!("{file}.log"),
        );
        std::thread::sleep(Duration::from_millis(600));
        pcap
    }

    /// Starts tcpdump on the bridge itself (`br0`, in the bridge's
    /// namespace: every node's frames) writing `file` with `filter`;
    /// returns the path. Read it with [`Lab::read_pcap`].
    pub fn capture_bridge(&mut self, file: &str, filter: &str) -> PathBuf {
        let pcap = self.dir.join(file);
        let log = std::fs::File::create(self.dir.join(format!("{file}.log"))).expect("log");
        let child = Command::new("ip")
            .args(["netns", "exec", &self.bridge_ns])
            .args(["tcpdump", "--immediate-mode", "-U", "-n", "-i", "br0", "-w"])
            .arg(&pcap)
            .arg(filter)
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("spawn tcpdump");
        self.bridge_extra.push(child);
        std::thread::sleep(Duration::from_millis(600));
        pcap
    }

    /// Stops the captures on the bridge (their files are complete after).
    pub fn stop_bridge_captures(&mut self) {
        for mut c in self.bridge_extra.drain(..) {
            // SAFETY: kill(2) on our own child, which has not been reaped.
            unsafe {
                libc::kill(c.id() as i32, libc::SIGINT);
            }
            let _ = c.wait();
        }
    }

    /// A capture's packets, one line each, with epoch timestamps (`-tt`).
    pub fn read_pcap(&self, pcap: &std::path::Path) -> Vec<String> {
        sh(&[
            "tcpdump",
            "-r",
            pcap.to_str().unwrap_or_default(),
            "-n",
            "-tt",
        ])
        .lines()
        .map(str::to_string)
        .collect()
    }

    /// The MAC address of node `k`'s eth0.
    pub fn mac(&self, k: usize) -> String {
        let out = self.ip(k, &["link", "show", "dev", "eth0"]);
        out.split_whitespace()
            .skip_while(|w| *w != "link/ether")
            .nth(1)
            .unwrap_or_default()
            .to_string()
    }

    /// The status entry of the real-server check on node `k` whose source
    /// ends with `/rs` (`IP:PORT`).
    pub fn real_server_check(&self, k: usize, rs: &str) -> Option<serde_json::Value> {
        let tail = format!("/{rs}");
        self.status(k)?["checks"]
            .as_array()?
            .iter()
            .find(|c| {
                c["source"]
                    .as_str()
                    .is_some_and(|s| s.starts_with("real_server:") && s.ends_with(&tail))
            })
            .cloned()
    }

    /// The status entry of `instance` on node `k`.
    pub fn instance(&self, k: usize, instance: &str) -> Option<serde_json::Value> {
        let s = self.status(k)?;
        s["instances"]
            .as_array()?
            .iter()
            .find(|e| e["name"] == instance)
            .cloned()
    }

    pub fn state(&self, k: usize, instance: &str) -> Option<String> {
        let s = self.status(k)?;
        s["instances"]
            .as_array()?
            .iter()
            .find(|e| e["name"] == instance)
            .and_then(|e| e["state"].as_str().map(str::to_string))
    }

    pub fn has_addr(&self, k: usize, addr: &str) -> bool {
        let out = self.ip(k, &["addr", "show"]);
        out.split_whitespace()
            .any(|w| w.split('/').next() == Some(addr))
    }

    /// Polls `cond` every 10 ms until it holds or `limit` passes; whether it held.
    pub fn wait(&self, limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
        let start = Instant::now();
        loop {
            if cond() {
                return true;
            }
            if start.elapsed() >= limit {
                return false;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Waits until `instance` on node `k` is in `state`; how long it took.
    pub fn wait_state(
        &self,
        k: usize,
        instance: &str,
        state: &str,
        limit: Duration,
    ) -> Option<Duration> {
        let start = Instant::now();
        self.wait(limit, || self.state(k, instance).as_deref() == Some(state))
            .then(|| start.elapsed())
    }

    /// Waits for `instance` on node `k` to reach `state`; panics with every
    /// node's log when it does not within `limit`.
    pub fn expect_state(&self, k: usize, instance: &str, state: &str, limit: Duration) {
        if self.wait_state(k, instance, state, limit).is_none() {
            panic!(
                "node {k}: {instance} not {state} within {limit:?}\n{}",
                self.logs()
            );
        }
    }

    /// Waits for node `k`'s last reload to be refused with an error that
    /// contains every one of `words`, the configuration still the first
    /// (generation 1); panics with the log otherwise.
    pub fn expect_reload_refused(&self, k: usize, words: &[&str], limit: Duration) {
        let refused = self.wait(limit, || {
            self.status(k).is_some_and(|s| s["reload"]["ok"] == false)
        });
        assert!(refused, "reload not refused\n{}", self.log(k));
        let status = self.status(k).unwrap_or_default();
        let error = status["reload"]["error"].as_str().unwrap_or("");
        assert!(words.iter().all(|w| error.contains(w)), "{status}");
        assert_eq!(status["generation"], 1, "{status}");
    }

    /// Every process in node `k`'s network namespace, with its state,
    /// command line and descriptors (for failure messages).
    pub fn processes(&self, k: usize) -> String {
        let Ok(out) = Command::new("ip")
            .args(["netns", "pids", &self.nodes[k].ns])
            .output()
        else {
            return String::new();
        };
        let mut dump = String::new();
        for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
            let read = |f: &str| std::fs::read(format!("/proc/{pid}/{f}")).unwrap_or_default();
            let cmd = String::from_utf8_lossy(&read("cmdline")).replace('\0', " ");
            let stat = String::from_utf8_lossy(&read("stat")).to_string();
            let state = stat
                .rsplit(')')
                .next()
                .unwrap_or("")
                .split_whitespace()
                .next()
                .unwrap_or("?")
                .to_string();
            let fds: Vec<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
                .map(|d| {
                    d.flatten()
                        .map(|e| {
                            let to = std::fs::read_link(e.path())
                                .map(|l| l.display().to_string())
                                .unwrap_or_default();
                            format!("{}:{to}", e.file_name().to_string_lossy())
                        })
                        .collect()
                })
                .unwrap_or_default();
            dump.push_str(&format!("{pid} {state} {cmd}\n    fds {}\n", fds.join(" ")));
        }
        dump
    }

    pub fn log(&self, k: usize) -> String {
        std::fs::read_to_string(self.nodes[k].dir.join("upkeepd.log")).unwrap_or_default()
    }

    /// Every daemon log, for failure messages.
    pub fn logs(&self) -> String {
        (0..self.nodes.len())
            .map(|k| format!("--- node {k} ---\n{}", self.log(k)))
            .collect()
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for c in &mut self.bridge_extra {
            let _ = c.kill();
            let _ = c.wait();
        }
        for n in &mut self.nodes {
            for c in n.extra.iter_mut().chain(n.child.as_mut()) {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
        // Namespaces go with every process and interface in them.
        for n in &self.nodes {
            if let Ok(out) = Command::new("ip").args(["netns", "pids", &n.ns]).output() {
                for pid in String::from_utf8_lossy(&out.stdout)
                    .split_whitespace()
                    .filter_map(|p| p.parse::<i32>().ok())
                {
                    // SAFETY: kill(2) on a pid the kernel listed in our namespace.
                    unsafe {
                        libc::kill(pid, libc::SIGKILL);
                    }
                }
            }
            let _ = sh_ok(&["ip", "netns", "del", &n.ns]);
        }
        let _ = sh_ok(&["ip", "netns", "del", &self.bridge_ns]);
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        } else {
            eprintln!("lab files kept in {}", self.dir.display());
        }
    }
}

/// One VRRP advertisement seen in a capture.
#[derive(Clone, Debug, PartialEq)]
pub struct Seen {
    /// Seconds since the epoch (tcpdump's clock).
    pub at: f64,
    pub src: String,
    pub prio: u32,
}

/// The VRRP advertisements of a capture (tagged or not), in order.
pub fn adverts(pcap: &std::path::Path) -> Vec<Seen> {
    let out = Command::new("tcpdump")
        .args(["-tt", "-n", "-r"])
        .arg(pcap)
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    out.lines()
        .filter(|l| l.contains("VRRP") && l.contains("Advertisement"))
        .filter_map(|l| {
            let at = l.split_whitespace().next()?.parse().ok()?;
            let mut words = l.split_whitespace();
            words.find(|w| *w == "IP")?;
            let src = words.next()?.to_string();
            let prio = l
                .split("prio ")
                .nth(1)?
                .split(|c: char| !c.is_ascii_digit())
                .next()?
                .parse()
                .ok()?;
            Some(Seen { at, src, prio })
        })
        .collect()
}

/// A keepalived.conf `vrrp_instance VI_1` for node `k` of a lab (VRID 51,
/// advert_int 1), with `vips` and more lines (`extra`) inside the block.
pub fn vrrp_instance(lab: &Lab, k: usize, priority: u32, vips: &[&str], extra: &str) -> String {
    format!(
        r#"
vrrp_instance VI_1 {{
    state BACKUP
    interface eth0
    virtual_router_id 51
    mcast_src_ip {src}
    priority {priority}
    advert_int 1
    virtual_ipaddress {{
        {vips}
    }}
{extra}
}}
"#,
        src = lab.nodes[k].v4,
        vips = vips.join("\n        "),
    )
}

/// An nginx.conf: port 80 answers `page`; `/nginx_status` is stub_status
/// when asked; pid and error log in `dir`.
pub fn nginx_conf(dir: &str, page: &str, stub_status: bool) -> String {
    let status = if stub_status {
        "location = /nginx_status { stub_status; }\n        "
    } else {
        ""
    };
    format!(
        r#"daemon on;
pid {dir}/nginx.pid;
error_log {dir}/nginx-error.log;
events {{ worker_connections 64; }}
http {{
    access_log off;
    server {{
        listen 80;
        {status}location / {{ default_type text/plain; return 200 "{page}\n"; }}
    }}
}}
"#
    )
}

/// keepalived.conf for node `k` that runs every worker: VRRP (`VI_1` with
/// `vips`, PASS authentication, no delayed second GARP burst), a check
/// (checker) and a virtual server on the first VIP (IPVS).
pub fn every_worker(lab: &Lab, k: usize, priority: u32, vips: &[&str]) -> String {
    // No second GARP burst 5 s after becoming Master: the reload test counts
    // announcements.
    let extra = "    garp_master_delay 0\n    authentication {\n        auth_type PASS\n        auth_pass 1111\n    }";
    let instance = vrrp_instance(lab, k, priority, vips, extra);
    format!(
        r#"
vrrp_script chk_true {{
    script "/bin/true"
    interval 1
}}
{instance}
{vs}"#,
        vs = dr_virtual_server(vips[0], 6, 3),
    )
}

/// A keepalived.conf `virtual_server` (wrr, DR, TCP port 80) for `vip`
/// with one real server, 10.77.0.50, checked by TCP_CHECK.
pub fn dr_virtual_server(vip: &str, delay_loop: u32, connect_timeout: u32) -> String {
    format!(
        r#"virtual_server {vip} 80 {{
    delay_loop {delay_loop}
    lb_algo wrr
    lb_kind DR
    protocol TCP
    real_server 10.77.0.50 80 {{
        weight 2
        TCP_CHECK {{
            connect_timeout {connect_timeout}
        }}
    }}
}}
"#
    )
}

/// The number on the first line of node `k`'s metrics at `url` that
/// starts with `line_start` (a family and its opening brace).
pub fn metric(lab: &Lab, k: usize, url: &str, line_start: &str) -> Option<f64> {
    lab.fetch(k, url)
        .lines()
        .find(|l| l.starts_with(line_start))?
        .rsplit(' ')
        .next()?
        .parse()
        .ok()
}
