//! Idle server connections of one worker, per server.
//!
//! Each worker runs on its own thread with a current-thread runtime, so the pool is a
//! thread-local `RefCell`: no lock is ever shared between workers. Connections are taken
//! most-recently-used first (the warmest socket, and the oldest ones age out). An entry
//! idle longer than its limit is dropped when seen (hyper then closes the socket), and a
//! per-worker sweeper drops the rest so idle sockets don't outlive their timeout.
//!
//! How many idle connections a server keeps follows HAProxy: no fixed number (unless
//! `pool-max-conn`), but the *estimated need*, the peak of concurrent requests to the
//! server seen over the last `pool-purge-delay` periods. A steady load therefore never
//! closes and reopens connections (a fixed cap below the concurrency did: each surplus
//! connection cost a handshake, a FIN exchange and extra ACKs), and once the load drops,
//! each period closes the surplus down to the decaying estimate.

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

/// The idle connections of one server and its need estimate.
#[derive(Debug, Default)]
struct Server {
    /// Idle connections, oldest first.
    idle: Vec<Idle>,
    /// Peak of concurrent requests seen during the current period.
    peak: u32,
    /// Estimated need: the peaks of the last periods, halving as they age.
    need: u32,
    /// When the current period started (`None` until the first `put`).
    period_start: Option<Instant>,
    /// The server's `pool-purge-delay`.
    purge: Duration,
    /// The server's `pool-max-conn` (`None`: no fixed limit).
    max: Option<u32>,
}

impl Server {
    /// How many idle connections may stay now.
    fn allowed(&self) -> usize {
        let need = self.need.max(self.peak) as usize;
        self.max.map_or(need, |m| need.min(m as usize))
    }

    /// Ends the period if it is over: the estimate becomes the mean of the old one and
    /// the last peak (never below the peak), as HAProxy's `est_need_conns`, and the
    /// surplus idle connections, oldest first, are closed.
    fn roll(&mut self, now: Instant) {
        let Some(start) = self.period_start else {
            return;
        };
        if now.duration_since(start) < self.purge {
            return;
        }
        let mean = (u64::from(self.need) + u64::from(self.peak)) / 2;
        self.need = u32::try_from(mean).unwrap_or(u32::MAX).max(self.peak);
        self.peak = 0;
        self.period_start = Some(now);
        let surplus = self.idle.len().saturating_sub(self.allowed());
        self.idle.drain(..surplus);
    }
}

/// What the pool needs to know about a server when a connection comes back.
#[derive(Debug, Clone, Copy)]
pub struct Demand {
    /// Requests in progress on the server now, this one included.
    pub in_use: u32,
    /// `pool-max-conn` (`None`: no fixed limit).
    pub max: Option<u32>,
    /// `pool-purge-delay`.
    pub purge: Duration,
}

impl Demand {
    /// The demand on `server` now (its request count and pool settings).
    pub fn of(server: &crate::backend::state::ServerState) -> Self {
        Self {
            in_use: server.cur_conns(),
            max: server.cfg.pool_max_conn,
            purge: server.cfg.pool_purge_delay,
        }
    }
}

impl Default for Demand {
    /// One request in flight, default pool settings.
    fn default() -> Self {
        Self {
            in_use: 1,
            max: None,
            purge: crate::config::model::server_defaults::POOL_PURGE_DELAY,
        }
    }
}

thread_local! {
    static POOL: RefCell<HashMap<Key, Server>> = RefCell::new(HashMap::new());
    static SWEEPER: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Takes an idle connection to `key` that `want` accepts, dropping stale ones on the way.
pub fn take(key: Key, want: Want) -> Option<Idle> {
    POOL.with(|p| {
        let mut p = p.borrow_mut();
        let list = &mut p.get_mut(&key)?.idle;
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

/// Returns a connection to the pool after a response; `demand` sizes the pool.
pub fn put(key: Key, idle: Idle, demand: Demand) {
    if idle.sender.is_closed() || idle.max_idle.is_zero() || demand.max == Some(0) {
        return;
    }
    if let Sender::H2(_) = idle.sender {
        // The pool already holds a handle to this connection (see `take`), or this is a
        // new one that must become visible.
        let known = POOL.with(|p| {
            p.borrow()
                .get(&key)
                .is_some_and(|l| l.idle.iter().any(|i| matches!(i.sender, Sender::H2(_))))
        });
        if known {
            refresh_h2(key);
            return;
        }
    }
    POOL.with(|p| {
        let mut p = p.borrow_mut();
        let srv = p.entry(key).or_default();
        srv.purge = demand.purge;
        srv.max = demand.max;
        srv.peak = srv.peak.max(demand.in_use);
        let now = idle.since;
        if srv.period_start.is_none() {
            srv.period_start = Some(now);
        }
        srv.roll(now);
        // Clients that never reuse (the first request of each session under `http-reuse
        // safe`, close-mode clients) would otherwise leave one idle socket per request until
        // its timeout: beyond the need, keep the warmest ones and close the oldest.
        let allowed = srv.allowed().max(1);
        if srv.idle.len() >= allowed {
            let surplus = srv.idle.len() + 1 - allowed;
            srv.idle.drain(..surplus);
        }
        srv.idle.push(idle);
    });
    ensure_sweeper();
}

fn refresh_h2(key: Key) {
    POOL.with(|p| {
        if let Some(list) = p.borrow_mut().get_mut(&key) {
            let now = Instant::now();
            for i in list
                .idle
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
    POOL.with(|p| p.borrow().get(&key).map_or(0, |s| s.idle.len()))
}

/// Drops every idle connection of this worker (hard stop).
pub fn clear() {
    POOL.with(|p| p.borrow_mut().clear());
}

/// Starts the worker's sweeper once: every second, idle connections past their limit are
/// dropped and finished periods are rolled, so sockets close on time even when no
/// request comes.
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
        for srv in p.values_mut() {
            srv.idle
                .retain(|i| !i.sender.is_closed() && now.duration_since(i.since) < i.max_idle);
            srv.roll(now);
        }
        // A server with neither idle connections nor a need left is forgotten.
        p.retain(|_, s| !s.idle.is_empty() || s.need > 0 || s.peak > 0);
    });
}

#[cfg(test)]
mod need_tests {
    use super::*;

    fn server(purge: u64, max: Option<u32>) -> Server {
        Server {
            purge: Duration::from_secs(purge),
            max,
            ..Server::default()
        }
    }

    #[test]
    fn need_follows_the_peak_and_decays_by_half_each_idle_period() {
        let t0 = Instant::now();
        let mut s = server(5, None);
        s.period_start = Some(t0);
        s.peak = 50;
        assert_eq!(
            s.allowed(),
            50,
            "the current peak counts before the period ends"
        );
        s.roll(t0 + Duration::from_secs(4));
        assert_eq!(
            (s.need, s.peak),
            (0, 50),
            "a period rolls only after pool-purge-delay"
        );
        s.roll(t0 + Duration::from_secs(5));
        assert_eq!((s.need, s.peak), (50, 0));
        let mut at = t0 + Duration::from_secs(5);
        let mut seen = Vec::new();
        for _ in 0..7 {
            at += Duration::from_secs(5);
            s.roll(at);
            seen.push(s.need);
        }
        assert_eq!(seen, [25, 12, 6, 3, 1, 0, 0]);
    }

    #[test]
    fn a_new_peak_above_the_estimate_wins_at_once() {
        let t0 = Instant::now();
        let mut s = server(5, None);
        s.period_start = Some(t0);
        s.need = 10;
        s.peak = 40;
        s.roll(t0 + Duration::from_secs(6));
        assert_eq!(s.need, 40);
        s.peak = 20;
        s.roll(t0 + Duration::from_secs(12));
        assert_eq!(s.need, 30, "mean of the estimate and the last peak");
    }

    #[test]
    fn pool_max_conn_caps_the_estimate() {
        let mut s = server(5, Some(8));
        s.peak = 100;
        assert_eq!(s.allowed(), 8);
        s.max = Some(0);
        assert_eq!(s.allowed(), 0);
    }
}

#[cfg(test)]
#[path = "pool_tests.rs"]
mod tests;
