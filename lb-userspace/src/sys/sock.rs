//! Socket calls std does not expose.

use std::os::fd::RawFd;

/// Prepares a socket so that closing it sends nothing to the peer (`silent-drop`): the
/// TCP repair mode when allowed (root), otherwise a hop limit of 1 and an abortive close,
/// so that the reset dies at the first router (HAProxy's two methods).
pub fn prepare_silent_close(fd: RawFd) {
    let one: libc::c_int = 1;
    let size = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    let ptr = (&raw const one).cast();
    // SAFETY: `ptr` points to a live c_int of `size` bytes; failures are handled by the
    // fallback below and leave the socket usable.
    if unsafe { libc::setsockopt(fd, libc::SOL_TCP, libc::TCP_REPAIR, ptr, size) } == 0 {
        return;
    }
    // SAFETY: as above.
    unsafe {
        libc::setsockopt(fd, libc::IPPROTO_IP, libc::IP_TTL, ptr, size);
        libc::setsockopt(fd, libc::IPPROTO_IPV6, libc::IPV6_UNICAST_HOPS, ptr, size);
    }
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    let lsize = std::mem::size_of::<libc::linger>() as libc::socklen_t;
    // SAFETY: `linger` is a valid struct of `lsize` bytes.
    unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&raw const linger).cast(),
            lsize,
        );
    }
}
