//! Protocol detection on one port: SSH, TLS and HTTP clients are told apart from their first
//! bytes (`req.payload`, `req.ssl_hello_type`, `req.proto_http`) under
//! `tcp-request inspect-delay`, and each goes to its own backend. A client that sends
//! nothing goes to the default backend once the inspect delay has passed, not before.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "test helpers abort the test on failure"
)]

use std::io::Write;
use std::time::{Duration, Instant};

use lb_tests::client::{connect, read_exact_vec, read_line};
use lb_tests::tls::{TestCa, TlsVersion, tls_hello};
use lb_tests::{Backend, Lb, free_port, header, server_line};

/// The inspect delay of the detecting frontend.
const DELAY: Duration = Duration::from_millis(1500);

struct Setup {
    _lb: Lb,
    port: u16,
    ca: TestCa,
    ssh: Backend,
    tls: Backend,
    http: Backend,
    other: Backend,
}

fn setup() -> Setup {
    let ca = TestCa::new();
    let ssh = Backend::identity("ssh");
    let tls = ca.backend("tls", &["tls.example"]);
    let http = Backend::identity("http");
    let other = Backend::identity("other");
    let port = free_port();
    let cfg = format!(
        "{}frontend fe\n\
         \x20   bind 127.0.0.1:{port}\n\
         \x20   tcp-request inspect-delay {}ms\n\
         \x20   acl is_ssh req.payload(0,8) -m bin 5353482d322e302d\n\
         \x20   acl is_tls req.ssl_hello_type 1\n\
         \x20   acl is_http req.proto_http\n\
         \x20   tcp-request content accept if is_ssh || is_tls || is_http\n\
         \x20   use_backend bk_ssh if is_ssh\n\
         \x20   use_backend bk_tls if is_tls\n\
         \x20   use_backend bk_http if is_http\n\
         \x20   default_backend bk_other\n\n\
         backend bk_ssh\n{}\n\
         backend bk_tls\n{}\n\
         backend bk_http\n{}\n\
         backend bk_other\n{}",
        header(1),
        DELAY.as_millis(),
        server_line(&ssh, ""),
        server_line(&tls, ""),
        server_line(&http, ""),
        server_line(&other, "")
    );
    let lb = Lb::start(&cfg);
    Setup {
        _lb: lb,
        port,
        ca,
        ssh,
        tls,
        http,
        other,
    }
}

/// Sends `first` and returns the backend that answered, the echo of what was sent, and
/// how long the backend took to answer.
fn send_and_identify(port: u16, chunks: &[&[u8]]) -> (String, Vec<u8>, Duration) {
    let mut c = connect(port).expect("connect");
    let t = Instant::now();
    for (i, chunk) in chunks.iter().enumerate() {
        if i > 0 {
            std::thread::sleep(Duration::from_millis(200));
        }
        c.write_all(chunk).expect("write");
    }
    let name = read_line(&mut c).expect("backend greeting");
    let took = t.elapsed();
    let total: usize = chunks.iter().map(|c| c.len()).sum();
    let echo = read_exact_vec(&mut c, total).expect("echo of what the client sent");
    (name, echo, took)
}

#[test]
fn ssh_tls_and_http_on_one_port_go_to_their_backends() {
    let s = setup();
    let fast = Duration::from_millis(800);

    let banner: &[u8] = b"SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n";
    let (name, echo, took) = send_and_identify(s.port, &[banner]);
    assert_eq!(name, "ssh");
    assert_eq!(echo, banner, "the SSH banner reaches the server intact");
    assert!(took < fast, "SSH was decided in {took:?}: no need to wait");

    let req: &[u8] = b"GET /index.html HTTP/1.1\r\nHost: x.example\r\n\r\n";
    let (name, echo, took) = send_and_identify(s.port, &[req]);
    assert_eq!(name, "http");
    assert_eq!(echo, req);
    assert!(took < fast, "HTTP was decided in {took:?}");

    let cfg = s.ca.client_config(true, TlsVersion::Any);
    let t = Instant::now();
    let (_tls, line) = tls_hello(s.port, &cfg, "tls.example").expect("TLS through lb");
    assert_eq!(line, "tls sni=tls.example");
    assert!(t.elapsed() < fast, "TLS was decided in {:?}", t.elapsed());

    assert_eq!(
        (
            s.ssh.accepted(),
            s.tls.accepted(),
            s.http.accepted(),
            s.other.accepted()
        ),
        (1, 1, 1, 0)
    );
}

#[test]
fn a_banner_split_across_segments_is_still_recognized() {
    let s = setup();
    // "SSH-" alone cannot decide `req.payload(0,8)`: the rules wait for more data.
    let (name, echo, took) = send_and_identify(s.port, &[b"SSH-", b"2.0-PuTTY_Release_0.78\r\n"]);
    assert_eq!(name, "ssh");
    assert_eq!(echo, b"SSH-2.0-PuTTY_Release_0.78\r\n");
    assert!(
        took < Duration::from_millis(1000),
        "decided when the second segment came ({took:?})"
    );
    assert_eq!(s.other.accepted(), 0);
}

#[test]
fn a_silent_client_goes_to_the_default_backend_after_the_inspect_delay() {
    let s = setup();
    let mut c = connect(s.port).expect("connect");
    let t = Instant::now();
    let name = read_line(&mut c).expect("greeting of the default backend");
    let took = t.elapsed();
    assert_eq!(name, "other");
    assert!(
        took >= DELAY - Duration::from_millis(50),
        "the default backend was chosen after {took:?}, before the {DELAY:?} inspect delay"
    );
    assert!(
        took < DELAY + Duration::from_millis(700),
        "the default backend was chosen after {took:?}, long after the {DELAY:?} inspect delay"
    );
    // The connection works normally afterwards.
    c.write_all(b"late data\n").unwrap();
    assert_eq!(read_line(&mut c).unwrap(), "late data");
    assert_eq!(s.ssh.accepted() + s.tls.accepted() + s.http.accepted(), 0);
}

#[test]
fn unknown_data_waits_for_the_delay_then_goes_to_the_default_backend() {
    let s = setup();
    // 6 bytes: not TLS, not HTTP, and too short to rule SSH out before the delay ends.
    let (name, echo, took) = send_and_identify(s.port, &[b"hello\n"]);
    assert_eq!(name, "other");
    assert_eq!(echo, b"hello\n");
    assert!(
        took >= DELAY - Duration::from_millis(50) && took < DELAY + Duration::from_millis(700),
        "chosen after {took:?}, expected about the {DELAY:?} inspect delay"
    );
    // 8 bytes or more that are none of the three: decided at once.
    let (name, _, took) = send_and_identify(s.port, &[b"\x00\x01\x02\x03 binary data\n"]);
    assert_eq!(name, "other");
    assert!(
        took < Duration::from_millis(800),
        "with 8+ bytes every condition is decided: no wait ({took:?})"
    );
}
