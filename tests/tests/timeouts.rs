//! Each timeout, measured from a real client: connect, client, server, tunnel, client-fin,
//! server-fin; and the termination state each one logs.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "test helpers abort the test on failure"
)]

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use lb_tests::client::{End, connect, read_line, wait_end};
use lb_tests::{Backend, Blackhole, Lb, fe_be, free_port};

/// `global` + `defaults` with the given timeout lines (tcplog on stdout, one worker).
fn config(timeouts: &str, fe_port: u16, backend_body: &str) -> String {
    format!(
        "global\n    nbthread 1\n    log stdout format raw local0\n\n\
         defaults\n    mode tcp\n    log global\n    option tcplog\n{timeouts}\n{}",
        fe_be(fe_port, backend_body)
    )
}

/// Waits for the connection to be closed by lb; asserts it happened within `[min, max]`.
fn assert_closed_between(s: &mut TcpStream, min: Duration, max: Duration) -> Duration {
    let (end, took, _) = wait_end(s, max + Duration::from_secs(5));
    assert_ne!(end, End::StillOpen, "lb never closed the connection");
    assert!(
        took >= min,
        "closed after {took:?}, expected at least {min:?}"
    );
    assert!(
        took <= max,
        "closed after {took:?}, expected at most {max:?}"
    );
    took
}

/// The tcplog line of the connection from client port `c_port`.
fn log_line(lb: &Lb, c_port: u16) -> String {
    lb.expect_line(
        &format!(r"^127\.0\.0\.1:{c_port} \["),
        Duration::from_secs(5),
    )
}

#[test]
fn timeout_connect_with_retries_logs_sc() {
    let hole = Blackhole::new();
    let port = free_port();
    let timeouts = "    timeout connect 400ms\n    timeout client 30s\n    timeout server 30s\n";
    let body = format!("    retries 1\n    server s1 127.0.0.1:{}\n", hole.port());
    let lb = Lb::start(&config(timeouts, port, &body));
    let mut c = connect(port).expect("connect");
    let c_port = c.local_addr().expect("addr").port();
    // Two attempts of 400 ms each.
    assert_closed_between(&mut c, Duration::from_millis(700), Duration::from_secs(5));
    let line = log_line(&lb, c_port);
    let re = regex::Regex::new(r"\] fe be/s1 \d+/-1/\d+ 0 sC \d+/\d+/\d+/\d+/1 ").expect("re");
    assert!(
        re.is_match(&line),
        "not a connect-timeout line with 1 retry: {line}"
    );
}

#[test]
fn timeout_client_closes_an_idle_client_with_cd() {
    let s1 = Backend::identity("s1");
    let port = free_port();
    let timeouts = "    timeout connect 2s\n    timeout client 500ms\n    timeout server 30s\n";
    let lb = Lb::start(&config(
        timeouts,
        port,
        &format!("    server s1 {}\n", s1.addr()),
    ));
    let mut c = connect(port).expect("connect");
    let c_port = c.local_addr().expect("addr").port();
    assert_eq!(read_line(&mut c).expect("name"), "s1");
    assert_closed_between(&mut c, Duration::from_millis(350), Duration::from_secs(4));
    let line = log_line(&lb, c_port);
    assert!(
        line.contains(" be/s1 ") && line.contains(" cD "),
        "not a client-timeout line: {line}"
    );
}

#[test]
fn timeout_server_closes_a_silent_server_with_sd() {
    let s1 = Backend::hold("s1");
    let port = free_port();
    let timeouts = "    timeout connect 2s\n    timeout client 30s\n    timeout server 500ms\n";
    let lb = Lb::start(&config(
        timeouts,
        port,
        &format!("    server s1 {}\n", s1.addr()),
    ));
    let mut c = connect(port).expect("connect");
    let c_port = c.local_addr().expect("addr").port();
    c.write_all(b"request\n").expect("write");
    assert_closed_between(&mut c, Duration::from_millis(350), Duration::from_secs(4));
    let line = log_line(&lb, c_port);
    assert!(line.contains(" sD "), "not a server-timeout line: {line}");
}

#[test]
fn timeout_tunnel_supersedes_client_and_server_timeouts() {
    let s1 = Backend::identity("s1");
    let port = free_port();
    let timeouts = "    timeout connect 2s\n    timeout client 300ms\n    timeout server 300ms\n    timeout tunnel 2s\n";
    let _lb = Lb::start(&config(
        timeouts,
        port,
        &format!("    server s1 {}\n", s1.addr()),
    ));
    let mut c = connect(port).expect("connect");
    assert_eq!(read_line(&mut c).expect("name"), "s1");
    // Idle for three client/server timeouts: the tunnel timeout keeps the connection open.
    std::thread::sleep(Duration::from_millis(900));
    c.write_all(b"still here\n").expect("write after idle");
    assert_eq!(read_line(&mut c).expect("echo after idle"), "still here");
    assert_closed_between(&mut c, Duration::from_millis(1500), Duration::from_secs(6));
}

#[test]
fn timeout_client_fin_closes_a_half_closed_client() {
    // The server reads to EOF and then keeps its side open and silent.
    let s1 = Backend::custom("s1", |mut s, name| {
        let _ = s.write_all(format!("{name}\n").as_bytes());
        let mut buf = [0u8; 1024];
        while matches!(s.read(&mut buf), Ok(n) if n > 0) {}
        std::thread::sleep(Duration::from_secs(20));
    });
    let port = free_port();
    let timeouts = "    timeout connect 2s\n    timeout client 30s\n    timeout server 30s\n    timeout client-fin 500ms\n";
    let lb = Lb::start(&config(
        timeouts,
        port,
        &format!("    server s1 {}\n", s1.addr()),
    ));
    let mut c = connect(port).expect("connect");
    let c_port = c.local_addr().expect("addr").port();
    assert_eq!(read_line(&mut c).expect("name"), "s1");
    c.shutdown(Shutdown::Write).expect("half-close");
    assert_closed_between(&mut c, Duration::from_millis(350), Duration::from_secs(5));
    let line = log_line(&lb, c_port);
    assert!(
        line.contains(" cD "),
        "not a client-side timeout line: {line}"
    );
}

#[test]
fn timeout_server_fin_closes_a_half_closed_server() {
    // The server sends its name, half-closes, then waits for lb to close the connection.
    let (tx, rx) = mpsc::channel::<Duration>();
    let tx = std::sync::Mutex::new(tx);
    let s1 = Backend::custom("s1", move |mut s, name| {
        let _ = s.write_all(format!("{name}\n").as_bytes());
        let _ = s.shutdown(Shutdown::Write);
        let fin = Instant::now();
        let _ = s.set_read_timeout(Some(Duration::from_secs(20)));
        let mut buf = [0u8; 1024];
        while matches!(s.read(&mut buf), Ok(n) if n > 0) {}
        let _ = tx.lock().map(|tx| tx.send(fin.elapsed()));
    });
    let port = free_port();
    let timeouts = "    timeout connect 2s\n    timeout client 30s\n    timeout server 30s\n    timeout server-fin 500ms\n";
    let _lb = Lb::start(&config(
        timeouts,
        port,
        &format!("    server s1 {}\n", s1.addr()),
    ));
    let mut c = connect(port).expect("connect");
    assert_eq!(read_line(&mut c).expect("name"), "s1");
    // The server's FIN reaches the client; the client keeps its side open.
    let (end, _, _) = wait_end(&mut c, Duration::from_secs(5));
    assert_eq!(end, End::Eof, "the server's half-close was not forwarded");
    let closed_after = rx
        .recv_timeout(Duration::from_secs(15))
        .expect("server side never closed");
    assert!(
        closed_after >= Duration::from_millis(350),
        "closed after only {closed_after:?}"
    );
    assert!(
        closed_after <= Duration::from_secs(5),
        "closed after {closed_after:?}"
    );
    drop(c);
}

#[test]
fn without_fin_timeouts_a_half_closed_connection_stays_open() {
    // Control for the two tests above: the same half-close with only long timeouts set.
    let s1 = Backend::custom("s1", |mut s, name| {
        let _ = s.write_all(format!("{name}\n").as_bytes());
        let mut buf = [0u8; 1024];
        while matches!(s.read(&mut buf), Ok(n) if n > 0) {}
        std::thread::sleep(Duration::from_secs(20));
    });
    let port = free_port();
    let timeouts = "    timeout connect 2s\n    timeout client 30s\n    timeout server 30s\n";
    let _lb = Lb::start(&config(
        timeouts,
        port,
        &format!("    server s1 {}\n", s1.addr()),
    ));
    let mut c = connect(port).expect("connect");
    assert_eq!(read_line(&mut c).expect("name"), "s1");
    c.shutdown(Shutdown::Write).expect("half-close");
    let (end, _, _) = wait_end(&mut c, Duration::from_secs(2));
    assert_eq!(
        end,
        End::StillOpen,
        "a half-closed connection was closed early"
    );
}
