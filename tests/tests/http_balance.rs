//! HTTP balancing end to end: `balance uri` (with `len`, `depth`, `whole`), `url_param`
//! (query and `check_post` form bodies), `hdr(name)` (with `use_domain_only`) and `hash`
//! on HTTP fetches. A key always reaches the same server — the very server HAProxy 2.6
//! picks for it (run with `LB_BIN=tests/reference/haproxy-as-lb`) — and requests without
//! a key are spread by round robin.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "test helpers abort the test on failure"
)]

use std::collections::BTreeSet;

use lb_tests::http::{HttpBackend, get, request};
use lb_tests::{Lb, free_port};

struct Farm {
    _servers: Vec<HttpBackend>,
    _lb: Lb,
    port: u16,
}

/// Four echo servers `s1`..`s4` behind a backend with `balance` lines.
fn farm(balance: &str) -> Farm {
    let servers: Vec<HttpBackend> = (1..=4)
        .map(|i| HttpBackend::echo(&format!("s{i}")))
        .collect();
    let port = free_port();
    let mut cfg = format!(
        "global\n    nbthread 1\n\ndefaults\n    mode http\n    timeout connect 2s\n    timeout client 30s\n    timeout server 30s\n\n\
         frontend fe\n    bind 127.0.0.1:{port}\n    default_backend be\n\nbackend be\n{balance}"
    );
    for s in &servers {
        cfg.push_str(&format!("    server {} {}\n", s.name(), s.addr()));
    }
    let lb = Lb::start(&cfg);
    Farm {
        _servers: servers,
        _lb: lb,
        port,
    }
}

impl Farm {
    fn who(&self, path: &str, extra: &str) -> String {
        let r = get(self.port, path, extra).unwrap();
        assert_eq!(r.status, 200);
        r.get("x-server").unwrap().to_owned()
    }

    fn post(&self, path: &str, body: &str) -> String {
        let raw = format!(
            "POST {path} HTTP/1.1\r\nhost: test\r\ncontent-type: application/x-www-form-urlencoded\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        );
        request(self.port, raw.as_bytes())
            .unwrap()
            .get("x-server")
            .unwrap()
            .to_owned()
    }
}

/// Asserts that each key always goes to one server, and returns the servers in order.
fn stable(f: impl Fn(&str) -> String, keys: &[&str]) -> Vec<String> {
    let first: Vec<String> = keys.iter().map(|k| f(k)).collect();
    for _ in 0..2 {
        let again: Vec<String> = keys.iter().map(|k| f(k)).collect();
        assert_eq!(first, again, "a key changed server");
    }
    first
}

const KEYS: &[&str] = &[
    "alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel",
];

#[test]
fn uri_hashes_the_path() {
    let f = farm("    balance uri\n");
    let paths: Vec<String> = KEYS.iter().map(|k| format!("/{k}/x?q=1")).collect();
    let refs: Vec<&str> = paths.iter().map(String::as_str).collect();
    let servers = stable(|p| f.who(p, ""), &refs);
    assert_eq!(servers, ["s1", "s1", "s1", "s3", "s2", "s1", "s3", "s3"]);
    // Without `whole` the query does not count.
    assert_eq!(f.who("/alpha/x?other", ""), servers[0]);
}

#[test]
fn uri_options() {
    let f = farm("    balance uri depth 1\n");
    let a = stable(|p| f.who(p, ""), &["/alpha/1", "/alpha/2/3", "/bravo/9"]);
    assert_eq!(a[0], a[1], "depth 1 hashes only /alpha");
    let f = farm("    balance uri len 6\n");
    let a = stable(|p| f.who(p, ""), &["/alpha-one", "/alpha-two"]);
    assert_eq!(a[0], a[1], "len 6 hashes only /alpha");
    let f = farm("    balance uri whole\n");
    let seen: BTreeSet<String> = (0..12).map(|i| f.who(&format!("/p?id={i}"), "")).collect();
    assert!(seen.len() > 1, "whole hashes the query too: {seen:?}");
}

#[test]
fn url_param_hashes_the_parameter() {
    let f = farm("    balance url_param user check_post\n");
    let servers = stable(|k| f.who(&format!("/login?x=1&user={k}"), ""), KEYS);
    assert_eq!(servers, ["s3", "s3", "s3", "s1", "s2", "s3", "s3", "s1"]);
    // The same key in a form body goes to the same server.
    assert_eq!(f.post("/login", "user=alpha&pw=x"), servers[0]);
    assert_eq!(f.post("/login", "pw=x&user=charlie"), servers[2]);
    // No parameter: round robin over the four servers.
    let rr: Vec<String> = (0..4).map(|_| f.who("/login", "")).collect();
    let distinct: BTreeSet<&String> = rr.iter().collect();
    assert_eq!(distinct.len(), 4, "round robin without a key: {rr:?}");
}

#[test]
fn hdr_hashes_the_header() {
    let f = farm("    balance hdr(x-tenant)\n");
    let servers = stable(|k| f.who("/", &format!("x-tenant: {k}\r\n")), KEYS);
    assert_eq!(servers, ["s3", "s3", "s3", "s1", "s2", "s3", "s3", "s1"]);
    let rr: BTreeSet<String> = (0..4).map(|_| f.who("/", "")).collect();
    assert_eq!(rr.len(), 4, "round robin without the header");
    let f = farm("    balance hdr(host) use_domain_only\n");
    let by_host = |h: &str| {
        let raw = format!("GET / HTTP/1.1\r\nhost: {h}\r\nconnection: close\r\n\r\n");
        let r = request(f.port, raw.as_bytes()).unwrap();
        r.get("x-server").unwrap().to_owned()
    };
    let a = stable(
        by_host,
        &["www.example.com", "api.example.org", "example.net"],
    );
    assert!(
        a[0] == a[1] && a[1] == a[2],
        "only 'example' is hashed: {a:?}"
    );
}

#[test]
fn hash_on_http_fetches() {
    let f = farm("    balance hash req.cook(sid)\n");
    let servers = stable(|k| f.who("/", &format!("cookie: a=1; sid={k}\r\n")), KEYS);
    let distinct: BTreeSet<&String> = servers.iter().collect();
    assert!(distinct.len() > 1, "{servers:?}");
    let f = farm("    balance hash path\n    hash-type consistent\n");
    let paths: Vec<String> = KEYS.iter().map(|k| format!("/{k}")).collect();
    let refs: Vec<&str> = paths.iter().map(String::as_str).collect();
    let servers = stable(|p| f.who(p, ""), &refs);
    let distinct: BTreeSet<&String> = servers.iter().collect();
    assert!(distinct.len() > 1, "{servers:?}");
}
