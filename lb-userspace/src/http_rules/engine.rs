//! Evaluation of HTTP rule lists, sans-I/O (see the module documentation of
//! [`crate::http_rules`] for when the runtime calls what).
//!
//! Each rule is evaluated in two steps: with a read-only view of the transaction
//! (conditions, log-format values, sample expressions), then the action's edit is
//! applied to the transaction. Variables are set by the engine on `ctx.vars`; other
//! side effects go through the [`HttpRuleHost`].

use std::net::SocketAddr;
use std::time::Duration;

use http::{HeaderMap, HeaderValue};

use super::action::HttpAction;
use super::edit::{self, EditError};
use super::reply::{Reply, ReplyCause};
use super::{HttpRule, HttpRules};
use crate::http::HttpTxn;
use crate::log::syslog::Level;
use crate::logformat::AliasSource;
use crate::rules::vars::{self, Phase as VarPhase};
use crate::rules::{GptValue, RuleHost};
use crate::sample::{Sample, SampleType, StreamCtx};

/// Side effects of HTTP rules the runtime owns, beyond those of TCP rules.
pub trait HttpRuleHost: RuleHost {
    /// `set-log-level LEVEL` (`Some`) or `set-log-level silent` (`None`): the level
    /// of this transaction's log line.
    fn set_log_level(&mut self, level: Option<Level>);

    /// What renders `%xx` aliases (`%ci`, `%ID`, `%T`...) in log-format values; `None`
    /// renders them from the stream context only.
    fn aliases(&self) -> Option<&dyn AliasSource> {
        None
    }
}

/// Which list is evaluated (it decides the message rules edit and the defaults).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// `http-request` (then `redirect`).
    Request,
    /// `http-response`.
    Response,
    /// `http-after-response`.
    AfterResponse,
}

/// What the runtime must do after a list ran.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpVerdict {
    /// No final action ran: go on.
    Continue,
    /// `allow`: this list stopped; go on.
    Allow,
    /// Answer with this response (instead of the server's in the response phase).
    Reply(Box<Reply>),
    /// `tarpit`: wait `timeout tarpit` (else `timeout connect`), then send the reply.
    Tarpit(Box<Reply>),
    /// `reject`: close the connection without answering.
    Reject,
    /// `silent-drop`: close without telling the client anything.
    SilentDrop,
    /// `wait-for-body`: buffer the request body (until complete, `at_least` bytes, or
    /// `time`), put it in `txn.req_body`, then call again with the same cursor.
    WaitForBody {
        /// Longest wait.
        time: Duration,
        /// Enough bytes to stop waiting early.
        at_least: Option<u64>,
    },
}

/// Runs the `http-request` rules, then the `redirect` rules, from `*cursor` (start at
/// 0; keep it across [`HttpVerdict::WaitForBody`]).
pub fn eval_request(
    rules: &HttpRules,
    txn: &mut HttpTxn,
    base: &StreamCtx<'_>,
    host: &mut dyn HttpRuleHost,
    cursor: &mut usize,
) -> HttpVerdict {
    let n = rules.request.len();
    let mut verdict = HttpVerdict::Continue;
    if *cursor < n {
        let mut local = *cursor;
        verdict = eval_list(
            Phase::Request,
            &rules.request,
            rules.strict,
            txn,
            base,
            host,
            &mut local,
        );
        match verdict {
            HttpVerdict::Continue | HttpVerdict::Allow => *cursor = n,
            _ => {
                *cursor = local;
                return verdict;
            }
        }
    }
    let mut local = *cursor - n;
    let redirected = eval_list(
        Phase::Request,
        &rules.redirects,
        rules.strict,
        txn,
        base,
        host,
        &mut local,
    );
    *cursor = n + local;
    match redirected {
        HttpVerdict::Continue => verdict,
        other => other,
    }
}

/// Runs the `http-response` rules of one proxy (`txn.res` must be set).
pub fn eval_response(
    rules: &HttpRules,
    txn: &mut HttpTxn,
    base: &StreamCtx<'_>,
    host: &mut dyn HttpRuleHost,
) -> HttpVerdict {
    let mut cursor = 0;
    eval_list(
        Phase::Response,
        &rules.response,
        rules.strict,
        txn,
        base,
        host,
        &mut cursor,
    )
}

/// Runs the `http-after-response` rules of one proxy (`txn.res` must be set).
pub fn eval_after_response(
    rules: &HttpRules,
    txn: &mut HttpTxn,
    base: &StreamCtx<'_>,
    host: &mut dyn HttpRuleHost,
) -> HttpVerdict {
    let mut cursor = 0;
    eval_list(
        Phase::AfterResponse,
        &rules.after_response,
        rules.strict,
        txn,
        base,
        host,
        &mut cursor,
    )
}

/// What the read-only step computed for the edit step.
enum Pending {
    /// Nothing to edit.
    None,
    /// The list stops.
    Stop(HttpVerdict),
    /// A rendered value for the action's edit.
    Text(String),
    /// A new request target.
    Target(String),
    /// A capture value.
    Capture(String),
}

/// Runs one list from `*cursor`.
pub fn eval_list(
    phase: Phase,
    rules: &[HttpRule],
    strict: bool,
    txn: &mut HttpTxn,
    base: &StreamCtx<'_>,
    host: &mut dyn HttpRuleHost,
    cursor: &mut usize,
) -> HttpVerdict {
    let mut src = base.src;
    let mut dst = base.dst;
    while let Some(rule) = rules.get(*cursor) {
        let pending = {
            let mut ctx = base.clone();
            ctx.http = Some(&*txn);
            ctx.src = src;
            ctx.dst = dst;
            ctx.payload_final = true;
            if rule.cond.as_ref().is_some_and(|c| !c.eval(&ctx)) {
                *cursor += 1;
                continue;
            }
            prepare(phase, rule, txn, &ctx, host, &mut src, &mut dst)
        };
        let result = match pending {
            Pending::None => Ok(()),
            Pending::Stop(v) => {
                if !matches!(v, HttpVerdict::WaitForBody { .. }) {
                    *cursor += 1;
                }
                return v;
            }
            Pending::Text(text) => apply_text(phase, &rule.action, txn, &text),
            Pending::Target(t) => t
                .parse::<http::Uri>()
                .map(|u| txn.req.uri = u)
                .map_err(|_| EditError::Uri(t)),
            Pending::Capture(v) => {
                if let HttpAction::Capture { slot, .. } = &rule.action {
                    let list = if phase == Phase::Request {
                        &mut txn.req_captures
                    } else {
                        &mut txn.res_captures
                    };
                    if list.len() <= slot.slot {
                        list.resize(slot.slot + 1, None);
                    }
                    list[slot.slot] = Some(v);
                }
                Ok(())
            }
        };
        if apply_simple(phase, &rule.action, txn).and(result).is_err() && strict {
            *cursor += 1;
            let status = if phase == Phase::Response { 502 } else { 500 };
            return HttpVerdict::Reply(Box::new(Reply::error(status, ReplyCause::RewriteFailed)));
        }
        *cursor += 1;
    }
    HttpVerdict::Continue
}

fn aliases(host: &dyn HttpRuleHost) -> &dyn AliasSource {
    host.aliases().unwrap_or(&crate::logformat::NoAliases)
}

fn var_phase(phase: Phase) -> VarPhase {
    if phase == Phase::Request {
        VarPhase::Request
    } else {
        VarPhase::Response
    }
}

/// The read-only step: evaluates what the action needs and runs the side effects
/// that do not touch the transaction.
fn prepare(
    phase: Phase,
    rule: &HttpRule,
    txn: &HttpTxn,
    ctx: &StreamCtx<'_>,
    host: &mut dyn HttpRuleHost,
    src: &mut SocketAddr,
    dst: &mut SocketAddr,
) -> Pending {
    use HttpAction as A;
    let reply = |r: Reply| Pending::Stop(HttpVerdict::Reply(Box::new(r)));
    match &rule.action {
        A::Allow => Pending::Stop(HttpVerdict::Allow),
        A::Reject => Pending::Stop(HttpVerdict::Reject),
        A::SilentDrop => Pending::Stop(HttpVerdict::SilentDrop),
        A::XdpDeny(action) => {
            host.xdp_deny(ctx.src.ip(), action);
            Pending::None
        }
        A::Deny(spec) => reply(spec.build(ctx, aliases(host), ReplyCause::Deny)),
        A::Return(spec) => reply(spec.build(ctx, aliases(host), ReplyCause::Return)),
        A::Tarpit(spec) => Pending::Stop(HttpVerdict::Tarpit(Box::new(spec.build(
            ctx,
            aliases(host),
            ReplyCause::Tarpit,
        )))),
        A::Redirect(r) => match r.reply(txn, ctx, aliases(host)) {
            Some(rep) => reply(rep),
            None => Pending::None,
        },
        A::Auth { realm } => {
            let mut r = Reply::error(401, ReplyCause::Auth);
            let realm = realm
                .as_deref()
                .unwrap_or_else(|| ctx.be_name.unwrap_or(ctx.fe_name));
            let value = format!("Basic realm=\"{realm}\"");
            if let Ok(v) = HeaderValue::from_str(&value) {
                r.headers.push((http::header::WWW_AUTHENTICATE, v));
            }
            reply(r)
        }
        A::SetHeader { value, .. } | A::AddHeader { value, .. } => {
            Pending::Text(value.render(ctx, aliases(host)))
        }
        A::ReplaceHeader { replace, .. } | A::ReplaceUri { replace, .. } => {
            Pending::Text(replace.render(ctx, aliases(host)))
        }
        A::SetUri { value, .. } | A::SetMethod(value) => {
            Pending::Text(value.render(ctx, aliases(host)))
        }
        A::DelHeader(_) | A::SetStatus { .. } => Pending::None,
        A::SetVar { var, conds, expr } => {
            if let (Some(store), Some(v)) = (ctx.vars, expr.eval(ctx)) {
                vars::set(store, var_phase(phase), var, conds, v);
            }
            Pending::None
        }
        A::SetVarFmt { var, conds, fmt } => {
            if let Some(store) = ctx.vars {
                let v = fmt.render(ctx, aliases(host));
                vars::set(store, var_phase(phase), var, conds, Sample::Str(v.into()));
            }
            Pending::None
        }
        A::UnsetVar(var) => {
            if let Some(store) = ctx.vars {
                vars::unset(store, var_phase(phase), var);
            }
            Pending::None
        }
        A::TrackSc { sc, key, table } => {
            if let Some(k) = key.eval(ctx) {
                host.track(*sc, table, k);
            }
            Pending::None
        }
        A::IncGpc { gpc, sc } => {
            host.inc_gpc(*sc, *gpc);
            Pending::None
        }
        A::SetGpt0 { sc, value } => {
            let v = match value {
                GptValue::Int(n) => Some(*n),
                GptValue::Expr(e) => int_of(e.eval(ctx)),
            };
            if let Some(v) = v {
                host.set_gpt0(*sc, v);
            }
            Pending::None
        }
        A::SetLogLevel(level) => {
            host.set_log_level(*level);
            Pending::None
        }
        A::Capture { expr, slot } => match expr.eval(ctx).and_then(|s| s.cast(SampleType::Str)) {
            Some(Sample::Str(s)) => Pending::Capture(super::capture::truncate(&s, slot.len)),
            _ => Pending::None,
        },
        A::WaitForBody { time, at_least } => {
            if phase == Phase::Request && txn.req_body.is_none() {
                Pending::Stop(HttpVerdict::WaitForBody {
                    time: *time,
                    at_least: *at_least,
                })
            } else {
                Pending::None
            }
        }
        A::NormalizeUri(n) => {
            let Some(target) = crate::sample::fetch_http::uri::pathq(&txn.req.uri) else {
                return Pending::None;
            };
            match n.apply(target) {
                Ok(t) if t == target => Pending::None,
                Ok(t) => {
                    let prefix = match (txn.req.uri.scheme_str(), txn.req.uri.authority()) {
                        (Some(s), Some(a)) => format!("{s}://{a}"),
                        _ => String::new(),
                    };
                    Pending::Target(prefix + &t)
                }
                Err(_) => reply(Reply::error(400, ReplyCause::BadRequest)),
            }
        }
        A::SetAddr {
            dst: is_dst,
            port,
            expr,
        } => {
            let addr = if *is_dst { dst } else { src };
            let v = expr.eval(ctx);
            let changed = if *port {
                // Only the low 16 bits count, as in HAProxy (`htons(sint)`).
                int_of(v).map(|p| addr.set_port(p as u16)).is_some()
            } else {
                ip_of(v)
                    .map(|ip| *addr = SocketAddr::new(ip, addr.port()))
                    .is_some()
            };
            if changed {
                if *is_dst {
                    host.set_dst(*addr);
                } else {
                    host.set_src(*addr);
                }
            }
            Pending::None
        }
    }
}

fn headers_mut(phase: Phase, txn: &mut HttpTxn) -> Option<&mut HeaderMap> {
    match phase {
        Phase::Request => Some(&mut txn.req.headers),
        Phase::Response | Phase::AfterResponse => txn.res.as_mut().map(|r| &mut r.headers),
    }
}

/// Edits that need no rendered value.
fn apply_simple(phase: Phase, action: &HttpAction, txn: &mut HttpTxn) -> Result<(), EditError> {
    match action {
        HttpAction::DelHeader(m) => {
            if let Some(h) = headers_mut(phase, txn) {
                edit::del_header(h, m);
            }
        }
        HttpAction::SetStatus { status, reason } => {
            if let Some(res) = txn.res.as_mut() {
                res.status = http::StatusCode::from_u16(*status)
                    .map_err(|_| EditError::Uri(status.to_string()))?;
                res.extensions.remove::<hyper::ext::ReasonPhrase>();
                if let Some(r) = reason
                    && let Ok(p) = hyper::ext::ReasonPhrase::try_from(r.as_bytes().to_vec())
                {
                    res.extensions.insert(p);
                }
            }
        }
        _ => {}
    }
    Ok(())
}

/// Edits with a rendered value.
fn apply_text(
    phase: Phase,
    action: &HttpAction,
    txn: &mut HttpTxn,
    text: &str,
) -> Result<(), EditError> {
    use HttpAction as A;
    match action {
        A::SetHeader { name, .. } => match headers_mut(phase, txn) {
            Some(h) => edit::set_header(h, name, text),
            None => Ok(()),
        },
        A::AddHeader { name, .. } => match headers_mut(phase, txn) {
            Some(h) => edit::add_header(h, name, text),
            None => Ok(()),
        },
        A::ReplaceHeader {
            name,
            regex,
            values,
            ..
        } => match headers_mut(phase, txn) {
            Some(h) => edit::replace_header(h, name, regex, text, *values),
            None => Ok(()),
        },
        A::SetUri { part, .. } => {
            txn.req.uri = edit::set_uri_part(&txn.req.uri, *part, text)?;
            Ok(())
        }
        A::ReplaceUri { part, regex, .. } => {
            if let Some(u) = edit::replace_uri_part(&txn.req.uri, *part, regex, text)? {
                txn.req.uri = u;
            }
            Ok(())
        }
        A::SetMethod(_) => {
            txn.req.method = edit::method(text)?;
            Ok(())
        }
        _ => Ok(()),
    }
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
