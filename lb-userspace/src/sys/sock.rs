//! Socket calls std does not expose.

use std::io;
use std::os::fd::RawFd;

/// Reads what is waiting on a stream socket without consuming it (`MSG_PEEK`), without
/// blocking. `Ok(0)` means the peer shut its side and nothing is left to read.
pub fn peek(fd: RawFd, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: `buf` is a valid writable region of `buf.len()` bytes for the whole call.
    let n = unsafe {
        libc::recv(
            fd,
            buf.as_mut_ptr().cast(),
            buf.len(),
            libc::MSG_PEEK | libc::MSG_DONTWAIT,
        )
    };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(usize::try_from(n).unwrap_or(0))
}
