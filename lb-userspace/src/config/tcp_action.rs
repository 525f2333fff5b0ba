//! One `tcp-request connection|session|content` / `tcp-response content` rule: the action
//! with its arguments, then the optional `if|unless` condition.

use super::draft::ProxyDraft;
use super::error::{ConfigError, ErrorKind, did_you_mean};
use super::line::Line;
use crate::acl::Condition;
use crate::rules::{
    Action, Gpc, GptValue, STICK_COUNTERS, SetVarCond, TcpRule, VarName, reads_payload,
};
use crate::sample::{SampleExpr, SampleType};

/// The four rule sets, in the order HAProxy evaluates them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RuleSet {
    /// `tcp-request connection`.
    Connection,
    /// `tcp-request session`.
    Session,
    /// `tcp-request content`.
    Content,
    /// `tcp-response content`.
    Response,
}

impl RuleSet {
    /// The keyword pair as written.
    pub fn keyword(self) -> &'static str {
        match self {
            Self::Connection => "tcp-request connection",
            Self::Session => "tcp-request session",
            Self::Content => "tcp-request content",
            Self::Response => "tcp-response content",
        }
    }

    fn condition(self) -> &'static str {
        match self {
            Self::Connection => "'tcp-request connection' condition",
            Self::Session => "'tcp-request session' condition",
            Self::Content => "'tcp-request content' condition",
            Self::Response => "'tcp-response content' condition",
        }
    }

    /// The actions this rule set implements, for messages and suggestions.
    fn actions(self) -> &'static [&'static str] {
        match self {
            Self::Connection => CONNECTION,
            Self::Session => SESSION,
            Self::Content => CONTENT,
            Self::Response => RESPONSE,
        }
    }

    fn allows(self, action: &str) -> bool {
        self.actions().contains(&action)
    }
}

const CONNECTION: &[&str] = &[
    "accept",
    "reject",
    "expect-proxy",
    "track-sc0",
    "track-sc1",
    "track-sc2",
    "sc-inc-gpc0",
    "sc-inc-gpc1",
    "sc-set-gpt0",
    "set-var",
    "unset-var",
    "set-src",
    "set-src-port",
    "set-dst",
    "set-dst-port",
    "silent-drop",
    "xdp-deny",
];

const SESSION: &[&str] = &[
    "accept",
    "reject",
    "track-sc0",
    "track-sc1",
    "track-sc2",
    "sc-inc-gpc0",
    "sc-inc-gpc1",
    "sc-set-gpt0",
    "set-var",
    "unset-var",
    "set-src",
    "set-src-port",
    "set-dst",
    "set-dst-port",
    "silent-drop",
];

const CONTENT: &[&str] = &[
    "accept",
    "reject",
    "track-sc0",
    "track-sc1",
    "track-sc2",
    "sc-inc-gpc0",
    "sc-inc-gpc1",
    "sc-set-gpt0",
    "set-var",
    "unset-var",
    "set-src",
    "set-src-port",
    "set-dst",
    "set-dst-port",
    "silent-drop",
    "switch-mode",
    "use-service",
    "xdp-deny",
];

const RESPONSE: &[&str] = &[
    "accept",
    "reject",
    "close",
    "sc-inc-gpc0",
    "sc-inc-gpc1",
    "sc-set-gpt0",
    "set-var",
    "unset-var",
    "silent-drop",
];

/// Expression constraints: any value (every type converts to binary), an integer.
const ANY: (SampleType, &str) = (SampleType::Bin, "a value");
const INTEGER: (SampleType, &str) = (SampleType::Int, "an integer");

/// HAProxy 2.6 actions we know and do not implement yet, with the feature bringing them.
const NOT_YET: &[(&str, &str)] = &[
    ("capture", "request captures"),
    ("do-resolve", "DNS resolvers"),
    ("expect-netscaler-cip", "NetScaler client IP insertion"),
    ("sc-inc-gpc", "stick-table gpc/gpt arrays"),
    ("sc-set-gpt", "stick-table gpc/gpt arrays"),
    ("send-spoe-group", "SPOE filters"),
    ("set-log-level", "per-stream log levels"),
    ("set-mark", "TCP socket tuning"),
    ("set-nice", "stream priorities"),
    ("set-priority-class", "queue priorities"),
    ("set-priority-offset", "queue priorities"),
    ("set-tos", "TCP socket tuning"),
    ("set-var-fmt", "custom log formats"),
];

/// Parses the rule of `line` (`words[2..]`: action, arguments, condition).
pub(crate) fn parse_rule(
    set: RuleSet,
    px: &ProxyDraft,
    line: &Line,
) -> Result<TcpRule, ConfigError> {
    let Some(word) = line.arg(2).filter(|w| !w.is_empty()) else {
        let expected = format!("an action ({})", quoted_list(set.actions()));
        return Err(line.missing(set.keyword(), &expected));
    };
    // `set-var(txn.x)`, `sc-inc-gpc0(1)`: the name is what precedes the parenthesis.
    let name = word.split('(').next().unwrap_or(word);
    let family = match name {
        n if n.starts_with("track-sc") => "track-sc0",
        n if n.starts_with("sc-inc-gpc0") => "sc-inc-gpc0",
        n if n.starts_with("sc-inc-gpc1") => "sc-inc-gpc1",
        n if n.starts_with("sc-set-gpt0") => "sc-set-gpt0",
        n => n,
    };
    if !set.allows(family) {
        return Err(misplaced_or_unknown(set, line, word, name, family));
    }
    let mut next = 3;
    let kw = format!("{} {word}", set.keyword());
    let action = match family {
        "accept" => Action::Accept,
        "reject" => Action::Reject,
        "close" => Action::Close,
        "silent-drop" => Action::SilentDrop,
        "expect-proxy" => {
            match line.arg(3) {
                Some("layer4") => {}
                got => {
                    let reason = format!("only supports 'layer4' (got '{}')", got.unwrap_or(""));
                    return Err(line.invalid(&kw, reason));
                }
            }
            next = 4;
            Action::ExpectProxy
        }
        "track-sc0" => track_sc(px, line, &kw, word, &mut next)?,
        "sc-inc-gpc0" | "sc-inc-gpc1" => {
            let sc = counter_id(line, &kw, word, family)?;
            let gpc = if family == "sc-inc-gpc0" {
                Gpc::Gpc0
            } else {
                Gpc::Gpc1
            };
            Action::IncGpc { gpc, sc }
        }
        "sc-set-gpt0" => {
            let sc = counter_id(line, &kw, word, family)?;
            let text = line.required(3, &kw, "an integer or a sample expression")?;
            let value = match text.parse::<i64>() {
                Ok(n) => GptValue::Int(n),
                Err(_) => GptValue::Expr(expression(line, &kw, 3, INTEGER)?),
            };
            next = 4;
            Action::SetGpt0 { sc, value }
        }
        "set-var" => set_var(line, &kw, word, &mut next)?,
        "unset-var" => Action::UnsetVar(var_name(line, &kw, word, "unset-var(")?.0),
        "set-src" | "set-dst" | "set-src-port" | "set-dst-port" => {
            let want = if family.ends_with("-port") {
                (SampleType::Int, "a port")
            } else {
                (SampleType::Addr, "an address")
            };
            let expr = expression(line, &kw, 3, want)?;
            next = 4;
            match family {
                "set-src" => Action::SetSrc(expr),
                "set-dst" => Action::SetDst(expr),
                "set-src-port" => Action::SetSrcPort(expr),
                _ => Action::SetDstPort(expr),
            }
        }
        "xdp-deny" => {
            let (action, used) = crate::rules::parse_xdp_deny(&line.words[3..])
                .map_err(|e| line.invalid(&kw, e.to_string()))?;
            next = 3 + used;
            Action::XdpDeny(action)
        }
        "switch-mode" => return Err(switch_mode(px, line, &kw)),
        "use-service" => {
            line.required(3, &kw, "a service name")?;
            return Err(line.unsupported(kw, "services (use-service)"));
        }
        _ => return Err(misplaced_or_unknown(set, line, word, name, family)),
    };
    let early = matches!(set, RuleSet::Connection | RuleSet::Session);
    if early && action_expr(&action).is_some_and(reads_payload) {
        let reason = format!(
            "'{}' reads the request contents, which '{}' rules run before",
            expr_text(line),
            set.keyword()
        );
        return Err(line.invalid(&kw, reason));
    }
    let cond = condition(set, px, line, &kw, next)?;
    Ok(TcpRule {
        action,
        cond,
        location: line.loc.clone(),
    })
}

/// The expression an action evaluates, if any.
fn action_expr(action: &Action) -> Option<&SampleExpr> {
    match action {
        Action::TrackSc { key, .. } => Some(key),
        Action::SetVar { expr, .. }
        | Action::SetSrc(expr)
        | Action::SetSrcPort(expr)
        | Action::SetDst(expr)
        | Action::SetDstPort(expr)
        | Action::SetGpt0 {
            value: GptValue::Expr(expr),
            ..
        } => Some(expr),
        _ => None,
    }
}

/// The expression as written: every action takes it as the word after its keyword.
fn expr_text(line: &Line) -> &str {
    line.arg(3).unwrap_or("")
}

/// The error for an action this rule set does not take: "not supported yet" for known
/// HAProxy actions, "only allowed in ..." for ours used in the wrong set, else unknown.
fn misplaced_or_unknown(
    set: RuleSet,
    line: &Line,
    word: &str,
    name: &str,
    family: &str,
) -> ConfigError {
    if let Some((_, feature)) = NOT_YET.iter().find(|(n, _)| *n == name) {
        return line.unsupported(format!("{} {name}", set.keyword()), feature);
    }
    if name.starts_with("lua.") {
        return line.unsupported(format!("{} {name}", set.keyword()), "Lua scripting");
    }
    let all = [
        RuleSet::Connection,
        RuleSet::Session,
        RuleSet::Content,
        RuleSet::Response,
    ];
    let homes: Vec<&str> = all
        .iter()
        .filter(|s| s.allows(family))
        .map(|s| s.keyword())
        .collect();
    if !homes.is_empty() {
        let reason = format!(
            "this action is only allowed in {} rules",
            quoted_list(&homes)
        );
        return line.invalid(&format!("{} {name}", set.keyword()), reason);
    }
    let reason = format!("expects {} (got '{word}')", quoted_list(set.actions()));
    line.invalid(set.keyword(), reason)
        .with_suggestion(did_you_mean(name, set.actions().iter().copied()))
}

/// `'a', 'b' or 'c'`.
pub(crate) fn quoted_list(items: &[&str]) -> String {
    let quoted: Vec<String> = items.iter().map(|i| format!("'{i}'")).collect();
    match quoted.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
        _ => quoted.concat(),
    }
}

/// `track-sc<N> <key> [table <name>]`.
fn track_sc(
    px: &ProxyDraft,
    line: &Line,
    kw: &str,
    word: &str,
    next: &mut usize,
) -> Result<Action, ConfigError> {
    let num = &word["track-sc".len()..];
    let sc = match num.parse::<u64>() {
        Ok(n) if n < u64::from(STICK_COUNTERS) => u8::try_from(n).unwrap_or(0),
        Ok(n) => {
            let reason = format!(
                "{n} track-sc number exceeding {} (MAX_SESS_STKCTR-1) value",
                STICK_COUNTERS - 1
            );
            return Err(line.invalid(kw, reason));
        }
        Err(_) => return Err(line.invalid(kw, format!("Wrong track-sc number '{num}'"))),
    };
    let key = expression(line, kw, 3, ANY)?;
    *next = 4;
    let table = match line.arg(4) {
        Some("table") => {
            let table = line.required(5, &format!("{kw} table"), "a table name")?;
            *next = 6;
            table.to_owned()
        }
        _ => px.name.clone(),
    };
    Ok(Action::TrackSc { sc, key, table })
}

/// The `(<sc>)` of `sc-inc-gpc0(<sc>)` and the like; 0 when absent, as in HAProxy.
pub(crate) fn counter_id(
    line: &Line,
    kw: &str,
    word: &str,
    family: &str,
) -> Result<u8, ConfigError> {
    let rest = &word[family.len()..];
    let sc = if rest.is_empty() {
        0
    } else {
        let id = rest.strip_prefix('(').and_then(|r| r.strip_suffix(')'));
        let Some(n) = id.and_then(|n| n.parse::<u64>().ok()) else {
            let reason = format!("invalid stick table track ID. Expects {family}(<Track ID>)");
            return Err(line.invalid(kw, reason));
        };
        if n >= u64::from(STICK_COUNTERS) {
            let reason = format!(
                "invalid stick table track ID. The max allowed ID is {}",
                STICK_COUNTERS - 1
            );
            return Err(line.invalid(kw, reason));
        }
        u8::try_from(n).unwrap_or(0)
    };
    Ok(sc)
}

/// `set-var(<name>[,<cond>...]) <expr>`.
fn set_var(line: &Line, kw: &str, word: &str, next: &mut usize) -> Result<Action, ConfigError> {
    let (var, conds) = var_name(line, kw, word, "set-var(")?;
    let expr = expression(line, kw, 3, ANY)?;
    *next = 4;
    Ok(Action::SetVar { var, conds, expr })
}

/// The variable (and `set-var` conditions) between the parentheses of `word`.
pub(crate) fn var_name(
    line: &Line,
    kw: &str,
    word: &str,
    prefix: &str,
) -> Result<(VarName, Vec<SetVarCond>), ConfigError> {
    let inner = word
        .strip_prefix(prefix)
        .and_then(|rest| rest.strip_suffix(')'))
        .ok_or_else(|| {
            let reason = format!(
                "invalid variable '{word}'. Expects 'set-var(<var-name>)' or 'unset-var(<var-name>)'"
            );
            line.invalid(kw, reason)
        })?;
    let mut items = inner.split(',');
    let name = items.next().unwrap_or("");
    let var = VarName::parse(name).map_err(|e| line.invalid(kw, e.to_string()))?;
    let mut conds = Vec::new();
    for item in items {
        if prefix.starts_with("unset") {
            return Err(line.invalid(kw, "'unset-var' does not take conditions"));
        }
        let cond = SetVarCond::parse(item)
            .ok_or_else(|| line.invalid(kw, format!("unknown condition '{item}'")))?;
        conds.push(cond);
    }
    Ok((var, conds))
}

/// The sample expression at word `i`, whose value must convert to `ty`; `what` names
/// that use in the message otherwise.
pub(crate) fn expression(
    line: &Line,
    kw: &str,
    i: usize,
    (ty, what): (SampleType, &str),
) -> Result<SampleExpr, ConfigError> {
    let text = line.required(i, kw, "a sample expression")?;
    let expr = SampleExpr::parse(text).map_err(|source| {
        line.err(ErrorKind::Sample {
            keyword: kw.to_owned(),
            source,
        })
    })?;
    let out = expr.out_type();
    if !out.can_cast_to(ty) {
        let reason = format!("expression '{text}' returns '{out}', which cannot be used as {what}");
        return Err(line.invalid(kw, reason));
    }
    Ok(expr)
}

/// `switch-mode http [proto <name>]`: checked, then refused until HTTP mode exists.
fn switch_mode(px: &ProxyDraft, line: &Line, kw: &str) -> ConfigError {
    if !px.kind.frontend() {
        return line.invalid(kw, "action is not supported for a backend");
    }
    match line.arg(3) {
        Some("http") => {}
        got => {
            let reason = format!("expects a valid mode (got '{}')", got.unwrap_or(""));
            return line.invalid(kw, reason);
        }
    }
    let mut next = 4;
    if line.arg(4) == Some("proto") {
        match line.arg(5) {
            Some("h1" | "h2") => next = 6,
            Some(p) if !p.is_empty() => {
                return line.invalid(kw, format!("unknown MUX protocol '{p}'"));
            }
            _ => return line.missing(&format!("{kw} proto"), "a protocol name"),
        }
    }
    if let Err(e) = condition(RuleSet::Content, px, line, kw, next) {
        return e;
    }
    line.unsupported(format!("{kw} http"), "")
}

/// The optional `if|unless <condition>` starting at word `i`.
fn condition(
    set: RuleSet,
    px: &ProxyDraft,
    line: &Line,
    kw: &str,
    i: usize,
) -> Result<Option<Condition>, ConfigError> {
    match line.arg(i) {
        None => Ok(None),
        Some("if" | "unless") => Condition::parse(&line.words[i..], &px.acls)
            .map(Some)
            .map_err(|source| {
                line.err(ErrorKind::Condition {
                    rule: set.condition(),
                    source,
                })
            }),
        Some(other) => {
            Err(line.invalid(kw, format!("only accepts 'if' or 'unless' (got '{other}')")))
        }
    }
}
