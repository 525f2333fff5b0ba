//! Run-time state of a frontend: its connection gate, counters and resolved routing rules.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, AtomicU64};

use crate::acl::Condition;
use crate::backend::state::Backends;
use crate::config::model::{BackendRef, Frontend};
use crate::log::sink::{LogError, Logger};
use crate::rules::NameFormat;

use crate::sample::StreamCtx;
use crate::worker::gate::ConnGate;

/// A `use_backend` rule with its backend resolved to an index when the name is static.
#[derive(Debug)]
struct Route {
    cond: Option<Condition>,
    target: Target,
}

#[derive(Debug)]
enum Target {
    Index(usize),
    Dynamic(NameFormat),
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
    /// Backend indexes by name, for dynamic `use_backend` names.
    by_name: HashMap<String, usize>,
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
                let target = match &u.backend {
                    BackendRef::Static(name) => Target::Index(index(name)?),
                    BackendRef::Dynamic(format) => Target::Dynamic(format.clone()),
                };
                Some(Route {
                    cond: u.cond.clone(),
                    target,
                })
            })
            .collect();
        let by_name = backends
            .list
            .iter()
            .enumerate()
            .map(|(i, b)| (b.cfg.name.clone(), i))
            .collect();
        let default_backend = cfg.default_backend.as_deref().and_then(index);
        Logger::new(&cfg.logs)?;
        Ok(Self {
            gate: ConnGate::new(cfg.maxconn.unwrap_or(u32::MAX)),
            cur_conns: AtomicU32::new(0),
            total_conns: AtomicU64::new(0),
            routes,
            default_backend,
            by_name,
            cfg,
        })
    }

    /// The backend index for a stream: the first matching `use_backend`, else the default.
    /// A dynamic name that names no backend also gives the default, as in HAProxy.
    pub fn route(&self, ctx: &StreamCtx<'_>) -> Option<usize> {
        let Some(rule) = self
            .routes
            .iter()
            .find(|r| r.cond.as_ref().is_none_or(|c| c.eval(ctx)))
        else {
            return self.default_backend;
        };
        match &rule.target {
            Target::Index(i) => Some(*i),
            Target::Dynamic(format) => self
                .by_name
                .get(&format.render(ctx))
                .copied()
                .or(self.default_backend),
        }
    }
}
