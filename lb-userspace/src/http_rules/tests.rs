//! Tests of the HTTP rules engine, with rules parsed from real configuration text.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use super::tests_support::{respond, txn};
use super::*;
use crate::config::parse_str;
use crate::http::HttpTxn;
use crate::log::syslog::Level;
use crate::rules::{Gpc, RuleHost};
use crate::sample::vars::{ProcVars, VarName, Vars};
use crate::sample::{Sample, StreamCtx};

#[derive(Default)]
struct Host {
    events: Vec<String>,
}

impl RuleHost for Host {
    fn track(&mut self, sc: u8, table: &str, key: Sample<'_>) {
        self.events.push(format!("track {sc} {table} {key:?}"));
    }
    fn inc_gpc(&mut self, sc: u8, gpc: Gpc) {
        self.events.push(format!("inc {sc} {gpc:?}"));
    }
    fn set_gpt0(&mut self, sc: u8, value: i64) {
        self.events.push(format!("gpt0 {sc} {value}"));
    }
    fn set_src(&mut self, addr: SocketAddr) {
        self.events.push(format!("src {addr}"));
    }
    fn set_dst(&mut self, addr: SocketAddr) {
        self.events.push(format!("dst {addr}"));
    }
    fn expect_proxy(&mut self) {}
}

impl HttpRuleHost for Host {
    fn set_log_level(&mut self, level: Option<Level>) {
        self.events.push(format!("log-level {level:?}"));
    }
}

/// The frontend `fe` of a configuration whose `frontend fe` section holds `lines`.
fn frontend(lines: &[&str]) -> crate::config::model::Frontend {
    let mut text = String::from("frontend fe\n    mode http\n    bind 127.0.0.1:8080\n");
    for l in lines {
        text.push_str("    ");
        text.push_str(l);
        text.push('\n');
    }
    text.push_str("    default_backend be\nbackend be\n    mode http\n    server s 127.0.0.1:1\n");
    let cfg = parse_str(&text, Path::new("t.cfg")).unwrap_or_else(|e| panic!("{e}"));
    cfg.frontends.into_iter().next().unwrap()
}

struct Run {
    verdict: HttpVerdict,
    txn: HttpTxn,
    host: Host,
    vars: Vars,
}

fn run_request(lines: &[&str], raw: &str) -> Run {
    let fe = frontend(lines);
    let mut t = txn(raw);
    capture_request_headers(&fe.http_captures, &mut t);
    let vars = Vars::new(Arc::new(ProcVars::default()));
    let mut host = Host::default();
    let mut ctx = StreamCtx::new(
        "10.0.0.1:4000".parse().unwrap(),
        "127.0.0.1:80".parse().unwrap(),
        "fe",
    );
    ctx.vars = Some(&vars);
    let mut cursor = 0;
    let verdict = eval_request(&fe.http_rules, &mut t, &ctx, &mut host, &mut cursor);
    Run {
        verdict,
        txn: t,
        host,
        vars,
    }
}

fn reply(v: &HttpVerdict) -> &Reply {
    match v {
        HttpVerdict::Reply(r) | HttpVerdict::Tarpit(r) => r,
        other => panic!("expected a reply, got {other:?}"),
    }
}

fn hdr<'a>(t: &'a HttpTxn, name: &str) -> Vec<&'a str> {
    t.req
        .headers
        .get_all(name)
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect()
}

const GET: &str = "GET /a/b?x=1&y=2 HTTP/1.1\r\nHost: example.com\r\nX-A: 1, 2\r\nX-A: 3\r\nCookie: s=abc; t=9\r\n\r\n";

#[test]
fn header_actions() {
    let r = run_request(
        &[
            "http-request set-header X-Path %[path]",
            "http-request add-header X-A 4",
            "http-request set-header X-Host \"%[req.hdr(host)] / %[req.cook(s)]\"",
            "http-request del-header cookie",
            "http-request replace-header host (.*)\\.com \\1.org",
            "http-request replace-value x-a ^2$ two",
            "http-request add-header X-Missing \"[%[req.hdr(nope)]]\"",
        ],
        GET,
    );
    assert_eq!(r.verdict, HttpVerdict::Continue);
    assert_eq!(hdr(&r.txn, "x-path"), ["/a/b"]);
    assert_eq!(hdr(&r.txn, "x-a"), ["1,two", "3", "4"]);
    assert_eq!(hdr(&r.txn, "x-host"), ["example.com / abc"]);
    assert!(hdr(&r.txn, "cookie").is_empty());
    assert_eq!(hdr(&r.txn, "host"), ["example.org"]);
    assert_eq!(hdr(&r.txn, "x-missing"), ["[]"]);
}

#[test]
fn del_header_match_methods() {
    let raw = "GET / HTTP/1.1\r\nX-Foo-1: a\r\nX-Foo-2: b\r\nY-Foo: c\r\nKeep: d\r\n\r\n";
    let r = run_request(&["http-request del-header x-foo -m beg"], raw);
    assert!(hdr(&r.txn, "x-foo-1").is_empty() && hdr(&r.txn, "x-foo-2").is_empty());
    assert_eq!(hdr(&r.txn, "y-foo"), ["c"]);
    let r = run_request(&["http-request del-header foo -m sub"], raw);
    assert!(hdr(&r.txn, "y-foo").is_empty() && hdr(&r.txn, "x-foo-1").is_empty());
    assert_eq!(hdr(&r.txn, "keep"), ["d"]);
    let r = run_request(&["http-request del-header ^x-.*-2$ -m reg"], raw);
    assert!(hdr(&r.txn, "x-foo-2").is_empty());
    assert_eq!(hdr(&r.txn, "x-foo-1"), ["a"]);
    let r = run_request(&["http-request del-header -foo -m end"], raw);
    assert!(hdr(&r.txn, "y-foo").is_empty());
}

#[test]
fn target_actions() {
    let r = run_request(&["http-request set-path /new%[path]"], GET);
    assert_eq!(r.txn.req.uri, "/new/a/b?x=1&y=2");
    let r = run_request(&["http-request set-query z=3"], GET);
    assert_eq!(r.txn.req.uri, "/a/b?z=3");
    let r = run_request(
        &["http-request set-query %[req.hdr(nope)]"],
        "GET /p HTTP/1.1\r\n\r\n",
    );
    assert_eq!(r.txn.req.uri, "/p");
    let r = run_request(&["http-request set-pathq /q?k"], GET);
    assert_eq!(r.txn.req.uri, "/q?k");
    let r = run_request(&["http-request set-uri http://h2/z"], GET);
    assert_eq!(r.txn.req.uri.to_string(), "http://h2/z");
    let r = run_request(&["http-request set-method POST"], GET);
    assert_eq!(r.txn.req.method, http::Method::POST);
    let r = run_request(&["http-request replace-path /a/(.*) /c/\\1"], GET);
    assert_eq!(r.txn.req.uri, "/c/b?x=1&y=2");
    let r = run_request(&["http-request replace-uri ^/a/b\\?(.*) /r?\\1&w"], GET);
    assert_eq!(r.txn.req.uri, "/r?x=1&y=2&w");
    let r = run_request(
        &["http-request normalize-uri path-merge-slashes"],
        "GET //a///b?q HTTP/1.1\r\n\r\n",
    );
    assert_eq!(r.txn.req.uri, "/a/b?q");
    let r = run_request(
        &["http-request normalize-uri query-sort-by-name"],
        "GET /?b=1&a=2 HTTP/1.1\r\n\r\n",
    );
    assert_eq!(r.txn.req.uri, "/?a=2&b=1");
}

#[test]
fn failed_rewrites_answer_500_in_strict_mode() {
    let r = run_request(&["http-request set-path \"/a b\""], GET);
    let rep = reply(&r.verdict);
    assert_eq!(rep.status, 500);
    assert_eq!(rep.cause, ReplyCause::RewriteFailed);
    let r = run_request(
        &[
            "http-request strict-mode off",
            "http-request set-path \"/a b\"",
        ],
        GET,
    );
    assert_eq!(r.verdict, HttpVerdict::Continue);
    assert_eq!(r.txn.req.uri, "/a/b?x=1&y=2");
}

#[test]
fn final_actions_and_conditions() {
    let r = run_request(
        &[
            "http-request deny if { path_beg /a }",
            "http-request set-header X 1",
        ],
        GET,
    );
    let rep = reply(&r.verdict);
    assert_eq!((rep.status.as_u16(), rep.cause), (403, ReplyCause::Deny));
    assert_eq!(rep.error_page, reply::ErrorPage::Proxy);
    assert!(hdr(&r.txn, "x").is_empty());
    let r = run_request(
        &[
            "http-request deny if { path_beg /z }",
            "http-request set-header X 1",
        ],
        GET,
    );
    assert_eq!(r.verdict, HttpVerdict::Continue);
    assert_eq!(hdr(&r.txn, "x"), ["1"]);
    let r = run_request(&["http-request allow", "http-request deny"], GET);
    assert_eq!(r.verdict, HttpVerdict::Allow);
    let r = run_request(&["http-request deny deny_status 429"], GET);
    assert_eq!(reply(&r.verdict).status, 429);
    let r = run_request(&["http-request tarpit"], GET);
    assert!(matches!(&r.verdict, HttpVerdict::Tarpit(rep) if rep.status == 500));
    let r = run_request(&["http-request reject"], GET);
    assert_eq!(r.verdict, HttpVerdict::Reject);
    let r = run_request(&["http-request silent-drop"], GET);
    assert_eq!(r.verdict, HttpVerdict::SilentDrop);
    let r = run_request(
        &[
            "http-request deny if METH_POST",
            "http-request deny if !METH_GET",
        ],
        GET,
    );
    assert_eq!(r.verdict, HttpVerdict::Continue);
}

#[test]
fn return_replies() {
    let r = run_request(
        &[
            "http-request return status 201 content-type text/plain lf-string \"hi %[path]\" hdr X-Y \"%[req.hdr(host)]\"",
        ],
        GET,
    );
    let rep = reply(&r.verdict);
    assert_eq!(rep.status, 201);
    assert_eq!(rep.body, "hi /a/b");
    assert_eq!(
        rep.headers,
        vec![
            (
                http::header::CONTENT_TYPE,
                http::HeaderValue::from_static("text/plain")
            ),
            (
                http::HeaderName::from_static("x-y"),
                http::HeaderValue::from_static("example.com")
            ),
        ]
    );
    let r = run_request(&["http-request return"], GET);
    let rep = reply(&r.verdict);
    assert_eq!((rep.status.as_u16(), rep.body.len()), (200, 0));
    assert_eq!(rep.error_page, reply::ErrorPage::None);
    let built = Reply::error(403, ReplyCause::Deny).with_builtin_page();
    assert!(
        std::str::from_utf8(&built.body)
            .unwrap()
            .contains("403 Forbidden")
    );
}

#[test]
fn redirects() {
    let loc = |lines: &[&str], raw: &str| {
        let r = run_request(lines, raw);
        let rep = reply(&r.verdict).clone();
        let l = rep
            .headers
            .iter()
            .find(|(n, _)| n == http::header::LOCATION)
            .map(|(_, v)| v.to_str().unwrap().to_owned());
        (rep.status.as_u16(), l.unwrap())
    };
    assert_eq!(
        loc(&["http-request redirect location /x"], GET),
        (302, "/x".into())
    );
    assert_eq!(
        loc(&["http-request redirect prefix https://h code 301"], GET),
        (301, "https://h/a/b?x=1&y=2".into())
    );
    assert_eq!(
        loc(
            &["http-request redirect prefix / drop-query append-slash"],
            GET
        ),
        (302, "/a/b/".into())
    );
    assert_eq!(
        loc(
            &["http-request redirect scheme https if !{ dst_port 443 }"],
            GET
        ),
        (302, "https://example.com/a/b?x=1&y=2".into())
    );
    assert_eq!(
        loc(&["redirect location /r code 308"], GET),
        (308, "/r".into())
    );
    // `redirect` rules run after http-request rules, even after `allow`.
    let r = run_request(&["redirect location /r", "http-request allow"], GET);
    assert_eq!(reply(&r.verdict).status, 302);
    let r = run_request(
        &["http-request redirect location /c set-cookie SEEN=1"],
        GET,
    );
    let rep = reply(&r.verdict);
    assert!(
        rep.headers
            .iter()
            .any(|(n, v)| n == http::header::SET_COOKIE && v == "SEEN=1; path=/;")
    );
}

#[test]
fn variables_tracking_and_host_effects() {
    let r = run_request(
        &[
            "stick-table type ip size 1k store gpc0,gpt0",
            "http-request set-var(txn.p) path",
            "http-request set-var-fmt(txn.f) \"%[var(txn.p)]-%[method]\"",
            "http-request set-header X-V %[var(txn.f)]",
            "http-request unset-var(txn.p)",
            "http-request track-sc0 src table fe",
            "http-request sc-inc-gpc0(0)",
            "http-request sc-set-gpt0(1) 42",
            "http-request set-log-level err",
            "http-request set-src hdr(x-real)",
            "http-request set-header X-Src %[src]",
        ],
        "GET /p HTTP/1.1\r\nX-Real: 192.0.2.9\r\n\r\n",
    );
    assert_eq!(hdr(&r.txn, "x-v"), ["/p-GET"]);
    assert!(r.vars.get(&VarName::parse("txn.p").unwrap()).is_none());
    assert_eq!(
        r.host.events,
        [
            "track 0 fe Ip(10.0.0.1)",
            "inc 0 Gpc0",
            "gpt0 1 42",
            "log-level Some(Err)",
            "src 192.0.2.9:4000",
        ]
    );
    assert_eq!(hdr(&r.txn, "x-src"), ["192.0.2.9"]);
}

#[test]
fn captures() {
    let r = run_request(
        &[
            "capture request header Host len 4",
            "declare capture request len 10",
            "http-request capture req.hdr(x-a,1) len 8",
            "http-request capture path id 1",
            "http-request set-header X-C \"%[capture.req.hdr(0)]|%[capture.req.hdr(1)]|%[capture.req.hdr(2)]\"",
        ],
        GET,
    );
    assert_eq!(
        r.txn.req_captures,
        [Some("exam".into()), Some("/a/b".into()), Some("1".into())]
    );
    assert_eq!(hdr(&r.txn, "x-c"), ["exam|/a/b|1"]);
}

#[test]
fn wait_for_body_resumes_where_it_stopped() {
    let fe = frontend(&[
        "http-request sc-inc-gpc0(0)",
        "http-request wait-for-body time 1s at-least 10",
        "http-request set-header X-Body %[req.body_param(a)]",
    ]);
    let mut t = txn("POST /f HTTP/1.1\r\nContent-Length: 7\r\n\r\n");
    let ctx = StreamCtx::new(
        "10.0.0.1:1".parse().unwrap(),
        "10.0.0.2:2".parse().unwrap(),
        "fe",
    );
    let mut host = Host::default();
    let mut cursor = 0;
    let v = eval_request(&fe.http_rules, &mut t, &ctx, &mut host, &mut cursor);
    assert_eq!(
        v,
        HttpVerdict::WaitForBody {
            time: std::time::Duration::from_secs(1),
            at_least: Some(10)
        }
    );
    t.req_body = Some(bytes::Bytes::from_static(b"a=1&b=2"));
    let v = eval_request(&fe.http_rules, &mut t, &ctx, &mut host, &mut cursor);
    assert_eq!(v, HttpVerdict::Continue);
    assert_eq!(hdr(&t, "x-body"), ["1"]);
    assert_eq!(
        host.events,
        ["inc 0 Gpc0"],
        "the counter is incremented once"
    );
}

#[test]
fn response_rules() {
    let fe = frontend(&[
        "http-response set-header X-Status %[status]",
        "http-response set-status 299 reason \"Fine Enough\" if { status 200 }",
        "http-response del-header server",
        "http-response deny if { res.hdr(x-leak) -m found }",
        "http-after-response add-header X-After 1",
    ]);
    let ctx = StreamCtx::new(
        "10.0.0.1:1".parse().unwrap(),
        "10.0.0.2:2".parse().unwrap(),
        "fe",
    );
    let mut host = Host::default();
    let mut t = txn("GET / HTTP/1.1\r\n\r\n");
    respond(&mut t, "HTTP/1.1 200 OK\r\nServer: x\r\n");
    assert_eq!(
        eval_response(&fe.http_rules, &mut t, &ctx, &mut host),
        HttpVerdict::Continue
    );
    let res = t.res.as_ref().unwrap();
    assert_eq!(res.status, 299);
    assert_eq!(res.headers["x-status"], "200");
    assert!(res.headers.get("server").is_none());
    assert_eq!(
        res.extensions
            .get::<hyper::ext::ReasonPhrase>()
            .map(|r| r.as_bytes().to_vec()),
        Some(b"Fine Enough".to_vec())
    );
    assert_eq!(
        eval_after_response(&fe.http_rules, &mut t, &ctx, &mut host),
        HttpVerdict::Continue
    );
    assert_eq!(t.res.as_ref().unwrap().headers["x-after"], "1");
    respond(&mut t, "HTTP/1.1 200 OK\r\nX-Leak: 1\r\n");
    let v = eval_response(&fe.http_rules, &mut t, &ctx, &mut host);
    assert_eq!(reply(&v).status, 502);
}

#[test]
fn auth_with_userlists() {
    let text = "userlist L\n    group admin\n    user alice insecure-password wonder groups admin\n    user bob password $1$saltsalt$9xy1btjgzLYfb7hivXtC//\n\
        frontend fe\n    mode http\n    bind 127.0.0.1:8080\n    http-request auth realm Private unless { http_auth(L) }\n    http-request set-header X-Admin %[http_auth_group(L)] if { http_auth_group(L) admin }\n    default_backend be\n\
        backend be\n    mode http\n    server s 127.0.0.1:1\n";
    let cfg = parse_str(text, Path::new("t.cfg")).unwrap_or_else(|e| panic!("{e}"));
    let fe = &cfg.frontends[0];
    let ctx = StreamCtx::new(
        "10.0.0.1:1".parse().unwrap(),
        "10.0.0.2:2".parse().unwrap(),
        "fe",
    );
    let mut host = Host::default();
    let run = |auth: Option<&str>, host: &mut Host| {
        let raw = match auth {
            Some(a) => format!("GET / HTTP/1.1\r\nAuthorization: Basic {a}\r\n\r\n"),
            None => "GET / HTTP/1.1\r\n\r\n".to_owned(),
        };
        let mut t = txn(&raw);
        let mut c = 0;
        let v = eval_request(&fe.http_rules, &mut t, &ctx, host, &mut c);
        (v, t)
    };
    let (v, _) = run(None, &mut host);
    let rep = reply(&v);
    assert_eq!(rep.status, 401);
    assert_eq!(rep.headers[0].1, "Basic realm=\"Private\"");
    // alice:wonder, bob:secret, bob:wrong
    let (v, t) = run(Some("YWxpY2U6d29uZGVy"), &mut host);
    assert_eq!(v, HttpVerdict::Continue);
    assert_eq!(hdr(&t, "x-admin"), ["alice"]);
    let (v, t) = run(Some("Ym9iOnNlY3JldA=="), &mut host);
    assert_eq!(v, HttpVerdict::Continue);
    assert!(hdr(&t, "x-admin").is_empty());
    let (v, _) = run(Some("Ym9iOndyb25n"), &mut host);
    assert_eq!(reply(&v).status, 401);
}
