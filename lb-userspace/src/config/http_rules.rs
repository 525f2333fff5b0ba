//! `http-request`, `http-response`, `http-after-response`, `redirect`, `capture
//! request|response header` and `declare capture` lines, their inheritance from named
//! `defaults` sections, and HAProxy's placement warnings.

mod action;
mod reply;
#[cfg(test)]
mod tests;

use http::HeaderName;

use super::draft::{ProxyDraft, ProxyKind};
use super::error::{ConfigError, ErrorKind};
use super::line::Line;
use super::model::{Config, Mode};
use super::proxy::{Cap, require};
use crate::http_rules::{HeaderCapture, HttpCaptures, HttpRule, HttpRules};

pub(crate) use action::List;

/// The HTTP rules of one section, per list.
#[derive(Debug, Clone, Default)]
pub(crate) struct HttpLists {
    pub request: Vec<HttpRule>,
    pub redirects: Vec<HttpRule>,
    pub response: Vec<HttpRule>,
    pub after_response: Vec<HttpRule>,
}

impl HttpLists {
    fn list_mut(&mut self, list: List) -> &mut Vec<HttpRule> {
        match list {
            List::Request => &mut self.request,
            List::Response => &mut self.response,
            List::AfterResponse => &mut self.after_response,
        }
    }
}

/// The HTTP rules and captures of a section being parsed.
#[derive(Debug, Clone, Default)]
pub(crate) struct HttpDraft {
    /// Rules written in this section.
    pub own: HttpLists,
    /// Rules of the `defaults` section this one inherits from (evaluated first).
    pub inherited: HttpLists,
    /// `http-request strict-mode off` seen.
    pub lenient: bool,
    /// Capture slots (frontends).
    pub captures: HttpCaptures,
    /// Warnings found while parsing (reported, not fatal).
    pub warnings: Vec<ConfigError>,
    /// For a `defaults` section with rules: the kind of the first proxy using it.
    pub used_by: Option<ProxyKind>,
}

impl HttpDraft {
    /// What a section inheriting from this `defaults` section starts with.
    pub fn inherited(&self) -> Self {
        let mut all = self.inherited.clone();
        all.request.extend(self.own.request.iter().cloned());
        all.redirects.extend(self.own.redirects.iter().cloned());
        all.response.extend(self.own.response.iter().cloned());
        all.after_response
            .extend(self.own.after_response.iter().cloned());
        Self {
            inherited: all,
            lenient: self.lenient,
            ..Self::default()
        }
    }

    /// The rules the proxy evaluates (inherited ones first).
    pub fn rules(&self) -> HttpRules {
        let cat = |a: &Vec<HttpRule>, b: &Vec<HttpRule>| {
            let mut v = a.clone();
            v.extend(b.iter().cloned());
            v
        };
        HttpRules {
            request: cat(&self.inherited.request, &self.own.request),
            redirects: cat(&self.inherited.redirects, &self.own.redirects),
            response: cat(&self.inherited.response, &self.own.response),
            after_response: cat(&self.inherited.after_response, &self.own.after_response),
            strict: !self.lenient,
        }
    }

    /// The capture slots of a frontend.
    pub fn captures(&self) -> HttpCaptures {
        self.captures.clone()
    }
}

/// HAProxy keeps rules out of anonymous `defaults` sections: nothing could name them.
fn anonymous_defaults(px: &ProxyDraft, line: &Line, kw: &str) -> Result<(), ConfigError> {
    if px.kind == ProxyKind::Defaults && px.name.is_empty() {
        let kind = ErrorKind::NotAllowed {
            keyword: kw.into(),
            section: "defaults".into(),
        };
        return Err(line
            .err(kind)
            .with_hint("only a named defaults section may hold it"));
    }
    Ok(())
}

/// HAProxy's limits on inheriting HTTP rules from a named `defaults` section: neither a
/// `listen` nor a `defaults` section may, and frontends and backends may not share one.
pub(crate) fn check_inherit(
    defaults: &mut ProxyDraft,
    kind: ProxyKind,
    line: &Line,
) -> Result<(), ConfigError> {
    let own = &defaults.http_rules.own;
    if own.request.is_empty() && own.response.is_empty() && own.after_response.is_empty() {
        return Ok(());
    }
    let problem = match kind {
        ProxyKind::Defaults | ProxyKind::Listen => format!(
            "a {} section cannot inherit from a defaults section defining TCP/HTTP rules",
            kind.name()
        ),
        _ if defaults.http_rules.used_by.is_some_and(|k| k != kind) => {
            "frontends and backends cannot inherit from the same defaults section if it defines TCP/HTTP rules".to_owned()
        }
        _ => {
            defaults.http_rules.used_by = Some(kind);
            return Ok(());
        }
    };
    let reason = format!("{problem} (defaults section at {})", defaults.location);
    Err(line.err(ErrorKind::Consistency(reason)))
}

/// `http-request ...`, `http-response ...`, `http-after-response ...`.
pub(crate) fn parse_http_rule(
    px: &mut ProxyDraft,
    line: &Line,
    list: List,
) -> Result<(), ConfigError> {
    let kw = list.keyword();
    anonymous_defaults(px, line, kw)?;
    if line.arg(1) == Some("strict-mode") {
        match line.arg(2) {
            Some("on") => px.http_rules.lenient = false,
            Some("off") => px.http_rules.lenient = true,
            _ => return Err(line.missing(&format!("{kw} strict-mode"), "'on' or 'off'")),
        }
        return Ok(());
    }
    let mut rule = action::parse_rule(list, px, line)?;
    if let crate::http_rules::HttpAction::Capture { slot, .. } = &mut rule.action
        && slot.slot == usize::MAX
    {
        // `capture ... len N` declares a new request slot.
        slot.slot = px.http_rules.captures.req_slots.len();
        px.http_rules.captures.req_slots.push(slot.len);
    }
    let own = px.http_rules.own.list_mut(list);
    let prev_final = own
        .last()
        .filter(|r| r.cond.is_none() && r.action.is_final())
        .map(|r| r.location.line);
    if prev_final.is_some() {
        let reason = format!(
            "previous '{kw}' action is final and has no condition attached, further entries are NOOP."
        );
        px.http_rules
            .warnings
            .push(line.err(ErrorKind::Consistency(reason)));
    }
    if list == List::Request {
        let later = if !px.http_rules.own.redirects.is_empty() {
            Some("redirect")
        } else if !px.use_backends.is_empty() {
            Some("use_backend")
        } else {
            None
        };
        if let Some(later) = later {
            let reason = format!(
                "a '{kw}' rule placed after a '{later}' rule will still be processed before."
            );
            px.http_rules
                .warnings
                .push(line.err(ErrorKind::Consistency(reason)));
        }
    }
    px.http_rules.own.list_mut(list).push(rule);
    Ok(())
}

/// The standalone `redirect ...` keyword.
pub(crate) fn parse_redirect(px: &mut ProxyDraft, line: &Line) -> Result<(), ConfigError> {
    anonymous_defaults(px, line, "redirect")?;
    let rule = action::parse_redirect_line(px, line)?;
    if !px.use_backends.is_empty() {
        let reason =
            "a 'redirect' rule placed after a 'use_backend' rule will still be processed before.";
        px.http_rules
            .warnings
            .push(line.err(ErrorKind::Consistency(reason.into())));
    }
    px.http_rules.own.redirects.push(rule);
    Ok(())
}

/// `capture request header NAME len N`, `capture response header NAME len N`.
pub(crate) fn parse_capture(px: &mut ProxyDraft, line: &Line) -> Result<(), ConfigError> {
    let which = line.required(
        1,
        "capture",
        "'cookie', 'request header' or 'response header'",
    )?;
    let kw = format!("capture {which}");
    if which == "cookie" {
        return Err(line.unsupported("capture cookie", "cookie captures"));
    }
    if which != "request" && which != "response" {
        let reason = format!("expects 'cookie', 'request' or 'response' (got '{which}')");
        return Err(line.invalid("capture", reason));
    }
    not_in_defaults(px, line, &kw)?;
    require(px, line, &kw, Cap::Frontend)?;
    if line.arg(2) != Some("header") {
        return Err(line.missing(&kw, "'header' followed by a header name and 'len <length>'"));
    }
    let name = line.required(3, &kw, "a header name")?;
    let name = HeaderName::from_bytes(name.as_bytes())
        .map_err(|_| line.bad_value(&kw, name, "invalid header name"))?;
    if line.arg(4) != Some("len") {
        return Err(line.missing(&kw, "'len <length>' after the header name"));
    }
    let len = line.required(5, &format!("{kw} len"), "a length")?;
    let len = line.u32_in(&format!("{kw} len"), len, 1, 65535)? as usize;
    line.max_args(5, &kw)?;
    let caps = &mut px.http_rules.captures;
    let (slots, headers) = if which == "request" {
        (&mut caps.req_slots, &mut caps.req_headers)
    } else {
        (&mut caps.res_slots, &mut caps.res_headers)
    };
    headers.push(HeaderCapture {
        name,
        len,
        slot: slots.len(),
    });
    slots.push(len);
    Ok(())
}

/// `declare capture request|response len N`.
pub(crate) fn parse_declare(px: &mut ProxyDraft, line: &Line) -> Result<(), ConfigError> {
    if line.arg(1) != Some("capture") {
        return Err(line.missing("declare", "'capture'"));
    }
    let which = line.required(2, "declare capture", "'request' or 'response'")?;
    let res = match which {
        "request" => false,
        "response" => true,
        _ => {
            return Err(line.invalid(
                "declare capture",
                format!("expects 'request' or 'response' (got '{which}')"),
            ));
        }
    };
    not_in_defaults(px, line, "declare capture")?;
    require(px, line, "declare capture", Cap::Frontend)?;
    if line.arg(3) != Some("len") {
        return Err(line.missing("declare capture", "'len <length>'"));
    }
    let len = line.required(4, "declare capture len", "a length")?;
    let len = line.u32_in("declare capture len", len, 1, 65535)? as usize;
    line.max_args(4, "declare capture")?;
    let caps = &mut px.http_rules.captures;
    if res {
        caps.res_slots.push(len);
    } else {
        caps.req_slots.push(len);
    }
    Ok(())
}

fn not_in_defaults(px: &ProxyDraft, line: &Line, keyword: &str) -> Result<(), ConfigError> {
    if px.kind == ProxyKind::Defaults {
        let kind = ErrorKind::NotAllowed {
            keyword: keyword.into(),
            section: "defaults".into(),
        };
        return Err(line.err(kind));
    }
    Ok(())
}

/// `track-sc*` actions of HTTP rules naming a table that does not exist.
pub(crate) fn check_tables(config: &Config, errors: &mut super::error::ConfigErrors) {
    let tables: std::collections::HashSet<&str> =
        config.stick_tables().map(|t| t.name.as_str()).collect();
    let sides = config
        .frontends
        .iter()
        .map(|f| (&f.name, &f.http_rules))
        .chain(
            config
                .backends
                .iter()
                .filter(|b| !config.frontends.iter().any(|f| f.name == b.name))
                .map(|b| (&b.name, &b.http_rules)),
        );
    for (proxy, rules) in sides {
        let all = rules
            .request
            .iter()
            .chain(&rules.response)
            .chain(&rules.after_response);
        for rule in all {
            let crate::http_rules::HttpAction::TrackSc { sc, table, .. } = &rule.action else {
                continue;
            };
            if !tables.contains(table.as_str()) {
                let reason = format!(
                    "proxy '{proxy}' : unable to find table '{table}' referenced by track-sc{sc}"
                );
                errors.push(ConfigError::new(
                    rule.location.clone(),
                    ErrorKind::Consistency(reason),
                ));
            }
        }
    }
}

/// HAProxy's warnings for HTTP rules in proxies that are not in `mode http`: they are
/// ignored there.
pub(crate) fn mode_warnings(config: &Config) -> Vec<ConfigError> {
    let mut out = Vec::new();
    let mut check = |name: &str, mode: Mode, rules: &HttpRules, loc: &super::model::Location| {
        if mode == Mode::Http {
            return;
        }
        let lists = [
            ("http-request", rules.request.is_empty()),
            ("http-response", rules.response.is_empty()),
            ("http-after-response", rules.after_response.is_empty()),
            ("redirect", rules.redirects.is_empty()),
        ];
        for (kw, empty) in lists {
            if !empty {
                let reason =
                    format!("'{kw}' rules ignored for proxy '{name}' as they require HTTP mode.");
                out.push(ConfigError::new(
                    loc.clone(),
                    ErrorKind::Consistency(reason),
                ));
            }
        }
    };
    for fe in &config.frontends {
        check(&fe.name, fe.mode, &fe.http_rules, &fe.location);
    }
    for be in &config.backends {
        // A listen section's backend half shares its frontend's lines.
        if config.frontends.iter().any(|f| f.name == be.name) {
            continue;
        }
        check(&be.name, be.mode, &be.http_rules, &be.location);
    }
    out
}
