//! What an HTTP rule does when its condition matches, arguments already parsed.

use std::time::Duration;

use http::HeaderName;
use regex::bytes::Regex;

use crate::log::syslog::Level;
use crate::logformat::LogFormat;
use crate::rules::{Gpc, GptValue, SetVarCond, VarName};
use crate::sample::SampleExpr;

use super::normalize::Normalizer;
use super::redirect::Redirect;
use super::reply::ReplySpec;

/// How `del-header -m` compares header names.
#[derive(Debug, Clone)]
pub enum NameMatch {
    /// `str` (default): the whole name, ignoring case.
    Exact(String),
    /// `beg`: a prefix, ignoring case.
    Prefix(String),
    /// `end`: a suffix, ignoring case.
    Suffix(String),
    /// `sub`: a substring, ignoring case.
    Substring(String),
    /// `reg`: a regular expression on the (lowercase) name.
    Regex(Regex),
}

impl NameMatch {
    /// Whether the lowercase header name `name` matches.
    pub fn matches(&self, name: &str) -> bool {
        match self {
            Self::Exact(s) => name == s,
            Self::Prefix(s) => name.starts_with(s.as_str()),
            Self::Suffix(s) => name.ends_with(s.as_str()),
            Self::Substring(s) => name.contains(s.as_str()),
            Self::Regex(r) => r.is_match(name.as_bytes()),
        }
    }
}

/// Which part of the request target a `set-*`/`replace-*` action rewrites.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UriPart {
    /// `set-path` / `replace-path`: the path, the query is kept.
    Path,
    /// `set-pathq` / `replace-pathq`: the path and the query.
    Pathq,
    /// `set-query`: the query (after `?`).
    Query,
    /// `set-uri` / `replace-uri`: the whole target.
    Uri,
}

/// Where a `capture` action stores its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CaptureSlot {
    /// The slot in the request or response capture list.
    pub slot: usize,
    /// At most this many bytes are kept.
    pub len: usize,
}

/// `set-log-level`: a syslog level, or `silent` (no log for this transaction).
pub type LogLevelSetting = Option<Level>;

/// The action of one HTTP rule.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum HttpAction {
    /// `allow`: stop evaluating this proxy's list, go on.
    Allow,
    /// `deny [deny_status N] [reply...]` (403 in requests, 502 in responses).
    Deny(Box<ReplySpec>),
    /// `tarpit [deny_status N] [reply...]`: hold the connection, then answer (500).
    Tarpit(Box<ReplySpec>),
    /// `return [status N] [reply...]` (200).
    Return(Box<ReplySpec>),
    /// `redirect ...` (also the standalone `redirect` keyword).
    Redirect(Box<Redirect>),
    /// `auth [realm R]`: answer 401 with `WWW-Authenticate: Basic realm="R"`.
    Auth {
        /// The realm; without one, the backend's name once a backend is chosen
        /// (`StreamCtx::be_name`), else the frontend's, as HAProxy does.
        realm: Option<String>,
    },
    /// `reject`: close without answering.
    Reject,
    /// `silent-drop`: close without telling the client.
    SilentDrop,
    /// `xdp-deny [for T] [prefix V4[,V6]]`: push the source down to the XDP deny list
    /// (not final; lb's own keyword, see `crate::rules::xdp_deny`).
    XdpDeny(crate::rules::XdpDenyAction),
    /// `set-header NAME FMT`.
    SetHeader {
        /// The header.
        name: HeaderName,
        /// Its new value.
        value: LogFormat,
    },
    /// `add-header NAME FMT`.
    AddHeader {
        /// The header.
        name: HeaderName,
        /// The value to append.
        value: LogFormat,
    },
    /// `del-header NAME [-m METH]`.
    DelHeader(NameMatch),
    /// `replace-header NAME REGEX FMT` (`values`: false) or `replace-value` (true).
    ReplaceHeader {
        /// The header.
        name: HeaderName,
        /// Matched against each line (or value).
        regex: Regex,
        /// The replacement, `\N` referring to groups.
        replace: LogFormat,
        /// `replace-value`: each comma-separated value on its own.
        values: bool,
    },
    /// `set-path`, `set-pathq`, `set-query`, `set-uri FMT`.
    SetUri {
        /// What is replaced.
        part: UriPart,
        /// The new value.
        value: LogFormat,
    },
    /// `replace-path`, `replace-pathq`, `replace-uri REGEX FMT`.
    ReplaceUri {
        /// What is matched and replaced.
        part: UriPart,
        /// The expression.
        regex: Regex,
        /// The replacement with `\N` references.
        replace: LogFormat,
    },
    /// `set-method FMT`.
    SetMethod(LogFormat),
    /// `set-status N [reason R]` (responses).
    SetStatus {
        /// The status code.
        status: u16,
        /// A custom reason phrase.
        reason: Option<String>,
    },
    /// `set-var(VAR[,COND...]) EXPR`.
    SetVar {
        /// The variable.
        var: VarName,
        /// Conditions.
        conds: Vec<SetVarCond>,
        /// The value.
        expr: SampleExpr,
    },
    /// `set-var-fmt(VAR[,COND...]) FMT`: the rendered string.
    SetVarFmt {
        /// The variable.
        var: VarName,
        /// Conditions.
        conds: Vec<SetVarCond>,
        /// The value.
        fmt: LogFormat,
    },
    /// `unset-var(VAR)`.
    UnsetVar(VarName),
    /// `track-sc<N> KEY [table T]`.
    TrackSc {
        /// Counter slot.
        sc: u8,
        /// Key.
        key: SampleExpr,
        /// Table name.
        table: String,
    },
    /// `sc-inc-gpc0(N)` / `sc-inc-gpc1(N)`.
    IncGpc {
        /// Which counter.
        gpc: Gpc,
        /// Tracked entry.
        sc: u8,
    },
    /// `sc-set-gpt0(N) VALUE`.
    SetGpt0 {
        /// Tracked entry.
        sc: u8,
        /// Value.
        value: GptValue,
    },
    /// `set-log-level LEVEL|silent`.
    SetLogLevel(LogLevelSetting),
    /// `capture EXPR len N` / `capture EXPR id N`.
    Capture {
        /// What is captured.
        expr: SampleExpr,
        /// Where.
        slot: CaptureSlot,
    },
    /// `wait-for-body time T [at-least N]`: in `http-request` rules, buffer the body
    /// before going on; accepted in `http-response` rules, where it does nothing yet
    /// (responses are streamed).
    WaitForBody {
        /// Longest wait.
        time: Duration,
        /// Enough bytes to stop waiting.
        at_least: Option<u64>,
    },
    /// `normalize-uri NORMALIZER [option]`.
    NormalizeUri(Normalizer),
    /// `set-src EXPR`, `set-src-port`, `set-dst`, `set-dst-port`.
    SetAddr {
        /// Destination rather than source.
        dst: bool,
        /// Only the port.
        port: bool,
        /// The new value.
        expr: SampleExpr,
    },
}

impl HttpAction {
    /// Whether the action ends the evaluation of its list when it runs (HAProxy's
    /// final actions).
    pub fn is_final(&self) -> bool {
        matches!(
            self,
            Self::Allow
                | Self::Deny(_)
                | Self::Tarpit(_)
                | Self::Return(_)
                | Self::Redirect(_)
                | Self::Auth { .. }
                | Self::Reject
                | Self::SilentDrop
        )
    }

    /// Sample expressions the action evaluates (configuration checks).
    pub fn exprs(&self) -> Vec<&SampleExpr> {
        let mut out: Vec<&SampleExpr> = Vec::new();
        let fmts: Vec<&LogFormat> = match self {
            Self::SetHeader { value, .. } | Self::AddHeader { value, .. } => vec![value],
            Self::ReplaceHeader { replace, .. } | Self::ReplaceUri { replace, .. } => {
                vec![replace]
            }
            Self::SetUri { value, .. } => vec![value],
            Self::SetMethod(f) => vec![f],
            Self::SetVarFmt { fmt, .. } => vec![fmt],
            Self::SetVar { expr, .. }
            | Self::TrackSc { key: expr, .. }
            | Self::Capture { expr, .. }
            | Self::SetAddr { expr, .. }
            | Self::SetGpt0 {
                value: GptValue::Expr(expr),
                ..
            } => {
                out.push(expr);
                vec![]
            }
            _ => vec![],
        };
        for f in fmts {
            out.extend(f.exprs());
        }
        out
    }
}
