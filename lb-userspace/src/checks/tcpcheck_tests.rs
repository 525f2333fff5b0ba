//! Unit tests of the check programs and the sans-I/O runner.

use super::*;
use crate::config::model::{HttpCheck, HttpExpect, HttpExpectMatch};

fn string(s: &str) -> TcpExpectPattern {
    TcpExpectPattern::String(s.as_bytes().to_vec())
}

fn expect(inverted: bool, pattern: TcpExpectPattern) -> TcpCheckRule {
    TcpCheckRule::Expect { inverted, pattern }
}

fn send(s: &str) -> TcpCheckRule {
    TcpCheckRule::Send(s.as_bytes().to_vec())
}

fn script(rules: Vec<TcpCheckRule>) -> Program {
    Program::compile(&CheckKind::TcpScript(rules)).unwrap()
}

fn done(action: Action<'_>) -> CheckResult {
    match action {
        Action::Done(r) => r,
        other => panic!("expected Done, got {other:?}"),
    }
}

/// Expects a connect, reports it established.
fn connect(r: &mut Runner<'_>) {
    assert!(matches!(r.next_action(), Action::Connect { .. }));
    r.connected();
}

/// Expects a send of `want`, reports it written.
fn sends(r: &mut Runner<'_>, want: &str) {
    match r.next_action() {
        Action::Send(data) => assert_eq!(data, want.as_bytes()),
        other => panic!("expected Send, got {other:?}"),
    }
    r.sent();
}

/// Expects a read, feeds `data`.
fn reads(r: &mut Runner<'_>, data: &[u8]) {
    assert!(matches!(r.next_action(), Action::Recv { .. }));
    r.received(data);
}

#[test]
fn string_expect_waits_then_passes() {
    let rule = TcpExpectRule::compile(false, &string("+PONG")).unwrap();
    assert_eq!(rule.evaluate(b"+PO", false, 2), Verdict::NeedMore);
    assert_eq!(rule.evaluate(b"-ERR x", false, 2), Verdict::NeedMore);
    assert_eq!(
        rule.evaluate(b"xx+PONG\r\n", false, 2),
        Verdict::Pass { code: 0 }
    );
}

#[test]
fn string_expect_fails_on_last_read_with_haproxy_message() {
    let rule = TcpExpectRule::compile(false, &string("+PONG")).unwrap();
    let Verdict::Fail(r) = rule.evaluate(b"-ERR", true, 3) else {
        panic!()
    };
    assert_eq!(r.status, CheckStatus::L7Rsp);
    assert_eq!(r.info, "TCPCHK did not match content '+PONG' at step 3");
}

#[test]
fn inverted_expect() {
    let rule = TcpExpectRule::compile(true, &string("ERR")).unwrap();
    let Verdict::Fail(r) = rule.evaluate(b"-ERR boom", false, 2) else {
        panic!()
    };
    assert_eq!(r.info, "TCPCHK matched unwanted content 'ERR' at step 2");
    // Like HAProxy, a non-match waits for more data until the last read.
    assert_eq!(rule.evaluate(b"+OK", false, 2), Verdict::NeedMore);
    assert_eq!(rule.evaluate(b"+OK", true, 2), Verdict::Pass { code: 0 });
}

#[test]
fn binary_and_regex_expects() {
    let bin = TcpExpectRule::compile(false, &TcpExpectPattern::Binary(vec![0, 0xff])).unwrap();
    assert_eq!(
        bin.evaluate(b"a\x00\xffb", false, 1),
        Verdict::Pass { code: 0 }
    );
    let Verdict::Fail(r) = bin.evaluate(b"nope", true, 1) else {
        panic!()
    };
    assert_eq!(r.info, "TCPCHK did not match content (binary) at step 1");
    assert_eq!(bin.describe(), " (expect binary '00FF')");

    let re =
        TcpExpectRule::compile(false, &TcpExpectPattern::RString("^\\+OK [0-9]+".into())).unwrap();
    assert_eq!(
        re.evaluate(b"+OK 42\r\n", false, 4),
        Verdict::Pass { code: 0 }
    );
    let Verdict::Fail(r) = re.evaluate(b"+OK x", true, 4) else {
        panic!()
    };
    assert_eq!(r.info, "TCPCHK did not match content (regex) at step 4");
    assert!(TcpExpectRule::compile(false, &TcpExpectPattern::RString("(".into())).is_err());
}

#[test]
fn full_buffer_counts_as_last_read() {
    let rule = TcpExpectRule::compile(false, &string("never")).unwrap();
    let big = vec![b'x'; CHECK_BUFSIZE];
    assert!(matches!(rule.evaluate(&big, false, 1), Verdict::Fail(_)));
}

#[test]
fn script_without_connect_gets_an_implicit_one() {
    let p = script(vec![send("PING\r\n"), expect(false, string("+PONG"))]);
    assert_eq!(p.flavor, Flavor::TcpCheck);
    let ids: Vec<usize> = p.steps.iter().map(|s| s.id).collect();
    assert_eq!(ids, [0, 1, 2]);
    assert!(matches!(
        p.steps[0].kind,
        StepKind::Connect { implicit: true, .. }
    ));
    let explicit = script(vec![TcpCheckRule::Connect {
        port: Some(6379),
        addr: None,
        default: false,
        send_proxy: false,
    }]);
    assert_eq!(explicit.steps.len(), 1);
    assert_eq!(
        explicit.connects().collect::<Vec<_>>(),
        [(None, Some(6379))]
    );
}

#[test]
fn plain_check_is_connect_only() {
    let p = Program::compile(&CheckKind::Tcp).unwrap();
    let mut r = Runner::new(&p);
    connect(&mut r);
    let res = done(r.next_action());
    assert_eq!((res.status, res.info.as_str()), (CheckStatus::L4Ok, ""));
}

#[test]
fn plain_connect_refused_has_bare_strerror() {
    let p = Program::compile(&CheckKind::Tcp).unwrap();
    let mut r = Runner::new(&p);
    assert!(matches!(r.next_action(), Action::Connect { .. }));
    r.failed(&std::io::Error::from_raw_os_error(libc::ECONNREFUSED));
    let res = done(r.next_action());
    assert_eq!(res.status, CheckStatus::L4Con);
    assert_eq!(res.info, "Connection refused");
}

#[test]
fn plain_connect_timeout_has_no_info() {
    let p = Program::compile(&CheckKind::Tcp).unwrap();
    let mut r = Runner::new(&p);
    let _ = r.next_action();
    assert!(r.is_connecting());
    r.timed_out();
    let res = done(r.next_action());
    assert_eq!((res.status, res.info.as_str()), (CheckStatus::L4Tout, ""));
}

#[test]
fn tcp_check_success_is_layer7_tcp_check() {
    let p = script(vec![send("PING\r\n"), expect(false, string("+PONG"))]);
    let mut r = Runner::new(&p);
    connect(&mut r);
    sends(&mut r, "PING\r\n");
    reads(&mut r, b"+PO");
    reads(&mut r, b"NG\r\n");
    let res = done(r.next_action());
    assert_eq!(res.status, CheckStatus::L7Ok);
    assert_eq!(res.code, 0);
    assert_eq!(res.info, "(tcp-check)");
}

#[test]
fn tcp_check_connect_only_wording() {
    let implicit = script(vec![]);
    let mut r = Runner::new(&implicit);
    connect(&mut r);
    assert_eq!(done(r.next_action()).info, "");
    let explicit = script(vec![TcpCheckRule::Connect {
        port: None,
        addr: None,
        default: false,
        send_proxy: false,
    }]);
    let mut r = Runner::new(&explicit);
    connect(&mut r);
    let res = done(r.next_action());
    assert_eq!(
        (res.status, res.info.as_str()),
        (CheckStatus::L4Ok, "(tcp-check)")
    );
}

#[test]
fn tcp_check_refused_mentions_initial_step() {
    let p = script(vec![send("x")]);
    let mut r = Runner::new(&p);
    let _ = r.next_action();
    r.failed(&std::io::Error::from_raw_os_error(libc::ECONNREFUSED));
    assert_eq!(
        done(r.next_action()).info,
        "Connection refused at initial connection step of tcp-check"
    );
    let mut r = Runner::new(&p);
    let _ = r.next_action();
    r.timed_out();
    let res = done(r.next_action());
    assert_eq!(res.status, CheckStatus::L4Tout);
    assert_eq!(res.info, " at initial connection step of tcp-check");
}

#[test]
fn tcp_check_second_connect_failure_names_the_step() {
    let p = script(vec![
        TcpCheckRule::Connect {
            port: None,
            addr: None,
            default: false,
            send_proxy: false,
        },
        TcpCheckRule::Connect {
            port: Some(8080),
            addr: None,
            default: false,
            send_proxy: false,
        },
    ]);
    let mut r = Runner::new(&p);
    connect(&mut r);
    match r.next_action() {
        Action::Connect { port, .. } => assert_eq!(port, Some(8080)),
        other => panic!("{other:?}"),
    }
    r.failed(&std::io::Error::from_raw_os_error(libc::ECONNREFUSED));
    assert_eq!(
        done(r.next_action()).info,
        "Connection refused at step 2 of tcp-check (connect port 8080)"
    );
}

#[test]
fn tcp_check_timeout_while_expecting() {
    let p = script(vec![send("PING\r\n"), expect(false, string("+PONG"))]);
    let mut r = Runner::new(&p);
    connect(&mut r);
    sends(&mut r, "PING\r\n");
    assert!(matches!(r.next_action(), Action::Recv { .. }));
    r.timed_out();
    let res = done(r.next_action());
    assert_eq!(res.status, CheckStatus::L7Tout);
    assert_eq!(res.info, " at step 2 of tcp-check (expect string '+PONG')");
}

#[test]
fn empty_response_and_reset() {
    let p = script(vec![send("PING\r\n"), expect(false, string("+PONG"))]);
    let mut r = Runner::new(&p);
    connect(&mut r);
    sends(&mut r, "PING\r\n");
    reads(&mut r, b"");
    let res = done(r.next_action());
    assert_eq!(res.status, CheckStatus::L7Rsp);
    assert_eq!(res.info, "TCPCHK got an empty response at step 2");

    let mut r = Runner::new(&p);
    connect(&mut r);
    sends(&mut r, "PING\r\n");
    assert!(matches!(r.next_action(), Action::Recv { .. }));
    r.failed(&std::io::Error::from_raw_os_error(libc::ECONNRESET));
    let res = done(r.next_action());
    assert_eq!(res.status, CheckStatus::SockErr);
    assert_eq!(
        res.info,
        "Connection reset by peer at step 2 of tcp-check (expect string '+PONG')"
    );
}

#[test]
fn reset_after_data_lets_the_rule_judge() {
    let p = script(vec![expect(false, string("220"))]);
    let mut r = Runner::new(&p);
    connect(&mut r);
    reads(&mut r, b"220 ready");
    // Already matched: no error reaches the verdict.
    assert_eq!(done(r.next_action()).status, CheckStatus::L7Ok);

    let p = script(vec![expect(false, string("220 ready"))]);
    let mut r = Runner::new(&p);
    connect(&mut r);
    reads(&mut r, b"220 rea");
    assert!(matches!(r.next_action(), Action::Recv { .. }));
    r.failed(&std::io::Error::from_raw_os_error(libc::ECONNRESET));
    let res = done(r.next_action());
    assert_eq!(
        res.info,
        "TCPCHK did not match content '220 ready' at step 1"
    );
}

#[test]
fn consecutive_expects_share_the_buffer_and_send_clears_it() {
    let p = script(vec![
        expect(false, string("hello")),
        expect(false, string("world")),
        send("x\n"),
        expect(true, string("hello")),
    ]);
    let mut r = Runner::new(&p);
    connect(&mut r);
    reads(&mut r, b"hello world\n");
    // The second expect matches the same bytes without reading.
    sends(&mut r, "x\n");
    reads(&mut r, b"ok\n");
    reads(&mut r, b"");
    let res = done(r.next_action());
    assert_eq!(
        (res.status, res.info.as_str()),
        (CheckStatus::L7Ok, "(tcp-check)")
    );
}

#[test]
fn http_program_runs_request_then_expect() {
    let hc = HttpCheck {
        method: "GET".into(),
        uri: "/health".into(),
        version: "HTTP/1.1".into(),
        expect: Some(HttpExpect {
            inverted: false,
            matcher: HttpExpectMatch::Status(vec![(200, 200)]),
        }),
        ..HttpCheck::default()
    };
    let p = Program::compile(&CheckKind::Http(hc)).unwrap();
    assert_eq!(p.flavor, Flavor::Http);
    let mut r = Runner::new(&p);
    connect(&mut r);
    sends(&mut r, "GET /health HTTP/1.1\r\nconnection: close\r\n\r\n");
    reads(&mut r, b"HTTP/1.1 200 OK\r\n");
    reads(&mut r, b"Content-Length: 0\r\n\r\n");
    let res = done(r.next_action());
    assert_eq!(
        (res.status, res.code, res.info.as_str()),
        (CheckStatus::L7Ok, 200, "")
    );

    let mut r = Runner::new(&p);
    connect(&mut r);
    sends(&mut r, "GET /health HTTP/1.1\r\nconnection: close\r\n\r\n");
    reads(&mut r, b"");
    assert_eq!(
        done(r.next_action()).info,
        "TCPCHK got an empty response at step 1"
    );
}

#[test]
fn http_errors_have_no_tcp_check_suffix() {
    let p = Program::compile(&CheckKind::Http(HttpCheck::default())).unwrap();
    let mut r = Runner::new(&p);
    connect(&mut r);
    sends(&mut r, "OPTIONS / HTTP/1.0\r\n\r\n");
    assert!(matches!(r.next_action(), Action::Recv { .. }));
    r.timed_out();
    let res = done(r.next_action());
    assert_eq!((res.status, res.info.as_str()), (CheckStatus::L7Tout, ""));
}

#[test]
fn bad_http_regex_fails_compilation() {
    let hc = HttpCheck {
        expect: Some(HttpExpect {
            inverted: false,
            matcher: HttpExpectMatch::RStatus("[".into()),
        }),
        ..HttpCheck::default()
    };
    assert!(Program::compile(&CheckKind::Http(hc)).is_err());
}
