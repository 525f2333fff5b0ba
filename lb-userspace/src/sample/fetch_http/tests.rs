//! Tests of the HTTP fetches on transactions built from raw HTTP/1 text.

use std::sync::Arc;

use crate::acl::expr::AclExpr;
use crate::http::HttpTxn;
use crate::http_rules::tests_support::{respond, txn};
use crate::http_rules::userlist::{Password, User, Userlist, UserlistRef};
use crate::sample::{Sample, SampleExpr, StreamCtx};

const REQ: &str = "GET /a/b.html?x=1&y=two;z=3 HTTP/1.1\r\n\
Host: www.example.com\r\n\
X-List: a, b , \"c,d\"\r\n\
X-List: e\r\n\
X-Num: 42abc\r\n\
X-Ip: 192.0.2.1:80\r\n\
Cookie: s=1; t=abc ; s=2\r\n\
Cookie: u=\"q;r\"\r\n\
Content-Length: 11\r\n\
\r\n\
k=v&name=al";

fn ctx(t: &HttpTxn) -> StreamCtx<'_> {
    let mut c = StreamCtx::new(
        "10.1.2.3:5000".parse().unwrap(),
        "127.0.0.1:80".parse().unwrap(),
        "fe",
    );
    c.http = Some(t);
    c
}

fn eval_on(t: &HttpTxn, expr: &str) -> Option<Sample<'static>> {
    let e = SampleExpr::parse(expr).unwrap_or_else(|err| panic!("{expr}: {err}"));
    let c = ctx(t);
    e.eval(&c).map(Sample::into_owned)
}

fn s(v: &str) -> Option<Sample<'static>> {
    Some(Sample::Str(v.to_owned().into()))
}

fn i(v: i64) -> Option<Sample<'static>> {
    Some(Sample::Int(v))
}

#[test]
fn request_line_fetches() {
    let t = txn(REQ);
    assert_eq!(eval_on(&t, "method"), s("GET"));
    assert_eq!(eval_on(&t, "path"), s("/a/b.html"));
    assert_eq!(eval_on(&t, "pathq"), s("/a/b.html?x=1&y=two;z=3"));
    assert_eq!(eval_on(&t, "url"), s("/a/b.html?x=1&y=two;z=3"));
    assert_eq!(eval_on(&t, "query"), s("x=1&y=two;z=3"));
    assert_eq!(eval_on(&t, "base"), s("www.example.com/a/b.html"));
    assert_eq!(eval_on(&t, "req.ver"), s("1.1"));
    assert_eq!(eval_on(&t, "req_ver"), s("1.1"));
    assert_eq!(eval_on(&t, "capture.req.method"), s("GET"));
    assert_eq!(eval_on(&t, "capture.req.uri"), s("/a/b.html?x=1&y=two;z=3"));
    assert_eq!(eval_on(&t, "capture.req.ver"), s("HTTP/1.1"));
    assert_eq!(eval_on(&t, "url_param(y)"), s("two"));
    assert_eq!(eval_on(&t, "urlp(z)"), s("3"));
    assert_eq!(eval_on(&t, "urlp"), s("1"));
    assert_eq!(eval_on(&t, "urlp(nope)"), None);
    assert_eq!(eval_on(&t, "urlp_val(x)"), i(1));
    assert_eq!(eval_on(&t, "path,lower,length"), i(9));
    let no_host = txn("GET /p?q HTTP/1.0\r\n\r\n");
    assert_eq!(eval_on(&no_host, "base"), s("/p"));
    assert_eq!(eval_on(&no_host, "req.ver"), s("1.0"));
    let abs = txn("GET http://10.0.0.7:8080/x HTTP/1.1\r\n\r\n");
    assert_eq!(
        eval_on(&abs, "url_ip"),
        Some(Sample::Ip("10.0.0.7".parse().unwrap()))
    );
    assert_eq!(eval_on(&abs, "url_port"), i(8080));
    assert_eq!(eval_on(&abs, "url"), s("http://10.0.0.7:8080/x"));
    assert_eq!(eval_on(&abs, "path"), s("/x"));
    assert_eq!(eval_on(&abs, "query"), None);
    // Same host and path, same hash; the query changes url32 only.
    let other = txn("GET /a/b.html?other HTTP/1.1\r\nHost: www.example.com\r\n\r\n");
    assert_eq!(eval_on(&t, "base32"), eval_on(&other, "base32"));
    assert_ne!(eval_on(&t, "url32"), eval_on(&other, "url32"));
    assert!(matches!(eval_on(&t, "base32+src"), Some(Sample::Bin(b)) if b.len() == 8));
}

#[test]
fn header_fetches() {
    let t = txn(REQ);
    // Without an occurrence: the last value; commas split except inside quotes.
    assert_eq!(eval_on(&t, "req.hdr(x-list)"), s("e"));
    assert_eq!(eval_on(&t, "hdr(X-List,1)"), s("a"));
    assert_eq!(eval_on(&t, "hdr(x-list,2)"), s("b"));
    assert_eq!(eval_on(&t, "hdr(x-list,3)"), s("\"c,d\""));
    assert_eq!(eval_on(&t, "hdr(x-list,-2)"), s("\"c,d\""));
    assert_eq!(eval_on(&t, "hdr(x-list,5)"), None);
    assert_eq!(eval_on(&t, "req.fhdr(x-list)"), s("e"));
    assert_eq!(eval_on(&t, "req.fhdr(x-list,1)"), s("a, b , \"c,d\""));
    assert_eq!(eval_on(&t, "req.hdr_cnt(x-list)"), i(4));
    assert_eq!(eval_on(&t, "hdr_cnt(x-list)"), i(4));
    assert_eq!(eval_on(&t, "req.fhdr_cnt(x-list)"), i(2));
    assert_eq!(eval_on(&t, "hdr_cnt(nope)"), i(0));
    assert_eq!(eval_on(&t, "req.hdr(nope)"), None);
    assert_eq!(eval_on(&t, "req.hdr_val(x-num)"), i(42));
    assert_eq!(
        eval_on(&t, "hdr_ip(x-ip)"),
        Some(Sample::Ip("192.0.2.1".parse().unwrap()))
    );
    assert_eq!(eval_on(&t, "hdr_ip(host)"), None);
    assert_eq!(eval_on(&t, "hdr(host)"), s("www.example.com"));
    let hdrs = eval_on(&t, "req.hdrs").unwrap();
    let Sample::Str(hdrs) = hdrs else { panic!() };
    assert!(hdrs.starts_with("host: www.example.com\r\n"), "{hdrs}");
    assert!(hdrs.ends_with("\r\n\r\n"));
    assert_eq!(
        eval_on(&t, "req.hdr_names"),
        s("host,x-list,x-list,x-num,x-ip,cookie,cookie,content-length")
    );
}

#[test]
fn cookie_and_body_fetches() {
    let t = txn(REQ);
    assert_eq!(eval_on(&t, "req.cook(s)"), s("2"));
    assert_eq!(eval_on(&t, "cook(t)"), s("abc"));
    assert_eq!(eval_on(&t, "cook(u)"), s("\"q;r\""));
    assert_eq!(eval_on(&t, "cook"), s("1"));
    assert_eq!(eval_on(&t, "req.cook_cnt(s)"), i(2));
    assert_eq!(eval_on(&t, "req.cook_cnt"), i(4));
    assert_eq!(eval_on(&t, "req.cook_val(s)"), i(2));
    assert_eq!(eval_on(&t, "cook(nope)"), None);
    assert_eq!(
        eval_on(&t, "req.body"),
        Some(Sample::Bin(b"k=v&name=al".to_vec().into()))
    );
    assert_eq!(eval_on(&t, "req.body_param(name)"), s("al"));
    assert_eq!(eval_on(&t, "req.body_param"), s("v"));
    assert_eq!(eval_on(&t, "req.body_len"), i(11));
    assert_eq!(eval_on(&t, "req.body_size"), i(11));
    let nobody = txn("GET / HTTP/1.1\r\n\r\n");
    assert_eq!(eval_on(&nobody, "req.body"), None);
    assert_eq!(eval_on(&nobody, "req.body_len"), None);
}

#[test]
fn response_fetches() {
    let mut t = txn("GET / HTTP/1.1\r\n\r\n");
    assert_eq!(eval_on(&t, "status"), None);
    assert_eq!(eval_on(&t, "res.hdr(server)"), None);
    respond(
        &mut t,
        "HTTP/1.1 404 Not Found\r\nServer: x\r\nSet-Cookie: a=1; Path=/; b=2\r\nSet-Cookie: c=3\r\nX-M: 1,2\r\n",
    );
    assert_eq!(eval_on(&t, "status"), i(404));
    assert_eq!(eval_on(&t, "res.ver"), s("1.1"));
    assert_eq!(eval_on(&t, "res.hdr(server)"), s("x"));
    assert_eq!(eval_on(&t, "shdr(x-m)"), s("2"));
    assert_eq!(eval_on(&t, "res.fhdr(x-m)"), s("1,2"));
    assert_eq!(eval_on(&t, "res.hdr_cnt(x-m)"), i(2));
    assert_eq!(eval_on(&t, "res.cook(a)"), s("1"));
    assert_eq!(eval_on(&t, "res.cook(b)"), None);
    assert_eq!(eval_on(&t, "scook(c)"), s("3"));
    assert_eq!(eval_on(&t, "res.cook_cnt"), i(2));
}

#[test]
fn no_sample_outside_http() {
    let c = StreamCtx::new(
        "10.1.2.3:5000".parse().unwrap(),
        "127.0.0.1:80".parse().unwrap(),
        "fe",
    );
    for e in [
        "method",
        "path",
        "req.hdr(host)",
        "hdr_cnt(host)",
        "req.cook(a)",
        "status",
        "base32",
    ] {
        assert_eq!(SampleExpr::parse(e).unwrap().eval(&c), None, "{e}");
    }
}

#[test]
fn argument_errors() {
    for bad in [
        "path(1)",
        "req.hdr(a,b)",
        "req.hdr(a,1,2)",
        "url_param(a,bc)",
        "http_auth",
        "capture.req.hdr",
        "capture.req.hdr(-1)",
    ] {
        assert!(SampleExpr::parse(bad).is_err(), "{bad}");
    }
}

#[test]
fn acls_try_every_value() {
    let t = txn(REQ);
    let c = ctx(&t);
    let acl = |words: &str| {
        let w: Vec<String> = words.split_whitespace().map(str::to_owned).collect();
        AclExpr::parse(&w).unwrap().eval(&c)
    };
    assert!(acl("hdr(x-list) b"));
    assert!(acl("hdr(x-list) e"));
    assert!(!acl("hdr(x-list) c"));
    assert!(acl("hdr(x-list,1) a"));
    assert!(!acl("hdr(x-list,1) b"));
    assert!(acl("req.fhdr(x-list) -m sub b ,"));
    assert!(acl("cook(s) 1"));
    assert!(acl("cook(s) 2"));
    assert!(acl("hdr_beg(host) www."));
    assert!(acl("hdr_end(host) -i .COM"));
    assert!(acl("hdr_dom(host) example"));
    assert!(acl("path_beg /a/"));
    assert!(acl("path_end .html"));
    assert!(acl("path_dir b.html"));
    assert!(acl("path_reg ^/a/.*\\.html$"));
    assert!(acl("path_len 9"));
    assert!(acl("url_sub two"));
    assert!(acl("urlp_beg(y) tw"));
    assert!(acl("cook_sub(t) b"));
    assert!(acl("hdr_cnt(x-list) gt 3"));
    assert!(acl("hdr(x-list) -m found"));
    assert!(!acl("hdr(nope) -m found"));
    assert!(acl("base_beg www.example.com/a"));
    assert!(acl("method GET"));
}

fn userlist_ref() -> UserlistRef {
    UserlistRef::bound(Arc::new(Userlist {
        name: "L".into(),
        users: vec![User {
            name: "alice".into(),
            password: Password::Insecure("wonder".into()),
            groups: vec!["ops".into()],
        }],
        groups: vec![("ops".into(), vec![]), ("dev".into(), vec![])],
    }))
}

#[test]
fn auth_fetches() {
    use crate::sample::fetch_http::{HttpFetch, HttpKind};
    let good = txn("GET / HTTP/1.1\r\nAuthorization: Basic YWxpY2U6d29uZGVy\r\n\r\n");
    let bad = txn("GET / HTTP/1.1\r\nAuthorization: Basic YWxpY2U6eA==\r\n\r\n");
    let auth = HttpFetch {
        keyword: "http_auth",
        kind: HttpKind::Auth(userlist_ref()),
    };
    assert_eq!(auth.eval(&ctx(&good)), Some(Sample::Bool(true)));
    assert_eq!(auth.eval(&ctx(&bad)), Some(Sample::Bool(false)));
    let group = HttpFetch {
        keyword: "http_auth_group",
        kind: HttpKind::AuthGroup(userlist_ref()),
    };
    assert_eq!(group.eval(&ctx(&good)), Some(Sample::Str("alice".into())));
    assert_eq!(group.eval(&ctx(&bad)), None);
    let mut groups = Vec::new();
    group.for_each(&ctx(&good), &mut |s| {
        groups.push(s.into_owned());
        false
    });
    assert_eq!(groups, [Sample::Str("ops".into())]);
    assert_eq!(eval_on(&good, "http_auth_type"), s("Basic"));
    assert_eq!(eval_on(&good, "http_auth_user"), s("alice"));
    assert_eq!(eval_on(&good, "http_auth_pass"), s("wonder"));
    let bearer = txn("GET / HTTP/1.1\r\nAuthorization: Bearer tok\r\n\r\n");
    assert_eq!(eval_on(&bearer, "http_auth_type"), s("Bearer"));
    assert_eq!(eval_on(&bearer, "http_auth_user"), None);
}

#[test]
fn captures() {
    let mut t = txn("GET / HTTP/1.1\r\n\r\n");
    t.req_captures = vec![Some("one".into()), None];
    t.res_captures = vec![Some("r".into())];
    assert_eq!(eval_on(&t, "capture.req.hdr(0)"), s("one"));
    assert_eq!(eval_on(&t, "capture.req.hdr(1)"), None);
    assert_eq!(eval_on(&t, "capture.req.hdr(5)"), None);
    assert_eq!(eval_on(&t, "capture.res.hdr(0)"), s("r"));
}

#[test]
fn hashes_and_odd_arguments_match_haproxy() {
    // Values printed by haproxy 2.6 for the same requests.
    let a = txn(
        "GET /p;x=5?a=1&b=2 HTTP/1.1\r\nHost: h\r\nUser-Agent: curl\r\nAccept: */*\r\nX-A: 1\r\n\r\n",
    );
    assert_eq!(eval_on(&a, "base32"), i(1_935_934_760));
    assert_eq!(eval_on(&a, "url32"), i(2_886_803_997));
    assert_eq!(eval_on(&a, "urlp(x,;)"), s("5?a=1"));
    assert_eq!(eval_on(&a, "req.hdr()"), s("1"));
    assert_eq!(eval_on(&a, "hdr_cnt()"), i(4));
    let b = txn(
        "GET /a/b?x HTTP/1.1\r\nHost: www.example.com\r\nUser-Agent: curl\r\nAccept: */*\r\n\r\n",
    );
    assert_eq!(eval_on(&b, "base32"), i(1_979_360_161));
    assert_eq!(eval_on(&b, "url32"), i(3_596_382_484));
    assert_eq!(eval_on(&b, "req.hdr()"), s("*/*"));
}

#[test]
fn http_first_req_reads_the_connection_position() {
    let mut t = txn(REQ);
    assert_eq!(eval_on(&t, "http_first_req"), Some(Sample::Bool(false)));
    t.first_req = true;
    assert_eq!(eval_on(&t, "http_first_req"), Some(Sample::Bool(true)));
    assert!(SampleExpr::parse("http_first_req(1)").is_err());
}
