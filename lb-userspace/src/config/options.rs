//! `[no|default] option NAME [ARGS]` in proxy sections.

use super::draft::ProxyDraft;
use super::error::{ConfigError, ErrorKind, did_you_mean};
use super::keywords;
use super::line::{Line, Modifier};
use super::proxy::{Cap, require};

/// The options we implement.
const SUPPORTED: &[&str] = &[
    "allbackups",
    "checkcache",
    "dontlognull",
    "forwardfor",
    "http-buffer-request",
    "http-keep-alive",
    "http-server-close",
    "httpclose",
    "httpchk",
    "httplog",
    "log-separate-errors",
    "persist",
    "redispatch",
    "tcp-check",
    "tcplog",
    "xdp-forward",
];

/// Parses an `option` line.
pub(crate) fn parse_option(px: &mut ProxyDraft, line: &Line) -> Result<(), ConfigError> {
    let name = line.required(1, "option", "an option name")?;
    let keyword = format!("option {name}");
    match name {
        "redispatch" | "allbackups" => {
            require(px, line, &keyword, Cap::Backend)?;
            line.max_args(1, &keyword)?;
            let value = line.modifier == Modifier::None;
            *if name == "redispatch" {
                &mut px.redispatch
            } else {
                &mut px.allbackups
            } = value;
            Ok(())
        }
        "tcplog" => {
            no_negation(line, name)?;
            line.max_args(1, &keyword)?;
            px.tcplog = true;
            px.http_log.format = None;
            Ok(())
        }
        "httplog" => super::httplog::option_httplog(px, line),
        "dontlognull" | "log-separate-errors" => super::httplog::option_flag(px, line, name),
        "persist" => {
            require(px, line, &keyword, Cap::Backend)?;
            line.max_args(1, &keyword)?;
            px.persist.option_persist = line.modifier == Modifier::None;
            Ok(())
        }
        "httpchk" => {
            no_negation(line, name)?;
            require(px, line, &keyword, Cap::Backend)?;
            px.check.option_httpchk(line)
        }
        "tcp-check" => {
            no_negation(line, name)?;
            require(px, line, &keyword, Cap::Backend)?;
            px.check.option_tcp_check(line)
        }
        "xdp-forward" => super::l4::parse_option(px, line),
        "forceclose" | "http-tunnel" | "http-use-htx" => Err(line
            .err(ErrorKind::Obsolete {
                keyword: keyword.clone(),
            })
            .with_hint("removed from HAProxy 2.x")),
        _ => super::http::parse_option(px, line, name).unwrap_or_else(|| Err(unknown(line, name))),
    }
}

/// HAProxy only accepts `no`/`default` on its boolean options.
fn no_negation(line: &Line, name: &str) -> Result<(), ConfigError> {
    match line.modifier {
        Modifier::None => Ok(()),
        _ => Err(line.invalid(
            "option",
            format!("negation/default is not supported for option '{name}'"),
        )),
    }
}

fn unknown(line: &Line, name: &str) -> ConfigError {
    if let Some(feature) = keywords::feature(keywords::OPTIONS, name) {
        return line.unsupported(format!("option {name}"), feature);
    }
    let candidates = SUPPORTED
        .iter()
        .copied()
        .chain(keywords::names(keywords::OPTIONS));
    line.invalid("option", format!("unknown option '{name}'"))
        .with_suggestion(did_you_mean(name, candidates))
}
