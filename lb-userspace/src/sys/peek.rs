//! recv(2) with MSG_PEEK into an initialized buffer (socket2's `peek` wants `MaybeUninit`).

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};

/// Copies up to `buf.len()` queued bytes of the socket `fd` into `buf` without removing
/// them from the socket. Non-blocking: `WouldBlock` when nothing is queued, `Ok(0)` at end
/// of stream.
pub fn peek(fd: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        // SAFETY: `buf` is valid writable memory of `buf.len()` bytes for the whole call,
        // and `fd` is borrowed from an open socket.
        let n = unsafe {
            libc::recv(
                fd.as_raw_fd(),
                buf.as_mut_ptr().cast(),
                buf.len(),
                libc::MSG_PEEK | libc::MSG_DONTWAIT,
            )
        };
        match usize::try_from(n) {
            Ok(n) => return Ok(n),
            Err(_) => {
                let e = io::Error::last_os_error();
                if e.kind() != io::ErrorKind::Interrupted {
                    return Err(e);
                }
            }
        }
    }
}
