//! Fetches reading the run-time state around the stream: proxy and server names and
//! counters (`be_name`, `srv_name`, `nbsrv`, `srv_is_up`, `connslots`, `be_conn`,
//! `fe_conn`), the environment (`env`) and variables (`var`).
//!
//! Backend and server names are kept as written and resolved at evaluation against
//! [`StreamCtx::backends`] (parsing has no run-time state); [`StateFetch::check_names`]
//! lets the configuration reject unknown names at load time, as HAProxy does.

use std::borrow::Cow;
use std::sync::Arc;

use crate::backend::state::{BackendState, Backends};
use crate::sample::parse::Call;
use crate::sample::vars::VarName;
use crate::sample::{Sample, SampleError, SampleType, StreamCtx};

/// A proxy (and server) named by a fetch argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProxyRef<'a> {
    /// The backend or frontend name.
    pub proxy: &'a str,
    /// The server, for `srv_is_up(backend/server)`.
    pub server: Option<&'a str>,
    /// The name is a frontend's (`fe_conn`).
    pub frontend: bool,
}

/// The state fetches, with their parsed arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StateFetch {
    /// `be_name`: the backend's name (the frontend's before one is chosen, as HAProxy).
    BeName,
    /// `srv_name`: the server's name, once one is chosen.
    SrvName,
    /// `nbsrv([backend])`: usable servers of a backend.
    NbSrv(Option<String>),
    /// `srv_is_up([backend/]server)`: the server is up and not in maintenance.
    SrvIsUp {
        /// The backend; the current one when absent.
        backend: Option<String>,
        /// The server.
        server: String,
    },
    /// `connslots([backend])`: free connection and queue slots of a backend's servers.
    ConnSlots(Option<String>),
    /// `be_conn([backend])`: current connections of a backend.
    BeConn(Option<String>),
    /// `fe_conn([frontend])`: current connections of the frontend.
    FeConn(Option<String>),
    /// `env(NAME)`: an environment variable, read when evaluated.
    Env(String),
    /// `var(NAME[,DEFAULT])`: a variable, or the default as a string when it is unset.
    Var {
        /// The variable.
        name: VarName,
        /// What to return when it is not set.
        default: Option<String>,
    },
}

impl StateFetch {
    /// Builds the fetch called `call.name` if it is a state fetch.
    pub fn parse(call: &Call) -> Result<Option<Self>, SampleError> {
        let name = call.name.as_str();
        let args = call.args.as_slice();
        let opt_proxy = || -> Result<Option<String>, SampleError> {
            match args {
                [] => Ok(None),
                [p] if p.is_empty() => Ok(None),
                [p] => Ok(Some(p.clone())),
                _ => Err(bad(name, "too many arguments".into())),
            }
        };
        let fetch = match name {
            "be_name" => Self::BeName,
            "srv_name" => Self::SrvName,
            "nbsrv" => Self::NbSrv(opt_proxy()?),
            "connslots" => Self::ConnSlots(opt_proxy()?),
            "be_conn" => Self::BeConn(opt_proxy()?),
            "fe_conn" => Self::FeConn(opt_proxy()?),
            "srv_is_up" => {
                let [arg] = args else {
                    return Err(bad(name, "expects [<backend>/]<server>".into()));
                };
                let (backend, server) = match arg.split_once('/') {
                    Some((b, s)) => (Some(b.to_owned()), s.to_owned()),
                    None => (None, arg.clone()),
                };
                if server.is_empty() || backend.as_deref() == Some("") {
                    return Err(bad(name, format!("invalid server reference '{arg}'")));
                }
                Self::SrvIsUp { backend, server }
            }
            "env" => match args {
                [n] if !n.is_empty() => Self::Env(n.clone()),
                _ => return Err(bad(name, "expects the name of a variable".into())),
            },
            "var" => {
                let (var, default) = match args {
                    [v] => (v, None),
                    [v, d] => (v, Some(d.clone())),
                    _ => return Err(bad(name, "expects <var-name>[,<default>]".into())),
                };
                let var = VarName::parse(var).map_err(|e| bad(name, e.to_string()))?;
                Self::Var { name: var, default }
            }
            _ => return Ok(None),
        };
        if matches!(fetch, Self::BeName | Self::SrvName) && !args.is_empty() {
            return Err(bad(name, "this fetch takes no argument".into()));
        }
        Ok(Some(fetch))
    }

    /// The fetch's keyword, for messages.
    pub fn name(&self) -> &'static str {
        match self {
            Self::BeName => "be_name",
            Self::SrvName => "srv_name",
            Self::NbSrv(_) => "nbsrv",
            Self::SrvIsUp { .. } => "srv_is_up",
            Self::ConnSlots(_) => "connslots",
            Self::BeConn(_) => "be_conn",
            Self::FeConn(_) => "fe_conn",
            Self::Env(_) => "env",
            Self::Var { .. } => "var",
        }
    }

    /// The type the fetch declares.
    pub fn out_type(&self) -> SampleType {
        match self {
            Self::BeName | Self::SrvName | Self::Env(_) => SampleType::Str,
            Self::NbSrv(_) | Self::ConnSlots(_) | Self::BeConn(_) | Self::FeConn(_) => {
                SampleType::Int
            }
            Self::SrvIsUp { .. } => SampleType::Bool,
            Self::Var { .. } => SampleType::Any,
        }
    }

    /// The backend (and server) this fetch names in its arguments, so that the
    /// configuration can reject unknown names at load time as HAProxy does.
    pub fn proxy_ref(&self) -> Option<ProxyRef<'_>> {
        match self {
            Self::NbSrv(b) | Self::ConnSlots(b) | Self::BeConn(b) => {
                b.as_deref().map(|b| ProxyRef {
                    proxy: b,
                    server: None,
                    frontend: false,
                })
            }
            Self::FeConn(f) => f.as_deref().map(|f| ProxyRef {
                proxy: f,
                server: None,
                frontend: true,
            }),
            Self::SrvIsUp { backend, server } => Some(ProxyRef {
                proxy: backend.as_deref()?,
                server: Some(server),
                frontend: false,
            }),
            _ => None,
        }
    }

    /// Fetches the value; `None` when it is not available.
    pub fn eval<'a>(&'a self, ctx: &StreamCtx<'a>) -> Option<Sample<'a>> {
        Some(match self {
            Self::BeName => Sample::Str(Cow::Borrowed(ctx.be_name.unwrap_or(ctx.fe_name))),
            Self::SrvName => Sample::Str(Cow::Borrowed(ctx.srv_name?)),
            Self::NbSrv(b) => Sample::Int(nbsrv(&*backend(ctx, b.as_deref())?)),
            Self::ConnSlots(b) => Sample::Int(connslots(&*backend(ctx, b.as_deref())?)),
            Self::BeConn(b) => {
                let be = backend(ctx, b.as_deref())?;
                Sample::Int(i64::from(
                    be.cur_conns.load(std::sync::atomic::Ordering::Relaxed),
                ))
            }
            Self::FeConn(f) => match f.as_deref() {
                None => Sample::Int(i64::from(ctx.fe_conn)),
                Some(name) if name == ctx.fe_name => Sample::Int(i64::from(ctx.fe_conn)),
                Some(name) => Sample::Int(i64::from((ctx.frontends?.0)(name)?)),
            },
            Self::SrvIsUp { backend: b, server } => {
                let be = backend(ctx, b.as_deref())?;
                Sample::Bool(be.server(server)?.is_usable())
            }
            Self::Env(name) => Sample::Str(Cow::Owned(std::env::var(name).ok()?)),
            Self::Var { name, default } => match ctx.vars.and_then(|v| v.get(name)) {
                Some(value) => value,
                None => Sample::Str(Cow::Borrowed(default.as_deref()?)),
            },
        })
    }
}

/// The backend named `name`, or the stream's backend (the frontend's name when none is
/// chosen yet: a `listen` section is both).
fn backend(ctx: &StreamCtx<'_>, name: Option<&str>) -> Option<Arc<BackendState>> {
    let backends: &Backends = ctx.backends?;
    let name = name.or(ctx.be_name).unwrap_or(ctx.fe_name);
    backends.by_name(name).cloned()
}

/// HAProxy's `be_usable_srv`: usable active servers; when there are none, 1 if a backup
/// would be used (only the first one is, without `option allbackups`), else the usable
/// backups.
fn nbsrv(be: &BackendState) -> i64 {
    let count = |backup: bool| {
        be.servers
            .iter()
            .filter(|s| s.cfg.backup == backup && s.is_usable())
            .count()
    };
    let active = count(false);
    let n = if active > 0 {
        active
    } else {
        let backups = count(true);
        if backups > 0 && !be.cfg.allbackups {
            1
        } else {
            backups
        }
    };
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// HAProxy's `connslots`: for every server that is not down, free connection slots
/// plus free queue slots; -1 as soon as one of them is unlimited (`maxconn 0` or
/// `maxqueue 0`). Servers have no `maxqueue` setting here, which is HAProxy's default
/// (unlimited), so a backend with a server up reports -1 as HAProxy would.
fn connslots(be: &BackendState) -> i64 {
    const MAXQUEUE: u32 = 0;
    let mut total: i64 = 0;
    for s in be.servers.iter().filter(|s| s.is_up()) {
        match server_slots(s.cfg.maxconn, s.cur_conns(), MAXQUEUE, s.queue.len()) {
            Some(n) => total = total.saturating_add(n),
            None => return -1,
        }
    }
    total
}

/// Free slots of one server; `None` when a limit is 0 (unlimited).
fn server_slots(maxconn: u32, cur: u32, maxqueue: u32, queued: usize) -> Option<i64> {
    if maxconn == 0 || maxqueue == 0 {
        return None;
    }
    let queued = i64::try_from(queued).unwrap_or(i64::MAX);
    Some(i64::from(maxconn) - i64::from(cur) + i64::from(maxqueue) - queued)
}

fn bad(keyword: &str, reason: String) -> SampleError {
    SampleError::BadArgs {
        keyword: keyword.to_owned(),
        reason,
    }
}

#[cfg(test)]
mod tests;
