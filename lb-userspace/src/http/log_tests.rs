//! Lines compared byte for byte with what HAProxy 2.6.12 wrote for the same requests
//! (`log stdout format raw`, TZ=UTC).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::*;
use crate::config::httplog::{CLF_HTTPLOG_FORMAT, HTTPLOG_FORMAT};
use crate::log::{TermCause, TermPhase, Termination};
use crate::logformat::ParseOptions;

fn at(ms: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(ms)
}

fn facts<'a>(
    line: Option<&'a str>,
    req_caps: &'a [Option<String>],
    res_caps: &'a [Option<String>],
) -> HttpLogFacts<'a> {
    HttpLogFacts {
        accept_date: at(1_795_500_669_698),
        request_date: at(1_795_500_669_698),
        utc_offset_secs: 0,
        th_ms: 0,
        ti_ms: 0,
        treq_ms: 0,
        tw_ms: 0,
        tc_ms: 0,
        tr_ms: 0,
        ta_ms: 0,
        tt_ms: 0,
        status: Some(200),
        bytes_out: 296,
        bytes_in: 0,
        termination: Termination::NORMAL,
        cookie_chars: ['-', '-'],
        req_cookie: None,
        res_cookie: None,
        req_captures: req_caps,
        res_captures: res_caps,
        request_line: line,
        unique_id: None,
        actconn: 1,
        feconn: 1,
        beconn: 0,
        srv_conn: 0,
        retries: 0,
        redispatched: false,
        srv_queue: 0,
        backend_queue: 0,
        backend_src: None,
        server_addr: None,
        request_counter: 0,
        log_counter: 0,
        hostname: None,
    }
}

fn ctx<'a>(src: &str, dst: &str, fe: &'a str) -> StreamCtx<'a> {
    let mut c = StreamCtx::new(src.parse().unwrap(), dst.parse().unwrap(), fe);
    c.fe_conn = 1;
    c
}

fn render(format: &str, ctx: &StreamCtx<'_>, f: &HttpLogFacts<'_>) -> String {
    LogFormat::parse(format, ParseOptions::log_format(true))
        .unwrap()
        .render(ctx, f)
}

#[test]
fn httplog_with_captures_and_cookies() {
    let req_caps = [
        Some("127.0.0.1:18080".to_owned()),
        Some("curl \"quot".to_owned()),
    ];
    let res_caps = [Some("r|v".to_owned())];
    let mut f = facts(Some("GET /a?b=c HTTP/1.1"), &req_caps, &res_caps);
    f.tr_ms = 1;
    f.ta_ms = 1;
    f.cookie_chars = ['V', 'N'];
    f.req_cookie = Some("SESSION=xy");
    f.res_cookie = Some("SESSX=abc1");
    let mut c = ctx("127.0.0.1:36432", "127.0.0.1:18080", "fe");
    c.be_name = Some("be");
    c.srv_name = Some("s1");
    assert_eq!(
        render(HTTPLOG_FORMAT, &c, &f),
        "127.0.0.1:36432 [24/Nov/2026:06:11:09.698] fe be/s1 0/0/0/1/1 200 296 SESSION=xy \
         SESSX=abc1 --VN 1/1/0/0/0 0/0 {127.0.0.1:18080|curl #22quot} {r#7Cv} \"GET /a?b=c \
         HTTP/1.1\""
    );
}

#[test]
fn httplog_without_captures() {
    let mut f = facts(Some("GET /x%20y HTTP/1.1"), &[], &[]);
    f.accept_date = at(1_795_500_669_733);
    f.request_date = f.accept_date;
    f.cookie_chars = ['N', 'I'];
    let mut c = ctx("127.0.0.1:38226", "127.0.0.1:18082", "fe2");
    c.be_name = Some("be");
    c.srv_name = Some("s1");
    assert_eq!(
        render(HTTPLOG_FORMAT, &c, &f),
        "127.0.0.1:38226 [24/Nov/2026:06:11:09.733] fe2 be/s1 0/0/0/0/0 200 296 - - --NI \
         1/1/0/0/0 0/0 \"GET /x%20y HTTP/1.1\""
    );
}

#[test]
fn httplog_bad_request_and_client_abort() {
    let mut f = facts(None, &[], &[]);
    f.accept_date = at(1_795_500_696_258);
    f.request_date = f.accept_date;
    f.treq_ms = -1;
    f.tw_ms = -1;
    f.tc_ms = -1;
    f.tr_ms = -1;
    f.status = Some(400);
    f.bytes_out = 0;
    f.termination = Termination::new(TermCause::Proxy, TermPhase::Request);
    let c = ctx("127.0.0.1:35366", "127.0.0.1:18082", "fe2");
    assert_eq!(
        render(HTTPLOG_FORMAT, &c, &f),
        "127.0.0.1:35366 [24/Nov/2026:06:11:36.258] fe2 fe2/<NOSRV> -1/-1/-1/-1/0 400 0 - - \
         PR-- 1/1/0/0/0 0/0 \"<BADREQ>\""
    );
    f.termination = Termination::new(TermCause::ClientAbort, TermPhase::Request);
    f.ta_ms = 2067;
    assert!(render(HTTPLOG_FORMAT, &c, &f).contains(" -1/-1/-1/-1/2067 400 0 - - CR-- "));
    assert!(f.is_error());
    assert!(f.is_null(), "nothing received: dontlognull skips it");
}

#[test]
fn clf_line() {
    let req_caps = [Some("127.0.0.1:18083".to_owned())];
    let mut f = facts(Some("GET /clf?q=1 HTTP/1.1"), &req_caps, &[]);
    f.accept_date = at(1_795_500_669_789);
    f.request_date = f.accept_date;
    f.cookie_chars = ['N', 'I'];
    let mut c = ctx("127.0.0.1:43710", "127.0.0.1:18083", "fe3");
    c.be_name = Some("be");
    c.srv_name = Some("s1");
    assert_eq!(
        render(CLF_HTTPLOG_FORMAT, &c, &f),
        "127.0.0.1 - - [24/Nov/2026:06:11:09 +0000] \"GET /clf?q=1 HTTP/1.1\" 200 296 \"\" \"\" \
         43710 789 \"fe3\" \"be\" \"s1\" 0 0 0 0 0 --NI 1 1 0 0 0 0 0 \"\" \"\" \
         \"127.0.0.1:18083\" "
    );
}

#[test]
fn custom_format_http_variables() {
    let fmt = "%ci %HM %HU %HP %HPO %HQ %HV %ST %{+Q}r %tsc %trg|%trl|%T|%Tl %ms %Ts %{+X}Ts \
               %ID %rt %B %U";
    let mut f = facts(Some("GET /path/to?x=1&y=2 HTTP/1.0"), &[], &[]);
    f.accept_date = at(1_795_500_669_841);
    f.request_date = f.accept_date;
    f.unique_id = Some("7F000001:AEB4_7F000001:46A4_6B052A7D_0003:2169");
    f.request_counter = 3;
    f.bytes_in = 97;
    let c = ctx("127.0.0.1:44724", "127.0.0.1:18084", "fe4");
    let d = "24/Nov/2026:06:11:09 +0000";
    assert_eq!(
        render(fmt, &c, &f),
        format!(
            "127.0.0.1 GET /path/to?x=1&y=2 /path/to /path/to ?x=1&y=2 HTTP/1.0 200 \"GET \
             /path/to?x=1&y=2 HTTP/1.0\" ---- {d}|{d}|{d}|{d} 841 1795500669 6B052A7D \
             7F000001:AEB4_7F000001:46A4_6B052A7D_0003:2169 3 296 97"
        )
    );
    // No query: %HQ prints nothing, and the spaces around it stay.
    let f = HttpLogFacts {
        request_line: Some("GET /nq HTTP/1.1"),
        accept_date: at(1_795_500_669_875),
        request_counter: 4,
        bytes_in: 84,
        unique_id: Some("x"),
        ..f
    };
    assert_eq!(
        render(fmt, &c, &f),
        format!(
            "127.0.0.1 GET /nq /nq /nq  HTTP/1.1 200 \"GET /nq HTTP/1.1\" ---- \
             {d}|{d}|{d}|{d} 875 1795500669 6B052A7D x 4 296 84"
        )
    );
}

#[test]
fn unique_id_in_hex() {
    let f = HttpLogFacts {
        request_counter: 3,
        ..facts(None, &[], &[])
    };
    let c = ctx("127.0.0.1:44724", "127.0.0.1:18084", "fe4");
    let uid = LogFormat::parse(
        "%{+X}o %ci:%cp_%fi:%fp_%Ts_%rt",
        ParseOptions::log_format(true),
    )
    .unwrap();
    assert_eq!(
        unique_id(&uid, &c, &f),
        "7F000001:AEB4_7F000001:46A4_6B052A7D_0003"
    );
}

#[test]
fn timers_and_local_dates() {
    let mut f = facts(Some("POST /u HTTP/1.1"), &[], &[]);
    f.utc_offset_secs = 3600;
    f.request_date = f.accept_date + Duration::from_millis(1500);
    f.th_ms = 2;
    f.ti_ms = 1498;
    f.treq_ms = 5;
    f.tw_ms = 1;
    f.tc_ms = 3;
    f.tr_ms = 40;
    f.tt_ms = 1600;
    f.ta_ms = 100;
    f.retries = 2;
    f.redispatched = true;
    let c = ctx("[2001:db8::1]:5000", "127.0.0.1:80", "fe");
    let out = render(
        "%t|%tr|%trl|%Tl %Th/%Ti/%TR/%Tq/%Tw/%Tc/%Tr/%Td/%Ta/%Tt/%Tu %rc %ci %HPO",
        &c,
        &f,
    );
    assert_eq!(
        out,
        "24/Nov/2026:07:11:09.698|24/Nov/2026:07:11:11.198|24/Nov/2026:07:11:11 +0100|\
         24/Nov/2026:07:11:09 +0100 2/1498/5/1505/1/3/40/51/100/1600/102 +2 2001:db8::1 /u"
    );
    assert!(f.is_error());
    let f = HttpLogFacts {
        request_line: Some("GET http://h.example/a/b?c HTTP/1.1"),
        ..facts(None, &[], &[])
    };
    assert_eq!(
        render("%HPO|%HP|%HQ", &c, &f),
        "/a/b|http://h.example/a/b|?c"
    );
}

#[test]
fn request_line_of_parts() {
    let (p, ()) = http::Request::builder()
        .method("PUT")
        .uri("/x?y=1")
        .version(http::Version::HTTP_10)
        .body(())
        .unwrap()
        .into_parts();
    assert_eq!(request_line(&p), "PUT /x?y=1 HTTP/1.0");
}
