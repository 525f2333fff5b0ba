//! HTTP sample fetches and converters end to end: each expression's value is copied into
//! a request header by `http-request set-header X-Nn %[EXPR]` and read at the server.
//! The expected values are HAProxy 2.6's (run with `LB_BIN=tests/reference/haproxy-as-lb`).

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "test helpers abort the test on failure"
)]

use lb_tests::http::{HttpBackend, request};
use lb_tests::{Lb, free_port};

/// (expression, expected value at the server; "" when the fetch has no value).
const CASES: &[(&str, &str)] = &[
    ("method", "POST"),
    ("path", "/dir/page.html"),
    ("pathq", "/dir/page.html?a=1&b=two&a=3"),
    ("url", "/dir/page.html?a=1&b=two&a=3"),
    ("query", "a=1&b=two&a=3"),
    ("base", "www.example.com/dir/page.html"),
    ("url_param(a)", "1"),
    ("urlp(b)", "two"),
    ("urlp_val(a)", "1"),
    ("urlp(zz)", ""),
    ("req.ver", "1.1"),
    ("req.hdr(x-list)", "e"),
    ("req.hdr(x-list,1)", "a"),
    ("req.hdr(x-list,-2)", "\"c,d\""),
    ("req.hdr(x-list,9)", ""),
    ("req.fhdr(x-list,1)", "a, b , \"c,d\""),
    ("req.hdr_cnt(x-list)", "4"),
    ("req.fhdr_cnt(x-list)", "2"),
    ("hdr_cnt(nope)", "0"),
    ("req.hdr_val(x-num)", "42"),
    ("req.hdr_ip(x-fwd)", "192.0.2.1"),
    ("hdr(host)", "www.example.com"),
    ("req.cook(sid)", "2"),
    ("req.cook(theme)", "dark"),
    ("req.cook_cnt(sid)", "2"),
    ("req.cook_val(sid)", "2"),
    ("cook(q)", "\"x;y\""),
    ("req.body", "name=al&x=1"),
    ("req.body_param(name)", "al"),
    ("req.body_len", "11"),
    ("req.body_size", "11"),
    ("http_auth_type", "Basic"),
    ("http_auth_user", "alice"),
    ("http_auth_pass", "wonder"),
    ("capture.req.method", "POST"),
    ("capture.req.uri", "/dir/page.html?a=1&b=two&a=3"),
    ("capture.req.ver", "HTTP/1.1"),
    ("path,url_enc", "%2Fdir%2Fpage.html"),
    ("str(a%20b+c?d+e),url_dec", "a b+c?d e"),
    ("str(a+b),url_dec(1)", "a b"),
    ("int(784111777),http_date", "Sun, 06 Nov 1994 08:49:37 GMT"),
    (
        "int(784111777000),http_date(1000,ms)",
        "Sun, 06 Nov 1994 08:49:38.0 GMT",
    ),
    (
        "int(1000000000),utime(%Y-%m-%dT%H:%M:%S)",
        "2001-09-09T01:46:40",
    ),
    ("path,lower,length", "14"),
];

#[test]
fn fetch_values_at_the_server() {
    let s1 = HttpBackend::echo("s1");
    let port = free_port();
    let mut cfg = format!(
        "global\n    nbthread 1\n\ndefaults\n    mode http\n    timeout connect 2s\n    timeout client 30s\n    timeout server 30s\n\n\
         frontend fe\n    bind 127.0.0.1:{port}\n    http-request wait-for-body time 2s\n"
    );
    for (i, (expr, _)) in CASES.iter().enumerate() {
        cfg.push_str(&format!(
            "    http-request set-header x-f{i} \"%[{expr}]\"\n"
        ));
    }
    cfg.push_str(&format!(
        "    default_backend be\n\nbackend be\n    server s1 {}\n",
        s1.addr()
    ));
    let _lb = Lb::start(&cfg);
    let body = "name=al&x=1";
    let raw = format!(
        "POST /dir/page.html?a=1&b=two&a=3 HTTP/1.1\r\n\
         host: www.example.com\r\n\
         x-list: a, b , \"c,d\"\r\n\
         x-list: e\r\n\
         x-num: 42abc\r\n\
         x-fwd: 192.0.2.1:8080\r\n\
         cookie: sid=1; theme=dark ; sid=2\r\n\
         cookie: q=\"x;y\"\r\n\
         authorization: Basic YWxpY2U6d29uZGVy\r\n\
         content-type: application/x-www-form-urlencoded\r\n\
         content-length: {}\r\n\
         connection: close\r\n\r\n{body}",
        body.len()
    );
    let r = request(port, raw.as_bytes()).unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    let reqs = s1.requests();
    let seen = reqs.last().unwrap();
    let mut wrong = Vec::new();
    for (i, (expr, want)) in CASES.iter().enumerate() {
        let got = seen.header(&format!("x-f{i}")).unwrap_or("<missing>");
        if got != *want {
            wrong.push(format!("{expr}: got {got:?}, want {want:?}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
