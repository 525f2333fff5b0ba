//! `tcp-request` / `tcp-response` rules: the model produced, section validity, defaults
//! inheritance, warnings and every error message with its line.

use std::path::Path;
use std::time::Duration;

use super::{cfg, env, error, parse};
use crate::config::model::{BackendRef, Config};
use crate::config::parse_str_with_env;
use crate::rules::{Action, ContentVerdict, Cursor, Gpc, SetVarCond, TcpRule, VarScope, Verdict};
use crate::sample::StreamCtx;

/// Warnings of a valid configuration, as (line, message).
fn warnings(lines: &[&str]) -> Vec<(usize, String)> {
    let c =
        parse_str_with_env(&cfg(lines), Path::new("t.cfg"), &env).unwrap_or_else(|e| panic!("{e}"));
    c.warnings
        .iter()
        .map(|w| (w.location.line, w.message()))
        .collect()
}

fn lines(rules: &[TcpRule]) -> Vec<usize> {
    rules.iter().map(|r| r.location.line).collect()
}

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
fn frontend_rules_are_parsed_in_order() {
    let c = parse(&[
        "frontend fe",
        "    bind :10000",
        "    acl trusted src 10.0.0.0/8",
        "    tcp-request inspect-delay 5s",
        "    tcp-request connection reject if !trusted { src 10.9.0.0/16 }",
        "    tcp-request connection expect-proxy layer4 if trusted",
        "    tcp-request connection set-var(sess.port,ifnotset,ifgt) src_port",
        "    tcp-request session sc-inc-gpc1(2)",
        "    tcp-request content accept if { src 10.1.0.0/16 }",
        "    tcp-request content unset-var(sess.port)",
        "    tcp-request content silent-drop unless trusted",
        "    tcp-request content set-dst-port int(8080)",
        "    default_backend be",
        "backend be",
    ]);
    let r = &c.frontends[0].rules;
    assert_eq!(r.inspect_delay, Some(Duration::from_secs(5)));
    assert_eq!(lines(&r.connection), [5, 6, 7]);
    assert_eq!(lines(&r.session), [8]);
    assert_eq!(lines(&r.content), [9, 10, 11, 12]);
    assert!(r.response.is_empty());
    assert!(matches!(r.connection[0].action, Action::Reject));
    assert!(matches!(r.connection[1].action, Action::ExpectProxy));
    match &r.connection[2].action {
        Action::SetVar { var, conds, .. } => {
            assert_eq!((var.scope, var.name.as_str()), (VarScope::Sess, "port"));
            assert_eq!(conds, &[SetVarCond::IfNotSet, SetVarCond::IfGt]);
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        r.session[0].action,
        Action::IncGpc {
            gpc: Gpc::Gpc1,
            sc: 2
        }
    ));
    assert!(r.content[2].cond.as_ref().is_some_and(|c| c.unless));
    assert!(matches!(r.content[3].action, Action::SetDstPort(_)));
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    // The backend half of nothing: the backend has no rules.
    assert!(c.backends[0].rules.is_empty());
}

#[test]
fn parsed_rules_drive_the_engine() {
    struct Host(Vec<String>);
    impl crate::rules::RuleHost for Host {
        fn track(&mut self, sc: u8, table: &str, key: crate::sample::Sample<'_>) {
            self.0.push(format!("track{sc} {table} {key:?}"));
        }
        fn inc_gpc(&mut self, sc: u8, gpc: Gpc) {
            self.0.push(format!("{gpc:?} {sc}"));
        }
        fn set_var(
            &mut self,
            var: &crate::rules::VarName,
            _: &[SetVarCond],
            v: crate::sample::Sample<'_>,
        ) {
            self.0.push(format!("{var}={v:?}"));
        }
        fn unset_var(&mut self, var: &crate::rules::VarName) {
            self.0.push(format!("unset {var}"));
        }
        fn set_src(&mut self, addr: std::net::SocketAddr) {
            self.0.push(format!("src {addr}"));
        }
        fn set_dst(&mut self, addr: std::net::SocketAddr) {
            self.0.push(format!("dst {addr}"));
        }
        fn expect_proxy(&mut self) {
            self.0.push("proxy".into());
        }
    }
    let c = parse(&[
        "frontend fe",
        "    bind :10000",
        "    acl blocked src 192.0.2.0/24",
        "    tcp-request connection reject if blocked",
        "    tcp-request connection set-var(sess.net) src,ipmask(16)",
        "    tcp-request content set-src ipv4(198.51.100.1)",
        "    tcp-request content reject if { src 198.51.100.1 } { dst_port 443 }",
        "    default_backend be",
        "backend be",
    ]);
    let rules = &c.frontends[0].rules;
    let mut host = Host(Vec::new());
    let mut blocked = StreamCtx::new(
        "192.0.2.9:1000".parse().unwrap(),
        "127.0.0.1:443".parse().unwrap(),
        "fe",
    );
    assert_eq!(
        rules.eval_connection(&mut blocked, &mut host),
        Verdict::Reject
    );
    assert!(host.0.is_empty());
    let mut ok = StreamCtx::new(
        "10.2.3.4:1000".parse().unwrap(),
        "127.0.0.1:443".parse().unwrap(),
        "fe",
    );
    assert_eq!(rules.eval_connection(&mut ok, &mut host), Verdict::Accept);
    let mut cursor = Cursor::default();
    assert_eq!(
        rules.eval_content(&mut cursor, &mut ok, &mut host),
        ContentVerdict::Reject
    );
    assert_eq!(host.0, ["sess.net=Ip(10.2.0.0)", "src 198.51.100.1:1000"]);
}

#[test]
fn listen_sections_split_rules_by_side() {
    let c = parse(&[
        "listen app",
        "    bind :10000",
        "    tcp-request inspect-delay 2s",
        "    tcp-response inspect-delay 1s",
        "    tcp-request connection accept",
        "    tcp-request content accept",
        "    tcp-response content close if TRUE",
        "    server s1 127.0.0.1:8000",
    ]);
    let (fe, be) = (&c.frontends[0].rules, &c.backends[0].rules);
    assert_eq!(
        (
            lines(&fe.connection),
            lines(&fe.content),
            lines(&fe.response)
        ),
        (vec![5], vec![6], vec![])
    );
    assert_eq!(
        (
            lines(&be.connection),
            lines(&be.content),
            lines(&be.response)
        ),
        (vec![], vec![6], vec![7])
    );
    assert_eq!(fe.inspect_delay, Some(Duration::from_secs(2)));
    assert_eq!(be.response_inspect_delay, Some(Duration::from_secs(1)));
    assert!(matches!(be.response[0].action, Action::Close));
}

#[test]
fn named_defaults_rules_come_first() {
    let c = parse(&[
        "defaults base",
        "    acl local src 127.0.0.0/8",
        "    tcp-request inspect-delay 3s",
        "    tcp-request connection accept if local",
        "    tcp-request content reject if { src 10.0.0.0/8 }",
        "frontend a",
        "    bind :10000",
        "    tcp-request connection reject",
        "    default_backend be",
        "frontend b from base",
        "    bind :10001",
        "    default_backend be",
        "defaults plain",
        "backend be",
    ]);
    let a = &c.frontends[0].rules;
    assert_eq!(lines(&a.connection), [4, 8]);
    assert_eq!(lines(&a.content), [5]);
    assert_eq!(a.inspect_delay, Some(Duration::from_secs(3)));
    assert_eq!(lines(&c.frontends[1].rules.connection), [4]);
    // The defaults' ACLs are not visible to the proxies.
    let (line, msg) = error(&[
        "defaults base",
        "    acl local src 127.0.0.0/8",
        "frontend a",
        "    bind :10000",
        "    tcp-request connection accept if local",
    ]);
    assert_eq!(
        (line, msg.as_str()),
        (
            5,
            "error detected while parsing 'tcp-request connection' condition : no such ACL: 'local'"
        )
    );
}

#[test]
fn defaults_with_rules_restrict_who_inherits() {
    let base = [
        "defaults base",
        "    tcp-request connection reject if FALSE",
        "frontend f",
        "    bind :10000",
        "    default_backend b",
    ];
    let with = |extra: &[&str]| {
        let mut l: Vec<&str> = base.to_vec();
        l.extend_from_slice(extra);
        error(&l)
    };
    assert_eq!(
        with(&["backend b"]),
        (
            6,
            "frontends and backends cannot inherit from the same defaults section defining TCP rules (defaults section at t.cfg:1)".into()
        )
    );
    assert_eq!(
        with(&["defaults other", "backend b", "listen l from base", "    bind :1"]),
        (
            8,
            "a listen section cannot inherit from a defaults section defining TCP rules (defaults section at t.cfg:1)".into()
        )
    );
    let (line, msg) = error(&[
        "defaults base",
        "    tcp-request connection reject if FALSE",
        "backend b",
    ]);
    assert_eq!(
        (line, msg.as_str()),
        (
            3,
            "a backend section cannot inherit from a defaults section defining 'tcp-request connection' or 'tcp-request session' rules (defaults section at t.cfg:1)"
        )
    );
    let (line, msg) = error(&[
        "defaults base",
        "    tcp-response content reject",
        "frontend f",
        "    bind :1",
    ]);
    assert_eq!(
        (line, msg.as_str()),
        (
            3,
            "a frontend section cannot inherit from a defaults section defining 'tcp-response content' rules (defaults section at t.cfg:1)"
        )
    );
    let (line, msg) = error(&[
        "defaults base",
        "    tcp-request content reject if FALSE",
        "defaults next from base",
    ]);
    assert_eq!(
        (line, msg.as_str()),
        (
            3,
            "a defaults section cannot inherit from a defaults section defining TCP rules (defaults section at t.cfg:1)"
        )
    );
}

#[test]
fn dynamic_and_static_backend_names() {
    let c = parse(&[
        "frontend fe",
        "    bind :10000",
        "    use_backend bk_%[dst_port] if { src 10.0.0.0/8 }",
        "    use_backend be",
        "    default_backend be",
        "backend be",
    ]);
    let rules = &c.frontends[0].use_backends;
    let BackendRef::Dynamic(f) = &rules[0].backend else {
        panic!("dynamic name expected");
    };
    assert_eq!(f.source(), "bk_%[dst_port]");
    assert!(matches!(&rules[1].backend, BackendRef::Static(n) if n == "be"));
    // Dynamic names are not checked at load time; static ones are.
    let (line, msg) = error(&[
        "frontend fe",
        "    bind :10000",
        "    use_backend %[dst_port]",
        "    use_backend nope",
    ]);
    assert_eq!(
        (line, msg.as_str()),
        (
            4,
            "frontend 'fe' : unable to find required use_backend 'nope'"
        )
    );
}

#[test]
fn track_sc_arguments_and_tables() {
    let c = Config::default();
    assert!(c.warnings.is_empty());
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
    let all = super::errors(&[
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
            "'tcp-request content' expects an action ('accept', 'reject', 'track-sc0', 'track-sc1', 'track-sc2', 'sc-inc-gpc0', 'sc-inc-gpc1', 'set-var', 'unset-var', 'set-src', 'set-src-port', 'set-dst', 'set-dst-port', 'silent-drop', 'switch-mode' or 'use-service')",
        ),
        (
            "tcp-request session rejct",
            "'tcp-request session' : expects 'accept', 'reject', 'track-sc0', 'track-sc1', 'track-sc2', 'sc-inc-gpc0', 'sc-inc-gpc1', 'set-var', 'unset-var', 'set-src', 'set-src-port', 'set-dst', 'set-dst-port' or 'silent-drop' (got 'rejct'); did you mean 'reject' maybe ?",
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
            "keyword 'tcp-request content switch-mode http' is not supported yet (comes with HTTP mode)",
        ),
        (
            "tcp-request content switch-mode http proto h2 if TRUE",
            "keyword 'tcp-request content switch-mode http' is not supported yet (comes with HTTP mode)",
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

#[test]
fn placement_warnings() {
    let w = warnings(&[
        "frontend fe",
        "    bind :10000",
        "    use_backend be if TRUE",
        "    tcp-request content accept",
        "    tcp-request session accept if TRUE",
        "    tcp-request connection accept if TRUE",
        "    tcp-request content reject",
        "    tcp-request inspect-delay 1s",
        "    tcp-request inspect-delay 2s",
        "backend be",
    ]);
    let w: Vec<(usize, &str)> = w.iter().map(|(l, m)| (*l, m.as_str())).collect();
    assert_eq!(
        w,
        [
            (
                4,
                "a 'tcp-request content' rule placed after a 'use_backend' rule will still be processed before"
            ),
            (
                5,
                "a 'tcp-request session' rule placed after a 'tcp-request content' rule will still be processed before"
            ),
            (
                6,
                "a 'tcp-request connection' rule placed after a 'tcp-request session' rule will still be processed before"
            ),
            (
                7,
                "a 'tcp-request content' rule placed after a 'use_backend' rule will still be processed before"
            ),
            (
                7,
                "previous 'tcp-request content' action at line 4 is final and has no condition attached, further entries are NOOP"
            ),
            (
                9,
                "ignoring tcp-request inspect-delay (was already defined) in frontend 'fe'"
            ),
        ]
    );
    // The rule after the unconditional accept still parses.
    let c = parse(&[
        "frontend fe",
        "    bind :10000",
        "    tcp-request content accept",
        "    tcp-request content reject",
        "    default_backend be",
        "backend be",
    ]);
    assert_eq!(lines(&c.frontends[0].rules.content), [3, 4]);
}

#[test]
fn inherited_inspect_delay_cannot_be_redefined() {
    // HAProxy copies the defaults' delay and then ignores the proxy's own, with a warning.
    let lines_ = [
        "defaults base",
        "    tcp-request inspect-delay 3s",
        "frontend fe",
        "    bind :10000",
        "    tcp-request inspect-delay 10s",
        "    default_backend be",
        "backend be",
    ];
    let w = warnings(&lines_);
    assert_eq!(
        w,
        [(
            5,
            "ignoring tcp-request inspect-delay (was already defined) in frontend 'fe'".to_owned()
        )]
    );
    let c = parse(&lines_);
    assert_eq!(
        c.frontends[0].rules.inspect_delay,
        Some(Duration::from_secs(3))
    );
    // A zero delay means none.
    let c = parse(&[
        "frontend fe",
        "    bind :10000",
        "    tcp-request inspect-delay 0",
        "    default_backend be",
        "backend be",
    ]);
    assert_eq!(c.frontends[0].rules.inspect_delay, None);
}
