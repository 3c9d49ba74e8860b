//! Keywords per block, from keepalived.conf(5) (keepalived 2.2–2.3).
//!
//! `SUPPORTED` lists what the reader turns into the model; `KNOWN` lists what
//! keepalived accepts and upkeep does not implement: those get one
//! "accepted but not supported" warning each and their arguments and block
//! are skipped. Anything in neither list is an error with a suggestion drawn
//! from both.

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
    ],
    known: &[
        "static_ipaddress",
        "static_routes",
        "static_rules",
        "linkbeat_interfaces",
        "garp_group",
        "bfd_instance",
        "net_namespace",
        "net_namespace_ipvs",
        "namespace_with_ipsets",
        "instance",
        "use_pid_dir",
        "child_wait_time",
        "local_address_group",
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
        "lvs_flush",
        "lvs_flush_onstop",
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
        "local_address_group",
        "lvs_timeouts",
        "lvs_notify_fifo",
        "lvs_notify_fifo_script",
        "vrrp_min_garp",
        "vrrp_lower_prio_no_advert",
        "vrrp_higher_prio_send_advert",
        "vrrp_iptables",
        "vrrp_ipsets",
        "vrrp_nftables",
        "vrrp_nftables_priority",
        "vrrp_nftables_ifindex",
        "vrrp_nftables_counters",
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
        "enable_dbus_create_instance",
        "vrrp_notify_priority_changes",
        "process_names",
        "process_name",
        "vrrp_process_name",
        "ipvs_process_name",
        "bfd_process_name",
        "linkbeat_use_polling",
        "linkbeat_interfaces",
        "dynamic_interfaces",
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
        "net_namespace",
        "net_namespace_ipvs",
        "namespace_with_ipsets",
        "instance",
        "use_pid_dir",
        "startup_script",
        "startup_script_timeout",
        "shutdown_script",
        "shutdown_script_timeout",
        "checker_log_all_failures",
        "reload_check_config",
        "reload_time_file",
        "reload_repeat",
        "reload_file",
        "config_save_dir",
        "tmp_config_directory",
        "vrrp_garp_extra_if",
        "fifo_write_vrrp_states_on_reload",
        "disable_local_igmp",
        "lvs_id",
        "vrrp_track_process_max_delay",
        "data_use_instance",
        "script_max_fds",
        "vrrp_ipvs_syncd",
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
        "smtp_alert",
    ],
    known: &[
        "use_ipvlan",
        "track_bfd",
        "unicast_ttl",
        "unicast_fault_no_peer",
        "check_unicast_src",
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
        "mcast_ttl",
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
    ],
    known: &["fork_delay", "terminate_delay", "full_command"],
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
        "smtp_alert",
    ],
    known: &[
        "hashed",
        "ip_family",
        "retry",
        "delay_before_retry",
        "warmup",
        "connect_timeout",
    ],
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
        "tunnel_encap",
        "tunnel_dport",
        "tunnel_nocsum",
        "tunnel_csum",
        "tunnel_remcsum",
        "smtp_alert",
    ],
    known: &[
        "SMTP_CHECK",
        "DNS_CHECK",
        "UDP_CHECK",
        "PING_CHECK",
        "FILE_CHECK",
        "BFD_CHECK",
        "alpha",
        "delay_loop",
        "retry",
        "delay_before_retry",
        "warmup",
        "connect_timeout",
        "virtualhost",
    ],
};

/// Keywords every checker block takes.
const CHECK_COMMON: [&str; 10] = [
    "connect_ip",
    "connect_port",
    "bindto",
    "bind_port",
    "connect_timeout",
    "retry",
    "nb_get_retry",
    "delay_before_retry",
    "warmup",
    "delay_loop",
];

const CHECK_COMMON_KNOWN: [&str; 4] = ["bind_if", "fwmark", "alpha", "log_all_failures"];

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
    supported: concat_slices!(CHECK_COMMON, ["url", "virtualhost", "enable_sni"]),
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
    supported: concat_slices!(
        CHECK_COMMON,
        ["misc_path", "misc_timeout", "misc_dynamic", "user"]
    ),
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
    ],
};

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [&Context; 15] = [
        &TOP,
        &GLOBAL,
        &INSTANCE,
        &AUTH,
        &SCRIPT,
        &TRACK_PROCESS,
        &TRACK_FILE,
        &SYNC_GROUP,
        &VIRTUAL_SERVER,
        &REAL_SERVER,
        &HTTP_CHECK,
        &TCP_CHECK,
        &MISC_CHECK,
        &URL,
        &TOP,
    ];

    #[test]
    fn no_keyword_is_both_supported_and_unsupported() {
        for ctx in ALL {
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
    }
}
