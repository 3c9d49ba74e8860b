//! The system calls that have no safe wrapper, each behind a small safe
//! function. This is the only module of the crate allowed `unsafe` (every
//! other one is `#![forbid(unsafe_code)]`); everything else goes through
//! `nix`, `socket2`, `capctl` or std.
//!
//! What is here, and why it must be raw:
//! - `fd`: taking over the descriptor a worker inherits; FIONREAD;
//!   setsockopt for options nix does not name (IPV6_CHECKSUM).
//! - `process`: what runs between fork and exec (`pre_exec` hooks: the
//!   worker hand-over, closing inherited descriptors for scripts), fork for
//!   the pid-1 init, pidfd_open.
//! - `packet`: AF_PACKET sockets (a `sockaddr_ll` has no safe builder).
//! - `env`: changing this process's environment, only while it is still
//!   single-threaded.
//! - `mem`: giving freed heap back to the kernel (`malloc_trim`, `mallopt`).
//! - `epoll`: an epoll set the runtime watches (registering a bare
//!   descriptor with tokio is unsafe: I/O safety).
//! - `wasm`: loading precompiled plugin code (wasmtime marks it unsafe: the
//!   artefact is native code, trusted because of where it comes from).

pub mod env;
pub mod epoll;
pub mod fd;
pub mod mem;
pub mod packet;
pub mod process;
#[cfg(feature = "plugins")]
pub mod wasm;
