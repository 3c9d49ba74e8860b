//! Reading a file a check names (a tracked file's number, a plugin's
//! `read-file`) without letting the file stall the checker: it is opened
//! non-blocking, and anything but a regular file is refused (a FIFO would
//! block the open or the read for ever; a device could stream without end).
//! At most `limit` bytes are read.

use std::io::{self, Read};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// The first `limit` bytes of the regular file at `path`; an error for
/// anything else, and with `whole`, for a file longer than `limit`.
pub fn read_regular(path: &Path, limit: usize, whole: bool) -> io::Result<Vec<u8>> {
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC | libc::O_NOCTTY)
        .open(path)?;
    if !f.metadata()?.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a regular file",
        ));
    }
    let mut buf = Vec::new();
    let cap = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
    Read::take(f, cap).read_to_end(&mut buf)?;
    if buf.len() > limit {
        if whole {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("larger than {limit} bytes"),
            ));
        }
        buf.truncate(limit);
    }
    Ok(buf)
}

/// `read_regular` for async callers: on a blocking thread, at most a few at
/// once (a slow disk must not take every thread of the runtime's pool).
pub async fn read_regular_async(path: &Path, limit: usize, whole: bool) -> io::Result<Vec<u8>> {
    static READERS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(4);
    let _permit = READERS
        .acquire()
        .await
        .map_err(|_| io::Error::other("reader pool closed"))?;
    let path = path.to_path_buf();
    tokio::task::spawn_blocking(move || read_regular(&path, limit, whole))
        .await
        .map_err(|e| io::Error::other(e.to_string()))?
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    /// Regression: a FIFO at a tracked file's path blocked the checker's
    /// only thread in open(2); in a plugin it held a blocking thread each run.
    #[test]
    fn a_fifo_or_a_device_is_refused_at_once() {
        let dir = std::env::temp_dir().join(format!("upkeep-read-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let fifo = dir.join("fifo");
        let _ = std::fs::remove_file(&fifo);
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        let t = Instant::now();
        let e = read_regular(&fifo, 64, false).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
        assert!(t.elapsed() < Duration::from_secs(1));
        assert!(read_regular(Path::new("/dev/zero"), 64, false).is_err());
        let file = dir.join("n");
        std::fs::write(&file, "42 and more\n").unwrap();
        assert_eq!(read_regular(&file, 2, false).unwrap(), b"42");
        assert!(read_regular(&file, 2, true).is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
