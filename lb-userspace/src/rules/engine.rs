//! Evaluation of rule sets, sans-I/O: the runtime supplies the stream context and a
//! [`RuleHost`] that applies side effects; the engine decides.
//!
//! Content rules may wait for more data. HAProxy records where evaluation stopped so that
//! a rule already executed is never executed again for the same stream (a tracked counter
//! must not count twice); the [`Cursor`] is that record.

use std::net::SocketAddr;

use super::action::{Action, Gpc, GptValue, SetVarCond, VarName};
use super::{ProxyRules, TcpRule};
use crate::acl::Condition;
use crate::sample::{Sample, SampleType, StreamCtx};

/// The side effects of rules, implemented by the runtime (and by test hosts).
///
/// Every method is called at most once per executed rule, in rule order.
pub trait RuleHost {
    /// `track-sc<sc> <key> [table <table>]`: track the entry `key` of `table` in counter
    /// `sc`. As in HAProxy, a counter that already tracks an entry is left alone; the host
    /// converts the key to the table's type and ignores keys that do not convert.
    fn track(&mut self, sc: u8, table: &str, key: Sample<'_>);

    /// `sc-inc-gpc0(<sc>)` / `sc-inc-gpc1(<sc>)`: increment a counter of the entry
    /// tracked by `sc` (nothing when `sc` tracks nothing or the table does not store it).
    fn inc_gpc(&mut self, sc: u8, gpc: Gpc);

    /// `sc-set-gpt0(<sc>) <value>`: set `gpt0` of the entry tracked by `sc` (nothing when
    /// `sc` tracks nothing or the table does not store it).
    fn set_gpt0(&mut self, sc: u8, value: i64);

    /// `set-var(<var>[,<conds>]) <expr>`: set `var` to `value` if every condition holds.
    fn set_var(&mut self, var: &VarName, conds: &[SetVarCond], value: Sample<'_>);

    /// `unset-var(<var>)`.
    fn unset_var(&mut self, var: &VarName);

    /// `set-src` / `set-src-port`: the client address is now `addr` (already applied to
    /// the context the engine evaluates with; the host makes it stick for the stream).
    fn set_src(&mut self, addr: SocketAddr);

    /// `set-dst` / `set-dst-port`: the destination address is now `addr`.
    fn set_dst(&mut self, addr: SocketAddr);

    /// `expect-proxy layer4`: read a PROXY protocol header before anything else.
    fn expect_proxy(&mut self);
}

/// The outcome of `tcp-request connection` and `tcp-request session` rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Go on (an `accept` rule matched, or no final rule did).
    Accept,
    /// `reject`: close the connection (after `tcp-request connection`, HAProxy closes
    /// without logging anything).
    Reject,
    /// `silent-drop`: close so that the client sees nothing (no FIN, no RST).
    SilentDrop,
}

/// The outcome of one evaluation of `tcp-request content` rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContentVerdict {
    /// Go on: an `accept` matched or no final rule did.
    Accept,
    /// `reject`: close the connection and log it.
    Reject,
    /// `silent-drop`.
    SilentDrop,
    /// A condition needs more data: read more (within the inspect delay) and call again.
    NeedMoreData,
}

/// The outcome of one evaluation of `tcp-response content` rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseVerdict {
    /// Go on forwarding the response.
    Accept,
    /// `reject`: close both connections.
    Reject,
    /// `close`: close the server connection now, keep forwarding what was received.
    Close,
    /// `silent-drop`: drop the client silently.
    SilentDrop,
    /// A condition needs more data: read more from the server and call again.
    NeedMoreData,
}

/// How a condition stands with what the stream has shown so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// The rule applies.
    Match,
    /// The rule does not apply.
    NoMatch,
    /// More payload could change the answer.
    Undecided,
}

/// Where a stream stands in one content rule set; keep one per stream and rule set
/// (frontend content, backend content, response), starting from `Cursor::default()`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Cursor {
    /// The next rule to evaluate.
    next: usize,
    /// Set once the rule set reached its verdict.
    done: Option<Stop>,
}

impl Cursor {
    /// Whether the rule set already reached its verdict.
    pub fn is_done(&self) -> bool {
        self.done.is_some()
    }
}

/// Why a walk through the rules stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Stop {
    Accept,
    Reject,
    Close,
    SilentDrop,
    Wait,
}

/// Decides a condition with the data at hand.
///
/// `Condition::eval` is two-valued until the sample layer reports "not decided yet" (a
/// fetch whose data may still arrive); until then a condition is decided on what the
/// context holds, which is exact for every layer-4 fetch.
pub fn decide(cond: &Condition, ctx: &StreamCtx<'_>) -> Decision {
    if cond.eval(ctx) {
        Decision::Match
    } else {
        Decision::NoMatch
    }
}

/// The condition judge the engine uses (a parameter so that tests can exercise waiting).
pub(super) type Judge<'a> = dyn Fn(&Condition, &StreamCtx<'_>) -> Decision + 'a;

impl ProxyRules {
    /// Runs `tcp-request connection` rules, right after accept (before any PROXY header
    /// or data is read). Conditions are final: nothing more will arrive.
    pub fn eval_connection(&self, ctx: &mut StreamCtx<'_>, host: &mut dyn RuleHost) -> Verdict {
        eval_once(&self.connection, ctx, host, &decide)
    }

    /// Runs `tcp-request session` rules, once the session is established (after the
    /// PROXY header, if any). Conditions are final.
    pub fn eval_session(&self, ctx: &mut StreamCtx<'_>, host: &mut dyn RuleHost) -> Verdict {
        eval_once(&self.session, ctx, host, &decide)
    }

    /// Runs `tcp-request content` rules against the client data peeked so far
    /// (`ctx.payload`). Set `ctx.payload_final` once the inspect delay expired, the buffer
    /// is full or the client shut its side; without `tcp-request inspect-delay` the data
    /// is always final (rules are evaluated once, immediately, as in HAProxy).
    ///
    /// Call it again with the same `cursor` after each read while it returns
    /// [`ContentVerdict::NeedMoreData`]; rules already executed are not executed again.
    pub fn eval_content(
        &self,
        cursor: &mut Cursor,
        ctx: &mut StreamCtx<'_>,
        host: &mut dyn RuleHost,
    ) -> ContentVerdict {
        let final_data = ctx.payload_final || self.inspect_delay.is_none();
        match resume(&self.content, cursor, final_data, ctx, host, &decide) {
            Stop::Accept | Stop::Close => ContentVerdict::Accept,
            Stop::Reject => ContentVerdict::Reject,
            Stop::SilentDrop => ContentVerdict::SilentDrop,
            Stop::Wait => ContentVerdict::NeedMoreData,
        }
    }

    /// Runs `tcp-response content` rules against the server data peeked so far
    /// (`ctx.payload` holds the response bytes); same protocol as
    /// [`eval_content`](Self::eval_content), with `tcp-response inspect-delay`.
    pub fn eval_response(
        &self,
        cursor: &mut Cursor,
        ctx: &mut StreamCtx<'_>,
        host: &mut dyn RuleHost,
    ) -> ResponseVerdict {
        let final_data = ctx.payload_final || self.response_inspect_delay.is_none();
        match resume(&self.response, cursor, final_data, ctx, host, &decide) {
            Stop::Accept => ResponseVerdict::Accept,
            Stop::Reject => ResponseVerdict::Reject,
            Stop::Close => ResponseVerdict::Close,
            Stop::SilentDrop => ResponseVerdict::SilentDrop,
            Stop::Wait => ResponseVerdict::NeedMoreData,
        }
    }
}

impl ProxyRules {
    /// Whether some content rule has a condition that cannot be decided before client
    /// data arrives (such rules need `tcp-request inspect-delay` to be reliable).
    pub fn content_waits_for_data(&self) -> bool {
        waits_for_data(&self.content, &decide)
    }
}

/// Whether a condition of `rules` is undecided on an empty payload that may still grow.
pub(super) fn waits_for_data(rules: &[TcpRule], judge: &Judge<'_>) -> bool {
    let any = SocketAddr::from(([0, 0, 0, 0], 0));
    let ctx = StreamCtx::new(any, any, "");
    rules
        .iter()
        .filter_map(|r| r.cond.as_ref())
        .any(|c| judge(c, &ctx) == Decision::Undecided)
}

/// Evaluates a rule set whose data is complete (connection and session rules).
pub(super) fn eval_once(
    rules: &[TcpRule],
    ctx: &mut StreamCtx<'_>,
    host: &mut dyn RuleHost,
    judge: &Judge<'_>,
) -> Verdict {
    let mut cursor = Cursor::default();
    match resume(rules, &mut cursor, true, ctx, host, judge) {
        Stop::Reject => Verdict::Reject,
        Stop::SilentDrop => Verdict::SilentDrop,
        Stop::Accept | Stop::Close | Stop::Wait => Verdict::Accept,
    }
}

/// Walks `rules` from the cursor: the first matching final action decides; a condition
/// that cannot be decided yet stops the walk (unless the data is final, in which case it
/// counts as not matching); reaching the end accepts.
pub(super) fn resume(
    rules: &[TcpRule],
    cursor: &mut Cursor,
    final_data: bool,
    ctx: &mut StreamCtx<'_>,
    host: &mut dyn RuleHost,
    judge: &Judge<'_>,
) -> Stop {
    if let Some(stop) = cursor.done {
        return stop;
    }
    // Fetches must see the same finality as the engine.
    let saved = ctx.payload_final;
    ctx.payload_final = final_data;
    let stop = walk(rules, cursor, final_data, ctx, host, judge);
    ctx.payload_final = saved;
    if stop != Stop::Wait {
        cursor.done = Some(stop);
    }
    stop
}

fn walk(
    rules: &[TcpRule],
    cursor: &mut Cursor,
    final_data: bool,
    ctx: &mut StreamCtx<'_>,
    host: &mut dyn RuleHost,
    judge: &Judge<'_>,
) -> Stop {
    while let Some(rule) = rules.get(cursor.next) {
        if let Some(cond) = &rule.cond {
            match judge(cond, ctx) {
                Decision::Match => {}
                Decision::Undecided if !final_data => return Stop::Wait,
                Decision::NoMatch | Decision::Undecided => {
                    cursor.next += 1;
                    continue;
                }
            }
        }
        // Past the rule before running it: it must never run twice.
        cursor.next += 1;
        if let Some(stop) = execute(&rule.action, ctx, host) {
            return stop;
        }
    }
    Stop::Accept
}

/// Runs one action; `Some` when it ends the rule set.
fn execute(action: &Action, ctx: &mut StreamCtx<'_>, host: &mut dyn RuleHost) -> Option<Stop> {
    match action {
        Action::Accept => return Some(Stop::Accept),
        Action::Reject => return Some(Stop::Reject),
        Action::Close => return Some(Stop::Close),
        Action::SilentDrop => return Some(Stop::SilentDrop),
        Action::ExpectProxy => host.expect_proxy(),
        Action::TrackSc { sc, key, table } => {
            if let Some(key) = key.eval(ctx) {
                host.track(*sc, table, key);
            }
        }
        Action::IncGpc { gpc, sc } => host.inc_gpc(*sc, *gpc),
        Action::SetGpt0 { sc, value } => {
            let value = match value {
                GptValue::Int(n) => Some(*n),
                GptValue::Expr(e) => int_of(e.eval(ctx)),
            };
            if let Some(value) = value {
                host.set_gpt0(*sc, value);
            }
        }
        Action::SetVar { var, conds, expr } => {
            if let Some(value) = expr.eval(ctx) {
                host.set_var(var, conds, value);
            }
        }
        Action::UnsetVar(var) => host.unset_var(var),
        Action::SetSrc(expr) => {
            if let Some(ip) = ip_of(expr.eval(ctx)) {
                ctx.src = SocketAddr::new(ip, ctx.src.port());
                host.set_src(ctx.src);
            }
        }
        Action::SetSrcPort(expr) => {
            if let Some(port) = port_of(expr.eval(ctx)) {
                ctx.src.set_port(port);
                host.set_src(ctx.src);
            }
        }
        Action::SetDst(expr) => {
            if let Some(ip) = ip_of(expr.eval(ctx)) {
                ctx.dst = SocketAddr::new(ip, ctx.dst.port());
                host.set_dst(ctx.dst);
            }
        }
        Action::SetDstPort(expr) => {
            if let Some(port) = port_of(expr.eval(ctx)) {
                ctx.dst.set_port(port);
                host.set_dst(ctx.dst);
            }
        }
    }
    None
}

/// The address a `set-src`/`set-dst` expression yields, if any.
fn ip_of(sample: Option<Sample<'_>>) -> Option<std::net::IpAddr> {
    match sample?.cast(SampleType::Addr)? {
        Sample::Ip(ip) => Some(ip),
        _ => None,
    }
}

/// The integer value of a sample, if it has one.
fn int_of(sample: Option<Sample<'_>>) -> Option<i64> {
    match sample?.cast(SampleType::Int)? {
        Sample::Int(n) => Some(n),
        _ => None,
    }
}

/// The port a `set-*-port` expression yields; like HAProxy, only the low 16 bits count.
fn port_of(sample: Option<Sample<'_>>) -> Option<u16> {
    // Truncation is HAProxy's behaviour (`htons(sint)`).
    int_of(sample).map(|n| n as u16)
}
