//! `tcp-request` / `tcp-response` errors: every message with its line, section validity,
//! `track-sc` arguments.

use super::{error, errors};

fn frontend(extra: &[&str]) -> Vec<String> {
    let mut l: Vec<String> = ["frontend fe", "    bind :10000", "    default_backend be"]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    l.extend(extra.iter().map(|s| format!("    {s}")));
    l.push("backend be".into());
    l
}

/// The single error of a frontend holding `rule` (the rule is on line 4).
fn rule_error(rule: &str) -> String {
    let owned = frontend(&[rule]);
    let refs: Vec<&str> = owned.iter().map(String::as_str).collect();
    let (line, msg) = error(&refs);
    assert_eq!(line, 4, "{msg}");
    msg
}

#[test]
fn track_sc_arguments_and_tables() {
    // Until stick tables are declared, any tracked table is missing: the check names it.
    let msg = rule_error("tcp-request content track-sc2 src,ipmask(24)");
    assert_eq!(
        msg,
        "proxy 'fe' : unable to find table 'fe' referenced by track-sc2"
    );
    let msg = rule_error("tcp-request connection track-sc0 src table shared if TRUE");
    assert_eq!(
        msg,
        "proxy 'fe' : unable to find table 'shared' referenced by track-sc0"
    );
    assert_eq!(
        rule_error("tcp-request connection track-sc3 src"),
        "'tcp-request connection track-sc3' : 3 track-sc number exceeding 2 (MAX_SESS_STKCTR-1) value"
    );
    assert_eq!(
        rule_error("tcp-request connection track-scx src"),
        "'tcp-request connection track-scx' : Wrong track-sc number 'x'"
    );
    assert_eq!(
        rule_error("tcp-request connection track-sc1"),
        "'tcp-request connection track-sc1' expects a sample expression"
    );
    assert_eq!(
        rule_error("tcp-request connection track-sc1 src table"),
        "'tcp-request connection track-sc1 table' expects a table name"
    );
    assert_eq!(
        rule_error("tcp-request content track-sc1 srcx"),
        "'tcp-request content track-sc1' : unknown fetch method 'srcx'"
    );
    assert_eq!(
        rule_error("tcp-response content track-sc1 src"),
        "'tcp-response content' not allowed in 'frontend' section; it only applies to backends and listen sections"
    );
}

#[test]
fn section_validity() {
    let all = errors(&[
        "backend b",
        "    tcp-request connection accept",
        "    tcp-request content accept",
        "    tcp-request inspect-delay 1s",
        "    tcp-response content accept",
        "    tcp-request session accept",
        "defaults",
        "    tcp-request inspect-delay 1s",
        "    tcp-response content accept",
        "frontend f",
        "    bind :1",
        "    tcp-response inspect-delay 1s",
    ]);
    let expected = [
        (
            2,
            "'tcp-request connection' not allowed in 'backend' section; it only applies to frontends and listen sections",
        ),
        (
            6,
            "'tcp-request session' not allowed in 'backend' section; it only applies to frontends and listen sections",
        ),
        (
            8,
            "'tcp-request inspect-delay' not allowed in 'defaults' section; only a named defaults section may hold it",
        ),
        (
            9,
            "'tcp-response content' not allowed in 'defaults' section; only a named defaults section may hold it",
        ),
        (
            12,
            "'tcp-response inspect-delay' not allowed in 'frontend' section; it only applies to backends and listen sections",
        ),
    ];
    let all: Vec<(usize, &str)> = all.iter().map(|(l, m)| (*l, m.as_str())).collect();
    assert_eq!(all, expected);
}

#[test]
fn action_errors() {
    let cases = [
        (
            "tcp-request",
            "'tcp-request' expects 'inspect-delay', 'connection', 'session' or 'content'",
        ),
        (
            "tcp-request contnet accept",
            "'tcp-request' : expects 'inspect-delay', 'connection', 'session' or 'content' (got 'contnet'); did you mean 'content' maybe ?",
        ),
        (
            "tcp-response",
            "'tcp-response' expects 'inspect-delay' or 'content'",
        ),
        (
            "tcp-request content",
            "'tcp-request content' expects an action ('accept', 'reject', 'track-sc0', 'track-sc1', 'track-sc2', 'sc-inc-gpc0', 'sc-inc-gpc1', 'sc-set-gpt0', 'set-var', 'unset-var', 'set-src', 'set-src-port', 'set-dst', 'set-dst-port', 'silent-drop', 'switch-mode', 'use-service' or 'xdp-deny')",
        ),
        (
            "tcp-request session rejct",
            "'tcp-request session' : expects 'accept', 'reject', 'track-sc0', 'track-sc1', 'track-sc2', 'sc-inc-gpc0', 'sc-inc-gpc1', 'sc-set-gpt0', 'set-var', 'unset-var', 'set-src', 'set-src-port', 'set-dst', 'set-dst-port' or 'silent-drop' (got 'rejct'); did you mean 'reject' maybe ?",
        ),
        (
            "tcp-request content expect-proxy layer4",
            "'tcp-request content expect-proxy' : this action is only allowed in 'tcp-request connection' rules",
        ),
        (
            "tcp-request content close",
            "'tcp-request content close' : this action is only allowed in 'tcp-response content' rules",
        ),
        (
            "tcp-request connection expect-proxy layer7",
            "'tcp-request connection expect-proxy' : only supports 'layer4' (got 'layer7')",
        ),
        (
            "tcp-request connection accept foo",
            "'tcp-request connection accept' : only accepts 'if' or 'unless' (got 'foo')",
        ),
        (
            "tcp-request connection reject if nope",
            "error detected while parsing 'tcp-request connection' condition : no such ACL: 'nope'",
        ),
        (
            "tcp-request connection sc-inc-gpc0(3)",
            "'tcp-request connection sc-inc-gpc0(3)' : invalid stick table track ID. The max allowed ID is 2",
        ),
        (
            "tcp-request connection sc-inc-gpc1(x)",
            "'tcp-request connection sc-inc-gpc1(x)' : invalid stick table track ID. Expects sc-inc-gpc1(<Track ID>)",
        ),
        (
            "tcp-request content set-var(foo.x) src",
            "'tcp-request content set-var(foo.x)' : invalid variable name 'foo.x'. A variable name must be start by its scope. The scope can be 'proc', 'sess', 'txn', 'req', 'res' or 'check'",
        ),
        (
            "tcp-request content set-var(txn.x,ifbig) src",
            "'tcp-request content set-var(txn.x,ifbig)' : unknown condition 'ifbig'",
        ),
        (
            "tcp-request content set-var(txn.x src",
            "'tcp-request content set-var(txn.x' : invalid variable 'set-var(txn.x'. Expects 'set-var(<var-name>)' or 'unset-var(<var-name>)'",
        ),
        (
            "tcp-request content set-var(txn.x)",
            "'tcp-request content set-var(txn.x)' expects a sample expression",
        ),
        (
            "tcp-request content unset-var(txn.x,ifset)",
            "'tcp-request content unset-var(txn.x,ifset)' : 'unset-var' does not take conditions",
        ),
        (
            "tcp-request connection set-src always_true",
            "'tcp-request connection set-src' : expression 'always_true' returns 'bool', which cannot be used as an address",
        ),
        (
            "tcp-request connection set-dst-port src",
            "'tcp-request connection set-dst-port' : expression 'src' returns 'addr', which cannot be used as a port",
        ),
        (
            "tcp-request content switch-mode http",
            "keyword 'tcp-request content switch-mode http' is not supported yet",
        ),
        (
            "tcp-request content switch-mode http proto h2 if TRUE",
            "keyword 'tcp-request content switch-mode http' is not supported yet",
        ),
        (
            "tcp-request content switch-mode tcp",
            "'tcp-request content switch-mode' : expects a valid mode (got 'tcp')",
        ),
        (
            "tcp-request content switch-mode http proto h3",
            "'tcp-request content switch-mode' : unknown MUX protocol 'h3'",
        ),
        (
            "tcp-request content use-service prometheus-exporter",
            "keyword 'tcp-request content use-service' is not supported yet (comes with services (use-service))",
        ),
        (
            "tcp-request content use-service",
            "'tcp-request content use-service' expects a service name",
        ),
        (
            "tcp-request content do-resolve(txn.ip,dns) src",
            "keyword 'tcp-request content do-resolve' is not supported yet (comes with DNS resolvers)",
        ),
        (
            "tcp-request content sc-set-gpt0(1)",
            "'tcp-request content sc-set-gpt0(1)' expects an integer or a sample expression",
        ),
        (
            "tcp-request content sc-set-gpt0(1) src",
            "'tcp-request content sc-set-gpt0(1)' : expression 'src' returns 'addr', which cannot be used as an integer",
        ),
        (
            "tcp-request content sc-set-gpt(0,1) 1",
            "keyword 'tcp-request content sc-set-gpt' is not supported yet (comes with stick-table gpc/gpt arrays)",
        ),
        (
            "tcp-request connection track-sc0 req.payload(0,4)",
            "'tcp-request connection track-sc0' : 'req.payload(0,4)' reads the request contents, which 'tcp-request connection' rules run before",
        ),
        (
            "tcp-request session set-var(sess.sni) req.ssl_sni",
            "'tcp-request session set-var(sess.sni)' : 'req.ssl_sni' reads the request contents, which 'tcp-request session' rules run before",
        ),
        (
            "tcp-request connection set-mark 1",
            "keyword 'tcp-request connection set-mark' is not supported yet (comes with TCP socket tuning)",
        ),
        (
            "tcp-request content lua.hello",
            "keyword 'tcp-request content lua.hello' is not supported yet (comes with Lua scripting)",
        ),
        (
            "tcp-request inspect-delay",
            "'tcp-request inspect-delay' expects a positive delay in milliseconds",
        ),
        (
            "tcp-request inspect-delay 5x",
            "'tcp-request inspect-delay' : invalid value '5x' : unexpected character 'x' (time units are us, ms, s, m, h, d)",
        ),
        (
            "tcp-request inspect-delay 5s 1",
            "'tcp-request inspect-delay' cannot handle unexpected argument '1'",
        ),
    ];
    for (rule, expected) in cases {
        assert_eq!(rule_error(rule), expected, "for {rule}");
    }
    let (line, msg) = error(&["backend b", "    tcp-request content switch-mode http"]);
    assert_eq!(
        (line, msg.as_str()),
        (
            2,
            "'tcp-request content switch-mode' : action is not supported for a backend"
        )
    );
}
