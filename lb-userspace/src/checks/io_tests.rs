//! Checks against real servers on 127.0.0.1 (see `io_support` for the test server).

use std::io;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::io_support::*;
use super::*;
use crate::config::model::{
    CheckKind, HttpCheck, HttpExpect, HttpExpectMatch, ServerPort, TcpCheckRule, TcpExpectPattern,
    TrackRef,
};

#[test]
fn tcp_server_goes_down_when_closed_and_up_when_back() {
    let resp = Responder::start(0, Behavior::Accept);
    let port = resp.port();
    let backends = Arc::new(Backends::new(&[backend(
        "be",
        vec![server("srv1", port, 50)],
        CheckKind::Tcp,
    )]));
    let s = srv(&backends, 0, 0);
    let (handle, events) = spawn_collecting(&backends);
    // Checked and healthy: stays up, nothing to report.
    assert!(wait_for(LIMIT, || resp.conns.load(Ordering::SeqCst) >= 3).is_some());
    assert!(s.is_up());
    assert!(events.lock().unwrap().is_empty());
    let generation = backends.list[0].generation();

    drop(resp);
    let took = wait_for(LIMIT, || !s.is_up()).expect("goes down");
    // fall (2) x inter (50ms), plus scheduling slack on a busy machine.
    assert!(took < Duration::from_millis(1500), "down after {took:?}");
    assert!(backends.list[0].generation() > generation);
    let down = transition(&events, "srv1", false);
    assert_eq!(events.lock().unwrap().len(), 1);
    assert!(!down.up);
    assert!(down.backend_down);
    assert!(
        down.message.starts_with(
            "Server be/srv1 is DOWN, reason: Layer4 connection problem, info: \"Connection refused\", check duration: "
        ),
        "{}",
        down.message
    );
    assert!(down.message.ends_with(
        "ms. 0 active and 0 backup servers left. 0 sessions active, 0 requeued, 0 remaining in queue."
    ));

    let resp = Responder::start(port, Behavior::Accept);
    wait_for(LIMIT, || s.is_up()).expect("comes back");
    let up = transition(&events, "srv1", true).message;
    assert!(
        up.starts_with("Server be/srv1 is UP, reason: Layer4 check passed, check duration: "),
        "{up}"
    );
    assert!(up.ends_with(
        "ms. 1 active and 0 backup servers online. 0 sessions requeued, 0 total in queue."
    ));
    assert!(
        resp.conns.load(Ordering::SeqCst) >= 2,
        "rise = 2 checks passed"
    );
    handle.stop();
}

#[test]
fn stop_ends_all_checks() {
    let resp = Responder::start(0, Behavior::Accept);
    let backends = Arc::new(Backends::new(&[backend(
        "be",
        vec![server("a", resp.port(), 20)],
        CheckKind::Tcp,
    )]));
    let handle = spawn(Arc::clone(&backends)).unwrap();
    wait_for(LIMIT, || resp.conns.load(Ordering::SeqCst) >= 2).expect("checks run");
    handle.stop();
    // Let a connection made just before the stop reach the responder's accept().
    std::thread::sleep(Duration::from_millis(50));
    let after_stop = resp.conns.load(Ordering::SeqCst);
    std::thread::sleep(Duration::from_millis(150));
    assert_eq!(resp.conns.load(Ordering::SeqCst), after_stop);
}

fn http_check(method: &str, uri: &str, expect: Option<HttpExpect>) -> CheckKind {
    CheckKind::Http(HttpCheck {
        method: method.into(),
        uri: uri.into(),
        version: "HTTP/1.1".into(),
        headers: vec![("Host".into(), "app.local".into())],
        body: None,
        expect,
    })
}

/// Runs an HTTP check against a responder whose answer switches from `good` to `bad`;
/// returns the DOWN message.
fn http_flip(expect: Option<HttpExpect>, good: (&str, &str), bad: (&str, &str)) -> String {
    let state = Arc::new(Mutex::new((good.0.to_owned(), good.1.to_owned())));
    let resp = Responder::start(0, Behavior::Http(Arc::clone(&state)));
    let backends = Arc::new(Backends::new(&[backend(
        "web",
        vec![server("w1", resp.port(), 40)],
        http_check("GET", "/health", expect),
    )]));
    let s = srv(&backends, 0, 0);
    let (handle, events) = spawn_collecting(&backends);
    wait_for(LIMIT, || resp.conns.load(Ordering::SeqCst) >= 3).expect("checked");
    assert!(s.is_up(), "{:?}", events.lock().unwrap());
    assert!(events.lock().unwrap().is_empty());
    let request = resp.requests.lock().unwrap()[0].clone();
    assert_eq!(
        String::from_utf8(request).unwrap(),
        "GET /health HTTP/1.1\r\nhost: app.local\r\nconnection: close\r\n\r\n"
    );
    *state.lock().unwrap() = (bad.0.to_owned(), bad.1.to_owned());
    wait_for(LIMIT, || !s.is_up()).expect("goes down");
    let msg = transition(&events, "w1", false).message;
    *state.lock().unwrap() = (good.0.to_owned(), good.1.to_owned());
    wait_for(LIMIT, || s.is_up()).expect("comes back");
    let up = transition(&events, "w1", true).message;
    assert!(
        up.starts_with("Server web/w1 is UP, reason: Layer7 check passed, code: "),
        "{up}"
    );
    handle.stop();
    msg
}

#[test]
fn httpchk_default_expect_fails_on_503() {
    let msg = http_flip(None, ("200 OK", "ok"), ("503 Service Unavailable", "busy"));
    assert!(
        msg.starts_with(
            "Server web/w1 is DOWN, reason: Layer7 wrong status, code: 503, info: \"Service Unavailable\", check duration: "
        ),
        "{msg}"
    );
}

#[test]
fn httpchk_expect_status_and_rstatus() {
    let status = Some(HttpExpect {
        inverted: false,
        matcher: HttpExpectMatch::Status(vec![(200, 200)]),
    });
    let msg = http_flip(status, ("200 OK", ""), ("302 Found", ""));
    assert!(
        msg.contains("reason: Layer7 wrong status, code: 302, info: \"Found\""),
        "{msg}"
    );
    let rstatus = Some(HttpExpect {
        inverted: false,
        matcher: HttpExpectMatch::RStatus("^20[0-4]$".into()),
    });
    let msg = http_flip(rstatus, ("204 No Content", ""), ("500 Oops", ""));
    assert!(msg.contains("code: 500, info: \"Oops\""), "{msg}");
}

#[test]
fn httpchk_expect_string_and_negation() {
    let string = Some(HttpExpect {
        inverted: false,
        matcher: HttpExpectMatch::String("alive".into()),
    });
    let msg = http_flip(string, ("200 OK", "I am alive"), ("200 OK", "I am dead"));
    assert!(
        msg.contains("reason: Layer7 invalid response, info: \"HTTP content check did not match\""),
        "{msg}"
    );
    let not = Some(HttpExpect {
        inverted: true,
        matcher: HttpExpectMatch::String("maintenance".into()),
    });
    let msg = http_flip(not, ("200 OK", "fine"), ("200 OK", "under maintenance"));
    assert!(
        msg.contains("info: \"HTTP check matched unwanted content\""),
        "{msg}"
    );
}

fn redis_script() -> CheckKind {
    CheckKind::TcpScript(vec![
        TcpCheckRule::Send(b"PING\r\n".to_vec()),
        TcpCheckRule::Expect {
            inverted: false,
            pattern: TcpExpectPattern::String(b"+PONG".to_vec()),
        },
    ])
}

#[test]
fn tcp_check_script_against_line_server() {
    let reply = Arc::new(Mutex::new("+PONG\r\n".to_owned()));
    let resp = Responder::start(0, Behavior::Lines(Arc::clone(&reply)));
    let backends = Arc::new(Backends::new(&[backend(
        "redis",
        vec![server("r1", resp.port(), 40)],
        redis_script(),
    )]));
    let s = srv(&backends, 0, 0);
    let (handle, events) = spawn_collecting(&backends);
    wait_for(LIMIT, || resp.requests.lock().unwrap().len() >= 3).expect("checked");
    assert!(s.is_up());
    assert_eq!(resp.requests.lock().unwrap()[0], b"PING\r\n");
    *reply.lock().unwrap() = "-LOADING\r\n".to_owned();
    wait_for(LIMIT, || !s.is_up()).expect("goes down");
    let msg = transition(&events, "r1", false).message;
    assert!(
        msg.starts_with(
            "Server redis/r1 is DOWN, reason: Layer7 invalid response, info: \"TCPCHK did not match content '+PONG' at step 2\""
        ),
        "{msg}"
    );
    *reply.lock().unwrap() = "+PONG\r\n".to_owned();
    wait_for(LIMIT, || s.is_up()).expect("comes back");
    let up = transition(&events, "r1", true).message;
    assert!(
        up.starts_with(
            "Server redis/r1 is UP, reason: Layer7 check passed, code: 0, info: \"(tcp-check)\""
        ),
        "{up}"
    );
    drop(resp);
    wait_for(LIMIT, || !s.is_up()).expect("down again");
    let msg = transition(&events, "r1", false).message;
    assert!(
        msg.contains(
            "reason: Layer4 connection problem, info: \"Connection refused at initial connection step of tcp-check\""
        ),
        "{msg}"
    );
    handle.stop();
}

#[test]
fn timeout_check_bounds_a_silent_server() {
    let resp = Responder::start(0, Behavior::Silent);
    let mut be = backend(
        "redis",
        vec![server("r1", resp.port(), 300)],
        redis_script(),
    );
    be.servers[0].rise = 1;
    be.servers[0].fall = 1;
    be.timeouts.connect = Some(Duration::from_millis(1000));
    be.timeouts.check = Some(Duration::from_millis(60));
    let backends = Arc::new(Backends::new(&[be]));
    let s = srv(&backends, 0, 0);
    let (handle, events) = spawn_collecting(&backends);
    wait_for(LIMIT, || !s.is_up()).expect("goes down");
    let t = transition(&events, "r1", false);
    let result = t.result.unwrap();
    assert_eq!(result.status, result::CheckStatus::L7Tout);
    assert_eq!(
        result.info,
        " at step 2 of tcp-check (expect string '+PONG')"
    );
    // Bounded by `timeout check` (60ms), not by inter (300ms).
    assert!(
        result.duration >= Duration::from_millis(55),
        "{:?}",
        result.duration
    );
    assert!(
        result.duration < Duration::from_millis(280),
        "{:?}",
        result.duration
    );
    handle.stop();
}

#[test]
fn inter_bounds_the_check_without_timeout_check() {
    let resp = Responder::start(0, Behavior::Silent);
    let mut be = backend("redis", vec![server("r1", resp.port(), 80)], redis_script());
    be.servers[0].fall = 1;
    be.timeouts.connect = Some(Duration::from_millis(10));
    let backends = Arc::new(Backends::new(&[be]));
    let s = srv(&backends, 0, 0);
    let (handle, events) = spawn_collecting(&backends);
    wait_for(LIMIT, || !s.is_up()).expect("goes down");
    let result = transition(&events, "r1", false).result.unwrap();
    assert_eq!(result.status, result::CheckStatus::L7Tout);
    assert!(
        result.duration >= Duration::from_millis(75),
        "{:?}",
        result.duration
    );
    handle.stop();
}

#[test]
fn track_propagates_transitively() {
    let resp = Responder::start(0, Behavior::Accept);
    let port = resp.port();
    let mut t1 = server("t1", 1, 50);
    t1.check = false;
    t1.track = Some(TrackRef {
        backend: "be1".into(),
        server: "s1".into(),
    });
    let mut t2 = server("t2", 1, 50);
    t2.check = false;
    t2.track = Some(TrackRef {
        backend: "be2".into(),
        server: "t1".into(),
    });
    let backends = Arc::new(Backends::new(&[
        backend("be1", vec![server("s1", port, 40)], CheckKind::Tcp),
        backend("be2", vec![t1], CheckKind::Tcp),
        backend("be3", vec![t2], CheckKind::Tcp),
    ]));
    let (handle, events) = spawn_collecting(&backends);
    wait_for(LIMIT, || resp.conns.load(Ordering::SeqCst) >= 2).expect("checked");
    drop(resp);
    let (tracked, tracker, tracker2) = (
        srv(&backends, 0, 0),
        srv(&backends, 1, 0),
        srv(&backends, 2, 0),
    );
    let down2 = transition(&events, "t2", false);
    assert!(!tracked.is_up() && !tracker.is_up() && !tracker2.is_up());
    assert_eq!(
        transition(&events, "t1", false).message,
        "Server be2/t1 is DOWN via be1/s1. 0 active and 0 backup servers left. 0 sessions active, 0 requeued, 0 remaining in queue."
    );
    assert_eq!(
        down2.message,
        "Server be3/t2 is DOWN via be2/t1. 0 active and 0 backup servers left. 0 sessions active, 0 requeued, 0 remaining in queue."
    );
    assert!(events.lock().unwrap().iter().all(|t| t.backend_down));
    let resp = Responder::start(port, Behavior::Accept);
    let up2 = transition(&events, "t2", true);
    assert!(tracked.is_up() && tracker.is_up() && tracker2.is_up());
    assert_eq!(
        up2.message,
        "Server be3/t2 is UP via be2/t1. 1 active and 0 backup servers online. 0 sessions requeued, 0 total in queue."
    );
    assert_eq!(up2.via, Some(("be2".to_owned(), "t1".to_owned())));
    drop(resp);
    handle.stop();
}

#[test]
fn check_uses_addr_and_port_overrides() {
    let resp = Responder::start(0, Behavior::Accept);
    // Traffic port follows the client; the check goes to the check port.
    let mut follows = server("follows", 1, 40);
    follows.port = ServerPort::SameAsClient;
    follows.check_port = Some(resp.port());
    // Traffic address is elsewhere on loopback; the check goes to `addr`.
    let mut elsewhere = server("elsewhere", resp.port(), 40);
    elsewhere.addr = "127.0.0.3".parse().unwrap();
    elsewhere.port = ServerPort::Fixed(9);
    elsewhere.check_addr = Some("127.0.0.1".parse().unwrap());
    elsewhere.check_port = Some(resp.port());
    let backends = Arc::new(Backends::new(&[backend(
        "be",
        vec![follows, elsewhere],
        CheckKind::Tcp,
    )]));
    let (handle, events) = spawn_collecting(&backends);
    wait_for(LIMIT, || resp.conns.load(Ordering::SeqCst) >= 6).expect("both checked");
    assert!(
        events.lock().unwrap().is_empty(),
        "{:?}",
        events.lock().unwrap()
    );
    drop(resp);
    let (a, b) = (srv(&backends, 0, 0), srv(&backends, 0, 1));
    let msgs = [
        transition(&events, "follows", false).message,
        transition(&events, "elsewhere", false).message,
    ];
    assert!(!a.is_up() && !b.is_up());
    assert!(
        msgs.iter()
            .any(|m| m.contains("1 active and 0 backup servers left")),
        "{msgs:?}"
    );
    assert!(
        msgs.iter()
            .any(|m| m.contains("0 active and 0 backup servers left")),
        "{msgs:?}"
    );
    handle.stop();
}

#[test]
fn client_port_server_without_check_port_is_rejected() {
    let mut s = server("s", 1, 50);
    s.port = ServerPort::Offset(1000);
    let backends = Arc::new(Backends::new(&[backend("be", vec![s], CheckKind::Tcp)]));
    let err = spawn(backends).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    assert_eq!(
        err.to_string(),
        "config: backend 'be': server 's' has neither service port nor check port."
    );
}

#[test]
fn maintenance_suspends_checks_until_it_ends() {
    // Nothing listens on this port: a checked server would go down at the first check.
    let closed_port = Responder::start(0, Behavior::Accept).port();
    let mut s = server("m", closed_port, 30);
    s.disabled = true;
    let backends = Arc::new(Backends::new(&[backend("be", vec![s], CheckKind::Tcp)]));
    let m = srv(&backends, 0, 0);
    let (handle, events) = spawn_collecting(&backends);
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        events.lock().unwrap().is_empty(),
        "not checked in maintenance"
    );
    assert!(m.is_up() && m.is_maint());
    // Leaving maintenance: up at once, and the first failure takes it down.
    m.set_maint(false);
    let down = transition(&events, "m", false);
    assert!(!m.is_up());
    assert_eq!(events.lock().unwrap().len(), 1);
    assert!(
        down.message
            .contains("is DOWN, reason: Layer4 connection problem")
    );
    handle.stop();
}

#[test]
fn no_checked_server_starts_no_thread() {
    let mut s = server("s", 1, 50);
    s.check = false;
    let backends = Arc::new(Backends::new(&[backend("be", vec![s], CheckKind::Tcp)]));
    let handle = spawn(backends).unwrap();
    assert!(handle.thread.is_none());
}
