//! Cookie persistence end to end: `cookie insert|prefix|rewrite` with their options,
//! shared cookie values, down servers, `ignore-persist`, dates, dynamic cookies, the
//! `%tsc` cookie characters, and stickiness on cookies through stick tables. Checked
//! against HAProxy 2.6 (`cargo xtask reference`).

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "test helpers abort the test on failure"
)]

use std::sync::Arc;
use std::time::Duration;

use lb_tests::http::{HttpBackend, Request, Response, get};
use lb_tests::{Lb, free_port};

fn header_http() -> String {
    "global\n    nbthread 1\n    log stdout format raw local0 info\n\n\
     defaults\n    mode http\n    log global\n    option httplog\n    timeout connect 2s\n    \
     timeout client 10s\n    timeout server 10s\n\n"
        .to_owned()
}

fn config(port: u16, backend: &str) -> String {
    format!(
        "{}frontend fe\n    bind 127.0.0.1:{port}\n    default_backend be\n\nbackend be\n{backend}\n",
        header_http()
    )
}

fn set_cookies(r: &Response) -> Vec<&str> {
    r.headers
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case("set-cookie"))
        .map(|(_, v)| v.as_str())
        .collect()
}

fn server(r: &Response) -> &str {
    r.get("x-server").expect("x-server header")
}

fn cookie_line(c: &str) -> String {
    format!("cookie: {c}\r\n")
}

fn last_request(b: &HttpBackend) -> Request {
    b.requests().pop().expect("a request reached the backend")
}

/// An echo-like server whose answers are cacheable (they carry an `ETag`), so that
/// `nocache` has something to protect; it echoes the `Cookie` header it received.
fn cacheable(name: &'static str) -> HttpBackend {
    HttpBackend::with(
        name,
        Arc::new(move |req: &Request| {
            Response::new(200, req.header("cookie").unwrap_or(""))
                .header("x-server", name)
                .header("etag", "\"v1\"")
        }),
    )
}

#[test]
fn insert_indirect_nocache_sticks_and_hides_the_cookie() {
    let (s1, s2) = (cacheable("s1"), cacheable("s2"));
    let port = free_port();
    let lb = Lb::start(&config(
        port,
        &format!(
            "    balance roundrobin\n    cookie SRV insert indirect nocache\n    \
             server s1 {} cookie a\n    server s2 {} cookie b\n",
            s1.addr(),
            s2.addr()
        ),
    ));
    // No cookie: balanced, and the answer carries the server's cookie, marked private.
    let r = get(port, "/", "").unwrap();
    assert_eq!(r.status, 200);
    let first = server(&r).to_owned();
    let value = if first == "s1" { "a" } else { "b" };
    assert_eq!(set_cookies(&r), [format!("SRV={value}; path=/")]);
    assert_eq!(r.get("cache-control"), Some("private"));
    // With the cookie, every request goes to that server, which never sees the cookie.
    for _ in 0..4 {
        let r = get(port, "/x", &cookie_line(&format!("a=1; SRV={value}; b=2"))).unwrap();
        assert_eq!(server(&r), first);
        assert!(set_cookies(&r).is_empty(), "valid cookie: nothing inserted");
        assert_eq!(r.get("cache-control"), None);
    }
    let b = if first == "s1" { &s1 } else { &s2 };
    assert_eq!(last_request(b).header("cookie"), Some("a=1; b=2"));
    // The cookie alone: the whole header disappears.
    get(port, "/y", &cookie_line(&format!("SRV={value}"))).unwrap();
    assert_eq!(last_request(b).header("cookie"), None);
    // An unknown value is balanced and replaced.
    let r = get(port, "/", &cookie_line("SRV=zzz")).unwrap();
    assert_eq!(set_cookies(&r).len(), 1);
    // Log: no cookie + inserted, valid + nothing, invalid + inserted.
    lb.expect_line(r" --NI \d", Duration::from_secs(5));
    lb.expect_line(r" --VN \d", Duration::from_secs(5));
    lb.expect_line(r" --II \d", Duration::from_secs(5));
}

#[test]
fn insert_without_indirect_passes_the_cookie_and_postonly_waits_for_post() {
    let s1 = HttpBackend::echo("s1");
    let port = free_port();
    let _lb = Lb::start(&config(
        port,
        &format!(
            "    cookie SRV insert postonly httponly secure domain .example.com attr SameSite=Lax\n    \
             server s1 {} cookie one\n",
            s1.addr()
        ),
    ));
    let r = get(port, "/", "").unwrap();
    assert!(set_cookies(&r).is_empty(), "postonly: no cookie on GET");
    let r = lb_tests::http::request(
        port,
        b"POST /login HTTP/1.1\r\nhost: test\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok",
    )
    .unwrap();
    assert_eq!(
        set_cookies(&r),
        ["SRV=one; path=/; domain=.example.com; HttpOnly; Secure; SameSite=Lax"]
    );
    get(port, "/", &cookie_line("SRV=one; x=y")).unwrap();
    assert_eq!(last_request(&s1).header("cookie"), Some("SRV=one; x=y"));
}

#[test]
fn shared_cookie_value_goes_to_the_first_server_up() {
    let (s1, s2, s3) = (
        HttpBackend::echo("s1"),
        HttpBackend::echo("s2"),
        HttpBackend::echo("s3"),
    );
    let port = free_port();
    let _lb = Lb::start(&config(
        port,
        &format!(
            "    cookie SRV insert indirect\n    server s1 {} cookie grp\n    \
             server s2 {} cookie grp\n    server s3 {} cookie other\n",
            s1.addr(),
            s2.addr(),
            s3.addr()
        ),
    ));
    for _ in 0..4 {
        let r = get(port, "/", &cookie_line("SRV=grp")).unwrap();
        assert_eq!(server(&r), "s1");
        let r = get(port, "/", &cookie_line("SRV=other")).unwrap();
        assert_eq!(server(&r), "s3");
    }
}

#[test]
fn a_cookie_for_a_down_server_is_redispatched_and_replaced() {
    let s1 = HttpBackend::echo("s1");
    let dead = free_port();
    let port = free_port();
    let lb = Lb::start(&config(
        port,
        &format!(
            "    cookie SRV insert indirect\n    \
             server s1 {} cookie a\n    \
             server s2 127.0.0.1:{dead} cookie b check inter 100ms fall 1 rise 1\n",
            s1.addr()
        ),
    ));
    assert!(lb_tests::wait_until(Duration::from_secs(5), || {
        lb.output().stdout().contains("s2") || lb.output().stderr().contains("s2")
    }));
    std::thread::sleep(Duration::from_millis(300));
    let r = get(port, "/", &cookie_line("SRV=b")).unwrap();
    assert_eq!(server(&r), "s1");
    assert_eq!(set_cookies(&r), ["SRV=a; path=/"]);
    lb.expect_line(r" --DI \d", Duration::from_secs(5));
}

#[test]
fn option_persist_keeps_a_down_servers_clients_and_redispatch_saves_them() {
    let s1 = HttpBackend::echo("s1");
    let dead = free_port();
    let port = free_port();
    let lb = Lb::start(&config(
        port,
        &format!(
            "    cookie SRV insert indirect\n    option persist\n    option redispatch\n    \
             retries 1\n    \
             server s1 {} cookie a\n    \
             server s2 127.0.0.1:{dead} cookie b check inter 100ms fall 1 rise 1\n",
            s1.addr()
        ),
    ));
    std::thread::sleep(Duration::from_millis(800));
    // Sent to s2 first (down, refused), then redispatched to s1, which inserts its cookie.
    let r = get(port, "/", &cookie_line("SRV=b")).unwrap();
    assert_eq!(server(&r), "s1");
    assert_eq!(set_cookies(&r), ["SRV=a; path=/"]);
    lb.expect_line(r" --DI \d+/\d+/\d+/\d+/\+1 ", Duration::from_secs(5));
}

#[test]
fn ignore_persist_and_force_persist() {
    let (s1, s2) = (HttpBackend::echo("s1"), HttpBackend::echo("s2"));
    let port = free_port();
    let lb = Lb::start(&config(
        port,
        &format!(
            "    balance roundrobin\n    cookie SRV insert\n    \
             acl static path_beg /static\n    ignore-persist if static\n    \
             server s1 {} cookie a\n    server s2 {} cookie b\n",
            s1.addr(),
            s2.addr()
        ),
    ));
    let mut seen = Vec::new();
    for _ in 0..4 {
        let r = get(port, "/static/x.png", &cookie_line("SRV=a")).unwrap();
        assert!(set_cookies(&r).is_empty(), "ignore-persist inserts nothing");
        seen.push(server(&r).to_owned());
    }
    assert!(
        seen.iter().any(|s| s == "s2"),
        "the cookie was ignored: {seen:?}"
    );
    lb.expect_line(r" --UN \d", Duration::from_secs(5));
}

#[test]
fn prefix_mode_prefixes_server_cookies_and_strips_requests() {
    let s1 = HttpBackend::with(
        "s1",
        Arc::new(|req: &Request| {
            let seen = req.header("cookie").unwrap_or("").to_owned();
            Response::new(200, &seen)
                .header("x-server", "s1")
                .header("set-cookie", "JSESSIONID=abc123; Path=/app")
        }),
    );
    let port = free_port();
    let _lb = Lb::start(&config(
        port,
        &format!(
            "    cookie JSESSIONID prefix\n    server s1 {} cookie s1\n",
            s1.addr()
        ),
    ));
    let r = get(port, "/", "").unwrap();
    assert_eq!(set_cookies(&r), ["JSESSIONID=s1~abc123; Path=/app"]);
    let r = get(port, "/", &cookie_line("JSESSIONID=s1~abc123; lang=fr")).unwrap();
    assert_eq!(r.text(), "JSESSIONID=abc123; lang=fr");
}

#[test]
fn rewrite_mode_replaces_the_servers_value() {
    let s1 = HttpBackend::with(
        "s1",
        Arc::new(|_: &Request| {
            Response::new(200, "ok")
                .header("x-server", "s1")
                .header("set-cookie", "SRV=to-be-replaced; Max-Age=60")
                .header("set-cookie", "other=1")
        }),
    );
    let port = free_port();
    let lb = Lb::start(&config(
        port,
        &format!(
            "    cookie SRV rewrite\n    server s1 {} cookie srv-one\n",
            s1.addr()
        ),
    ));
    let r = get(port, "/", "").unwrap();
    assert_eq!(set_cookies(&r), ["SRV=srv-one; Max-Age=60", "other=1"]);
    lb.expect_line(r" --NR \d", Duration::from_secs(5));
}

#[test]
fn maxidle_cookies_carry_dates_and_expire() {
    let s1 = HttpBackend::echo("s1");
    let port = free_port();
    let lb = Lb::start(&config(
        port,
        &format!(
            "    cookie SRV insert indirect maxidle 30m maxlife 8h\n    server s1 {} cookie a\n",
            s1.addr()
        ),
    ));
    let r = get(port, "/", "").unwrap();
    let c = set_cookies(&r);
    let re = regex::Regex::new(r"^SRV=a\|([A-Za-z0-9+/]{5})\|([A-Za-z0-9+/]{5}); path=/$").unwrap();
    let caps = re.captures(c[0]).unwrap_or_else(|| panic!("{c:?}"));
    assert_eq!(&caps[1], &caps[2], "first visit: both dates are now");
    // A cookie without dates is accepted and dated ("updated").
    let r = get(port, "/", &cookie_line("SRV=a")).unwrap();
    assert!(re.is_match(set_cookies(&r)[0]));
    lb.expect_line(r" --VU \d", Duration::from_secs(5));
    // A date from 1970 is expired: the cookie is ignored and a new one inserted.
    let r = get(port, "/", &cookie_line("SRV=a|AAAAB|AAAAB")).unwrap();
    assert!(re.is_match(set_cookies(&r)[0]));
    lb.expect_line(r" --OI \d", Duration::from_secs(5));
}

#[test]
fn dynamic_cookies_derive_from_the_key_address_and_port() {
    let (s1, s2) = (HttpBackend::echo("s1"), HttpBackend::echo("s2"));
    let port = free_port();
    let _lb = Lb::start(&config(
        port,
        &format!(
            "    balance roundrobin\n    cookie SRV insert indirect dynamic\n    \
             dynamic-cookie-key s3cr3t\n    server s1 {}\n    server s2 {}\n",
            s1.addr(),
            s2.addr()
        ),
    ));
    for _ in 0..2 {
        let r = get(port, "/", "").unwrap();
        let b = if server(&r) == "s1" { &s1 } else { &s2 };
        let want = lb::http::cookie::dynamic_cookie("s3cr3t", b.addr().ip(), b.addr().port());
        assert_eq!(set_cookies(&r), [format!("SRV={want}; path=/")]);
        let again = get(port, "/", &cookie_line(&format!("SRV={want}"))).unwrap();
        assert_eq!(server(&again), server(&r));
    }
}

#[test]
fn stick_on_a_cookie_learned_from_the_response() {
    let mk = |name: &'static str| {
        HttpBackend::with(
            name,
            Arc::new(move |req: &Request| {
                let mut r = Response::new(200, "ok").header("x-server", name);
                if req.header("cookie").is_none() {
                    r = r.header("set-cookie", &format!("JSESSIONID={name}-session; path=/"));
                }
                r
            }),
        )
    };
    let (s1, s2) = (mk("s1"), mk("s2"));
    let port = free_port();
    let _lb = Lb::start(&config(
        port,
        &format!(
            "    balance roundrobin\n    stick-table type string len 32 size 1k expire 1m\n    \
             stick on req.cook(JSESSIONID)\n    stick store-response res.cook(JSESSIONID)\n    \
             server s1 {}\n    server s2 {}\n",
            s1.addr(),
            s2.addr()
        ),
    ));
    let r = get(port, "/", "").unwrap();
    let who = server(&r).to_owned();
    let session = format!("{who}-session");
    for _ in 0..4 {
        let r = get(port, "/", &cookie_line(&format!("JSESSIONID={session}"))).unwrap();
        assert_eq!(server(&r), who, "the stored session sticks");
    }
}
