//! Daemon mode (`-D` / `daemon`) and pid files.

use std::io::{self, Write};
use std::os::fd::AsRawFd;
use std::path::Path;

/// Which side of the fork we are on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Forked {
    /// The original process, which should exit with status 0.
    Parent,
    /// The detached daemon.
    Child,
}

/// Forks into the background: the child starts a new session and points its standard
/// streams at /dev/null, as HAProxy does. Must be called before any thread is spawned.
pub fn daemonize() -> io::Result<Forked> {
    // SAFETY: called while the process is still single-threaded (documented requirement),
    // so the child cannot inherit a lock held by another thread.
    match unsafe { libc::fork() } {
        -1 => return Err(io::Error::last_os_error()),
        0 => {}
        _ => return Ok(Forked::Parent),
    }
    // SAFETY: plain syscall without pointers.
    if unsafe { libc::setsid() } < 0 {
        return Err(io::Error::last_os_error());
    }
    let null = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")?;
    for fd in 0..=2 {
        // SAFETY: both descriptors are valid; dup2 atomically replaces the standard stream.
        if unsafe { libc::dup2(null.as_raw_fd(), fd) } < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(Forked::Child)
}

/// Writes the current process id to `path` (with a trailing newline, like HAProxy).
pub fn write_pidfile(path: &Path) -> io::Result<()> {
    let mut file = std::fs::File::create(path)?;
    writeln!(file, "{}", std::process::id())
}
