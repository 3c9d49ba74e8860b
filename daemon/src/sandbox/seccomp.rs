//! seccomp-bpf allow-lists, one per worker role. A call not on the role's
//! list kills the whole worker with SIGSYS (the parent logs the signal and
//! restarts it with back-off), so a compromised worker cannot reach the
//! kernel's larger surface (bpf, io_uring, user namespaces, keyrings,
//! ptrace, module loading...).
//!
//! The lists were measured with `strace -f` on each worker through the lab
//! suites (see `docs/security.md`, "seccomp"), then grouped by what needs
//! them. The filter is inherited across fork and exec: the programs the
//! workers run (VRRP's `nft`, the checker's scripts) run under it too, so the
//! VRRP list covers `nft` and the checker's list covers what ordinary
//! scripts call (the decision is explained in `docs/security.md`).
//!
//! `UPKEEP_SECCOMP` in the daemon's environment (workers inherit it):
//! `off` installs nothing (diagnosis), `log` allows and logs unlisted calls
//! to the kernel's audit log (finding a missing call), anything else or
//! unset enforces.

use std::collections::BTreeMap;

use seccompiler::{BpfProgram, SeccompAction, SeccompFilter, TargetArch};

use crate::ipc::msg::Role;

/// The environment variable that selects the mode.
pub const ENV: &str = "UPKEEP_SECCOMP";

/// What happens to a call a role's list does not have.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// SIGSYS kills the process.
    Enforce,
    /// Allowed, and logged by the kernel (audit type 1326, SECCOMP_RET_LOG).
    Log,
    /// No filter at all.
    Off,
}

impl Mode {
    /// The mode `UPKEEP_SECCOMP` asks for; enforcing unless it says `off` or `log`.
    pub fn from_env() -> Self {
        Self::parse(std::env::var(ENV).ok().as_deref())
    }

    pub fn parse(value: Option<&str>) -> Self {
        match value.map(str::trim) {
            Some("off") => Mode::Off,
            Some("log") => Mode::Log,
            _ => Mode::Enforce,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SeccompError {
    #[error("this architecture has no seccomp allow-list: {0}")]
    Arch(String),
    #[error("cannot build the seccomp filter: {0}")]
    Build(#[from] seccompiler::BackendError),
    #[error("cannot install the seccomp filter: {0}")]
    Install(#[from] seccompiler::Error),
}

/// What every worker calls: Rust's std, the tokio runtime (epoll, eventfd,
/// futexes, a blocking-thread pool), tracing to stderr, the parent's socket
/// (SCM_CREDENTIALS), and the process's own life (signals, exit).
const BASE: &[i64] = &[
    libc::SYS_read,
    libc::SYS_write,
    libc::SYS_readv,
    libc::SYS_writev,
    libc::SYS_pread64,
    libc::SYS_pwrite64,
    libc::SYS_openat,
    libc::SYS_close,
    libc::SYS_fstat,
    libc::SYS_newfstatat,
    libc::SYS_statx,
    libc::SYS_lseek,
    libc::SYS_fcntl,
    libc::SYS_ioctl,
    libc::SYS_getdents64,
    libc::SYS_readlinkat,
    libc::SYS_faccessat,
    libc::SYS_faccessat2,
    libc::SYS_getcwd,
    libc::SYS_dup,
    libc::SYS_dup3,
    libc::SYS_pipe2,
    libc::SYS_mmap,
    libc::SYS_munmap,
    libc::SYS_mprotect,
    libc::SYS_madvise,
    libc::SYS_mremap,
    libc::SYS_brk,
    libc::SYS_rt_sigaction,
    libc::SYS_rt_sigprocmask,
    libc::SYS_rt_sigreturn,
    libc::SYS_sigaltstack,
    libc::SYS_futex,
    libc::SYS_epoll_create1,
    libc::SYS_epoll_ctl,
    libc::SYS_epoll_pwait,
    libc::SYS_epoll_pwait2,
    libc::SYS_eventfd2,
    libc::SYS_ppoll,
    libc::SYS_pselect6,
    libc::SYS_clock_gettime,
    libc::SYS_clock_getres,
    libc::SYS_clock_nanosleep,
    libc::SYS_nanosleep,
    libc::SYS_gettimeofday,
    libc::SYS_getpid,
    libc::SYS_gettid,
    libc::SYS_getppid,
    libc::SYS_getuid,
    libc::SYS_geteuid,
    libc::SYS_getgid,
    libc::SYS_getegid,
    libc::SYS_getresuid,
    libc::SYS_getresgid,
    libc::SYS_getgroups,
    libc::SYS_capget,
    libc::SYS_sched_yield,
    libc::SYS_sched_getaffinity,
    libc::SYS_clone,
    libc::SYS_clone3,
    libc::SYS_set_robust_list,
    libc::SYS_set_tid_address,
    libc::SYS_rseq,
    libc::SYS_exit,
    libc::SYS_exit_group,
    libc::SYS_restart_syscall,
    libc::SYS_prctl,
    libc::SYS_getrandom,
    libc::SYS_uname,
    libc::SYS_prlimit64,
    libc::SYS_getrusage,
    libc::SYS_kill,
    libc::SYS_tgkill,
    libc::SYS_socket,
    libc::SYS_socketpair,
    libc::SYS_bind,
    libc::SYS_connect,
    libc::SYS_sendto,
    libc::SYS_recvfrom,
    libc::SYS_sendmsg,
    libc::SYS_recvmsg,
    libc::SYS_sendmmsg,
    libc::SYS_recvmmsg,
    libc::SYS_getsockopt,
    libc::SYS_setsockopt,
    libc::SYS_getsockname,
    libc::SYS_getpeername,
    libc::SYS_shutdown,
];

/// x86_64's older entry points, which glibc and musl still use for some
/// functions (and std for a few).
#[cfg(target_arch = "x86_64")]
const BASE_X86_64: &[i64] = &[
    libc::SYS_open,
    libc::SYS_stat,
    libc::SYS_lstat,
    libc::SYS_access,
    libc::SYS_readlink,
    libc::SYS_poll,
    libc::SYS_select,
    libc::SYS_pipe,
    libc::SYS_dup2,
    libc::SYS_epoll_wait,
    libc::SYS_epoll_create,
    libc::SYS_eventfd,
    libc::SYS_arch_prctl,
    libc::SYS_getpgrp,
    libc::SYS_time,
    libc::SYS_getdents,
];
#[cfg(not(target_arch = "x86_64"))]
const BASE_X86_64: &[i64] = &[];

/// Starting programs and waiting for them: tokio's process support (pidfd,
/// waitid), process groups (a command's timeout kills its group).
const SPAWN: &[i64] = &[
    #[cfg(target_arch = "x86_64")]
    libc::SYS_vfork,
    libc::SYS_execve,
    libc::SYS_execveat,
    libc::SYS_wait4,
    libc::SYS_waitid,
    libc::SYS_pidfd_open,
    libc::SYS_pidfd_send_signal,
    libc::SYS_setpgid,
    libc::SYS_getpgid,
    libc::SYS_setsid,
    libc::SYS_getsid,
    libc::SYS_close_range,
    libc::SYS_chdir,
    libc::SYS_fchdir,
    libc::SYS_umask,
];

/// The VRRP worker: raw VRRP and ARP/NDP sockets, route netlink (addresses,
/// links, routes), its timers; and `nft` for accept mode.
const VRRP: &[i64] = &[
    libc::SYS_timerfd_create,
    libc::SYS_timerfd_settime,
    libc::SYS_timerfd_gettime,
    libc::SYS_sched_getparam,
    libc::SYS_sched_setscheduler,
    libc::SYS_sched_getscheduler,
    libc::SYS_setpriority,
    libc::SYS_getpriority,
];

/// The checker, beyond its own needs (TCP/HTTP/TLS probes, /proc for
/// track_process, the plugin cache, wasmtime's code memory and traps): what
/// operators' scripts call, since they run under this filter. That is the
/// ordinary surface of a Linux program; what stays out is listed in
/// `docs/security.md`.
const CHECKER: &[i64] = &[
    // procps (`ps -C NAME`, the seed haproxy check script) sets its NUMA
    // memory policy; found with UPKEEP_SECCOMP=log through seeds_lab.
    libc::SYS_set_mempolicy,
    libc::SYS_get_mempolicy,
    // wasmtime: copy-on-write module images, code memory, traps, threads
    // for parallel compilation.
    libc::SYS_memfd_create,
    libc::SYS_membarrier,
    libc::SYS_mincore,
    libc::SYS_msync,
    libc::SYS_mlock,
    libc::SYS_munlock,
    libc::SYS_pkey_alloc,
    libc::SYS_pkey_free,
    libc::SYS_pkey_mprotect,
    libc::SYS_sched_setaffinity,
    libc::SYS_sched_getparam,
    libc::SYS_sched_getscheduler,
    libc::SYS_sched_get_priority_max,
    libc::SYS_sched_get_priority_min,
    // The plugin cache (write, fsync, rename into place).
    libc::SYS_mkdirat,
    libc::SYS_unlinkat,
    libc::SYS_renameat,
    libc::SYS_renameat2,
    libc::SYS_fsync,
    libc::SYS_fdatasync,
    libc::SYS_ftruncate,
    libc::SYS_fallocate,
    libc::SYS_fchmod,
    libc::SYS_fchmodat,
    libc::SYS_fchown,
    libc::SYS_fchownat,
    libc::SYS_flock,
    libc::SYS_linkat,
    libc::SYS_symlinkat,
    libc::SYS_utimensat,
    libc::SYS_truncate,
    libc::SYS_sync_file_range,
    libc::SYS_statfs,
    libc::SYS_fstatfs,
    libc::SYS_sendfile,
    libc::SYS_copy_file_range,
    libc::SYS_splice,
    libc::SYS_tee,
    libc::SYS_fadvise64,
    libc::SYS_readahead,
    libc::SYS_getxattr,
    libc::SYS_lgetxattr,
    libc::SYS_fgetxattr,
    libc::SYS_listxattr,
    libc::SYS_llistxattr,
    libc::SYS_flistxattr,
    // Scripts: sockets servers and clients use, timers, signals, identity.
    libc::SYS_listen,
    libc::SYS_accept,
    libc::SYS_accept4,
    libc::SYS_timerfd_create,
    libc::SYS_timerfd_settime,
    libc::SYS_timerfd_gettime,
    libc::SYS_timer_create,
    libc::SYS_timer_settime,
    libc::SYS_timer_gettime,
    libc::SYS_timer_getoverrun,
    libc::SYS_timer_delete,
    libc::SYS_getitimer,
    libc::SYS_setitimer,
    libc::SYS_signalfd4,
    libc::SYS_rt_sigsuspend,
    libc::SYS_rt_sigtimedwait,
    libc::SYS_rt_sigpending,
    libc::SYS_rt_sigqueueinfo,
    libc::SYS_rt_tgsigqueueinfo,
    libc::SYS_tkill,
    libc::SYS_pidfd_getfd,
    libc::SYS_epoll_pwait2,
    libc::SYS_inotify_init1,
    libc::SYS_inotify_add_watch,
    libc::SYS_inotify_rm_watch,
    libc::SYS_getpriority,
    libc::SYS_setpriority,
    libc::SYS_times,
    libc::SYS_sysinfo,
    libc::SYS_syncfs,
    libc::SYS_getcpu,
    libc::SYS_setuid,
    libc::SYS_setgid,
    libc::SYS_setreuid,
    libc::SYS_setregid,
    libc::SYS_setresuid,
    libc::SYS_setresgid,
    libc::SYS_setgroups,
    libc::SYS_setfsuid,
    libc::SYS_setfsgid,
    libc::SYS_capset,
    libc::SYS_mq_open,
    libc::SYS_mq_unlink,
    libc::SYS_mq_timedsend,
    libc::SYS_mq_timedreceive,
    libc::SYS_shmget,
    libc::SYS_shmat,
    libc::SYS_shmdt,
    libc::SYS_shmctl,
    libc::SYS_semget,
    libc::SYS_semop,
    libc::SYS_semctl,
    libc::SYS_semtimedop,
    libc::SYS_msgget,
    libc::SYS_msgsnd,
    libc::SYS_msgrcv,
    libc::SYS_msgctl,
    libc::SYS_name_to_handle_at,
    libc::SYS_get_mempolicy,
    libc::SYS_ioprio_get,
    libc::SYS_fchdir,
    libc::SYS_mknodat,
    libc::SYS_openat2,
    libc::SYS_statfs,
    libc::SYS_futex_waitv,
    // Narrowing one's own sandbox further is harmless: a script (or a
    // program it runs, e.g. systemd-run) may add filters or rulesets.
    libc::SYS_seccomp,
    libc::SYS_landlock_create_ruleset,
    libc::SYS_landlock_add_rule,
    libc::SYS_landlock_restrict_self,
];

/// The checker's scripts on x86_64: the legacy entry points ordinary
/// binaries still call.
#[cfg(target_arch = "x86_64")]
const CHECKER_X86_64: &[i64] = &[
    libc::SYS_fork,
    libc::SYS_vfork,
    libc::SYS_mkdir,
    libc::SYS_rmdir,
    libc::SYS_unlink,
    libc::SYS_rename,
    libc::SYS_chmod,
    libc::SYS_chown,
    libc::SYS_lchown,
    libc::SYS_symlink,
    libc::SYS_link,
    libc::SYS_creat,
    libc::SYS_mknod,
    libc::SYS_utime,
    libc::SYS_utimes,
    libc::SYS_futimesat,
    libc::SYS_alarm,
    libc::SYS_pause,
    libc::SYS_inotify_init,
    libc::SYS_signalfd,
];
#[cfg(not(target_arch = "x86_64"))]
const CHECKER_X86_64: &[i64] = &[];

/// Calls no role may make, even though a list above would otherwise seem to
/// cover them (checked by a test, so that a later addition to a list cannot
/// slip one in).
pub const NEVER: &[i64] = &[
    libc::SYS_ptrace,
    libc::SYS_process_vm_readv,
    libc::SYS_process_vm_writev,
    libc::SYS_bpf,
    libc::SYS_perf_event_open,
    libc::SYS_userfaultfd,
    libc::SYS_keyctl,
    libc::SYS_add_key,
    libc::SYS_request_key,
    libc::SYS_mount,
    libc::SYS_umount2,
    libc::SYS_pivot_root,
    libc::SYS_chroot,
    libc::SYS_unshare,
    libc::SYS_setns,
    libc::SYS_fsopen,
    libc::SYS_fsmount,
    libc::SYS_fsconfig,
    libc::SYS_move_mount,
    libc::SYS_open_tree,
    libc::SYS_mount_setattr,
    libc::SYS_init_module,
    libc::SYS_finit_module,
    libc::SYS_delete_module,
    libc::SYS_kexec_load,
    libc::SYS_kexec_file_load,
    libc::SYS_reboot,
    libc::SYS_swapon,
    libc::SYS_swapoff,
    libc::SYS_acct,
    libc::SYS_io_uring_setup,
    libc::SYS_io_uring_enter,
    libc::SYS_io_uring_register,
    libc::SYS_open_by_handle_at,
    libc::SYS_syslog,
    libc::SYS_settimeofday,
    libc::SYS_clock_settime,
    libc::SYS_clock_adjtime,
    libc::SYS_adjtimex,
    libc::SYS_sethostname,
    libc::SYS_setdomainname,
    libc::SYS_quotactl,
    libc::SYS_fanotify_init,
    libc::SYS_kcmp,
    libc::SYS_personality,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_ioperm,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_iopl,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_uselib,
];

/// The metrics worker: accepting on the listener the parent handed over
/// (it binds and listens nothing itself, and runs nothing).
const METRICS: &[i64] = &[libc::SYS_accept4, libc::SYS_accept];

/// The system calls `role` may make.
pub fn allowed(role: Role) -> Vec<i64> {
    let mut v: Vec<i64> = BASE.iter().chain(BASE_X86_64).copied().collect();
    match role {
        Role::Vrrp => v.extend(SPAWN.iter().chain(VRRP)),
        Role::Ipvs => {}
        Role::Checker => v.extend(SPAWN.iter().chain(CHECKER).chain(CHECKER_X86_64)),
        Role::Metrics => v.extend(METRICS),
    }
    v.retain(|nr| !NEVER.contains(nr));
    v.sort_unstable();
    v.dedup();
    v
}

/// The compiled filter of `role`: its list allowed, anything else per `mode`.
pub fn program(role: Role, mode: Mode) -> Result<BpfProgram, SeccompError> {
    let arch = TargetArch::try_from(std::env::consts::ARCH)
        .map_err(|_| SeccompError::Arch(std::env::consts::ARCH.to_string()))?;
    let rules: BTreeMap<i64, Vec<seccompiler::SeccompRule>> = allowed(role)
        .into_iter()
        .map(|nr| (nr, Vec::new()))
        .collect();
    let mismatch = match mode {
        Mode::Log => SeccompAction::Log,
        Mode::Enforce | Mode::Off => SeccompAction::KillProcess,
    };
    let filter = SeccompFilter::new(rules, mismatch, SeccompAction::Allow, arch)?;
    Ok(BpfProgram::try_from(filter)?)
}

/// Installs `role`'s filter on every thread of this process (and so on
/// everything it starts from now on). Returns whether one was installed.
pub fn install(role: Role, mode: Mode) -> Result<bool, SeccompError> {
    if mode == Mode::Off {
        return Ok(false);
    }
    let prog = program(role, mode)?;
    seccompiler::apply_filter_all_threads(&prog)?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_role_may_make_a_never_call() {
        for role in Role::ALL {
            let list = allowed(role);
            for nr in NEVER {
                assert!(!list.contains(nr), "{role}: {nr}");
            }
        }
    }

    #[test]
    fn only_the_roles_that_run_programs_may_exec() {
        assert!(!allowed(Role::Ipvs).contains(&libc::SYS_execve));
        assert!(allowed(Role::Vrrp).contains(&libc::SYS_execve));
        assert!(allowed(Role::Checker).contains(&libc::SYS_execve));
    }

    #[test]
    fn every_role_compiles() {
        for role in Role::ALL {
            for mode in [Mode::Enforce, Mode::Log] {
                assert!(program(role, mode).is_ok(), "{role}");
            }
        }
    }

    #[test]
    fn the_mode_is_enforcing_unless_told_otherwise() {
        assert_eq!(Mode::parse(None), Mode::Enforce);
        assert_eq!(Mode::parse(Some("on")), Mode::Enforce);
        assert_eq!(Mode::parse(Some("off")), Mode::Off);
        assert_eq!(Mode::parse(Some(" log")), Mode::Log);
    }
}
