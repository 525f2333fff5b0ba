//! The section state machine: splits files into lines, starts sections, hands each line to
//! its section's keyword parser, and collects every error (parsing never stops at the first).

use std::path::Path;

use super::draft::{ProxyDraft, ProxyKind};
use super::error::{ConfigError, ConfigErrors, ErrorKind};
use super::finalize::finalize;
use super::lexer::split_line;
use super::line::{Line, invalid_name_char};
use super::model::{Config, DEFAULT_BUFSIZE, Global, Location, XdpSection};
use super::stick::{self, PeersDraft};
use super::{global, names, proxy, tcp_rules, xdp};

/// Sections HAProxy has and we do not, with the feature that will bring them.
const UNSUPPORTED_SECTIONS: &[(&str, &str)] = &[
    ("resolvers", "DNS resolvers"),
    ("mailers", "email alerts"),
    ("program", "master-worker mode"),
    ("cache", "the HTTP cache"),
    ("ring", "log rings"),
    ("log-forward", "log forwarding"),
    ("fcgi-app", "FastCGI"),
];

/// The section the next line belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Current {
    None,
    Global,
    Defaults(usize),
    Proxy(usize),
    Xdp,
    /// A `peers` section.
    Peers(usize),
    /// A `userlist` section.
    Userlist(usize),
    /// An `http-errors` section.
    HttpErrors(usize),
    /// An unsupported section (already reported): its lines are skipped.
    Skipped,
}

/// Accumulates sections over one or more files.
pub(crate) struct Parser<'e> {
    env: &'e dyn Fn(&str) -> Option<String>,
    errors: ConfigErrors,
    global: Global,
    defaults: Vec<ProxyDraft>,
    last_defaults: Option<usize>,
    proxies: Vec<ProxyDraft>,
    xdp: Option<XdpSection>,
    peers: Vec<PeersDraft>,
    userlists: Vec<super::userlist::UserlistDraft>,
    http_errors: Vec<super::http::HttpErrors>,
    current: Current,
    /// Value of the `.SECTION` pseudo-variable.
    section_name: String,
    /// Files in the order they were read, to sort errors.
    files: Vec<std::path::PathBuf>,
}

impl<'e> Parser<'e> {
    /// A parser looking environment variables up with `env`.
    pub fn new(env: &'e dyn Fn(&str) -> Option<String>) -> Self {
        Self {
            env,
            errors: ConfigErrors::default(),
            global: Global {
                bufsize: DEFAULT_BUFSIZE,
                ..Global::default()
            },
            defaults: Vec::new(),
            last_defaults: None,
            proxies: Vec::new(),
            xdp: None,
            peers: Vec::new(),
            userlists: {
                // Userlist references made while parsing this configuration resolve
                // to its own sections only.
                crate::http_rules::userlist::begin();
                Vec::new()
            },
            http_errors: Vec::new(),
            current: Current::None,
            section_name: String::new(),
            files: Vec::new(),
        }
    }

    /// Records an error that is not about a line (e.g. an unreadable file).
    pub fn error(&mut self, e: ConfigError) {
        self.errors.push(e);
    }

    /// Parses the text of one file; sections may continue from the previous file.
    pub fn feed(&mut self, file: &Path, text: &str) {
        self.files.push(file.to_path_buf());
        for (n, raw) in text.lines().enumerate() {
            let loc = Location {
                file: file.to_path_buf(),
                line: n + 1,
            };
            self.feed_line(loc, raw);
        }
    }

    fn feed_line(&mut self, loc: Location, raw: &str) {
        if raw.trim_start().starts_with('[') {
            let e = ConfigError::new(
                loc,
                ErrorKind::NotSupportedYet {
                    keyword: "[scope]".into(),
                    feature: "configuration scopes",
                },
            );
            return self.errors.push(e);
        }
        let words = match self.split(&loc, raw) {
            Ok(words) if words.is_empty() => return,
            Ok(words) => words,
            Err(e) => {
                return self
                    .errors
                    .push(ConfigError::new(loc, ErrorKind::Syntax(e)));
            }
        };
        let line = Line::new(loc, words);
        if let Err(e) = self.parse_line(&line) {
            self.errors.push(e);
        }
    }

    fn split(&self, loc: &Location, raw: &str) -> Result<Vec<String>, super::lexer::LexError> {
        let external = self.env;
        let env = |name: &str| match name {
            ".FILE" => Some(loc.file.display().to_string()),
            ".LINE" => Some(loc.line.to_string()),
            ".SECTION" => Some(self.section_name.clone()),
            _ if name.starts_with('.') => None,
            _ => external(name),
        };
        split_line(raw, &env)
    }

    fn parse_line(&mut self, line: &Line) -> Result<(), ConfigError> {
        let kw = line.kw();
        if kw.starts_with('.') {
            return Err(directive(line));
        }
        if self.start_section(line)? {
            return Ok(());
        }
        match self.current {
            Current::None => Err(line.err(ErrorKind::OutOfSection { keyword: kw.into() })),
            Current::Global => global::parse_keyword(&mut self.global, line),
            Current::Defaults(i) => proxy::parse_keyword(&mut self.defaults[i], line),
            Current::Proxy(i) => proxy::parse_keyword(&mut self.proxies[i], line),
            Current::Xdp => match self.xdp.as_mut() {
                Some(x) => xdp::parse_keyword(x, line),
                None => Ok(()),
            },
            Current::Peers(i) => stick::peers_keyword(&mut self.peers[i], line),
            Current::Userlist(i) => super::userlist::parse_keyword(&mut self.userlists[i], line),
            Current::HttpErrors(i) => super::http::http_errors_line(&mut self.http_errors[i], line),
            Current::Skipped => Ok(()),
        }
    }

    /// Starts a new section when `line` is a section keyword; returns whether it was one.
    fn start_section(&mut self, line: &Line) -> Result<bool, ConfigError> {
        let kind = match line.kw() {
            "global" => Some(None),
            "defaults" => Some(Some(ProxyKind::Defaults)),
            "frontend" => Some(Some(ProxyKind::Frontend)),
            "backend" => Some(Some(ProxyKind::Backend)),
            "listen" => Some(Some(ProxyKind::Listen)),
            "xdp" => None,
            "peers" => {
                line.no_modifier()?;
                return self.start_peers(line).map(|()| true);
            }
            "userlist" => {
                line.no_modifier()?;
                let started = super::userlist::start(line, &self.userlists);
                let draft = started.as_ref().ok().cloned().unwrap_or_else(|| {
                    super::userlist::UserlistDraft {
                        list: crate::http_rules::userlist::Userlist::default(),
                        location: line.loc.clone(),
                    }
                });
                self.userlists.push(draft);
                self.enter(Current::Userlist(self.userlists.len() - 1), line);
                return started.map(|_| true);
            }
            "http-errors" => {
                line.no_modifier()?;
                let name = line.required(1, "http-errors", "<name> as argument")?;
                line.max_args(1, "http-errors")?;
                self.http_errors.push(super::http::HttpErrors {
                    name: name.to_owned(),
                    pages: Vec::new(),
                });
                self.enter(Current::HttpErrors(self.http_errors.len() - 1), line);
                return Ok(true);
            }
            kw => {
                let Some((_, feature)) = UNSUPPORTED_SECTIONS.iter().find(|(s, _)| *s == kw) else {
                    return Ok(false);
                };
                self.enter(Current::Skipped, line);
                return Err(line.unsupported(format!("{kw} (section)"), feature));
            }
        };
        line.no_modifier()?;
        match kind {
            Some(None) => {
                self.enter(Current::Global, line);
                line.max_args(0, "global")?;
            }
            Some(Some(kind)) => self.start_proxy(kind, line)?,
            None => self.start_xdp(line)?,
        }
        Ok(true)
    }

    fn enter(&mut self, current: Current, line: &Line) {
        self.current = current;
        self.section_name = line.arg(1).unwrap_or(line.kw()).to_owned();
    }

    fn start_peers(&mut self, line: &Line) -> Result<(), ConfigError> {
        match stick::peers_section(line, &self.peers) {
            Ok(p) => {
                self.peers.push(p);
                self.enter(Current::Peers(self.peers.len() - 1), line);
                Ok(())
            }
            Err(e) => {
                self.enter(Current::Skipped, line);
                Err(e)
            }
        }
    }

    fn start_xdp(&mut self, line: &Line) -> Result<(), ConfigError> {
        self.enter(Current::Xdp, line);
        if let Some(first) = &self.xdp {
            let reason = format!(
                "only one 'xdp' section is allowed (the first one is at {})",
                first.location
            );
            return Err(line.invalid("xdp", reason));
        }
        self.xdp = Some(xdp::new_section(line.loc.clone()));
        line.max_args(0, "xdp")
    }

    fn start_proxy(&mut self, kind: ProxyKind, line: &Line) -> Result<(), ConfigError> {
        let header = parse_header(kind, line);
        let (name, from) = match &header {
            Ok((name, from)) => (name.as_str(), from.as_deref()),
            Err(_) => ("", None),
        };
        let parent = match from {
            Some(f) => self.named_defaults(f, kind, name, line),
            None if kind == ProxyKind::Defaults => Ok(None),
            None => Ok(self.last_defaults),
        };
        let mut draft = match parent {
            Ok(Some(i)) => ProxyDraft::inherit(&self.defaults[i], kind, name, line.loc.clone()),
            _ => ProxyDraft::new(kind, name, line.loc.clone()),
        };
        let inherit = match parent {
            Ok(Some(i)) => tcp_rules::check_inherit(&mut self.defaults[i], kind, line)
                .and_then(|()| super::http_rules::check_inherit(&mut self.defaults[i], kind, line)),
            _ => Ok(()),
        };
        draft.broken = header.is_err() || (kind != ProxyKind::Defaults && name.is_empty());
        if kind == ProxyKind::Defaults {
            self.defaults.push(draft);
            self.last_defaults = Some(self.defaults.len() - 1);
            self.enter(Current::Defaults(self.defaults.len() - 1), line);
        } else {
            self.proxies.push(draft);
            self.enter(Current::Proxy(self.proxies.len() - 1), line);
        }
        header?;
        inherit?;
        parent.map(|_| ())
    }

    /// Finds the `defaults` section called `name` for `from name`.
    fn named_defaults(
        &self,
        name: &str,
        kind: ProxyKind,
        proxy: &str,
        line: &Line,
    ) -> Result<Option<usize>, ConfigError> {
        let mut found = self
            .defaults
            .iter()
            .enumerate()
            .filter(|(_, d)| d.name == name);
        let Some((i, first)) = found.next() else {
            let reason = format!(
                "defaults section '{name}' not found for {} '{proxy}'",
                kind.name()
            );
            return Err(line.invalid("from", reason));
        };
        if let Some((_, second)) = found.next() {
            let reason = format!(
                "ambiguous defaults section name '{name}' referenced by {} '{proxy}' exists at least at {} and {}",
                kind.name(),
                first.location,
                second.location
            );
            return Err(line.invalid("from", reason));
        }
        Ok(Some(i))
    }

    /// Resolves everything; returns the configuration or every error found.
    ///
    /// As in HAProxy, the configuration-wide checks (backend references, `track`, check
    /// ports...) only run once every line parsed: otherwise a bad line would cascade into
    /// misleading errors (a rejected `server` line reported again as a missing `track`
    /// target).
    pub fn finish(mut self) -> Result<Config, ConfigErrors> {
        let mut list_errors = Vec::new();
        for u in std::mem::take(&mut self.userlists) {
            super::userlist::finish(u, &mut list_errors);
        }
        for e in list_errors {
            self.errors.push(e);
        }
        if !self.errors.is_empty() {
            return Err(dedup(self.errors));
        }
        let xdp = self.xdp.take();
        if let Some(x) = xdp.as_ref().filter(|x| x.interfaces.is_empty()) {
            let reason = "'xdp' section declares no 'interface'".into();
            let e = ConfigError::new(x.location.clone(), ErrorKind::Consistency(reason));
            self.errors.push(e);
        }
        let mut warnings: Vec<ConfigError> = self
            .defaults
            .iter()
            .chain(&self.proxies)
            .flat_map(|p| p.tcp.warnings.iter().chain(&p.http_rules.warnings).cloned())
            .collect();
        // Taken before `finalize` consumes the sections: checked once tables are known.
        let acl_lines: Vec<names::AclLines> = self
            .defaults
            .iter_mut()
            .map(|d| (d, true))
            .chain(self.proxies.iter_mut().map(|p| (p, false)))
            .map(|(p, defaults)| (p.name.clone(), defaults, std::mem::take(&mut p.acl_lines)))
            .collect();
        let mut config = finalize(self.global, self.proxies, xdp, &mut self.errors);
        stick::finish(
            &mut config,
            std::mem::take(&mut self.peers),
            &mut self.errors,
        );
        tcp_rules::check_tables(&config, &mut self.errors);
        super::http::finish(&mut config, &self.http_errors, &mut self.errors);
        names::check(&config, &acl_lines, &mut self.errors);
        super::http_rules::check_tables(&config, &mut self.errors);
        // Userlists referenced where `names` does not look (log formats...).
        for name in crate::http_rules::userlist::finish() {
            let reason = format!("unable to find userlist '{name}'");
            if self.errors.iter().any(|e| e.message().contains(&reason)) {
                continue;
            }
            let loc = Location {
                file: self.files.first().cloned().unwrap_or_default(),
                line: 0,
            };
            self.errors
                .push(ConfigError::new(loc, ErrorKind::Consistency(reason)));
        }
        warnings.extend(super::balance::rdp_cookie_warnings(&config));
        warnings.extend(super::http_rules::mode_warnings(&config));
        warnings.extend(super::balance::http_algo_fallback(&mut config));
        let files = &self.files;
        let file_rank = |f: &Path| files.iter().position(|x| x == f).unwrap_or(usize::MAX);
        if self.errors.is_empty() {
            warnings.append(&mut config.warnings);
            warnings.sort_by_key(|e| (file_rank(&e.location.file), e.location.line));
            config.warnings = dedup(ConfigErrors(warnings)).0;
            return Ok(config);
        }
        self.errors
            .0
            .sort_by_key(|e| (file_rank(&e.location.file), e.location.line));
        Err(dedup(self.errors))
    }
}

/// Drops repeated errors (an inherited `defaults` line is checked once per proxy).
fn dedup(errors: ConfigErrors) -> ConfigErrors {
    let mut unique: Vec<ConfigError> = Vec::new();
    for e in errors.0 {
        if !unique.contains(&e) {
            unique.push(e);
        }
    }
    ConfigErrors(unique)
}

/// `frontend NAME [from DEFAULTS]`, `defaults [NAME] [from DEFAULTS]`, `defaults from X`.
fn parse_header(kind: ProxyKind, line: &Line) -> Result<(String, Option<String>), ConfigError> {
    let section = kind.name();
    let (name, rest) = match (kind, line.arg(1)) {
        (ProxyKind::Defaults, None) => return Ok((String::new(), None)),
        (ProxyKind::Defaults, Some("from")) if line.words.len() == 3 => ("", 1),
        (_, Some(name)) if !name.is_empty() => (name, 2),
        _ => return Err(line.missing(section, "an <id> argument")),
    };
    if let Some(c) = invalid_name_char(name) {
        return Err(line.invalid(
            section,
            format!("character '{c}' is not permitted in '{section}' name '{name}'"),
        ));
    }
    let from = match (line.arg(rest), line.arg(rest + 1)) {
        (None, _) => None,
        (Some("from"), Some(parent)) if line.words.len() == rest + 2 => Some(parent.to_owned()),
        (Some(extra), _) => {
            let e = line.err(ErrorKind::UnexpectedArgument {
                keyword: section.into(),
                argument: extra.into(),
            });
            return Err(if kind.frontend() && kind != ProxyKind::Defaults {
                e.with_hint("please use the 'bind' keyword for listening addresses")
            } else {
                e
            });
        }
    };
    Ok((name.to_owned(), from))
}

/// `.if`, `.warning`...: HAProxy's directives.
fn directive(line: &Line) -> ConfigError {
    let kw = line.kw();
    match kw {
        ".if" | ".elif" | ".else" | ".endif" | ".alert" | ".warning" | ".notice" | ".diag" => {
            line.unsupported(kw, "conditional blocks and directives")
        }
        _ => line.invalid(kw, format!("unknown directive '{kw}'")),
    }
}
