//! Stick tables: `stick-table`, tracking (`track-sc0/1/2`), stored counters and rates,
//! and sticky routing (`stick on|match|store-request`). Shared by all workers.
//!
//! * [`Tables`] holds every table of the process, built once from the configuration
//!   ([`Tables::from_config`]): each proxy's `stick-table` is named after the proxy, and
//!   `peers` sections contribute `PEERS/TABLE` tables.
//! * [`Tracking`] is one stream's view: the entries it tracks (`sc0`..`sc2`) and the
//!   counters it updates on them; sample fetches reach it through `StreamCtx::stick`.
//! * [`fetch::StickFetch`] and [`conv::TableConv`] are the `sc*_`, `src_*`, `table_*`
//!   sample fetches and converters.
//! * [`rules`] applies `stick on|match|store-request` rules.
//!
//! Every operation takes the date (`now`, in ms of [`crate::clock::now_ms`]) as an
//! argument, so that tests drive time.

pub mod conv;
pub mod fetch;
pub mod freq;
pub mod key;
pub mod rules;
pub mod table;
pub mod track;
pub mod types;

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};

pub use key::Key;
pub use rules::{StickDecision, StickKind, StickRule};
pub use table::{Entry, EntryView, SetError, Table};
pub use track::{Gpc, MAX_TRACK_CTR, TrackOutcome, Tracked, Tracking};
pub use types::{DataCfg, DataType, KeyType, TableCfg};

use crate::config::Config;
use crate::sample::StreamCtx;

/// Every stick table of the process, by name.
#[derive(Debug, Default)]
pub struct Tables {
    tables: Vec<Arc<Table>>,
    by_name: HashMap<String, usize>,
}

/// The tables converters use (they have no stream context), see [`Tables::install`].
static INSTALLED: RwLock<Option<Arc<Tables>>> = RwLock::new(None);

impl Tables {
    /// Empty tables for every `stick-table` of the configuration (proxies, then `peers`
    /// sections). A `listen` section's table appears in both halves: it is created once.
    pub fn from_config(config: &Config) -> Self {
        Self::from_cfgs(config.stick_tables().cloned())
    }

    /// Tables from declarations; the first declaration of a name wins (the config parser
    /// rejects real duplicates).
    pub fn from_cfgs(cfgs: impl IntoIterator<Item = TableCfg>) -> Self {
        let mut out = Self::default();
        for cfg in cfgs {
            if out.by_name.contains_key(&cfg.name) {
                continue;
            }
            out.by_name.insert(cfg.name.clone(), out.tables.len());
            out.tables.push(Arc::new(Table::new(cfg)));
        }
        out
    }

    /// The table called `name`.
    pub fn get(&self, name: &str) -> Option<&Arc<Table>> {
        self.tables.get(*self.by_name.get(name)?)
    }

    /// Every table, in declaration order (`show table`).
    pub fn iter(&self) -> impl Iterator<Item = &Arc<Table>> {
        self.tables.iter()
    }

    /// Whether there is no table at all.
    pub fn is_empty(&self) -> bool {
        self.tables.is_empty()
    }

    /// Removes expired entries of every table; returns how many. Meant to be called by
    /// the runtime about once a second (lookups already ignore expired entries, this
    /// returns their memory).
    pub fn purge(&self, now: u64) -> usize {
        self.tables.iter().map(|t| t.purge(now)).sum()
    }

    /// Makes these tables the ones `table_*` converters and `in_table` use. Converters
    /// see no stream, so they reach the tables through this process-wide slot.
    pub fn install(self: &Arc<Self>) {
        let mut slot = INSTALLED.write().unwrap_or_else(PoisonError::into_inner);
        *slot = Some(Arc::clone(self));
    }

    /// The tables last [`Tables::install`]ed.
    pub fn installed() -> Option<Arc<Self>> {
        INSTALLED
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The table of "the current proxy", for `src_*` fetches written without a table:
    /// the backend's once one is chosen and it has a table, else the frontend's.
    pub fn current(&self, ctx: &StreamCtx<'_>) -> Option<&Arc<Table>> {
        ctx.be_name
            .and_then(|be| self.get(be))
            .or_else(|| self.get(ctx.fe_name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse_str;

    #[test]
    fn tables_come_from_every_proxy_and_peers_section() {
        let text = [
            "peers p",
            "    table t1 type string len 8 size 10",
            "frontend fe",
            "    bind 127.0.0.1:13000",
            "    stick-table type ip size 100 expire 10s store conn_cnt",
            "    default_backend be",
            "backend be",
            "    stick-table type integer size 5",
            "    server s 127.0.0.1:13080",
            "listen both",
            "    bind 127.0.0.1:13001",
            "    stick-table type ipv6 size 7",
            "    server s 127.0.0.1:13081",
        ]
        .join("\n");
        let config = parse_str(&text, std::path::Path::new("t.cfg")).unwrap();
        let tables = Tables::from_config(&config);
        let names: Vec<&str> = tables.iter().map(|t| t.name()).collect();
        assert_eq!(names, ["fe", "both", "be", "p/t1"]);
        assert_eq!(tables.get("fe").unwrap().cfg().size, 100);
        assert_eq!(
            tables.get("p/t1").unwrap().key_type(),
            KeyType::String { len: 8 }
        );
        assert!(tables.get("t1").is_none());
        let addr = "127.0.0.1:1".parse().unwrap();
        let mut ctx = StreamCtx::new(addr, addr, "fe");
        assert_eq!(tables.current(&ctx).unwrap().name(), "fe");
        ctx.be_name = Some("be");
        assert_eq!(tables.current(&ctx).unwrap().name(), "be");
        ctx.be_name = Some("nothing");
        assert_eq!(tables.current(&ctx).unwrap().name(), "fe");
    }

    #[test]
    fn shared_state_crosses_threads() {
        fn send_sync<T: Send + Sync>() {}
        send_sync::<Tables>();
        send_sync::<Tracking>();
        send_sync::<StickDecision>();
    }

    #[test]
    fn purge_covers_every_table() {
        let cfg = |name: &str| {
            let mut c = table::tests::cfg(10, Some(100), &[]);
            c.name = name.into();
            c
        };
        let tables = Tables::from_cfgs([cfg("a"), cfg("b"), cfg("a")]);
        assert_eq!(tables.iter().count(), 2);
        for t in tables.iter() {
            t.get_or_create(Key::Int(1), 0).unwrap();
        }
        assert_eq!(tables.purge(99), 0);
        assert_eq!(tables.purge(100), 2);
    }
}
