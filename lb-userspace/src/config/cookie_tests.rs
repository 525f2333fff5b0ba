use crate::config::compression::CompAlgo;
use crate::config::cookie::{CookieMode, PersistRuleKind};
use crate::config::tests::{error, errors, parse};

#[test]
fn cookie_line_and_servers() {
    let c = parse(&[
        "defaults",
        "    mode http",
        "    cookie OLD rewrite",
        "backend be",
        "    cookie SRV insert indirect nocache postonly httponly secure domain .a.com domain b.org maxidle 30m maxlife 8h attr SameSite=Lax",
        "    option persist",
        "    acl admin src 10.0.0.0/8",
        "    force-persist if admin",
        "    ignore-persist unless admin",
        "    server s1 127.0.0.1:8001 cookie a",
        "    server s2 127.0.0.1:8002 cookie a non-stick",
        "    server s3 127.0.0.1:8003",
    ]);
    let be = &c.backends[0];
    let ck = be.persist.cookie.as_ref().unwrap();
    assert_eq!(ck.name, "SRV");
    assert_eq!(ck.mode, CookieMode::Insert);
    assert!(ck.indirect && ck.nocache && ck.postonly && ck.httponly && ck.secure);
    assert!(!ck.preserve && !ck.dynamic);
    assert_eq!(ck.domains, [".a.com", "b.org"]);
    assert_eq!((ck.maxidle, ck.maxlife), (1800, 28800));
    assert_eq!(ck.attrs, ["SameSite=Lax"]);
    assert!(be.persist.option_persist);
    let kinds: Vec<_> = be.persist.rules.iter().map(|r| r.kind).collect();
    assert_eq!(kinds, [PersistRuleKind::Force, PersistRuleKind::Ignore]);
    let cookies: Vec<_> = be.servers.iter().map(|s| s.cookie.as_deref()).collect();
    assert_eq!(cookies, [Some("a"), Some("a"), None]);
    let non_stick: Vec<_> = be.servers.iter().map(|s| s.non_stick).collect();
    assert_eq!(non_stick, [false, true, false]);
}

#[test]
fn defaults_cookie_is_inherited_and_replaced() {
    let c = parse(&[
        "defaults",
        "    mode http",
        "    cookie SRV prefix",
        "backend a",
        "    server s1 127.0.0.1:8001",
        "backend b",
        "    cookie JSESSIONID rewrite",
        "    server s1 127.0.0.1:8001",
    ]);
    let mode = |i: usize| {
        let ck = c.backends[i].persist.cookie.as_ref().unwrap();
        (ck.name.clone(), ck.mode)
    };
    assert_eq!(mode(0), ("SRV".into(), CookieMode::Prefix));
    assert_eq!(mode(1), ("JSESSIONID".into(), CookieMode::Rewrite));
}

#[test]
fn dynamic_cookies_are_derived_from_the_key() {
    let c = parse(&[
        "backend be",
        "    mode http",
        "    cookie SRV insert dynamic",
        "    dynamic-cookie-key secret",
        "    server s1 127.0.0.1:8001",
        "    server s2 127.0.0.1:8002 cookie fixed",
    ]);
    let s = &c.backends[0].servers;
    let dynamic = s[0].cookie.as_deref().unwrap();
    assert_eq!(dynamic.len(), 16);
    assert!(dynamic.bytes().all(|b| b.is_ascii_hexdigit()));
    assert_eq!(
        dynamic,
        crate::http::cookie::dynamic_cookie("secret", "127.0.0.1".parse().unwrap(), 8001)
    );
    assert_eq!(s[1].cookie.as_deref(), Some("fixed"));
}

#[test]
fn cookie_errors() {
    let cases: &[(&[&str], &str)] = &[
        (
            &["backend be", "    cookie"],
            "'cookie' expects <cookie_name> as argument",
        ),
        (
            &["backend be", "    cookie S insert rewrite"],
            "modes are incompatible",
        ),
        (
            &["backend be", "    cookie S rewrite indirect"],
            "'rewrite' and 'indirect' modes are incompatible",
        ),
        (
            &["backend be", "    cookie S preserve"],
            "'preserve' requires at least 'insert' or 'indirect'",
        ),
        (
            &["backend be", "    cookie S insert bogus"],
            "supports 'rewrite', 'insert'",
        ),
        (
            &["backend be", "    cookie S insert domain"],
            "'domain' expects <domain> as argument",
        ),
        (
            &["backend be", "    cookie S insert domain a/b.c"],
            "character '/' is not permitted in domain name",
        ),
        (&["backend be", "    cookie S insert maxidle xx"], "maxidle"),
        (
            &["backend be", "    cookie S insert attr a;b"],
            "is not permitted in attribute value",
        ),
        (
            &["frontend fe", "    bind 127.0.0.1:1", "    cookie S insert"],
            "not allowed in 'frontend' section",
        ),
        (
            &["backend be", "    force-persist"],
            "requires either 'if' or 'unless'",
        ),
        (
            &["defaults", "    ignore-persist if TRUE"],
            "not allowed in 'defaults' section",
        ),
        (
            &["defaults", "    capture cookie X len 10"],
            "not allowed in 'defaults' section",
        ),
        (
            &[
                "frontend fe",
                "    bind 127.0.0.1:1",
                "    capture cookie X",
            ],
            "expects",
        ),
        (
            &["backend be", "    server s 127.0.0.1:1 cookie"],
            "'cookie' expects <value> as argument",
        ),
    ];
    for (lines, expected) in cases {
        let (_, msg) = error(lines);
        assert!(msg.contains(expected), "{lines:?}: {msg}");
    }
}

#[test]
fn compression_lines() {
    let c = parse(&[
        "defaults",
        "    mode http",
        "    compression algo gzip",
        "    compression offload",
        "frontend fe",
        "    bind 127.0.0.1:1",
        "    compression algo deflate br gzip",
        "    compression type text/html Text/Plain",
        "    compression offload",
        "    default_backend be",
        "backend be",
        "    server s 127.0.0.1:2",
    ]);
    let fe = c.frontends[0].compression.as_ref().unwrap();
    assert_eq!(
        fe.algos,
        [CompAlgo::Gzip, CompAlgo::Deflate, CompAlgo::Brotli]
    );
    assert_eq!(fe.types, ["text/html", "text/plain"]);
    assert!(fe.offload);
    let be = c.backends[0].compression.as_ref().unwrap();
    assert_eq!(be.algos, [CompAlgo::Gzip]);
    assert!(!be.offload, "offload is ignored in defaults");
    let (_, msg) = error(&["backend be", "    compression algo lz4"]);
    assert!(msg.contains("'lz4' is not a supported algorithm"), "{msg}");
    let (_, msg) = error(&["backend be", "    compression"]);
    assert!(msg.contains("'algo', 'type' or 'offload'"), "{msg}");
}

#[test]
fn log_settings() {
    let c = parse(&[
        "defaults",
        "    mode http",
        "    option httplog",
        "    option dontlognull",
        "frontend a",
        "    bind 127.0.0.1:1",
        "    capture cookie SESS len 200",
        "    unique-id-format %{+X}o\\ %ci:%cp_%fi:%fp_%Ts_%rt:%pid",
        "    unique-id-header X-Unique-ID",
        "    default_backend be",
        "frontend b",
        "    bind 127.0.0.1:2",
        "    option httplog clf",
        "    no option dontlognull",
        "    option log-separate-errors",
        "    default_backend be",
        "frontend c",
        "    bind 127.0.0.1:3",
        "    log-format \"%ci %HM %HU %ST\"",
        "    default_backend be",
        "frontend d",
        "    mode tcp",
        "    bind 127.0.0.1:4",
        "    default_backend t",
        "backend be",
        "    server s 127.0.0.1:2",
        "backend t",
        "    mode tcp",
        "    server s 127.0.0.1:2",
    ]);
    let a = &c.frontends[0].http_log;
    assert!(a.format.is_some() && !a.clf && a.dontlognull && !a.log_separate_errors);
    assert_eq!(
        a.capture_cookie.as_ref().map(|c| (c.name.as_str(), c.len)),
        Some(("SESS", 63))
    );
    assert!(a.unique_id_format.is_some());
    assert_eq!(a.unique_id_header.as_deref(), Some("X-Unique-ID"));
    let b = &c.frontends[1].http_log;
    assert!(b.clf && !b.dontlognull && b.log_separate_errors);
    assert!(c.frontends[2].http_log.format.is_some());
    // `option httplog` inherited by a TCP frontend falls back to tcplog.
    assert!(c.frontends[3].http_log.format.is_none());
    assert!(c.frontends[3].tcplog);
    let (_, msg) = error(&[
        "frontend fe",
        "    bind 127.0.0.1:1",
        "    log-format %HM",
        "    default_backend be",
        "backend be",
        "    server s 127.0.0.1:2",
    ]);
    assert!(msg.contains("not supported yet"), "{msg}");
    let all = errors(&[
        "defaults",
        "    mode http",
        "    log-format %HM",
        "frontend fe",
        "    mode tcp",
        "    bind 127.0.0.1:1",
        "    option httplog",
        "    log-format %HM",
        "    mode http",
        "    default_backend be",
        "backend be",
        "    server s 127.0.0.1:2",
        "frontend tcp",
        "    bind 127.0.0.1:3",
        "    mode tcp",
        "    unique-id-format %HM",
        "    default_backend be",
    ]);
    // The TCP frontend inherits the log-format; its unique id uses an HTTP variable.
    assert_eq!(all.len(), 2, "{all:?}");
    assert!(all[0].1.contains("log-format (in TCP mode)"), "{all:?}");
    assert!(all[1].1.contains("reserved for HTTP mode"), "{all:?}");
}

#[test]
fn dynamic_cookie_matches_haproxy() {
    // haproxy 2.6.12: `cookie SRV insert dynamic`, `dynamic-cookie-key secret`,
    // `server s1 127.0.0.1:18081` answered `Set-Cookie: SRV=2a094aea8f55acb2; path=/`.
    assert_eq!(
        crate::http::cookie::dynamic_cookie("secret", "127.0.0.1".parse().unwrap(), 18081),
        "2a094aea8f55acb2"
    );
}
