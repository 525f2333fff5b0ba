//! Sticky routing: `stick on|match|store-request <expr> [table T] [if|unless COND]`.
//!
//! The request side ([`evaluate`]) runs before a server is chosen: `match` and `on`
//! rules look their key up, and the first entry whose server is usable decides the
//! server; `on` and `store-request` rules remember their key. Once the connection to a
//! server is established, [`StickDecision::store`] records that server for the
//! remembered keys. As in HAProxy, only the first storing rule of each table applies
//! (later ones are skipped entirely), and at most [`MAX_STORES`] keys are stored.
//! `stick store-response` rules are skipped by the request side and run by
//! [`store_response`] on the response.

use std::sync::Arc;

use crate::acl::Condition;
use crate::config::model::Location;
use crate::sample::{SampleExpr, StreamCtx};
use crate::stick::Tables;
use crate::stick::key::Key;
use crate::stick::table::Table;
use crate::stick::types::DataType;

/// Most keys one request stores (HAProxy's limit of simultaneous stores).
pub const MAX_STORES: usize = 8;

/// The kind of a `stick` rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StickKind {
    /// `stick on`: match, then store.
    On,
    /// `stick match`: look up only.
    Match,
    /// `stick store-request`: store only.
    StoreRequest,
    /// `stick store-response`: store a key taken from the response (HTTP mode:
    /// `res.cook(NAME)`, `res.hdr(NAME)`...), see [`store_response`].
    StoreResponse,
}

impl StickKind {
    /// Whether the rule looks its key up.
    pub fn matches(self) -> bool {
        matches!(self, Self::On | Self::Match)
    }

    /// Whether the rule stores its key.
    pub fn stores(self) -> bool {
        matches!(self, Self::On | Self::StoreRequest)
    }

    /// The keyword after `stick`.
    pub fn keyword(self) -> &'static str {
        match self {
            Self::On => "on",
            Self::Match => "match",
            Self::StoreRequest => "store-request",
            Self::StoreResponse => "store-response",
        }
    }
}

/// A `stick on|match|store-request` rule.
#[derive(Debug, Clone)]
pub struct StickRule {
    /// What the rule does.
    pub kind: StickKind,
    /// The key expression.
    pub expr: SampleExpr,
    /// The table (`table T`, by default the backend's own).
    pub table: String,
    /// `if`/`unless` condition.
    pub cond: Option<Condition>,
    /// Where the rule is.
    pub location: Location,
}

/// What the request-side stick rules decided: the server to use, if any, and the keys
/// to store once a server is chosen.
#[derive(Debug, Default)]
pub struct StickDecision {
    server: Option<u32>,
    stores: Vec<(Arc<Table>, Key)>,
}

impl StickDecision {
    /// The id of the server a `match`/`on` rule found (already checked with `usable`).
    pub fn server(&self) -> Option<u32> {
        self.server
    }

    /// Whether some key waits to be stored.
    pub fn has_stores(&self) -> bool {
        !self.stores.is_empty()
    }

    /// Records `server_id` (the server the connection went to) for every remembered key,
    /// creating entries as needed; returns how many were stored (a full `nopurge` table
    /// refuses new keys).
    pub fn store(&self, server_id: u32, now: u64) -> usize {
        let id = i64::from(server_id);
        self.stores
            .iter()
            .filter(|(table, key)| {
                table
                    .get_or_create(key.clone(), now)
                    .is_some_and(|e| table.put(&e, DataType::ServerId, id, now))
            })
            .count()
    }
}

/// Runs the request side of `rules`: `usable(id)` says whether the server with that id
/// exists in the backend and may take the connection (up, or `option persist`); a stored
/// server that is not usable lets later rules decide.
pub fn evaluate(
    rules: &[StickRule],
    tables: &Tables,
    ctx: &StreamCtx<'_>,
    now: u64,
    usable: impl Fn(u32) -> bool,
) -> StickDecision {
    let mut decision = StickDecision::default();
    for rule in rules.iter().filter(|r| r.kind != StickKind::StoreResponse) {
        let Some(table) = tables.get(&rule.table) else {
            continue;
        };
        let stores = rule.kind.stores();
        if stores && decision.stores.iter().any(|(t, _)| Arc::ptr_eq(t, table)) {
            continue;
        }
        if rule.cond.as_ref().is_some_and(|c| !c.eval(ctx)) {
            continue;
        }
        let Some(key) = rule.expr.eval(ctx).and_then(|s| table.key_of(s)) else {
            continue;
        };
        if rule.kind.matches()
            && let Some(e) = table.lookup(&key, now)
        {
            if decision.server.is_none() {
                decision.server = table
                    .read(&e, DataType::ServerId, now)
                    .and_then(|id| u32::try_from(id).ok())
                    .filter(|&id| id > 0 && usable(id));
            }
            table.touch(&e, now);
        }
        if stores && decision.stores.len() < MAX_STORES {
            decision.stores.push((Arc::clone(table), key));
        }
    }
    decision
}

/// The server the `match`/`on` rules give (see [`evaluate`]).
pub fn lookup_server(
    rules: &[StickRule],
    tables: &Tables,
    ctx: &StreamCtx<'_>,
    now: u64,
    usable: impl Fn(u32) -> bool,
) -> Option<u32> {
    evaluate(rules, tables, ctx, now, usable).server()
}

/// Stores `server_id` for the keys of the `on`/`store-request` rules (see [`evaluate`]
/// and [`StickDecision::store`]); returns how many keys were stored.
pub fn store(
    rules: &[StickRule],
    tables: &Tables,
    ctx: &StreamCtx<'_>,
    server_id: u32,
    now: u64,
) -> usize {
    evaluate(rules, tables, ctx, now, |_| false).store(server_id, now)
}

/// Runs the `stick store-response` rules once the response head is known (`ctx` sees
/// it): each rule whose condition holds and whose key exists stores `server_id` (the
/// server that answered) under that key; as for requests, only the first storing rule
/// of each table applies, and at most [`MAX_STORES`] keys are stored. The caller skips
/// this for servers marked `non-stick`. Returns how many keys were stored.
pub fn store_response(
    rules: &[StickRule],
    tables: &Tables,
    ctx: &StreamCtx<'_>,
    server_id: u32,
    now: u64,
) -> usize {
    let mut decision = StickDecision::default();
    for rule in rules.iter().filter(|r| r.kind == StickKind::StoreResponse) {
        let Some(table) = tables.get(&rule.table) else {
            continue;
        };
        if decision.stores.len() >= MAX_STORES
            || decision.stores.iter().any(|(t, _)| Arc::ptr_eq(t, table))
            || rule.cond.as_ref().is_some_and(|c| !c.eval(ctx))
        {
            continue;
        }
        if let Some(key) = rule.expr.eval(ctx).and_then(|s| table.key_of(s)) {
            decision.stores.push((Arc::clone(table), key));
        }
    }
    decision.store(server_id, now)
}

#[cfg(test)]
#[path = "rules_tests.rs"]
mod tests;
