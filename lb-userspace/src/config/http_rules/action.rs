//! One `http-request` / `http-response` / `http-after-response` rule, and the
//! standalone `redirect` line: action, arguments, then the optional condition.

use http::HeaderName;
use regex::bytes::{Regex, RegexBuilder};

use super::super::draft::ProxyDraft;
use super::super::error::{ConfigError, ErrorKind, did_you_mean};
use super::super::line::Line;
use super::super::tcp_action::{counter_id, expression, quoted_list, var_name};
use crate::acl::Condition;
use crate::http_rules::HttpRule;
use crate::http_rules::action::{CaptureSlot, HttpAction, NameMatch, UriPart};
use crate::http_rules::normalize::Normalizer;
use crate::http_rules::redirect::{CODES, Redirect, RedirectKind};
use crate::log::syslog::Level;
use crate::logformat::{LogFormat, ParseOptions};
use crate::rules::{Gpc, GptValue, STICK_COUNTERS};
use crate::sample::SampleType;

/// The three rule lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum List {
    /// `http-request`.
    Request,
    /// `http-response`.
    Response,
    /// `http-after-response`.
    AfterResponse,
}

impl List {
    /// The keyword.
    pub fn keyword(self) -> &'static str {
        match self {
            Self::Request => "http-request",
            Self::Response => "http-response",
            Self::AfterResponse => "http-after-response",
        }
    }

    /// HAProxy's name of a rule's condition in messages (`an 'http-request deny'
    /// condition`).
    fn condition(self, family: &str) -> &'static str {
        macro_rules! names {
            ($list:literal, $($a:literal),* $(,)?) => {
                match family {
                    $($a => concat!("an '", $list, " ", $a, "' condition"),)*
                    _ => concat!("an '", $list, "' condition"),
                }
            };
        }
        match self {
            Self::Request => names!(
                "http-request",
                "add-header",
                "allow",
                "auth",
                "capture",
                "del-header",
                "deny",
                "normalize-uri",
                "redirect",
                "reject",
                "replace-header",
                "replace-path",
                "replace-pathq",
                "replace-uri",
                "replace-value",
                "return",
                "sc-inc-gpc0",
                "sc-inc-gpc1",
                "sc-set-gpt0",
                "set-dst",
                "set-dst-port",
                "set-header",
                "set-log-level",
                "set-method",
                "set-path",
                "set-pathq",
                "set-query",
                "set-src",
                "set-src-port",
                "set-uri",
                "set-var",
                "set-var-fmt",
                "silent-drop",
                "tarpit",
                "track-sc0",
                "unset-var",
                "wait-for-body",
            ),
            Self::Response => names!(
                "http-response",
                "add-header",
                "allow",
                "capture",
                "del-header",
                "deny",
                "redirect",
                "replace-header",
                "replace-value",
                "return",
                "sc-inc-gpc0",
                "sc-inc-gpc1",
                "sc-set-gpt0",
                "set-header",
                "set-log-level",
                "set-status",
                "set-var",
                "set-var-fmt",
                "silent-drop",
                "track-sc0",
                "unset-var",
                "wait-for-body",
            ),
            Self::AfterResponse => names!(
                "http-after-response",
                "add-header",
                "allow",
                "capture",
                "del-header",
                "replace-header",
                "replace-value",
                "sc-inc-gpc0",
                "sc-inc-gpc1",
                "sc-set-gpt0",
                "set-header",
                "set-log-level",
                "set-status",
                "set-var",
                "set-var-fmt",
                "unset-var",
            ),
        }
    }

    fn actions(self) -> &'static [&'static str] {
        match self {
            Self::Request => REQUEST,
            Self::Response => RESPONSE,
            Self::AfterResponse => AFTER,
        }
    }
}

const REQUEST: &[&str] = &[
    "add-header",
    "allow",
    "auth",
    "capture",
    "del-header",
    "deny",
    "normalize-uri",
    "redirect",
    "reject",
    "replace-header",
    "replace-path",
    "replace-pathq",
    "replace-uri",
    "replace-value",
    "return",
    "sc-inc-gpc0",
    "sc-inc-gpc1",
    "sc-set-gpt0",
    "set-dst",
    "set-dst-port",
    "set-header",
    "set-log-level",
    "set-method",
    "set-path",
    "set-pathq",
    "set-query",
    "set-src",
    "set-src-port",
    "set-uri",
    "set-var",
    "set-var-fmt",
    "silent-drop",
    "strict-mode",
    "tarpit",
    "track-sc0",
    "track-sc1",
    "track-sc2",
    "unset-var",
    "wait-for-body",
    "xdp-deny",
];

const RESPONSE: &[&str] = &[
    "add-header",
    "allow",
    "capture",
    "del-header",
    "deny",
    "redirect",
    "replace-header",
    "replace-value",
    "return",
    "sc-inc-gpc0",
    "sc-inc-gpc1",
    "sc-set-gpt0",
    "set-header",
    "set-log-level",
    "set-status",
    "set-var",
    "set-var-fmt",
    "silent-drop",
    "strict-mode",
    "track-sc0",
    "track-sc1",
    "track-sc2",
    "unset-var",
    "wait-for-body",
];

const AFTER: &[&str] = &[
    "add-header",
    "allow",
    "capture",
    "del-header",
    "replace-header",
    "replace-value",
    "sc-inc-gpc0",
    "sc-inc-gpc1",
    "sc-set-gpt0",
    "set-header",
    "set-log-level",
    "set-status",
    "set-var",
    "set-var-fmt",
    "strict-mode",
    "unset-var",
];

/// HAProxy 2.6 actions we know and do not implement yet, with the feature bringing them.
const NOT_YET: &[(&str, &str)] = &[
    ("add-acl", "ACL/map updates from rules"),
    ("del-acl", "ACL/map updates from rules"),
    ("set-map", "ACL/map updates from rules"),
    ("del-map", "ACL/map updates from rules"),
    ("cache-use", "the HTTP cache"),
    ("cache-store", "the HTTP cache"),
    ("do-resolve", "DNS resolvers"),
    ("early-hint", "HTTP 103 early hints"),
    ("set-bandwidth-limit", "bandwidth limitation filters"),
    ("set-mark", "TCP socket tuning"),
    ("set-tos", "TCP socket tuning"),
    ("set-nice", "stream priorities"),
    ("set-priority-class", "queue priorities"),
    ("set-priority-offset", "queue priorities"),
    ("set-timeout", "per-stream timeouts"),
    ("disable-l7-retry", "layer 7 retries"),
    ("use-service", "services (use-service)"),
    ("send-spoe-group", "SPOE filters"),
    ("sc-inc-gpc", "stick-table gpc/gpt arrays"),
    ("sc-set-gpt", "stick-table gpc/gpt arrays"),
    ("wait-for-handshake", "TLS 0-RTT"),
];

/// The options of log-format strings in HTTP rule values: HTTP aliases allowed,
/// missing samples print nothing, spaces are literal (as HAProxy's `LOG_OPT_HTTP`).
pub(crate) fn lf_opts() -> ParseOptions {
    ParseOptions {
        http: true,
        mandatory: false,
        merge_spaces: false,
    }
}

/// Parses a log-format argument.
pub(crate) fn log_format(line: &Line, kw: &str, text: &str) -> Result<LogFormat, ConfigError> {
    LogFormat::parse(text, lf_opts())
        .map_err(|e| line.invalid(kw, format!("failed to parse log-format '{text}' : {e}")))
}

fn header_name(line: &Line, kw: &str, text: &str) -> Result<HeaderName, ConfigError> {
    HeaderName::from_bytes(text.as_bytes())
        .map_err(|_| line.bad_value(kw, text, "invalid header name"))
}

fn regex(line: &Line, kw: &str, text: &str) -> Result<Regex, ConfigError> {
    RegexBuilder::new(text)
        .build()
        .map_err(|e| line.invalid(kw, format!("invalid regex '{text}' : {e}")))
}

/// Parses the rule of `line` (`words[1..]`: action, arguments, condition).
pub(crate) fn parse_rule(
    list: List,
    px: &ProxyDraft,
    line: &Line,
) -> Result<HttpRule, ConfigError> {
    let lk = list.keyword();
    let Some(word) = line.arg(1).filter(|w| !w.is_empty()) else {
        let expected = format!("an action ({})", quoted_list(list.actions()));
        return Err(line.missing(lk, &expected));
    };
    let name = word.split('(').next().unwrap_or(word);
    let family = match name {
        n if n.starts_with("track-sc") => "track-sc0",
        n if n.starts_with("sc-inc-gpc0") => "sc-inc-gpc0",
        n if n.starts_with("sc-inc-gpc1") => "sc-inc-gpc1",
        n if n.starts_with("sc-set-gpt0") => "sc-set-gpt0",
        n => n,
    };
    if !list.actions().contains(&family) {
        return Err(misplaced_or_unknown(list, line, word, name, family));
    }
    let kw = format!("{lk} {name}");
    let mut next = 2;
    let fmt_at = |i: usize, what: &str| -> Result<LogFormat, ConfigError> {
        let text = line.required(i, &kw, what)?;
        log_format(line, &kw, text)
    };
    use HttpAction as A;
    let action = match family {
        "allow" => A::Allow,
        "reject" => A::Reject,
        "silent-drop" => A::SilentDrop,
        "xdp-deny" => {
            let (action, used) = crate::rules::parse_xdp_deny(&line.words[2..])
                .map_err(|e| line.invalid(&kw, e.to_string()))?;
            next = 2 + used;
            A::XdpDeny(action)
        }
        "deny" | "tarpit" | "return" => {
            let spec = super::reply::parse_reply(list, line, &kw, family, &mut next)?;
            match family {
                "deny" => A::Deny(Box::new(spec)),
                "tarpit" => A::Tarpit(Box::new(spec)),
                _ => A::Return(Box::new(spec)),
            }
        }
        "redirect" => A::Redirect(Box::new(parse_redirect(line, &kw, 2, &mut next)?)),
        "auth" => {
            let realm = match line.arg(2) {
                Some("realm") => {
                    next = 4;
                    Some(
                        line.required(3, &format!("{kw} realm"), "a realm")?
                            .to_owned(),
                    )
                }
                _ => None,
            };
            A::Auth { realm }
        }
        "set-header" | "add-header" => {
            let h = header_name(
                line,
                &kw,
                line.required(2, &kw, "a header name and a value")?,
            )?;
            let value = fmt_at(3, "a header name and a value")?;
            next = 4;
            if family == "set-header" {
                A::SetHeader { name: h, value }
            } else {
                A::AddHeader { name: h, value }
            }
        }
        "del-header" => {
            let n = line.required(2, &kw, "a header name")?.to_ascii_lowercase();
            next = 3;
            let m = if line.arg(3) == Some("-m") {
                next = 5;
                match line.required(4, &format!("{kw} -m"), "a match method")? {
                    "str" => NameMatch::Exact(n),
                    "beg" => NameMatch::Prefix(n),
                    "end" => NameMatch::Suffix(n),
                    "sub" => NameMatch::Substring(n),
                    "reg" => NameMatch::Regex(
                        RegexBuilder::new(&n)
                            .case_insensitive(true)
                            .build()
                            .map_err(|e| line.invalid(&kw, format!("invalid regex '{n}' : {e}")))?,
                    ),
                    other => {
                        let reason = format!(
                            "only 'str', 'beg', 'end', 'sub' and 'reg' are supported with '-m' (got '{other}')"
                        );
                        return Err(line.invalid(&kw, reason));
                    }
                }
            } else {
                NameMatch::Exact(n)
            };
            A::DelHeader(m)
        }
        "replace-header" | "replace-value" => {
            let expected = "a header name, a regex and a replacement";
            let h = header_name(line, &kw, line.required(2, &kw, expected)?)?;
            let re = regex(line, &kw, line.required(3, &kw, expected)?)?;
            let replace = fmt_at(4, expected)?;
            next = 5;
            A::ReplaceHeader {
                name: h,
                regex: re,
                replace,
                values: family == "replace-value",
            }
        }
        "set-path" | "set-pathq" | "set-query" | "set-uri" => {
            let part = match family {
                "set-path" => UriPart::Path,
                "set-pathq" => UriPart::Pathq,
                "set-query" => UriPart::Query,
                _ => UriPart::Uri,
            };
            let value = fmt_at(2, "a log-format string")?;
            next = 3;
            A::SetUri { part, value }
        }
        "replace-path" | "replace-pathq" | "replace-uri" => {
            let part = match family {
                "replace-path" => UriPart::Path,
                "replace-pathq" => UriPart::Pathq,
                _ => UriPart::Uri,
            };
            let expected = "a regex and a replacement";
            let re = regex(line, &kw, line.required(2, &kw, expected)?)?;
            let replace = fmt_at(3, expected)?;
            next = 4;
            A::ReplaceUri {
                part,
                regex: re,
                replace,
            }
        }
        "set-method" => {
            let value = fmt_at(2, "a log-format string")?;
            next = 3;
            A::SetMethod(value)
        }
        "set-status" => {
            let code = line.required(2, &kw, "a status code")?;
            let status = u16::try_from(line.u32_in(&kw, code, 100, 999)?).unwrap_or(500);
            next = 3;
            let reason = if line.arg(3) == Some("reason") {
                next = 5;
                Some(
                    line.required(4, &format!("{kw} reason"), "a reason phrase")?
                        .to_owned(),
                )
            } else {
                None
            };
            A::SetStatus { status, reason }
        }
        "set-var" => {
            let (var, conds) = var_name(line, &kw, word, "set-var(")?;
            let expr = sample_at(line, &kw, 2, (SampleType::Bin, "a value"))?;
            next = 3;
            A::SetVar { var, conds, expr }
        }
        "set-var-fmt" => {
            let (var, conds) = var_name(line, &kw, word, "set-var-fmt(")?;
            let fmt = fmt_at(2, "a log-format string")?;
            next = 3;
            A::SetVarFmt { var, conds, fmt }
        }
        "unset-var" => A::UnsetVar(var_name(line, &kw, word, "unset-var(")?.0),
        "track-sc0" => {
            let num = &word["track-sc".len()..];
            let sc = match num.parse::<u8>() {
                Ok(n) if n < STICK_COUNTERS => n,
                _ => return Err(line.invalid(&kw, format!("Wrong track-sc number '{num}'"))),
            };
            let key = sample_at(line, &kw, 2, (SampleType::Bin, "a value"))?;
            next = 3;
            let table = if line.arg(3) == Some("table") {
                next = 5;
                line.required(4, &format!("{kw} table"), "a table name")?
                    .to_owned()
            } else {
                px.name.clone()
            };
            A::TrackSc { sc, key, table }
        }
        "sc-inc-gpc0" | "sc-inc-gpc1" => {
            let sc = counter_id(line, &kw, word, family)?;
            let gpc = if family == "sc-inc-gpc0" {
                Gpc::Gpc0
            } else {
                Gpc::Gpc1
            };
            A::IncGpc { gpc, sc }
        }
        "sc-set-gpt0" => {
            let sc = counter_id(line, &kw, word, family)?;
            let text = line.required(2, &kw, "an integer or a sample expression")?;
            let value = match text.parse::<i64>() {
                Ok(n) => GptValue::Int(n),
                Err(_) => GptValue::Expr(sample_at(line, &kw, 2, (SampleType::Int, "an integer"))?),
            };
            next = 3;
            A::SetGpt0 { sc, value }
        }
        "set-log-level" => {
            let l = line.required(2, &kw, "a log level or 'silent'")?;
            let level = match l {
                "silent" => None,
                other => Some(Level::from_name(other).ok_or_else(|| {
                    line.bad_value(
                        &kw,
                        other,
                        "expects a syslog level (emerg..debug) or 'silent'",
                    )
                })?),
            };
            next = 3;
            A::SetLogLevel(level)
        }
        "capture" => {
            let expr = sample_at(line, &kw, 2, (SampleType::Str, "a string"))?;
            let slot = match line.arg(3) {
                Some("len") if list == List::Request => {
                    let len = line.required(4, &format!("{kw} len"), "a length")?;
                    let len = line.u32_in(&format!("{kw} len"), len, 1, 65535)? as usize;
                    if !px.kind.frontend() {
                        return Err(line.invalid(
                            &kw,
                            "'len' is only allowed in frontends and listen sections (use 'id' with 'declare capture' elsewhere)",
                        ));
                    }
                    // A new request slot, declared by the rule itself (see the
                    // parser, which reserves it when adding the rule).
                    CaptureSlot {
                        slot: usize::MAX,
                        len,
                    }
                }
                Some("id") => {
                    let id = line.required(4, &format!("{kw} id"), "a capture slot id")?;
                    let slot = line.u32_in(&format!("{kw} id"), id, 0, 65535)? as usize;
                    let slots = if list == List::Request {
                        &px.http_rules.captures.req_slots
                    } else {
                        &px.http_rules.captures.res_slots
                    };
                    let Some(&len) = slots.get(slot) else {
                        let reason = format!(
                            "no capture slot {slot} declared (see 'declare capture' and 'capture {} header')",
                            if list == List::Request {
                                "request"
                            } else {
                                "response"
                            }
                        );
                        return Err(line.invalid(&kw, reason));
                    };
                    CaptureSlot { slot, len }
                }
                _ => {
                    let expected = if list == List::Request {
                        "'len <length>' or 'id <id>' after the expression"
                    } else {
                        "'id <id>' after the expression"
                    };
                    return Err(line.missing(&kw, expected));
                }
            };
            next = 5;
            A::Capture { expr, slot }
        }
        "wait-for-body" => {
            if line.arg(2) != Some("time") {
                return Err(line.missing(&kw, "'time <time>'"));
            }
            let time = line.time(&kw, line.required(3, &format!("{kw} time"), "a time")?)?;
            next = 4;
            let at_least = if line.arg(4) == Some("at-least") {
                next = 6;
                Some(line.size(&kw, line.required(5, &format!("{kw} at-least"), "a size")?)?)
            } else {
                None
            };
            A::WaitForBody { time, at_least }
        }
        "normalize-uri" => {
            let n = line.required(2, &kw, "a normalizer")?;
            let opt = line.arg(3).filter(|w| *w != "if" && *w != "unless");
            next = if opt.is_some() { 4 } else { 3 };
            A::NormalizeUri(Normalizer::parse(n, opt).map_err(|r| line.invalid(&kw, r))?)
        }
        "set-src" | "set-dst" | "set-src-port" | "set-dst-port" => {
            let port = family.ends_with("-port");
            let want = if port {
                (SampleType::Int, "a port")
            } else {
                (SampleType::Addr, "an address")
            };
            let expr = sample_at(line, &kw, 2, want)?;
            next = 3;
            A::SetAddr {
                dst: family.starts_with("set-dst"),
                port,
                expr,
            }
        }
        _ => return Err(misplaced_or_unknown(list, line, word, name, family)),
    };
    let cond = condition(list.condition(name), px, line, &kw, next)?;
    Ok(HttpRule {
        action,
        cond,
        location: line.loc.clone(),
    })
}

fn sample_at(
    line: &Line,
    kw: &str,
    i: usize,
    want: (SampleType, &str),
) -> Result<crate::sample::SampleExpr, ConfigError> {
    expression(line, kw, i, want)
}

/// `location|prefix|scheme VALUE [code N] [options]` starting at word `i`.
fn parse_redirect(
    line: &Line,
    kw: &str,
    i: usize,
    next: &mut usize,
) -> Result<Redirect, ConfigError> {
    let expected = "'location', 'prefix' or 'scheme' followed by a value";
    let kind = match line.required(i, kw, expected)? {
        "location" => RedirectKind::Location,
        "prefix" => RedirectKind::Prefix,
        "scheme" => RedirectKind::Scheme,
        other => {
            let reason = format!(
                "expects 'code', 'prefix', 'location', 'scheme', 'set-cookie', 'clear-cookie', 'drop-query' or 'append-slash' (got '{other}')"
            );
            return Err(line.invalid(kw, reason));
        }
    };
    let value = log_format(line, kw, line.required(i + 1, kw, expected)?)?;
    let mut r = Redirect {
        kind,
        value,
        code: 302,
        drop_query: false,
        append_slash: false,
        cookie: None,
    };
    let mut j = i + 2;
    while let Some(w) = line.arg(j) {
        match w {
            "if" | "unless" => break,
            "code" => {
                let c = line.required(j + 1, &format!("{kw} code"), "a redirect code")?;
                let code =
                    c.parse::<u16>()
                        .ok()
                        .filter(|c| CODES.contains(c))
                        .ok_or_else(|| {
                            line.invalid(
                        kw,
                        format!("unsupported HTTP code '{c}' (expects 301, 302, 303, 307 or 308)"),
                    )
                        })?;
                r.code = code;
                j += 2;
            }
            "drop-query" => {
                r.drop_query = true;
                j += 1;
            }
            "append-slash" => {
                r.append_slash = true;
                j += 1;
            }
            "set-cookie" | "clear-cookie" => {
                let c = line.required(j + 1, &format!("{kw} {w}"), "a cookie name")?;
                r.cookie = Some(Redirect::cookie_header(c, w == "clear-cookie"));
                j += 2;
            }
            other => {
                let reason = format!(
                    "expects 'code', 'prefix', 'location', 'scheme', 'set-cookie', 'clear-cookie', 'drop-query' or 'append-slash' (got '{other}')"
                );
                return Err(line.invalid(kw, reason));
            }
        }
    }
    *next = j;
    Ok(r)
}

/// The standalone `redirect ...` line.
pub(crate) fn parse_redirect_line(px: &ProxyDraft, line: &Line) -> Result<HttpRule, ConfigError> {
    let mut next = 1;
    let r = parse_redirect(line, "redirect", 1, &mut next)?;
    let cond = condition(
        "an 'http-request redirect' condition",
        px,
        line,
        "redirect",
        next,
    )?;
    Ok(HttpRule {
        action: HttpAction::Redirect(Box::new(r)),
        cond,
        location: line.loc.clone(),
    })
}

/// The error for an action this list does not take.
fn misplaced_or_unknown(
    list: List,
    line: &Line,
    word: &str,
    name: &str,
    family: &str,
) -> ConfigError {
    let lk = list.keyword();
    if let Some((_, feature)) = NOT_YET.iter().find(|(n, _)| *n == name) {
        return line.unsupported(format!("{lk} {name}"), feature);
    }
    if name.starts_with("lua.") {
        return line.unsupported(format!("{lk} {name}"), "Lua scripting");
    }
    let homes: Vec<&str> = [List::Request, List::Response, List::AfterResponse]
        .iter()
        .filter(|l| l.actions().contains(&family))
        .map(|l| l.keyword())
        .collect();
    if !homes.is_empty() {
        let reason = format!(
            "this action is only allowed in {} rules",
            quoted_list(&homes)
        );
        return line.invalid(&format!("{lk} {name}"), reason);
    }
    let reason = format!("expects {} (got '{word}')", quoted_list(list.actions()));
    line.invalid(lk, reason)
        .with_suggestion(did_you_mean(name, list.actions().iter().copied()))
}

/// The optional `if|unless <condition>` starting at word `i`.
pub(crate) fn condition(
    rule: &'static str,
    px: &ProxyDraft,
    line: &Line,
    kw: &str,
    i: usize,
) -> Result<Option<Condition>, ConfigError> {
    match line.arg(i) {
        None => Ok(None),
        Some("if" | "unless") => Condition::parse(&line.words[i..], &px.acls)
            .map(Some)
            .map_err(|source| line.err(ErrorKind::Condition { rule, source })),
        Some(other) => Err(line.invalid(
            kw,
            format!(
                "unexpected keyword '{other}', expects 'if' or 'unless' followed by a condition"
            ),
        )),
    }
}
