//! Run-time state of a frontend: its connection gate, counters and resolved routing rules.

use std::sync::atomic::{AtomicU32, AtomicU64};

use crate::acl::Condition;
use crate::backend::state::Backends;
use crate::config::model::Frontend;
use crate::log::sink::{LogError, Logger};

use crate::sample::StreamCtx;
use crate::worker::gate::ConnGate;

/// A `use_backend` rule with its backend resolved to an index.
#[derive(Debug)]
struct Route {
    cond: Option<Condition>,
    backend: usize,
}

/// Run-time state of one frontend, shared by all workers.
#[derive(Debug)]
pub struct FrontendState {
    /// The frontend's configuration.
    pub cfg: Frontend,
    /// `maxconn` of this frontend.
    pub gate: ConnGate,
    /// Current client connections (what `%fc` reports).
    pub cur_conns: AtomicU32,
    /// Total client connections accepted.
    pub total_conns: AtomicU64,
    routes: Vec<Route>,
    default_backend: Option<usize>,
}

impl FrontendState {
    /// Resolves the frontend's backend names against `backends` (the parser already checked
    /// that they exist; a name that does not resolve is skipped) and checks that its log
    /// targets can be opened.
    pub fn new(cfg: Frontend, backends: &Backends) -> Result<Self, LogError> {
        let index = |name: &str| backends.list.iter().position(|b| b.cfg.name == name);
        let routes = cfg
            .use_backends
            .iter()
            .filter_map(|u| {
                Some(Route {
                    cond: u.cond.clone(),
                    backend: index(&u.backend)?,
                })
            })
            .collect();
        let default_backend = cfg.default_backend.as_deref().and_then(index);
        Logger::new(&cfg.logs)?;
        Ok(Self {
            gate: ConnGate::new(cfg.maxconn.unwrap_or(u32::MAX)),
            cur_conns: AtomicU32::new(0),
            total_conns: AtomicU64::new(0),
            routes,
            default_backend,
            cfg,
        })
    }

    /// The backend index for a stream: the first matching `use_backend`, else the default.
    pub fn route(&self, ctx: &StreamCtx<'_>) -> Option<usize> {
        self.routes
            .iter()
            .find(|r| r.cond.as_ref().is_none_or(|c| c.eval(ctx)))
            .map(|r| r.backend)
            .or(self.default_backend)
    }
}
