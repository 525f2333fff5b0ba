//! Stick-counter sample fetches: `sc0_*`, `sc1_*`, `sc2_*`, `sc_*(N)` and `src_*`.
//!
//! `scN_X([table])` reads data `X` of the entry counter `N` tracks (no sample when it
//! tracks nothing; with a table, the same key looked up in that table). `src_X([table])`
//! looks the client address up in the table (by default the current proxy's). As in
//! HAProxy, an absent entry reads as 0, and a data type the table does not store gives
//! no sample.

use std::sync::Arc;

use crate::sample::parse::Call;
use crate::sample::{Sample, SampleError, SampleType, StreamCtx};
use crate::stick::table::{Entry, Table};
use crate::stick::track::{Gpc, MAX_TRACK_CTR, inc_gpc};
use crate::stick::types::DataType;

/// Where the entry of a stick fetch comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The entry a stick counter tracks (`sc0_`, `sc_(0)`).
    Counter(usize),
    /// The client address's entry (`src_`).
    Src,
}

/// What a stick fetch does with the entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// Reads a stored value (`conn_cnt`, `conn_rate`, `get_gpc0`...).
    Read(DataType),
    /// Reads a byte counter in kilobytes (`kbytes_in`, `kbytes_out`).
    KBytes(DataType),
    /// Increments a general purpose counter (`inc_gpc0`), creating `src_` entries.
    Inc(Gpc),
    /// Resets a general purpose counter, returning its previous value (`clr_gpc0`).
    Clr(Gpc),
    /// Whether the counter tracks an entry (`sc_tracked`).
    Tracked,
    /// How many streams track the entry (`sc_trackers`).
    Trackers,
    /// Creates the `src` entry and counts a connection (`src_updt_conn_cnt`).
    UpdtConnCnt,
}

/// A parsed stick fetch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StickFetch {
    /// Where the entry comes from.
    pub source: Source,
    /// What is done with it.
    pub op: Op,
    /// The table argument, if given.
    pub table: Option<String>,
    /// The keyword as written (`sc_conn_rate`), for messages.
    pub keyword: String,
}

impl StickFetch {
    /// The 1-based position of the table argument (`sc_*(N,table)` has it second).
    pub fn table_arg_pos(&self) -> usize {
        if self.keyword.starts_with("sc_") {
            2
        } else {
            1
        }
    }
}

fn op_of(suffix: &str) -> Option<Op> {
    use DataType as D;
    Some(match suffix {
        "get_gpc0" => Op::Read(D::Gpc0),
        "get_gpc1" => Op::Read(D::Gpc1),
        "get_gpt0" => Op::Read(D::Gpt0),
        "kbytes_in" => Op::KBytes(D::BytesInCnt),
        "kbytes_out" => Op::KBytes(D::BytesOutCnt),
        "inc_gpc0" => Op::Inc(Gpc::Gpc0),
        "inc_gpc1" => Op::Inc(Gpc::Gpc1),
        "clr_gpc0" => Op::Clr(Gpc::Gpc0),
        "clr_gpc1" => Op::Clr(Gpc::Gpc1),
        "tracked" => Op::Tracked,
        "trackers" => Op::Trackers,
        "updt_conn_cnt" => Op::UpdtConnCnt,
        _ => match D::from_name(suffix)? {
            d @ (D::ConnCnt
            | D::ConnCur
            | D::ConnRate
            | D::SessCnt
            | D::SessRate
            | D::HttpReqCnt
            | D::HttpReqRate
            | D::HttpErrCnt
            | D::HttpErrRate
            | D::HttpFailCnt
            | D::HttpFailRate
            | D::Gpc0Rate
            | D::Gpc1Rate
            | D::BytesInRate
            | D::BytesOutRate) => Op::Read(d),
            _ => return None,
        },
    })
}

impl StickFetch {
    /// Parses `call` if it names a stick fetch; `Ok(None)` when it does not (so that the
    /// caller reports an unknown fetch).
    pub fn parse(call: &Call) -> Result<Option<Self>, SampleError> {
        let name = call.name.as_str();
        let bad = |reason: String| SampleError::BadArgs {
            keyword: name.to_owned(),
            reason,
        };
        // `sc_X(N, ...)` names its counter in the first argument.
        let (counter, suffix) = if let Some(suffix) = name.strip_prefix("sc_") {
            (None, suffix)
        } else if let Some(suffix) = name.strip_prefix("src_") {
            (Some(Source::Src), suffix)
        } else {
            let counter = name
                .strip_prefix("sc")
                .and_then(|rest| rest.split_once('_'))
                .and_then(|(n, suffix)| Some((n.parse::<usize>().ok()?, suffix)))
                .filter(|&(n, _)| n < MAX_TRACK_CTR);
            let Some((n, suffix)) = counter else {
                return Ok(None);
            };
            (Some(Source::Counter(n)), suffix)
        };
        let Some(op) = op_of(suffix) else {
            return Ok(None);
        };
        let valid = match op {
            Op::Tracked | Op::Trackers => counter != Some(Source::Src),
            Op::UpdtConnCnt => counter == Some(Source::Src),
            _ => true,
        };
        if !valid {
            return Ok(None);
        }
        let (source, args) = match counter {
            Some(source) => (source, &call.args[..]),
            None => {
                let n = call
                    .args
                    .first()
                    .ok_or_else(|| bad("missing stick counter number".into()))?;
                let n = n
                    .parse::<usize>()
                    .ok()
                    .filter(|&n| n < MAX_TRACK_CTR)
                    .ok_or_else(|| {
                        bad(format!(
                            "'{n}' is not a stick counter number (0 to {})",
                            MAX_TRACK_CTR - 1
                        ))
                    })?;
                (Source::Counter(n), &call.args[1..])
            }
        };
        let table = match args {
            [] => None,
            [t] if t.is_empty() => return Err(bad("empty table name".into())),
            [t] => Some(t.clone()),
            _ => return Err(bad("too many arguments".into())),
        };
        Ok(Some(Self {
            source,
            op,
            table,
            keyword: name.to_owned(),
        }))
    }

    /// The type the fetch declares.
    pub fn out_type(&self) -> SampleType {
        match self.op {
            Op::Tracked => SampleType::Bool,
            _ => SampleType::Int,
        }
    }

    /// Evaluates the fetch now; `None` when `ctx` has no stick tracking.
    pub fn eval(&self, ctx: &StreamCtx<'_>) -> Option<Sample<'static>> {
        self.eval_at(ctx, crate::clock::now_ms())
    }

    /// Evaluates the fetch at date `now`.
    pub fn eval_at(&self, ctx: &StreamCtx<'_>, now: u64) -> Option<Sample<'static>> {
        let tracking = ctx.stick?;
        let tables = tracking.tables();
        match self.source {
            Source::Counter(n) => {
                let tracked = tracking.get(n);
                if self.op == Op::Tracked {
                    return Some(Sample::Bool(tracked.is_some()));
                }
                let tracked = tracked?;
                let Some(name) = &self.table else {
                    return self.apply(tracked.table(), Some(Arc::clone(tracked.entry())), now);
                };
                // The same key in another table, never created there (HAProxy).
                let table = tables.get(name)?;
                let entry = table
                    .key_type()
                    .adopt(tracked.entry().key())
                    .and_then(|key| table.lookup(&key, now));
                self.apply(table, entry, now)
            }
            Source::Src => {
                let table = match &self.table {
                    Some(name) => tables.get(name)?,
                    None => tables.current(ctx)?,
                };
                let key = table.key_of(Sample::Ip(ctx.src.ip()))?;
                let entry = match self.op {
                    Op::Inc(_) | Op::Clr(_) | Op::UpdtConnCnt => table.get_or_create(key, now),
                    _ => table.lookup(&key, now),
                };
                self.apply(table, entry, now)
            }
        }
    }

    fn apply(&self, table: &Table, entry: Option<Arc<Entry>>, now: u64) -> Option<Sample<'static>> {
        let Some(e) = entry else {
            return match self.op {
                Op::UpdtConnCnt => None,
                Op::Tracked => Some(Sample::Bool(true)),
                _ => Some(Sample::Int(0)),
            };
        };
        let value = match self.op {
            Op::Read(d) => table.read(&e, d, now)?,
            Op::KBytes(d) => table.read(&e, d, now)? >> 10,
            Op::Inc(g) => inc_gpc(table, &e, g, now),
            Op::Clr(g) => table.take(&e, g.data().0, now)?,
            Op::Trackers => i64::from(e.trackers()),
            Op::UpdtConnCnt => table.add(&e, DataType::ConnCnt, 1, now)?,
            Op::Tracked => return Some(Sample::Bool(true)),
        };
        Some(Sample::Int(value))
    }
}

#[cfg(test)]
#[path = "fetch_tests.rs"]
mod tests;
