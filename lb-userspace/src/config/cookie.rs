//! Cookie persistence keywords: `cookie`, `dynamic-cookie-key`, `option persist`,
//! `force-persist`, `ignore-persist` (backends) and `capture cookie` (frontends), with
//! the typed settings the runtime ([`crate::http::cookie`]) reads.
//!
//! The checks and messages follow HAProxy 2.6 (`cfgparse-listen.c`): a later `cookie` line
//! replaces an earlier one (the `defaults` one included), `rewrite`/`insert`/`prefix` are
//! mutually exclusive, `rewrite` excludes `indirect`, `preserve` needs `insert` or
//! `indirect`.

use std::time::Duration;

use super::draft::{ProxyDraft, ProxyKind};
use super::error::{ConfigError, ErrorKind};
use super::line::Line;
use super::model::Location;
use super::proxy::{Cap, require};
use super::units::{TimeUnit, parse_time};
use crate::acl::Condition;

/// How the persistence cookie is handled (`cookie NAME [rewrite|insert|prefix]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CookieMode {
    /// No mode keyword: the server's cookie is only read from requests, never modified.
    #[default]
    Passive,
    /// `rewrite`: the server sets the cookie, its value is replaced by the server's id.
    Rewrite,
    /// `insert`: the proxy adds `Set-Cookie: NAME=SRVID` itself.
    Insert,
    /// `prefix`: the server's own cookie is prefixed with `SRVID~` in responses and the
    /// prefix is stripped from requests.
    Prefix,
}

/// One `cookie NAME ...` line of a backend.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CookieCfg {
    /// The cookie name.
    pub name: String,
    /// `rewrite` / `insert` / `prefix` (or passive).
    pub mode: CookieMode,
    /// `indirect`: no cookie is sent to a client that already has a valid one, and in
    /// insert mode the cookie is removed from requests before they reach the server.
    pub indirect: bool,
    /// `nocache`: a cacheable response that gets a cookie is marked `Cache-control:
    /// private`.
    pub nocache: bool,
    /// `postonly`: insert cookies only in responses to POST requests.
    pub postonly: bool,
    /// `preserve`: leave a persistence cookie emitted by the server untouched.
    pub preserve: bool,
    /// `httponly`: add `HttpOnly` to inserted cookies.
    pub httponly: bool,
    /// `secure`: add `Secure` to inserted cookies.
    pub secure: bool,
    /// `domain D` (repeatable): one `domain=` attribute each on inserted cookies.
    pub domains: Vec<String>,
    /// `maxidle T`: seconds after which an inserted cookie's last-seen date expires it.
    pub maxidle: u32,
    /// `maxlife T`: seconds after which an inserted cookie's first-seen date expires it.
    pub maxlife: u32,
    /// `dynamic`: servers without `cookie` get one derived from `dynamic-cookie-key`,
    /// their address and port.
    pub dynamic: bool,
    /// `attr V` (repeatable): extra attributes of inserted cookies.
    pub attrs: Vec<String>,
}

/// `force-persist` or `ignore-persist`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PersistRuleKind {
    /// `force-persist`: honour the cookie even if its server is down.
    Force,
    /// `ignore-persist`: ignore the cookie (and insert none).
    Ignore,
}

/// One `force-persist|ignore-persist if|unless COND` rule.
#[derive(Debug, Clone)]
pub struct PersistRule {
    /// Which rule.
    pub kind: PersistRuleKind,
    /// Its condition.
    pub cond: Condition,
    /// Where it is.
    pub location: Location,
}

/// Everything about cookie persistence in a backend.
#[derive(Debug, Clone, Default)]
pub struct PersistCfg {
    /// `cookie ...`, if any.
    pub cookie: Option<CookieCfg>,
    /// `dynamic-cookie-key`.
    pub dynamic_cookie_key: Option<String>,
    /// `option persist`: a cookie naming a DOWN server still goes to it.
    pub option_persist: bool,
    /// `force-persist` / `ignore-persist` rules in order; the first match decides.
    pub rules: Vec<PersistRule>,
}

/// `capture cookie NAME len N` of a frontend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaptureCookie {
    /// The beginning of the cookie name (append `=` to match exactly).
    pub name: String,
    /// Most characters kept of `name=value`.
    pub len: usize,
}

/// Largest capture, as HAProxy's `tune.http.cookielen` default (63).
pub const MAX_CAPTURE_COOKIE_LEN: usize = 63;

const OPTIONS_MSG: &str = "supports 'rewrite', 'insert', 'prefix', 'indirect', 'nocache', \
                           'postonly', 'domain', 'maxidle', 'dynamic', 'maxlife' and 'attr' \
                           options";

/// Parses `cookie NAME [options...]`.
pub(crate) fn parse_cookie(px: &mut ProxyDraft, line: &Line) -> Result<(), ConfigError> {
    require(px, line, "cookie", Cap::Backend)?;
    let name = line.required(1, "cookie", "<cookie_name> as argument")?;
    let mut cfg = CookieCfg {
        name: name.to_owned(),
        ..CookieCfg::default()
    };
    let mut modes = Vec::new();
    let mut i = 2;
    while let Some(opt) = line.arg(i) {
        match opt {
            "rewrite" => modes.push(CookieMode::Rewrite),
            "insert" => modes.push(CookieMode::Insert),
            "prefix" => modes.push(CookieMode::Prefix),
            "indirect" => cfg.indirect = true,
            "nocache" => cfg.nocache = true,
            "postonly" => cfg.postonly = true,
            "preserve" => cfg.preserve = true,
            "httponly" => cfg.httponly = true,
            "secure" => cfg.secure = true,
            "dynamic" => cfg.dynamic = true,
            "domain" => {
                let d = line.required(i + 1, "domain", "<domain> as argument")?;
                if let Some(c) = d.chars().find(|c| !valid_domain_char(*c)) {
                    return Err(line.invalid(
                        "cookie",
                        format!("character '{c}' is not permitted in domain name '{d}'"),
                    ));
                }
                cfg.domains.push(d.to_owned());
                i += 1;
            }
            "maxidle" | "maxlife" => {
                let what = if opt == "maxidle" {
                    "<idletime>"
                } else {
                    "<lifetime>"
                };
                let v = line.required(i + 1, opt, &format!("{what} in seconds as argument"))?;
                let secs = parse_seconds(line, opt, v)?;
                *if opt == "maxidle" {
                    &mut cfg.maxidle
                } else {
                    &mut cfg.maxlife
                } = secs;
                i += 1;
            }
            "attr" => {
                let v = line.required(i + 1, "attr", "<value> as argument")?;
                if let Some(c) = v.bytes().find(|c| c.is_ascii_control() || *c == b';') {
                    return Err(line.invalid(
                        "cookie",
                        format!("character '%x{c:02X}' is not permitted in attribute value"),
                    ));
                }
                cfg.attrs.push(v.to_owned());
                i += 1;
            }
            _ => return Err(line.invalid("cookie", OPTIONS_MSG)),
        }
        i += 1;
    }
    modes.dedup();
    if modes.len() > 1 {
        return Err(line.invalid(
            "cookie",
            "'rewrite', 'insert' and 'prefix' modes are incompatible",
        ));
    }
    cfg.mode = modes.first().copied().unwrap_or_default();
    if cfg.mode == CookieMode::Rewrite && cfg.indirect {
        return Err(line.invalid("cookie", "'rewrite' and 'indirect' modes are incompatible"));
    }
    if cfg.preserve && cfg.mode != CookieMode::Insert && !cfg.indirect {
        return Err(line.invalid(
            "cookie",
            "'preserve' requires at least 'insert' or 'indirect'",
        ));
    }
    px.persist.cookie = Some(cfg);
    Ok(())
}

/// HAProxy's `invalid_domainchar`: letters, digits, `-`, `_` and `.` only.
fn valid_domain_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')
}

fn parse_seconds(line: &Line, keyword: &str, value: &str) -> Result<u32, ConfigError> {
    let d: Duration = parse_time(value, TimeUnit::Seconds).map_err(|source| {
        line.err(ErrorKind::Unit {
            keyword: keyword.into(),
            value: value.into(),
            source,
        })
    })?;
    u32::try_from(d.as_secs())
        .ok()
        .filter(|&s| i32::try_from(s).is_ok())
        .ok_or_else(|| {
            line.invalid(
                keyword,
                format!(
                    "timer overflow in argument <{value}> to <{keyword}>, maximum value is \
                     2147483647 s (~68 years)"
                ),
            )
        })
}

/// Parses `dynamic-cookie-key KEY`.
pub(crate) fn parse_dynamic_cookie_key(
    px: &mut ProxyDraft,
    line: &Line,
) -> Result<(), ConfigError> {
    require(px, line, "dynamic-cookie-key", Cap::Backend)?;
    let key = line.required(1, "dynamic-cookie-key", "<secret_key> as argument")?;
    line.max_args(1, "dynamic-cookie-key")?;
    px.persist.dynamic_cookie_key = Some(key.to_owned());
    Ok(())
}

/// Parses `force-persist|ignore-persist if|unless COND`.
pub(crate) fn parse_persist_rule(px: &mut ProxyDraft, line: &Line) -> Result<(), ConfigError> {
    let kw = line.kw().to_owned();
    if px.kind == ProxyKind::Defaults {
        let kind = ErrorKind::NotAllowed {
            keyword: kw,
            section: "defaults".into(),
        };
        return Err(line.err(kind));
    }
    require(px, line, &kw, Cap::Backend)?;
    let kind = if kw == "force-persist" {
        PersistRuleKind::Force
    } else {
        PersistRuleKind::Ignore
    };
    if !matches!(line.arg(1), Some("if" | "unless")) {
        return Err(line.invalid(
            &kw,
            "requires either 'if' or 'unless' followed by a condition",
        ));
    }
    let cond = Condition::parse(&line.words[1..], &px.acls).map_err(|source| {
        line.err(ErrorKind::Condition {
            rule: "persist rule",
            source,
        })
    })?;
    px.persist.rules.push(PersistRule {
        kind,
        cond,
        location: line.loc.clone(),
    });
    Ok(())
}

/// Parses `capture cookie NAME len N` (frontends and listen sections only).
pub(crate) fn parse_capture_cookie(
    px: &mut ProxyDraft,
    line: &Line,
) -> Result<CaptureCookie, ConfigError> {
    if px.kind == ProxyKind::Defaults {
        let kind = ErrorKind::NotAllowed {
            keyword: "capture cookie".into(),
            section: "defaults".into(),
        };
        return Err(line.err(kind));
    }
    require(px, line, "capture cookie", Cap::Frontend)?;
    let expected = "'cookie' <cookie_name> 'len' <len>";
    let name = line.required(2, "capture", expected)?;
    if line.arg(3) != Some("len") {
        return Err(line.missing("capture", expected));
    }
    let len = line.required(4, "capture", expected)?;
    line.max_args(4, "capture cookie")?;
    let len = line.u32_in("capture cookie", len, 1, i32::MAX.unsigned_abs())?;
    let len = usize::try_from(len)
        .unwrap_or(MAX_CAPTURE_COOKIE_LEN)
        .min(MAX_CAPTURE_COOKIE_LEN);
    Ok(CaptureCookie {
        name: name.to_owned(),
        len,
    })
}

/// Gives servers without a `cookie` their dynamic value when the backend has `cookie ...
/// dynamic` and a `dynamic-cookie-key` (HAProxy does nothing without a key).
pub(crate) fn apply_dynamic(servers: &mut [super::model::Server], persist: &PersistCfg) {
    let (Some(ck), Some(key)) = (persist.cookie.as_ref(), persist.dynamic_cookie_key.as_ref())
    else {
        return;
    };
    if !ck.dynamic {
        return;
    }
    for s in servers.iter_mut().filter(|s| s.cookie.is_none()) {
        let port = match s.port {
            super::model::ServerPort::Fixed(p) => p,
            _ => 0,
        };
        s.cookie = Some(crate::http::cookie::dynamic_cookie(key, s.addr, port));
    }
}

#[cfg(test)]
#[path = "cookie_tests.rs"]
mod tests;
