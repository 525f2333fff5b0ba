//! Layer-4 rule actions end to end: `tcp-request connection reject` (closed, never logged),
//! `tcp-request content reject` on the payload (closed before any server, logged as a proxy
//! refusal), `silent-drop` (the client sees nothing at all, the balancer forgets the
//! connection) and `tcp-response content` rules on the server's first bytes.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "test helpers abort the test on failure"
)]

use std::io::Write;
use std::net::{Ipv4Addr, TcpStream};
use std::time::Duration;

use lb_tests::client::{End, connect, connect_from, read_line, stays_silent, wait_end};
use lb_tests::{Backend, Lb, free_port, header, server_line, wait_until};

const OTHER: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);

fn frontend(port: u16, rules: &str, backend_body: &str) -> String {
    format!(
        "{}frontend fe\n\
         \x20   bind 127.0.0.1:{port}\n\
         {rules}\
         \x20   default_backend be\n\n\
         backend be\n{backend_body}",
        header(1)
    )
}

/// Waits for the connection to end; asserts it ended (FIN or RST) with no data.
fn assert_closed_without_data(c: &mut TcpStream, what: &str) {
    let (end, after, n) = wait_end(c, Duration::from_secs(3));
    assert!(
        end != End::StillOpen && n == 0,
        "{what}: expected a close without data, got {end:?} after {after:?} with {n} bytes"
    );
}

/// Whether this host has a TCP socket 127.0.0.1:`local` <-> 127.0.0.1:`remote` (any state
/// but TIME_WAIT), from /proc/net/tcp: the balancer's side of a client connection.
fn socket_exists(local: u16, remote: u16) -> bool {
    let text = std::fs::read_to_string("/proc/net/tcp").unwrap_or_default();
    let want_l = format!("0100007F:{local:04X}");
    let want_r = format!("0100007F:{remote:04X}");
    text.lines().skip(1).any(|l| {
        let cols: Vec<&str> = l.split_whitespace().collect();
        cols.get(1) == Some(&want_l.as_str())
            && cols.get(2) == Some(&want_r.as_str())
            && cols.get(3) != Some(&"06")
    })
}

#[test]
fn connection_reject_closes_without_a_log_line() {
    let s1 = Backend::identity("s1");
    let port = free_port();
    let lb = Lb::start(&frontend(
        port,
        "    tcp-request connection reject if { src 127.0.0.2 }\n",
        &server_line(&s1, ""),
    ));
    // Rejected: closed at once, nothing reaches the server.
    let mut c = match connect_from(OTHER, port) {
        Ok(c) => c,
        Err(e) => panic!("connect from 127.0.0.2: {e}"),
    };
    let rejected_port = c.local_addr().unwrap().port();
    assert_closed_without_data(&mut c, "tcp-request connection reject");
    assert_eq!(s1.accepted(), 0);
    // Accepted, and logged.
    let mut ok = connect(port).unwrap();
    let ok_port = ok.local_addr().unwrap().port();
    assert_eq!(read_line(&mut ok).unwrap(), "s1");
    drop(ok);
    lb.expect_line(
        &format!(r"^127\.0\.0\.1:{ok_port} \[.*\] fe be/s1 "),
        Duration::from_secs(5),
    );
    std::thread::sleep(Duration::from_millis(300));
    let rejected = lb
        .output()
        .lines_matching(&regex::Regex::new(&format!(r"127\.0\.0\.2:{rejected_port}\b")).unwrap());
    assert!(
        rejected.is_empty(),
        "a tcp-request connection reject must not be logged: {rejected:?}"
    );
}

#[test]
fn content_reject_on_the_payload_closes_before_any_server_and_is_logged() {
    let s1 = Backend::identity("s1");
    let port = free_port();
    let lb = Lb::start(&frontend(
        port,
        "    tcp-request inspect-delay 3s\n\
         \x20   tcp-request content reject if { req.payload(0,3) -m str BAD }\n\
         \x20   tcp-request content accept if { req.len gt 0 }\n",
        &server_line(&s1, ""),
    ));
    let mut c = connect(port).unwrap();
    let bad_port = c.local_addr().unwrap().port();
    c.write_all(b"BAD request\n").unwrap();
    assert_closed_without_data(&mut c, "tcp-request content reject");
    assert_eq!(s1.accepted(), 0, "a rejected stream never reaches a server");
    // Logged, without a server, with the proxy-refusal termination state (PR).
    let line = lb.expect_line(
        &format!(r"^127\.0\.0\.1:{bad_port} \[.*\] fe "),
        Duration::from_secs(5),
    );
    assert!(
        line.contains(" PR-- ") || line.contains(" PR "),
        "termination state PR (proxy refused, request phase): {line}"
    );
    assert!(!line.contains("be/s1"), "no server was involved: {line}");

    // Anything else goes through, data intact.
    let mut c = connect(port).unwrap();
    c.write_all(b"GOOD request\n").unwrap();
    assert_eq!(read_line(&mut c).unwrap(), "s1");
    assert_eq!(read_line(&mut c).unwrap(), "GOOD request");
    assert_eq!(s1.accepted(), 1);
}

#[test]
fn silent_drop_sends_nothing_to_the_client_and_forgets_the_connection() {
    let s1 = Backend::identity("s1");
    let port = free_port();
    let _lb = Lb::start(&frontend(
        port,
        "    tcp-request inspect-delay 3s\n\
         \x20   tcp-request content silent-drop if { req.payload(0,4) -m str DROP }\n\
         \x20   tcp-request content accept if { req.len gt 0 }\n",
        &server_line(&s1, ""),
    ));
    let mut c = connect(port).unwrap();
    let me = c.local_addr().unwrap().port();
    assert!(socket_exists(port, me), "the balancer holds the connection");
    c.write_all(b"DROP me\n").unwrap();
    // The balancer's side disappears...
    assert!(
        wait_until(Duration::from_secs(3), || !socket_exists(port, me)),
        "silent-drop: the balancer still has its socket for the client"
    );
    // ...without a FIN or a RST reaching the client.
    assert!(
        stays_silent(&mut c, Duration::from_millis(1500)),
        "silent-drop: the client saw data, a FIN or a RST"
    );
    assert_eq!(s1.accepted(), 0);
    // Other clients are served.
    let mut ok = connect(port).unwrap();
    ok.write_all(b"hello\n").unwrap();
    assert_eq!(read_line(&mut ok).unwrap(), "s1");
}

/// A server that first writes `first_line`, then echoes.
fn greeter(name: &str, first_line: &'static str) -> Backend {
    Backend::custom(name, move |mut s: TcpStream, _name: &str| {
        use std::io::Read;
        if s.write_all(first_line.as_bytes()).is_err() {
            return;
        }
        let mut buf = [0u8; 4096];
        while let Ok(n) = s.read(&mut buf) {
            if n == 0 || s.write_all(&buf[..n]).is_err() {
                break;
            }
        }
    })
}

#[test]
fn tcp_response_content_reject_on_the_server_payload() {
    let evil = greeter("evil", "EVIL greeting\n");
    let good = greeter("good", "good greeting\n");
    let (p1, p2) = (free_port(), free_port());
    let rules = "    tcp-response inspect-delay 2s\n\
                 \x20   tcp-response content reject if { res.payload(0,4) -m str EVIL }\n\
                 \x20   tcp-response content accept if { res.len gt 0 }\n";
    let cfg = format!(
        "{}frontend fe_evil\n    bind 127.0.0.1:{p1}\n    default_backend be_evil\n\n\
         frontend fe_good\n    bind 127.0.0.1:{p2}\n    default_backend be_good\n\n\
         backend be_evil\n{rules}{}\n\
         backend be_good\n{rules}{}",
        header(1),
        server_line(&evil, ""),
        server_line(&good, "")
    );
    let _lb = Lb::start(&cfg);
    let mut c = connect(p1).unwrap();
    assert_closed_without_data(&mut c, "tcp-response content reject");
    assert_eq!(evil.accepted(), 1, "the server was contacted");
    let mut c = connect(p2).unwrap();
    assert_eq!(read_line(&mut c).unwrap(), "good greeting");
    c.write_all(b"echo\n").unwrap();
    assert_eq!(read_line(&mut c).unwrap(), "echo");
}

#[test]
fn tcp_response_content_rules_with_a_layer4_condition() {
    let s1 = greeter("s1", "hello from s1\n");
    let port = free_port();
    let lb = Lb::start(&frontend(
        port,
        "",
        &(server_line(&s1, "")
            + "    tcp-response inspect-delay 1s\n\
               \x20   tcp-response content reject if { src 127.0.0.2 }\n"),
    ));
    let mut c = connect_from(OTHER, port).unwrap();
    let other_port = c.local_addr().unwrap().port();
    assert_closed_without_data(&mut c, "tcp-response content reject");
    let mut ok = connect(port).unwrap();
    assert_eq!(read_line(&mut ok).unwrap(), "hello from s1");
    assert_eq!(s1.accepted(), 2);
    // The refused response is logged with the server it came from.
    let line = lb.expect_line(
        &format!(r"^127\.0\.0\.2:{other_port} \[.*\] fe be/s1 "),
        Duration::from_secs(5),
    );
    assert!(
        line.contains(" PD-- ") || line.contains(" PD "),
        "termination state PD (proxy refused, data phase): {line}"
    );
}

#[test]
fn data_that_arrived_during_the_inspect_delay_is_forwarded_when_it_expires() {
    let s1 = Backend::identity("s1");
    let port = free_port();
    let _lb = Lb::start(&frontend(
        port,
        "    tcp-request inspect-delay 500ms\n\
         \x20   tcp-request content accept if { req.len ge 100 }\n",
        &server_line(&s1, ""),
    ));
    let mut c = connect(port).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    // 6 bytes: the condition waits for 100, the delay expires, the rule set accepts.
    c.write_all(b"short\n").unwrap();
    assert_eq!(read_line(&mut c).expect("greeting after the delay"), "s1");
    assert_eq!(
        read_line(&mut c).expect(
            "the 6 bytes sent during the inspect delay must reach the server once it \
             expires, without the client sending anything more"
        ),
        "short"
    );
}
