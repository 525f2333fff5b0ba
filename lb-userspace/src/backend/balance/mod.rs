//! Load-balancing algorithms (`balance ...`, `hash-type ...`).
//!
//! Each worker owns one [`Balancer`] per backend: no lock is shared between workers.
//! A balancer reads the shared [`BackendState`] (atomics) and rebuilds its own structures
//! (usable set, weights, tables, ring) when the backend's generation changes, and every
//! [`SLOWSTART_REFRESH_MS`] while a server ramps up its weight.
//!
//! The usable set is HAProxy's: active servers that are up, not in maintenance and with
//! a non-zero weight; if there is none, the first such backup server in config order, or
//! all of them with `option allbackups`.
//!
//! Algorithm families live in their own files. Hashing algorithms are a key source
//! ([`KeySource`]: the client address for `source`, a sample for `hash`, a part of the
//! request for `uri`, `url_param` and `hdr`, read from `StreamCtx::http`) feeding a lookup ([`map_based::MapTable`] or [`chash::Ring`]).

pub mod chash;
pub mod first;
pub mod hash;
pub mod http;
pub mod leastconn;
pub mod map_based;
pub mod random;
pub mod roundrobin;

use std::sync::Arc;

use crate::backend::state::{BackendState, ServerState};
use crate::clock;
use crate::config::model::{Balance, HashMethod};
use crate::sample::{SampleExpr, StreamCtx};

/// How often weights are recomputed while a server is in slowstart.
pub const SLOWSTART_REFRESH_MS: u64 = 100;

/// The outcome of [`Balancer::pick`].
#[derive(Debug, Clone)]
pub enum Pick {
    /// Use this server. For non-deterministic algorithms it is one that is not full
    /// (maxconn); for deterministic ones (source, hash) it is THE server for the key,
    /// full or not (the caller then waits in that server's queue).
    Server(Arc<ServerState>),
    /// Every usable server is full: wait in the backend queue.
    AllFull,
    /// No usable server at all.
    NoServer,
}

/// A usable server as the algorithms see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Member {
    /// Index into the backend's servers.
    pub idx: usize,
    /// Weight used by the algorithm (effective, configured or 1, see [`WeightMode`]).
    pub weight: u32,
}

/// Where the weights of an algorithm come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WeightMode {
    /// Current effective weight: follows `set weight` and slowstart.
    Dynamic,
    /// Configured weight; a run-time weight only switches the server off (0) or on, as
    /// HAProxy allows for static algorithms.
    Static,
    /// Weights are ignored (`first`).
    Ignored,
}

/// What a hashing algorithm hashes.
#[derive(Debug, Clone)]
pub enum KeySource {
    /// `balance source`: the client address.
    Source,
    /// `balance hash <expr>`: the sample's bytes.
    Sample(SampleExpr),
    /// `balance uri|url_param|hdr`: a part of the HTTP request.
    Http(http::HttpKey),
}

/// How a hash is mapped to a server.
#[derive(Debug, Clone)]
enum Lookup {
    Map(map_based::MapTable),
    Ring(chash::Ring),
}

#[derive(Debug, Clone)]
enum Algo {
    RoundRobin(roundrobin::Swrr),
    StaticRr(map_based::MapTable),
    LeastConn(leastconn::LeastConn),
    First(first::First),
    Random(random::Random),
    Hash { key: KeySource, lookup: Lookup },
}

impl Algo {
    fn new(balance: &Balance, method: HashMethod) -> Self {
        let lookup = || match method {
            HashMethod::MapBased => Lookup::Map(map_based::MapTable::default()),
            HashMethod::Consistent => Lookup::Ring(chash::Ring::default()),
        };
        match balance {
            Balance::RoundRobin => Self::RoundRobin(roundrobin::Swrr::default()),
            Balance::StaticRr => Self::StaticRr(map_based::MapTable::default()),
            Balance::LeastConn => Self::LeastConn(leastconn::LeastConn::default()),
            Balance::First => Self::First(first::First::default()),
            Balance::Random { draws } => Self::Random(random::Random::new(*draws)),
            Balance::Source => Self::Hash {
                key: KeySource::Source,
                lookup: lookup(),
            },
            Balance::Hash(expr) | Balance::RdpCookie { key: expr, .. } => Self::Hash {
                key: KeySource::Sample(expr.clone()),
                lookup: lookup(),
            },
            Balance::Uri(_) | Balance::UrlParam { .. } | Balance::Hdr { .. } => Self::Hash {
                key: KeySource::Http(http::HttpKey::from_balance(balance)),
                lookup: lookup(),
            },
        }
    }

    fn weight_mode(&self) -> WeightMode {
        match self {
            Self::RoundRobin(_) | Self::LeastConn(_) | Self::Random(_) => WeightMode::Dynamic,
            Self::Hash {
                lookup: Lookup::Ring(_),
                ..
            } => WeightMode::Dynamic,
            Self::StaticRr(_)
            | Self::Hash {
                lookup: Lookup::Map(_),
                ..
            } => WeightMode::Static,
            Self::First(_) => WeightMode::Ignored,
        }
    }

    fn rebuild(&mut self, members: &[Member], servers: &[Arc<ServerState>]) {
        match self {
            Self::RoundRobin(s) => s.rebuild(members),
            Self::StaticRr(m) => *m = map_based::MapTable::build(members),
            Self::LeastConn(l) => l.rebuild(members),
            Self::First(f) => f.rebuild(members, servers),
            Self::Random(r) => r.rebuild(members),
            Self::Hash { lookup, .. } => match lookup {
                Lookup::Map(m) => *m = map_based::MapTable::build(members),
                Lookup::Ring(r) => *r = chash::Ring::build(members, servers),
            },
        }
    }
}

/// One worker's load balancer for one backend.
#[derive(Debug, Clone)]
pub struct Balancer {
    backend: Arc<BackendState>,
    /// Generation the structures were built for (0: never built).
    generation: u64,
    /// When to recompute weights again (a server is in slowstart).
    refresh_at: Option<u64>,
    members: Vec<Member>,
    algo: Algo,
}

impl Balancer {
    /// A balancer for `backend`, using its `balance` and `hash-type` settings.
    pub fn new(backend: Arc<BackendState>) -> Self {
        let algo = Algo::new(&backend.cfg.balance, backend.cfg.hash_type.method);
        Self {
            backend,
            generation: 0,
            refresh_at: None,
            members: Vec::new(),
            algo,
        }
    }

    /// The backend this balancer serves.
    pub fn backend(&self) -> &Arc<BackendState> {
        &self.backend
    }

    /// Chooses a server for a new connection. `exclude`: a server to avoid (redispatch
    /// after a failed connect).
    pub fn pick(&mut self, ctx: &StreamCtx<'_>, exclude: Option<&Arc<ServerState>>) -> Pick {
        self.pick_at(clock::now_ms(), ctx, exclude)
    }

    /// [`Balancer::pick`] at a given time (in [`clock::now_ms`] milliseconds).
    pub fn pick_at(
        &mut self,
        now_ms: u64,
        ctx: &StreamCtx<'_>,
        exclude: Option<&Arc<ServerState>>,
    ) -> Pick {
        if self.backend.generation() != self.generation
            || self.refresh_at.is_some_and(|at| now_ms >= at)
        {
            self.rebuild(now_ms);
        }
        let pick = self.choose(ctx, exclude);
        // A server may leave the usable set just before the generation bump that
        // announces it: never hand it out.
        if let Pick::Server(server) = &pick
            && !server.is_usable()
        {
            self.rebuild(now_ms);
            return self.choose(ctx, exclude);
        }
        pick
    }

    /// Recomputes the usable set and the algorithm's structures.
    fn rebuild(&mut self, now_ms: u64) {
        // Read the generation first: a change racing with this rebuild is seen next time.
        self.generation = self.backend.generation();
        let mode = self.algo.weight_mode();
        let servers = &self.backend.servers;
        let member = |(idx, s): (usize, &Arc<ServerState>)| {
            let weight = match mode {
                WeightMode::Dynamic => s.effective_weight(now_ms),
                WeightMode::Static => s.cfg.weight,
                WeightMode::Ignored => 1,
            };
            (s.is_usable() && s.weight() > 0 && weight > 0).then_some(Member { idx, weight })
        };
        let mut members: Vec<Member> = servers
            .iter()
            .enumerate()
            .filter(|(_, s)| !s.cfg.backup)
            .filter_map(member)
            .collect();
        if members.is_empty() {
            let backups = servers
                .iter()
                .enumerate()
                .filter(|(_, s)| s.cfg.backup)
                .filter_map(member);
            if self.backend.cfg.allbackups {
                members.extend(backups);
            } else {
                members.extend(backups.take(1));
            }
        }
        let ramping = mode == WeightMode::Dynamic
            && members.iter().any(|m| servers[m.idx].in_slowstart(now_ms));
        self.refresh_at = ramping.then_some(now_ms + SLOWSTART_REFRESH_MS);
        self.algo.rebuild(&members, servers);
        self.members = members;
    }

    fn choose(&mut self, ctx: &StreamCtx<'_>, exclude: Option<&Arc<ServerState>>) -> Pick {
        if self.members.is_empty() {
            return Pick::NoServer;
        }
        let servers = &self.backend.servers;
        let exclude = exclude.and_then(|e| servers.iter().position(|s| Arc::ptr_eq(s, e)));
        let has_room = |idx: usize| !servers[idx].is_full();
        let chosen = match &mut self.algo {
            Algo::RoundRobin(s) => s.pick(has_room, exclude),
            Algo::StaticRr(m) => m.next_rr(has_room, exclude),
            Algo::LeastConn(l) => l.pick(servers, exclude),
            Algo::First(f) => f.pick(servers, exclude),
            Algo::Random(r) => r.pick(servers, exclude),
            Algo::Hash { key, lookup } => {
                let ht = &self.backend.cfg.hash_type;
                let hash = match key {
                    KeySource::Source => Some(hash::source_hash(ht, ctx.src.ip())),
                    KeySource::Sample(expr) => {
                        expr.eval(ctx).map(|sample| hash::sample_hash(ht, &sample))
                    }
                    KeySource::Http(k) => ctx.http.and_then(|txn| k.hash(ht, txn)),
                };
                match (hash, lookup) {
                    // Deterministic: the key's server, full or not.
                    (Some(h), Lookup::Map(m)) => {
                        return m
                            .lookup(h, exclude)
                            .map_or(Pick::NoServer, |i| pick(servers, i));
                    }
                    (Some(h), Lookup::Ring(r)) => {
                        return r
                            .lookup(h, exclude)
                            .map_or(Pick::NoServer, |i| pick(servers, i));
                    }
                    // No key (e.g. the sample is missing): round robin, as HAProxy does.
                    (None, Lookup::Map(m)) => m.next_rr(has_room, exclude),
                    (None, Lookup::Ring(r)) => r.next_rr(has_room, exclude),
                }
            }
        };
        chosen.map_or(Pick::AllFull, |i| pick(servers, i))
    }
}

fn pick(servers: &[Arc<ServerState>], idx: usize) -> Pick {
    Pick::Server(Arc::clone(&servers[idx]))
}

#[cfg(test)]
pub(crate) mod testutil;

#[cfg(test)]
mod tests;
