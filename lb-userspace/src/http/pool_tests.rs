//! Tests of the per-worker idle pool with real hyper client connections over in-memory
//! pipes: the bound per server (estimated need, `pool-max-conn`), most-recently-used
//! order, expiry, key separation, the `http-reuse` filter, and what is never pooled.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::DuplexStream;
use tokio::time::Instant;

use super::*;

/// Runs `f` on a current-thread runtime inside a `LocalSet`, as a worker does.
fn run<F: std::future::Future<Output = ()>>(f: F) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    tokio::task::LocalSet::new().block_on(&rt, f);
}

fn key(id: usize) -> Key {
    (id, SocketAddr::from(([127, 0, 0, 1], 8000)))
}

/// A ready HTTP/1 connection whose server end is `peer` (kept open by the caller).
async fn h1() -> (Sender, DuplexStream) {
    let (client, peer) = tokio::io::duplex(4096);
    let (mut send, conn) =
        hyper::client::conn::http1::handshake::<_, ReqBody>(hyper_util::rt::TokioIo::new(client))
            .await
            .unwrap();
    tokio::task::spawn_local(conn);
    send.ready().await.unwrap();
    (Sender::H1(send), peer)
}

/// An idle entry; `tag` is carried in `max_idle` (seconds) to tell entries apart.
fn idle(sender: Sender, tag: u64, reused: bool) -> Idle {
    Idle {
        sender,
        since: Instant::now(),
        max_idle: Duration::from_secs(1000 + tag),
        reused,
    }
}

fn tag(i: &Idle) -> u64 {
    i.max_idle.as_secs() - 1000
}

/// A server with `in_use` requests in flight and no fixed limit.
fn demand(in_use: u32) -> Demand {
    Demand {
        in_use,
        max: None,
        purge: Duration::from_secs(5),
    }
}

/// Returns `i` to the pool of a server whose load needs more connections than a test
/// holds (so that only the rule under test bounds the pool).
fn put(k: Key, i: Idle) {
    super::put(k, i, demand(64));
}

#[test]
fn idle_connections_follow_the_estimated_need_the_oldest_go() {
    run(async {
        let k = key(1);
        let mut peers = Vec::new();
        // 40 connections come back while 32 requests at most were in flight at once.
        for t in 0..40 {
            let (s, p) = h1().await;
            peers.push(p);
            super::put(k, idle(s, t, false), demand(if t == 0 { 32 } else { 1 }));
        }
        assert_eq!(idle_count(k), 32);
        // Most recently used first; the 8 oldest were closed.
        let order: Vec<u64> = std::iter::from_fn(|| take(k, Want::Any).map(|i| tag(&i))).collect();
        let expected: Vec<u64> = (8..40).rev().collect();
        assert_eq!(order, expected);
        assert_eq!(idle_count(k), 0);
    });
}

#[test]
fn pool_max_conn_bounds_the_idle_connections() {
    run(async {
        let k = key(11);
        let mut peers = Vec::new();
        for t in 0..10 {
            let (s, p) = h1().await;
            peers.push(p);
            let d = Demand {
                max: Some(3),
                ..demand(50)
            };
            super::put(k, idle(s, t, false), d);
        }
        assert_eq!(idle_count(k), 3);
        let (s, p) = h1().await;
        peers.push(p);
        let none = Demand {
            max: Some(0),
            ..demand(50)
        };
        super::put(k, idle(s, 99, false), none);
        assert_eq!(idle_count(k), 3, "pool-max-conn 0 pools nothing");
    });
}

#[test]
fn expired_connections_are_dropped_when_seen_and_by_the_sweeper() {
    run(async {
        let k = key(2);
        let (s, _p1) = h1().await;
        let mut stale = idle(s, 0, false);
        stale.max_idle = Duration::from_millis(50);
        put(k, stale);
        let (s, _p2) = h1().await;
        let mut fresh = idle(s, 1, false);
        fresh.since = Instant::now();
        put(k, fresh);
        // Make the first one look idle for 100 ms without sleeping.
        POOL.with(|p| {
            let mut p = p.borrow_mut();
            let list = p.get_mut(&k).unwrap();
            list.idle[0].since = Instant::now()
                .checked_sub(Duration::from_millis(100))
                .unwrap();
        });
        assert_eq!(idle_count(k), 2);
        sweep();
        assert_eq!(idle_count(k), 1, "the sweeper dropped the expired one");
        let got = take(k, Want::Any).unwrap();
        assert_eq!(tag(&got), 1);

        // An expired entry is also dropped by `take`, which then finds nothing.
        let (s, _p3) = h1().await;
        let mut old = idle(s, 2, false);
        old.since = Instant::now()
            .checked_sub(Duration::from_secs(5000))
            .unwrap();
        put(k, old);
        assert_eq!(idle_count(k), 1);
        assert!(take(k, Want::Any).is_none());
        assert_eq!(idle_count(k), 0);
    });
}

#[test]
fn servers_do_not_share_connections() {
    run(async {
        let (a, b) = (key(3), key(4));
        let other_addr = (3, SocketAddr::from(([127, 0, 0, 1], 8001)));
        let (s, _p) = h1().await;
        put(a, idle(s, 7, false));
        assert!(take(b, Want::Any).is_none());
        assert!(
            take(other_addr, Want::Any).is_none(),
            "same server state, another address: another key"
        );
        assert_eq!(tag(&take(a, Want::Any).unwrap()), 7);
    });
}

#[test]
fn proven_requests_only_take_reused_connections() {
    run(async {
        let k = key(5);
        let (s, _p1) = h1().await;
        put(k, idle(s, 1, true));
        let (s, _p2) = h1().await;
        put(k, idle(s, 2, false));
        // The newest is not proven: `aggressive`'s first request skips it.
        assert_eq!(tag(&take(k, Want::Proven).unwrap()), 1);
        assert!(take(k, Want::Proven).is_none());
        assert_eq!(tag(&take(k, Want::Any).unwrap()), 2);
    });
}

#[test]
fn closed_or_zero_lifetime_connections_are_never_pooled() {
    run(async {
        let k = key(6);
        let (s, peer) = h1().await;
        drop(peer);
        // Let the connection task see the end of the pipe.
        for _ in 0..10 {
            tokio::task::yield_now().await;
            if s.is_closed() {
                break;
            }
        }
        assert!(s.is_closed());
        put(k, idle(s, 0, false));
        assert_eq!(idle_count(k), 0);

        let (s, _p) = h1().await;
        let mut zero = idle(s, 0, false);
        zero.max_idle = Duration::ZERO;
        put(k, zero);
        assert_eq!(idle_count(k), 0);

        let (s, _p2) = h1().await;
        put(k, idle(s, 3, false));
        clear();
        assert_eq!(idle_count(k), 0, "a hard stop empties the pool");
    });
}

#[test]
fn busy_connections_are_skipped() {
    run(async {
        let k = key(7);
        let (s, _p) = h1().await;
        let Sender::H1(mut send) = s else {
            unreachable!()
        };
        // A request in flight: the HTTP/1 connection cannot take another one.
        let pending = send.send_request(http::Request::new(ReqBody::empty()));
        let pending = tokio::task::spawn_local(pending);
        tokio::task::yield_now().await;
        assert!(!send.is_ready());
        put(k, idle(Sender::H1(send), 9, false));
        assert!(take(k, Want::Any).is_none());
        assert_eq!(idle_count(k), 1, "kept: it may become ready again");
        pending.abort();
    });
}
