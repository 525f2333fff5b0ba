//! The request-side timers of HTTP logs, as HAProxy 2.6 defines them (manual 8.4):
//!
//! * `Th`: the handshake, from the accept to the connection being ready for HTTP (the
//!   PROXY header); 0 for the later requests of a kept-alive connection;
//! * `Ti`: idle time, from the end of the handshake (or of the previous transaction) to
//!   the first byte of the request;
//! * `TR`: from that first byte to the end of the request head;
//! * `Tq = Th + Ti + TR`, `Ta = Tt - Th - Ti`, and `Tt` counts from the accept (or the end
//!   of the previous transaction).
//!
//! Instants are milliseconds of [`crate::clock::now_ms`]: the connection notes when it
//! began waiting for a request and when the request's first byte arrived; the
//! transaction computes the timers when the head is complete. HTTP/2 streams have no
//! `TR` (their head arrives in one block) and their `Ti` counts from when the connection
//! last had no active stream, as in HAProxy.

/// The request-side timers of one transaction, in milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RequestTimes {
    /// `%Th`.
    pub th: u64,
    /// `%Ti`.
    pub ti: u64,
    /// `%TR`.
    pub treq: u64,
}

impl RequestTimes {
    /// The timers of a request whose head completed at `head_done`, on a connection that
    /// began waiting at `base` (end of the handshake or of the previous transaction), the
    /// head's first byte having arrived at `first_byte` (`None`: it was already there,
    /// pipelined, or the protocol has no notion of it, HTTP/2). `handshake` is the time
    /// from the accept to `base` for the first request of a connection, else 0.
    pub fn new(base: u64, first_byte: Option<u64>, head_done: u64, handshake: u64) -> Self {
        let first = first_byte
            .unwrap_or(head_done)
            .clamp(base, head_done.max(base));
        Self {
            th: handshake,
            ti: first - base,
            treq: head_done.saturating_sub(first),
        }
    }

    /// Everything before the head was complete (`Tq`).
    pub fn before_head(&self) -> u64 {
        self.th + self.ti + self.treq
    }
}

/// `%Th`, `%Ti` and `%TR` of the `nth` request (from 0) of a connection, whose head
/// completed at `head_done`.
pub fn of_request(
    state: &crate::http::session::ConnState,
    nth: u64,
    head_done: u64,
) -> RequestTimes {
    let base = state.phase.base();
    let h2 = state.h2.get();
    if h2 {
        // HTTP/2 (as HAProxy's mux): a stream's idle time runs from when the connection
        // last had no stream; a stream opened while another is active has none. The base
        // is cleared while streams run and set again when one ends.
        state.phase.mark_base(0);
        if base == 0 {
            return RequestTimes::default();
        }
    }
    let first = if h2 {
        None
    } else {
        state.phase.take_head_start()
    };
    let handshake = if nth == 0 {
        // The accept is a wall-clock date: what it adds to the monotonic wait.
        let since_accept = state
            .accept_date
            .elapsed()
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        since_accept.saturating_sub(head_done.saturating_sub(base))
    } else {
        0
    };
    RequestTimes::new(base, first, head_done, handshake)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slow_client_on_a_new_connection() {
        // Accepted, ready 2 ms later at 1000, first byte at 1300, head done at 1700.
        let t = RequestTimes::new(1000, Some(1300), 1700, 2);
        assert_eq!(
            t,
            RequestTimes {
                th: 2,
                ti: 300,
                treq: 400
            }
        );
        assert_eq!(t.before_head(), 702);
    }

    #[test]
    fn pipelined_or_http2_requests_have_no_reception_time() {
        let t = RequestTimes::new(1000, None, 1000, 0);
        assert_eq!(t, RequestTimes::default());
        let t = RequestTimes::new(1000, None, 1250, 0);
        assert_eq!(
            t,
            RequestTimes {
                th: 0,
                ti: 250,
                treq: 0
            }
        );
    }

    #[test]
    fn clock_disorder_never_underflows() {
        // A first byte noted before the base (a read that raced the end of the previous
        // transaction) counts from the base.
        let t = RequestTimes::new(1000, Some(990), 1010, 0);
        assert_eq!(
            t,
            RequestTimes {
                th: 0,
                ti: 0,
                treq: 10
            }
        );
        let t = RequestTimes::new(1000, Some(1020), 1010, 0);
        assert_eq!(
            t,
            RequestTimes {
                th: 0,
                ti: 10,
                treq: 0
            }
        );
    }
}
