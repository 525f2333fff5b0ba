//! The PROXY protocol end to end. Receiving (`bind ... accept-proxy`, `tcp-request
//! connection expect-proxy layer4`): v1 and v2 headers built by the test, the backend gets
//! the data only, the announced source shows in the logs and in the rules; malformed
//! headers close the connection and are logged. Sending (`server ... send-proxy`,
//! `send-proxy-v2`): the backend reads a correct header with the real client address, then
//! the data.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "test helpers abort the test on failure"
)]

use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::time::Duration;

use lb_tests::client::{End, connect, connect_from, read_line, wait_end};
use lb_tests::proxy_proto::{read_header, tlv, v1, v2, v2_local};
use lb_tests::{Backend, Lb, fe_be, free_port, header, server_line};

fn sa(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// Sends `head` then `data` (in one write when `split` is false, else in three pieces with
/// pauses inside the header), and returns the connection after checking the backend's
/// greeting and the echo of `data` only.
fn through(port: u16, head: &[u8], data: &str, split: bool) -> TcpStream {
    let mut c = connect(port).expect("connect");
    if split {
        let cut = head.len() / 2;
        c.write_all(&head[..cut]).unwrap();
        std::thread::sleep(Duration::from_millis(150));
        c.write_all(&head[cut..]).unwrap();
        std::thread::sleep(Duration::from_millis(150));
        c.write_all(data.as_bytes()).unwrap();
    } else {
        let mut all = head.to_vec();
        all.extend_from_slice(data.as_bytes());
        c.write_all(&all).unwrap();
    }
    assert_eq!(read_line(&mut c).expect("backend greeting"), "s1");
    assert_eq!(
        read_line(&mut c).expect("echo"),
        data.trim_end(),
        "the backend must receive the data after the header, not the header"
    );
    c
}

fn accept_proxy_lb(s1: &Backend) -> (Lb, u16) {
    let port = free_port();
    let cfg = header(1)
        + &fe_be(port, &server_line(s1, "")).replace(
            &format!("bind 127.0.0.1:{port}\n"),
            &format!("bind 127.0.0.1:{port} accept-proxy\n"),
        );
    (Lb::start(&cfg), port)
}

/// The tcplog line of a connection from `client` (as `%ci:%cp`) through `fe be/s1`.
fn expect_log_from(lb: &Lb, client: &str) -> String {
    lb.expect_line(
        &format!(r"^{} \[.*\] fe be/s1 ", regex::escape(client)),
        Duration::from_secs(5),
    )
}

#[test]
fn accept_proxy_v1_and_v2_give_the_backend_the_data_and_the_log_the_announced_source() {
    let s1 = Backend::identity("s1");
    let (lb, port) = accept_proxy_lb(&s1);
    let dst = sa(&format!("127.0.0.1:{port}"));

    drop(through(
        port,
        &v1(sa("192.0.2.10:40001"), dst),
        "hello v1\n",
        false,
    ));
    expect_log_from(&lb, "192.0.2.10:40001");

    drop(through(
        port,
        &v2(sa("198.51.100.7:40002"), dst, &[]),
        "hello v2\n",
        false,
    ));
    expect_log_from(&lb, "198.51.100.7:40002");

    // IPv6 addresses, and TLVs (authority, unique id) that are skipped.
    let mut tlvs = tlv(0x02, b"app.example");
    tlvs.extend(tlv(0x05, b"request-42"));
    drop(through(
        port,
        &v2(sa("[2001:db8::7]:40003"), sa("[2001:db8::1]:443"), &tlvs),
        "hello v2 ipv6\n",
        false,
    ));
    expect_log_from(&lb, "2001:db8::7:40003");

    // LOCAL (v2) and UNKNOWN (v1): the connection's own addresses are kept.
    let c = through(port, &v2_local(), "local\n", false);
    let local_port = c.local_addr().unwrap().port();
    drop(c);
    expect_log_from(&lb, &format!("127.0.0.1:{local_port}"));
    let c = through(port, b"PROXY UNKNOWN\r\n", "unknown\n", false);
    let unknown_port = c.local_addr().unwrap().port();
    drop(c);
    expect_log_from(&lb, &format!("127.0.0.1:{unknown_port}"));
    assert_eq!(s1.accepted(), 5);
}

/// The PROXY protocol specification recommends that receivers tolerate a header split
/// across segments ("The receiver may be tolerant to partial headers or may simply drop
/// the connection [...]. Recommendation is to be tolerant"). HAProxy 2.6 drops it
/// ("Truncated PROXY protocol header received"); lb waits for the rest.
#[test]
fn a_header_split_across_segments_is_waited_for() {
    let s1 = Backend::identity("s1");
    let (lb, port) = accept_proxy_lb(&s1);
    let dst = sa(&format!("127.0.0.1:{port}"));
    drop(through(
        port,
        &v1(sa("192.0.2.11:40004"), dst),
        "slow v1\n",
        true,
    ));
    expect_log_from(&lb, "192.0.2.11:40004");
    drop(through(
        port,
        &v2(sa("192.0.2.12:40005"), dst, &[]),
        "slow v2\n",
        true,
    ));
    expect_log_from(&lb, "192.0.2.12:40005");
}

/// Sends `bytes` and expects the connection to be closed without any data, quickly.
fn expect_refused(port: u16, bytes: &[u8], close_after: bool) -> u16 {
    let (local, outcome) = try_refused(port, bytes, close_after);
    if let Err(e) = outcome {
        panic!("{e}");
    }
    local
}

/// Like [`expect_refused`], returning the failure instead of panicking.
fn try_refused(port: u16, bytes: &[u8], close_after: bool) -> (u16, Result<(), String>) {
    let mut c = connect(port).expect("connect");
    let local = c.local_addr().unwrap().port();
    // The balancer may reset the connection while the client still writes.
    let _ = c.write_all(bytes);
    if close_after {
        let _ = c.shutdown(std::net::Shutdown::Write);
    }
    let (end, _, n) = wait_end(&mut c, Duration::from_secs(3));
    let outcome = if end != End::StillOpen && n == 0 {
        Ok(())
    } else {
        Err(format!(
            "{:?}: expected the connection closed without data, got {end:?} after {n} bytes",
            String::from_utf8_lossy(bytes)
        ))
    };
    (local, outcome)
}

#[test]
fn malformed_proxy_headers_close_the_connection_and_are_logged() {
    let s1 = Backend::identity("s1");
    let (lb, port) = accept_proxy_lb(&s1);
    let dst = sa(&format!("127.0.0.1:{port}"));
    let mut bad_version = v2(sa("192.0.2.1:1"), dst, &[]);
    bad_version[12] = 0x31;
    let mut bad_family = v2(sa("192.0.2.1:1"), dst, &[]);
    bad_family[13] = 0x71;
    let mut too_short = v2(sa("192.0.2.1:1"), dst, &[]);
    too_short[15] = 4; // TCP4 needs 12 address bytes
    too_short.truncate(16 + 4);
    // Strict parsing as the specification (doc/proxy-protocol.txt) describes it. HAProxy
    // 2.6 is lenient on two of these: it reads `300.1.2.3` and port `70000` modulo 256 and
    // 65536 and accepts the connection; the issue asks for strict parsing.
    let cases: Vec<(&str, Vec<u8>, bool)> = vec![
        ("not a header", b"GET / HTTP/1.0\r\n\r\n".to_vec(), false),
        (
            "bad v1 address",
            b"PROXY TCP4 300.1.2.3 127.0.0.1 1000 2000\r\n".to_vec(),
            false,
        ),
        (
            "v1 family mismatch",
            b"PROXY TCP4 2001:db8::1 127.0.0.1 1000 2000\r\n".to_vec(),
            false,
        ),
        (
            "v1 port out of range",
            b"PROXY TCP4 192.0.2.1 127.0.0.1 70000 2000\r\n".to_vec(),
            false,
        ),
        (
            "v1 without CRLF within 107 bytes",
            [b"PROXY TCP4 ".as_slice(), &[b'1'; 120]].concat(),
            false,
        ),
        ("v2 bad version", bad_version, false),
        ("v2 bad family", bad_family, false),
        ("v2 address block too short", too_short, false),
        (
            "truncated v1, then the client closes",
            b"PROXY TCP4 192.0.2.1 127.".to_vec(),
            true,
        ),
    ];
    let mut failures = Vec::new();
    let mut ports = Vec::new();
    for (what, bytes, close) in &cases {
        let (p, outcome) = try_refused(port, bytes, *close);
        match outcome {
            Ok(()) => ports.push((p, *what)),
            Err(e) => failures.push(format!("{what}: {e}")),
        }
    }
    assert!(
        failures.is_empty(),
        "malformed headers that were not refused:\n{}",
        failures.join("\n")
    );
    assert_eq!(s1.accepted(), 0, "no malformed header may reach the server");
    // Each refusal is logged with the client's real address (HAProxy: `fe/<bind>: <why>`).
    let re = |p: u16| regex::Regex::new(&format!(r"^127\.0\.0\.1:{p} \[.*\] fe")).unwrap();
    lb_tests::wait_until(Duration::from_secs(5), || {
        ports
            .iter()
            .all(|(p, _)| !lb.output().lines_matching(&re(*p)).is_empty())
    });
    for (p, what) in &ports {
        let lines = lb.output().lines_matching(&re(*p));
        assert_eq!(
            lines.len(),
            1,
            "{what}: one log line for the refused connection from port {p}: {lines:?}"
        );
        assert!(
            !lines[0].contains("be/s1"),
            "{what}: the refused connection is logged without a server: {}",
            lines[0]
        );
    }
    // Still serving.
    drop(through(
        port,
        &v1(sa("192.0.2.10:40001"), dst),
        "still up\n",
        false,
    ));
}

#[test]
fn expect_proxy_layer4_only_for_the_matching_sources() {
    let s1 = Backend::identity("s1");
    let port = free_port();
    let cfg = header(1)
        + &fe_be(port, &server_line(&s1, "")).replace(
            "    default_backend be\n",
            "    tcp-request connection expect-proxy layer4 if { src 127.0.0.1 }\n    default_backend be\n",
        );
    let lb = Lb::start(&cfg);
    let dst = sa(&format!("127.0.0.1:{port}"));

    // From 127.0.0.1: the header is required and parsed.
    drop(through(
        port,
        &v1(sa("192.0.2.20:41000"), dst),
        "trusted\n",
        false,
    ));
    expect_log_from(&lb, "192.0.2.20:41000");

    // From 127.0.0.2: no header expected; the first bytes are data.
    let mut c = connect_from(Ipv4Addr::new(127, 0, 0, 2), port).unwrap();
    let local = c.local_addr().unwrap().port();
    assert_eq!(read_line(&mut c).unwrap(), "s1");
    c.write_all(b"plain data\n").unwrap();
    assert_eq!(read_line(&mut c).unwrap(), "plain data");
    drop(c);
    expect_log_from(&lb, &format!("127.0.0.2:{local}"));

    // From 127.0.0.2 a PROXY header is not trusted: it is forwarded as data.
    let mut c = connect_from(Ipv4Addr::new(127, 0, 0, 2), port).unwrap();
    let local = c.local_addr().unwrap().port();
    assert_eq!(read_line(&mut c).unwrap(), "s1");
    c.write_all(&v1(sa("192.0.2.99:42000"), dst)).unwrap();
    assert_eq!(
        read_line(&mut c).unwrap(),
        format!("PROXY TCP4 192.0.2.99 127.0.0.1 42000 {port}\r"),
    );
    drop(c);
    expect_log_from(&lb, &format!("127.0.0.2:{local}"));

    // From 127.0.0.1 without a header: refused.
    expect_refused(port, b"no header here\r\n", false);
    assert_eq!(s1.accepted(), 3);
}

#[test]
fn rules_and_routing_see_the_announced_source() {
    let s1 = Backend::identity("s1");
    let other = Backend::identity("other");
    let port = free_port();
    let cfg = format!(
        "{}frontend fe\n\
         \x20   bind 127.0.0.1:{port} accept-proxy\n\
         \x20   tcp-request session reject if {{ src 192.0.2.66 }}\n\
         \x20   use_backend be_other if {{ src 198.51.100.0/24 }}\n\
         \x20   default_backend be\n\n\
         backend be\n{}\n\
         backend be_other\n{}",
        header(1),
        server_line(&s1, ""),
        server_line(&other, "")
    );
    let _lb = Lb::start(&cfg);
    let dst = sa(&format!("127.0.0.1:{port}"));
    drop(through(
        port,
        &v1(sa("192.0.2.10:40001"), dst),
        "ok\n",
        false,
    ));
    expect_refused(port, &v1(sa("192.0.2.66:40002"), dst), false);
    let mut c = connect(port).unwrap();
    c.write_all(&v2(sa("198.51.100.9:40003"), dst, &[]))
        .unwrap();
    assert_eq!(read_line(&mut c).unwrap(), "other");
    assert_eq!((s1.accepted(), other.accepted()), (1, 1));
}

/// A backend that reads a PROXY header, reports `NAME vV SRC DST` (or `NAME ERR ...`),
/// then echoes the rest.
fn header_reader(name: &str) -> Backend {
    Backend::custom(name, |mut s: TcpStream, name: &str| {
        use std::io::Read;
        let report = match read_header(&mut s) {
            Ok(h) => match h.addrs {
                Some((src, dst)) => format!("{name} v{} {src} {dst}\n", h.version),
                None => format!("{name} v{} local\n", h.version),
            },
            Err(e) => format!("{name} ERR {e}\n"),
        };
        if s.write_all(report.as_bytes()).is_err() {
            return;
        }
        let mut buf = [0u8; 4096];
        loop {
            match s.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if s.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            }
        }
    })
}

#[test]
fn send_proxy_v1_and_v2_announce_the_real_client() {
    for (opt, version) in [("send-proxy", 1), ("send-proxy-v2", 2)] {
        let b = header_reader("pp");
        let port = free_port();
        let _lb = Lb::start(&(header(1) + &fe_be(port, &server_line(&b, opt))));
        let mut c = connect_from(Ipv4Addr::new(127, 0, 0, 7), port).unwrap();
        let me = c.local_addr().unwrap();
        c.write_all(b"payload after the header\n").unwrap();
        assert_eq!(
            read_line(&mut c).unwrap(),
            format!("pp v{version} {me} 127.0.0.1:{port}"),
            "{opt}: header seen by the server"
        );
        assert_eq!(read_line(&mut c).unwrap(), "payload after the header");
    }
}

#[test]
fn accept_proxy_then_send_proxy_v2_relays_the_announced_addresses() {
    let b = header_reader("pp");
    let port = free_port();
    let cfg = header(1)
        + &fe_be(port, &server_line(&b, "send-proxy-v2")).replace(
            &format!("bind 127.0.0.1:{port}\n"),
            &format!("bind 127.0.0.1:{port} accept-proxy\n"),
        );
    let _lb = Lb::start(&cfg);
    let mut c = connect(port).unwrap();
    let mut first = v1(sa("192.0.2.10:40001"), sa("203.0.113.5:443"));
    first.extend_from_slice(b"relayed\n");
    c.write_all(&first).unwrap();
    assert_eq!(
        read_line(&mut c).unwrap(),
        "pp v2 192.0.2.10:40001 203.0.113.5:443"
    );
    assert_eq!(read_line(&mut c).unwrap(), "relayed");
}

#[test]
fn send_proxy_from_an_ipv6_client() {
    for (opt, version) in [("send-proxy", 1), ("send-proxy-v2", 2)] {
        let b = header_reader("pp");
        let port = free_port();
        let cfg = format!(
            "{}frontend fe\n    bind [::1]:{port}\n    default_backend be\n\nbackend be\n{}",
            header(1),
            server_line(&b, opt)
        );
        let _lb = Lb::start(&cfg);
        let mut c =
            TcpStream::connect_timeout(&sa(&format!("[::1]:{port}")), Duration::from_secs(5))
                .expect("connect over IPv6 loopback");
        c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let me = c.local_addr().unwrap();
        c.write_all(b"v6 data\n").unwrap();
        assert_eq!(
            read_line(&mut c).unwrap(),
            format!("pp v{version} {me} [::1]:{port}"),
            "{opt}: a TCP6 header with the IPv6 client and frontend addresses"
        );
        assert_eq!(read_line(&mut c).unwrap(), "v6 data");
    }
}
