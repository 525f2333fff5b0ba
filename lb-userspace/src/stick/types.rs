//! What a `stick-table` declares: its key type, size, expiry and the data it stores.

use std::time::Duration;

use crate::config::model::Location;
use crate::sample::SampleType;

/// A `stick-table` declaration (in a proxy, or a `table` line of a `peers` section).
#[derive(Debug, Clone, PartialEq)]
pub struct TableCfg {
    /// The table's name: the proxy's name, or `PEERS/TABLE` for a `peers` section table.
    pub name: String,
    /// `type ...`: what keys look like.
    pub key: KeyType,
    /// `size N`: the maximum number of entries.
    pub size: u32,
    /// `expire T`: entries not updated for this long are removed; `None` keeps them until
    /// they are evicted to make room.
    pub expire: Option<Duration>,
    /// `nopurge`: when full, refuse new entries instead of evicting the oldest.
    pub nopurge: bool,
    /// `store ...`: the data kept for each entry, in [`DataType`] order, without repeats.
    pub store: Vec<DataCfg>,
    /// Where the table is declared.
    pub location: Location,
}

impl TableCfg {
    /// Whether the table stores `data`.
    pub fn stores(&self, data: DataType) -> bool {
        self.store.iter().any(|d| d.data == data)
    }

    /// Adds `data` (without period) unless already stored, keeping [`DataType`] order; used
    /// for `server_id`, which stick rules store implicitly as in HAProxy.
    pub fn add_store(&mut self, data: DataType) {
        if !self.stores(data) {
            self.store.push(DataCfg { data, period_ms: 0 });
            self.store.sort_by_key(|d| d.data);
        }
    }

    /// Whether a sample of type `ty` can become a key of this table (HAProxy's
    /// `stktable_compatible_sample`): `stick on` and `track-sc` reject the others.
    pub fn accepts(&self, ty: SampleType) -> bool {
        ty.can_cast_to(self.key.sample_type())
    }
}

/// The key type of a table (`type ip|ipv6|integer|string [len N]|binary [len N]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyType {
    /// IPv4 addresses (IPv6 addresses that embed one are converted).
    Ip,
    /// IPv6 addresses (IPv4 addresses are mapped as `::ffff:a.b.c.d`).
    Ipv6,
    /// 32-bit unsigned integers (wider values keep their low 32 bits, as in HAProxy).
    Integer,
    /// Strings, truncated to `len` bytes.
    String {
        /// Maximum key length in bytes (default 32).
        len: usize,
    },
    /// Binary blocks, truncated or zero-padded to `len` bytes.
    Binary {
        /// Key length in bytes (default 32).
        len: usize,
    },
}

/// Default `len` of string and binary keys, as in HAProxy.
pub const DEFAULT_KEY_LEN: usize = 32;

impl KeyType {
    /// The keyword of the type (`ip`, `ipv6`, `integer`, `string`, `binary`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Ip => "ip",
            Self::Ipv6 => "ipv6",
            Self::Integer => "integer",
            Self::String { .. } => "string",
            Self::Binary { .. } => "binary",
        }
    }

    /// The sample type keys are cast to.
    pub fn sample_type(self) -> SampleType {
        match self {
            Self::Ip => SampleType::Ipv4,
            Self::Ipv6 => SampleType::Ipv6,
            Self::Integer => SampleType::Int,
            Self::String { .. } => SampleType::Str,
            Self::Binary { .. } => SampleType::Bin,
        }
    }
}

/// A data type a table can store (`store` keyword).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DataType {
    /// `server_id`: the server a key sticks to.
    ServerId,
    /// `gpt0`: general purpose tag, set by `sc-set-gpt0`.
    Gpt0,
    /// `gpc0`: general purpose counter 0.
    Gpc0,
    /// `gpc0_rate(T)`: increments of `gpc0` over the period.
    Gpc0Rate,
    /// `gpc1`: general purpose counter 1.
    Gpc1,
    /// `gpc1_rate(T)`: increments of `gpc1` over the period.
    Gpc1Rate,
    /// `conn_cnt`: connections tracked with this key.
    ConnCnt,
    /// `conn_cur`: connections currently tracking this key.
    ConnCur,
    /// `conn_rate(T)`: connections tracked over the period.
    ConnRate,
    /// `sess_cnt`: connections accepted as sessions (tracked by connection rules).
    SessCnt,
    /// `sess_rate(T)`: sessions over the period.
    SessRate,
    /// `http_req_cnt`: HTTP requests.
    HttpReqCnt,
    /// `http_req_rate(T)`: HTTP requests over the period.
    HttpReqRate,
    /// `http_err_cnt`: HTTP requests that were errors (4xx, invalid).
    HttpErrCnt,
    /// `http_err_rate(T)`: HTTP errors over the period.
    HttpErrRate,
    /// `http_fail_cnt`: HTTP responses that were server failures (5xx).
    HttpFailCnt,
    /// `http_fail_rate(T)`: HTTP failures over the period.
    HttpFailRate,
    /// `bytes_in_cnt`: bytes from the client to the server.
    BytesInCnt,
    /// `bytes_in_rate(T)`: client bytes over the period.
    BytesInRate,
    /// `bytes_out_cnt`: bytes from the server to the client.
    BytesOutCnt,
    /// `bytes_out_rate(T)`: server bytes over the period.
    BytesOutRate,
}

/// How a data type's value is kept (HAProxy's `std_t_*` types).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueKind {
    /// A signed 32-bit integer (`server_id`).
    Sint,
    /// An unsigned 32-bit counter that wraps.
    Uint,
    /// An unsigned 64-bit counter (byte counts).
    Ull,
    /// A frequency counter over a period.
    Rate,
}

impl DataType {
    /// Every data type, in HAProxy's order (the order `show table` prints them in).
    pub const ALL: [DataType; 21] = [
        Self::ServerId,
        Self::Gpt0,
        Self::Gpc0,
        Self::Gpc0Rate,
        Self::Gpc1,
        Self::Gpc1Rate,
        Self::ConnCnt,
        Self::ConnCur,
        Self::ConnRate,
        Self::SessCnt,
        Self::SessRate,
        Self::HttpReqCnt,
        Self::HttpReqRate,
        Self::HttpErrCnt,
        Self::HttpErrRate,
        Self::HttpFailCnt,
        Self::HttpFailRate,
        Self::BytesInCnt,
        Self::BytesInRate,
        Self::BytesOutCnt,
        Self::BytesOutRate,
    ];

    /// The keyword of the data type.
    pub fn name(self) -> &'static str {
        match self {
            Self::ServerId => "server_id",
            Self::Gpt0 => "gpt0",
            Self::Gpc0 => "gpc0",
            Self::Gpc0Rate => "gpc0_rate",
            Self::Gpc1 => "gpc1",
            Self::Gpc1Rate => "gpc1_rate",
            Self::ConnCnt => "conn_cnt",
            Self::ConnCur => "conn_cur",
            Self::ConnRate => "conn_rate",
            Self::SessCnt => "sess_cnt",
            Self::SessRate => "sess_rate",
            Self::HttpReqCnt => "http_req_cnt",
            Self::HttpReqRate => "http_req_rate",
            Self::HttpErrCnt => "http_err_cnt",
            Self::HttpErrRate => "http_err_rate",
            Self::HttpFailCnt => "http_fail_cnt",
            Self::HttpFailRate => "http_fail_rate",
            Self::BytesInCnt => "bytes_in_cnt",
            Self::BytesInRate => "bytes_in_rate",
            Self::BytesOutCnt => "bytes_out_cnt",
            Self::BytesOutRate => "bytes_out_rate",
        }
    }

    /// The data type called `name`.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|d| d.name() == name)
    }

    /// How the value is kept.
    pub fn kind(self) -> ValueKind {
        match self {
            Self::ServerId => ValueKind::Sint,
            Self::BytesInCnt | Self::BytesOutCnt => ValueKind::Ull,
            Self::Gpc0Rate
            | Self::Gpc1Rate
            | Self::ConnRate
            | Self::SessRate
            | Self::HttpReqRate
            | Self::HttpErrRate
            | Self::HttpFailRate
            | Self::BytesInRate
            | Self::BytesOutRate => ValueKind::Rate,
            _ => ValueKind::Uint,
        }
    }

    /// Whether the type is a rate, which requires a period (`conn_rate(10s)`).
    pub fn is_rate(self) -> bool {
        self.kind() == ValueKind::Rate
    }

    /// Position in [`DataType::ALL`].
    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

/// One stored data type with its period (rates only).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DataCfg {
    /// The data type.
    pub data: DataType,
    /// The rate's period in milliseconds (0 for non-rates).
    pub period_ms: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_in_order() {
        for (i, d) in DataType::ALL.into_iter().enumerate() {
            assert_eq!(DataType::from_name(d.name()), Some(d));
            assert_eq!(d.index(), i);
            assert_eq!(d.is_rate(), d.name().ends_with("_rate"));
        }
        assert_eq!(DataType::from_name("gpc2"), None);
    }

    #[test]
    fn key_types_accept_what_casts() {
        let cfg = |key| TableCfg {
            name: "t".into(),
            key,
            size: 1,
            expire: None,
            nopurge: false,
            store: Vec::new(),
            location: Location::default(),
        };
        assert!(cfg(KeyType::Ip).accepts(SampleType::Addr));
        assert!(cfg(KeyType::Ip).accepts(SampleType::Str));
        assert!(!cfg(KeyType::Ip).accepts(SampleType::Bin));
        assert!(cfg(KeyType::Integer).accepts(SampleType::Ipv4));
        assert!(!cfg(KeyType::Integer).accepts(SampleType::Ipv6));
        assert!(cfg(KeyType::Binary { len: 4 }).accepts(SampleType::Addr));
        let mut t = cfg(KeyType::Ip);
        t.add_store(DataType::ConnCnt);
        t.add_store(DataType::ServerId);
        t.add_store(DataType::ServerId);
        let order: Vec<_> = t.store.iter().map(|d| d.data).collect();
        assert_eq!(order, [DataType::ServerId, DataType::ConnCnt]);
    }
}
