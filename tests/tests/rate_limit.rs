//! Connection rate limiting with a stick table shared by all workers:
//! `tcp-request connection track-sc0 src` then `reject if { sc0_conn_rate gt 5 }` (or
//! `src_conn_rate`, or a table declared in another proxy). With two workers the connections
//! of one client are spread over both by the kernel (SO_REUSEPORT), and the limit holds
//! for the sum: a per-worker table would let about twice as many through.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "test helpers abort the test on failure"
)]

use std::net::Ipv4Addr;
use std::time::Duration;

use lb_tests::client::{End, connect_from, read_line, wait_end};
use lb_tests::{Backend, Lb, free_port, header, server_line};

const LOCAL: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 1);
const OTHER: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);

/// One connection from `src`: `true` if the backend greeted it, `false` if the balancer
/// closed it without data.
fn attempt(src: Ipv4Addr, port: u16) -> bool {
    let mut c = match connect_from(src, port) {
        Ok(c) => c,
        // Reset right after the handshake, before the socket options were set: rejected.
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return false,
        Err(e) => panic!("TCP connect from {src}: {e}"),
    };
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    match read_line(&mut c) {
        Ok(name) => {
            assert_eq!(name, "s1");
            true
        }
        Err(_) => {
            // Rejected: closed, nothing was sent.
            let (end, _, n) = wait_end(&mut c, Duration::from_secs(2));
            assert!(
                end != End::StillOpen && n == 0,
                "a rejected connection must be closed without data ({end:?}, {n} bytes)"
            );
            false
        }
    }
}

fn run(n: usize, src: Ipv4Addr, port: u16) -> Vec<bool> {
    (0..n).map(|_| attempt(src, port)).collect()
}

fn expected(ok: usize, n: usize) -> Vec<bool> {
    (0..n).map(|i| i < ok).collect()
}

fn frontend(port: u16, rules: &str, s1: &Backend) -> String {
    format!(
        "{}frontend fe\n\
         \x20   bind 127.0.0.1:{port}\n\
         {rules}\
         \x20   default_backend be\n\n\
         backend be\n{}",
        header(2),
        server_line(s1, "")
    )
}

/// The first 5 connections pass (the 6th sees a rate of 6 > 5), the others are closed
/// before any server is contacted, and another source address is not affected.
fn check_limit(port: u16, s1: &Backend) {
    let seq = run(20, LOCAL, port);
    assert_eq!(
        seq,
        expected(5, 20),
        "connections from 127.0.0.1 that reached the server (true) or were rejected"
    );
    assert_eq!(
        s1.accepted(),
        5,
        "rejected connections must not reach the server"
    );
    let seq = run(4, OTHER, port);
    assert_eq!(seq, expected(4, 4), "127.0.0.2 has its own entry");
    assert_eq!(s1.accepted(), 9);
    // 127.0.0.1 is still over the limit (the rejected attempts counted too).
    assert!(!attempt(LOCAL, port));
}

#[test]
fn sc0_conn_rate_limit_holds_across_two_workers() {
    let s1 = Backend::identity("s1");
    let port = free_port();
    let _lb = Lb::start(&frontend(
        port,
        "    stick-table type ip size 100k expire 30s store conn_rate(10s)\n\
         \x20   tcp-request connection track-sc0 src\n\
         \x20   tcp-request connection reject if { sc0_conn_rate gt 5 }\n",
        &s1,
    ));
    check_limit(port, &s1);
}

#[test]
fn src_conn_rate_limit_holds_across_two_workers() {
    let s1 = Backend::identity("s1");
    let port = free_port();
    let _lb = Lb::start(&frontend(
        port,
        "    stick-table type ip size 100k expire 30s store conn_rate(10s)\n\
         \x20   tcp-request connection track-sc0 src\n\
         \x20   tcp-request connection reject if { src_conn_rate gt 5 }\n",
        &s1,
    ));
    check_limit(port, &s1);
}

#[test]
fn a_table_declared_in_another_proxy_limits_too() {
    let s1 = Backend::identity("s1");
    let port = free_port();
    let cfg = frontend(
        port,
        "    tcp-request connection track-sc1 src table st_src\n\
         \x20   tcp-request connection reject if { sc1_conn_rate(st_src) gt 5 }\n",
        &s1,
    ) + "\nbackend st_src\n    stick-table type ip size 1k expire 30s store conn_rate(10s),conn_cnt\n";
    let _lb = Lb::start(&cfg);
    check_limit(port, &s1);
}

#[test]
fn the_rate_decays_after_its_period() {
    let s1 = Backend::identity("s1");
    let port = free_port();
    let _lb = Lb::start(&frontend(
        port,
        "    stick-table type ip size 100k expire 30s store conn_rate(1s)\n\
         \x20   tcp-request connection track-sc0 src\n\
         \x20   tcp-request connection reject if { sc0_conn_rate gt 5 }\n",
        &s1,
    ));
    let seq = run(8, LOCAL, port);
    assert_eq!(seq, expected(5, 8));
    // Two full periods without a connection: the sliding window is empty again.
    std::thread::sleep(Duration::from_millis(2300));
    let seq = run(5, LOCAL, port);
    assert_eq!(
        seq,
        expected(5, 5),
        "after 2 s the 1 s rate is back to 0: 5 more may pass"
    );
    assert_eq!(s1.accepted(), 10);
}

#[test]
fn rejected_connections_are_not_logged() {
    let s1 = Backend::identity("s1");
    let port = free_port();
    let lb = Lb::start(&frontend(
        port,
        "    stick-table type ip size 100k expire 30s store conn_rate(10s)\n\
         \x20   tcp-request connection track-sc0 src\n\
         \x20   tcp-request connection reject if { sc0_conn_rate gt 2 }\n",
        &s1,
    ));
    let seq = run(6, LOCAL, port);
    assert_eq!(seq, expected(2, 6));
    // Each accepted connection logs one tcplog line (fe be/s1) once closed.
    lb.expect_lines(
        r"^127\.0\.0\.1:\d+ \[.*\] fe be/s1 ",
        2,
        Duration::from_secs(5),
    );
    std::thread::sleep(Duration::from_millis(500));
    let lines = lb
        .output()
        .lines_matching(&regex::Regex::new(r"^127\.0\.0\.1:\d+ \[").unwrap());
    assert_eq!(
        lines.len(),
        2,
        "tcp-request connection reject logs nothing: {lines:#?}"
    );
}

/// One connection from `src` that sends `data` first: `Some(greeting)` if a server
/// answered (its echo checked), `None` if the balancer closed the connection.
fn attempt_with(src: Ipv4Addr, port: u16, data: &[u8]) -> Option<String> {
    use std::io::Write;
    let mut c = match connect_from(src, port) {
        Ok(c) => c,
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return None,
        Err(e) => panic!("TCP connect from {src}: {e}"),
    };
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    // A reset may come before or during the write.
    let _ = c.write_all(data);
    let name = read_line(&mut c).ok()?;
    let echo = read_line(&mut c).expect("echo of the data");
    assert_eq!(echo.as_bytes(), data.strip_suffix(b"\n").unwrap_or(data));
    Some(name)
}

#[test]
fn an_abuse_flag_in_gpc0_blocks_the_source_on_every_worker() {
    let s1 = Backend::identity("s1");
    let port = free_port();
    let _lb = Lb::start(&frontend(
        port,
        "    stick-table type ip size 1k expire 30s store gpc0,conn_rate(10s)\n\
         \x20   tcp-request inspect-delay 2s\n\
         \x20   tcp-request connection track-sc0 src\n\
         \x20   tcp-request connection reject if { sc0_get_gpc0 gt 0 }\n\
         \x20   tcp-request content sc-inc-gpc0(0) if { req.payload(0,5) -m str ABUSE }\n\
         \x20   tcp-request content reject if { req.payload(0,5) -m str ABUSE }\n\
         \x20   tcp-request content accept if { req.len gt 0 }\n",
        &s1,
    ));
    assert_eq!(attempt_with(LOCAL, port, b"hello\n").as_deref(), Some("s1"));
    assert_eq!(attempt_with(LOCAL, port, b"ABUSE now\n"), None);
    assert_eq!(
        s1.accepted(),
        1,
        "the abusive request never reached a server"
    );
    // Flagged: every later connection from 127.0.0.1 is refused at once, on both workers.
    for i in 0..10 {
        assert_eq!(
            attempt_with(LOCAL, port, b"hello again\n"),
            None,
            "connection {i} after the abuse flag was set"
        );
    }
    assert_eq!(
        attempt_with(OTHER, port, b"hello\n").as_deref(),
        Some("s1"),
        "127.0.0.2 is not flagged"
    );
    assert_eq!(s1.accepted(), 2);
}

/// The stored `conn_rate(10000)` of `key` in `show table TABLE`.
fn shown_conn_rate(sock: &std::path::Path, table: &str, key: &str) -> Option<u64> {
    let out = lb_tests::runtime::runtime_cmd(sock, &format!("show table {table}"));
    let re = regex::Regex::new(&format!(
        r"key={} .*conn_rate\(10000\)=(\d+)",
        regex::escape(key)
    ))
    .unwrap();
    out.lines()
        .find_map(|l| re.captures(l))
        .map(|c| c[1].parse().unwrap())
}

#[test]
fn show_table_reports_the_rates_counted_by_both_workers() {
    let s1 = Backend::identity("s1");
    let dir = lb_tests::TempDir::new();
    let sock = dir.path().join("admin.sock");
    let port = free_port();
    let cfg = frontend(
        port,
        "    stick-table type ip size 100k expire 30s store conn_rate(10s),conn_cnt\n\
         \x20   tcp-request connection track-sc0 src\n\
         \x20   tcp-request connection reject if { sc0_conn_rate gt 5 }\n",
        &s1,
    )
    .replacen(
        "global\n",
        &format!("global\n{}", lb_tests::runtime::stats_socket_line(&sock)),
        1,
    );
    let _lb = Lb::start(&cfg);
    assert_eq!(run(7, LOCAL, port), expected(5, 7));
    assert_eq!(run(2, OTHER, port), expected(2, 2));
    assert_eq!(shown_conn_rate(&sock, "fe", "127.0.0.1"), Some(7));
    assert_eq!(shown_conn_rate(&sock, "fe", "127.0.0.2"), Some(2));
}

#[test]
fn entries_expire_after_their_expire_time() {
    let s1 = Backend::identity("s1");
    let dir = lb_tests::TempDir::new();
    let sock = dir.path().join("admin.sock");
    let port = free_port();
    let cfg = frontend(
        port,
        "    stick-table type ip size 100k expire 1s store conn_rate(10s)\n\
         \x20   tcp-request connection track-sc0 src\n\
         \x20   tcp-request connection reject if { sc0_conn_rate gt 2 }\n",
        &s1,
    )
    .replacen(
        "global\n",
        &format!("global\n{}", lb_tests::runtime::stats_socket_line(&sock)),
        1,
    );
    let _lb = Lb::start(&cfg);
    assert_eq!(run(4, LOCAL, port), expected(2, 4));
    assert_eq!(shown_conn_rate(&sock, "fe", "127.0.0.1"), Some(4));
    // 1 s after the last connection closed the entry is gone, and with it the rate.
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(
        shown_conn_rate(&sock, "fe", "127.0.0.1"),
        None,
        "the entry expired"
    );
    assert_eq!(
        run(3, LOCAL, port),
        expected(2, 3),
        "a fresh entry starts from 0"
    );
}
