//! Tunnels in HTTP mode: a WebSocket-style `Upgrade` (101) and a `CONNECT` (2xx) turn the
//! connection into a byte tunnel in both directions, which `timeout tunnel` closes when
//! idle.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "test helpers abort the test on failure"
)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use lb_tests::{Backend, Lb, free_port};

fn config(port: u16, b: &Backend, tunnel: &str) -> String {
    format!(
        "global\n    nbthread 1\n    log stdout format raw local0 info\n\n\
         defaults\n    mode http\n    log global\n    timeout connect 2s\n    timeout client 30s\n    timeout server 30s\n{tunnel}\n\
         listen px\n    bind 127.0.0.1:{port}\n    server s1 {}\n",
        b.addr()
    )
}

/// Reads a request head; answers `answer`; then echoes bytes upper-cased.
fn switching_backend(answer: &'static str) -> Backend {
    Backend::custom("ws", move |s: TcpStream, _| {
        let mut r = BufReader::new(s);
        let mut head = String::new();
        loop {
            let mut line = String::new();
            if r.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            head.push_str(&line);
            if line == "\r\n" {
                break;
            }
        }
        let mut s = r.into_inner();
        let answer = answer.replace(
            "{seen}",
            &head.lines().next().unwrap_or("").replace(' ', "_"),
        );
        if s.write_all(answer.as_bytes()).is_err() {
            return;
        }
        let mut buf = [0u8; 1024];
        loop {
            match s.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    let up = buf[..n].to_ascii_uppercase();
                    if s.write_all(&up).is_err() {
                        return;
                    }
                }
            }
        }
    })
}

/// Reads a response head from `r`.
fn read_head(r: &mut BufReader<TcpStream>) -> String {
    let mut head = String::new();
    loop {
        let mut line = String::new();
        assert!(
            r.read_line(&mut line).unwrap() > 0,
            "closed in head: {head:?}"
        );
        head.push_str(&line);
        if line == "\r\n" {
            return head;
        }
    }
}

fn echo_round(r: &mut BufReader<TcpStream>, msg: &[u8]) -> Vec<u8> {
    r.get_mut().write_all(msg).unwrap();
    let mut got = vec![0u8; msg.len()];
    r.read_exact(&mut got).unwrap();
    got
}

#[test]
fn websocket_upgrade_becomes_a_tunnel() {
    let b = switching_backend(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nX-Seen: {seen}\r\n\r\n",
    );
    let port = free_port();
    let _lb = Lb::start(&config(port, &b, ""));
    let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut r = BufReader::new(s);
    r.get_mut()
        .write_all(b"GET /chat HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
        .unwrap();
    let head = read_head(&mut r);
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    let lower = head.to_ascii_lowercase();
    assert!(lower.contains("upgrade: websocket"), "{head}");
    assert!(lower.contains("x-seen: get_/chat_http/1.1"), "{head}");
    assert_eq!(echo_round(&mut r, b"hello"), b"HELLO");
    assert_eq!(echo_round(&mut r, b"again"), b"AGAIN");
}

#[test]
fn connect_becomes_a_tunnel() {
    let b = switching_backend("HTTP/1.1 200 Connection established\r\n\r\n");
    let port = free_port();
    let _lb = Lb::start(&config(port, &b, ""));
    let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut r = BufReader::new(s);
    r.get_mut()
        .write_all(b"CONNECT example.test:443 HTTP/1.1\r\nHost: example.test:443\r\n\r\n")
        .unwrap();
    let head = read_head(&mut r);
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert_eq!(echo_round(&mut r, b"tls bytes"), b"TLS BYTES");
}

#[test]
fn idle_tunnels_close_after_timeout_tunnel() {
    let b = switching_backend(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\nConnection: Upgrade\r\n\r\n",
    );
    let port = free_port();
    let _lb = Lb::start(&config(port, &b, "    timeout tunnel 700ms"));
    let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut r = BufReader::new(s);
    r.get_mut()
        .write_all(b"GET / HTTP/1.1\r\nHost: t\r\nUpgrade: x\r\nConnection: Upgrade\r\n\r\n")
        .unwrap();
    assert!(read_head(&mut r).starts_with("HTTP/1.1 101"));
    // Activity keeps it open past the timeout.
    for _ in 0..3 {
        std::thread::sleep(Duration::from_millis(400));
        assert_eq!(echo_round(&mut r, b"k"), b"K");
    }
    let idle = Instant::now();
    let mut buf = [0u8; 1];
    let n = r.read(&mut buf).unwrap_or(0);
    assert_eq!(n, 0, "tunnel should close");
    let waited = idle.elapsed();
    assert!(
        waited >= Duration::from_millis(500) && waited < Duration::from_secs(3),
        "{waited:?}"
    );
}
