//! This process's environment. Changing it is only sound while no other
//! thread can read it: callers do it first thing in `main`, before the
//! runtime (or anything else) starts a thread.

/// Removes `keys` from the environment.
///
/// Call only while the process is single-threaded.
pub fn remove_before_threads(keys: &[&str]) {
    for key in keys {
        // SAFETY: the caller guarantees no other thread exists yet, so
        // nothing reads the environment concurrently.
        unsafe { std::env::remove_var(key) };
    }
}

/// Sets `key` to `value`.
///
/// Call only while the process is single-threaded.
pub fn set_before_threads(key: &str, value: &str) {
    // SAFETY: as in `remove_before_threads`.
    unsafe { std::env::set_var(key, value) };
}
