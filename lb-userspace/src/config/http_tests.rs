//! Tests of the HTTP-mode proxy keywords.

use super::*;

#[test]
fn networks() {
    let n = Network::parse("10.0.0.0/8").unwrap();
    assert!(n.contains("10.2.3.4".parse().unwrap()));
    assert!(n.contains("::ffff:10.2.3.4".parse().unwrap()));
    assert!(!n.contains("11.0.0.1".parse().unwrap()));
    let m = Network::parse("192.168.0.0/255.255.0.0").unwrap();
    assert!(m.contains("192.168.9.9".parse().unwrap()));
    assert!(Network::parse("1.2.3.4/33").is_none());
    assert!(Network::parse("nope").is_none());
    assert!(
        Network::parse("::1")
            .unwrap()
            .contains("::1".parse().unwrap())
    );
}

#[test]
fn retry_on_sets() {
    let all = RetryOn::keyword("all-retryable-errors").unwrap();
    assert!(all.has(RetryOn::CONN_FAILURE) && all.has_status(503) && !all.has_status(404));
    assert!(RetryOn::keyword("404").unwrap().has_status(404));
    assert!(RetryOn::keyword("405").is_none());
    assert!(RetryOn::NONE.is_none() && !RetryOn::NONE.has(RetryOn::NONE));
}
fn parse(lines: &[&str]) -> Result<crate::config::model::Config, String> {
    crate::config::parse_str(&lines.join("\n"), std::path::Path::new("t.cfg"))
        .map_err(|e| e.to_string())
}

#[test]
fn keywords_parse_with_haproxy_defaults() {
    let c = parse(&[
        "defaults",
        "    mode http",
        "    timeout http-request 5s",
        "    timeout http-keep-alive 2s",
        "    option http-server-close",
        "frontend fe",
        "    bind :10000",
        "    option forwardfor except 10.0.0.0/8 header X-Real-IP if-none",
        "    monitor-uri /health",
        "    acl down nbsrv(be) lt 1",
        "    monitor fail if down",
        "    default_backend be",
        "backend be",
        "    no option http-server-close",
        "    option httpclose",
        "    option http-buffer-request",
        "    http-reuse always",
        "    retry-on 503 conn-failure",
        "    server s1 127.0.0.1:80 proto h2",
    ])
    .unwrap();
    let fe = &c.frontends[0];
    assert_eq!(fe.mode, Mode::Http);
    assert_eq!(
        fe.timeouts.http_request,
        Some(std::time::Duration::from_secs(5))
    );
    assert_eq!(fe.http.conn_mode, Some(ConnMode::ServerClose));
    let ff = fe.http.forwardfor.as_ref().unwrap();
    assert_eq!((ff.header.as_str(), ff.if_none), ("x-real-ip", true));
    assert_eq!(fe.http.monitor_uri.as_deref(), Some("/health"));
    assert!(fe.http.monitor_fail.is_some());
    let be = &c.backends[0];
    assert_eq!(be.http.conn_mode, Some(ConnMode::Close));
    assert!(be.http.buffer_request);
    assert_eq!(be.http.reuse, HttpReuse::Always);
    assert!(be.http.retry_on.has_status(503) && be.http.retry_on.has(RetryOn::CONN_FAILURE));
    assert!(be.servers[0].proto_h2);
    // Defaults of a plain backend.
    let c = parse(&["backend b", "    mode http", "    server s 127.0.0.1:80"]).unwrap();
    let b = &c.backends[0];
    assert_eq!(b.http.reuse, HttpReuse::Safe);
    assert_eq!(b.http.retry_on, RetryOn::CONN_FAILURE);
    assert!(!b.servers[0].proto_h2 && b.http.conn_mode.is_none());
}

#[test]
fn errors_have_haproxy_texts() {
    let err = |l: &[&str]| parse(l).unwrap_err();
    assert!(
        err(&["backend b", "    http-reuse bogus"])
            .contains("'http-reuse' only supports 'never', 'safe', 'aggressive', 'always'.")
    );
    assert!(err(&["backend b", "    retry-on foo"]).contains("'retry-on': unknown keyword 'foo'"));
    assert!(
        err(&["backend b", "    retry-on none 503"])
            .contains("'retry-on' 'none' keyworld only usable alone")
    );
    assert!(
        err(&["frontend f", "    bind :1", "    option forwardfor except"])
            .contains("'option forwardfor except' expects <address>[/mask] as argument.")
    );
    assert!(
        err(&["frontend f", "    bind :1", "    errorfile 999 /x"])
            .contains("errorfile : status code '999' not handled.")
    );
    assert!(
        err(&[
            "frontend f",
            "    bind :1",
            "    errorfile 503 /nonexistent/x"
        ])
        .contains("errorfile : error opening file '/nonexistent/x'.")
    );
    assert!(
        err(&["backend b", "    server s 127.0.0.1:1 proto h2"])
            .contains("MUX protocol 'h2' is not usable for server 's'")
    );
    assert!(
        err(&["backend b", "    server s 127.0.0.1:1 proto h3"])
            .contains("unknown MUX protocol 'h3'")
    );
    assert!(err(&["global", "    tune.http.maxhdr 0"]).contains("tune.http.maxhdr"));
    assert!(
        err(&[
            "frontend f",
            "    mode http",
            "    bind :1",
            "    default_backend t",
            "backend t",
            "    server s 127.0.0.1:1",
        ])
        .contains("tries to use incompatible tcp backend 't'")
    );
    // The reverse is allowed: the stream is upgraded.
    parse(&[
        "frontend f",
        "    bind :1",
        "    default_backend h",
        "backend h",
        "    mode http",
        "    server s 127.0.0.1:1",
    ])
    .unwrap();
}

#[test]
fn http_errors_sections_and_errorfiles() {
    let dir = std::env::temp_dir().join(format!("lb-errf-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let f503 = dir.join("503.http");
    let f404 = dir.join("404.http");
    std::fs::write(
        &f503,
        "HTTP/1.1 503 Busy\r\nContent-Type: text/plain\r\n\r\nbusy\n",
    )
    .unwrap();
    std::fs::write(&f404, "HTTP/1.1 404 Nope\r\n\r\nnope\n").unwrap();
    let c = parse(&[
        "http-errors site",
        &format!("    errorfile 503 {}", f503.display()),
        &format!("    errorfile 404 {}", f404.display()),
        "backend b",
        "    mode http",
        "    errorfiles site 503",
        "    server s 127.0.0.1:1",
        "backend c",
        "    mode http",
        "    errorfiles site",
        &format!("    errorfile 404 {}", f503.display()),
    ])
    .unwrap();
    let b = &c.backends[0].http;
    assert_eq!(b.errorfile(503).unwrap().status, 503);
    assert!(b.errorfile(404).is_none());
    let cc = &c.backends[1].http;
    // Its own errorfile wins over the section's.
    assert_eq!(&cc.errorfile(404).unwrap().body[..], b"busy\n");
    assert!(
        parse(&["backend b", "    mode http", "    errorfiles nope"])
            .unwrap_err()
            .contains("unknown http-errors section 'nope'")
    );
    std::fs::remove_dir_all(&dir).ok();
}
