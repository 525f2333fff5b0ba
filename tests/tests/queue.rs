//! Server `maxconn` queueing: connections beyond the limit wait and are served when a slot
//! frees; `timeout queue` closes the ones that wait too long, logged `sQ`.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "test helpers abort the test on failure"
)]

use std::net::TcpStream;
use std::time::{Duration, Instant};

use lb_tests::client::{End, connect, read_line, stays_silent, wait_end};
use lb_tests::{Backend, Lb, fe_be, free_port, header, server_line, wait_until};

fn open(port: u16) -> (TcpStream, String) {
    let mut s = connect(port).expect("connect through lb");
    let name = read_line(&mut s).expect("server name");
    (s, name)
}

#[test]
fn connections_beyond_maxconn_wait_and_are_served_when_a_slot_frees() {
    let s1 = Backend::identity("s1");
    let port = free_port();
    let body = format!("    timeout queue 30s\n{}", server_line(&s1, "maxconn 2"));
    // One worker: the order in which two workers queue simultaneous arrivals is not the
    // order the kernel accepted them in, so "the oldest first" is only defined per worker.
    // `backend_queue_is_served_by_whichever_server_frees_first` covers several workers.
    let _lb = Lb::start(&(header(1) + &fe_be(port, &body)));
    let a = open(port);
    let b = open(port);
    assert_eq!((a.1.as_str(), b.1.as_str()), ("s1", "s1"));

    // Two more clients: accepted by lb, but queued, so the server never sees them.
    let mut c = connect(port).expect("connect c");
    let mut d = connect(port).expect("connect d");
    assert!(
        stays_silent(&mut c, Duration::from_millis(800)),
        "c was not queued"
    );
    assert_eq!(
        s1.active(),
        2,
        "the server got more than maxconn connections"
    );

    // Freeing one slot serves exactly one waiter, the oldest.
    drop(a);
    assert_eq!(
        read_line(&mut c).expect("c served after a slot freed"),
        "s1"
    );
    assert!(
        stays_silent(&mut d, Duration::from_millis(500)),
        "d was served without a slot"
    );
    drop(b);
    assert_eq!(
        read_line(&mut d).expect("d served after a second slot freed"),
        "s1"
    );
    assert!(
        s1.peak() <= 2,
        "the server saw {} concurrent connections",
        s1.peak()
    );
    // Queued connections are fully functional once served.
    use std::io::Write as _;
    c.write_all(b"ping\n").expect("write");
    assert_eq!(read_line(&mut c).expect("echo"), "ping");
}

#[test]
fn timeout_queue_closes_waiting_connections_with_sq() {
    let s1 = Backend::identity("s1");
    let port = free_port();
    let body = format!("    timeout queue 600ms\n{}", server_line(&s1, "maxconn 1"));
    let lb = Lb::start(&(header(1) + &fe_be(port, &body)));
    let _held = open(port);
    let mut c = connect(port).expect("connect");
    let c_port = c.local_addr().expect("local addr").port();
    let (end, took, n) = wait_end(&mut c, Duration::from_secs(10));
    assert_ne!(
        end,
        End::StillOpen,
        "the queued connection was never closed"
    );
    assert_eq!(n, 0, "the queued connection received data");
    assert!(
        took >= Duration::from_millis(450),
        "closed after {took:?}, before timeout queue"
    );
    assert!(took <= Duration::from_secs(5), "closed only after {took:?}");
    assert_eq!(s1.accepted(), 1, "the queued connection reached the server");

    let line = lb.expect_line(
        &format!(r"^127\.0\.0\.1:{c_port} \["),
        Duration::from_secs(5),
    );
    let re = regex::Regex::new(r"\] fe be/\S+ (\d+)/-1/(\d+) 0 sQ ").expect("regex");
    let caps = re
        .captures(&line)
        .unwrap_or_else(|| panic!("not a queue-timeout line: {line}"));
    let tw: u64 = caps[1].parse().expect("Tw");
    assert!(tw >= 450, "Tw {tw} shorter than the queue timeout: {line}");
}

#[test]
fn backend_queue_is_served_by_whichever_server_frees_first() {
    let s1 = Backend::identity("s1");
    let s2 = Backend::identity("s2");
    let port = free_port();
    let body = format!(
        "    balance roundrobin\n    timeout queue 30s\n{}{}",
        server_line(&s1, "maxconn 1"),
        server_line(&s2, "maxconn 1")
    );
    let _lb = Lb::start(&(header(2) + &fe_be(port, &body)));
    let a = open(port);
    let b = open(port);
    assert_ne!(a.1, b.1, "two connections on one maxconn-1 server");
    let mut c = connect(port).expect("connect");
    assert!(
        stays_silent(&mut c, Duration::from_millis(600)),
        "c was not queued"
    );
    // Free the slot of whichever server b is on: c must go there.
    let freed = b.1.clone();
    drop(b);
    let start = Instant::now();
    assert_eq!(read_line(&mut c).expect("c served"), freed);
    assert!(start.elapsed() < Duration::from_secs(5));
    assert!(wait_until(Duration::from_secs(2), || s1.peak() <= 1 && s2.peak() <= 1));
    drop(a);
}
