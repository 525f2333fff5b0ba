//! Port allocation for tests running in parallel, in one process or several.
//!
//! Ports come from a per-process block of a range below the kernel's ephemeral ports (so no
//! client connection can be holding them), walked with an atomic counter, and each candidate
//! is checked free by binding it before it is handed out.

use std::net::{Ipv4Addr, TcpListener, UdpSocket};
use std::sync::atomic::{AtomicU32, Ordering};

/// First port handed out.
const LOW: u32 = 10_000;
/// One past the last port handed out (below the default ephemeral range, 32768+).
const HIGH: u32 = 32_000;
/// Ports per process block: processes with different pids start in different blocks.
const BLOCK: u32 = 400;

static NEXT: AtomicU32 = AtomicU32::new(0);

/// A TCP (and UDP) port on 127.0.0.1 that nothing is bound to right now.
pub fn free_port() -> u16 {
    let span = HIGH - LOW;
    let blocks = span / BLOCK;
    let start = (std::process::id() % blocks) * BLOCK;
    for _ in 0..span {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let port = LOW + (start + n) % span;
        let port = u16::try_from(port).expect("port range fits u16");
        if is_free(port) {
            return port;
        }
    }
    panic!("no free port left in {LOW}..{HIGH}");
}

/// Whether both TCP and UDP can bind `127.0.0.1:port` (UDP: syslog receivers use them too).
fn is_free(port: u16) -> bool {
    TcpListener::bind((Ipv4Addr::LOCALHOST, port)).is_ok()
        && UdpSocket::bind((Ipv4Addr::LOCALHOST, port)).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_are_distinct_and_bindable() {
        let a: Vec<u16> = (0..50).map(|_| free_port()).collect();
        let mut b = a.clone();
        b.sort_unstable();
        b.dedup();
        assert_eq!(a.len(), b.len());
        assert!(
            a.iter()
                .all(|p| u32::from(*p) >= LOW && u32::from(*p) < HIGH)
        );
        let _l = TcpListener::bind((Ipv4Addr::LOCALHOST, a[0])).unwrap();
    }
}
