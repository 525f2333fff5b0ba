//! Turns parsed sections into the [`Config`] model and runs the configuration-wide checks
//! (names, backend references, `log global`), errors pointing at the offending line.

use std::collections::HashMap;

use super::draft::{ProxyDraft, ProxyKind};
use super::error::{ConfigError, ConfigErrors, ErrorKind};
use super::log::LogLine;
use super::model::{
    Backend, BackendRef, CheckKind, Config, Frontend, Global, LogTarget, XdpSection,
};
use super::servers::{build_servers, check_tracks};
use super::tcp_rules;

/// Builds the configuration; problems are appended to `errors`.
pub(crate) fn finalize(
    global: Global,
    proxies: Vec<ProxyDraft>,
    xdp: Option<XdpSection>,
    errors: &mut ConfigErrors,
) -> Config {
    let proxies: Vec<ProxyDraft> = proxies.into_iter().filter(|p| !p.broken).collect();
    check_names(&proxies, errors);
    let mut config = Config {
        global,
        frontends: Vec::new(),
        backends: Vec::new(),
        xdp,
        xdp_forward: Vec::new(),
        tables: Vec::new(),
        warnings: Vec::new(),
    };
    for px in &proxies {
        if px.kind.backend() {
            let backend = build_backend(px, &config.global, errors);
            config.backends.push(backend);
        }
        if px.kind.frontend() {
            let frontend = build_frontend(px, &config.global, errors);
            config.frontends.push(frontend);
        }
    }
    check_backend_refs(&proxies, &config, errors);
    check_tracks(&config.backends, errors);
    config.xdp_forward = super::l4::build(&proxies, &config, errors);
    for px in &proxies {
        let rules = if px.kind.frontend() {
            px.tcp.frontend_rules()
        } else {
            px.tcp.backend_rules()
        };
        let w = tcp_rules::inspect_delay_warning(px.kind.name(), &px.name, &px.location, &rules);
        config.warnings.extend(w);
    }
    let push_down = super::xdp::push_down_warnings(&config);
    config.warnings.extend(push_down);
    config
}

/// Frontends must have distinct names, and so must backends (a listen section is both).
fn check_names(proxies: &[ProxyDraft], errors: &mut ConfigErrors) {
    let mut frontends: HashMap<&str, &ProxyDraft> = HashMap::new();
    let mut backends: HashMap<&str, &ProxyDraft> = HashMap::new();
    for px in proxies {
        for (has_cap, seen) in [
            (px.kind.frontend(), &mut frontends),
            (px.kind.backend(), &mut backends),
        ] {
            if !has_cap {
                continue;
            }
            match seen.get(px.name.as_str()) {
                Some(first) => {
                    let (other, first) = (first.kind.name(), first.location.clone());
                    let kind = ErrorKind::Duplicate {
                        what: px.kind.name(),
                        name: px.name.clone(),
                        other,
                        first,
                    };
                    errors.push(ConfigError::new(px.location.clone(), kind));
                }
                None => {
                    seen.insert(&px.name, px);
                }
            }
        }
    }
}

fn build_frontend(px: &ProxyDraft, global: &Global, errors: &mut ConfigErrors) -> Frontend {
    if px.binds.is_empty() {
        let reason = format!("{} '{}' has no 'bind' directive", px.kind.name(), px.name);
        let e = ConfigError::new(px.location.clone(), ErrorKind::Consistency(reason));
        errors.push(e.with_hint("declare it as a backend if this was intended"));
    }
    let own = px.default_backend.as_ref().map(|(name, _)| name.clone());
    let default_backend = own.or_else(|| (px.kind == ProxyKind::Listen).then(|| px.name.clone()));
    Frontend {
        name: px.name.clone(),
        location: px.location.clone(),
        mode: px.mode,
        binds: px.binds.clone(),
        maxconn: px.maxconn,
        timeouts: px.timeouts,
        default_backend,
        use_backends: px.use_backends.clone(),
        logs: expand_logs(&px.logs, global),
        tcplog: px.tcplog || px.http_log.tcplog_fallback(px.mode),
        rules: px.tcp.frontend_rules(),
        stick_table: px.stick_table.clone(),
        http_rules: px.http_rules.rules(),
        http_captures: px.http_rules.captures(),
        compression: px.compression.clone(),
        http_log: px.http_log.resolve(px.mode, errors),
        http: px.http.clone(),
    }
}

fn build_backend(px: &ProxyDraft, global: &Global, errors: &mut ConfigErrors) -> Backend {
    let check = px.check.resolve().unwrap_or_else(|e| {
        errors.push(e);
        CheckKind::Tcp
    });
    let mut servers = build_servers(&px.name, &px.servers, &check, errors);
    super::cookie::apply_dynamic(&mut servers, &px.persist);
    Backend {
        name: px.name.clone(),
        location: px.location.clone(),
        mode: px.mode,
        balance: px.balance.clone(),
        balance_location: px.balance_location.clone(),
        hash_type: px.hash_type,
        servers,
        retries: px.retries,
        redispatch: px.redispatch,
        allbackups: px.allbackups,
        timeouts: px.timeouts,
        check,
        logs: expand_logs(&px.logs, global),
        tcplog: px.tcplog,
        rules: px.tcp.backend_rules(),
        http_rules: px.http_rules.rules(),
        stick_table: px.stick_table.clone(),
        stick_rules: px.stick_rules.clone(),
        persist: px.persist.clone(),
        compression: px.compression.clone(),
        http: px.http.clone(),
    }
}

/// `log global` lines become the global section's targets.
fn expand_logs(lines: &[LogLine], global: &Global) -> Vec<LogTarget> {
    let mut out = Vec::new();
    for line in lines {
        match line {
            LogLine::Global(_) => out.extend(global.logs.iter().cloned()),
            LogLine::Target(t) => out.push(t.clone()),
        }
    }
    out
}

/// Every `default_backend` / `use_backend` must name a backend.
fn check_backend_refs(proxies: &[ProxyDraft], config: &Config, errors: &mut ConfigErrors) {
    for px in proxies.iter().filter(|p| p.kind.frontend()) {
        let default = px
            .default_backend
            .iter()
            .map(|(name, loc)| ("default_backend", name, loc));
        // Dynamic names are resolved per stream.
        let rules = px.use_backends.iter().filter_map(|u| match &u.backend {
            BackendRef::Static(name) => Some(("use_backend", name, &u.location)),
            BackendRef::Dynamic(_) => None,
        });
        for (rule, backend, location) in default.chain(rules) {
            if config.backend(backend).is_some() {
                continue;
            }
            let kind = ErrorKind::UnknownBackend {
                proxy_kind: px.kind.name(),
                proxy: px.name.clone(),
                rule,
                backend: backend.clone(),
            };
            let mut e = ConfigError::new(location.clone(), kind);
            if config.frontends.iter().any(|f| &f.name == backend) {
                e = e.with_hint(format!("'{backend}' is a frontend, not a backend"));
            }
            errors.push(e);
        }
    }
}
