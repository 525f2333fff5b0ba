//! Evaluation of rule sets, sans-I/O: the runtime supplies the stream context and a
//! [`RuleHost`] that applies side effects; the engine decides.
//!
//! Content rules may wait for more data. HAProxy records where evaluation stopped so that
//! a rule already executed is never executed again for the same stream (a tracked counter
//! must not count twice); the [`Cursor`] is that record.
//!
//! Variables (`set-var`, `unset-var`) are applied by the engine itself on `ctx.vars`,
//! the stream's [`Vars`](crate::sample::vars::Vars); the other side effects go through
//! the [`RuleHost`].

use std::net::SocketAddr;

use super::action::{Action, Gpc, GptValue};
use super::vars::{self, Phase};
use super::{ProxyRules, TcpRule};
use crate::acl::{Condition, Tristate};
use crate::sample::{Sample, SampleExpr, SampleType, StreamCtx};

/// The side effects of rules other than variables, implemented by the runtime (and by
/// test hosts).
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

    /// `set-src` / `set-src-port`: the client address is now `addr` (already applied to
    /// the context the engine evaluates with; the host makes it stick for the stream).
    fn set_src(&mut self, addr: SocketAddr);

    /// `set-dst` / `set-dst-port`: the destination address is now `addr`.
    fn set_dst(&mut self, addr: SocketAddr);

    /// `expect-proxy layer4`: read a PROXY protocol header before anything else.
    fn expect_proxy(&mut self);

    /// `xdp-deny`: deny the prefix of source `src` in the XDP guard for a while. The
    /// default does nothing (test hosts); the runtime host calls [`XdpDenyAction::apply`].
    ///
    /// [`XdpDenyAction::apply`]: super::xdp_deny::XdpDenyAction::apply
    fn xdp_deny(&mut self, src: std::net::IpAddr, action: &super::xdp_deny::XdpDenyAction) {
        let _ = (src, action);
    }
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

/// Where a stream stands in one content rule set; keep one per stream and rule set
/// (frontend content, backend content, response), starting from `Cursor::default()`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Cursor {
    /// The next rule to evaluate.
    next: usize,
    /// The condition of rule `next` already matched: its action waits for data.
    in_action: bool,
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

/// Decides a condition with the data at hand: undecided while more payload could change
/// the answer and `ctx.payload_final` is false.
pub fn decide(cond: &Condition, ctx: &StreamCtx<'_>) -> Tristate {
    cond.eval_partial(ctx)
}

/// The condition judge the engine uses (a parameter so that tests can script it).
pub(super) type Judge<'a> = dyn Fn(&Condition, &StreamCtx<'_>) -> Tristate + 'a;

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
        let set = RuleSet::new(&self.content, Phase::Request);
        match resume(set, cursor, final_data, ctx, host, &decide) {
            Stop::Accept | Stop::Close => ContentVerdict::Accept,
            Stop::Reject => ContentVerdict::Reject,
            Stop::SilentDrop => ContentVerdict::SilentDrop,
            Stop::Wait => ContentVerdict::NeedMoreData,
        }
    }

    /// Runs `tcp-response content` rules against the server data peeked so far; same
    /// protocol as [`eval_content`](Self::eval_content), with `tcp-response
    /// inspect-delay`. `ctx.payload` must hold the server's bytes and `ctx.payload_final`
    /// say whether more can come (`StreamCtx` has no separate response payload yet).
    pub fn eval_response(
        &self,
        cursor: &mut Cursor,
        ctx: &mut StreamCtx<'_>,
        host: &mut dyn RuleHost,
    ) -> ResponseVerdict {
        let final_data = ctx.payload_final || self.response_inspect_delay.is_none();
        let set = RuleSet::new(&self.response, Phase::Response);
        match resume(set, cursor, final_data, ctx, host, &decide) {
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

impl TcpRule {
    /// Whether the rule's condition depends on the stream's payload (it is undecided
    /// before any data arrived).
    pub fn waits_for_data(&self) -> bool {
        waits_for_data(std::slice::from_ref(self), &decide)
    }
}

/// A context before any data arrived, when more may come: what configuration checks probe
/// conditions and expressions with.
fn empty_stream() -> StreamCtx<'static> {
    let any = SocketAddr::from(([0, 0, 0, 0], 0));
    StreamCtx::new(any, any, "")
}

/// Whether an expression reads the stream's payload (its value may change as data
/// arrives), which connection and session rules never see.
pub fn reads_payload(expr: &SampleExpr) -> bool {
    expr.eval_partial(&empty_stream()).may_change
}

/// Whether a condition of `rules` is undecided on an empty payload that may still grow.
pub(super) fn waits_for_data(rules: &[TcpRule], judge: &Judge<'_>) -> bool {
    let ctx = empty_stream();
    rules
        .iter()
        .filter_map(|r| r.cond.as_ref())
        .any(|c| judge(c, &ctx) == Tristate::Undecided)
}

/// A rule list and the phase it runs in.
#[derive(Debug, Clone, Copy)]
pub(super) struct RuleSet<'r> {
    rules: &'r [TcpRule],
    phase: Phase,
}

impl<'r> RuleSet<'r> {
    pub(super) fn new(rules: &'r [TcpRule], phase: Phase) -> Self {
        Self { rules, phase }
    }
}

/// Evaluates a rule set whose data is complete (connection and session rules).
pub(super) fn eval_once(
    rules: &[TcpRule],
    ctx: &mut StreamCtx<'_>,
    host: &mut dyn RuleHost,
    judge: &Judge<'_>,
) -> Verdict {
    let mut cursor = Cursor::default();
    let set = RuleSet::new(rules, Phase::Session);
    match resume(set, &mut cursor, true, ctx, host, judge) {
        Stop::Reject => Verdict::Reject,
        Stop::SilentDrop => Verdict::SilentDrop,
        Stop::Accept | Stop::Close | Stop::Wait => Verdict::Accept,
    }
}

/// Walks the rules from the cursor: the first matching final action decides; a condition
/// that cannot be decided yet, or a `track-sc` key that may still change, stops the walk
/// (unless the data is final: the condition then counts as not matching, the key is
/// taken as it is); reaching the end accepts.
pub(super) fn resume(
    set: RuleSet<'_>,
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
    let stop = walk(set, cursor, final_data, ctx, host, judge);
    ctx.payload_final = saved;
    if stop != Stop::Wait {
        cursor.done = Some(stop);
    }
    stop
}

fn walk(
    set: RuleSet<'_>,
    cursor: &mut Cursor,
    final_data: bool,
    ctx: &mut StreamCtx<'_>,
    host: &mut dyn RuleHost,
    judge: &Judge<'_>,
) -> Stop {
    while let Some(rule) = set.rules.get(cursor.next) {
        if let (false, Some(cond)) = (cursor.in_action, &rule.cond) {
            match judge(cond, ctx) {
                Tristate::True => {}
                Tristate::Undecided if !final_data => return Stop::Wait,
                Tristate::False | Tristate::Undecided => {
                    cursor.next += 1;
                    continue;
                }
            }
        }
        cursor.in_action = false;
        match execute(&rule.action, set.phase, ctx, host) {
            Step::Next => cursor.next += 1,
            Step::Stop(stop) => {
                cursor.next += 1;
                return stop;
            }
            // Nothing ran: the action runs (once) when the data is there.
            Step::Wait => {
                cursor.in_action = true;
                return Stop::Wait;
            }
        }
    }
    Stop::Accept
}

/// What an action asks for.
enum Step {
    /// Go on with the next rule.
    Next,
    /// End the rule set.
    Stop(Stop),
    /// Run this action again when more data arrived (it did nothing yet).
    Wait,
}

/// Runs one action.
fn execute(
    action: &Action,
    phase: Phase,
    ctx: &mut StreamCtx<'_>,
    host: &mut dyn RuleHost,
) -> Step {
    // Expressions of actions are evaluated as final (HAProxy's SMP_OPT_FINAL), except a
    // `track-sc` key, which may wait for its data.
    let fin = ctx.finalized();
    match action {
        Action::Accept => return Step::Stop(Stop::Accept),
        Action::Reject => return Step::Stop(Stop::Reject),
        Action::Close => return Step::Stop(Stop::Close),
        Action::SilentDrop => return Step::Stop(Stop::SilentDrop),
        Action::ExpectProxy => host.expect_proxy(),
        Action::TrackSc { sc, key, table } => {
            let fetched = key.eval_partial(ctx);
            if fetched.may_change && !ctx.payload_final {
                return Step::Wait;
            }
            if let Some(key) = fetched.sample {
                host.track(*sc, table, key);
            }
        }
        Action::IncGpc { gpc, sc } => host.inc_gpc(*sc, *gpc),
        Action::SetGpt0 { sc, value } => {
            let value = match value {
                GptValue::Int(n) => Some(*n),
                GptValue::Expr(e) => int_of(e.eval(&fin)),
            };
            if let Some(value) = value {
                host.set_gpt0(*sc, value);
            }
        }
        Action::SetVar { var, conds, expr } => {
            if let (Some(store), Some(value)) = (ctx.vars, expr.eval(&fin)) {
                vars::set(store, phase, var, conds, value);
            }
        }
        Action::UnsetVar(var) => {
            if let Some(store) = ctx.vars {
                vars::unset(store, phase, var);
            }
        }
        Action::SetSrc(expr) => {
            if let Some(ip) = ip_of(expr.eval(&fin)) {
                ctx.src = SocketAddr::new(ip, ctx.src.port());
                host.set_src(ctx.src);
            }
        }
        Action::SetSrcPort(expr) => {
            if let Some(port) = port_of(expr.eval(&fin)) {
                ctx.src.set_port(port);
                host.set_src(ctx.src);
            }
        }
        Action::SetDst(expr) => {
            if let Some(ip) = ip_of(expr.eval(&fin)) {
                ctx.dst = SocketAddr::new(ip, ctx.dst.port());
                host.set_dst(ctx.dst);
            }
        }
        Action::SetDstPort(expr) => {
            if let Some(port) = port_of(expr.eval(&fin)) {
                ctx.dst.set_port(port);
                host.set_dst(ctx.dst);
            }
        }
        Action::XdpDeny(action) => host.xdp_deny(ctx.src.ip(), action),
    }
    Step::Next
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
