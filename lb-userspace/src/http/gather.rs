//! Output gathering for multiplexed (HTTP/2) client connections.
//!
//! hyper's HTTP/2 server flushes whenever its connection task runs, and that task runs once
//! per stream that produced something: with many streams in flight, every response went
//! out in its own `writev` and its own TCP segment (3.7 segments per request against
//! HAProxy's 2.7, which writes once per event-loop round). The client I/O therefore keeps
//! what HTTP/2 writes, and at the flush yields once to the worker's other ready tasks
//! (server responses being read, other streams) before writing everything in one call.

use std::io::IoSlice;

/// Bytes gathered before writes wait for the socket.
pub const LIMIT: usize = 64 * 1024;

/// Bytes written by HTTP/2 and not yet sent.
#[derive(Debug, Default)]
pub struct Gather {
    buf: Vec<u8>,
    pos: usize,
    yielded: bool,
}

impl Gather {
    /// Nothing waits to be sent.
    pub fn is_empty(&self) -> bool {
        self.pos >= self.buf.len()
    }

    /// More can be gathered.
    pub fn has_room(&self) -> bool {
        self.pending().len() < LIMIT
    }

    /// Copies as much of `bufs` as fits; returns how many bytes were taken.
    pub fn push(&mut self, bufs: &[IoSlice<'_>]) -> usize {
        let mut taken = 0;
        for b in bufs {
            let room = LIMIT.saturating_sub(self.pending().len());
            let n = b.len().min(room);
            self.buf.extend_from_slice(&b[..n]);
            taken += n;
            if n < b.len() {
                break;
            }
        }
        taken
    }

    /// What waits to be sent.
    pub fn pending(&self) -> &[u8] {
        self.buf.get(self.pos..).unwrap_or_default()
    }

    /// `n` bytes went out.
    pub fn consumed(&mut self, n: usize) {
        self.pos += n;
        if self.is_empty() {
            self.buf.clear();
            self.pos = 0;
            self.yielded = false;
            // A burst may have grown the buffer: an idle connection keeps a small one.
            if self.buf.capacity() > LIMIT {
                self.buf.shrink_to(LIMIT / 4);
            }
        }
    }

    /// Whether the flush should first let other ready tasks run (once per gathered batch).
    pub fn yield_first(&mut self) -> bool {
        !std::mem::replace(&mut self.yielded, true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gathers_up_to_the_limit_and_drains_in_order() {
        let mut g = Gather::default();
        assert!(g.is_empty() && g.has_room());
        assert_eq!(g.push(&[IoSlice::new(b"ab"), IoSlice::new(b"cd")]), 4);
        assert_eq!(g.pending(), b"abcd");
        g.consumed(1);
        assert_eq!(g.pending(), b"bcd");
        let big = vec![7u8; LIMIT];
        assert_eq!(
            g.push(&[IoSlice::new(&big)]),
            LIMIT - 3,
            "only up to the limit"
        );
        assert!(!g.has_room());
        assert_eq!(g.push(&[IoSlice::new(b"x")]), 0);
        g.consumed(LIMIT);
        assert!(g.is_empty());
        assert!(
            g.buf.capacity() <= LIMIT,
            "a drained burst gives its memory back"
        );
    }

    #[test]
    fn a_batch_yields_once() {
        let mut g = Gather::default();
        g.push(&[IoSlice::new(b"frame")]);
        assert!(g.yield_first());
        assert!(!g.yield_first(), "the second flush writes");
        g.consumed(5);
        g.push(&[IoSlice::new(b"next")]);
        assert!(g.yield_first(), "a new batch yields again");
    }
}
