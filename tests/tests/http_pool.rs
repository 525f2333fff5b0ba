//! The idle server connection pool of HTTP mode, sized as HAProxy sizes it: a steady load
//! keeps its server connections whatever its concurrency, `pool-max-conn` caps the idle
//! ones, and `pool-purge-delay` closes the surplus once the load is gone. Real `lb`, a
//! real backend whose answers are slow enough that every request of a round is in flight
//! at once, and raw keep-alive clients.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "test helpers abort the test on failure"
)]

use std::io::{BufReader, Write};
use std::net::TcpStream;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use lb_tests::http::{HttpBackend, Response};
use lb_tests::{Lb, free_port};

/// Concurrent clients: above the 32 idle connections an earlier fixed cap kept.
const CLIENTS: usize = 48;

/// How long the backend takes to answer: every request of a round overlaps.
const SLOW: Duration = Duration::from_millis(400);

fn slow_backend() -> HttpBackend {
    let echo = HttpBackend::echo_handler("s1");
    HttpBackend::with(
        "s1",
        Arc::new(move |req| {
            std::thread::sleep(SLOW);
            echo(req)
        }),
    )
}

fn start(b: &HttpBackend, server_opts: &str) -> (Lb, u16) {
    let port = free_port();
    let cfg = format!(
        "global\n    nbthread 1\n\ndefaults\n    mode http\n    timeout connect 2s\n\
         \x20   timeout client 30s\n    timeout server 30s\n\n\
         listen px\n    bind 127.0.0.1:{port}\n    http-reuse always\n\
         \x20   server s1 {} {server_opts}\n",
        b.addr()
    );
    (Lb::start(&cfg), port)
}

/// `rounds` rounds in which all clients send one request at the same moment, each on its
/// own keep-alive connection.
fn rounds(port: u16, rounds: usize) {
    let barrier = Arc::new(Barrier::new(CLIENTS));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let barrier = Arc::clone(&barrier);
            std::thread::spawn(move || {
                let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
                s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
                let mut r = BufReader::new(s);
                for _ in 0..rounds {
                    barrier.wait();
                    r.get_mut()
                        .write_all(b"GET /slow HTTP/1.1\r\nHost: t\r\n\r\n")
                        .unwrap();
                    assert_eq!(Response::read(&mut r, false).unwrap().status, 200);
                }
                // Every client has its answer before any connection closes.
                barrier.wait();
            })
        })
        .collect();
    for c in clients {
        c.join().unwrap();
    }
}

/// Established connections the backend holds now.
fn open_at_backend(b: &HttpBackend) -> usize {
    let port = b.addr().port();
    let out = std::process::Command::new("ss")
        .args([
            "-Htn",
            "state",
            "established",
            &format!("( sport = :{port} )"),
        ])
        .output()
        .expect("ss");
    String::from_utf8_lossy(&out.stdout).lines().count()
}

#[test]
fn a_steady_load_keeps_its_server_connections_whatever_its_concurrency() {
    let b = slow_backend();
    let (_lb, port) = start(&b, "");
    rounds(port, 3);
    assert_eq!(b.requests().len(), 3 * CLIENTS);
    // All requests of a round overlap, so the first round opens one connection each; the
    // next rounds find them all idle instead of closing some and opening them again.
    assert_eq!(b.connections(), CLIENTS);
}

#[test]
fn pool_max_conn_caps_the_idle_connections() {
    let b = slow_backend();
    let (_lb, port) = start(&b, "pool-max-conn 4");
    rounds(port, 2);
    assert_eq!(b.requests().len(), 2 * CLIENTS);
    // Only 4 connections stayed idle after the first round; the second needed 44 more.
    assert_eq!(b.connections(), 2 * CLIENTS - 4);
}

#[test]
fn pool_max_conn_zero_never_keeps_an_idle_connection() {
    let b = slow_backend();
    let (_lb, port) = start(&b, "pool-max-conn 0");
    rounds(port, 2);
    assert_eq!(b.connections(), 2 * CLIENTS);
    let deadline = Instant::now() + Duration::from_secs(5);
    while open_at_backend(&b) > 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        open_at_backend(&b),
        0,
        "no idle server connection stays open"
    );
}

#[test]
fn pool_purge_delay_closes_the_surplus_once_the_load_is_gone() {
    let b = slow_backend();
    let (_lb, port) = start(&b, "pool-purge-delay 1s");
    rounds(port, 1);
    assert_eq!(
        open_at_backend(&b),
        CLIENTS,
        "the pool keeps what the load needed"
    );
    // No more requests: each period halves the estimated need and closes the surplus
    // (48 -> 24 -> 12 -> 6 -> 3 -> 1 -> 0), well before `timeout server` (30s).
    let deadline = Instant::now() + Duration::from_secs(12);
    let mut seen = Vec::new();
    while Instant::now() < deadline {
        let n = open_at_backend(&b);
        if seen.last() != Some(&n) {
            seen.push(n);
        }
        if n == 0 {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        seen.last(),
        Some(&0),
        "open connections over time: {seen:?}"
    );
    assert!(
        seen.contains(&24) || seen.contains(&12),
        "the surplus goes in steps, not all at once: {seen:?}"
    );
}
