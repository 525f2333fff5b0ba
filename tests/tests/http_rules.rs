//! HTTP rules end to end: `http-request` header and target rewrites as the server sees
//! them, `deny`/`return`/`redirect`/`auth` answers as the client sees them, response
//! rules, captures, variables, `normalize-uri`, and routing on HTTP fetches and ACL
//! derivatives. Every assertion is HAProxy 2.6's behaviour (run with
//! `LB_BIN=tests/reference/haproxy-as-lb`).

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "test helpers abort the test on failure"
)]

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::Duration;

use lb_tests::http::{HttpBackend, Response, get, request};
use lb_tests::{Lb, free_port};

/// `global` + `defaults` in HTTP mode.
fn header() -> String {
    "global\n\
     \x20   nbthread 1\n\
     \x20   log stdout format raw local0 info\n\
     \n\
     defaults\n\
     \x20   mode http\n\
     \x20   timeout connect 2s\n\
     \x20   timeout client 30s\n\
     \x20   timeout server 30s\n\
     \n"
    .to_owned()
}

/// A frontend on `port` with `fe` lines, to a backend with `be` lines and one server
/// per backend given.
fn config(port: u16, fe: &str, be: &str, servers: &[&HttpBackend]) -> String {
    let mut s = header();
    s.push_str(&format!(
        "frontend fe\n    bind 127.0.0.1:{port}\n{fe}    default_backend be\n\nbackend be\n{be}"
    ));
    for b in servers {
        s.push_str(&format!("    server {} {}\n", b.name(), b.addr()));
    }
    s
}

fn start(fe: &str, be: &str, servers: &[&HttpBackend]) -> (Lb, u16) {
    let port = free_port();
    let lb = Lb::start(&config(port, fe, be, servers));
    (lb, port)
}

/// The status line of the answer to `raw` (to check reason phrases).
fn status_line(port: u16, raw: &str) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(raw.as_bytes()).unwrap();
    let mut line = String::new();
    BufReader::new(s).read_line(&mut line).unwrap();
    line.trim_end().to_owned()
}

#[test]
fn request_rewrites_reach_the_server() {
    let s1 = HttpBackend::echo("s1");
    let (_lb, port) = start(
        "    http-request set-header X-Path %[path]\n\
         \x20   http-request add-header X-Multi one\n\
         \x20   http-request add-header X-Multi two\n\
         \x20   http-request set-header X-Src \"src=%[src] m=%[method]\"\n\
         \x20   http-request del-header X-Secret\n\
         \x20   http-request del-header x-drop- -m beg\n\
         \x20   http-request replace-header User-Agent (.*)/(.*) \\2-\\1\n\
         \x20   http-request replace-value X-List ^b$ B\n\
         \x20   http-request set-query q=%[urlp(a)]&new=1\n\
         \x20   http-request set-path /v2%[path]\n\
         \x20   http-request set-method PUT if { hdr(x-put) -m found }\n",
        "",
        &[&s1],
    );
    let r = get(
        port,
        "/api/items?a=42&b=7",
        "x-secret: s\r\nx-drop-1: d\r\nx-drop-2: d\r\nx-keep: k\r\nuser-agent: curl/8\r\nx-list: a, b, c\r\nx-put: 1\r\n",
    )
    .unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    let reqs = s1.requests();
    let q = reqs.last().unwrap();
    assert_eq!(q.method, "PUT");
    assert_eq!(q.target, "/v2/api/items?q=42&new=1");
    assert_eq!(q.header("x-path"), Some("/api/items"));
    assert_eq!(q.headers_named("x-multi"), ["one", "two"]);
    assert_eq!(q.header("x-src"), Some("src=127.0.0.1 m=GET"));
    assert_eq!(q.header("x-secret"), None);
    assert_eq!(q.header("x-drop-1"), None);
    assert_eq!(q.header("x-drop-2"), None);
    assert_eq!(q.header("x-keep"), Some("k"));
    assert_eq!(q.header("user-agent"), Some("8-curl"));
    // HAProxy replaces the value with the blanks before it.
    assert_eq!(q.header("x-list"), Some("a,B, c"));
}

#[test]
fn set_uri_and_normalize_uri() {
    let s1 = HttpBackend::echo("s1");
    let port = free_port();
    // HAProxy 2.6 calls normalize-uri experimental; lb accepts the directive.
    let cfg = config(
        port,
        "    http-request normalize-uri path-merge-slashes\n\
         \x20   http-request normalize-uri path-strip-dotdot\n\
         \x20   http-request normalize-uri percent-decode-unreserved\n\
         \x20   http-request normalize-uri query-sort-by-name\n\
         \x20   http-request set-uri /fixed%[path] if { path_beg /old }\n",
        "",
        &[&s1],
    )
    .replacen(
        "global\n",
        "global\n    expose-experimental-directives\n",
        1,
    );
    let _lb = Lb::start(&cfg);
    assert_eq!(
        get(port, "//a///b/../c/%61%62?z=1&a=2&m=3", "")
            .unwrap()
            .status,
        200
    );
    assert_eq!(s1.requests().last().unwrap().target, "/a/c/ab?a=2&m=3&z=1");
    assert_eq!(get(port, "/old/x?y", "").unwrap().status, 200);
    assert_eq!(s1.requests().last().unwrap().target, "/fixed/old/x");
}

#[test]
fn deny_return_and_reject() {
    let s1 = HttpBackend::echo("s1");
    let (_lb, port) = start(
        "    acl blocked path_beg /admin\n\
         \x20   http-request deny if blocked\n\
         \x20   http-request deny deny_status 429 if { path /slow }\n\
         \x20   http-request return status 201 content-type text/plain lf-string \"hello %[req.hdr(x-name)]\" hdr X-Served lb if { path /hello }\n\
         \x20   http-request return status 404 if { path /empty }\n\
         \x20   http-request deny status 503 content-type application/json string '{\"e\":1}' if { path /json }\n\
         \x20   http-request reject if { path /reject }\n",
        "",
        &[&s1],
    );
    let r = get(port, "/admin/x", "").unwrap();
    assert_eq!(r.status, 403);
    assert_eq!(r.get("content-type"), Some("text/html"));
    assert_eq!(r.get("cache-control"), Some("no-cache"));
    assert_eq!(
        r.text(),
        "<html><body><h1>403 Forbidden</h1>\nRequest forbidden by administrative rules.\n</body></html>\n"
    );
    assert_eq!(
        status_line(
            port,
            "GET /admin HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n"
        ),
        "HTTP/1.1 403 Forbidden"
    );
    let r = get(port, "/slow", "").unwrap();
    assert_eq!(r.status, 429);
    assert!(r.text().contains("429 Too Many Requests"), "{}", r.text());
    let r = get(port, "/hello", "x-name: bob\r\n").unwrap();
    assert_eq!(r.status, 201);
    assert_eq!(r.text(), "hello bob");
    assert_eq!(r.get("content-type"), Some("text/plain"));
    assert_eq!(r.get("x-served"), Some("lb"));
    assert_eq!(r.get("content-length"), Some("9"));
    let r = get(port, "/empty", "").unwrap();
    assert_eq!((r.status, r.body.len()), (404, 0));
    let r = get(port, "/json", "").unwrap();
    assert_eq!(r.status, 503);
    assert_eq!(r.text(), "{\"e\":1}");
    assert_eq!(r.get("content-type"), Some("application/json"));
    assert!(
        get(port, "/reject", "").is_err(),
        "reject closes without a response"
    );
    assert!(s1.requests().is_empty(), "no request reached the server");
    assert_eq!(get(port, "/ok", "").unwrap().status, 200);
    assert_eq!(s1.requests().len(), 1);
}

#[test]
fn redirects() {
    let s1 = HttpBackend::echo("s1");
    let (_lb, port) = start(
        "    http-request redirect location /new if { path /old }\n\
         \x20   http-request redirect prefix https://example.org code 301 if { path_beg /p/ }\n\
         \x20   http-request redirect prefix / drop-query append-slash if { path /dir }\n\
         \x20   http-request redirect scheme https code 308 if { path_beg /secure }\n\
         \x20   http-request redirect location /c code 303 set-cookie SEEN=1 if { path /cookie }\n\
         \x20   redirect location /kw clear-cookie OLD if { path /keyword }\n",
        "",
        &[&s1],
    );
    let r = get(port, "/old?x=1", "").unwrap();
    assert_eq!((r.status, r.get("location")), (302, Some("/new")));
    assert_eq!(r.get("cache-control"), Some("no-cache"));
    assert_eq!(r.get("content-length"), Some("0"));
    assert_eq!(
        status_line(
            port,
            "GET /old HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n"
        ),
        "HTTP/1.1 302 Found"
    );
    let r = get(port, "/p/a?q=1", "").unwrap();
    assert_eq!(
        (r.status, r.get("location")),
        (301, Some("https://example.org/p/a?q=1"))
    );
    assert_eq!(r.get("cache-control"), None);
    let r = get(port, "/dir?q=1", "").unwrap();
    assert_eq!((r.status, r.get("location")), (302, Some("/dir/")));
    let r = get(port, "/secure/x?k", "").unwrap();
    assert_eq!(
        (r.status, r.get("location")),
        (308, Some("https://test/secure/x?k"))
    );
    let r = get(port, "/cookie", "").unwrap();
    assert_eq!((r.status, r.get("location")), (303, Some("/c")));
    assert_eq!(r.get("set-cookie"), Some("SEEN=1; path=/;"));
    let r = get(port, "/keyword", "").unwrap();
    assert_eq!((r.status, r.get("location")), (302, Some("/kw")));
    assert_eq!(r.get("set-cookie"), Some("OLD; path=/; Max-Age=0;"));
    assert!(s1.requests().is_empty());
}

#[test]
fn basic_auth_with_a_userlist() {
    let s1 = HttpBackend::echo("s1");
    let port = free_port();
    let cfg = format!(
        "{}userlist admins\n\
         \x20   group ops\n\
         \x20   user alice insecure-password wonder groups ops\n\
         \x20   user bob password $6$saltsalt$TVLlQcbpFVof5W3Yz4DTP6gRstiNuHwwTt6GLc1E5n0U0aDehy0S5knV8wiOQSpT0Y77vwPZN.Pq.H91p5hVO1\n\n\
         frontend fe\n\
         \x20   bind 127.0.0.1:{port}\n\
         \x20   http-request auth realm Staff unless {{ http_auth(admins) }}\n\
         \x20   http-request set-header X-User %[http_auth_group(admins)] if {{ http_auth_group(admins) ops }}\n\
         \x20   default_backend be\n\n\
         backend be\n\
         \x20   server s1 {}\n",
        header(),
        s1.addr()
    );
    let _lb = Lb::start(&cfg);
    let r = get(port, "/", "").unwrap();
    assert_eq!(r.status, 401);
    assert_eq!(r.get("www-authenticate"), Some("Basic realm=\"Staff\""));
    assert!(r.text().contains("401 Unauthorized"));
    // alice:wonder (insecure-password, in group ops), bob:secret (SHA-512 crypt).
    let r = get(port, "/", "authorization: Basic YWxpY2U6d29uZGVy\r\n").unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(
        s1.requests().last().unwrap().header("x-user"),
        Some("alice")
    );
    let r = get(port, "/", "authorization: Basic Ym9iOnNlY3JldA==\r\n").unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(s1.requests().last().unwrap().header("x-user"), None);
    let r = get(port, "/", "authorization: Basic Ym9iOndyb25n\r\n").unwrap();
    assert_eq!(r.status, 401);
    assert_eq!(s1.requests().len(), 2);
}

#[test]
fn response_and_after_response_rules() {
    let s1 = HttpBackend::with(
        "s1",
        std::sync::Arc::new(|req: &lb_tests::http::Request| {
            let r = Response::new(200, "body")
                .header("server", "secret-server")
                .header("x-up", "1");
            if req.target == "/leak" {
                r.header("x-leak", "yes")
            } else {
                r
            }
        }),
    );
    let (_lb, port) = start(
        "    http-request set-var(txn.path) path\n\
         \x20   http-response set-header X-Fe %[status]\n\
         \x20   http-after-response set-header X-After done\n\
         \x20   http-request deny if { path /deny }\n",
        "    http-response del-header server\n\
         \x20   http-response set-header X-Path %[capture.req.uri]\n\
         \x20   http-response set-status 299 reason \"Very Fine\" if { var(txn.path) -m str /status }\n\
         \x20   http-response deny if { res.hdr(x-leak) -m found }\n",
        &[&s1],
    );
    let r = get(port, "/a?b", "").unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.get("server"), None);
    assert_eq!(r.get("x-up"), Some("1"));
    assert_eq!(r.get("x-fe"), Some("200"));
    assert_eq!(r.get("x-path"), Some("/a?b"));
    assert_eq!(r.get("x-after"), Some("done"));
    assert_eq!(
        status_line(
            port,
            "GET /status HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n"
        ),
        "HTTP/1.1 299 Very Fine"
    );
    let r = get(port, "/leak", "").unwrap();
    assert_eq!(r.status, 502);
    assert_eq!(r.get("x-leak"), None);
    assert_eq!(
        r.get("x-after"),
        Some("done"),
        "after-response rules apply to errors"
    );
    let r = get(port, "/deny", "").unwrap();
    assert_eq!(r.status, 403);
    assert_eq!(r.get("x-after"), Some("done"));
    assert_eq!(
        r.get("x-fe"),
        None,
        "http-response rules do not see proxy replies"
    );
}

#[test]
fn captures_and_variables() {
    let s1 = HttpBackend::echo("s1");
    let (_lb, port) = start(
        "    capture request header Host len 4\n\
         \x20   declare capture request len 20\n\
         \x20   http-request capture req.hdr(x-id) id 1\n\
         \x20   http-request set-var(txn.agent) req.hdr(user-agent),lower\n\
         \x20   http-request set-var(txn.n) int(5),add(2)\n\
         \x20   http-request set-header X-Caps \"%[capture.req.hdr(0)]|%[capture.req.hdr(1)]\"\n\
         \x20   http-response set-header X-Agent %[var(txn.agent)]\n\
         \x20   http-response set-header X-N %[var(txn.n)]\n",
        "",
        &[&s1],
    );
    let r = get(port, "/", "x-id: abc\r\nuser-agent: MyAgent\r\n").unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(
        s1.requests().last().unwrap().header("x-caps"),
        Some("test|abc")
    );
    assert_eq!(r.get("x-agent"), Some("myagent"));
    assert_eq!(r.get("x-n"), Some("7"));
}

#[test]
fn routing_on_http_fetches_and_acl_derivatives() {
    let (api, img, def, post) = (
        HttpBackend::echo("api"),
        HttpBackend::echo("img"),
        HttpBackend::echo("def"),
        HttpBackend::echo("post"),
    );
    let port = free_port();
    let cfg = format!(
        "{}frontend fe\n\
         \x20   bind 127.0.0.1:{port}\n\
         \x20   acl is_api hdr_beg(host) -i api.\n\
         \x20   use_backend post if METH_POST\n\
         \x20   use_backend api if is_api || {{ url_param(v) -m str 2 }}\n\
         \x20   use_backend img if {{ path_end .png .jpg }} || {{ cook(theme) dark }}\n\
         \x20   use_backend api if {{ hdr(x-list) b }}\n\
         \x20   default_backend def\n\n\
         backend api\n    server api {}\n\
         backend img\n    server img {}\n\
         backend def\n    server def {}\n\
         backend post\n    server post {}\n",
        header(),
        api.addr(),
        img.addr(),
        def.addr(),
        post.addr()
    );
    let _lb = Lb::start(&cfg);
    let who = |path: &str, extra: &str| {
        get(port, path, extra)
            .unwrap()
            .get("x-server")
            .map(str::to_owned)
    };
    assert_eq!(who("/x", "").as_deref(), Some("def"));
    assert_eq!(who("/x?v=2", "").as_deref(), Some("api"));
    assert_eq!(who("/a/b.png", "").as_deref(), Some("img"));
    assert_eq!(
        who("/x", "cookie: a=1; theme=dark\r\n").as_deref(),
        Some("img")
    );
    assert_eq!(
        who("/x", "x-list: a, b\r\n").as_deref(),
        Some("api"),
        "ACLs try every header value"
    );
    let r = request(
        port,
        b"GET / HTTP/1.1\r\nhost: API.example.com\r\nconnection: close\r\n\r\n",
    )
    .unwrap();
    assert_eq!(r.get("x-server"), Some("api"));
    let r = request(
        port,
        b"POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
    )
    .unwrap();
    assert_eq!(r.get("x-server"), Some("post"));
}

#[test]
fn wait_for_body_routes_on_form_parameters() {
    let (a, b) = (HttpBackend::echo("a"), HttpBackend::echo("b"));
    let port = free_port();
    let cfg = format!(
        "{}frontend fe\n\
         \x20   bind 127.0.0.1:{port}\n\
         \x20   http-request wait-for-body time 2s\n\
         \x20   use_backend b if {{ req.body_param(user) -m str bob }}\n\
         \x20   default_backend a\n\n\
         backend a\n    server a {}\n\
         backend b\n    server b {}\n",
        header(),
        a.addr(),
        b.addr()
    );
    let _lb = Lb::start(&cfg);
    let post = |body: &str| {
        let raw = format!(
            "POST /login HTTP/1.1\r\nhost: x\r\ncontent-type: application/x-www-form-urlencoded\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        );
        request(port, raw.as_bytes()).unwrap()
    };
    assert_eq!(post("user=bob&pw=1").get("x-server"), Some("b"));
    assert_eq!(post("user=al&pw=1").get("x-server"), Some("a"));
    assert_eq!(b.requests()[0].body, b"user=bob&pw=1");
}

#[test]
fn tarpit_holds_then_answers_500() {
    let s1 = HttpBackend::echo("s1");
    let (_lb, port) = start(
        "    timeout tarpit 700ms\n\
         \x20   http-request tarpit if { path /trap }\n",
        "",
        &[&s1],
    );
    let t = std::time::Instant::now();
    let r = get(port, "/trap", "").unwrap();
    assert_eq!(r.status, 500);
    assert!(
        t.elapsed() >= Duration::from_millis(600),
        "answered after {:?}",
        t.elapsed()
    );
    assert!(s1.requests().is_empty());
}

#[test]
fn auth_realm_defaults_to_the_proxy_name() {
    let s1 = HttpBackend::echo("s1");
    let (_lb, port) = start(
        "    http-request auth if { path /a }\n",
        "    http-request auth if { path /b }\n",
        &[&s1],
    );
    let r = get(port, "/a", "").unwrap();
    assert_eq!(
        (r.status, r.get("www-authenticate")),
        (401, Some("Basic realm=\"fe\""))
    );
    let r = get(port, "/b", "").unwrap();
    assert_eq!(
        (r.status, r.get("www-authenticate")),
        (401, Some("Basic realm=\"be\""))
    );
}
