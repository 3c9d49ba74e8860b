//! Confining the workers after they dropped their privileges: a seccomp
//! allow-list per role (`seccomp`), and Landlock for the checker
//! (`landlock`). `docs/security.md` says what each allows and why.

#![forbid(unsafe_code)]

pub mod landlock;
pub mod seccomp;
