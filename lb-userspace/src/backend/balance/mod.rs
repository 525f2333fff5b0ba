//! Load-balancing algorithms (`balance ...`, `hash-type ...`).
//! TEMPORARY stub for the runtime to build against; replaced by the rules branch.

use std::sync::Arc;

use crate::backend::state::{BackendState, ServerState};
use crate::sample::StreamCtx;

/// Per-worker balancer of one backend.
#[derive(Debug)]
pub struct Balancer {
    backend: Arc<BackendState>,
    next: usize,
}

/// The outcome of a pick.
#[derive(Debug)]
pub enum Pick {
    /// Use this server.
    Server(Arc<ServerState>),
    /// All usable servers are full.
    AllFull,
    /// No usable server.
    NoServer,
}

impl Balancer {
    /// A balancer for `backend`.
    pub fn new(backend: Arc<BackendState>) -> Self {
        Self { backend, next: 0 }
    }

    /// Picks a server.
    pub fn pick(&mut self, _ctx: &StreamCtx<'_>, exclude: Option<&Arc<ServerState>>) -> Pick {
        let servers = &self.backend.servers;
        let usable: Vec<_> = servers
            .iter()
            .filter(|s| s.is_usable() && exclude.is_none_or(|e| !Arc::ptr_eq(e, s)))
            .collect();
        if usable.is_empty() {
            return Pick::NoServer;
        }
        for _ in 0..usable.len() {
            self.next = (self.next + 1) % usable.len();
            let s = usable[self.next];
            if !s.is_full() {
                return Pick::Server(Arc::clone(s));
            }
        }
        Pick::AllFull
    }
}
