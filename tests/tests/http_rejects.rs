//! Every way a request is refused leaves a trace: the traffic log line (`option httplog`)
//! with HAProxy's status and termination flags (checked against HAProxy 2.6 with
//! `cargo xtask reference`), and with lb a `[NOTICE]` line on stderr giving the reason
//! (HAProxy has no such line: those assertions are skipped against the reference).

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "test helpers abort the test on failure"
)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use lb_tests::h2raw::{self, H2Outcome, H2Request};
use lb_tests::http::{HttpBackend, Response, get, request};
use lb_tests::lb::lb_bin;
use lb_tests::{Lb, free_port};

const WAIT: Duration = Duration::from_secs(5);

/// Whether the binary under test is HAProxy (`tests/reference/haproxy-as-lb`).
fn reference() -> bool {
    lb_bin().ends_with("haproxy-as-lb")
}

/// Waits for the reason line matching `re` on lb's stderr (lb only).
fn expect_reason(lb: &Lb, re: &str) -> Option<String> {
    if reference() {
        return None;
    }
    Some(lb.expect_line(&format!(r"^\[NOTICE\] +\(\d+\) : {re}"), WAIT))
}

fn config(port: u16, fe_extra: &str, be_extra: &str, s1: &HttpBackend) -> String {
    format!(
        "global\n    nbthread 1\n    log stdout format raw local0 info\n\n\
         userlist users\n    user admin insecure-password secret\n\n\
         defaults\n    mode http\n    log global\n    option httplog\n    \
         timeout connect 2s\n    timeout client 10s\n    timeout server 10s\n    \
         timeout tarpit 100ms\n\n\
         frontend fe\n    bind 127.0.0.1:{port}\n{fe_extra}    default_backend be\n\n\
         backend be\n{be_extra}    server s1 {addr}\n\n\
         backend rbe\n    http-response deny\n    server s1 {addr}\n",
        addr = s1.addr()
    )
}

/// The log line of the request whose line is `GET path HTTP/1.1`.
fn log_of(lb: &Lb, path: &str) -> String {
    lb.expect_line(
        &format!(r#""GET {} HTTP/1\.1"$"#, regex::escape(path)),
        WAIT,
    )
}

/// `TR/Tw/Tc/Tr/Ta` of an httplog line.
fn timers(line: &str) -> Vec<i64> {
    line.split(' ')
        .nth(4)
        .unwrap()
        .split('/')
        .map(|t| t.parse().unwrap())
        .collect()
}

fn assert_log(line: &str, status: &str, flags: &str) {
    let fields: Vec<&str> = line.split(' ').collect();
    assert!(
        fields.contains(&status) && fields.contains(&flags),
        "expected status {status} and flags {flags}: {line}"
    );
}

#[test]
fn rule_refusals_are_logged_with_flags_and_reason() {
    let s1 = HttpBackend::echo("s1");
    let port = free_port();
    let lb = Lb::start(&config(
        port,
        "    http-request deny if { path /deny }\n\
         \x20   http-request tarpit if { path /tarpit }\n\
         \x20   http-request auth realm r if { path /auth } !{ http_auth(users) }\n\
         \x20   http-request reject if { path /reject }\n\
         \x20   http-request silent-drop if { path /drop }\n\
         \x20   use_backend rbe if { path /rdeny }\n",
        "",
        &s1,
    ));
    assert_eq!(get(port, "/deny", "").unwrap().status, 403);
    assert_log(&log_of(&lb, "/deny"), "403", "PR--");
    let reason = expect_reason(
        &lb,
        r"fe: 127\.0\.0\.1:\d+: request denied by 'http-request deny' at \S+:\d+ \(answered 403\)$",
    );
    if let Some(r) = reason {
        let line: usize = r
            .rsplit(':')
            .next()
            .unwrap()
            .split(' ')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        let cfg = std::fs::read_to_string(lb.config_path()).unwrap();
        let text = cfg.lines().nth(line - 1).unwrap();
        assert!(text.contains("http-request deny"), "{r} points at {text:?}");
    }

    assert_eq!(get(port, "/tarpit", "").unwrap().status, 500);
    let line = log_of(&lb, "/tarpit");
    assert_log(&line, "500", "PT--");
    // The tarpit delay is logged as queue time, and the request time as unknown.
    let t = timers(&line);
    assert!(
        t[0] == -1 && t[1] >= 90 && t[2] == -1 && t[3] == -1,
        "{line}"
    );
    expect_reason(
        &lb,
        r"fe: \S+: request tarpitted by 'http-request tarpit' at \S+ \(answered 500\)$",
    );

    assert_eq!(get(port, "/auth", "").unwrap().status, 401);
    assert_log(&log_of(&lb, "/auth"), "401", "LR--");
    expect_reason(
        &lb,
        r"fe: \S+: request authentication required by 'http-request auth' at \S+ \(answered 401\)$",
    );

    assert!(get(port, "/reject", "").is_err(), "reject closes");
    let line = log_of(&lb, "/reject");
    assert_log(&line, "-1", "PR--");
    assert_eq!(timers(&line)[..4], [-1, -1, -1, -1], "{line}");
    expect_reason(
        &lb,
        r"fe: \S+: request rejected by 'http-request reject' at \S+ \(connection closed\)$",
    );

    let mut c = TcpStream::connect(("127.0.0.1", port)).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    c.write_all(b"GET /drop HTTP/1.1\r\nhost: t\r\n\r\n")
        .unwrap();
    let mut buf = [0u8; 64];
    assert!(
        matches!(c.read(&mut buf), Ok(0) | Err(_)),
        "silent-drop answers nothing"
    );
    assert_log(&log_of(&lb, "/drop"), "-1", "PR--");
    expect_reason(
        &lb,
        r"fe: \S+: request silently dropped by 'http-request silent-drop' at \S+ \(connection closed\)$",
    );

    assert_eq!(get(port, "/rdeny", "").unwrap().status, 502);
    let line = log_of(&lb, "/rdeny");
    assert_log(&line, "502", "PH--");
    assert_eq!(
        timers(&line)[3],
        -1,
        "a refused response has no %Tr: {line}"
    );
    expect_reason(
        &lb,
        r"rbe: \S+: response denied by 'http-response deny' at \S+ \(answered 502\)$",
    );
    assert_eq!(
        s1.requests().len(),
        1,
        "only the request refused on its response reached the server"
    );
}

#[test]
fn malformed_requests_are_logged_with_flags_and_reason() {
    let s1 = HttpBackend::echo("s1");
    let port = free_port();
    let lb = Lb::start(&config(port, "    timeout http-request 300ms\n", "", &s1));
    // Our normalization: two different Content-Length values.
    let r = request(
        port,
        b"POST /cl HTTP/1.1\r\nhost: t\r\ncontent-length: 1\r\ncontent-length: 2\r\n\r\nab",
    )
    .unwrap();
    assert_eq!(r.status, 400);
    let line = lb.expect_line(r#""<BADREQ>"$|"POST /cl HTTP/1\.1"$"#, WAIT);
    assert_log(&line, "400", "PR--");
    expect_reason(
        &lb,
        r"fe: \S+: (request rejected: invalid or conflicting Content-Length|bad request: .*)$",
    );

    // The parser: a request line that is not HTTP.
    let r = request(port, b"garbage\r\n\r\n").unwrap();
    assert_eq!(r.status, 400);
    expect_reason(&lb, r"fe: \S+: bad request: invalid HTTP");

    // Slow head: 408 after `timeout http-request`.
    let mut c = TcpStream::connect(("127.0.0.1", port)).unwrap();
    c.write_all(b"GET /slow HTTP/1.1\r\nhost: t\r\n").unwrap();
    let r = Response::read(&mut std::io::BufReader::new(c), false).unwrap();
    assert_eq!(r.status, 408);
    lb.expect_line(r#" 408 \d+ - - cR-- .*"<BADREQ>"$"#, WAIT);
    expect_reason(&lb, r"fe: \S+: request timeout \(408\)");
    assert!(s1.requests().is_empty());
}

#[test]
fn h2_protocol_errors_have_a_reason() {
    let s1 = HttpBackend::echo("s1");
    let port = free_port();
    // At lb's default level (no `-d`): the notices must not depend on debug output.
    let cfg = config(port, "", "", &s1);
    let lb = if reference() {
        Lb::start(&cfg)
    } else {
        let lb = Lb::spawn(&cfg, &[]);
        lb.wait_listening(&[port]);
        lb
    };
    // An uppercase header name is a malformed HTTP/2 request (RFC 9113 8.2.1).
    let out = h2raw::send(port, &H2Request::get("/up").field(b"X-Upper", b"1")).unwrap();
    assert!(out.refused(), "{out:?}");
    // A connection-specific header.
    let out = h2raw::send(
        port,
        &H2Request::get("/conn").field(b"connection", b"close"),
    )
    .unwrap();
    assert!(out.refused(), "{out:?}");
    assert!(
        matches!(out, H2Outcome::Reset(1) | H2Outcome::Status(400)),
        "{out:?}"
    );
    if !reference() {
        // The HPACK decoder refuses the uppercase name (a connection error), the stream
        // layer the connection-specific header (a stream error).
        lb.expect_line(
            r"h2: connection error PROTOCOL_ERROR -- failed HPACK decoding",
            WAIT,
        );
        lb.expect_line(
            r"h2: stream error PROTOCOL_ERROR -- malformed header block",
            WAIT,
        );
        assert!(
            !lb.output().stderr().contains("[DEBUG]"),
            "the test runs at the default level"
        );
    }
    assert!(s1.requests().is_empty());
}

#[test]
fn requests_without_a_backend_are_logged() {
    let s1 = HttpBackend::echo("s1");
    let port = free_port();
    let lb = Lb::start(&format!(
        "global\n    nbthread 1\n    log stdout format raw local0 info\n\n\
         defaults\n    mode http\n    log global\n    option httplog\n    \
         timeout connect 2s\n    timeout client 10s\n    timeout server 10s\n\n\
         frontend fe\n    bind 127.0.0.1:{port}\n    use_backend be if {{ path /be }}\n\n\
         backend be\n    server s1 {}\n",
        s1.addr()
    ));
    assert_eq!(get(port, "/be", "").unwrap().status, 200);
    assert_eq!(get(port, "/nowhere", "").unwrap().status, 503);
    let line = log_of(&lb, "/nowhere");
    assert_log(&line, "503", "SC--");
    assert!(line.contains(" fe/<NOSRV> "), "{line}");
    assert_eq!(timers(&line)[0], -1, "{line}");
    expect_reason(
        &lb,
        r"fe: \S+: request matched no backend \(no default_backend\), answered 503$",
    );
}
