//! The desired IPVS table: every configured virtual server with its real
//! servers, their weights and health.

use std::collections::{BTreeMap, BTreeSet};

use crate::config::model::{Config, VirtualServer};
use crate::ipc::msg::{RealServerState, RealServerStatus, VirtualServerStatus};

/// A virtual server's key as operators write it: `10.0.0.1:80/tcp`,
/// `fwmark:7`, `group:NAME`.
pub fn vs_key(vs: &VirtualServer) -> String {
    let proto = format!("{:?}", vs.protocol).to_lowercase();
    match (&vs.group, vs.fwmark, vs.ip) {
        (Some(g), _, _) => format!("group:{g}"),
        (None, Some(m), _) => format!("fwmark:{m}"),
        (None, None, Some(ip)) => {
            let port = vs.port.unwrap_or(0);
            match ip {
                std::net::IpAddr::V4(a) => format!("{a}:{port}/{proto}"),
                std::net::IpAddr::V6(a) => format!("[{a}]:{port}/{proto}"),
            }
        }
        (None, None, None) => "unknown".into(),
    }
}

/// A real server's key: `10.0.0.2:80` (the virtual server's port when none).
pub fn rs_key(ip: std::net::IpAddr, port: Option<u16>) -> String {
    let port = port.unwrap_or(0);
    match ip {
        std::net::IpAddr::V4(a) => format!("{a}:{port}"),
        std::net::IpAddr::V6(a) => format!("[{a}]:{port}"),
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Table {
    servers: Vec<VirtualServerStatus>,
}

impl Table {
    /// The table for `cfg`; real servers in `down` (vs key → rs keys) start down.
    pub fn from_config(cfg: &Config, down: &BTreeMap<String, BTreeSet<String>>) -> Self {
        let servers = cfg
            .virtual_servers
            .iter()
            .map(|vs| {
                let key = vs_key(vs);
                let is_down = |rs: &str| down.get(&key).is_some_and(|d| d.contains(rs));
                VirtualServerStatus {
                    scheduler: format!("{:?}", vs.lb_algo).to_lowercase(),
                    real_servers: vs
                        .real_servers
                        .iter()
                        .map(|rs| {
                            let address = rs_key(rs.ip, rs.port.or(vs.port));
                            RealServerStatus {
                                up: !is_down(&address),
                                address,
                                weight: i64::from(rs.weight),
                            }
                        })
                        .collect(),
                    key,
                }
            })
            .collect();
        Self { servers }
    }

    /// Applies a health change; false when it names nothing in the table.
    pub fn apply(&mut self, change: &RealServerState) -> bool {
        let rs = self
            .servers
            .iter_mut()
            .filter(|v| v.key == change.virtual_server)
            .flat_map(|v| v.real_servers.iter_mut())
            .find(|r| r.address == change.real_server);
        match rs {
            Some(r) => {
                r.up = change.up;
                true
            }
            None => false,
        }
    }

    pub fn down(&self) -> BTreeMap<String, BTreeSet<String>> {
        let mut m: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for v in &self.servers {
            for r in v.real_servers.iter().filter(|r| !r.up) {
                m.entry(v.key.clone())
                    .or_default()
                    .insert(r.address.clone());
            }
        }
        m
    }

    pub fn status(&self) -> Vec<VirtualServerStatus> {
        self.servers.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> Config {
        crate::config::load_str(
            "t.toml",
            r#"
[[virtual_server]]
ip = "10.0.0.1"
port = 80
lb_algo = "wrr"
[[virtual_server.real_server]]
ip = "10.0.0.2"
weight = 3
[[virtual_server.real_server]]
ip = "10.0.0.3"
port = 8080
"#,
            crate::config::Format::Toml,
            &crate::config::LoadOptions::default(),
        )
        .config
    }

    #[test]
    fn table_follows_health_and_keeps_it_across_reload() {
        let c = cfg();
        let mut t = Table::from_config(&c, &BTreeMap::new());
        let s = t.status();
        assert_eq!(s[0].key, "10.0.0.1:80/tcp");
        assert_eq!(s[0].scheduler, "wrr");
        assert_eq!(s[0].real_servers[0].address, "10.0.0.2:80");
        assert_eq!(s[0].real_servers[0].weight, 3);
        assert_eq!(s[0].real_servers[1].address, "10.0.0.3:8080");
        assert!(s[0].real_servers.iter().all(|r| r.up));
        let change = RealServerState {
            virtual_server: "10.0.0.1:80/tcp".into(),
            real_server: "10.0.0.3:8080".into(),
            up: false,
        };
        assert!(t.apply(&change));
        assert!(!t.apply(&RealServerState {
            real_server: "10.9.9.9:1".into(),
            ..change
        }));
        let again = Table::from_config(&c, &t.down());
        assert_eq!(again, t);
    }
}
