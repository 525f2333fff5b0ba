//! Health check protocols: `option httpchk`, `http-check send|expect`, `option tcp-check` and
//! `tcp-check connect|send|send-binary|expect`.
//!
//! As in HAProxy, a proxy inherits the check settings of its `defaults` section, but its own
//! `http-check`/`tcp-check` rules replace the inherited rules instead of adding to them.

use super::error::ConfigError;
use super::line::Line;
use super::model::{
    CheckKind, HttpCheck, HttpExpect, HttpExpectMatch, Location, TcpCheckRule, TcpExpectPattern,
};

/// Which `option` selected the check protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum CheckOption {
    /// Plain TCP connect.
    #[default]
    None,
    /// `option httpchk`.
    Http,
    /// `option tcp-check`.
    Tcp,
}

/// The check settings of a proxy while it is being parsed.
#[derive(Debug, Clone, Default)]
pub(crate) struct CheckDraft {
    pub option: CheckOption,
    /// Method, URI and version from `option httpchk`.
    pub request: (Option<String>, Option<String>, Option<String>),
    /// `http-check send` overrides and additions.
    pub send: Option<HttpSend>,
    pub expect: Option<(HttpExpect, Location)>,
    pub tcp_rules: Vec<TcpCheckRule>,
    /// Where the first `http-check` / `tcp-check` rule is (for "rules without option" errors).
    pub first_http_rule: Option<Location>,
    pub first_tcp_rule: Option<Location>,
    /// The section being parsed declared its own rules (the inherited ones are dropped).
    pub own_rules: bool,
}

/// One `http-check send` line.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct HttpSend {
    pub method: Option<String>,
    pub uri: Option<String>,
    pub version: Option<String>,
    pub headers: Vec<(String, String)>,
    pub body: Option<String>,
    pub location: Location,
}

const RULE_SEQUENCES: &str = "http-check/tcp-check rule sequences";

impl CheckDraft {
    /// What a section starting from these settings inherits.
    pub fn inherited(&self) -> Self {
        Self {
            own_rules: false,
            ..self.clone()
        }
    }

    /// Drops the inherited rules the first time the section declares one of its own.
    fn own(&mut self) {
        if !self.own_rules {
            self.send = None;
            self.expect = None;
            self.tcp_rules.clear();
            self.first_http_rule = None;
            self.first_tcp_rule = None;
            self.own_rules = true;
        }
    }

    /// `option httpchk [[METH] URI [VER]]`.
    pub fn option_httpchk(&mut self, line: &Line) -> Result<(), ConfigError> {
        line.max_args(4, "option httpchk")?;
        let arg = |i: usize| line.arg(i).map(str::to_owned);
        self.request = match line.words.len() {
            2 => (None, None, None),
            3 => (None, arg(2), None),
            4 => (arg(2), arg(3), None),
            _ => (arg(2), arg(3), arg(4)),
        };
        self.option = CheckOption::Http;
        Ok(())
    }

    /// `option tcp-check`.
    pub fn option_tcp_check(&mut self, line: &Line) -> Result<(), ConfigError> {
        line.max_args(1, "option tcp-check")?;
        self.option = CheckOption::Tcp;
        Ok(())
    }

    /// `http-check ...`.
    pub fn http_check(&mut self, line: &Line) -> Result<(), ConfigError> {
        let sub = line.required(1, "http-check", "'send', 'expect' or another action")?;
        match sub {
            "send" | "expect" => {}
            "connect" | "comment" | "set-var" | "unset-var" => {
                return Err(line.unsupported(format!("http-check {sub}"), RULE_SEQUENCES));
            }
            "disable-on-404" | "send-state" => {
                return Err(line.unsupported(format!("http-check {sub}"), ""));
            }
            _ => return Err(line.bad_value("http-check", sub, "expects 'connect', 'send', 'expect', 'comment', 'set-var', 'unset-var', 'disable-on-404' or 'send-state'")),
        }
        self.own();
        self.first_http_rule.get_or_insert_with(|| line.loc.clone());
        if sub == "send" {
            let send = parse_http_send(line)?;
            if let Some(previous) = &self.send {
                return Err(several(line, "http-check send", &previous.location));
            }
            self.send = Some(send);
        } else {
            let expect = parse_http_expect(line)?;
            if let Some((_, previous)) = &self.expect {
                return Err(several(line, "http-check expect", previous));
            }
            self.expect = Some((expect, line.loc.clone()));
        }
        Ok(())
    }

    /// `tcp-check ...`.
    pub fn tcp_check(&mut self, line: &Line) -> Result<(), ConfigError> {
        let rule = parse_tcp_rule(line)?;
        self.own();
        self.first_tcp_rule.get_or_insert_with(|| line.loc.clone());
        self.tcp_rules.push(rule);
        Ok(())
    }

    /// The check protocol of a finished backend.
    pub fn resolve(&self) -> Result<CheckKind, ConfigError> {
        let (http_rule, tcp_rule) = (self.first_http_rule.as_ref(), self.first_tcp_rule.as_ref());
        match (self.option, http_rule, tcp_rule) {
            (CheckOption::Tcp | CheckOption::None, Some(at), _) => {
                Err(rule_without_option(at, "http-check", "httpchk"))
            }
            (CheckOption::Http | CheckOption::None, _, Some(at)) => {
                Err(rule_without_option(at, "tcp-check", "tcp-check"))
            }
            (CheckOption::None, None, None) => Ok(CheckKind::Tcp),
            (CheckOption::Tcp, _, _) => Ok(CheckKind::TcpScript(self.tcp_rules.clone())),
            (CheckOption::Http, _, _) => Ok(CheckKind::Http(self.build_http_check())),
        }
    }

    fn build_http_check(&self) -> HttpCheck {
        let mut check = HttpCheck::default();
        let (method, uri, version) = self.request.clone();
        let send = self.send.clone().unwrap_or_default();
        if let Some(m) = send.method.or(method) {
            check.method = m;
        }
        if let Some(u) = send.uri.or(uri) {
            check.uri = u;
        }
        if let Some(v) = send.version.or(version) {
            check.version = v;
        }
        check.headers = send.headers;
        check.body = send.body;
        check.expect = self.expect.as_ref().map(|(e, _)| e.clone());
        check
    }
}

fn several(line: &Line, what: &str, previous: &Location) -> ConfigError {
    line.unsupported(format!("{what} (a second one)"), RULE_SEQUENCES)
        .with_hint(format!("the first one is at {previous}"))
}

fn rule_without_option(at: &Location, rules: &str, option: &str) -> ConfigError {
    let reason =
        format!("'{rules}' rules require 'option {option}' in the same backend or its defaults");
    ConfigError::new(at.clone(), super::error::ErrorKind::Consistency(reason))
}

fn parse_http_send(line: &Line) -> Result<HttpSend, ConfigError> {
    let mut send = HttpSend {
        location: line.loc.clone(),
        ..HttpSend::default()
    };
    let mut i = 2;
    while let Some(opt) = line.arg(i) {
        let kw = format!("http-check send {opt}");
        let value = |n: usize| line.required(i + n, &kw, "an argument").map(str::to_owned);
        match opt {
            "meth" => send.method = Some(value(1)?),
            "uri" => send.uri = Some(value(1)?),
            "ver" => send.version = Some(value(1)?),
            "body" => send.body = Some(value(1)?),
            "hdr" => {
                send.headers.push((value(1)?, value(2)?));
                i += 1;
            }
            "uri-lf" | "body-lf" => return Err(line.unsupported(kw, "custom log formats")),
            "comment" => return Err(line.unsupported(kw, RULE_SEQUENCES)),
            _ => {
                return Err(line.bad_value(
                    "http-check send",
                    opt,
                    "expects 'meth', 'uri', 'ver', 'hdr' or 'body'",
                ));
            }
        }
        i += 2;
    }
    Ok(send)
}

/// Skips the `[!]` and returns (inverted, index of the match keyword), rejecting the
/// optional parameters we do not implement.
fn expect_prefix(line: &Line, rule: &str) -> Result<(bool, usize), ConfigError> {
    let mut i = 2;
    match line.arg(i) {
        Some("!") => i += 1,
        Some(
            p @ ("min-recv" | "comment" | "ok-status" | "error-status" | "tout-status"
            | "on-success" | "on-error" | "status-code"),
        ) => {
            return Err(line.unsupported(format!("{rule} expect {p}"), RULE_SEQUENCES));
        }
        _ => {}
    }
    Ok((i == 3, i))
}

fn parse_http_expect(line: &Line) -> Result<HttpExpect, ConfigError> {
    let (inverted, i) = expect_prefix(line, "http-check")?;
    let kw = "http-check expect";
    let what = line.required(
        i,
        kw,
        "a match type ('status', 'rstatus', 'string' or 'rstring') and a pattern",
    )?;
    let pattern = line.required(i + 1, &format!("{kw} {what}"), "a pattern")?;
    let matcher = match what {
        "status" => HttpExpectMatch::Status(
            parse_status_list(pattern).map_err(|r| line.bad_value(kw, pattern, r))?,
        ),
        "rstatus" => HttpExpectMatch::RStatus(checked_regex(line, kw, pattern)?),
        "string" => HttpExpectMatch::String(pattern.to_owned()),
        "rstring" => HttpExpectMatch::RString(checked_regex(line, kw, pattern)?),
        "hdr" | "fhdr" | "string-lf" | "rstring-lf" => {
            return Err(line.unsupported(format!("{kw} {what}"), ""));
        }
        _ => {
            return Err(line.bad_value(
                kw,
                what,
                "expects 'status', 'rstatus', 'string' or 'rstring'",
            ));
        }
    };
    line.max_args(i + 1, kw)?;
    Ok(HttpExpect { inverted, matcher })
}

/// `200`, `200-399`, `200,204,300-399`.
fn parse_status_list(text: &str) -> Result<Vec<(u16, u16)>, String> {
    let code = |s: &str| match s.parse::<u16>() {
        Ok(c) if (100..=999).contains(&c) => Ok(c),
        _ => Err(format!("invalid status code '{s}'")),
    };
    text.split(',')
        .map(|item| {
            let (lo, hi) = match item.split_once('-') {
                Some((a, b)) => (code(a)?, code(b)?),
                None => (code(item)?, code(item)?),
            };
            if hi < lo {
                return Err(format!("invalid status range '{item}'"));
            }
            Ok((lo, hi))
        })
        .collect()
}

fn checked_regex(line: &Line, kw: &str, pattern: &str) -> Result<String, ConfigError> {
    match regex::bytes::Regex::new(pattern) {
        Ok(_) => Ok(pattern.to_owned()),
        Err(e) => Err(line.bad_value(kw, pattern, format!("invalid regex ({e})"))),
    }
}

fn parse_tcp_rule(line: &Line) -> Result<TcpCheckRule, ConfigError> {
    let sub = line.required(
        1,
        "tcp-check",
        "'connect', 'send', 'send-binary' or 'expect'",
    )?;
    let kw = format!("tcp-check {sub}");
    match sub {
        "connect" => parse_tcp_connect(line),
        "send" => {
            let data = line.required(2, &kw, "a string")?;
            line.max_args(2, &kw)?;
            Ok(TcpCheckRule::Send(data.as_bytes().to_vec()))
        }
        "send-binary" => {
            let hex = line.required(2, &kw, "a hexadecimal string")?;
            line.max_args(2, &kw)?;
            Ok(TcpCheckRule::Send(decode_hex(hex).map_err(|r| line.bad_value(&kw, hex, r))?))
        }
        "expect" => parse_tcp_expect(line),
        "send-lf" | "send-binary-lf" => Err(line.unsupported(kw, "custom log formats")),
        "comment" | "set-var" | "unset-var" => Err(line.unsupported(kw, RULE_SEQUENCES)),
        _ => Err(line.bad_value("tcp-check", sub, "expects 'comment', 'connect', 'send', 'send-lf', 'send-binary', 'send-binary-lf', 'expect', 'set-var' or 'unset-var'")),
    }
}

fn parse_tcp_connect(line: &Line) -> Result<TcpCheckRule, ConfigError> {
    let (mut port, mut addr) = (None, None);
    let (mut default, mut send_proxy) = (false, false);
    let mut i = 2;
    while let Some(opt) = line.arg(i) {
        let kw = format!("tcp-check connect {opt}");
        match opt {
            // The server's check settings: its address and port (unless given here) and
            // its PROXY header.
            "default" => {
                default = true;
                i += 1;
                continue;
            }
            "send-proxy" => {
                send_proxy = true;
                i += 1;
                continue;
            }
            "port" => {
                let v = line.required(i + 1, &kw, "a port number")?;
                port = Some(super::addr::parse_port(v).map_err(|r| line.bad_value(&kw, v, r))?);
            }
            "addr" => {
                let v = line.required(i + 1, &kw, "an IP address")?;
                addr = Some(v.parse().map_err(|_| line.bad_value(&kw, v, "expects an IPv4 or IPv6 address"))?);
            }
            "ssl" | "sni" | "alpn" => return Err(line.unsupported(kw, "SSL/TLS")),
            "via-socks4" | "linger" | "proto" | "comment" => return Err(line.unsupported(kw, RULE_SEQUENCES)),
            _ => return Err(line.bad_value("tcp-check connect", opt, "expects 'default', 'port', 'addr', 'send-proxy', 'via-socks4', 'ssl', 'sni', 'alpn', 'linger', 'proto' or 'comment'")),
        }
        i += 2;
    }
    Ok(TcpCheckRule::Connect {
        port,
        addr,
        default,
        send_proxy,
    })
}

fn parse_tcp_expect(line: &Line) -> Result<TcpCheckRule, ConfigError> {
    let (inverted, i) = expect_prefix(line, "tcp-check")?;
    let kw = "tcp-check expect";
    let what = line.required(
        i,
        kw,
        "a match type ('string', 'rstring' or 'binary') and a pattern",
    )?;
    let pattern = line.required(i + 1, &format!("{kw} {what}"), "a pattern")?;
    let pattern = match what {
        "string" => TcpExpectPattern::String(pattern.as_bytes().to_vec()),
        "rstring" => TcpExpectPattern::RString(checked_regex(line, kw, pattern)?),
        "binary" => TcpExpectPattern::Binary(
            decode_hex(pattern).map_err(|r| line.bad_value(kw, pattern, r))?,
        ),
        "rbinary" | "string-lf" | "binary-lf" => {
            return Err(line.unsupported(format!("{kw} {what}"), RULE_SEQUENCES));
        }
        _ => return Err(line.bad_value(kw, what, "expects 'string', 'rstring' or 'binary'")),
    };
    line.max_args(i + 1, kw)?;
    Ok(TcpCheckRule::Expect { inverted, pattern })
}

/// Decodes an even-length hexadecimal string.
pub(crate) fn decode_hex(text: &str) -> Result<Vec<u8>, String> {
    if text.is_empty() || !text.len().is_multiple_of(2) {
        return Err("expects an even, non-zero number of hexadecimal digits".into());
    }
    let digits: Vec<u32> = text
        .chars()
        .map(|c| {
            c.to_digit(16)
                .ok_or_else(|| format!("invalid hexadecimal digit '{c}'"))
        })
        .collect::<Result<_, _>>()?;
    // Each digit is < 16, so every pair fits in a byte.
    Ok(digits
        .chunks(2)
        .map(|p| u8::try_from(p[0] * 16 + p[1]).unwrap_or(0))
        .collect())
}

#[cfg(test)]
mod tests;
