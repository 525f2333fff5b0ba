//! Run-time state of backends and servers, shared by all workers and the health checker.
//!
//! Everything a worker reads per connection is an atomic: no lock is taken on the hot
//! path. A change that alters which servers are usable bumps [`BackendState::generation`],
//! so that each worker's balancer (a per-worker copy) knows to rebuild itself.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};

use crate::backend::queue::Queue;
use crate::clock;
use crate::config::model::{Backend, Server};

/// Run-time state of one server.
#[derive(Debug)]
pub struct ServerState {
    /// The server's configuration.
    pub cfg: Server,
    /// Name of the backend that holds it (for logs).
    pub backend_name: String,
    /// Operational state: `true` when health checks (or their absence) say it is up.
    up: AtomicBool,
    /// Administrative maintenance (`disabled`, later the CLI's `disable server`).
    maint: AtomicBool,
    /// Configured weight that may be changed at run time (`set weight`).
    weight: AtomicU32,
    /// Current connections to this server.
    cur_conns: AtomicU32,
    /// Total connections sent to this server.
    total_conns: AtomicU64,
    /// When the server last went up, in [`clock::now_ms`] milliseconds (for slowstart).
    up_since_ms: AtomicU64,
    /// When the operational or administrative state last changed ([`clock::now_ms`]).
    last_change_ms: AtomicU64,
    /// Connections waiting for a slot on this server.
    pub queue: Queue,
    /// The backend's queue, served when this server's own queue is empty.
    backend_queue: Arc<Queue>,
}

impl ServerState {
    /// State for a server at start-up: up unless `disabled`; checked servers start up as in
    /// HAProxy (they go down after `fall` failed checks).
    pub fn new(cfg: Server, backend_name: &str, backend_queue: Arc<Queue>) -> Self {
        Self {
            up: AtomicBool::new(true),
            maint: AtomicBool::new(cfg.disabled),
            weight: AtomicU32::new(cfg.weight),
            cur_conns: AtomicU32::new(0),
            total_conns: AtomicU64::new(0),
            // Not in slowstart at boot: HAProxy only ramps up after a transition to UP.
            up_since_ms: AtomicU64::new(0),
            last_change_ms: AtomicU64::new(clock::now_ms()),
            queue: Queue::default(),
            backend_queue,
            backend_name: backend_name.to_owned(),
            cfg,
        }
    }

    /// Up and not in maintenance: may receive new connections.
    pub fn is_usable(&self) -> bool {
        self.up.load(Ordering::Acquire) && !self.maint.load(Ordering::Acquire)
    }

    /// Operational state from checks.
    pub fn is_up(&self) -> bool {
        self.up.load(Ordering::Acquire)
    }

    /// In administrative maintenance.
    pub fn is_maint(&self) -> bool {
        self.maint.load(Ordering::Acquire)
    }

    /// Sets the operational state; returns `true` if it changed.
    pub fn set_up(&self, up: bool) -> bool {
        let changed = self.up.swap(up, Ordering::AcqRel) != up;
        if changed {
            let now = clock::now_ms();
            self.last_change_ms.store(now, Ordering::Release);
            if up {
                self.up_since_ms.store(now.max(1), Ordering::Release);
            }
        }
        changed
    }

    /// Sets the maintenance flag; returns `true` if it changed.
    pub fn set_maint(&self, maint: bool) -> bool {
        let changed = self.maint.swap(maint, Ordering::AcqRel) != maint;
        if changed {
            self.last_change_ms
                .store(clock::now_ms(), Ordering::Release);
        }
        changed
    }

    /// When the operational or administrative state last changed, in [`clock::now_ms`]
    /// milliseconds (start-up for a server that never changed).
    pub fn last_change_ms(&self) -> u64 {
        self.last_change_ms.load(Ordering::Acquire)
    }

    /// The configured (possibly run-time changed) weight.
    pub fn weight(&self) -> u32 {
        self.weight.load(Ordering::Acquire)
    }

    /// Changes the weight at run time.
    pub fn set_weight(&self, weight: u32) {
        self.weight.store(weight, Ordering::Release);
    }

    /// Effective weight at `now_ms`: the weight scaled down during `slowstart` after the
    /// server came up, never below 1 for a server whose weight is non-zero.
    pub fn effective_weight(&self, now_ms: u64) -> u32 {
        let weight = self.weight();
        let (Some(ramp), since) = (self.cfg.slowstart, self.up_since_ms.load(Ordering::Acquire))
        else {
            return weight;
        };
        let ramp_ms = u64::try_from(ramp.as_millis()).unwrap_or(u64::MAX);
        if since == 0 || ramp_ms == 0 || weight == 0 {
            return weight;
        }
        let elapsed = now_ms.saturating_sub(since);
        if elapsed >= ramp_ms {
            return weight;
        }
        let scaled = u64::from(weight) * elapsed / ramp_ms;
        u32::try_from(scaled).unwrap_or(weight).max(1)
    }

    /// `true` while the server is ramping up its weight (`slowstart`).
    pub fn in_slowstart(&self, now_ms: u64) -> bool {
        self.effective_weight(now_ms) != self.weight()
    }

    /// Current connections.
    pub fn cur_conns(&self) -> u32 {
        self.cur_conns.load(Ordering::Acquire)
    }

    /// Total connections since start.
    pub fn total_conns(&self) -> u64 {
        self.total_conns.load(Ordering::Relaxed)
    }

    /// `true` if `maxconn` is set and reached.
    pub fn is_full(&self) -> bool {
        self.cfg.maxconn != 0 && self.cur_conns() >= self.cfg.maxconn
    }

    /// Takes a connection slot if `maxconn` allows; the slot is released on drop.
    pub fn try_acquire(self: &Arc<Self>) -> Option<ServerSlot> {
        let max = self.cfg.maxconn;
        let mut cur = self.cur_conns.load(Ordering::Acquire);
        loop {
            if max != 0 && cur >= max {
                return None;
            }
            match self.cur_conns.compare_exchange_weak(
                cur,
                cur + 1,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => break,
                Err(now) => cur = now,
            }
        }
        self.total_conns.fetch_add(1, Ordering::Relaxed);
        Some(ServerSlot {
            server: Arc::clone(self),
        })
    }
}

/// A connection slot on a server; dropping it frees the slot, handing it straight to a
/// queued connection if one waits.
#[derive(Debug)]
pub struct ServerSlot {
    server: Arc<ServerState>,
}

impl ServerSlot {
    /// The server this slot belongs to.
    pub fn server(&self) -> &Arc<ServerState> {
        &self.server
    }

    /// Builds a slot for a count that was already taken (queue hand-over).
    pub(crate) fn adopt(server: Arc<ServerState>) -> Self {
        Self { server }
    }
}

impl Drop for ServerSlot {
    fn drop(&mut self) {
        // The slot passes to a waiter without ever going through "free", so that a new
        // arrival cannot overtake a queued connection (HAProxy serves queues first).
        let server = &self.server;
        if server.queue.hand_over(server) || server.backend_queue.hand_over(server) {
            return;
        }
        self.server.cur_conns.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Run-time state of one backend.
#[derive(Debug)]
pub struct BackendState {
    /// The backend's configuration.
    pub cfg: Backend,
    /// Its servers, in config order (index = position in `cfg.servers`).
    pub servers: Vec<Arc<ServerState>>,
    /// Bumped whenever the usable set or a weight changes.
    generation: AtomicU64,
    /// Connections waiting because every usable server is full.
    pub queue: Arc<Queue>,
    /// Current connections handled by this backend.
    pub cur_conns: AtomicU32,
    /// Total connections handled by this backend.
    pub total_conns: AtomicU64,
}

impl BackendState {
    /// Builds the state of a backend from its configuration.
    pub fn new(cfg: Backend) -> Self {
        let queue = Arc::new(Queue::default());
        let servers = cfg
            .servers
            .iter()
            .map(|s| Arc::new(ServerState::new(s.clone(), &cfg.name, Arc::clone(&queue))))
            .collect();
        Self {
            servers,
            generation: AtomicU64::new(1),
            queue,
            cur_conns: AtomicU32::new(0),
            total_conns: AtomicU64::new(0),
            cfg,
        }
    }

    /// The current generation; compare with a remembered one to detect changes.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Signals that the usable set or weights changed.
    pub fn bump_generation(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    /// Hands free slots of usable servers to queued connections (after a server came up
    /// or its weight/maxconn changed).
    pub fn pump_queue(&self) {
        for server in self.servers.iter().filter(|s| s.is_usable()) {
            while !self.queue.is_empty() {
                let Some(slot) = server.try_acquire() else {
                    break;
                };
                // Dropping the slot hands it to the first live waiter, or frees it.
                drop(slot);
            }
        }
    }

    /// The server called `name`.
    pub fn server(&self, name: &str) -> Option<&Arc<ServerState>> {
        self.servers.iter().find(|s| s.cfg.name == name)
    }

    /// Number of usable active (non-backup) servers, as `nbsrv()` reports.
    pub fn nbsrv(&self) -> usize {
        self.servers
            .iter()
            .filter(|s| !s.cfg.backup && s.is_usable())
            .count()
    }
}

/// All backends of a configuration, by index; shared by workers, checks and (later) the CLI.
#[derive(Debug, Default)]
pub struct Backends {
    /// The backends, in config order.
    pub list: Vec<Arc<BackendState>>,
}

impl Backends {
    /// Builds the run-time state of every backend.
    pub fn new(cfgs: &[Backend]) -> Self {
        Self {
            list: cfgs
                .iter()
                .map(|b| Arc::new(BackendState::new(b.clone())))
                .collect(),
        }
    }

    /// The backend called `name`.
    pub fn by_name(&self, name: &str) -> Option<&Arc<BackendState>> {
        self.list.iter().find(|b| b.cfg.name == name)
    }
}
