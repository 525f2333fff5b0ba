//! Parsing of HTTP rules, redirects, captures and userlists: the model and every error
//! with its line.

use std::path::Path;

use crate::config::{Config, parse_str};
use crate::http_rules::HttpAction;

fn cfg(body: &[&str]) -> String {
    let mut text = String::from(
        "userlist L\n    user u insecure-password p\nfrontend fe\n    mode http\n    bind 127.0.0.1:8080\n",
    );
    for l in body {
        text.push_str("    ");
        text.push_str(l);
        text.push('\n');
    }
    text.push_str("    default_backend be\nbackend be\n    mode http\n    server s 127.0.0.1:1\n");
    text
}

fn ok(body: &[&str]) -> Config {
    parse_str(&cfg(body), Path::new("t.cfg")).unwrap_or_else(|e| panic!("{e}"))
}

/// The first error's line (in the frontend, line 1 is the first body line) and text.
fn err(body: &[&str]) -> (usize, String) {
    match parse_str(&cfg(body), Path::new("t.cfg")) {
        Ok(_) => panic!("unexpectedly valid: {body:?}"),
        Err(e) => {
            let first = e.iter().next().unwrap();
            (first.location.line.saturating_sub(5), first.message())
        }
    }
}

#[test]
fn rules_land_in_their_lists() {
    let c = ok(&[
        "capture request header Host len 10",
        "capture response header Server len 5",
        "declare capture request len 8",
        "http-request set-header X 1",
        "http-request deny if { path /x }",
        "http-request capture path len 30",
        "redirect prefix https://h code 301 if { path /y }",
        "http-response del-header server",
        "http-after-response set-header Y 2",
    ]);
    let fe = &c.frontends[0];
    assert_eq!(fe.http_rules.request.len(), 3);
    assert_eq!(fe.http_rules.redirects.len(), 1);
    assert_eq!(fe.http_rules.response.len(), 1);
    assert_eq!(fe.http_rules.after_response.len(), 1);
    assert!(fe.http_rules.strict);
    assert_eq!(fe.http_captures.req_slots, [10, 8, 30]);
    assert_eq!(fe.http_captures.res_slots, [5]);
    assert!(matches!(
        &fe.http_rules.request[2].action,
        HttpAction::Capture { slot, .. } if slot.slot == 2 && slot.len == 30
    ));
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
}

#[test]
fn defaults_rules_come_first() {
    let text = "defaults web\n    mode http\n    http-request set-header X-D 1\n\
        frontend fe from web\n    bind 127.0.0.1:8080\n    http-request set-header X-F 1\n    default_backend be\n\
        defaults\n    mode http\nbackend be\n    server s 127.0.0.1:1\n";
    let c = parse_str(text, Path::new("t.cfg")).unwrap_or_else(|e| panic!("{e}"));
    let names: Vec<String> = c.frontends[0]
        .http_rules
        .request
        .iter()
        .map(|r| match &r.action {
            HttpAction::SetHeader { name, .. } => name.to_string(),
            _ => String::new(),
        })
        .collect();
    assert_eq!(names, ["x-d", "x-f"]);
    assert!(c.backends[0].http_rules.request.is_empty());
}

#[test]
fn defaults_with_rules_serve_one_side_only() {
    let msg = |tail: &str| {
        let text =
            format!("defaults web\n    mode http\n    http-request set-header X-D 1\n{tail}");
        parse_str(&text, Path::new("t.cfg"))
            .err()
            .map(|e| e.iter().next().unwrap().message())
            .unwrap_or_default()
    };
    assert!(
        msg("frontend fe from web\n    bind 127.0.0.1:8080\n    default_backend be\nbackend be from web\n    server s 127.0.0.1:1\n")
            .contains("frontends and backends cannot inherit from the same defaults section if it defines TCP/HTTP rules")
    );
    assert!(
        msg("listen li from web\n    bind 127.0.0.1:8080\n    server s 127.0.0.1:1\n").contains(
            "a listen section cannot inherit from a defaults section defining TCP/HTTP rules"
        )
    );
    assert!(msg("defaults other from web\n    mode http\n").contains(
        "a defaults section cannot inherit from a defaults section defining TCP/HTTP rules"
    ));
}

#[test]
fn warnings() {
    let c = ok(&["http-request deny", "http-request set-header X 1"]);
    assert_eq!(c.warnings.len(), 1);
    assert!(
        c.warnings[0]
            .message()
            .contains("previous 'http-request' action is final")
    );
    assert_eq!(c.warnings[0].location.line, 7);
    let text = "frontend fe\n    bind 127.0.0.1:8080\n    http-request deny\n    default_backend be\nbackend be\n    balance uri\n    server s 127.0.0.1:1\n";
    let c = parse_str(text, Path::new("t.cfg")).unwrap_or_else(|e| panic!("{e}"));
    let msgs: Vec<String> = c.warnings.iter().map(|w| w.message()).collect();
    assert!(
        msgs.iter()
            .any(|m| m
                .contains("'http-request' rules ignored for proxy 'fe' as they require HTTP mode")),
        "{msgs:?}"
    );
    assert!(
        msgs.iter()
            .any(|m| m.contains("Layer 7 hash not possible for backend 'be'")),
        "{msgs:?}"
    );
}

#[test]
fn errors_name_line_and_reason() {
    let cases: &[(&[&str], &str)] = &[
        (&["http-request"], "'http-request' expects an action"),
        (&["http-request nope"], "'http-request' : expects "),
        (
            &["http-request set-status 200"],
            "'http-request set-status' : this action is only allowed in 'http-response' or 'http-after-response' rules",
        ),
        (
            &["http-after-response deny"],
            "only allowed in 'http-request' or 'http-response' rules",
        ),
        (
            &["http-request set-header"],
            "'http-request set-header' expects a header name and a value",
        ),
        (
            &["http-request set-header X"],
            "'http-request set-header' expects a header name and a value",
        ),
        (
            &["http-request set-header X %[nope]"],
            "failed to parse log-format",
        ),
        (
            &["http-request deny deny_status 999"],
            "must be between 200 and 599",
        ),
        (
            &["http-request deny deny_status 302"],
            "status code '302' not handled",
        ),
        (
            &["http-request return string hi"],
            "a content type must be defined",
        ),
        (
            &["http-request return status 204 content-type t string hi"],
            "cannot have a payload",
        ),
        (
            &["http-request return file /nonexistent/x"],
            "failed to open file '/nonexistent/x'",
        ),
        (
            &["http-request redirect"],
            "expects 'location', 'prefix' or 'scheme'",
        ),
        (
            &["http-request redirect location /x code 305"],
            "unsupported HTTP code '305'",
        ),
        (
            &["http-request redirect location /x bogus"],
            "(got 'bogus')",
        ),
        (&["redirect location /x if nope"], "no such ACL"),
        (
            &["http-request del-header X -m nope"],
            "only 'str', 'beg', 'end', 'sub' and 'reg'",
        ),
        (&["http-request replace-header X ( y"], "invalid regex"),
        (
            &["http-request set-log-level loud"],
            "expects a syslog level",
        ),
        (
            &["http-request capture path"],
            "'len <length>' or 'id <id>'",
        ),
        (
            &["http-request capture path id 3"],
            "no capture slot 3 declared",
        ),
        (&["http-request wait-for-body"], "'time <time>'"),
        (
            &["http-request normalize-uri path-dotdot"],
            "unknown normalizer 'path-dotdot'",
        ),
        (
            &["http-request normalize-uri path-strip-dotdot half"],
            "only accepts 'full'",
        ),
        (&["http-request track-sc5 src"], "Wrong track-sc number '5'"),
        (
            &["http-request set-var(nope) str(x)"],
            "http-request set-var",
        ),
        (
            &["http-request cache-use c"],
            "is not supported yet (comes with the HTTP cache)",
        ),
        (
            &["http-request set-header X 1 foo"],
            "unexpected keyword 'foo'",
        ),
        (
            &["http-request auth unless { http_auth(nope) }"],
            "unable to find userlist 'nope'",
        ),
        (&["capture request header Host"], "'len <length>'"),
        (
            &["capture request header Host len 0"],
            "must be between 1 and 65535",
        ),
        (&["http-request strict-mode maybe"], "'on' or 'off'"),
    ];
    for (body, want) in cases {
        let (line, msg) = err(body);
        assert!(msg.contains(want), "{body:?}: got '{msg}', want '{want}'");
        assert_eq!(line, 1, "{body:?}: {msg}");
    }
}

#[test]
fn userlist_errors() {
    let parse = |text: &str| {
        parse_str(text, Path::new("t.cfg"))
            .err()
            .map(|e| e.iter().next().unwrap().message())
    };
    assert!(
        parse("userlist L\n    user a\n")
            .unwrap()
            .contains("'password' or 'insecure-password'")
    );
    assert!(
        parse("userlist L\n    user a password $9$nope\n")
            .unwrap()
            .contains("crypt(3) does not support")
    );
    assert!(
        parse("userlist L\n    user a insecure-password x groups g\n")
            .unwrap()
            .contains("no such group 'g'")
    );
    assert!(
        parse("userlist L\n    group g users bob\n")
            .unwrap()
            .contains("no such user 'bob'")
    );
    assert!(
        parse("userlist L\n    nope\n")
            .unwrap()
            .contains("unknown keyword 'nope' in 'userlist' section")
    );
    assert!(
        parse("userlist L\nuserlist L\n")
            .unwrap()
            .contains("userlist 'L' has the same name")
    );
    assert!(parse("userlist L\n    group g\n    user a password $6$saltsalt$TVLlQcbpFVof5W3Yz4DTP6gRstiNuHwwTt6GLc1E5n0U0aDehy0S5knV8wiOQSpT0Y77vwPZN.Pq.H91p5hVO1 groups g\n").is_none());
}

#[test]
fn balance_http_algorithms() {
    use crate::backend::balance::http::UriHash;
    use crate::config::model::Balance;
    let be = |line: &str| {
        let text = format!("backend be\n    mode http\n    {line}\n    server s 127.0.0.1:1\n");
        parse_str(&text, Path::new("t.cfg")).map(|c| c.backends[0].balance.clone())
    };
    assert_eq!(
        be("balance uri len 10 depth 2 whole path-only").unwrap(),
        Balance::Uri(UriHash {
            len: Some(10),
            depth: Some(2),
            whole: true,
            path_only: true
        })
    );
    assert_eq!(
        be("balance url_param id check_post").unwrap(),
        Balance::UrlParam {
            name: "id".into(),
            check_post: true
        }
    );
    assert_eq!(
        be("balance hdr(Host) use_domain_only").unwrap(),
        Balance::Hdr {
            name: "host".into(),
            use_domain_only: true
        }
    );
    assert!(be("balance url_param").is_err());
    assert!(be("balance hdr()").is_err());
    assert!(be("balance uri deep").is_err());
    assert!(be("balance uri len x").is_err());
}
