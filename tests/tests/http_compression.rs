//! HTTP compression end to end: `compression algo|type|offload` with HAProxy's rules
//! (Accept-Encoding and q-values, types, already-encoded and `no-transform` responses,
//! statuses, HEAD, HTTP/1.0), the header edits (`Content-Encoding`, `Vary`, weak
//! `ETag`, chunked instead of `Content-Length`), and large bodies decoded by real
//! clients (flate2, curl). Checked against HAProxy 2.6 (`cargo xtask reference`); the
//! `br`/`zstd` algorithms, beyond HAProxy, are in `http_compression_extra.rs`.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "test helpers abort the test on failure"
)]

use std::io::Read;
use std::process::Command;
use std::sync::Arc;

use lb_tests::http::{HttpBackend, Request, Response, request};
use lb_tests::{Lb, free_port};

/// A text body of `n` bytes, compressible but not trivially.
fn text(n: usize) -> String {
    let mut s = String::with_capacity(n + 64);
    let mut i: u64 = 7;
    while s.len() < n {
        i = i
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        s.push_str(&format!(
            "line {} says {}\n",
            i % 997,
            ["hello", "world", "lb"][(i % 3) as usize]
        ));
    }
    s.truncate(n);
    s
}

const BIG: usize = 200_000;

/// Answers by path: `/text` (text/plain, strong ETag), `/png`, `/encoded` (already
/// `Content-Encoding: gzip`), `/notransform`, `/missing` (404), `/notype`.
fn backend() -> HttpBackend {
    let body = Arc::new(text(BIG));
    HttpBackend::with(
        "s1",
        Arc::new(move |req: &Request| {
            let path = req.target.split('?').next().unwrap_or("");
            let r = Response::new(200, &body).header("x-server", "s1");
            match path {
                "/text" => r
                    .header("content-type", "text/plain; charset=utf-8")
                    .header("etag", "\"abc\""),
                "/png" => r.header("content-type", "image/png"),
                "/encoded" => r
                    .header("content-type", "text/plain")
                    .header("content-encoding", "gzip"),
                "/notransform" => r
                    .header("content-type", "text/plain")
                    .header("cache-control", "public, no-transform"),
                "/missing" => Response::new(404, &body).header("content-type", "text/plain"),
                _ => r,
            }
        }),
    )
}

fn config(port: u16, s1: &HttpBackend, comp: &str) -> String {
    format!(
        "global\n    nbthread 1\n\ndefaults\n    mode http\n    timeout connect 2s\n    \
         timeout client 10s\n    timeout server 10s\n\n\
         frontend fe\n    bind 127.0.0.1:{port}\n    default_backend be\n\n\
         backend be\n{comp}    server s1 {}\n",
        s1.addr()
    )
}

fn get(port: u16, path: &str, headers: &str) -> Response {
    request(
        port,
        format!("GET {path} HTTP/1.1\r\nhost: t\r\n{headers}connection: close\r\n\r\n").as_bytes(),
    )
    .unwrap()
}

fn gunzip(data: &[u8]) -> String {
    let mut out = String::new();
    flate2::read::GzDecoder::new(data)
        .read_to_string(&mut out)
        .expect("valid gzip");
    out
}

fn all<'a>(r: &'a Response, name: &str) -> Vec<&'a str> {
    r.headers
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
        .collect()
}

#[test]
fn gzip_response_headers_and_body() {
    let s1 = backend();
    let port = free_port();
    let _lb = Lb::start(&config(
        port,
        &s1,
        "    compression algo gzip deflate\n    compression type text/html text/plain\n",
    ));
    let r = get(port, "/text", "accept-encoding: gzip, deflate\r\n");
    assert_eq!(r.status, 200);
    assert_eq!(r.get("content-encoding"), Some("gzip"));
    assert_eq!(r.get("content-length"), None);
    assert_eq!(r.get("transfer-encoding"), Some("chunked"));
    assert_eq!(all(&r, "vary"), ["Accept-Encoding"]);
    assert_eq!(r.get("etag"), Some("W/\"abc\""));
    assert!(
        r.body.len() < BIG / 3,
        "compressed to {} bytes",
        r.body.len()
    );
    assert_eq!(gunzip(&r.body), text(BIG));
    // The server saw the client's Accept-Encoding (no offload).
    let seen = s1.requests().pop().unwrap();
    assert_eq!(seen.header("accept-encoding"), Some("gzip, deflate"));
}

#[test]
fn deflate_and_q_values() {
    let s1 = backend();
    let port = free_port();
    let _lb = Lb::start(&config(port, &s1, "    compression algo gzip deflate\n"));
    let enc = |ae: &str| {
        get(port, "/text", &format!("accept-encoding: {ae}\r\n"))
            .get("content-encoding")
            .map(str::to_owned)
    };
    assert_eq!(enc("deflate"), Some("deflate".into()));
    assert_eq!(enc("gzip;q=0.5, deflate;q=0.8"), Some("deflate".into()));
    assert_eq!(enc("deflate, gzip"), Some("deflate".into()));
    assert_eq!(enc("gzip;q=0"), None);
    assert_eq!(enc("br"), None);
    assert_eq!(enc("identity"), None);
    // `*` picks the last algorithm of the configuration.
    assert_eq!(enc("*"), Some("deflate".into()));
    let r = get(port, "/text", "accept-encoding: deflate\r\n");
    let mut out = String::new();
    flate2::read::ZlibDecoder::new(&r.body[..])
        .read_to_string(&mut out)
        .expect("valid zlib");
    assert_eq!(out, text(BIG));
}

#[test]
fn responses_that_are_not_compressed() {
    let s1 = backend();
    let port = free_port();
    let _lb = Lb::start(&config(
        port,
        &s1,
        "    compression algo gzip\n    compression type text/plain\n",
    ));
    let ae = "accept-encoding: gzip\r\n";
    for path in ["/png", "/notransform", "/missing", "/notype"] {
        let r = get(port, path, ae);
        assert_eq!(r.get("content-encoding"), None, "{path}");
        assert_eq!(r.get("vary"), None, "{path}");
        assert_eq!(
            r.get("content-length"),
            Some(BIG.to_string().as_str()),
            "{path}"
        );
        assert_eq!(r.body.len(), BIG, "{path}");
    }
    // Already encoded: passed untouched.
    let r = get(port, "/encoded", ae);
    assert_eq!(all(&r, "content-encoding"), ["gzip"]);
    assert_eq!(r.body.len(), BIG);
    // No Accept-Encoding.
    let r = get(port, "/text", "");
    assert_eq!(r.get("content-encoding"), None);
    assert_eq!(r.get("etag"), Some("\"abc\""));
    // HTTP/1.0 clients.
    let r = request(
        port,
        b"GET /text HTTP/1.0\r\nhost: t\r\naccept-encoding: gzip\r\n\r\n",
    )
    .unwrap();
    assert_eq!(r.get("content-encoding"), None);
    assert_eq!(r.body.len(), BIG);
    // HEAD.
    let r = request(
        port,
        b"HEAD /text HTTP/1.1\r\nhost: t\r\naccept-encoding: gzip\r\nconnection: close\r\n\r\n",
    )
    .unwrap();
    assert_eq!(r.get("content-encoding"), None);
    // Old Mozilla/4 agents.
    let r = get(
        port,
        "/text",
        "accept-encoding: gzip\r\nuser-agent: Mozilla/4.0 (compatible; MSIE 5.5; Windows 98)\r\n",
    );
    assert_eq!(r.get("content-encoding"), None);
}

#[test]
fn offload_hides_accept_encoding_from_the_server() {
    let s1 = backend();
    let port = free_port();
    let _lb = Lb::start(&config(
        port,
        &s1,
        "    compression algo gzip\n    compression offload\n",
    ));
    let r = get(port, "/text", "accept-encoding: gzip\r\n");
    assert_eq!(r.get("content-encoding"), Some("gzip"));
    assert_eq!(gunzip(&r.body), text(BIG));
    assert_eq!(s1.requests().pop().unwrap().header("accept-encoding"), None);
    // Not compressible for this client: the header stays.
    get(port, "/text", "accept-encoding: br\r\n");
    assert_eq!(
        s1.requests().pop().unwrap().header("accept-encoding"),
        Some("br")
    );
}

#[test]
fn frontend_settings_apply_when_the_backend_has_none() {
    let s1 = backend();
    let port = free_port();
    let cfg = format!(
        "global\n    nbthread 1\n\ndefaults\n    mode http\n    timeout connect 2s\n    \
         timeout client 10s\n    timeout server 10s\n\n\
         frontend fe\n    bind 127.0.0.1:{port}\n    compression algo gzip\n    \
         compression type text/plain\n    default_backend be\n\n\
         backend be\n    server s1 {}\n",
        s1.addr()
    );
    let _lb = Lb::start(&cfg);
    assert_eq!(
        get(port, "/text", "accept-encoding: gzip\r\n").get("content-encoding"),
        Some("gzip")
    );
    assert_eq!(
        get(port, "/png", "accept-encoding: gzip\r\n").get("content-encoding"),
        None
    );
}

#[test]
fn curl_decodes_what_it_asked_for() {
    let s1 = backend();
    let port = free_port();
    let _lb = Lb::start(&config(port, &s1, "    compression algo gzip\n"));
    let out = Command::new("curl")
        .args(["-s", "--compressed", "-D", "-"])
        .arg(format!("http://127.0.0.1:{port}/text"))
        .output()
        .expect("run curl");
    assert!(out.status.success());
    let text_out = String::from_utf8_lossy(&out.stdout);
    let (head, body) = text_out.split_once("\r\n\r\n").expect("headers then body");
    assert!(
        head.to_ascii_lowercase().contains("content-encoding: gzip"),
        "{head}"
    );
    assert_eq!(body, text(BIG));
}
