//! HTTP-mode proxy keywords: `option forwardfor`, the connection modes, `http-reuse`,
//! `retry-on`, `monitor-uri`, `monitor fail`, `errorfile`, `errorfiles`; and the load-time
//! checks HAProxy runs on HTTP settings (mode mismatches, `proto h2` outside HTTP mode).

use std::net::IpAddr;
use std::sync::Arc;

use super::draft::ProxyDraft;
use super::error::{ConfigError, ErrorKind};
use super::line::{Line, Modifier};
use super::model::{Location, Mode};
use super::proxy::{Cap, require};
use crate::acl::Condition;
use crate::http::errors::{ErrorMessage, HANDLED_CODES, parse_message};

/// HTTP settings of one proxy (a frontend or a backend; a `listen` has both halves).
#[derive(Debug, Clone)]
pub struct HttpProxy {
    /// `option forwardfor`.
    pub forwardfor: Option<ForwardFor>,
    /// `option httpclose` / `http-server-close` / `http-keep-alive`; `None` if not set.
    pub conn_mode: Option<ConnMode>,
    /// `option http-buffer-request`: wait for the whole body (up to the buffer size)
    /// before choosing a server.
    pub buffer_request: bool,
    /// `option checkcache` (backends): block cacheable responses with a `Set-Cookie`.
    pub checkcache: bool,
    /// `http-send-name-header NAME` (backends): the server's name in this request header.
    pub send_name_header: Option<http::HeaderName>,
    /// `http-reuse` (backends).
    pub reuse: HttpReuse,
    /// `retry-on` (backends).
    pub retry_on: RetryOn,
    /// `monitor-uri` (frontends).
    pub monitor_uri: Option<String>,
    /// `monitor fail if|unless COND` (frontends).
    pub monitor_fail: Option<Condition>,
    /// `errorfile` / `errorfiles` pages, by status code.
    pub errorfiles: Vec<(u16, Arc<ErrorMessage>)>,
    /// `errorfiles NAME [CODE...]` lines, resolved against `http-errors` sections by the
    /// finalizer.
    pub errorfiles_refs: Vec<(String, Vec<u16>, Location)>,
    /// Every `http-errors` section of the configuration (for rules naming one).
    pub sections: Arc<Vec<HttpErrors>>,
}

impl Default for HttpProxy {
    fn default() -> Self {
        Self {
            forwardfor: None,
            conn_mode: None,
            buffer_request: false,
            checkcache: false,
            send_name_header: None,
            reuse: HttpReuse::Safe,
            retry_on: RetryOn::CONN_FAILURE,
            monitor_uri: None,
            monitor_fail: None,
            errorfiles: Vec::new(),
            errorfiles_refs: Vec::new(),
            sections: Arc::new(Vec::new()),
        }
    }
}

impl HttpProxy {
    /// The page for `status` of the `http-errors NAME` section, if it has one.
    pub fn section_page(&self, name: &str, status: u16) -> Option<Arc<ErrorMessage>> {
        let section = self.sections.iter().find(|s| s.name == name)?;
        section
            .pages
            .iter()
            .rev()
            .find(|(c, _)| *c == status)
            .map(|(_, m)| Arc::clone(m))
    }

    /// The configured page for `status`, if any.
    pub fn errorfile(&self, status: u16) -> Option<&Arc<ErrorMessage>> {
        self.errorfiles
            .iter()
            .rev()
            .find(|(c, _)| *c == status)
            .map(|(_, m)| m)
    }
}

/// `option forwardfor [except NET] [header NAME] [if-none]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForwardFor {
    /// Clients in this network get no header.
    pub except: Option<Network>,
    /// Header name (default `X-Forwarded-For`), lowercase.
    pub header: http::HeaderName,
    /// Only add the header when the request has none.
    pub if_none: bool,
}

/// An address with a prefix length (`10.0.0.0/8`, `::1`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Network {
    addr: IpAddr,
    prefix: u8,
}

impl Network {
    /// Parses `ADDR[/LEN]` (IPv4 masks in dotted form are accepted too).
    pub fn parse(text: &str) -> Option<Self> {
        let (a, len) = match text.split_once('/') {
            Some((a, l)) => (a, Some(l)),
            None => (text, None),
        };
        let addr: IpAddr = a.parse().ok()?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match len {
            None => max,
            Some(l) => match l.parse::<u8>() {
                Ok(n) if n <= max => n,
                Ok(_) => return None,
                Err(_) => {
                    let mask: std::net::Ipv4Addr = l.parse().ok()?;
                    let bits = u32::from(mask);
                    if addr.is_ipv6() || bits.leading_ones() + bits.trailing_zeros() != 32 {
                        return None;
                    }
                    u8::try_from(bits.leading_ones()).ok()?
                }
            },
        };
        Some(Self { addr, prefix })
    }

    /// Whether `ip` is in the network (IPv4-mapped IPv6 addresses count as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        match (self.addr, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(n) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(n) & mask == u128::from(a) & mask
            }
            _ => false,
        }
    }
}

/// How connections are kept open around a transaction, from the least to the most
/// restrictive (a frontend and a backend setting combine to the most restrictive).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub enum ConnMode {
    /// `option http-keep-alive` (the default): both sides stay open.
    #[default]
    KeepAlive,
    /// `option http-server-close`: the server side is closed after each response.
    ServerClose,
    /// `option httpclose`: both sides are closed after each response.
    Close,
}

/// `http-reuse`: which idle server connections a request may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HttpReuse {
    /// Never share a server connection between client connections.
    Never,
    /// The first request of a client connection gets its own server connection; later
    /// requests may use any idle one (HAProxy's default).
    #[default]
    Safe,
    /// Like `safe`, but the first request may also reuse a connection that has already
    /// been reused (proved to survive keep-alive).
    Aggressive,
    /// Every request may reuse any idle connection.
    Always,
}

/// `retry-on` conditions, as a bit set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryOn(u32);

impl RetryOn {
    /// No retry at all (`none`).
    pub const NONE: Self = Self(0);
    /// The connection to the server failed.
    pub const CONN_FAILURE: Self = Self(1);
    /// The server closed without sending anything.
    pub const EMPTY_RESPONSE: Self = Self(1 << 1);
    /// The server sent something that is not a response.
    pub const JUNK_RESPONSE: Self = Self(1 << 2);
    /// `timeout server` struck before the response.
    pub const RESPONSE_TIMEOUT: Self = Self(1 << 3);
    /// Early data were rejected (TLS; kept for configuration compatibility).
    pub const ZERO_RTT_REJECTED: Self = Self(1 << 4);

    const STATUSES: [u16; 9] = [404, 408, 425, 500, 501, 502, 503, 504, 0];

    fn status_bit(status: u16) -> Option<Self> {
        Self::STATUSES
            .iter()
            .position(|&s| s == status && s != 0)
            .map(|i| Self(1 << (8 + i)))
    }

    /// Whether `other` is in the set.
    pub fn has(self, other: Self) -> bool {
        self.0 & other.0 == other.0 && other.0 != 0
    }

    /// Whether a response with `status` is to be retried.
    pub fn has_status(self, status: u16) -> bool {
        Self::status_bit(status).is_some_and(|b| self.has(b))
    }

    /// Whether nothing is retried.
    pub fn is_none(self) -> bool {
        self.0 == 0
    }

    fn keyword(word: &str) -> Option<Self> {
        Some(match word {
            "conn-failure" => Self::CONN_FAILURE,
            "empty-response" => Self::EMPTY_RESPONSE,
            "junk-response" => Self::JUNK_RESPONSE,
            "response-timeout" => Self::RESPONSE_TIMEOUT,
            "0rtt-rejected" => Self::ZERO_RTT_REJECTED,
            "all-retryable-errors" => {
                let mut all = Self(
                    Self::CONN_FAILURE.0
                        | Self::EMPTY_RESPONSE.0
                        | Self::JUNK_RESPONSE.0
                        | Self::RESPONSE_TIMEOUT.0
                        | Self::ZERO_RTT_REJECTED.0,
                );
                for s in [500, 502, 503, 504] {
                    all.0 |= Self::status_bit(s).map_or(0, |b| b.0);
                }
                all
            }
            _ => return Self::status_bit(word.parse().ok()?),
        })
    }
}

/// `option forwardfor|http-server-close|httpclose|http-keep-alive|http-buffer-request`.
/// Returns `None` when `name` is not one of them.
pub(crate) fn parse_option(
    px: &mut ProxyDraft,
    line: &Line,
    name: &str,
) -> Option<Result<(), ConfigError>> {
    let keyword = format!("option {name}");
    let r = match name {
        "forwardfor" => forwardfor(px, line),
        "http-server-close" | "httpclose" | "http-keep-alive" => {
            line.max_args(1, &keyword).map(|()| {
                let mode = match name {
                    "http-server-close" => ConnMode::ServerClose,
                    "httpclose" => ConnMode::Close,
                    _ => ConnMode::KeepAlive,
                };
                // `no option X` cancels X only if X is the current mode.
                match line.modifier {
                    Modifier::None => px.http.conn_mode = Some(mode),
                    _ if px.http.conn_mode == Some(mode) => px.http.conn_mode = None,
                    _ => {}
                }
            })
        }
        "http-buffer-request" => line.max_args(1, &keyword).map(|()| {
            px.http.buffer_request = line.modifier == Modifier::None;
        }),
        "checkcache" => require(px, line, &keyword, Cap::Backend)
            .and_then(|()| line.max_args(1, &keyword))
            .map(|()| px.http.checkcache = line.modifier == Modifier::None),
        _ => return None,
    };
    Some(r)
}

fn forwardfor(px: &mut ProxyDraft, line: &Line) -> Result<(), ConfigError> {
    if line.modifier != Modifier::None {
        return Err(line.invalid(
            "option",
            "negation/default is not supported for option 'forwardfor'",
        ));
    }
    let mut ff = ForwardFor {
        except: None,
        header: http::HeaderName::from_static("x-forwarded-for"),
        if_none: false,
    };
    let mut i = 2;
    while let Some(word) = line.arg(i) {
        match word {
            "except" => {
                let net = line.arg(i + 1).and_then(Network::parse).ok_or_else(|| {
                    line.err(ErrorKind::Consistency(
                        "'option forwardfor except' expects <address>[/mask] as argument.".into(),
                    ))
                })?;
                ff.except = Some(net);
                i += 2;
            }
            "header" => {
                let name = line
                    .arg(i + 1)
                    .and_then(|n| http::HeaderName::from_bytes(n.as_bytes()).ok())
                    .ok_or_else(|| {
                        line.err(ErrorKind::Consistency(
                            "'option forwardfor header' requires a header name.".into(),
                        ))
                    })?;
                ff.header = name;
                i += 2;
            }
            "if-none" => {
                ff.if_none = true;
                i += 1;
            }
            _ => {
                return Err(line.err(ErrorKind::Consistency(
                    "'option forwardfor' only supports optional values: 'except', 'header' and 'if-none'."
                        .into(),
                )));
            }
        }
    }
    px.http.forwardfor = Some(ff);
    Ok(())
}

/// Proxy keywords of HTTP mode. Returns `None` when `kw` is not one of them.
pub(crate) fn parse_keyword(px: &mut ProxyDraft, line: &Line) -> Option<Result<(), ConfigError>> {
    let r = match line.kw() {
        "http-reuse" => http_reuse(px, line),
        "retry-on" => retry_on(px, line),
        "monitor-uri" => monitor_uri(px, line),
        "monitor" => monitor(px, line),
        "errorfile" => errorfile(px, line),
        "errorfiles" => errorfiles(px, line),
        "errorloc" | "errorloc302" | "errorloc303" => super::http_extra::errorloc(px, line),
        "http-send-name-header" => super::http_extra::send_name_header(px, line),
        _ => return None,
    };
    Some(r)
}

fn http_reuse(px: &mut ProxyDraft, line: &Line) -> Result<(), ConfigError> {
    require(px, line, "http-reuse", Cap::Backend)?;
    let mode = match line.arg(1) {
        Some("never") => HttpReuse::Never,
        Some("safe") => HttpReuse::Safe,
        Some("aggressive") => HttpReuse::Aggressive,
        Some("always") => HttpReuse::Always,
        _ => {
            return Err(line.err(ErrorKind::Consistency(
                "'http-reuse' only supports 'never', 'safe', 'aggressive', 'always'.".into(),
            )));
        }
    };
    line.max_args(1, "http-reuse")?;
    px.http.reuse = mode;
    Ok(())
}

fn retry_on(px: &mut ProxyDraft, line: &Line) -> Result<(), ConfigError> {
    require(px, line, "retry-on", Cap::Backend)?;
    if line.arg(1).is_none() {
        return Err(line.err(ErrorKind::Consistency(
            "'retry-on' needs at least one keyword.".into(),
        )));
    }
    let mut set = RetryOn::NONE;
    for (i, word) in line.words.iter().enumerate().skip(1) {
        if word == "none" {
            if line.words.len() != 2 {
                return Err(line.err(ErrorKind::Consistency(
                    "'retry-on' 'none' keyworld only usable alone".into(),
                )));
            }
            continue;
        }
        let bit = RetryOn::keyword(word).ok_or_else(|| {
            line.err(ErrorKind::Consistency(format!(
                "'retry-on': unknown keyword '{}'",
                line.words[i]
            )))
        })?;
        set.0 |= bit.0;
    }
    px.http.retry_on = set;
    Ok(())
}

fn monitor_uri(px: &mut ProxyDraft, line: &Line) -> Result<(), ConfigError> {
    let uri = line.required(1, "monitor-uri", "a URI")?;
    line.max_args(1, "monitor-uri")?;
    if !px.kind.frontend() {
        // HAProxy ignores it with a warning; a backend never sees monitor requests.
        return Ok(());
    }
    px.http.monitor_uri = Some(uri.to_owned());
    Ok(())
}

fn monitor(px: &mut ProxyDraft, line: &Line) -> Result<(), ConfigError> {
    require(px, line, "monitor", Cap::Frontend)?;
    if line.arg(1) != Some("fail") || !matches!(line.arg(2), Some("if" | "unless")) {
        return Err(line.err(ErrorKind::Consistency(
            "'monitor' expects 'fail' and a condition ('if' or 'unless').".into(),
        )));
    }
    let cond = Condition::parse(&line.words[2..], &px.acls).map_err(|source| {
        line.err(ErrorKind::Condition {
            rule: "monitor fail condition",
            source,
        })
    })?;
    px.http.monitor_fail = Some(cond);
    Ok(())
}

fn errorfile(px: &mut ProxyDraft, line: &Line) -> Result<(), ConfigError> {
    let consistency = |m: String| line.err(ErrorKind::Consistency(m));
    let (Some(code), Some(path)) = (line.arg(1), line.arg(2)) else {
        return Err(consistency(
            "errorfile : <code> and <file> expected.".into(),
        ));
    };
    line.max_args(2, "errorfile")?;
    let status = code
        .parse::<u16>()
        .ok()
        .filter(|c| HANDLED_CODES.contains(c))
        .ok_or_else(|| consistency(format!("errorfile : status code '{code}' not handled.")))?;
    let raw = std::fs::read(path)
        .map_err(|_| consistency(format!("errorfile : error opening file '{path}'.")))?;
    let message = parse_message(&raw).map_err(|e| {
        consistency(format!(
            "errorfile : unable to convert message in HTX for HTTP return code {status} ({e})."
        ))
    })?;
    px.http.errorfiles.push((status, Arc::new(message)));
    Ok(())
}

fn errorfiles(px: &mut ProxyDraft, line: &Line) -> Result<(), ConfigError> {
    let name = line.required(1, "errorfiles", "<name> as argument")?;
    let mut codes = Vec::new();
    for code in &line.words[2..] {
        let c = code
            .parse::<u16>()
            .ok()
            .filter(|c| HANDLED_CODES.contains(c));
        match c {
            Some(c) => codes.push(c),
            None => {
                return Err(line.err(ErrorKind::Consistency(format!(
                    "errorfiles : status code '{code}' not handled."
                ))));
            }
        }
    }
    px.http
        .errorfiles_refs
        .push((name.to_owned(), codes, line.loc.clone()));
    Ok(())
}

/// One `http-errors NAME` section: `errorfile CODE FILE` lines.
#[derive(Debug, Clone, Default)]
pub struct HttpErrors {
    /// Section name.
    pub name: String,
    /// Pages by status code.
    pub pages: Vec<(u16, Arc<ErrorMessage>)>,
}

/// Parses one line of an `http-errors` section.
pub(crate) fn http_errors_line(section: &mut HttpErrors, line: &Line) -> Result<(), ConfigError> {
    if line.kw() != "errorfile" {
        return Err(line.err(ErrorKind::UnknownKeyword {
            keyword: line.kw().into(),
            section: "http-errors".into(),
        }));
    }
    let mut scratch = ProxyDraft::new(super::draft::ProxyKind::Backend, "", line.loc.clone());
    errorfile(&mut scratch, line)?;
    section.pages.extend(scratch.http.errorfiles);
    Ok(())
}

/// Resolves `errorfiles` references against the `http-errors` sections: codes named on
/// the line (all of the section's when none) are added unless `errorfile` already set them.
pub(crate) fn resolve_errorfiles(
    http: &mut HttpProxy,
    sections: &[HttpErrors],
) -> Result<(), ConfigError> {
    for (name, codes, loc) in std::mem::take(&mut http.errorfiles_refs) {
        let Some(section) = sections.iter().find(|s| s.name == name) else {
            return Err(ConfigError::new(
                loc,
                ErrorKind::Consistency(format!("unknown http-errors section '{name}'")),
            ));
        };
        for (code, page) in &section.pages {
            let wanted = codes.is_empty() || codes.contains(code);
            let own = http.errorfiles.iter().any(|(c, _)| c == code);
            if wanted && !own {
                http.errorfiles.insert(0, (*code, Arc::clone(page)));
            }
        }
    }
    Ok(())
}

/// The configuration-wide HTTP checks, run once every section is parsed: `errorfiles`
/// references, HTTP frontends using TCP backends (an error; the reverse is allowed, the
/// stream is upgraded), `proto h2` outside HTTP mode, and HAProxy's warnings about HTTP
/// settings of TCP proxies.
pub(crate) fn finish(
    config: &mut super::model::Config,
    sections: &[HttpErrors],
    errors: &mut super::error::ConfigErrors,
) {
    let http_parts = config
        .frontends
        .iter_mut()
        .map(|f| &mut f.http)
        .chain(config.backends.iter_mut().map(|b| &mut b.http));
    let all = Arc::new(sections.to_vec());
    for http in http_parts {
        if let Err(e) = resolve_errorfiles(http, sections) {
            errors.push(e);
        }
        if !all.is_empty() {
            http.sections = Arc::clone(&all);
        }
    }
    let mut warnings = Vec::new();
    for fe in &config.frontends {
        let targets = fe
            .default_backend
            .iter()
            .map(|b| (b.as_str(), "as its default backend"))
            .chain(fe.use_backends.iter().filter_map(|u| match &u.backend {
                super::model::BackendRef::Static(b) => {
                    Some((b.as_str(), "in a 'use_backend' rule"))
                }
                super::model::BackendRef::Dynamic(_) => None,
            }));
        for (name, rule) in targets {
            let Some(be) = config.backend(name) else {
                continue;
            };
            if fe.mode == Mode::Http && be.mode == Mode::Tcp && be.name != fe.name {
                errors.push(ConfigError::new(
                    fe.location.clone(),
                    ErrorKind::Consistency(format!(
                        "http frontend '{}' ({}) tries to use incompatible tcp backend '{}' ({}) {rule} (see 'mode').",
                        fe.name, fe.location, be.name, be.location
                    )),
                ));
            }
        }
        if fe.mode == Mode::Tcp {
            let warn = |what: &str| {
                ConfigError::new(fe.location.clone(), ErrorKind::Consistency(what.to_owned()))
            };
            if fe.http.monitor_uri.is_some() {
                warnings.push(warn(&format!(
                    "monitor-uri will be ignored for frontend '{}' (needs 'mode http').",
                    fe.name
                )));
            }
            if fe.http.forwardfor.is_some() {
                warnings.push(warn(&format!(
                    "'option forwardfor' ignored for frontend '{}' as it requires HTTP mode.",
                    fe.name
                )));
            }
        }
    }
    for be in config.backends.iter().filter(|b| b.mode != Mode::Http) {
        for s in be.servers.iter().filter(|s| s.proto_h2) {
            errors.push(ConfigError::new(
                s.location.clone(),
                ErrorKind::Consistency(format!(
                    "backend '{}' : MUX protocol 'h2' is not usable for server '{}' at [{}].",
                    be.name, s.name, s.location
                )),
            ));
        }
    }
    config.warnings.extend(warnings);
}

#[cfg(test)]
#[path = "http_tests.rs"]
mod tests;
