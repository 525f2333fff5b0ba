//! Engine semantics: ordering, final actions, waiting for data and resuming, side effects.

use std::net::SocketAddr;
use std::time::Duration;

use super::engine::{Judge, eval_once, resume, waits_for_data};
use super::*;
use crate::acl::AclSet;
use crate::sample::{Sample, SampleExpr, StreamCtx};

/// Records every side effect, in order.
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
    fn set_var(&mut self, var: &VarName, conds: &[SetVarCond], value: Sample<'_>) {
        self.events.push(format!("set {var} {conds:?} {value:?}"));
    }
    fn unset_var(&mut self, var: &VarName) {
        self.events.push(format!("unset {var}"));
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

fn ctx() -> StreamCtx<'static> {
    StreamCtx::new(
        "10.0.0.1:40000".parse().unwrap(),
        "127.0.0.1:443".parse().unwrap(),
        "fe",
    )
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
    let mut host = Recorder::default();
    assert_eq!(
        rules.eval_connection(&mut ctx(), &mut host),
        Verdict::Accept
    );
    assert_eq!(host.events, ["set sess.seen [] Int(1)"]);

    let mut other = StreamCtx::new(
        "11.0.0.1:1".parse().unwrap(),
        "127.0.0.1:443".parse().unwrap(),
        "fe",
    );
    let mut host = Recorder::default();
    assert_eq!(
        rules.eval_connection(&mut other, &mut host),
        Verdict::Reject
    );
    assert_eq!(host.events, ["set sess.seen [] Int(1)"]);
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
    let mut host = Recorder::default();
    assert_eq!(rules.eval_session(&mut ctx(), &mut host), Verdict::Accept);
    assert!(host.events.is_empty());
    assert_eq!(
        ProxyRules::default().eval_session(&mut ctx(), &mut host),
        Verdict::Accept
    );
}

#[test]
fn silent_drop_and_unless() {
    let rules = ProxyRules {
        connection: vec![rule(Action::SilentDrop, "unless { src 127.0.0.0/8 }")],
        ..ProxyRules::default()
    };
    let mut host = Recorder::default();
    assert_eq!(
        rules.eval_connection(&mut ctx(), &mut host),
        Verdict::SilentDrop
    );
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
                Action::SetVar {
                    var: VarName::parse("sess.port").unwrap(),
                    conds: vec![SetVarCond::IfNotSet],
                    expr: expr("src_port"),
                },
                "",
            ),
            rule(Action::UnsetVar(VarName::parse("txn.x").unwrap()), ""),
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
    let mut host = Recorder::default();
    assert_eq!(
        rules.eval_connection(&mut ctx(), &mut host),
        Verdict::Accept
    );
    assert_eq!(
        host.events,
        [
            "expect-proxy",
            "track sc1 per_net Ip(10.0.0.0)",
            "inc Gpc1 sc1",
            "set sess.port [IfNotSet] Int(40000)",
            "unset txn.x",
            "gpt0 sc2 7",
            "gpt0 sc0 40001",
        ]
    );
}

#[test]
fn missing_samples_skip_the_side_effect() {
    // A failed conversion yields no sample: nothing is tracked or set, rules go on.
    let rules = ProxyRules {
        connection: vec![
            rule(
                Action::TrackSc {
                    sc: 0,
                    key: expr("str(x),ipmask(8)"),
                    table: "t".into(),
                },
                "",
            ),
            rule(set_var("txn.a", "str(x),ipmask(8)"), ""),
            rule(Action::SetSrc(expr("str(nope)")), ""),
            rule(Action::Reject, ""),
        ],
        ..ProxyRules::default()
    };
    let mut host = Recorder::default();
    let mut c = ctx();
    assert_eq!(rules.eval_connection(&mut c, &mut host), Verdict::Reject);
    assert!(host.events.is_empty(), "{:?}", host.events);
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
    let mut host = Recorder::default();
    let mut c = ctx();
    rules.eval_connection(&mut c, &mut host);
    assert_eq!(
        host.events,
        [
            "src 192.0.2.7:40000",
            // 65537 keeps its low 16 bits, as HAProxy's htons().
            "src 192.0.2.7:1",
            "dst [2001:db8::1]:443",
            "dst [2001:db8::1]:8443",
            "set sess.src [] Ip(192.0.2.7)",
        ]
    );
    assert_eq!(c.src, "192.0.2.7:1".parse::<SocketAddr>().unwrap());
    assert_eq!(c.dst, "[2001:db8::1]:8443".parse::<SocketAddr>().unwrap());
}

/// Undecided while fewer than 4 bytes arrived and more may come; then the real condition.
fn needs_four_bytes(cond: &Condition, ctx: &StreamCtx<'_>) -> Decision {
    if ctx.payload.len() < 4 && !ctx.payload_final {
        Decision::Undecided
    } else {
        engine::decide(cond, ctx)
    }
}

#[test]
fn undecided_waits_then_resumes_without_rerunning_side_effects() {
    let rules = vec![
        rule(
            Action::TrackSc {
                sc: 0,
                key: expr("src"),
                table: "fe".into(),
            },
            "",
        ),
        rule(
            Action::IncGpc {
                gpc: Gpc::Gpc0,
                sc: 0,
            },
            "",
        ),
        rule(Action::Reject, "if TRUE"),
        rule(set_var("txn.after", "int(1)"), ""),
    ];
    let judge: &Judge<'_> = &needs_four_bytes;
    let mut cursor = Cursor::default();
    let mut host = Recorder::default();
    let mut c = ctx();
    c.payload = b"ab";
    assert_eq!(
        resume(&rules, &mut cursor, false, &mut c, &mut host, judge),
        engine::Stop::Wait
    );
    assert_eq!(host.events, ["track sc0 fe Ip(10.0.0.1)", "inc Gpc0 sc0"]);
    assert!(!cursor.is_done());
    // Still not enough: nothing runs again.
    c.payload = b"abc";
    assert_eq!(
        resume(&rules, &mut cursor, false, &mut c, &mut host, judge),
        engine::Stop::Wait
    );
    assert_eq!(host.events.len(), 2);
    // Enough data: the condition is decided, the reject applies.
    c.payload = b"abcd";
    assert_eq!(
        resume(&rules, &mut cursor, false, &mut c, &mut host, judge),
        engine::Stop::Reject
    );
    assert_eq!(host.events.len(), 2);
    assert!(cursor.is_done());
    // A finished rule set keeps its verdict.
    assert_eq!(
        resume(&rules, &mut cursor, false, &mut c, &mut host, judge),
        engine::Stop::Reject
    );
    assert_eq!(host.events.len(), 2);
}

#[test]
fn undecided_counts_as_no_match_once_data_is_final() {
    let rules = vec![
        rule(Action::Reject, "if TRUE"),
        rule(set_var("txn.after", "int(1)"), ""),
    ];
    let judge: &Judge<'_> = &needs_four_bytes;
    let mut cursor = Cursor::default();
    let mut host = Recorder::default();
    let mut c = ctx();
    c.payload = b"ab";
    assert_eq!(
        resume(&rules, &mut cursor, false, &mut c, &mut host, judge),
        engine::Stop::Wait
    );
    // Deadline passed: the engine re-evaluates with final data. The judge then decides
    // (here on the real condition), and a judge that stays undecided counts as no match.
    let never: &Judge<'_> = &|_, _| Decision::Undecided;
    assert_eq!(
        resume(&rules, &mut cursor, true, &mut c, &mut host, never),
        engine::Stop::Accept
    );
    assert_eq!(host.events, ["set txn.after [] Int(1)"]);
}

#[test]
fn connection_rules_never_wait() {
    let rules = vec![
        rule(Action::Reject, "if TRUE"),
        rule(Action::SilentDrop, ""),
    ];
    let mut host = Recorder::default();
    let never: &Judge<'_> = &|_, _| Decision::Undecided;
    assert_eq!(
        eval_once(&rules, &mut ctx(), &mut host, never),
        Verdict::SilentDrop
    );
}

#[test]
fn payload_finality_follows_the_inspect_delay() {
    // Without inspect-delay the data is final at once: the engine tells the fetches so.
    let seen_final = std::cell::Cell::new(None);
    let probe = |_: &Condition, ctx: &StreamCtx<'_>| {
        seen_final.set(Some(ctx.payload_final));
        Decision::NoMatch
    };
    let rules = vec![rule(Action::Reject, "if TRUE")];
    let mut c = ctx();
    let mut host = Recorder::default();
    resume(
        &rules,
        &mut Cursor::default(),
        true,
        &mut c,
        &mut host,
        &probe,
    );
    assert_eq!(seen_final.get(), Some(true));
    // ... and the caller's flag is restored afterwards.
    assert!(!c.payload_final);

    // The public entry point: no delay means evaluated once, immediately.
    let set = content(vec![rule(Action::Reject, "if TRUE")], None);
    let mut cursor = Cursor::default();
    assert_eq!(
        set.eval_content(&mut cursor, &mut c, &mut host),
        ContentVerdict::Reject
    );
    let set = content(vec![rule(Action::Accept, "if FALSE")], Some(5000));
    let mut cursor = Cursor::default();
    assert_eq!(
        set.eval_content(&mut cursor, &mut c, &mut host),
        ContentVerdict::Accept
    );
}

#[test]
fn response_rules() {
    let set = ProxyRules {
        response_inspect_delay: Some(Duration::from_secs(1)),
        response: vec![
            rule(set_var("res.seen", "int(1)"), ""),
            rule(Action::Close, "if TRUE"),
            rule(Action::Reject, ""),
        ],
        ..ProxyRules::default()
    };
    let mut host = Recorder::default();
    let mut cursor = Cursor::default();
    assert_eq!(
        set.eval_response(&mut cursor, &mut ctx(), &mut host),
        ResponseVerdict::Close
    );
    assert_eq!(host.events, ["set res.seen [] Int(1)"]);
    // A `close` in request content rules cannot exist; were it there it would accept.
    let set = content(vec![rule(Action::Close, "")], None);
    assert_eq!(
        set.eval_content(&mut Cursor::default(), &mut ctx(), &mut host),
        ContentVerdict::Accept
    );
}

#[test]
fn content_dependence_is_probed_on_an_empty_payload() {
    let rules = vec![
        rule(Action::Accept, "if { src 10.0.0.0/8 }"),
        rule(Action::Reject, ""),
    ];
    // Layer-4 conditions are decided without data.
    assert!(!waits_for_data(&rules, &engine::decide));
    assert!(!content(rules.clone(), None).content_waits_for_data());
    // A condition undecided on an empty, growing payload needs an inspect delay.
    assert!(waits_for_data(&rules, &needs_four_bytes));
    let unconditional = vec![rule(Action::Reject, "")];
    assert!(!waits_for_data(&unconditional, &needs_four_bytes));
}
