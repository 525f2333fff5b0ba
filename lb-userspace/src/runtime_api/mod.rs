//! The runtime API: HAProxy's CLI on the `stats socket`, to inspect and operate a running
//! process (`show info`, `set weight`, `disable server`, `show table`...).
//!
//! The protocol and the commands are sans-I/O: a [`session::Session`] takes the bytes a
//! client sends and returns the text to write back (and whether to close), acting on the
//! process state gathered in [`RuntimeState`]. [`listener`] is the thin I/O edge: sockets
//! bound at start-up like `bind` lines, served by a thread of their own so that a slow
//! client never delays a worker.
//!
//! * [`session`]: requests (lines, `;`, backslash escapes, `<<` payloads), interactive mode
//!   (`prompt`), the empty line that ends each response, when to close.
//! * [`command`]: the keyword table, dispatch, permission levels; [`help`]: the usage
//!   message of `help` and of unknown commands, with HAProxy's fuzzy matching.
//! * `info`, `servers`, `tables`: the commands, by the state they act on.

pub mod command;
pub mod help;
mod info;
pub mod listener;
mod maps;
mod servers;
pub mod session;
mod tables;
mod xdp;

use std::sync::Arc;

use crate::backend::state::{BackendState, Backends};
use crate::map::Registry;
use crate::stick::Tables;
use crate::worker::Shared;

pub use crate::config::model::CliLevel as Level;
pub use listener::{BindError, CliHandle, CliSettings, CliSocket, bind_all, spawn};
pub use session::{Session, Step};

impl Level {
    /// The level's keyword (`user`, `operator`, `admin`).
    pub fn name(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Operator => "operator",
            Self::Admin => "admin",
        }
    }
}

/// Facts about the process that `show info` reports and nothing else holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessInfo {
    /// Process id.
    pub pid: u32,
    /// Number of workers (`Nbthread`).
    pub nbthread: usize,
    /// The open files limit (`Ulimit-n`).
    pub ulimit_n: u64,
    /// Start date in [`crate::clock::now_ms`] milliseconds (for `Uptime`).
    pub start_ms: u64,
    /// Start date in seconds since the Unix epoch (`Start_time_sec`).
    pub start_unix_sec: u64,
}

impl ProcessInfo {
    /// The running process, started now.
    pub fn current(nbthread: usize, ulimit_n: u64) -> Self {
        let start_unix_sec = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        Self {
            pid: std::process::id(),
            nbthread,
            ulimit_n,
            start_ms: crate::clock::now_ms(),
            start_unix_sec,
        }
    }
}

/// The process state runtime API commands read and change: everything workers share.
#[derive(Debug)]
pub struct RuntimeState {
    shared: Arc<Shared>,
    info: ProcessInfo,
    /// HAProxy's proxy id of each backend (same index as `Backends::list`).
    backend_ids: Vec<u32>,
    /// Map and ACL files.
    maps: &'static Registry,
}

impl RuntimeState {
    /// The state of a running process.
    pub fn new(shared: Arc<Shared>, info: ProcessInfo) -> Self {
        let backend_ids = proxy_ids(&shared);
        Self {
            shared,
            info,
            backend_ids,
            maps: Registry::global(),
        }
    }

    /// The same state with another registry of map and ACL files (the process's is
    /// [`Registry::global`]).
    #[must_use]
    pub fn with_maps(mut self, maps: &'static Registry) -> Self {
        self.maps = maps;
        self
    }

    /// Map and ACL files loaded by the configuration.
    pub fn maps(&self) -> &Registry {
        self.maps
    }

    /// Backends and servers.
    pub fn backends(&self) -> &Backends {
        &self.shared.backends
    }

    /// Stick tables.
    pub fn tables(&self) -> &Tables {
        &self.shared.tables
    }

    /// Everything workers share (connection counters, limits).
    pub fn shared(&self) -> &Shared {
        &self.shared
    }

    /// Process facts.
    pub fn info(&self) -> &ProcessInfo {
        &self.info
    }

    /// The proxy id of backend `idx` (`be_id`, `#<id>` references).
    pub fn backend_id(&self, idx: usize) -> u32 {
        self.backend_ids.get(idx).copied().unwrap_or(0)
    }

    /// The backend called `name`, or `#<id>`, with its index.
    pub fn find_backend(&self, name: &str) -> Option<(usize, &Arc<BackendState>)> {
        let list = &self.backends().list;
        if let Some(id) = name.strip_prefix('#') {
            let id: u32 = id.parse().ok()?;
            let idx = self.backend_ids.iter().position(|&b| b == id)?;
            return list.get(idx).map(|b| (idx, b));
        }
        list.iter().enumerate().find(|(_, b)| b.cfg.name == name)
    }
}

/// Serves the bound `sockets` for the process whose workers share `shared` (call once
/// the workers run; drop the handle at shutdown).
pub fn start(
    sockets: Vec<CliSocket>,
    shared: &Arc<Shared>,
    global: &crate::config::model::Global,
    nbthread: usize,
    ulimit_n: u64,
) -> std::io::Result<CliHandle> {
    let info = ProcessInfo::current(nbthread, ulimit_n);
    let state = Arc::new(RuntimeState::new(Arc::clone(shared), info));
    spawn(sockets, state, CliSettings::of(global))
}

/// HAProxy numbers proxies from 1 in declaration order, a `listen` section counting once
/// (its frontend and backend halves share the section's location).
fn proxy_ids(shared: &Shared) -> Vec<u32> {
    let mut files: Vec<&std::path::Path> = Vec::new();
    let mut sections = Vec::new();
    let fronts = shared.frontends.iter().map(|f| &f.cfg.location);
    let backs = shared.backends.list.iter().map(|b| &b.cfg.location);
    for loc in fronts.chain(backs) {
        let file = match files.iter().position(|f| *f == loc.file.as_path()) {
            Some(i) => i,
            None => {
                files.push(&loc.file);
                files.len() - 1
            }
        };
        sections.push((file, loc.line));
    }
    let backend_keys = sections.split_off(shared.frontends.len());
    let mut all = sections.clone();
    all.extend(backend_keys.iter().copied());
    all.sort_unstable();
    all.dedup();
    backend_keys
        .iter()
        .map(|k| {
            let pos = all.binary_search(k).unwrap_or(0);
            u32::try_from(pos + 1).unwrap_or(u32::MAX)
        })
        .collect()
}

#[cfg(test)]
pub(crate) mod testutil;
