//! Differential tests: each configuration runs in HAProxy 2.6 and in lb with the same servers,
//! the same requests go to both, and the status codes, the response headers, the headers the
//! server received and the server choice must be the same (see `lb_tests::differential` for
//! what is normalized). `LB_DIFF_SELF=1` runs HAProxy on both sides to check the harness.

use lb_tests::differential::{Engine, Scenario, Step, compare, compare_with};

fn check(s: &Scenario) {
    if let Err(e) = compare(s) {
        panic!("{e}");
    }
}

fn scenario(
    name: &'static str,
    servers: &[&'static str],
    proxies: &str,
    steps: Vec<Step>,
) -> Scenario {
    Scenario {
        name,
        proxies: proxies.into(),
        servers: servers.to_vec(),
        steps,
    }
}

/// A frontend sending everything to backend `be` with `rules` (frontend lines) and
/// `backend` (backend lines).
fn fe_be(rules: &str, backend: &str) -> String {
    format!(
        "frontend fe\n    bind 127.0.0.1:{{fe}}\n{rules}    default_backend be\n\n\
         backend be\n{backend}"
    )
}

#[test]
fn header_rule_chains() {
    let rules = "    http-request set-header X-Set hello\n\
                 \x20   http-request add-header X-Add a\n\
                 \x20   http-request add-header X-Add b\n\
                 \x20   http-request del-header X-Del\n\
                 \x20   http-request replace-header User-Agent (.*)bot(.*) \\1robot\\2\n\
                 \x20   http-request replace-value X-List ^b$ B\n\
                 \x20   http-request set-header X-Path %[path]\n\
                 \x20   http-request set-header X-Method %[method]\n\
                 \x20   http-request set-header X-Query %[query]\n\
                 \x20   http-request set-header X-Host %[req.hdr(host)]\n\
                 \x20   http-request set-header X-Cnt %[req.hdr_cnt(x-add)]\n\
                 \x20   http-request set-header X-Set again if { path_beg /again }\n\
                 \x20   http-response set-header X-Resp yes\n\
                 \x20   http-response del-header X-Server if { path_beg /hide }\n\
                 \x20   http-response add-header X-Status %[status]\n";
    check(&scenario(
        "header rule chains",
        &["s1"],
        &fe_be(rules, "    server s1 {s1}\n"),
        vec![
            Step::get("/a?x=1")
                .header("X-Del", "gone")
                .header("User-Agent", "superbot/1.0")
                .header("X-List", "a, b, c"),
            Step::get("/again").header("X-Set", "client"),
            Step::get("/hide/x"),
            Step::get("/%7Euser?q=a%20b"),
        ],
    ));
}

#[test]
fn path_and_method_rewrites_with_variables() {
    let rules = "    http-request set-var(txn.orig) path\n\
                 \x20   http-request set-path /v2%[path] if { path_beg /api }\n\
                 \x20   http-request set-query a=1&%[query] if { path_beg /v2/api/q }\n\
                 \x20   http-request set-method PUT if { path_end /put }\n\
                 \x20   http-request set-uri /fixed?x=%[url_param(x)] if { path /uri }\n\
                 \x20   http-request set-header X-Orig %[var(txn.orig)]\n\
                 \x20   http-request set-header X-Dec %[url_param(d),url_dec]\n\
                 \x20   http-after-response set-header X-After done\n";
    check(&scenario(
        "path and method rewrites",
        &["s1"],
        &fe_be(rules, "    server s1 {s1}\n"),
        vec![
            Step::get("/api/users"),
            Step::get("/api/q?b=2"),
            Step::get("/a/put"),
            Step::get("/uri?x=7&y=8"),
            Step::get("//a//b/../c?d=a%20b"),
            Step {
                method: "POST".into(),
                body: "hello=world".into(),
                ..Step::get("/form")
            },
        ],
    ));
}

#[test]
fn redirects() {
    let rules = "    http-request redirect location /new code 301 if { path /old }\n\
                 \x20   http-request redirect prefix https://example.com if { path_beg /p/ }\n\
                 \x20   http-request redirect prefix /v2 drop-query if { path_beg /q/ }\n\
                 \x20   http-request redirect scheme https if { hdr(host) -i secure.test }\n\
                 \x20   http-request redirect location /slash code 308 append-slash if { path /dir }\n";
    check(&scenario(
        "redirects",
        &["s1"],
        &fe_be(rules, "    server s1 {s1}\n"),
        vec![
            Step::get("/old"),
            Step::get("/p/x?y=1"),
            Step::get("/q/x?y=1"),
            Step::get("/s?z=2").header("Host", "secure.test"),
            Step::get("/dir"),
            Step::get("/other"),
        ],
    ));
}

#[test]
fn deny_and_return() {
    let rules = "    http-request return status 200 content-type text/plain string ok if { path /health }\n\
                 \x20   http-request deny deny_status 403 if { path_beg /admin }\n\
                 \x20   http-request deny deny_status 429 if { req.hdr(x-flood) -m found }\n\
                 \x20   http-request deny if { method DELETE }\n\
                 \x20   http-request return status 404 content-type application/json string {\"e\":1} hdr X-Why nope if { path /missing }\n";
    check(&scenario(
        "deny and return",
        &["s1"],
        &fe_be(rules, "    server s1 {s1}\n"),
        vec![
            Step::get("/health").compare_body(),
            Step::get("/admin/x"),
            Step::get("/x").header("X-Flood", "1"),
            Step {
                method: "DELETE".into(),
                ..Step::get("/thing")
            },
            Step::get("/missing").compare_body(),
            Step::get("/fine"),
        ],
    ));
}

#[test]
fn acl_routing_by_host_and_path() {
    let proxies = "frontend fe\n\
                   \x20   bind 127.0.0.1:{fe}\n\
                   \x20   acl is_api path_beg /api/\n\
                   \x20   acl is_img hdr(host) -i img.test\n\
                   \x20   acl is_dot path_end .png .jpg\n\
                   \x20   acl admin_net src 10.0.0.0/8\n\
                   \x20   use_backend api if is_api !admin_net\n\
                   \x20   use_backend img if is_img || is_dot\n\
                   \x20   default_backend web\n\
                   backend api\n    server api1 {api1}\n\
                   backend img\n    server img1 {img1}\n\
                   backend web\n    server web1 {web1}\n";
    check(&scenario(
        "acl routing",
        &["api1", "img1", "web1"],
        proxies,
        vec![
            Step::get("/api/users"),
            Step::get("/").header("Host", "IMG.test"),
            Step::get("/pic.png"),
            Step::get("/apix"),
            Step::get("/"),
        ],
    ));
}

fn many(paths: &[&str]) -> Vec<Step> {
    paths.iter().map(|p| Step::get(p)).collect()
}

const THREE: &str = "    server s1 {s1}\n    server s2 {s2}\n    server s3 {s3}\n";

#[test]
fn balance_uri() {
    for algo in ["uri", "uri whole", "uri depth 1", "uri len 3"] {
        let name: &'static str = Box::leak(format!("balance {algo}").into_boxed_str());
        check(&scenario(
            name,
            &["s1", "s2", "s3"],
            &fe_be("", &format!("    balance {algo}\n{THREE}")),
            many(&[
                "/a", "/b", "/c", "/d", "/e", "/f?x=1", "/f?x=2", "/a/b/c", "/a/z", "/abcdef",
                "/abc", "/a",
            ]),
        ));
    }
}

#[test]
fn balance_url_param_and_hdr() {
    check(&scenario(
        "balance url_param",
        &["s1", "s2", "s3"],
        &fe_be("", &format!("    balance url_param userid\n{THREE}")),
        many(&[
            "/?userid=1",
            "/?userid=2",
            "/x?a=b&userid=3",
            "/?userid=4",
            "/?userid=1",
            "/?nouser=1",
            "/?nouser=2",
            "/?userid=5",
        ]),
    ));
    let users = ["alice", "bob", "carol", "dave", "alice", "erin"];
    let mut steps: Vec<Step> = users
        .iter()
        .map(|u| Step::get("/").header("X-User", u))
        .collect();
    steps.push(Step::get("/"));
    check(&scenario(
        "balance hdr",
        &["s1", "s2", "s3"],
        &fe_be("", &format!("    balance hdr(X-User)\n{THREE}")),
        steps,
    ));
    let hosts = [
        "a.example.com",
        "www.example.com",
        "b.example.org",
        "example.com",
    ];
    check(&scenario(
        "balance hdr use_domain_only",
        &["s1", "s2", "s3"],
        &fe_be(
            "",
            &format!("    balance hdr(Host) use_domain_only\n{THREE}"),
        ),
        hosts
            .iter()
            .map(|h| Step::get("/").header("Host", h))
            .collect(),
    ));
}

#[test]
fn cookie_insert_stickiness() {
    let backend = "    balance roundrobin\n\
                   \x20   cookie SRV insert indirect nocache\n\
                   \x20   server s1 {s1} cookie one\n\
                   \x20   server s2 {s2} cookie two\n";
    check(&scenario(
        "cookie insert",
        &["s1", "s2"],
        &fe_be("", backend),
        vec![
            Step::get("/first"),
            Step::get("/again").with_cookies(),
            Step::get("/again").with_cookies(),
            Step::get("/forced").header("Cookie", "SRV=two"),
            Step::get("/forced").header("Cookie", "SRV=one; other=x"),
            Step::get("/unknown").header("Cookie", "SRV=zzz"),
            Step::get("/plain"),
        ],
    ));
}

#[test]
fn cookie_prefix_stickiness() {
    let backend = "    balance roundrobin\n\
                   \x20   cookie JSESSIONID prefix nocache\n\
                   \x20   server s1 {s1} cookie one\n\
                   \x20   server s2 {s2} cookie two\n";
    check(&scenario(
        "cookie prefix",
        &["s1", "s2"],
        &fe_be("", backend),
        vec![
            Step::get("/login"),
            Step::get("/page").with_cookies(),
            Step::get("/page").header("Cookie", "JSESSIONID=two~abc123"),
            Step::get("/page").header("Cookie", "JSESSIONID=abc123"),
            Step::get("/login").header("Cookie", "JSESSIONID=one~abc123"),
        ],
    ));
}

#[test]
fn stick_on_request_cookie() {
    let backend = "    balance roundrobin\n\
                   \x20   stick-table type string len 32 size 1k expire 1m\n\
                   \x20   stick on req.cook(sid)\n\
                   \x20   server s1 {s1}\n\
                   \x20   server s2 {s2}\n\
                   \x20   server s3 {s3}\n";
    let sid = |v: &str| Step::get("/").header("Cookie", &format!("sid={v}"));
    check(&scenario(
        "stick on req.cook",
        &["s1", "s2", "s3"],
        &fe_be("", backend),
        vec![
            sid("a"),
            sid("b"),
            sid("c"),
            sid("a"),
            sid("d"),
            sid("b"),
            Step::get("/nosid"),
            sid("c"),
        ],
    ));
}

#[test]
fn forwardfor_variants() {
    for (opt, name) in [
        ("option forwardfor", "forwardfor"),
        ("option forwardfor except 127.0.0.0/8", "forwardfor except"),
        ("option forwardfor header X-Real-IP", "forwardfor header"),
    ] {
        check(&scenario(
            name,
            &["s1"],
            &fe_be(&format!("    {opt}\n"), "    server s1 {s1}\n"),
            vec![
                Step::get("/"),
                Step::get("/").header("X-Forwarded-For", "192.0.2.1"),
            ],
        ));
    }
}

/// The harness can fail: two HAProxy configurations that differ in one header value are
/// reported as different.
#[test]
fn harness_reports_a_difference() {
    let a = scenario(
        "set-header a",
        &["s1"],
        &fe_be(
            "    http-request set-header X-V a\n",
            "    server s1 {s1}\n",
        ),
        vec![Step::get("/")],
    );
    let mut b = a.clone();
    b.proxies = fe_be(
        "    http-request set-header X-V b\n",
        "    server s1 {s1}\n",
    );
    let err = compare_with(&a, &b, Engine::Haproxy).expect_err("configs differ");
    assert!(err.contains("x-v"), "{err}");
    compare_with(&a, &a, Engine::Haproxy).expect("same config, same views");
}
