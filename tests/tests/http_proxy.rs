//! HTTP mode proxying end to end: keep-alive on both sides, the server connection pool
//! (`http-reuse`), the close modes, `option forwardfor`, `monitor-uri`/`monitor fail`,
//! error pages and `errorfile`, `retries`/`retry-on`/`option redispatch`, the client
//! timeouts (`timeout http-request` against slowloris, `timeout http-keep-alive`), header
//! limits, request rejection before any byte reaches a server, and a TCP frontend handing
//! its stream to an HTTP backend. Real `lb` processes, real backends and raw clients.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "test helpers abort the test on failure"
)]

use std::io::{BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use lb_tests::http::{HttpBackend, Request, Response, get, request};
use lb_tests::{Lb, TempDir, free_port};

/// `global` + `defaults` in HTTP mode with generous timeouts.
fn http_header(extra_defaults: &str) -> String {
    http_header_with("", extra_defaults)
}

/// [`http_header`] with more `global` lines.
fn http_header_with(extra_global: &str, extra_defaults: &str) -> String {
    format!(
        "global\n\
         \x20   nbthread 1\n\
         \x20   log stdout format raw local0 info\n\
         {extra_global}\
         \n\
         defaults\n\
         \x20   mode http\n\
         \x20   log global\n\
         \x20   timeout connect 2s\n\
         \x20   timeout client 30s\n\
         \x20   timeout server 30s\n\
         {extra_defaults}\
         \n"
    )
}

fn listen(port: u16, body: &str) -> String {
    format!("listen px\n    bind 127.0.0.1:{port}\n{body}\n")
}

fn server(b: &HttpBackend, name: &str, extra: &str) -> String {
    format!("    server {name} {} {extra}\n", b.addr())
}

/// Sends `raw` on an open connection and reads one response.
fn exchange(r: &mut BufReader<TcpStream>, raw: &[u8]) -> Response {
    r.get_mut().write_all(raw).unwrap();
    Response::read(r, false).unwrap()
}

fn open(port: u16) -> BufReader<TcpStream> {
    let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    BufReader::new(s)
}

/// Whether the peer closed the connection (EOF) within `within`.
fn closed_within(r: &mut BufReader<TcpStream>, within: Duration) -> bool {
    r.get_mut().set_read_timeout(Some(within)).unwrap();
    let mut buf = [0u8; 1];
    matches!(r.read(&mut buf), Ok(0))
}

const GET: &[u8] = b"GET /a HTTP/1.1\r\nHost: example.test\r\n\r\n";

#[test]
fn keep_alive_requests_reach_the_server_with_cleaned_headers() {
    let b = HttpBackend::echo("s1");
    let port = free_port();
    let cfg = http_header("") + &listen(port, &(server(&b, "s1", "") + "    option forwardfor"));
    let _lb = Lb::start(&cfg);
    let mut c = open(port);
    let r1 = exchange(
        &mut c,
        b"GET /first?x=1 HTTP/1.1\r\nHost: example.test\r\nConnection: keep-alive, X-Secret\r\nX-Secret: hop\r\nKeep-Alive: timeout=5\r\nX-Keep: yes\r\n\r\n",
    );
    assert_eq!(r1.status, 200);
    assert_eq!(r1.get("x-server"), Some("s1"));
    let r2 = exchange(
        &mut c,
        b"POST /second HTTP/1.1\r\nHost: example.test\r\nContent-Length: 5\r\n\r\nhello",
    );
    assert_eq!(r2.status, 200);
    let reqs = b.requests();
    assert_eq!(reqs.len(), 2, "{reqs:?}");
    let first = &reqs[0];
    assert_eq!(
        (first.method.as_str(), first.target.as_str()),
        ("GET", "/first?x=1")
    );
    assert_eq!(first.header("host"), Some("example.test"));
    assert_eq!(first.header("x-keep"), Some("yes"));
    assert_eq!(first.header("x-forwarded-for"), Some("127.0.0.1"));
    // As HAProxy, only the persistence tokens of `Connection` stay on the client hop.
    assert_eq!(first.header("connection"), Some("X-Secret"));
    assert_eq!(first.header("keep-alive"), Some("timeout=5"));
    assert_eq!(first.header("x-secret"), Some("hop"));
    assert_eq!(reqs[1].body, b"hello");
    // Both requests went over one server connection (keep-alive on the server side).
    assert_eq!(reqs[0].conn, reqs[1].conn);
    assert_eq!(b.connections(), 1);
}

#[test]
fn http_reuse_safe_gives_a_first_request_its_own_connection_and_always_shares() {
    for (mode, want_conns) in [("safe", 2), ("always", 1), ("never", 2)] {
        let b = HttpBackend::echo("s1");
        let port = free_port();
        let body = server(&b, "s1", "") + &format!("    http-reuse {mode}");
        let _lb = Lb::start(&(http_header("") + &listen(port, &body)));
        let mut a = open(port);
        assert_eq!(exchange(&mut a, GET).status, 200);
        assert_eq!(exchange(&mut a, GET).status, 200);
        // A second client: with `safe` (and `never`) its first request may not take the
        // idle connection the first client used; with `always` it does.
        let mut c = open(port);
        assert_eq!(exchange(&mut c, GET).status, 200);
        assert_eq!(b.connections(), want_conns, "http-reuse {mode}");
        assert_eq!(b.requests().len(), 3);
    }
}

#[test]
fn httpclose_closes_both_sides_and_server_close_only_the_server_side() {
    let b = HttpBackend::echo("s1");
    let port = free_port();
    let body = server(&b, "s1", "") + "    option httpclose";
    let lb = Lb::start(&(http_header("") + &listen(port, &body)));
    let mut c = open(port);
    let r = exchange(&mut c, GET);
    assert_eq!(r.status, 200);
    assert_eq!(r.get("connection"), Some("close"));
    assert!(
        closed_within(&mut c, Duration::from_secs(3)),
        "client side stays open"
    );
    assert_eq!(b.requests()[0].header("connection"), Some("close"));
    drop(lb);

    let b = HttpBackend::echo("s1");
    let port = free_port();
    let body = server(&b, "s1", "") + "    option http-server-close";
    let _lb = Lb::start(&(http_header("") + &listen(port, &body)));
    let mut c = open(port);
    for _ in 0..3 {
        let r = exchange(&mut c, GET);
        assert_eq!(r.status, 200);
        assert_ne!(r.get("connection"), Some("close"));
    }
    let reqs = b.requests();
    assert_eq!(reqs.len(), 3);
    assert!(reqs.iter().all(|r| r.header("connection") == Some("close")));
    assert_eq!(b.connections(), 3, "one server connection per request");
}

#[test]
fn forwardfor_options() {
    let b = HttpBackend::echo("s1");
    let port = free_port();
    let port2 = free_port();
    let port3 = free_port();
    let cfg = http_header("")
        + &format!(
            "frontend a\n    bind 127.0.0.1:{port}\n    option forwardfor header X-Client if-none\n    default_backend be\n\
             frontend b\n    bind 127.0.0.1:{port2}\n    option forwardfor except 127.0.0.0/8\n    default_backend be\n\
             frontend c\n    bind 127.0.0.1:{port3}\n    option forwardfor\n    default_backend be\n\
             backend be\n{}",
            server(&b, "s1", "")
        );
    let _lb = Lb::start(&cfg);
    get(port, "/1", "").unwrap();
    get(port, "/2", "x-client: 10.9.9.9\r\n").unwrap();
    get(port2, "/3", "").unwrap();
    get(port3, "/4", "x-forwarded-for: 10.1.1.1\r\n").unwrap();
    let reqs = b.requests();
    assert_eq!(reqs[0].header("x-client"), Some("127.0.0.1"));
    assert_eq!(reqs[0].header("x-forwarded-for"), None);
    assert_eq!(
        reqs[1].headers_named("x-client"),
        ["10.9.9.9"],
        "if-none keeps it"
    );
    assert_eq!(
        reqs[2].header("x-forwarded-for"),
        None,
        "except 127.0.0.0/8"
    );
    assert_eq!(
        reqs[3].headers_named("x-forwarded-for"),
        ["10.1.1.1", "127.0.0.1"]
    );
}

#[test]
fn monitor_uri_answers_without_a_server_and_monitor_fail_gives_503() {
    let b = HttpBackend::echo("s1");
    let port = free_port();
    let port2 = free_port();
    let cfg = http_header("")
        + &format!(
            "frontend up\n    bind 127.0.0.1:{port}\n    monitor-uri /health\n    default_backend be\n\
             frontend down\n    bind 127.0.0.1:{port2}\n    monitor-uri /health\n    monitor fail if {{ nbsrv(empty) lt 1 }}\n    default_backend be\n\
             backend be\n{}\
             backend empty\n    server x 127.0.0.1:1 disabled\n",
            server(&b, "s1", "")
        );
    let _lb = Lb::start(&cfg);
    let r = get(port, "/health", "").unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(
        r.text(),
        "<html><body><h1>200 OK</h1>\nService ready.\n</body></html>\n"
    );
    let r = get(port2, "/health", "").unwrap();
    assert_eq!(r.status, 503);
    assert!(r.text().contains("503 Service Unavailable"));
    assert!(
        b.requests().is_empty(),
        "monitor requests never reach a server"
    );
    assert_eq!(get(port, "/other", "").unwrap().status, 200);
}

#[test]
fn no_server_gives_haproxy_503_page_or_the_errorfile() {
    let dir = TempDir::new();
    let page = dir.path().join("503.http");
    std::fs::write(
        &page,
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nX-Page: custom\r\n\r\nsorry\n",
    )
    .unwrap();
    let port = free_port();
    let port2 = free_port();
    let cfg = http_header("")
        + &format!(
            "listen plain\n    bind 127.0.0.1:{port}\n    server x 127.0.0.1:1 disabled\n\
             listen custom\n    bind 127.0.0.1:{port2}\n    errorfile 503 {}\n    server x 127.0.0.1:1 disabled\n",
            page.display()
        );
    let _lb = Lb::start(&cfg);
    let r = get(port, "/", "").unwrap();
    assert_eq!(r.status, 503);
    assert_eq!(
        r.text(),
        "<html><body><h1>503 Service Unavailable</h1>\nNo server is available to handle this request.\n</body></html>\n"
    );
    assert_eq!(r.get("cache-control"), Some("no-cache"));
    let r = get(port2, "/", "").unwrap();
    assert_eq!(r.status, 503);
    assert_eq!(r.get("x-page"), Some("custom"));
    assert_eq!(r.text(), "sorry\n");
}

#[test]
fn connection_failures_are_retried_and_redispatched() {
    let b = HttpBackend::echo("s2");
    let dead = free_port();
    let port = free_port();
    let body = format!(
        "    balance first\n    retries 1\n    option redispatch\n    server s1 127.0.0.1:{dead}\n{}",
        server(&b, "s2", "")
    );
    let _lb = Lb::start(&(http_header("") + &listen(port, &body)));
    let r = get(port, "/", "").unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.get("x-server"), Some("s2"));
    assert_eq!(b.requests().len(), 1);
}

#[test]
fn retry_on_503_replays_the_request_on_another_server() {
    let busy_hits = Arc::new(AtomicUsize::new(0));
    let hits = Arc::clone(&busy_hits);
    let busy = HttpBackend::with(
        "busy",
        Arc::new(move |_: &Request| {
            hits.fetch_add(1, Ordering::SeqCst);
            Response::new(503, "busy")
        }),
    );
    let ok = HttpBackend::echo("ok");
    let port = free_port();
    let body = format!(
        "    balance first\n    retries 1\n    retry-on 503\n    option redispatch\n{}{}",
        server(&busy, "busy", ""),
        server(&ok, "ok", "")
    );
    let _lb = Lb::start(&(http_header("") + &listen(port, &body)));
    let r = get(port, "/", "").unwrap();
    assert_eq!((r.status, r.get("x-server")), (200, Some("ok")));
    assert_eq!(busy_hits.load(Ordering::SeqCst), 1);
    // A request whose body fits in a buffer is kept to be replayed, as HAProxy does.
    let r = request(
        port,
        b"POST /p HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi",
    )
    .unwrap();
    assert_eq!((r.status, r.get("x-server")), (200, Some("ok")));
    assert_eq!(busy_hits.load(Ordering::SeqCst), 2);
    let posted = ok.requests();
    assert_eq!(
        (posted[1].target.as_str(), &posted[1].body[..]),
        ("/p", &b"hi"[..])
    );
}

#[test]
fn slow_request_heads_get_408_and_idle_keep_alive_connections_close() {
    let b = HttpBackend::echo("s1");
    let port = free_port();
    let defaults = "    timeout http-request 1s\n    timeout http-keep-alive 500ms\n";
    let _lb = Lb::start(&(http_header(defaults) + &listen(port, &server(&b, "s1", ""))));
    // Slowloris: one header byte at a time, never finishing the head.
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let started = Instant::now();
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n").unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 512];
    loop {
        let _ = s.write_all(b"X");
        std::thread::sleep(Duration::from_millis(100));
        s.set_nonblocking(true).unwrap();
        let r = s.read(&mut buf);
        s.set_nonblocking(false).unwrap();
        match r {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(_) if started.elapsed() > Duration::from_secs(4) => break,
            Err(_) => {}
        }
    }
    let text = String::from_utf8_lossy(&got);
    assert!(
        text.starts_with("HTTP/1.1 408 Request Time-out"),
        "{text:?}"
    );
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(3),
        "{took:?}"
    );
    // Keep-alive: after a response, an idle connection closes after http-keep-alive.
    let mut c = open(port);
    assert_eq!(exchange(&mut c, GET).status, 200);
    let idle = Instant::now();
    assert!(closed_within(&mut c, Duration::from_secs(3)));
    let waited = idle.elapsed();
    assert!(
        waited >= Duration::from_millis(400) && waited < Duration::from_millis(1500),
        "{waited:?}"
    );
    assert_eq!(b.requests().len(), 1);
}

#[test]
fn oversized_or_smuggling_requests_never_reach_the_server() {
    let b = HttpBackend::echo("s1");
    let port = free_port();
    let cfg = http_header_with("    tune.http.maxhdr 10\n    tune.bufsize 16384\n", "")
        + &listen(port, &server(&b, "s1", ""));
    let _lb = Lb::start(&cfg);
    let many: String = (0..20).map(|i| format!("X-{i}: a\r\n")).collect();
    let cases: Vec<(&str, Vec<u8>, u16)> = vec![
        ("too many headers", format!("GET / HTTP/1.1\r\nHost: x\r\n{many}\r\n").into_bytes(), 400),
        (
            "oversized header",
            format!("GET / HTTP/1.1\r\nHost: x\r\nX: {}\r\n\r\n", "a".repeat(17000)).into_bytes(),
            400,
        ),
        (
            "CL.CL",
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 40\r\n\r\nabc".to_vec(),
            400,
        ),
        (
            "TE.TE",
            b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n".to_vec(),
            400,
        ),
        (
            "TE obfuscated",
            b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n".to_vec(),
            400,
        ),
        (
            "absolute-form vs Host",
            b"GET http://a.example/ HTTP/1.1\r\nHost: b.example\r\n\r\n".to_vec(),
            400,
        ),
        ("two Host", b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n".to_vec(), 400),
        ("space before colon", b"GET / HTTP/1.1\r\nHost: a\r\nX : b\r\n\r\n".to_vec(), 400),
        (
            "bad chunk size",
            b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n".to_vec(),
            400,
        ),
    ];
    for (what, raw, status) in cases {
        let r = request(port, &raw).unwrap_or_else(|e| panic!("{what}: {e}"));
        assert_eq!(r.status, status, "{what}");
    }
    // The bad chunk reached the server as a request head (the body is streamed), but no
    // second request was ever seen.
    assert!(
        b.requests().iter().all(|r| r.target == "/"),
        "{:?}",
        b.requests()
    );
    assert!(b.requests().len() <= 1, "{:?}", b.requests());
    // CL + TE: Transfer-Encoding wins, Content-Length is removed, one request arrives.
    let b2 = HttpBackend::echo("s2");
    let port2 = free_port();
    let _lb2 = Lb::start(&(http_header("") + &listen(port2, &server(&b2, "s2", ""))));
    let r = request(
        port2,
        b"POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
    )
    .unwrap();
    assert_eq!(r.status, 200);
    let reqs = b2.requests();
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0].body, b"abc");
    assert_eq!(reqs[0].header("content-length"), None);
}

#[test]
fn a_tcp_frontend_can_hand_its_stream_to_an_http_backend() {
    let b = HttpBackend::echo("s1");
    let port = free_port();
    let cfg = http_header("")
        + &format!(
            "frontend f\n    mode tcp\n    bind 127.0.0.1:{port}\n    default_backend be\n\
             backend be\n    option forwardfor\n{}",
            server(&b, "s1", "")
        );
    let _lb = Lb::start(&cfg);
    let mut c = open(port);
    assert_eq!(exchange(&mut c, GET).status, 200);
    assert_eq!(exchange(&mut c, GET).status, 200);
    let reqs = b.requests();
    assert_eq!(reqs.len(), 2);
    assert_eq!(reqs[0].header("x-forwarded-for"), Some("127.0.0.1"));
}

#[test]
fn a_server_stalling_mid_body_is_cut_by_timeout_server() {
    let b = lb_tests::Backend::custom("stall", |s: TcpStream, _| {
        let mut r = BufReader::new(s);
        loop {
            let mut line = String::new();
            if std::io::BufRead::read_line(&mut r, &mut line).unwrap_or(0) == 0 || line == "\r\n" {
                break;
            }
        }
        let mut s = r.into_inner();
        let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nabc");
        std::thread::sleep(Duration::from_secs(5));
    });
    let port = free_port();
    let cfg = http_header("").replace("timeout server 30s", "timeout server 600ms")
        + &listen(port, &format!("    server s1 {}\n", b.addr()));
    let _lb = Lb::start(&cfg);
    let mut c = open(port);
    let started = Instant::now();
    c.get_mut().write_all(GET).unwrap();
    let mut got = Vec::new();
    let _ = c.read_to_end(&mut got);
    let text = String::from_utf8_lossy(&got);
    assert!(text.starts_with("HTTP/1.1 200"), "{text:?}");
    assert!(text.ends_with("abc"), "{text:?}");
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(500) && took < Duration::from_secs(3),
        "{took:?}"
    );
}
