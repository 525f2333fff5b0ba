//! Log settings of HTTP frontends: `option httplog [clf]`, `log-format`, `option
//! dontlognull`, `option log-separate-errors`, `unique-id-format`, `unique-id-header` and
//! `capture cookie`.
//!
//! As in HAProxy, `option tcplog`, `option httplog` and `log-format` all set the same
//! thing (the last one wins), and format strings are parsed once the section's `mode` is
//! known (HTTP-only variables are refused in TCP mode), when the proxy is finalized.

use super::cookie::CaptureCookie;
use super::draft::ProxyDraft;
use super::error::{ConfigError, ConfigErrors, ErrorKind};
use super::line::{Line, Modifier};
use super::model::{Location, Mode};
use super::proxy::{Cap, require};
use crate::logformat::{LogFormat, ParseOptions};

/// `option httplog`'s format, as HAProxy 2.6 declares it.
pub const HTTPLOG_FORMAT: &str = "%ci:%cp [%tr] %ft %b/%s %TR/%Tw/%Tc/%Tr/%Ta %ST %B %CC %CS \
                                  %tsc %ac/%fc/%bc/%sc/%rc %sq/%bq %hr %hs %{+Q}r";

/// `option httplog clf`'s format.
pub const CLF_HTTPLOG_FORMAT: &str = "%{+Q}o %{-Q}ci - - [%trg] %r %ST %B \"\" \"\" %cp %ms %ft \
                                      %b %s %TR %Tw %Tc %Tr %Ta %tsc %ac %fc %bc %sc %rc %sq \
                                      %bq %CC %CS %hrl %hsl";

/// `option tcplog`'s format (used when `log-format` text refers to it).
pub const TCPLOG_FORMAT: &str =
    "%ci:%cp [%t] %ft %b/%s %Tw/%Tc/%Tt %B %ts %ac/%fc/%bc/%sc/%rc %sq/%bq";

/// Which format a frontend logs with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum FormatSource {
    /// `option httplog`.
    Http,
    /// `option httplog clf`.
    Clf,
    /// `log-format STRING`.
    Custom(String),
}

/// The log settings while the section is parsed.
#[derive(Debug, Clone, Default)]
pub(crate) struct HttpLogDraft {
    pub format: Option<(FormatSource, Location)>,
    pub dontlognull: bool,
    pub log_separate_errors: bool,
    pub unique_id_format: Option<(String, Location)>,
    pub unique_id_header: Option<String>,
    pub capture_cookie: Option<CaptureCookie>,
}

/// The resolved log settings of a frontend.
#[derive(Debug, Clone, Default)]
pub struct HttpLogCfg {
    /// The format of the line written when a transaction ends (`option httplog`,
    /// `option httplog clf` or `log-format`); `None` when none was configured.
    pub format: Option<LogFormat>,
    /// Whether `format` is `option httplog clf` (the CLF line).
    pub clf: bool,
    /// `option dontlognull`: connections that sent no request are not logged.
    pub dontlognull: bool,
    /// `option log-separate-errors`: errors, 5xx and retries log at level `err`.
    pub log_separate_errors: bool,
    /// `unique-id-format`: the request's unique id (`%ID`, `unique-id` fetch).
    pub unique_id_format: Option<LogFormat>,
    /// `unique-id-header NAME`: the unique id is added to requests under that name.
    pub unique_id_header: Option<String>,
    /// `capture cookie NAME len N` (`%CC` / `%CS`).
    pub capture_cookie: Option<CaptureCookie>,
}

impl HttpLogDraft {
    /// The settings a new section inherits from `defaults` (`capture` never is).
    pub fn inherited(&self) -> Self {
        Self {
            capture_cookie: None,
            ..self.clone()
        }
    }

    /// Parses the format strings for a proxy of `mode`; an `option httplog` in a TCP
    /// frontend falls back to `option tcplog` as in HAProxy (see [`Self::tcplog_fallback`]).
    pub fn resolve(&self, mode: Mode, errors: &mut ConfigErrors) -> HttpLogCfg {
        let http = mode == Mode::Http;
        let (format, clf) = match &self.format {
            Some((FormatSource::Http, loc)) if http => (
                parse(HTTPLOG_FORMAT, loc, "option httplog", http, errors),
                false,
            ),
            Some((FormatSource::Clf, loc)) if http => (
                parse(CLF_HTTPLOG_FORMAT, loc, "option httplog", http, errors),
                true,
            ),
            Some((FormatSource::Custom(text), loc)) if http => {
                (parse(text, loc, "log-format", http, errors), false)
            }
            Some((FormatSource::Custom(_), loc)) => {
                // TCP streams log with `option tcplog` only, for now: refuse rather than
                // silently log nothing.
                errors.push(ConfigError::new(
                    loc.clone(),
                    ErrorKind::NotSupportedYet {
                        keyword: "log-format (in TCP mode)".into(),
                        feature: "custom TCP log formats",
                    },
                ));
                (None, false)
            }
            _ => (None, false),
        };
        let unique_id_format = self
            .unique_id_format
            .as_ref()
            .and_then(|(text, loc)| parse(text, loc, "unique-id-format", http, errors));
        HttpLogCfg {
            format,
            clf,
            dontlognull: self.dontlognull,
            log_separate_errors: self.log_separate_errors,
            unique_id_format,
            unique_id_header: self.unique_id_header.clone(),
            capture_cookie: self.capture_cookie.clone(),
        }
    }

    /// `option httplog` in a TCP proxy means `option tcplog` (HAProxy warns and falls
    /// back).
    pub fn tcplog_fallback(&self, mode: Mode) -> bool {
        mode == Mode::Tcp
            && matches!(
                self.format,
                Some((FormatSource::Http | FormatSource::Clf, _))
            )
    }
}

/// Parses a log-format string of the configuration, reporting errors at `loc`.
fn parse(
    text: &str,
    loc: &Location,
    what: &str,
    http: bool,
    errors: &mut ConfigErrors,
) -> Option<LogFormat> {
    LogFormat::parse(text, ParseOptions::log_format(http))
        .map_err(|e| {
            let kind = ErrorKind::Invalid {
                keyword: what.into(),
                reason: format!("failed to parse {what} '{text}' : {e}"),
            };
            errors.push(ConfigError::new(loc.clone(), kind));
        })
        .ok()
}

/// `option httplog [clf]`.
pub(crate) fn option_httplog(px: &mut ProxyDraft, line: &Line) -> Result<(), ConfigError> {
    if line.modifier != Modifier::None {
        return Err(line.invalid(
            "option",
            "negation/default is not supported for option 'httplog'",
        ));
    }
    let source = match line.arg(2) {
        None => FormatSource::Http,
        Some("clf") => FormatSource::Clf,
        Some(other) => {
            return Err(line.invalid(
                "option httplog",
                format!("expects no argument or 'clf', got '{other}'"),
            ));
        }
    };
    line.max_args(2, "option httplog")?;
    px.tcplog = false;
    px.http_log.format = Some((source, line.loc.clone()));
    Ok(())
}

/// `[no] option dontlognull` and `[no] option log-separate-errors`.
pub(crate) fn option_flag(px: &mut ProxyDraft, line: &Line, name: &str) -> Result<(), ConfigError> {
    require(px, line, &format!("option {name}"), Cap::Frontend)?;
    line.max_args(1, &format!("option {name}"))?;
    let on = line.modifier == Modifier::None;
    if name == "dontlognull" {
        px.http_log.dontlognull = on;
    } else {
        px.http_log.log_separate_errors = on;
    }
    Ok(())
}

/// `log-format STRING`.
pub(crate) fn log_format(px: &mut ProxyDraft, line: &Line) -> Result<(), ConfigError> {
    let text = line.required(1, "log-format", "an argument")?;
    line.max_args(1, "log-format")?;
    // HAProxy ignores it in backends (with a warning): logs are the frontend's.
    if !px.kind.frontend() {
        return Ok(());
    }
    px.tcplog = false;
    px.http_log.format = Some((FormatSource::Custom(text.to_owned()), line.loc.clone()));
    Ok(())
}

/// `unique-id-format STRING` / `unique-id-header NAME`.
pub(crate) fn unique_id(px: &mut ProxyDraft, line: &Line) -> Result<(), ConfigError> {
    let kw = line.kw().to_owned();
    let value = line.required(1, &kw, "an argument")?;
    line.max_args(1, &kw)?;
    // Ignored in backends, as HAProxy does (with a warning).
    if !px.kind.frontend() {
        return Ok(());
    }
    if kw == "unique-id-format" {
        px.http_log.unique_id_format = Some((value.to_owned(), line.loc.clone()));
    } else {
        px.http_log.unique_id_header = Some(value.to_owned());
    }
    Ok(())
}

/// `capture cookie NAME len N` (only one per frontend: a later line replaces it).
pub(crate) fn capture_cookie(px: &mut ProxyDraft, line: &Line) -> Result<(), ConfigError> {
    let cap = super::cookie::parse_capture_cookie(px, line)?;
    px.http_log.capture_cookie = Some(cap);
    Ok(())
}
