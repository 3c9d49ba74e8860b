//! Keywords per block, as keepalived 2.2.7 and 2.3.4 have them.
//!
//! `supported` lists what the reader turns into the model; `known` lists what
//! keepalived accepts and upkeep does not implement: those get one
//! "accepted but not supported" warning each and their arguments and block
//! are skipped. Anything in neither list is an error with a suggestion drawn
//! from both, so both hold only keepalived's names (and upkeep's own, which
//! start with `upkeep_` or are listed in docs/config.md).
//!
//! tests/fixtures/keepalived-keywords/status.tsv is the same lists as data,
//! one row per block and keyword, pinned to keepalived's parser sources;
//! daemon/tests/keepalived_keywords.rs keeps the two equal. Adding a keyword
//! here means adding its row there (with an example when it is supported).

pub struct Context {
    /// How the block is named in messages.
    pub what: &'static str,
    pub supported: &'static [&'static str],
    pub known: &'static [&'static str],
}

impl Context {
    pub fn candidates(&self) -> impl Iterator<Item = &'static str> {
        self.supported.iter().chain(self.known.iter()).copied()
    }

    pub fn is_known_unsupported(&self, word: &str) -> bool {
        self.known.contains(&word)
    }
}

pub const TOP: Context = Context {
    what: "at the top level",
    supported: &[
        "global_defs",
        "vrrp_script",
        "vrrp_track_process",
        "vrrp_track_file",
        "track_file",
        "vrrp_sync_group",
        "vrrp_instance",
        "virtual_server_group",
        "virtual_server",
        "garp_group",
        "interface_up_down_delays",
    ],
    known: &[
        "static_ipaddress",
        "static_routes",
        "static_rules",
        "linkbeat_interfaces",
        "bfd_instance",
        "net_namespace",
        "net_namespace_ipvs",
        "namespace_with_ipsets",
        "instance",
        "use_pid_dir",
        "child_wait_time",
        "SSL",
        "track_group",
        "linkbeat_use_polling",
    ],
};

pub const GLOBAL: Context = Context {
    what: "in global_defs",
    supported: &[
        "router_id",
        "vrrp_version",
        "vrrp_mcast_group4",
        "vrrp_mcast_group6",
        "vrrp_garp_master_delay",
        "vrrp_garp_master_repeat",
        "vrrp_garp_master_refresh",
        "vrrp_garp_master_refresh_repeat",
        "vrrp_garp_lower_prio_delay",
        "vrrp_garp_lower_prio_repeat",
        "vrrp_garp_interval",
        "vrrp_gna_interval",
        "vrrp_strict",
        "vrrp_skip_check_adv_addr",
        "vrrp_check_unicast_src",
        "script_user",
        "enable_script_security",
        "notify_fifo",
        "notify_fifo_script",
        "vrrp_notify_fifo",
        "vrrp_notify_fifo_script",
        "lvs_sync_daemon",
        "checker_log_all_failures",
        "dynamic_interfaces",
        "lvs_flush",
        "lvs_flush_onstop",
        "lvs_flush_on_stop",
        "vrrp_down_timer_adverts",
        "vmac_prefix",
        "notification_email",
        "notification_email_from",
        "smtp_server",
        "smtp_helo_name",
        "smtp_connect_timeout",
        "smtp_alert",
        "smtp_alert_vrrp",
        "smtp_alert_checker",
        "no_email_faults",
    ],
    known: &[
        "default_interface",
        "lvs_timeouts",
        "lvs_notify_fifo",
        "lvs_notify_fifo_script",
        "vrrp_min_garp",
        "vrrp_lower_prio_no_advert",
        "vrrp_higher_prio_send_advert",
        "vrrp_iptables",
        "vrrp_ipsets",
        "nftables",
        "nftables_priority",
        "nftables_ifindex",
        "nftables_counters",
        "nftables_ipvs",
        "nftables_ipvs_priority",
        "nftables_ipvs_start_fwmark",
        "vrrp_priority",
        "checker_priority",
        "bfd_priority",
        "vrrp_no_swap",
        "checker_no_swap",
        "bfd_no_swap",
        "vrrp_rt_priority",
        "checker_rt_priority",
        "bfd_rt_priority",
        "vrrp_rlimit_rttime",
        "checker_rlimit_rttime",
        "bfd_rlimit_rttime",
        "vrrp_rlimit_rtime",
        "checker_rlimit_rtime",
        "bfd_rlimit_rtime",
        "vrrp_cpu_affinity",
        "checker_cpu_affinity",
        "bfd_cpu_affinity",
        "snmp_socket",
        "enable_snmp_vrrp",
        "enable_snmp_keepalived",
        "enable_snmp_checker",
        "enable_snmp_rfc",
        "enable_snmp_rfcv2",
        "enable_snmp_rfcv3",
        "enable_traps",
        "enable_dbus",
        "dbus_service_name",
        "dbus_no_interface_name",
        "vrrp_notify_priority_changes",
        "process_names",
        "process_name",
        "vrrp_process_name",
        "checker_process_name",
        "lvs_process_name",
        "bfd_process_name",
        "max_auto_priority",
        "min_auto_priority_delay",
        "vrrp_netlink_cmd_rcv_bufs",
        "vrrp_netlink_cmd_rcv_bufs_force",
        "vrrp_netlink_monitor_rcv_bufs",
        "vrrp_netlink_monitor_rcv_bufs_force",
        "lvs_netlink_cmd_rcv_bufs",
        "lvs_netlink_cmd_rcv_bufs_force",
        "lvs_netlink_monitor_rcv_bufs",
        "lvs_netlink_monitor_rcv_bufs_force",
        "process_monitor_rcv_bufs",
        "process_monitor_rcv_bufs_force",
        "rs_init_notifies",
        "no_checker_emails",
        "vrrp_rx_bufs_policy",
        "vrrp_rx_bufs_multiplier",
        "vrrp_startup_delay",
        "log_unknown_vrids",
        "random_seed",
        "umask",
        "startup_script",
        "startup_script_timeout",
        "shutdown_script",
        "shutdown_script_timeout",
        "reload_check_config",
        "reload_time_file",
        "reload_repeat",
        "reload_file",
        "config_save_dir",
        "tmp_config_directory",
        "vrrp_garp_extra_if",
        "fifo_write_vrrp_states_on_reload",
        "disable_local_igmp",
        "data_use_instance",
        "include_check",
        "vrrp_vmac_garp_intvl",
        "snmp_rs_stats_update_interval",
        "snmp_vs_stats_update_interval",
        "iproute_etc_dir",
        "iproute_usr_dir",
        "json_version",
        "json_dump_file",
        "state_dump_file",
        "stats_dump_file",
        "use_symlink_paths",
        "v3_checksum_as_v2",
        "vrrp_owner_ignore_adverts",
        "vmac_addr_prefix",
    ],
};

pub const INSTANCE: Context = Context {
    what: "in vrrp_instance",
    supported: &[
        "state",
        "interface",
        "virtual_router_id",
        "priority",
        "advert_int",
        "version",
        "native_ipv6",
        "authentication",
        "virtual_ipaddress",
        "virtual_ipaddress_excluded",
        "unicast_src_ip",
        "unicast_peer",
        "mcast_src_ip",
        "nopreempt",
        "preempt",
        "preempt_delay",
        "accept",
        "no_accept",
        "strict_mode",
        "dont_track_primary",
        "skip_check_adv_addr",
        "old_unicast_checksum",
        "track_interface",
        "track_script",
        "track_process",
        "track_file",
        "notify_master",
        "notify_backup",
        "notify_fault",
        "notify_stop",
        "notify",
        "garp_master_delay",
        "garp_master_repeat",
        "garp_master_refresh",
        "garp_master_refresh_repeat",
        "garp_lower_prio_delay",
        "garp_lower_prio_repeat",
        "use_vmac",
        "vmac_xmit_base",
        "lvs_sync_daemon_interface",
        "check_unicast_src",
        "mcast_dst_ip",
        "down_timer_adverts",
        "smtp_alert",
    ],
    known: &[
        "use_ipvlan",
        "track_bfd",
        "unicast_ttl",
        "unicast_fault_no_peer",
        "promote_secondaries",
        "virtual_routes",
        "virtual_rules",
        "garp_extra_if",
        "lower_prio_no_advert",
        "higher_prio_send_advert",
        "kernel_rx_buf_size",
        "debug",
        "notify_deleted",
        "notify_master_rx_lower_pri",
        "notify_priority_changes",
        "linkbeat_use_polling",
        "track_src_ip",
        "vmac_garp_intvl",
        "vrf",
        "no_virtual_ipaddress",
        "owner_ignore_adverts",
        "thread_timer_expired",
        "timer_expired_backup",
        "v3_checksum_as_v2",
        "use_vmac_addr",
    ],
};

pub const AUTH: Context = Context {
    what: "in authentication",
    supported: &["auth_type", "auth_pass"],
    known: &[],
};

pub const SCRIPT: Context = Context {
    what: "in vrrp_script",
    supported: &[
        "script",
        "interval",
        "timeout",
        "weight",
        "rise",
        "fall",
        "user",
        "init_fail",
        "upkeep_restart",
        "upkeep_restart_grace",
        "upkeep_restart_limit",
        "upkeep_demote",
        "upkeep_plugin",
        "upkeep_plugin_arg",
        "upkeep_plugin_allow",
        "upkeep_plugin_memory",
    ],
    known: &[],
};

pub const TRACK_PROCESS: Context = Context {
    what: "in vrrp_track_process",
    supported: &[
        "process",
        "param_match",
        "weight",
        "quorum",
        "quorum_max",
        "delay",
        "fork_delay",
        "terminate_delay",
    ],
    known: &["full_command"],
};

pub const TRACK_FILE: Context = Context {
    what: "in vrrp_track_file",
    supported: &["file", "weight", "init_file"],
    known: &[],
};

pub const SYNC_GROUP: Context = Context {
    what: "in vrrp_sync_group",
    supported: &[
        "group",
        "notify_master",
        "notify_backup",
        "notify_fault",
        "notify_stop",
        "notify",
        "smtp_alert",
    ],
    known: &[
        "global_tracking",
        "sync_group_tracking_weight",
        "track_interface",
        "track_script",
        "track_process",
        "track_file",
        "track_bfd",
        "notify_priority_changes",
    ],
};

pub const VIRTUAL_SERVER: Context = Context {
    what: "in virtual_server",
    supported: &[
        "delay_loop",
        "lb_algo",
        "lvs_sched",
        "lb_kind",
        "lvs_method",
        "protocol",
        "persistence_timeout",
        "persistence_granularity",
        "virtualhost",
        "sorry_server",
        "sorry_server_inhibit",
        "quorum",
        "hysteresis",
        "quorum_up",
        "quorum_down",
        "alpha",
        "omega",
        "inhibit_on_failure",
        "ha_suspend",
        "ops",
        "real_server",
        "persistence_engine",
        "sorry_server_lvs_method",
        "flag-1",
        "flag-2",
        "flag-3",
        "sh-port",
        "sh-fallback",
        "mh-port",
        "mh-fallback",
        "retry",
        "delay_before_retry",
        "warmup",
        "connect_timeout",
        "weight",
        "smtp_alert",
    ],
    known: &["hashed", "ip_family", "snmp_name"],
};

pub const REAL_SERVER: Context = Context {
    what: "in real_server",
    supported: &[
        "weight",
        "inhibit_on_failure",
        "notify_up",
        "notify_down",
        "uthreshold",
        "lthreshold",
        "lvs_method",
        "HTTP_GET",
        "SSL_GET",
        "TCP_CHECK",
        "MISC_CHECK",
        "SMTP_CHECK",
        "FILE_CHECK",
        "PING_CHECK",
        "UDP_CHECK",
        "DNS_CHECK",
        "UPKEEP_PLUGIN",
        "tunnel_encap",
        "tunnel_dport",
        "tunnel_nocsum",
        "tunnel_csum",
        "tunnel_remcsum",
        "alpha",
        "delay_loop",
        "retry",
        "delay_before_retry",
        "warmup",
        "connect_timeout",
        "virtualhost",
        "smtp_alert",
    ],
    known: &["BFD_CHECK", "snmp_name"],
};

/// Keywords every checker block takes.
const CHECK_COMMON: [&str; 11] = [
    "connect_ip",
    "connect_port",
    "bindto",
    "bind_port",
    "connect_timeout",
    "retry",
    "delay_before_retry",
    "warmup",
    "delay_loop",
    "alpha",
    "log_all_failures",
];

const CHECK_COMMON_KNOWN: [&str; 2] = ["bind_if", "fwmark"];

macro_rules! concat_slices {
    ($a:expr, $b:expr) => {{
        const A: &[&str] = &$a;
        const B: &[&str] = &$b;
        const N: usize = A.len() + B.len();
        const OUT: [&str; N] = {
            let mut out = [""; N];
            let mut i = 0;
            while i < A.len() {
                out[i] = A[i];
                i += 1;
            }
            let mut j = 0;
            while j < B.len() {
                out[A.len() + j] = B[j];
                j += 1;
            }
            out
        };
        &OUT
    }};
}

pub const HTTP_CHECK: Context = Context {
    what: "in HTTP_GET/SSL_GET",
    supported: concat_slices!(
        CHECK_COMMON,
        ["nb_get_retry", "url", "virtualhost", "enable_sni"]
    ),
    known: concat_slices!(
        CHECK_COMMON_KNOWN,
        ["tls_compliant", "fast_recovery", "http_protocol"]
    ),
};

pub const TCP_CHECK: Context = Context {
    what: "in TCP_CHECK",
    supported: &CHECK_COMMON,
    known: &CHECK_COMMON_KNOWN,
};

pub const MISC_CHECK: Context = Context {
    what: "in MISC_CHECK",
    supported: concat_slices!(CHECK_COMMON, ["misc_path", "misc_timeout", "user"]),
    // misc_dynamic: the checker does not set weights from exit codes.
    known: concat_slices!(CHECK_COMMON_KNOWN, ["misc_dynamic"]),
};

/// upkeep's own: a WASM plugin as a real server's checker, with the
/// vrrp_script plugin's keywords without their `upkeep_plugin_` prefix.
pub const PLUGIN_CHECK: Context = Context {
    what: "in UPKEEP_PLUGIN",
    supported: concat_slices!(CHECK_COMMON, ["file", "arg", "allow", "memory"]),
    known: &CHECK_COMMON_KNOWN,
};

pub const URL: Context = Context {
    what: "in url",
    supported: &["path", "digest", "status_code", "virtualhost"],
    known: &[
        "regex",
        "regex_no_match",
        "regex_options",
        "regex_stack",
        "regex_min_offset",
        "regex_max_offset",
        "tls_compliant",
    ],
};

// Blocks keepalived accepts and upkeep skips whole: the block's keyword gets
// the one "accepted but not supported" warning and the words inside are only
// checked against these lists, so a typo inside is still an error.

pub const SSL: Context = Context {
    what: "in SSL",
    supported: &[],
    known: &["ca", "certificate", "key", "password"],
};

pub const TRACK_GROUP: Context = Context {
    what: "in track_group",
    supported: &[],
    known: &["group"],
};

pub const GARP_GROUP: Context = Context {
    what: "in garp_group",
    supported: &["garp_interval", "gna_interval", "interface", "interfaces"],
    known: &[],
};

pub const BFD_INSTANCE: Context = Context {
    what: "in bfd_instance",
    supported: &[],
    known: &[
        "neighbor_ip",
        "neighbour_ip",
        "source_ip",
        "min_rx",
        "min_tx",
        "idle_tx",
        "multiplier",
        "passive",
        "ttl",
        "hoplimit",
        "max_hops",
        "multihop",
        "weight",
        "vrrp",
        "checker",
    ],
};

pub const SMTP_CHECK: Context = Context {
    what: "in SMTP_CHECK",
    supported: concat_slices!(CHECK_COMMON, ["helo_name", "host"]),
    known: &CHECK_COMMON_KNOWN,
};

/// keepalived's `host` takes every checker keyword; the scheduling ones
/// (`retry`, `delay_loop`, ...) set the enclosing SMTP_CHECK's, as there.
pub const SMTP_HOST: Context = Context {
    what: "in SMTP_CHECK host",
    supported: &CHECK_COMMON,
    known: &CHECK_COMMON_KNOWN,
};

pub const DNS_CHECK: Context = Context {
    what: "in DNS_CHECK",
    supported: concat_slices!(CHECK_COMMON, ["type", "name"]),
    known: &CHECK_COMMON_KNOWN,
};

pub const UDP_CHECK: Context = Context {
    what: "in UDP_CHECK",
    supported: concat_slices!(
        CHECK_COMMON,
        [
            "payload",
            "require_reply",
            "min_reply_length",
            "max_reply_length"
        ]
    ),
    known: &CHECK_COMMON_KNOWN,
};

/// ICMP echo: `connect_port`, `bind_port` mean nothing to it (keepalived
/// accepts and ignores them too).
pub const PING_CHECK: Context = Context {
    what: "in PING_CHECK",
    supported: &CHECK_COMMON,
    known: &CHECK_COMMON_KNOWN,
};

pub const FILE_CHECK: Context = Context {
    what: "in FILE_CHECK",
    supported: &["track_file", "weight"],
    known: &[],
};

pub const BFD_CHECK: Context = Context {
    what: "in BFD_CHECK",
    supported: &[],
    known: &["name", "alpha"],
};

/// Each block of keepalived's keyword table (block paths as in
/// tests/fixtures/keepalived-keywords/) and the list upkeep checks it with.
pub const BLOCKS: &[(&str, &Context)] = &[
    ("TOP", &TOP),
    ("global_defs", &GLOBAL),
    ("vrrp_instance", &INSTANCE),
    ("vrrp_instance/authentication", &AUTH),
    ("vrrp_script", &SCRIPT),
    ("vrrp_track_process", &TRACK_PROCESS),
    ("vrrp_track_file", &TRACK_FILE),
    ("track_file", &TRACK_FILE),
    ("vrrp_sync_group", &SYNC_GROUP),
    ("virtual_server", &VIRTUAL_SERVER),
    ("virtual_server/real_server", &REAL_SERVER),
    ("virtual_server/real_server/HTTP_GET", &HTTP_CHECK),
    ("virtual_server/real_server/SSL_GET", &HTTP_CHECK),
    ("virtual_server/real_server/HTTP_GET/url", &URL),
    ("virtual_server/real_server/SSL_GET/url", &URL),
    ("virtual_server/real_server/TCP_CHECK", &TCP_CHECK),
    ("virtual_server/real_server/MISC_CHECK", &MISC_CHECK),
    ("virtual_server/real_server/UPKEEP_PLUGIN", &PLUGIN_CHECK),
    ("SSL", &SSL),
    ("track_group", &TRACK_GROUP),
    ("garp_group", &GARP_GROUP),
    ("bfd_instance", &BFD_INSTANCE),
    ("virtual_server/real_server/SMTP_CHECK", &SMTP_CHECK),
    ("virtual_server/real_server/SMTP_CHECK/host", &SMTP_HOST),
    ("virtual_server/real_server/DNS_CHECK", &DNS_CHECK),
    ("virtual_server/real_server/UDP_CHECK", &UDP_CHECK),
    ("virtual_server/real_server/PING_CHECK", &PING_CHECK),
    ("virtual_server/real_server/FILE_CHECK", &FILE_CHECK),
    ("virtual_server/real_server/BFD_CHECK", &BFD_CHECK),
];

/// Skipped blocks whose contents are keywords: (enclosing block, keyword, list).
/// Skipped blocks not listed (`static_ipaddress`, `linkbeat_interfaces`, ...)
/// hold addresses or names, which are not checked.
const SKIPPED: &[(&str, &str, &Context)] = &[
    (TOP.what, "SSL", &SSL),
    (TOP.what, "track_group", &TRACK_GROUP),
    (TOP.what, "garp_group", &GARP_GROUP),
    (TOP.what, "bfd_instance", &BFD_INSTANCE),
    (REAL_SERVER.what, "BFD_CHECK", &BFD_CHECK),
];

/// The list to check the inside of `word`'s block with, when `word` opens a
/// block that upkeep skips whole (contexts are told apart by `what`).
pub fn skipped_block(parent: &Context, word: &str) -> Option<&'static Context> {
    SKIPPED
        .iter()
        .find(|(p, w, _)| *p == parent.what && *w == word)
        .map(|(_, _, c)| *c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_keyword_is_both_supported_and_unsupported() {
        for (_, ctx) in BLOCKS {
            for k in ctx.supported {
                assert!(!ctx.known.contains(k), "{k} is in both lists {}", ctx.what);
            }
        }
    }

    #[test]
    fn composed_lists_hold_both_parts() {
        assert!(HTTP_CHECK.supported.contains(&"connect_timeout"));
        assert!(HTTP_CHECK.supported.contains(&"url"));
        assert!(MISC_CHECK.supported.contains(&"misc_path"));
        assert!(HTTP_CHECK.known.contains(&"bind_if"));
        assert!(UDP_CHECK.supported.contains(&"require_reply"));
        assert!(UDP_CHECK.supported.contains(&"bindto"));
        assert!(SMTP_CHECK.supported.contains(&"helo_name"));
        assert!(SMTP_CHECK.supported.contains(&"bindto"));
    }

    #[test]
    fn no_keyword_is_listed_twice_in_a_block() {
        for (path, ctx) in BLOCKS {
            let all: Vec<&str> = ctx.candidates().collect();
            let set: std::collections::BTreeSet<&str> = all.iter().copied().collect();
            assert_eq!(all.len(), set.len(), "a keyword is listed twice in {path}");
        }
    }

    #[test]
    fn context_names_are_unique_so_skipped_blocks_resolve() {
        let mut seen = std::collections::BTreeMap::new();
        for (path, ctx) in BLOCKS {
            if let Some(prev) = seen.insert(ctx.what, path) {
                // Shared lists (HTTP_GET/SSL_GET, track_file) are the same context.
                let same = BLOCKS
                    .iter()
                    .filter(|(_, c)| c.what == ctx.what)
                    .all(|(_, c)| c.supported == ctx.supported && c.known == ctx.known);
                assert!(same, "{path} and {prev} share the name '{}'", ctx.what);
            }
        }
        assert_eq!(
            skipped_block(&REAL_SERVER, "BFD_CHECK").map(|c| c.what),
            Some("in BFD_CHECK")
        );
        assert!(skipped_block(&TOP, "static_routes").is_none());
    }
}
