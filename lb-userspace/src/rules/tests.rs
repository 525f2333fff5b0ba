//! Engine semantics: ordering, final actions, waiting for data and resuming, side effects.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use super::engine::{Judge, RuleSet, Stop, eval_once, resume, waits_for_data};
use super::vars::Phase;
use super::*;
use crate::acl::{AclSet, Tristate};
use crate::sample::vars::{ProcVars, Vars};
use crate::sample::{Sample, SampleExpr, StreamCtx};

/// Records every host side effect, in order.
#[derive(Debug, Default)]
struct Recorder {
    events: Vec<String>,
}

impl RuleHost for Recorder {
    fn track(&mut self, sc: u8, table: &str, key: Sample<'_>) {
        self.events.push(format!("track sc{sc} {table} {key:?}"));
    }
    fn inc_gpc(&mut self, sc: u8, gpc: Gpc) {
        self.events.push(format!("inc {gpc:?} sc{sc}"));
    }
    fn set_gpt0(&mut self, sc: u8, value: i64) {
        self.events.push(format!("gpt0 sc{sc} {value}"));
    }
    fn set_src(&mut self, addr: SocketAddr) {
        self.events.push(format!("src {addr}"));
    }
    fn set_dst(&mut self, addr: SocketAddr) {
        self.events.push(format!("dst {addr}"));
    }
    fn expect_proxy(&mut self) {
        self.events.push("expect-proxy".into());
    }
}

fn words(text: &str) -> Vec<String> {
    text.split_whitespace().map(str::to_owned).collect()
}

fn expr(text: &str) -> SampleExpr {
    SampleExpr::parse(text).unwrap()
}

/// A rule from an action and an optional `if ...`/`unless ...` text.
fn rule(action: Action, cond: &str) -> TcpRule {
    let cond =
        (!cond.is_empty()).then(|| Condition::parse(&words(cond), &AclSet::default()).unwrap());
    TcpRule {
        action,
        cond,
        location: Location::default(),
    }
}

fn set_var(name: &str, value: &str) -> Action {
    Action::SetVar {
        var: VarName::parse(name).unwrap(),
        conds: Vec::new(),
        expr: expr(value),
    }
}

fn track(sc: u8, key: &str) -> Action {
    Action::TrackSc {
        sc,
        key: expr(key),
        table: "t".into(),
    }
}

fn gpc0() -> Action {
    Action::IncGpc {
        gpc: Gpc::Gpc0,
        sc: 0,
    }
}

/// Variables private to one test (no shared `proc` scope).
fn vars() -> Vars {
    Vars::new(Arc::new(ProcVars::default()))
}

fn var(vars: &Vars, name: &str) -> Option<Sample<'static>> {
    vars.get(&VarName::parse(name).unwrap())
}

fn ctx(vars: &Vars) -> StreamCtx<'_> {
    let mut c = StreamCtx::new(
        "10.0.0.1:40000".parse().unwrap(),
        "127.0.0.1:443".parse().unwrap(),
        "fe",
    );
    c.vars = Some(vars);
    c
}

fn content(rules: Vec<TcpRule>, delay: Option<u64>) -> ProxyRules {
    ProxyRules {
        inspect_delay: delay.map(Duration::from_millis),
        content: rules,
        ..ProxyRules::default()
    }
}

#[test]
fn first_final_rule_decides_in_order() {
    let rules = ProxyRules {
        connection: vec![
            rule(Action::Reject, "if { src 192.168.0.0/16 }"),
            rule(set_var("sess.seen", "int(1)"), ""),
            rule(Action::Accept, "if { src 10.0.0.0/8 }"),
            rule(Action::Reject, ""),
            rule(set_var("sess.never", "int(1)"), ""),
        ],
        ..ProxyRules::default()
    };
    let v = vars();
    let mut host = Recorder::default();
    assert_eq!(
        rules.eval_connection(&mut ctx(&v), &mut host),
        Verdict::Accept
    );
    assert_eq!(var(&v, "sess.seen"), Some(Sample::Int(1)));
    assert_eq!(var(&v, "sess.never"), None);

    let v = vars();
    let mut other = ctx(&v);
    other.src = "11.0.0.1:1".parse().unwrap();
    assert_eq!(
        rules.eval_connection(&mut other, &mut host),
        Verdict::Reject
    );
    assert_eq!(var(&v, "sess.seen"), Some(Sample::Int(1)));
    assert_eq!(var(&v, "sess.never"), None);
    assert!(host.events.is_empty());
}

#[test]
fn no_matching_rule_accepts() {
    let rules = ProxyRules {
        session: vec![
            rule(Action::Reject, "if FALSE"),
            rule(Action::SilentDrop, "unless TRUE"),
        ],
        ..ProxyRules::default()
    };
    let v = vars();
    let mut host = Recorder::default();
    assert_eq!(rules.eval_session(&mut ctx(&v), &mut host), Verdict::Accept);
    assert_eq!(
        ProxyRules::default().eval_session(&mut ctx(&v), &mut host),
        Verdict::Accept
    );
    let dropping = ProxyRules {
        connection: vec![rule(Action::SilentDrop, "unless { src 127.0.0.0/8 }")],
        ..ProxyRules::default()
    };
    assert_eq!(
        dropping.eval_connection(&mut ctx(&v), &mut host),
        Verdict::SilentDrop
    );
    assert!(host.events.is_empty());
}

#[test]
fn side_effects_reach_the_host_with_their_arguments() {
    let rules = ProxyRules {
        connection: vec![
            rule(Action::ExpectProxy, ""),
            rule(
                Action::TrackSc {
                    sc: 1,
                    key: expr("src,ipmask(24)"),
                    table: "per_net".into(),
                },
                "",
            ),
            rule(
                Action::IncGpc {
                    gpc: Gpc::Gpc1,
                    sc: 1,
                },
                "",
            ),
            rule(
                Action::SetGpt0 {
                    sc: 2,
                    value: GptValue::Int(7),
                },
                "",
            ),
            rule(
                Action::SetGpt0 {
                    sc: 0,
                    value: GptValue::Expr(expr("src_port,add(1)")),
                },
                "",
            ),
            // Not an integer: nothing is stored.
            rule(
                Action::SetGpt0 {
                    sc: 0,
                    value: GptValue::Expr(expr("str(abc),ipmask(8)")),
                },
                "",
            ),
        ],
        ..ProxyRules::default()
    };
    let v = vars();
    let mut host = Recorder::default();
    assert_eq!(
        rules.eval_connection(&mut ctx(&v), &mut host),
        Verdict::Accept
    );
    assert_eq!(
        host.events,
        [
            "expect-proxy",
            "track sc1 per_net Ip(10.0.0.0)",
            "inc Gpc1 sc1",
            "gpt0 sc2 7",
            "gpt0 sc0 40001",
        ]
    );
}

#[test]
fn variables_follow_scopes_and_conditions() {
    let rules = ProxyRules {
        connection: vec![
            rule(set_var("sess.port", "src_port"), ""),
            // No stream yet: HAProxy has no txn scope at connection time.
            rule(set_var("txn.early", "int(1)"), ""),
            rule(
                Action::SetVar {
                    var: VarName::parse("sess.port").unwrap(),
                    conds: vec![SetVarCond::IfNotSet],
                    expr: expr("int(1)"),
                },
                "",
            ),
        ],
        content: vec![
            rule(set_var("txn.late", "int(2)"), ""),
            rule(Action::UnsetVar(VarName::parse("sess.port").unwrap()), ""),
        ],
        ..ProxyRules::default()
    };
    let v = vars();
    let mut host = Recorder::default();
    let mut c = ctx(&v);
    rules.eval_connection(&mut c, &mut host);
    assert_eq!(var(&v, "sess.port"), Some(Sample::Int(40000)));
    assert_eq!(var(&v, "txn.early"), None);
    rules.eval_content(&mut Cursor::default(), &mut c, &mut host);
    assert_eq!(var(&v, "txn.late"), Some(Sample::Int(2)));
    assert_eq!(var(&v, "sess.port"), None);
    // Without a variable store, set-var does nothing (and does not fail).
    let mut bare = StreamCtx::new(c.src, c.dst, "fe");
    assert_eq!(rules.eval_connection(&mut bare, &mut host), Verdict::Accept);
}

#[test]
fn missing_samples_skip_the_side_effect() {
    // A failed conversion yields no sample: nothing is tracked or set, rules go on.
    let rules = ProxyRules {
        connection: vec![
            rule(track(0, "str(x),ipmask(8)"), ""),
            rule(set_var("sess.a", "str(x),ipmask(8)"), ""),
            rule(Action::SetSrc(expr("str(nope)")), ""),
            rule(Action::Reject, ""),
        ],
        ..ProxyRules::default()
    };
    let v = vars();
    let mut host = Recorder::default();
    let mut c = ctx(&v);
    assert_eq!(rules.eval_connection(&mut c, &mut host), Verdict::Reject);
    assert!(host.events.is_empty(), "{:?}", host.events);
    assert_eq!(var(&v, "sess.a"), None);
    assert_eq!(c.src, "10.0.0.1:40000".parse::<SocketAddr>().unwrap());
}

#[test]
fn address_rewrites_are_seen_by_later_rules() {
    let rules = ProxyRules {
        connection: vec![
            rule(Action::SetSrc(expr("ipv4(192.0.2.7)")), ""),
            rule(Action::SetSrcPort(expr("int(65537)")), ""),
            rule(Action::SetDst(expr("str(2001:db8::1)")), ""),
            rule(Action::SetDstPort(expr("int(8443)")), ""),
            // Sees the new source.
            rule(set_var("sess.src", "src"), "if { src 192.0.2.0/24 }"),
        ],
        ..ProxyRules::default()
    };
    let v = vars();
    let mut host = Recorder::default();
    let mut c = ctx(&v);
    rules.eval_connection(&mut c, &mut host);
    assert_eq!(
        host.events,
        [
            "src 192.0.2.7:40000",
            // 65537 keeps its low 16 bits, as HAProxy's htons().
            "src 192.0.2.7:1",
            "dst [2001:db8::1]:443",
            "dst [2001:db8::1]:8443",
        ]
    );
    assert_eq!(
        var(&v, "sess.src"),
        Some(Sample::Ip("192.0.2.7".parse().unwrap()))
    );
    assert_eq!(c.src, "192.0.2.7:1".parse::<SocketAddr>().unwrap());
    assert_eq!(c.dst, "[2001:db8::1]:8443".parse::<SocketAddr>().unwrap());
}

#[test]
fn content_waits_for_data_then_resumes_without_rerunning_side_effects() {
    let set = content(
        vec![
            rule(track(0, "src"), ""),
            rule(gpc0(), ""),
            rule(Action::Accept, "if { req.len ge 4 }"),
            rule(set_var("txn.after", "int(1)"), ""),
        ],
        Some(5000),
    );
    let v = vars();
    let mut cursor = Cursor::default();
    let mut host = Recorder::default();
    let mut c = ctx(&v);
    c.payload = b"ab";
    assert_eq!(
        set.eval_content(&mut cursor, &mut c, &mut host),
        ContentVerdict::NeedMoreData
    );
    assert_eq!(host.events, ["track sc0 t Ip(10.0.0.1)", "inc Gpc0 sc0"]);
    assert!(!cursor.is_done());
    // Still not enough: nothing runs again.
    c.payload = b"abc";
    assert_eq!(
        set.eval_content(&mut cursor, &mut c, &mut host),
        ContentVerdict::NeedMoreData
    );
    assert_eq!(host.events.len(), 2);
    // Enough data: the accept applies; later rules never run.
    c.payload = b"abcd";
    assert_eq!(
        set.eval_content(&mut cursor, &mut c, &mut host),
        ContentVerdict::Accept
    );
    assert_eq!(host.events.len(), 2);
    assert_eq!(var(&v, "txn.after"), None);
    assert!(cursor.is_done());
    // A finished rule set keeps its verdict.
    c.payload = b"";
    assert_eq!(
        set.eval_content(&mut cursor, &mut c, &mut host),
        ContentVerdict::Accept
    );
}

#[test]
fn undecided_counts_as_no_match_once_data_is_final() {
    // WAIT_END only becomes true when the inspect delay expires.
    let set = content(
        vec![
            rule(Action::Reject, "if { req.len ge 4 }"),
            rule(set_var("txn.waited", "int(1)"), "if WAIT_END"),
        ],
        Some(5000),
    );
    let v = vars();
    let mut cursor = Cursor::default();
    let mut host = Recorder::default();
    let mut c = ctx(&v);
    c.payload = b"ab";
    assert_eq!(
        set.eval_content(&mut cursor, &mut c, &mut host),
        ContentVerdict::NeedMoreData
    );
    // The delay expired with 2 bytes: `req.len ge 4` is false, WAIT_END is true.
    c.payload_final = true;
    assert_eq!(
        set.eval_content(&mut cursor, &mut c, &mut host),
        ContentVerdict::Accept
    );
    assert_eq!(var(&v, "txn.waited"), Some(Sample::Int(1)));
    // A judge that never decides counts as no match on final data.
    let rules = [rule(Action::Reject, "if TRUE")];
    let never: &Judge<'_> = &|_, _| Tristate::Undecided;
    let set = RuleSet::new(&rules, Phase::Request);
    let mut cursor = Cursor::default();
    assert_eq!(
        resume(set, &mut cursor, true, &mut c, &mut host, never),
        Stop::Accept
    );
    assert_eq!(eval_once(&rules, &mut c, &mut host, never), Verdict::Accept);
}

#[test]
fn no_inspect_delay_means_one_final_evaluation() {
    let set = content(
        vec![
            rule(Action::Accept, "if { req.len ge 4 }"),
            rule(Action::Reject, ""),
        ],
        None,
    );
    let v = vars();
    let mut host = Recorder::default();
    let mut c = ctx(&v);
    c.payload = b"ab";
    assert_eq!(
        set.eval_content(&mut Cursor::default(), &mut c, &mut host),
        ContentVerdict::Reject
    );
    // The caller's flag is left as it was.
    assert!(!c.payload_final);
}

#[test]
fn track_keys_wait_for_their_data() {
    let set = content(
        vec![rule(track(2, "req.payload(0,4)"), ""), rule(gpc0(), "")],
        Some(5000),
    );
    let v = vars();
    let mut cursor = Cursor::default();
    let mut host = Recorder::default();
    let mut c = ctx(&v);
    c.payload = b"GE";
    assert_eq!(
        set.eval_content(&mut cursor, &mut c, &mut host),
        ContentVerdict::NeedMoreData
    );
    assert!(host.events.is_empty());
    c.payload = b"GET /";
    assert_eq!(
        set.eval_content(&mut cursor, &mut c, &mut host),
        ContentVerdict::Accept
    );
    assert_eq!(host.events.len(), 2);
    assert!(
        host.events[0].starts_with("track sc2 t Bin("),
        "{:?}",
        host.events
    );
    // On final data a key that is still missing tracks nothing, and rules go on.
    let mut cursor = Cursor::default();
    let mut host = Recorder::default();
    c.payload = b"GE";
    c.payload_final = true;
    assert_eq!(
        set.eval_content(&mut cursor, &mut c, &mut host),
        ContentVerdict::Accept
    );
    assert_eq!(host.events, ["inc Gpc0 sc0"]);
}

#[test]
fn response_rules() {
    let set = ProxyRules {
        response_inspect_delay: Some(Duration::from_secs(1)),
        response: vec![
            rule(set_var("res.seen", "int(1)"), ""),
            rule(set_var("req.seen", "int(1)"), ""),
            rule(Action::Close, "if TRUE"),
            rule(Action::Reject, ""),
        ],
        ..ProxyRules::default()
    };
    let v = vars();
    let mut host = Recorder::default();
    let mut cursor = Cursor::default();
    assert_eq!(
        set.eval_response(&mut cursor, &mut ctx(&v), &mut host),
        ResponseVerdict::Close
    );
    assert_eq!(var(&v, "res.seen"), Some(Sample::Int(1)));
    // The request scope is gone once the response is processed.
    assert_eq!(var(&v, "req.seen"), None);
}

#[test]
fn content_dependence_is_probed_on_an_empty_payload() {
    let layer4 = vec![
        rule(Action::Accept, "if { src 10.0.0.0/8 }"),
        rule(Action::Reject, ""),
    ];
    assert!(!waits_for_data(&layer4, &engine::decide));
    let sni = vec![rule(Action::Accept, "if { req.ssl_sni -m found }")];
    assert!(waits_for_data(&sni, &engine::decide));
    assert!(content(sni, None).content_waits_for_data());
    assert!(!content(layer4, None).content_waits_for_data());
}
