use super::*;
use crate::config::model::Location;

fn line(n: usize, text: &str) -> Line {
    let loc = Location {
        file: "t.cfg".into(),
        line: n,
    };
    Line::new(loc, text.split_whitespace().map(str::to_owned).collect())
}

fn apply(draft: &mut CheckDraft, n: usize, text: &str) -> Result<(), String> {
    let l = line(n, text);
    let r = match (l.kw(), l.arg(1)) {
        ("option", Some("httpchk")) => draft.option_httpchk(&l),
        ("option", Some("tcp-check")) => draft.option_tcp_check(&l),
        ("http-check", _) => draft.http_check(&l),
        _ => draft.tcp_check(&l),
    };
    r.map_err(|e| e.to_string())
}

fn draft(lines: &[&str]) -> CheckDraft {
    let mut d = CheckDraft::default();
    for (n, l) in lines.iter().enumerate() {
        apply(&mut d, n + 1, l).unwrap();
    }
    d
}

fn http(lines: &[&str]) -> HttpCheck {
    match draft(lines).resolve() {
        Ok(CheckKind::Http(h)) => h,
        other => panic!("{other:?}"),
    }
}

#[test]
fn tcp_check_connect_proxy_options() {
    let d = draft(&[
        "option tcp-check",
        "tcp-check connect send-proxy port 25",
        "tcp-check connect default send-proxy",
    ]);
    let connect = |port, default| TcpCheckRule::Connect {
        port,
        addr: None,
        default,
        send_proxy: true,
    };
    assert_eq!(
        d.resolve(),
        Ok(CheckKind::TcpScript(vec![
            connect(Some(25), false),
            connect(None, true)
        ]))
    );
}

#[test]
fn plain_connect_by_default() {
    assert_eq!(CheckDraft::default().resolve(), Ok(CheckKind::Tcp));
}

#[test]
fn option_httpchk_forms() {
    let h = http(&["option httpchk"]);
    assert_eq!(
        (h.method.as_str(), h.uri.as_str(), h.version.as_str()),
        ("OPTIONS", "/", "HTTP/1.0")
    );
    let h = http(&["option httpchk /health"]);
    assert_eq!((h.method.as_str(), h.uri.as_str()), ("OPTIONS", "/health"));
    let h = http(&["option httpchk GET /health"]);
    assert_eq!((h.method.as_str(), h.uri.as_str()), ("GET", "/health"));
    let h = http(&["option httpchk HEAD /h HTTP/1.1"]);
    assert_eq!(h.version, "HTTP/1.1");
    let mut d = CheckDraft::default();
    let e = apply(&mut d, 1, "option httpchk A B C D").unwrap_err();
    assert_eq!(
        e,
        "parsing [t.cfg:1] : 'option httpchk' cannot handle unexpected argument 'D'"
    );
}

#[test]
fn http_check_send_and_expect() {
    let h = http(&[
        "option httpchk",
        "http-check send meth GET uri /ready ver HTTP/1.1 hdr Host example.com hdr X-A 1 body ping",
        "http-check expect status 200-299,304",
    ]);
    assert_eq!(
        (h.method.as_str(), h.uri.as_str(), h.version.as_str()),
        ("GET", "/ready", "HTTP/1.1")
    );
    assert_eq!(
        h.headers,
        [
            ("Host".to_owned(), "example.com".to_owned()),
            ("X-A".to_owned(), "1".to_owned())
        ]
    );
    assert_eq!(h.body.as_deref(), Some("ping"));
    let want = HttpExpect {
        inverted: false,
        matcher: HttpExpectMatch::Status(vec![(200, 299), (304, 304)]),
    };
    assert_eq!(h.expect, Some(want));
}

#[test]
fn http_expect_kinds() {
    let m = |l: &str| {
        http(&["option httpchk", l])
            .expect
            .map(|e| (e.inverted, e.matcher))
    };
    assert_eq!(
        m("http-check expect ! status 500"),
        Some((true, HttpExpectMatch::Status(vec![(500, 500)])))
    );
    assert_eq!(
        m("http-check expect rstatus ^2"),
        Some((false, HttpExpectMatch::RStatus("^2".into())))
    );
    assert_eq!(
        m("http-check expect string OK"),
        Some((false, HttpExpectMatch::String("OK".into())))
    );
    assert_eq!(
        m("http-check expect rstring ^up$"),
        Some((false, HttpExpectMatch::RString("^up$".into())))
    );
}

#[test]
fn http_check_errors() {
    let err = |l: &str| apply(&mut CheckDraft::default(), 3, l).unwrap_err();
    assert_eq!(
        err("http-check expect status 2000"),
        "parsing [t.cfg:3] : 'http-check expect' : invalid value '2000' : invalid status code '2000'"
    );
    assert_eq!(
        err("http-check expect status 300-200"),
        "parsing [t.cfg:3] : 'http-check expect' : invalid value '300-200' : invalid status range '300-200'"
    );
    assert!(err("http-check expect rstring (").contains("invalid regex"));
    assert_eq!(
        err("http-check expect status"),
        "parsing [t.cfg:3] : 'http-check expect status' expects a pattern"
    );
    assert_eq!(
        err("http-check expect hdr name x"),
        "parsing [t.cfg:3] : keyword 'http-check expect hdr' is not supported yet"
    );
    assert_eq!(
        err("http-check disable-on-404"),
        "parsing [t.cfg:3] : keyword 'http-check disable-on-404' is not supported yet"
    );
    assert!(err("http-check bogus").contains("invalid value 'bogus'"));
    let mut d = draft(&["option httpchk", "http-check expect status 200"]);
    let e = apply(&mut d, 9, "http-check expect status 204").unwrap_err();
    assert_eq!(
        e,
        "parsing [t.cfg:9] : keyword 'http-check expect (a second one)' is not supported yet (comes with http-check/tcp-check rule sequences); the first one is at t.cfg:2"
    );
}

#[test]
fn rules_need_their_option() {
    let d = draft(&["http-check expect status 200"]);
    let e = d.resolve().unwrap_err().to_string();
    assert_eq!(
        e,
        "parsing [t.cfg:1] : 'http-check' rules require 'option httpchk' in the same backend or its defaults"
    );
    let d = draft(&["option httpchk", "tcp-check send x"]);
    assert!(
        d.resolve()
            .unwrap_err()
            .to_string()
            .starts_with("parsing [t.cfg:2] : 'tcp-check' rules require")
    );
}

#[test]
fn own_rules_replace_inherited_ones() {
    let defaults = draft(&["option httpchk GET /", "http-check expect status 200"]);
    let mut backend = defaults.inherited();
    apply(&mut backend, 10, "http-check expect status 204").unwrap();
    let Ok(CheckKind::Http(h)) = backend.resolve() else {
        panic!()
    };
    assert_eq!(h.method, "GET");
    assert_eq!(
        h.expect.map(|e| e.matcher),
        Some(HttpExpectMatch::Status(vec![(204, 204)]))
    );
    // Without own rules, the inherited ones apply.
    let Ok(CheckKind::Http(h)) = defaults.inherited().resolve() else {
        panic!()
    };
    assert_eq!(
        h.expect.map(|e| e.matcher),
        Some(HttpExpectMatch::Status(vec![(200, 200)]))
    );
}

#[test]
fn tcp_check_script() {
    let d = draft(&[
        "option tcp-check",
        "tcp-check connect port 6379 addr 127.0.0.2",
        "tcp-check send PING\\r\\n",
        "tcp-check send-binary 0a0B",
        "tcp-check expect string +PONG",
        "tcp-check expect ! rstring ^-ERR",
        "tcp-check expect binary cafe",
        "tcp-check connect default",
    ]);
    let rules = vec![
        TcpCheckRule::Connect {
            port: Some(6379),
            addr: Some("127.0.0.2".parse().unwrap()),
            default: false,
            send_proxy: false,
        },
        TcpCheckRule::Send(b"PING\\r\\n".to_vec()),
        TcpCheckRule::Send(vec![0x0a, 0x0b]),
        TcpCheckRule::Expect {
            inverted: false,
            pattern: TcpExpectPattern::String(b"+PONG".to_vec()),
        },
        TcpCheckRule::Expect {
            inverted: true,
            pattern: TcpExpectPattern::RString("^-ERR".into()),
        },
        TcpCheckRule::Expect {
            inverted: false,
            pattern: TcpExpectPattern::Binary(vec![0xca, 0xfe]),
        },
        TcpCheckRule::Connect {
            port: None,
            addr: None,
            default: true,
            send_proxy: false,
        },
    ];
    assert_eq!(d.resolve(), Ok(CheckKind::TcpScript(rules)));
    assert_eq!(
        draft(&["option tcp-check"]).resolve(),
        Ok(CheckKind::TcpScript(vec![]))
    );
}

#[test]
fn tcp_check_errors() {
    let err = |l: &str| apply(&mut CheckDraft::default(), 1, l).unwrap_err();
    assert_eq!(
        err("tcp-check send-binary abc"),
        "parsing [t.cfg:1] : 'tcp-check send-binary' : invalid value 'abc' : expects an even, non-zero number of hexadecimal digits"
    );
    assert_eq!(
        err("tcp-check send-binary +f"),
        "parsing [t.cfg:1] : 'tcp-check send-binary' : invalid value '+f' : invalid hexadecimal digit '+'"
    );
    assert_eq!(
        err("tcp-check connect port 0"),
        "parsing [t.cfg:1] : 'tcp-check connect port' : invalid value '0' : invalid port '0'"
    );
    assert_eq!(
        err("tcp-check connect ssl"),
        "parsing [t.cfg:1] : keyword 'tcp-check connect ssl' is not supported yet (comes with SSL/TLS)"
    );
    assert_eq!(
        err("tcp-check expect min-recv 4 string x"),
        "parsing [t.cfg:1] : keyword 'tcp-check expect min-recv' is not supported yet (comes with http-check/tcp-check rule sequences)"
    );
    assert_eq!(
        err("tcp-check expect string"),
        "parsing [t.cfg:1] : 'tcp-check expect string' expects a pattern"
    );
    assert_eq!(
        err("tcp-check send a b"),
        "parsing [t.cfg:1] : 'tcp-check send' cannot handle unexpected argument 'b'"
    );
    assert_eq!(
        err("tcp-check"),
        "parsing [t.cfg:1] : 'tcp-check' expects 'connect', 'send', 'send-binary' or 'expect'"
    );
}
