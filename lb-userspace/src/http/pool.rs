//! Idle server connections of one worker, per server.
//!
//! Each worker runs on its own thread with a current-thread runtime, so the pool is a
//! thread-local `RefCell`: no lock is ever shared between workers. Connections are taken
//! most-recently-used first (the warmest socket, and the oldest ones age out). An entry
//! idle longer than its limit is dropped when seen (hyper then closes the socket), and a
//! per-worker sweeper drops the rest so idle sockets don't outlive their timeout.

use std::cell::RefCell;
use std::collections::HashMap;
use std::time::Duration;

use tokio::time::Instant;

use crate::http::body::ReqBody;

/// A ready server connection, HTTP/1 or HTTP/2.
#[derive(Debug)]
pub enum Sender {
    /// An HTTP/1.1 connection (one request at a time).
    H1(hyper::client::conn::http1::SendRequest<ReqBody>),
    /// An HTTP/2 connection (shared by concurrent requests).
    H2(hyper::client::conn::http2::SendRequest<ReqBody>),
}

impl Sender {
    /// Whether the connection can take a request now.
    pub fn is_ready(&self) -> bool {
        match self {
            Self::H1(s) => s.is_ready(),
            Self::H2(s) => s.is_ready(),
        }
    }

    /// Whether the connection is gone.
    pub fn is_closed(&self) -> bool {
        match self {
            Self::H1(s) => s.is_closed(),
            Self::H2(s) => s.is_closed(),
        }
    }
}

/// An idle connection and what the reuse policy needs to know about it.
#[derive(Debug)]
pub struct Idle {
    /// The connection.
    pub sender: Sender,
    /// When it became idle.
    pub since: Instant,
    /// How long it may stay idle.
    pub max_idle: Duration,
    /// It already carried more than one request (proved to survive keep-alive).
    pub reused: bool,
}

/// Which idle connection a request accepts (from `http-reuse`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Want {
    /// Any idle connection.
    Any,
    /// Only connections that already carried several requests.
    Proven,
}

/// Identifies a server across the worker: the address of its shared state (stable for the
/// process's life) plus its address, so that a server whose address changes is not
/// confused with its former self.
pub type Key = (usize, std::net::SocketAddr);

thread_local! {
    static POOL: RefCell<HashMap<Key, Vec<Idle>>> = RefCell::new(HashMap::new());
    static SWEEPER: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Takes an idle connection to `key` that `want` accepts, dropping stale ones on the way.
pub fn take(key: Key, want: Want) -> Option<Idle> {
    POOL.with(|p| {
        let mut p = p.borrow_mut();
        let list = p.get_mut(&key)?;
        let now = Instant::now();
        list.retain(|i| !i.sender.is_closed() && now.duration_since(i.since) < i.max_idle);
        let pos = list
            .iter()
            .rposition(|i| i.sender.is_ready() && (want == Want::Any || i.reused))?;
        let idle = list.remove(pos);
        // HTTP/2 connections serve many streams: leave a handle for other requests.
        if let Sender::H2(s) = &idle.sender {
            list.push(Idle {
                sender: Sender::H2(s.clone()),
                since: idle.since,
                max_idle: idle.max_idle,
                reused: true,
            });
        }
        Some(idle)
    })
}

/// Returns a connection to the pool after a response.
pub fn put(key: Key, idle: Idle) {
    if idle.sender.is_closed() || idle.max_idle.is_zero() {
        return;
    }
    if let Sender::H2(_) = idle.sender {
        // The pool already holds a handle to this connection (see `take`), or this is a
        // new one that must become visible.
        let known = POOL.with(|p| {
            p.borrow()
                .get(&key)
                .is_some_and(|l| l.iter().any(|i| matches!(i.sender, Sender::H2(_))))
        });
        if known {
            refresh_h2(key);
            return;
        }
    }
    POOL.with(|p| {
        let mut p = p.borrow_mut();
        let list = p.entry(key).or_default();
        // Clients that never reuse (the first request of each session under `http-reuse
        // safe`, close-mode clients) would otherwise leave one idle socket per request until
        // its timeout: keep the warmest ones, close the oldest.
        if list.len() >= MAX_IDLE_PER_SERVER {
            list.remove(0);
        }
        list.push(idle);
    });
    ensure_sweeper();
}

/// Idle connections one worker keeps per server; beyond it the oldest is closed.
pub const MAX_IDLE_PER_SERVER: usize = 32;

fn refresh_h2(key: Key) {
    POOL.with(|p| {
        if let Some(list) = p.borrow_mut().get_mut(&key) {
            let now = Instant::now();
            for i in list
                .iter_mut()
                .filter(|i| matches!(i.sender, Sender::H2(_)))
            {
                i.since = now;
            }
        }
    });
}

/// Number of idle connections to `key` (tests, stats).
pub fn idle_count(key: Key) -> usize {
    POOL.with(|p| p.borrow().get(&key).map_or(0, Vec::len))
}

/// Drops every idle connection of this worker (hard stop).
pub fn clear() {
    POOL.with(|p| p.borrow_mut().clear());
}

/// Starts the worker's sweeper once: every second, idle connections past their limit are
/// dropped, so their sockets close on time even when no request comes.
fn ensure_sweeper() {
    if SWEEPER.with(|s| s.replace(true)) {
        return;
    }
    // Outside a LocalSet (unit tests) there is nothing to run the sweeper on.
    if tokio::runtime::Handle::try_current().is_err() {
        return;
    }
    let spawned = std::panic::catch_unwind(|| {
        tokio::task::spawn_local(async {
            loop {
                tokio::time::sleep(Duration::from_secs(1)).await;
                sweep();
            }
        })
    });
    if spawned.is_err() {
        SWEEPER.with(|s| s.set(false));
    }
}

fn sweep() {
    let now = Instant::now();
    POOL.with(|p| {
        let mut p = p.borrow_mut();
        for list in p.values_mut() {
            list.retain(|i| !i.sender.is_closed() && now.duration_since(i.since) < i.max_idle);
        }
        p.retain(|_, l| !l.is_empty());
    });
}

#[cfg(test)]
#[path = "pool_tests.rs"]
mod tests;
