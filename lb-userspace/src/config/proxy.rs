//! Keywords of proxy sections (`defaults`, `frontend`, `backend`, `listen`).

use super::balance::{parse_balance, parse_hash_type};
use super::bind::parse_bind;
use super::draft::{ProxyDraft, ProxyKind};
use super::error::{ConfigError, ErrorKind, did_you_mean};
use super::http_rules;
use super::keywords;
use super::line::{Line, Modifier};
use super::log::parse_log;
use super::model::{BackendRef, Mode, UseBackend};
use super::options::parse_option;
use super::server::{parse_default_server, parse_server};
use super::tcp_rules;
use crate::acl::Condition;
use crate::logformat::{LogFormat, ParseOptions};

/// The proxy keywords we implement (for suggestions).
const SUPPORTED: &[&str] = &[
    "acl",
    "balance",
    "bind",
    "capture",
    "declare",
    "http-after-response",
    "http-request",
    "http-response",
    "redirect",
    "compression",
    "cookie",
    "default-server",
    "default_backend",
    "dynamic-cookie-key",
    "errorfile",
    "errorfiles",
    "errorloc",
    "errorloc302",
    "errorloc303",
    "http-reuse",
    "http-send-name-header",
    "monitor",
    "monitor-uri",
    "retry-on",
    "force-persist",
    "ignore-persist",
    "log-format",
    "hash-type",
    "http-check",
    "log",
    "maxconn",
    "mode",
    "option",
    "retries",
    "server",
    "stick",
    "stick-table",
    "tcp-check",
    "tcp-request",
    "tcp-response",
    "timeout",
    "unique-id-format",
    "unique-id-header",
    "use_backend",
];

/// The capability a keyword needs (every keyword is allowed in `defaults` unless checked
/// separately).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cap {
    /// Frontends and listen sections.
    Frontend,
    /// Backends and listen sections.
    Backend,
}

/// Fails with "'KW' not allowed in 'SECTION' section" when the section lacks `cap`.
pub(crate) fn require(
    px: &ProxyDraft,
    line: &Line,
    keyword: &str,
    cap: Cap,
) -> Result<(), ConfigError> {
    let (ok, hint) = match cap {
        Cap::Frontend => (
            px.kind.frontend(),
            "it only applies to frontends and listen sections",
        ),
        Cap::Backend => (
            px.kind.backend(),
            "it only applies to backends and listen sections",
        ),
    };
    if ok {
        return Ok(());
    }
    let kind = ErrorKind::NotAllowed {
        keyword: keyword.into(),
        section: px.kind.name().into(),
    };
    Err(line.err(kind).with_hint(hint))
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

/// Parses one line of a proxy section.
pub(crate) fn parse_keyword(px: &mut ProxyDraft, line: &Line) -> Result<(), ConfigError> {
    let kw = line.kw();
    match kw {
        "option" => return parse_option(px, line),
        "log" => return log(px, line),
        _ => line.no_modifier()?,
    }
    if let Some(result) = super::l4::parse_keyword(px, line) {
        return result;
    }
    match kw {
        "mode" => mode(px, line),
        "bind" => {
            not_in_defaults(px, line, kw)?;
            require(px, line, kw, Cap::Frontend)?;
            px.binds.push(parse_bind(line)?);
            Ok(())
        }
        "maxconn" => maxconn(px, line),
        "timeout" => timeout(px, line),
        "default_backend" => default_backend(px, line),
        "use_backend" => use_backend(px, line),
        "acl" => acl(px, line),
        "balance" => {
            require(px, line, kw, Cap::Backend)?;
            px.balance = parse_balance(line)?;
            px.balance_location = Some(line.loc.clone());
            Ok(())
        }
        "hash-type" => {
            require(px, line, kw, Cap::Backend)?;
            px.hash_type = parse_hash_type(line)?;
            Ok(())
        }
        "server" => {
            not_in_defaults(px, line, kw)?;
            require(px, line, kw, Cap::Backend)?;
            px.servers.push(parse_server(line, &px.default_server)?);
            Ok(())
        }
        "default-server" => {
            require(px, line, kw, Cap::Backend)?;
            parse_default_server(line, &mut px.default_server)
        }
        "retries" => {
            require(px, line, kw, Cap::Backend)?;
            let n = line.required(1, kw, "an integer argument")?;
            line.max_args(1, kw)?;
            px.retries = line.u32_in(kw, n, 0, i32::MAX.unsigned_abs())?;
            Ok(())
        }
        "http-check" => {
            require(px, line, kw, Cap::Backend)?;
            px.check.http_check(line)
        }
        "tcp-check" => {
            require(px, line, kw, Cap::Backend)?;
            px.check.tcp_check(line)
        }
        "stick-table" => super::stick::stick_table(px, line),
        "stick" => super::stick::stick_rule(px, line),
        "tcp-request" => tcp_rules::parse_tcp_request(px, line),
        "tcp-response" => tcp_rules::parse_tcp_response(px, line),
        "http-request" => http_rules::parse_http_rule(px, line, http_rules::List::Request),
        "http-response" => http_rules::parse_http_rule(px, line, http_rules::List::Response),
        "http-after-response" => {
            http_rules::parse_http_rule(px, line, http_rules::List::AfterResponse)
        }
        "redirect" => http_rules::parse_redirect(px, line),
        "capture" if line.arg(1) == Some("cookie") => super::httplog::capture_cookie(px, line),
        "capture" => http_rules::parse_capture(px, line),
        "declare" => http_rules::parse_declare(px, line),
        "cookie" => super::cookie::parse_cookie(px, line),
        "dynamic-cookie-key" => super::cookie::parse_dynamic_cookie_key(px, line),
        "force-persist" | "ignore-persist" => super::cookie::parse_persist_rule(px, line),
        "compression" => super::compression::parse_compression(px, line),
        "log-format" => super::httplog::log_format(px, line),
        "unique-id-format" | "unique-id-header" => super::httplog::unique_id(px, line),
        _ => super::http::parse_keyword(px, line)
            .unwrap_or_else(|| Err(unknown_or_obsolete(px, line))),
    }
}

fn log(px: &mut ProxyDraft, line: &Line) -> Result<(), ConfigError> {
    match line.modifier {
        Modifier::None => px.logs.push(parse_log(line, true)?),
        _ => {
            line.max_args(0, "no log")?;
            px.logs.clear();
        }
    }
    Ok(())
}

fn mode(px: &mut ProxyDraft, line: &Line) -> Result<(), ConfigError> {
    let m = line.required(1, "mode", "'tcp' or 'http'")?;
    line.max_args(1, "mode")?;
    match m {
        "tcp" => px.mode = Mode::Tcp,
        "http" => px.mode = Mode::Http,
        "health" => {
            return Err(line.err(ErrorKind::Obsolete {
                keyword: "mode health".into(),
            }));
        }
        _ => return Err(line.bad_value("mode", m, "unknown proxy mode")),
    }
    Ok(())
}

fn maxconn(px: &mut ProxyDraft, line: &Line) -> Result<(), ConfigError> {
    if !px.kind.frontend() {
        let e = require(px, line, "maxconn", Cap::Frontend).err();
        let hint = "use 'maxconn' on 'server' or 'default-server' lines to limit a backend";
        return Err(e.map_or_else(|| line.invalid("maxconn", hint), |e| e.with_hint(hint)));
    }
    let n = line.required(1, "maxconn", "an integer argument")?;
    line.max_args(1, "maxconn")?;
    // 0 means "not set" (the global maxconn applies), as in HAProxy.
    px.maxconn = Some(line.u32_in("maxconn", n, 0, i32::MAX.unsigned_abs())?).filter(|&n| n > 0);
    Ok(())
}

fn timeout(px: &mut ProxyDraft, line: &Line) -> Result<(), ConfigError> {
    let which = line.required(1, "timeout", "a timeout name and a value")?;
    let cap = match which {
        "client" | "client-fin" => Cap::Frontend,
        "connect" | "server" | "server-fin" | "tunnel" | "queue" | "check" => Cap::Backend,
        "http-request" | "http-keep-alive" | "tarpit" => Cap::Frontend,
        _ => {
            let reason = format!(
                "supports 'client', 'server', 'connect', 'check', 'queue', 'http-keep-alive', 'http-request', \
                 'tunnel', 'tarpit', 'client-fin' and 'server-fin' (got '{which}')"
            );
            let names = [
                "client",
                "server",
                "connect",
                "check",
                "queue",
                "tunnel",
                "client-fin",
                "server-fin",
            ];
            return Err(line
                .invalid("timeout", reason)
                .with_suggestion(did_you_mean(which, names)));
        }
    };
    let kw = format!("timeout {which}");
    // The HTTP timeouts apply to frontends and backends alike.
    if !matches!(which, "http-request" | "http-keep-alive" | "tarpit") {
        require(px, line, &kw, cap)?;
    }
    let value = line.required(2, &kw, "a time (milliseconds unless a unit is given)")?;
    line.max_args(2, &kw)?;
    // 0 means "no timeout", as in HAProxy.
    let t = Some(line.time(&kw, value)?).filter(|t| !t.is_zero());
    let to = &mut px.timeouts;
    *match which {
        "client" => &mut to.client,
        "client-fin" => &mut to.client_fin,
        "connect" => &mut to.connect,
        "server" => &mut to.server,
        "server-fin" => &mut to.server_fin,
        "tunnel" => &mut to.tunnel,
        "queue" => &mut to.queue,
        "http-request" => &mut to.http_request,
        "http-keep-alive" => &mut to.http_keep_alive,
        "tarpit" => &mut to.tarpit,
        _ => &mut to.check,
    } = t;
    Ok(())
}

fn default_backend(px: &mut ProxyDraft, line: &Line) -> Result<(), ConfigError> {
    require(px, line, "default_backend", Cap::Frontend)?;
    let name = line.required(1, "default_backend", "a backend name")?;
    line.max_args(1, "default_backend")?;
    px.default_backend = Some((name.to_owned(), line.loc.clone()));
    Ok(())
}

fn use_backend(px: &mut ProxyDraft, line: &Line) -> Result<(), ConfigError> {
    not_in_defaults(px, line, "use_backend")?;
    require(px, line, "use_backend", Cap::Frontend)?;
    let name = line.required(1, "use_backend", "a backend name")?;
    // HAProxy reads the name as a log-format string: constant text is a static name.
    let opts = ParseOptions {
        http: px.mode == crate::config::model::Mode::Http,
        ..ParseOptions::default()
    };
    let format = LogFormat::parse(name, opts).map_err(|e| {
        line.invalid(
            "use_backend",
            format!("failed to parse use_backend rule '{name}' : {e}"),
        )
    })?;
    let backend = match format.as_static() {
        Some(name) => BackendRef::Static(name),
        None => BackendRef::Dynamic(format),
    };
    let cond = match line.arg(2) {
        None => None,
        Some("if" | "unless") => Some(Condition::parse(&line.words[2..], &px.acls).map_err(
            |source| {
                line.err(ErrorKind::Condition {
                    rule: "switching rule",
                    source,
                })
            },
        )?),
        Some(other) => {
            let reason = format!(
                "unexpected keyword '{other}' after switching rule, only 'if' and 'unless' are allowed"
            );
            return Err(line.invalid("use_backend", reason));
        }
    };
    px.use_backends.push(UseBackend {
        backend,
        cond,
        location: line.loc.clone(),
    });
    Ok(())
}

fn acl(px: &mut ProxyDraft, line: &Line) -> Result<(), ConfigError> {
    // A named defaults section may hold ACLs for its own rules (they are not inherited).
    if px.kind == ProxyKind::Defaults && px.name.is_empty() {
        let kind = ErrorKind::NotAllowed {
            keyword: "acl".into(),
            section: "defaults".into(),
        };
        return Err(line
            .err(kind)
            .with_hint("anonymous defaults sections cannot hold ACLs"));
    }
    let name = line.required(1, "acl", "a name, a criterion and values")?;
    px.acls.add(&line.words[1..]).map_err(|source| {
        line.err(ErrorKind::Acl {
            name: name.to_owned(),
            source,
        })
    })?;
    if let Some(e) = px.acls.get(name).and_then(|a| a.exprs.last()) {
        px.acl_lines.push((line.loc.clone(), e.sample.clone()));
    }
    Ok(())
}

fn unknown_or_obsolete(px: &ProxyDraft, line: &Line) -> ConfigError {
    let kw = line.kw();
    let replacement = match kw {
        "contimeout" => Some("timeout connect"),
        "clitimeout" => Some("timeout client"),
        "srvtimeout" => Some("timeout server"),
        "redispatch" | "redisp" => Some("option redispatch"),
        _ => None,
    };
    if let Some(r) = replacement {
        return line
            .err(ErrorKind::Obsolete { keyword: kw.into() })
            .with_hint(format!("use '{r}' instead"));
    }
    if matches!(kw, "bind-process" | "monitor-net" | "block" | "transparent")
        || is_old_regex_keyword(kw)
    {
        return line.err(ErrorKind::Obsolete { keyword: kw.into() });
    }
    if let Some(feature) = keywords::feature(keywords::PROXY, kw) {
        return line.unsupported(kw, feature);
    }
    let kind = ErrorKind::UnknownKeyword {
        keyword: kw.into(),
        section: px.kind.name().into(),
    };
    let candidates = SUPPORTED
        .iter()
        .copied()
        .chain(keywords::names(keywords::PROXY));
    line.err(kind).with_suggestion(did_you_mean(kw, candidates))
}

/// `reqrep`, `rspadd`...: the header regex keywords removed in HAProxy 2.1.
fn is_old_regex_keyword(kw: &str) -> bool {
    const SUFFIXES: &[&str] = &[
        "add", "rep", "irep", "del", "idel", "deny", "ideny", "pass", "ipass", "allow", "iallow",
        "tarpit", "itarpit",
    ];
    let suffix = kw.strip_prefix("req").or_else(|| kw.strip_prefix("rsp"));
    suffix.is_some_and(|s| SUFFIXES.contains(&s))
}
