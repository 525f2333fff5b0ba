//! Load-time resolution of the names written in fetch and converter arguments (tables,
//! backends, frontends, servers), as HAProxy's `smp_resolve_args` does: a name that does
//! not exist refuses the configuration instead of silently yielding no sample at run time.
//!
//! Runs once every proxy and table is known. Each error is reported at the line of the
//! rule holding the expression, with HAProxy's wording.

use std::collections::HashSet;

use crate::acl::Condition;
use crate::rules::{ProxyRules, TcpRule};
use crate::sample::fetch_state::StateFetch;
use crate::sample::{Converter, Fetch, SampleExpr};
use crate::stick::fetch::Source;

use super::error::{ConfigError, ConfigErrors, ErrorKind};
use super::model::{BackendRef, Balance, Config, Location};

/// Where an expression sits, for the message and the error's line.
struct Site<'a> {
    /// The proxy holding the rule.
    proxy: &'a str,
    /// The line of the rule.
    location: &'a Location,
    /// HAProxy's "where" text (`in stick rule in`, or `in` for ACLs).
    place: &'static str,
    /// The expression is an ACL criterion (`ACL keyword` rather than `sample fetch keyword`).
    acl: bool,
    /// The proxy is a `defaults` section: arguments cannot default to its name.
    defaults: bool,
}

/// The `acl` lines of one section: its name, whether it is a `defaults` section, and the
/// criterion of each line with its location.
pub(crate) type AclLines = (String, bool, Vec<(Location, SampleExpr)>);

/// What names exist in the configuration.
struct Known<'c> {
    config: &'c Config,
    tables: HashSet<&'c str>,
}

/// Checks every sample expression of the configuration for names that do not exist:
/// the `acl` lines of every section (errors at the `acl` line, as HAProxy, whether the
/// ACL is used or not), then the expressions of rules and anonymous ACLs.
pub(crate) fn check(config: &Config, acl_lines: &[AclLines], errors: &mut ConfigErrors) {
    let known = Known {
        config,
        tables: config.stick_tables().map(|t| t.name.as_str()).collect(),
    };
    let mut out = Vec::new();
    for (proxy, defaults, lines) in acl_lines {
        for (location, e) in lines {
            let site = Site {
                proxy,
                location,
                place: "in",
                acl: true,
                defaults: *defaults,
            };
            expr(&known, e, &site, &mut out);
        }
    }
    for fe in &config.frontends {
        rules(&known, &fe.name, &fe.rules, &mut out);
        http_rules(&known, &fe.name, &fe.http_rules, &mut out);
        for ub in &fe.use_backends {
            let here = |place, acl| Site {
                proxy: &fe.name,
                location: &ub.location,
                place,
                acl,
                defaults: false,
            };
            if let BackendRef::Dynamic(lf) = &ub.backend {
                for e in lf.exprs() {
                    expr(
                        &known,
                        e,
                        &here("in use_backend expression in", false),
                        &mut out,
                    );
                }
            }
            cond(&known, ub.cond.as_ref(), &here("in", true), &mut out);
        }
    }
    for be in &config.backends {
        rules(&known, &be.name, &be.rules, &mut out);
        // A listen section's backend half holds its frontend half's HTTP rules.
        if !config.frontends.iter().any(|f| f.name == be.name) {
            http_rules(&known, &be.name, &be.http_rules, &mut out);
        }
        for rule in &be.stick_rules {
            let here = |place, acl| Site {
                proxy: &be.name,
                location: &rule.location,
                place,
                acl,
                defaults: false,
            };
            expr(
                &known,
                &rule.expr,
                &here("in stick rule in", false),
                &mut out,
            );
            cond(&known, rule.cond.as_ref(), &here("in", true), &mut out);
        }
        if let Balance::Hash(e) = &be.balance {
            let site = Site {
                proxy: &be.name,
                location: be.balance_location.as_ref().unwrap_or(&be.location),
                place: "in use-server or balance expression in",
                acl: false,
                defaults: false,
            };
            expr(&known, e, &site, &mut out);
        }
    }
    for (location, reason) in out {
        errors.push(ConfigError::new(location, ErrorKind::Consistency(reason)));
    }
}

fn rules(known: &Known<'_>, proxy: &str, rules: &ProxyRules, out: &mut Vec<(Location, String)>) {
    let phases: [(&[TcpRule], &'static str); 4] = [
        (&rules.connection, "in tcp-request connection expression in"),
        (&rules.session, "in tcp-request session expression in"),
        (&rules.content, "in tcp-request content expression in"),
        (&rules.response, "in tcp-response content expression in"),
    ];
    for (list, place) in phases {
        for rule in list {
            let here = |place, acl| Site {
                proxy,
                location: &rule.location,
                place,
                acl,
                defaults: false,
            };
            if let Some(e) = rule.action.expr() {
                let place = match rule.action {
                    crate::rules::Action::TrackSc { .. } => "in tracking rule in",
                    _ => place,
                };
                expr(known, e, &here(place, false), out);
            }
            cond(known, rule.cond.as_ref(), &here("in", true), out);
        }
    }
}

/// The expressions of HTTP rules (actions, log-format values, conditions).
fn http_rules(
    known: &Known<'_>,
    proxy: &str,
    rules: &crate::http_rules::HttpRules,
    out: &mut Vec<(Location, String)>,
) {
    use crate::http_rules::HttpAction;
    let lists: [(&[crate::http_rules::HttpRule], &'static str); 4] = [
        (&rules.request, "in http-request expression in"),
        (&rules.redirects, "in redirect expression in"),
        (&rules.response, "in http-response expression in"),
        (
            &rules.after_response,
            "in http-after-response expression in",
        ),
    ];
    for (list, place) in lists {
        for rule in list {
            let here = |place, acl| Site {
                proxy,
                location: &rule.location,
                place,
                acl,
                defaults: false,
            };
            let place = match rule.action {
                HttpAction::TrackSc { .. } => "in tracking rule in",
                _ => place,
            };
            for e in rule.action.exprs() {
                expr(known, e, &here(place, false), out);
            }
            cond(known, rule.cond.as_ref(), &here("in", true), out);
        }
    }
}

fn cond(
    known: &Known<'_>,
    cond: Option<&Condition>,
    site: &Site<'_>,
    out: &mut Vec<(Location, String)>,
) {
    for e in cond.into_iter().flat_map(Condition::anonymous_exprs) {
        expr(known, e, site, out);
    }
}

/// Checks one expression: its fetch's arguments, then its converters'.
fn expr(known: &Known<'_>, e: &SampleExpr, site: &Site<'_>, out: &mut Vec<(Location, String)>) {
    let fetch = e.fetch.name();
    let what = |conv: Option<&str>| {
        let conv = conv.map_or_else(String::new, |c| format!("conversion keyword '{c}' for "));
        let kind = if site.acl {
            "ACL keyword"
        } else {
            "sample fetch keyword"
        };
        format!(
            "{conv}{kind} '{fetch}' {} proxy '{}'",
            site.place, site.proxy
        )
    };
    let mut report = |reason: String| out.push((site.location.clone(), reason));
    match &e.fetch {
        Fetch::Stick(f) => {
            // `src_*` without a table reads the table of the proxy holding the rule
            // (HAProxy resolves the empty argument to it); `sc*_` read the tracked one.
            let table = match (f.table.as_deref(), f.source) {
                (Some(t), _) => Some(t),
                (None, Source::Src) if site.defaults => {
                    report(format!(
                        "table name must be set in arg {} of {}",
                        f.table_arg_pos(),
                        what(None)
                    ));
                    None
                }
                (None, Source::Src) => Some(site.proxy),
                (None, Source::Counter(_)) => None,
            };
            if let Some(t) = table.filter(|t| !known.tables.contains(t)) {
                report(format!(
                    "unable to find table '{t}' referenced in arg {} of {}",
                    f.table_arg_pos(),
                    what(None)
                ));
            }
        }
        Fetch::State(StateFetch::SrvIsUp { backend: None, .. }) if site.defaults => {
            report(format!(
                "backend name must be set in arg 1 of {}",
                what(None)
            ));
        }
        Fetch::State(f) => {
            if let Some(reason) = state_fetch(known, f, site.proxy, &what(None)) {
                report(reason);
            }
        }
        Fetch::Http(f) => {
            use crate::sample::fetch_http::HttpKind;
            if let HttpKind::Auth(list) | HttpKind::AuthGroup(list) = &f.kind
                && list.get().is_none()
            {
                report(format!(
                    "unable to find userlist '{}' referenced in arg 1 of {}",
                    list.name,
                    what(None)
                ));
            }
        }
        _ => {}
    }
    for conv in &e.convs {
        if let Converter::Table(tc) = conv
            && !known.tables.contains(tc.table.as_str())
        {
            report(format!(
                "unable to find table '{}' referenced in arg 1 of {}",
                tc.table,
                what(Some(&tc.keyword))
            ));
        }
    }
}

/// The error for a state fetch naming a proxy or server that does not exist.
fn state_fetch(known: &Known<'_>, f: &StateFetch, current: &str, what: &str) -> Option<String> {
    let config = known.config;
    let is_backend = |n: &str| config.backends.iter().any(|b| b.name == n);
    let is_frontend = |n: &str| config.frontends.iter().any(|f| f.name == n);
    if let StateFetch::SrvIsUp {
        backend: None,
        server,
    } = f
    {
        // Without a backend, the server is looked up in the proxy holding the rule.
        let found = config
            .backend(current)
            .is_some_and(|b| b.servers.iter().any(|s| &s.name == server));
        return (!found).then(|| {
            format!(
                "unable to find server '{server}' in proxy '{current}', referenced in arg 1 of {what}"
            )
        });
    }
    let r = f.proxy_ref()?;
    if let Some(server) = r.server {
        let Some(be) = config.backend(r.proxy) else {
            return Some(format!(
                "unable to find proxy '{}' referenced in arg 1 of {what}",
                r.proxy
            ));
        };
        return (!be.servers.iter().any(|s| s.name == server)).then(|| {
            format!(
                "unable to find server '{server}' in proxy '{}', referenced in arg 1 of {what}",
                r.proxy
            )
        });
    }
    let (exists, other, side, capability) = if r.frontend {
        (
            is_frontend(r.proxy),
            is_backend(r.proxy),
            "frontend",
            "frontend",
        )
    } else {
        (
            is_backend(r.proxy),
            is_frontend(r.proxy),
            "backend",
            "backend",
        )
    };
    match (exists, other) {
        (true, _) => None,
        (false, true) => Some(format!(
            "proxy '{}', referenced in arg 1 of {what}, has not {capability} capability",
            r.proxy
        )),
        (false, false) => Some(format!(
            "unable to find {side} '{}' referenced in arg 1 of {what}",
            r.proxy
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{errors, parse};

    fn frontend(extra: &[&str]) -> Vec<String> {
        let mut l: Vec<String> = [
            "frontend fe",
            "    bind :10000",
            "    stick-table type ip size 10 store gpc0,conn_rate(10s)",
            "    default_backend be",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        l.extend(extra.iter().map(|s| format!("    {s}")));
        l.push("backend be".into());
        l.push("    server s1 127.0.0.1:10080".into());
        l.push("listen lst".into());
        l.push("    bind :10001".into());
        l.push("    server s2 127.0.0.1:10080".into());
        l
    }

    /// The single error of `rule` placed on line 5 of a frontend.
    fn rule_error(rule: &str) -> String {
        let owned = frontend(&[rule]);
        let refs: Vec<&str> = owned.iter().map(String::as_str).collect();
        let errs = errors(&refs);
        assert_eq!(errs.len(), 1, "{errs:?}");
        let (line, msg) = errs.into_iter().next().unwrap();
        assert_eq!(line, 5, "{msg}");
        msg
    }

    fn valid(rule: &str) {
        let owned = frontend(&[rule]);
        let refs: Vec<&str> = owned.iter().map(String::as_str).collect();
        parse(&refs);
    }

    #[test]
    fn unknown_tables_are_refused() {
        assert_eq!(
            rule_error("tcp-request connection reject if { src_conn_rate(nope) gt 5 }"),
            "unable to find table 'nope' referenced in arg 1 of ACL keyword 'src_conn_rate' \
             in proxy 'fe'"
        );
        assert_eq!(
            rule_error("tcp-request connection reject if { sc_conn_rate(0,nope) gt 5 }"),
            "unable to find table 'nope' referenced in arg 2 of ACL keyword 'sc_conn_rate' \
             in proxy 'fe'"
        );
        assert_eq!(
            rule_error("tcp-request content set-var(sess.x) src,table_gpc0(nope)"),
            "unable to find table 'nope' referenced in arg 1 of conversion keyword 'table_gpc0' \
             for sample fetch keyword 'src' in tcp-request content expression in proxy 'fe'"
        );
        assert_eq!(
            rule_error("use_backend be if { src,table_gpc0(nope) gt 0 }"),
            "unable to find table 'nope' referenced in arg 1 of conversion keyword 'table_gpc0' \
             for ACL keyword 'src' in proxy 'fe'"
        );
        assert_eq!(
            rule_error("tcp-request connection track-sc0 sc0_get_gpc0(nope)"),
            "unable to find table 'nope' referenced in arg 1 of sample fetch keyword \
             'sc0_get_gpc0' in tracking rule in proxy 'fe'"
        );
        // Without a table, `src_*` read the current proxy's.
        let owned = [
            "frontend nt",
            "    bind :10002",
            "    tcp-request connection reject if { src_conn_rate gt 5 }",
            "    default_backend be",
            "backend be",
        ];
        let errs = errors(&owned);
        assert_eq!(
            errs,
            [(
                3,
                "unable to find table 'nt' referenced in arg 1 of ACL keyword 'src_conn_rate' \
                 in proxy 'nt'"
                    .to_owned()
            )]
        );
        valid("tcp-request connection reject if { src_conn_rate gt 5 } { sc0_conn_rate gt 1 }");
        // Tables that exist, in this proxy or another, pass.
        valid("tcp-request connection reject if { src_conn_rate(fe) gt 5 }");
        valid("tcp-request connection reject if { src,table_gpc0(fe) gt 5 }");
        valid("tcp-request connection reject if { sc_conn_rate(0,fe) gt 5 }");
    }

    #[test]
    fn unknown_proxies_and_servers_are_refused() {
        assert_eq!(
            rule_error("use_backend be if { nbsrv(nobe) gt 0 }"),
            "unable to find backend 'nobe' referenced in arg 1 of ACL keyword 'nbsrv' in proxy 'fe'"
        );
        assert_eq!(
            rule_error("use_backend be if { be_conn(x) gt 0 }"),
            "unable to find backend 'x' referenced in arg 1 of ACL keyword 'be_conn' in proxy 'fe'"
        );
        assert_eq!(
            rule_error("use_backend be if { fe_conn(x) gt 0 }"),
            "unable to find frontend 'x' referenced in arg 1 of ACL keyword 'fe_conn' in proxy 'fe'"
        );
        assert_eq!(
            rule_error("use_backend be if { fe_conn(be) gt 0 }"),
            "proxy 'be', referenced in arg 1 of ACL keyword 'fe_conn' in proxy 'fe', has not \
             frontend capability"
        );
        assert_eq!(
            rule_error("use_backend be if { connslots(fe) gt 0 }"),
            "proxy 'fe', referenced in arg 1 of ACL keyword 'connslots' in proxy 'fe', has not \
             backend capability"
        );
        assert_eq!(
            rule_error("use_backend be if { srv_is_up(nobe/s) }"),
            "unable to find proxy 'nobe' referenced in arg 1 of ACL keyword 'srv_is_up' in \
             proxy 'fe'"
        );
        assert_eq!(
            rule_error("use_backend be if { srv_is_up(be/s9) }"),
            "unable to find server 's9' in proxy 'be', referenced in arg 1 of ACL keyword \
             'srv_is_up' in proxy 'fe'"
        );
        // A frontend has no servers of its own.
        assert_eq!(
            rule_error("use_backend be if { srv_is_up(s1) }"),
            "unable to find server 's1' in proxy 'fe', referenced in arg 1 of ACL keyword \
             'srv_is_up' in proxy 'fe'"
        );
        valid("use_backend be if { nbsrv(be) gt 0 } { srv_is_up(be/s1) } { fe_conn(lst) ge 0 }");
        valid("use_backend be if { nbsrv(lst) gt 0 } { srv_is_up(lst/s2) } { be_conn(lst) ge 0 }");
        valid("use_backend %[nbsrv(be)]");
    }

    #[test]
    fn acl_lines_are_checked_where_they_are_even_unused() {
        let errs = errors(&[
            "defaults shared",
            "    mode tcp",
            "    acl hot src_conn_rate gt 10",
            "    acl up srv_is_up(s1)",
            "frontend fe from shared",
            "    bind :10000",
            "    acl unused be_conn(nobe) gt 1",
            "    acl used src,table_gpc0(nope) gt 1",
            "    acl used2 nbsrv(be) gt 0",
            "    use_backend be if used used2",
            "    default_backend be",
            "backend be",
            "    server s1 127.0.0.1:10080",
        ]);
        assert_eq!(
            errs,
            [
                (
                    3,
                    "table name must be set in arg 1 of ACL keyword 'src_conn_rate' in proxy \
                     'shared'"
                        .to_owned()
                ),
                (
                    4,
                    "backend name must be set in arg 1 of ACL keyword 'srv_is_up' in proxy \
                     'shared'"
                        .to_owned()
                ),
                (
                    7,
                    "unable to find backend 'nobe' referenced in arg 1 of ACL keyword 'be_conn' \
                     in proxy 'fe'"
                        .to_owned()
                ),
                (
                    8,
                    "unable to find table 'nope' referenced in arg 1 of conversion keyword \
                     'table_gpc0' for ACL keyword 'src' in proxy 'fe'"
                        .to_owned()
                ),
            ]
        );
    }

    #[test]
    fn every_holder_is_walked() {
        assert_eq!(
            rule_error("use_backend %[nbsrv(nobe)]"),
            "unable to find backend 'nobe' referenced in arg 1 of sample fetch keyword 'nbsrv' \
             in use_backend expression in proxy 'fe'"
        );
        let errs = errors(&[
            "backend be",
            "    stick-table type ip size 10 store server_id",
            "    balance hash src,table_gpc0(t1)",
            "    stick on src,table_server_id(t2)",
            "    stick match src if { srv_is_up(be/zz) }",
            "    tcp-response content accept if { be_conn(q) gt 0 }",
            "    server s1 127.0.0.1:10080",
        ]);
        let lines: Vec<usize> = errs.iter().map(|(l, _)| *l).collect();
        assert_eq!(lines, [3, 4, 5, 6], "{errs:?}");
        assert!(
            errs[0]
                .1
                .contains("in use-server or balance expression in proxy 'be'")
        );
        assert!(errs[1].1.contains(
            "'table_server_id' for sample fetch keyword 'src' in stick rule in proxy 'be'"
        ));
        assert!(errs[2].1.contains("server 'zz'"), "{}", errs[2].1);
        assert!(errs[3].1.contains("backend 'q'"), "{}", errs[3].1);
    }
}
