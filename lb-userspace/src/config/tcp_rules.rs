//! `tcp-request` and `tcp-response` lines of proxy sections, their inheritance from named
//! `defaults` sections, and HAProxy's placement warnings.
//!
//! As in HAProxy 2.6, a named `defaults` section may hold rules: the proxies that inherit
//! from it evaluate them before their own, which is what concatenating the lists gives,
//! since an `accept` there also ends the evaluation of the proxy's rules.

use std::collections::HashSet;
use std::time::Duration;

use super::draft::{ProxyDraft, ProxyKind};
use super::error::{ConfigError, ConfigErrors, ErrorKind, did_you_mean};
use super::line::Line;
use super::model::{Config, Location};
use super::proxy::{Cap, require};
use super::tcp_action::{RuleSet, parse_rule};
use crate::rules::{Action, ProxyRules, TcpRule};

/// The rules of one section, per rule set.
#[derive(Debug, Clone, Default)]
pub(crate) struct RuleLists {
    pub connection: Vec<TcpRule>,
    pub session: Vec<TcpRule>,
    pub content: Vec<TcpRule>,
    pub response: Vec<TcpRule>,
}

impl RuleLists {
    fn is_empty(&self) -> bool {
        self.connection.is_empty()
            && self.session.is_empty()
            && self.content.is_empty()
            && self.response.is_empty()
    }

    fn list_mut(&mut self, set: RuleSet) -> &mut Vec<TcpRule> {
        match set {
            RuleSet::Connection => &mut self.connection,
            RuleSet::Session => &mut self.session,
            RuleSet::Content => &mut self.content,
            RuleSet::Response => &mut self.response,
        }
    }
}

/// The layer-4 rules of a section being parsed.
#[derive(Debug, Clone, Default)]
pub(crate) struct TcpDraft {
    /// Rules written in this section.
    pub own: RuleLists,
    /// Rules of the `defaults` section this one inherits from (evaluated first).
    pub inherited: RuleLists,
    /// `tcp-request inspect-delay` (inherited from `defaults`, as in HAProxy).
    pub inspect_delay: Option<Duration>,
    /// `tcp-response inspect-delay`.
    pub response_inspect_delay: Option<Duration>,
    /// For a `defaults` section with rules: the kind of the first proxy using it.
    pub used_by: Option<ProxyKind>,
    /// Warnings found while parsing (reported, not fatal).
    pub warnings: Vec<ConfigError>,
}

impl TcpDraft {
    /// What a section inheriting from this `defaults` section starts with.
    pub fn inherited(&self) -> Self {
        Self {
            inherited: self.own.clone(),
            inspect_delay: self.inspect_delay,
            response_inspect_delay: self.response_inspect_delay,
            ..Self::default()
        }
    }

    fn all(&self, set: RuleSet) -> Vec<TcpRule> {
        let mut inherited = self.inherited.clone();
        let mut own = self.own.clone();
        let mut rules = std::mem::take(inherited.list_mut(set));
        rules.append(own.list_mut(set));
        rules
    }

    /// The rules a frontend (or the front half of a listen) evaluates.
    pub fn frontend_rules(&self) -> ProxyRules {
        ProxyRules {
            inspect_delay: self.inspect_delay,
            response_inspect_delay: None,
            connection: self.all(RuleSet::Connection),
            session: self.all(RuleSet::Session),
            content: self.all(RuleSet::Content),
            response: Vec::new(),
        }
    }

    /// The rules a backend (or the back half of a listen) evaluates.
    pub fn backend_rules(&self) -> ProxyRules {
        ProxyRules {
            inspect_delay: self.inspect_delay,
            response_inspect_delay: self.response_inspect_delay,
            connection: Vec::new(),
            session: Vec::new(),
            content: self.all(RuleSet::Content),
            response: self.all(RuleSet::Response),
        }
    }
}

/// `tcp-request inspect-delay|connection|session|content ...`.
pub(crate) fn parse_tcp_request(px: &mut ProxyDraft, line: &Line) -> Result<(), ConfigError> {
    let sub = line.arg(1).unwrap_or("");
    let set = match sub {
        "inspect-delay" => {
            anonymous_defaults(px, line, "tcp-request inspect-delay")?;
            return inspect_delay(px, line, false);
        }
        "connection" => RuleSet::Connection,
        "session" => RuleSet::Session,
        "content" => RuleSet::Content,
        "" => {
            let expected = "'inspect-delay', 'connection', 'session' or 'content'";
            return Err(line.missing("tcp-request", expected));
        }
        other => {
            let reason = format!(
                "expects 'inspect-delay', 'connection', 'session' or 'content' (got '{other}')"
            );
            let names = ["inspect-delay", "connection", "session", "content"];
            return Err(line
                .invalid("tcp-request", reason)
                .with_suggestion(did_you_mean(other, names)));
        }
    };
    anonymous_defaults(px, line, set.keyword())?;
    if set != RuleSet::Content {
        require(px, line, set.keyword(), Cap::Frontend)?;
    }
    add_rule(px, line, set)
}

/// `tcp-response inspect-delay|content ...`.
pub(crate) fn parse_tcp_response(px: &mut ProxyDraft, line: &Line) -> Result<(), ConfigError> {
    let sub = line.arg(1).unwrap_or("");
    let kw = match sub {
        "inspect-delay" => "tcp-response inspect-delay",
        "content" => "tcp-response content",
        "" => return Err(line.missing("tcp-response", "'inspect-delay' or 'content'")),
        other => {
            let reason = format!("expects 'inspect-delay' or 'content' (got '{other}')");
            return Err(line
                .invalid("tcp-response", reason)
                .with_suggestion(did_you_mean(other, ["inspect-delay", "content"])));
        }
    };
    anonymous_defaults(px, line, kw)?;
    require(px, line, kw, Cap::Backend)?;
    if sub == "inspect-delay" {
        return inspect_delay(px, line, true);
    }
    add_rule(px, line, RuleSet::Response)
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

fn inspect_delay(px: &mut ProxyDraft, line: &Line, response: bool) -> Result<(), ConfigError> {
    let kw = if response {
        "tcp-response inspect-delay"
    } else {
        "tcp-request inspect-delay"
    };
    let value = line.required(2, kw, "a positive delay in milliseconds")?;
    line.max_args(2, kw)?;
    let delay = Some(line.time(kw, value)?).filter(|d| !d.is_zero());
    let slot = if response {
        &mut px.tcp.response_inspect_delay
    } else {
        &mut px.tcp.inspect_delay
    };
    if slot.is_some() {
        // HAProxy keeps the first value, including one inherited from defaults.
        let reason = format!(
            "ignoring {kw} (was already defined) in {} '{}'",
            px.kind.name(),
            px.name
        );
        px.tcp
            .warnings
            .push(line.err(ErrorKind::Consistency(reason)));
        return Ok(());
    }
    *slot = delay;
    Ok(())
}

fn add_rule(px: &mut ProxyDraft, line: &Line, set: RuleSet) -> Result<(), ConfigError> {
    let rule = parse_rule(set, px, line)?;
    if let Some(w) = misplaced(px, line, set) {
        px.tcp.warnings.push(w);
    }
    if matches!(set, RuleSet::Connection | RuleSet::Session) && rule.waits_for_data() {
        // HAProxy: "acl ... will never match ... incompatible with ...".
        let reason = format!(
            "the condition depends on the request contents, which '{}' rules run before: \
             it is evaluated on no data",
            set.keyword()
        );
        px.tcp
            .warnings
            .push(line.err(ErrorKind::Consistency(reason)));
    }
    let list = px.tcp.own.list_mut(set);
    if let Some(prev) = list
        .last()
        .filter(|r| r.cond.is_none() && r.action.is_final())
    {
        let reason = format!(
            "previous '{}' action at line {} is final and has no condition attached, further entries are NOOP",
            set.keyword(),
            prev.location.line
        );
        px.tcp
            .warnings
            .push(line.err(ErrorKind::Consistency(reason)));
    }
    list.push(rule);
    Ok(())
}

/// HAProxy's warning for a rule written after rules that are processed later.
fn misplaced(px: &ProxyDraft, line: &Line, set: RuleSet) -> Option<ConfigError> {
    let own = &px.tcp.own;
    let later = match set {
        RuleSet::Connection if !own.session.is_empty() => "a 'tcp-request session'",
        RuleSet::Connection | RuleSet::Session if !own.content.is_empty() => {
            "a 'tcp-request content'"
        }
        RuleSet::Connection | RuleSet::Session | RuleSet::Content
            if !px.use_backends.is_empty() =>
        {
            "a 'use_backend'"
        }
        _ => return None,
    };
    let reason = format!(
        "a '{}' rule placed after {later} rule will still be processed before",
        set.keyword()
    );
    Some(line.err(ErrorKind::Consistency(reason)))
}

/// Checks that a proxy may inherit the rules of `defaults` (HAProxy's restrictions: the
/// rules must make sense for every proxy using them, and each proxy runs them once).
pub(crate) fn check_inherit(
    defaults: &mut ProxyDraft,
    kind: ProxyKind,
    line: &Line,
) -> Result<(), ConfigError> {
    let own = &defaults.tcp.own;
    if own.is_empty() {
        return Ok(());
    }
    let problem = match kind {
        ProxyKind::Defaults | ProxyKind::Listen => Some(format!(
            "a {} section cannot inherit from a defaults section defining TCP rules",
            kind.name()
        )),
        _ if defaults.tcp.used_by.is_some_and(|k| k != kind) => Some(
            "frontends and backends cannot inherit from the same defaults section defining TCP rules"
                .to_owned(),
        ),
        ProxyKind::Backend if !own.connection.is_empty() || !own.session.is_empty() => Some(
            "a backend section cannot inherit from a defaults section defining \
             'tcp-request connection' or 'tcp-request session' rules"
                .to_owned(),
        ),
        ProxyKind::Frontend if !own.response.is_empty() => Some(
            "a frontend section cannot inherit from a defaults section defining \
             'tcp-response content' rules"
                .to_owned(),
        ),
        _ => None,
    };
    if let Some(problem) = problem {
        let reason = format!("{problem} (defaults section at {})", defaults.location);
        return Err(line.err(ErrorKind::Consistency(reason)));
    }
    defaults.tcp.used_by = Some(kind);
    Ok(())
}

/// Every `track-sc*` must name a table that exists: a proxy's `stick-table` (the proxy's
/// own is the default) or a `peers` section's. Runs once the `peers` tables are known.
pub(crate) fn check_tables(config: &Config, errors: &mut ConfigErrors) {
    let tables: HashSet<&str> = config.stick_tables().map(|t| t.name.as_str()).collect();
    let sides = config
        .frontends
        .iter()
        .map(|f| (&f.name, &f.rules))
        .chain(config.backends.iter().map(|b| (&b.name, &b.rules)));
    for (proxy, rules) in sides {
        for rule in all_rules(rules) {
            let Action::TrackSc { sc, table, .. } = &rule.action else {
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

fn all_rules(rules: &ProxyRules) -> impl Iterator<Item = &TcpRule> {
    rules
        .connection
        .iter()
        .chain(&rules.session)
        .chain(&rules.content)
        .chain(&rules.response)
}

/// HAProxy's warning for content rules that wait for data with no inspect delay to wait
/// in: they are evaluated once, on whatever arrived with the first segment.
pub(crate) fn inspect_delay_warning(
    kind: &str,
    name: &str,
    location: &Location,
    rules: &ProxyRules,
) -> Option<ConfigError> {
    if rules.inspect_delay.is_some() || !rules.content_waits_for_data() {
        return None;
    }
    let reason = format!(
        "{kind} '{name}' : some 'tcp-request content' rules explicitly depending on request \
         contents without any 'tcp-request inspect-delay' setting. This means that these rules \
         will randomly find their contents. This can be fixed by setting the tcp-request \
         inspect-delay"
    );
    Some(ConfigError::new(
        location.clone(),
        ErrorKind::Consistency(reason),
    ))
}
