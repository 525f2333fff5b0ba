//! Per-stream tracking of stick-table entries (`track-sc0/1/2`), and the counters a
//! stream updates on the entries it tracks.
//!
//! As in HAProxy: tracking an entry counts one connection (`conn_cnt`, `conn_cur`,
//! `conn_rate`); entries tracked before the session is accepted (by `tcp-request
//! connection` rules) also count a session (`sess_cnt`, `sess_rate`) when
//! [`Tracking::accept_session`] runs; bytes and HTTP counters go to every tracked entry;
//! ending the stream releases `conn_cur` and refreshes each entry's expiry.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use crate::sample::Sample;
use crate::stick::Tables;
use crate::stick::key::Key;
use crate::stick::table::{Entry, Table};
use crate::stick::types::DataType;

/// Number of stick counters a stream has (`sc0`, `sc1`, `sc2`), HAProxy's default.
pub const MAX_TRACK_CTR: usize = 3;

/// One tracked entry and its table.
#[derive(Debug)]
pub struct Tracked {
    table: Arc<Table>,
    entry: Arc<Entry>,
}

impl Tracked {
    /// The table of the entry.
    pub fn table(&self) -> &Arc<Table> {
        &self.table
    }

    /// The tracked entry.
    pub fn entry(&self) -> &Arc<Entry> {
        &self.entry
    }

    fn add(&self, data: DataType, n: u64, now: u64) {
        self.table.add(&self.entry, data, n, now);
    }
}

/// What a `track-scN` request did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub enum TrackOutcome {
    /// The entry is now tracked by the counter.
    Tracked,
    /// The counter already tracks an entry: only the first tracking applies (HAProxy).
    AlreadyTracked,
    /// The counter number is not below [`MAX_TRACK_CTR`].
    NoSuchCounter,
    /// No table has that name.
    UnknownTable,
    /// The sample cannot be a key of the table (e.g. IPv6 source, `type ip` table).
    NoKey,
    /// The key is new and the table has no room (`nopurge`, or every entry in use).
    TableFull,
}

/// The stick tables of the process and the entries one stream tracks (`sc0`..`sc2`).
///
/// Shared by reference with sample fetches (interior mutability: tracking takes `&self`).
/// Dropping it ends the tracking ([`Tracking::end`]) at the current time.
#[derive(Debug, Default)]
pub struct Tracking {
    tables: Arc<Tables>,
    slots: [OnceLock<Tracked>; MAX_TRACK_CTR],
    /// Sessions were counted: later tracking comes from content rules and counts none.
    session_started: AtomicBool,
    ended: bool,
}

impl Tracking {
    /// A stream that tracks nothing yet.
    pub fn new(tables: Arc<Tables>) -> Self {
        Self {
            tables,
            slots: Default::default(),
            session_started: AtomicBool::new(false),
            ended: false,
        }
    }

    /// Every table of the process.
    pub fn tables(&self) -> &Arc<Tables> {
        &self.tables
    }

    /// `track-scN <key> [table T]`: tracks the entry for `key` in the table called
    /// `table`, creating it if needed.
    pub fn track(&self, sc: usize, table: &str, key: Sample<'_>, now: u64) -> TrackOutcome {
        if self.get(sc).is_some() {
            return TrackOutcome::AlreadyTracked;
        }
        let Some(table) = self.tables.get(table) else {
            return TrackOutcome::UnknownTable;
        };
        let Some(key) = table.key_of(key) else {
            return TrackOutcome::NoKey;
        };
        self.track_key(sc, table, key, now)
    }

    /// [`Tracking::track`] with the table and key already resolved.
    pub fn track_key(&self, sc: usize, table: &Arc<Table>, key: Key, now: u64) -> TrackOutcome {
        let Some(slot) = self.slots.get(sc) else {
            return TrackOutcome::NoSuchCounter;
        };
        if slot.get().is_some() {
            return TrackOutcome::AlreadyTracked;
        }
        let Some(entry) = table.get_or_create(key, now) else {
            return TrackOutcome::TableFull;
        };
        let tracked = Tracked {
            table: Arc::clone(table),
            entry,
        };
        if slot.set(tracked).is_err() {
            return TrackOutcome::AlreadyTracked;
        }
        let Some(t) = slot.get() else {
            return TrackOutcome::AlreadyTracked;
        };
        t.entry.add_tracker();
        t.add(DataType::ConnCur, 1, now);
        t.add(DataType::ConnCnt, 1, now);
        t.add(DataType::ConnRate, 1, now);
        // Touch even when no counter is stored: tracking refreshes the expiry.
        t.table.touch(&t.entry, now);
        TrackOutcome::Tracked
    }

    /// The entry counter `sc` tracks, if any.
    pub fn get(&self, sc: usize) -> Option<&Tracked> {
        self.slots.get(sc)?.get()
    }

    /// Every tracked entry.
    pub fn iter(&self) -> impl Iterator<Item = &Tracked> {
        self.slots.iter().filter_map(OnceLock::get)
    }

    /// The session was accepted (after `tcp-request connection` rules): entries tracked so
    /// far count a session (`sess_cnt`, `sess_rate`). Only the first call counts.
    pub fn accept_session(&self, now: u64) {
        if self.session_started.swap(true, Ordering::AcqRel) {
            return;
        }
        for t in self.iter() {
            t.add(DataType::SessCnt, 1, now);
            t.add(DataType::SessRate, 1, now);
        }
    }

    fn count(&self, cnt: DataType, rate: DataType, n: u64, now: u64) {
        for t in self.iter() {
            t.add(cnt, n, now);
            t.add(rate, n, now);
        }
    }

    /// `n` bytes went from the client to the server (`bytes_in_*`).
    pub fn add_bytes_in(&self, n: u64, now: u64) {
        if n > 0 {
            self.count(DataType::BytesInCnt, DataType::BytesInRate, n, now);
        }
    }

    /// `n` bytes went from the server to the client (`bytes_out_*`).
    pub fn add_bytes_out(&self, n: u64, now: u64) {
        if n > 0 {
            self.count(DataType::BytesOutCnt, DataType::BytesOutRate, n, now);
        }
    }

    /// `track-scN` from an HTTP rule: as HAProxy does, a newly tracked entry also counts
    /// the current request (`http_req_cnt`, `http_req_rate`), which began before tracking.
    pub fn track_http(&self, sc: usize, table: &str, key: Sample<'_>, now: u64) -> TrackOutcome {
        let outcome = self.track(sc, table, key, now);
        if outcome == TrackOutcome::Tracked
            && let Some(t) = self.get(sc)
        {
            t.add(DataType::HttpReqCnt, 1, now);
            t.add(DataType::HttpReqRate, 1, now);
        }
        outcome
    }

    /// One HTTP request (`http_req_*`).
    pub fn inc_http_req(&self, now: u64) {
        self.count(DataType::HttpReqCnt, DataType::HttpReqRate, 1, now);
    }

    /// One HTTP request error (`http_err_*`).
    pub fn inc_http_err(&self, now: u64) {
        self.count(DataType::HttpErrCnt, DataType::HttpErrRate, 1, now);
    }

    /// One HTTP server failure (`http_fail_*`).
    pub fn inc_http_fail(&self, now: u64) {
        self.count(DataType::HttpFailCnt, DataType::HttpFailRate, 1, now);
    }

    /// `sc-inc-gpc0(N)` / `sc-inc-gpc1(N)`: see [`inc_gpc`]; `None` when `sc` tracks
    /// nothing.
    pub fn inc_gpc(&self, sc: usize, gpc: Gpc, now: u64) -> Option<i64> {
        let t = self.get(sc)?;
        Some(inc_gpc(&t.table, &t.entry, gpc, now))
    }

    /// `sc-set-gpt0(N) VALUE`: sets `gpt0` of the tracked entry; `false` when `sc` tracks
    /// nothing or the table does not store `gpt0`.
    pub fn set_gpt0(&self, sc: usize, value: i64, now: u64) -> bool {
        self.get(sc)
            .is_some_and(|t| t.table.put(&t.entry, DataType::Gpt0, value, now))
    }

    /// Ends the stream's tracking: `conn_cur` is released and each entry's expiry restarts
    /// from `now`. Called by `Drop` with the current time if not called before.
    pub fn end(&mut self, now: u64) {
        self.ended = true;
        for slot in &mut self.slots {
            if let Some(t) = slot.take() {
                t.table.dec_conn_cur(&t.entry);
                t.entry.drop_tracker();
                t.table.touch(&t.entry, now);
            }
        }
    }
}

impl Drop for Tracking {
    fn drop(&mut self) {
        if !self.ended {
            self.end(crate::clock::now_ms());
        }
    }
}

/// General purpose counter 0 or 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gpc {
    /// `gpc0` and `gpc0_rate`.
    Gpc0,
    /// `gpc1` and `gpc1_rate`.
    Gpc1,
}

impl Gpc {
    /// The counter and its rate.
    pub fn data(self) -> (DataType, DataType) {
        match self {
            Self::Gpc0 => (DataType::Gpc0, DataType::Gpc0Rate),
            Self::Gpc1 => (DataType::Gpc1, DataType::Gpc1Rate),
        }
    }
}

/// Increments a general purpose counter and its rate, as HAProxy's `sc_inc_gpc0`:
/// returns the counter's new value, or the rate's count in its current period when only
/// the rate is stored, or 0 when neither is.
pub fn inc_gpc(table: &Table, entry: &Entry, gpc: Gpc, now: u64) -> i64 {
    let (cnt, rate) = gpc.data();
    let rate = table.add(entry, rate, 1, now);
    table.add(entry, cnt, 1, now).or(rate).unwrap_or(0)
}

#[cfg(test)]
#[path = "track_tests.rs"]
mod tests;
