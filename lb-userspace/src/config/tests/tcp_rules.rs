//! `tcp-request` / `tcp-response` rules: the model produced, section validity, defaults
//! inheritance, warnings and every error message with its line.

use std::path::Path;
use std::time::Duration;

use super::{cfg, env, error, parse};
use crate::config::model::BackendRef;
use crate::config::parse_str_with_env;
use crate::rules::{
    Action, ContentVerdict, Cursor, Gpc, GptValue, SetVarCond, TcpRule, VarName, VarScope, Verdict,
};
use crate::sample::vars::{ProcVars, Vars};
use crate::sample::{Sample, StreamCtx};

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
        "    tcp-request content sc-set-gpt0(1) 42",
        "    tcp-request content sc-set-gpt0 src_port",
        "    default_backend be",
        "backend be",
    ]);
    let r = &c.frontends[0].rules;
    assert_eq!(r.inspect_delay, Some(Duration::from_secs(5)));
    assert_eq!(lines(&r.connection), [5, 6, 7]);
    assert_eq!(lines(&r.session), [8]);
    assert_eq!(lines(&r.content), [9, 10, 11, 12, 13, 14]);
    assert!(matches!(
        r.content[4].action,
        Action::SetGpt0 {
            sc: 1,
            value: GptValue::Int(42)
        }
    ));
    assert!(matches!(
        r.content[5].action,
        Action::SetGpt0 {
            sc: 0,
            value: GptValue::Expr(_)
        }
    ));
    assert!(r.response.is_empty());
    assert!(matches!(r.connection[0].action, Action::Reject));
    assert!(matches!(r.connection[1].action, Action::ExpectProxy));
    match &r.connection[2].action {
        Action::SetVar { var, conds, .. } => {
            assert_eq!((var.scope, &*var.name), (VarScope::Sess, "port"));
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
        fn track(&mut self, sc: u8, table: &str, key: Sample<'_>) {
            self.0.push(format!("track{sc} {table} {key:?}"));
        }
        fn inc_gpc(&mut self, sc: u8, gpc: Gpc) {
            self.0.push(format!("{gpc:?} {sc}"));
        }
        fn set_gpt0(&mut self, sc: u8, value: i64) {
            self.0.push(format!("gpt0 {sc} {value}"));
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
    let vars = Vars::new(std::sync::Arc::new(ProcVars::default()));
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
    ok.vars = Some(&vars);
    assert_eq!(rules.eval_connection(&mut ok, &mut host), Verdict::Accept);
    let mut cursor = Cursor::default();
    assert_eq!(
        rules.eval_content(&mut cursor, &mut ok, &mut host),
        ContentVerdict::Reject
    );
    assert_eq!(host.0, ["src 198.51.100.1:1000"]);
    let net = vars.get(&VarName::parse("sess.net").unwrap());
    assert_eq!(net, Some(Sample::Ip("10.2.0.0".parse().unwrap())));
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
    let ctx = crate::sample::StreamCtx::new(
        "10.0.0.1:5000".parse().unwrap(),
        "127.0.0.1:8443".parse().unwrap(),
        "fe",
    );
    assert_eq!(f.render(&ctx, &crate::logformat::NoAliases), "bk_8443");
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

#[test]
fn content_rules_on_payload_need_an_inspect_delay() {
    let w = warnings(&[
        "frontend fe",
        "    bind :10000",
        "    tcp-request content accept if { req.ssl_sni -m found }",
        "    default_backend be",
        "backend be",
        "    tcp-request content reject if { req.len gt 0 }",
        "backend be2",
        "    tcp-request inspect-delay 1s",
        "    tcp-request content reject if WAIT_END",
        "backend be3",
        "    tcp-request content reject if { src 10.0.0.0/8 }",
    ]);
    let tail = "some 'tcp-request content' rules explicitly depending on request contents \
                without any 'tcp-request inspect-delay' setting. This means that these rules \
                will randomly find their contents. This can be fixed by setting the \
                tcp-request inspect-delay";
    assert_eq!(
        w,
        [
            (1, format!("frontend 'fe' : {tail}")),
            (5, format!("backend 'be' : {tail}")),
        ]
    );
}

#[test]
fn payload_conditions_in_connection_rules_are_flagged() {
    let w = warnings(&[
        "frontend fe",
        "    bind :10000",
        "    tcp-request connection reject if { req.len gt 0 }",
        "    tcp-request session reject if WAIT_END",
        "    tcp-request connection reject if { src 10.0.0.0/8 }",
        "    default_backend be",
        "backend be",
    ]);
    let msg = |set: &str| {
        format!(
            "the condition depends on the request contents, which '{set}' rules run before: \
             it is evaluated on no data"
        )
    };
    assert_eq!(
        w,
        [
            (3, msg("tcp-request connection")),
            (4, msg("tcp-request session")),
            (
                5,
                "a 'tcp-request connection' rule placed after a 'tcp-request session' rule will \
                 still be processed before"
                    .to_owned()
            ),
        ]
    );
}
