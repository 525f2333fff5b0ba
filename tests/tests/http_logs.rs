//! HTTP logs end to end: `option httplog` field by field, `option httplog clf`,
//! `log-format` with HTTP variables, `unique-id-format`/`unique-id-header`, captured
//! cookies and headers, `option dontlognull`, `option log-separate-errors` and bad
//! requests. Checked against HAProxy 2.6 (`cargo xtask reference`).

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "test helpers abort the test on failure"
)]

use std::io::Write;
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

use lb_tests::http::{HttpBackend, Request, Response, get, request};
use lb_tests::{Lb, free_port};

const WAIT: Duration = Duration::from_secs(5);
const DATE: &str =
    r"\d{2}/(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)/\d{4}:\d{2}:\d{2}:\d{2}";

fn config(port: u16, log: &str, fe_extra: &str, be: &str) -> String {
    format!(
        "global\n    nbthread 1\n    {log}\n\n\
         defaults\n    mode http\n    log global\n    timeout connect 2s\n    \
         timeout client 10s\n    timeout server 10s\n\n\
         frontend fe\n    bind 127.0.0.1:{port}\n{fe_extra}    default_backend be\n\n\
         backend be\n{be}\n"
    )
}

fn raw_log() -> &'static str {
    "log stdout format raw local0 info"
}

fn server(b: &HttpBackend) -> String {
    format!("    server s1 {}\n", b.addr())
}

#[test]
fn httplog_line_has_haproxy_fields() {
    let s1 = HttpBackend::echo("s1");
    let port = free_port();
    let lb = Lb::start(&config(
        port,
        raw_log(),
        "    option httplog\n",
        &server(&s1),
    ));
    let mut c = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let c_port = c.local_addr().unwrap().port();
    c.write_all(b"GET /path?q=1 HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n")
        .unwrap();
    let r = Response::read(&mut std::io::BufReader::new(c), false).unwrap();
    assert_eq!(r.status, 200);
    let line = lb.expect_line(&format!(r"^127\.0\.0\.1:{c_port} "), WAIT);
    let re = regex::Regex::new(&format!(
        r#"^127\.0\.0\.1:{c_port} \[{DATE}\.\d{{3}}\] fe be/s1 (\d+)/(\d+)/(\d+)/(\d+)/(\d+) 200 (\d+) - - ---- (\d+)/(\d+)/(\d+)/(\d+)/0 0/0 "GET /path\?q=1 HTTP/1.1"$"#
    ))
    .unwrap();
    let caps = re
        .captures(&line)
        .unwrap_or_else(|| panic!("not an httplog line: {line:?}"));
    let n = |i: usize| caps[i].parse::<u64>().unwrap();
    let (treq, tw, tc, tr, ta) = (n(1), n(2), n(3), n(4), n(5));
    assert!(treq < 1000 && tw < 1000 && tc < 1000 && tr < 1000, "{line}");
    assert!(ta >= tr && ta < 5000, "{line}");
    assert!(
        n(6) > r.body.len() as u64,
        "%B counts headers and body: {line}"
    );
    assert!(
        n(7) >= 1 && n(8) >= 1,
        "the logged stream counts itself: {line}"
    );
}

#[test]
fn captures_cookies_and_headers() {
    let s1 = HttpBackend::with(
        "s1",
        Arc::new(|_: &Request| {
            Response::new(200, "ok")
                .header("set-cookie", "SESSIONID=server-side-value; path=/")
                .header("x-res", "a|b")
        }),
    );
    let port = free_port();
    let lb = Lb::start(&config(
        port,
        raw_log(),
        "    option httplog\n    capture cookie SESSION len 12\n    \
         capture request header Host len 20\n    capture request header User-Agent len 10\n    \
         capture response header X-Res len 8\n",
        &server(&s1),
    ));
    get(
        port,
        "/c",
        "user-agent: curl \"quoted\" agent#1\r\ncookie: a=1; SESSIONID=client-value\r\n",
    )
    .unwrap();
    let line = lb.expect_line(r#""GET /c HTTP/1.1"$"#, WAIT);
    assert!(
        line.contains(r#" 200 "#)
            && line.contains(r#" SESSIONID=cl SESSIONID=se ---- "#)
            && line.contains(r#" {test|curl #22quot} {a#7Cb} "GET /c HTTP/1.1""#),
        "{line}"
    );
}

#[test]
fn clf_line() {
    let s1 = HttpBackend::echo("s1");
    let port = free_port();
    let lb = Lb::start(&config(
        port,
        raw_log(),
        "    option httplog clf\n",
        &server(&s1),
    ));
    get(port, "/clf?x=1", "").unwrap();
    let line = lb.expect_line(r"^127\.0\.0\.1 - - ", WAIT);
    let re = regex::Regex::new(&format!(
        r#"^127\.0\.0\.1 - - \[{DATE} [+-]\d{{4}}\] "GET /clf\?x=1 HTTP/1.1" 200 \d+ "" "" \d+ \d{{3}} "fe" "be" "s1" \d+ \d+ \d+ \d+ \d+ ---- \d+ \d+ \d+ \d+ 0 0 0 "" "" $"#
    ))
    .unwrap();
    assert!(re.is_match(&line), "not a CLF line: {line:?}");
}

#[test]
fn log_format_unique_id_and_header() {
    let s1 = HttpBackend::echo("s1");
    let port = free_port();
    let lb = Lb::start(&config(
        port,
        raw_log(),
        "    unique-id-format %{+X}o\\ %ci:%cp_%fi:%fp_%Ts_%rt:%pid\n    \
         unique-id-header X-Unique-ID\n    \
         log-format \"custom %HM %HU %HP %HQ %HV %ST %ID %{+Q}r %b/%s %tsc\"\n",
        &server(&s1),
    ));
    get(port, "/p/q?k=v", "").unwrap();
    let req = s1.requests().pop().unwrap();
    let id = req
        .header("x-unique-id")
        .expect("unique id header")
        .to_owned();
    let re = regex::Regex::new(
        r"^7F000001:[0-9A-F]{4}_7F000001:[0-9A-F]{4}_[0-9A-F]{8}_[0-9A-F]{4}:[0-9A-F]{4,}$",
    )
    .unwrap();
    assert!(re.is_match(&id), "{id}");
    let line = lb.expect_line(r"^custom ", WAIT);
    assert_eq!(
        line,
        format!(
            "custom GET /p/q?k=v /p/q ?k=v HTTP/1.1 200 {id} \"GET /p/q?k=v HTTP/1.1\" be/s1 ----"
        )
    );
}

#[test]
fn dontlognull_skips_empty_connections_only() {
    let s1 = HttpBackend::echo("s1");
    let port = free_port();
    let lb = Lb::start(&config(
        port,
        raw_log(),
        "    option httplog\n    option dontlognull\n",
        &server(&s1),
    ));
    let c = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let idle_port = c.local_addr().unwrap().port();
    std::thread::sleep(Duration::from_millis(100));
    drop(c);
    get(port, "/after", "").unwrap();
    lb.expect_line(r#""GET /after HTTP/1.1"$"#, WAIT);
    std::thread::sleep(Duration::from_millis(300));
    let idle = regex::Regex::new(&format!(r"^127\.0\.0\.1:{idle_port} ")).unwrap();
    assert!(
        lb.output().lines_matching(&idle).is_empty(),
        "the empty connection was logged"
    );
}

#[test]
fn bad_requests_are_logged_as_badreq() {
    let s1 = HttpBackend::echo("s1");
    let port = free_port();
    let lb = Lb::start(&config(
        port,
        raw_log(),
        "    option httplog\n",
        &server(&s1),
    ));
    let r = request(port, b"garbage\r\n\r\n").unwrap();
    assert_eq!(r.status, 400);
    let line = lb.expect_line(r#""<BADREQ>"$"#, WAIT);
    let re = regex::Regex::new(&format!(
        r#"^127\.0\.0\.1:\d+ \[{DATE}\.\d{{3}}\] fe fe/<NOSRV> -1/-1/-1/-1/\d+ 400 \d+ - - PR-- \d+/\d+/0/0/0 0/0 "<BADREQ>"$"#
    ))
    .unwrap();
    assert!(re.is_match(&line), "{line}");
    assert!(s1.requests().is_empty());
}

#[test]
fn log_separate_errors_raises_the_level_of_failures() {
    let s1 = HttpBackend::echo("s1");
    let dead = free_port();
    let port = free_port();
    let lb = Lb::start(&format!(
        "global\n    nbthread 1\n    log stdout format rfc3164 local0\n\n\
         defaults\n    mode http\n    log global\n    option httplog\n    \
         option log-separate-errors\n    timeout connect 2s\n    timeout client 10s\n    \
         timeout server 10s\n\n\
         frontend fe\n    bind 127.0.0.1:{port}\n    use_backend dead if {{ path_beg /dead }}\n    \
         default_backend be\n\n\
         backend be\n    server s1 {}\n\n\
         backend dead\n    retries 0\n    server s2 127.0.0.1:{dead}\n",
        s1.addr()
    ));
    assert_eq!(get(port, "/ok", "").unwrap().status, 200);
    assert_eq!(get(port, "/dead", "").unwrap().status, 503);
    // local0 = 16: info is <134>, err is <131>.
    let ok = lb.expect_line(r#""GET /ok HTTP/1.1"$"#, WAIT);
    assert!(ok.starts_with("<134>"), "{ok}");
    let bad = lb.expect_line(r#""GET /dead HTTP/1.1"$"#, WAIT);
    assert!(bad.starts_with("<131>"), "{bad}");
    assert!(bad.contains(" 503 ") && bad.contains(" SC-- "), "{bad}");
}
