//! Stick-table converters: `table_*(table)` look the input up as a key of the table and
//! return one of its stored values; `in_table(table)` says whether the key is present.
//!
//! As in HAProxy, a key that is absent reads as 0, a data type the table does not store
//! gives no sample, and an input that cannot be a key of the table gives no sample.

use crate::sample::parse::Call;
use crate::sample::{Sample, SampleError, SampleType};
use crate::stick::Tables;
use crate::stick::types::DataType;

/// What a table converter returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConvOp {
    /// A stored value (`table_conn_cnt`, `table_gpc0`, `table_server_id`...).
    Read(DataType),
    /// A byte counter in kilobytes (`table_kbytes_in`, `table_kbytes_out`).
    KBytes(DataType),
    /// Whether the key is in the table (`in_table`).
    InTable,
    /// How many streams track the entry (`table_trackers`).
    Trackers,
}

/// A parsed table converter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableConv {
    /// What it returns.
    pub op: ConvOp,
    /// The table it looks keys up in.
    pub table: String,
    /// The keyword as written (`table_gpc0`), for messages.
    pub keyword: String,
}

fn op_of(name: &str) -> Option<ConvOp> {
    if name == "in_table" {
        return Some(ConvOp::InTable);
    }
    Some(match name.strip_prefix("table_")? {
        "kbytes_in" => ConvOp::KBytes(DataType::BytesInCnt),
        "kbytes_out" => ConvOp::KBytes(DataType::BytesOutCnt),
        "trackers" => ConvOp::Trackers,
        // Byte counts are only offered in kilobytes, as in HAProxy.
        "bytes_in_cnt" | "bytes_out_cnt" => return None,
        data => ConvOp::Read(DataType::from_name(data)?),
    })
}

impl TableConv {
    /// Parses `call` if it names a table converter; `Ok(None)` when it does not.
    pub fn parse(call: &Call) -> Result<Option<Self>, SampleError> {
        let Some(op) = op_of(&call.name) else {
            return Ok(None);
        };
        let bad = |reason: &str| SampleError::BadArgs {
            keyword: call.name.clone(),
            reason: reason.to_owned(),
        };
        match call.args.as_slice() {
            [t] if !t.is_empty() => Ok(Some(Self {
                op,
                table: t.clone(),
                keyword: call.name.clone(),
            })),
            [] | [_] => Err(bad("missing table name")),
            _ => Err(bad("too many arguments")),
        }
    }

    /// The type the input is cast to before the lookup. Any sample can become a string,
    /// and a string converts to every key type (`src,table_conn_rate(t)` works with
    /// `ip`, `ipv6`, `string` and `binary` tables alike).
    pub fn in_type(&self) -> SampleType {
        SampleType::Str
    }

    /// The type the converter produces.
    pub fn out_type(&self) -> SampleType {
        match self.op {
            ConvOp::InTable => SampleType::Bool,
            _ => SampleType::Int,
        }
    }

    /// Applies the converter with the [installed](Tables::install) tables, now.
    pub fn apply(&self, input: Sample<'_>) -> Option<Sample<'static>> {
        let tables = Tables::installed()?;
        self.apply_with(input, &tables, crate::clock::now_ms())
    }

    /// Applies the converter with `tables` at date `now`.
    pub fn apply_with(
        &self,
        input: Sample<'_>,
        tables: &Tables,
        now: u64,
    ) -> Option<Sample<'static>> {
        let table = tables.get(&self.table)?;
        let key = table.key_of(input)?;
        let entry = table.lookup(&key, now);
        if self.op == ConvOp::InTable {
            return Some(Sample::Bool(entry.is_some()));
        }
        let Some(e) = entry else {
            return Some(Sample::Int(0));
        };
        Some(Sample::Int(match self.op {
            ConvOp::Read(d) => table.read(&e, d, now)?,
            ConvOp::KBytes(d) => table.read(&e, d, now)? >> 10,
            ConvOp::Trackers => i64::from(e.trackers()),
            ConvOp::InTable => return Some(Sample::Bool(true)),
        }))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::sample::parse::split_chain;
    use crate::stick::types::KeyType;
    use crate::stick::{Key, table};

    fn conv(text: &str) -> Result<Option<TableConv>, SampleError> {
        TableConv::parse(&split_chain(text).unwrap()[0])
    }

    fn tables() -> Tables {
        let store = [
            (DataType::ServerId, 0),
            (DataType::Gpc0, 0),
            (DataType::ConnCnt, 0),
            (DataType::ConnRate, 1000),
            (DataType::BytesInCnt, 0),
            (DataType::BytesOutCnt, 0),
        ];
        let mut ip = table::tests::cfg(10, Some(10_000), &store);
        ip.name = "web".into();
        ip.key = KeyType::Ip;
        let mut s = table::tests::cfg(10, None, &[(DataType::Gpc0, 0)]);
        s.name = "names".into();
        s.key = KeyType::String { len: 4 };
        Tables::from_cfgs([ip, s])
    }

    fn ip(text: &str) -> Sample<'static> {
        Sample::Ip(text.parse().unwrap())
    }

    #[test]
    fn parsing() {
        assert_eq!(
            conv("table_conn_rate(web)").unwrap(),
            Some(TableConv {
                op: ConvOp::Read(DataType::ConnRate),
                table: "web".into(),
                keyword: "table_conn_rate".into(),
            })
        );
        assert_eq!(conv("in_table(p/t)").unwrap().unwrap().op, ConvOp::InTable);
        assert_eq!(
            conv("table_kbytes_out(web)").unwrap().unwrap().op,
            ConvOp::KBytes(DataType::BytesOutCnt)
        );
        for name in [
            "table_bytes_in_cnt(web)",
            "table_nope(web)",
            "lower",
            "tables(x)",
        ] {
            assert_eq!(conv(name).unwrap(), None, "{name}");
        }
        for bad in [
            "table_gpc0",
            "table_gpc0()",
            "in_table(a,b)",
            "table_gpc0('')",
        ] {
            assert!(conv(bad).is_err(), "{bad}");
        }
        let c = conv("in_table(web)").unwrap().unwrap();
        assert_eq!(c.out_type(), SampleType::Bool);
        assert_eq!(c.in_type(), SampleType::Str);
        assert_eq!(
            conv("table_gpc0(web)").unwrap().unwrap().out_type(),
            SampleType::Int
        );
    }

    #[test]
    fn every_converter_reads_its_data() {
        let tables = tables();
        let web = tables.get("web").unwrap();
        let e = web
            .get_or_create(Key::Ipv4([10, 0, 0, 1].into()), 1_000)
            .unwrap();
        web.put(&e, DataType::ServerId, 3, 1_000);
        web.add(&e, DataType::Gpc0, 7, 1_000);
        web.add(&e, DataType::ConnCnt, 2, 1_000);
        web.add(&e, DataType::ConnRate, 2, 1_000);
        web.add(&e, DataType::BytesInCnt, 4096, 1_000);
        web.add(&e, DataType::BytesOutCnt, 3000, 1_000);
        e.add_tracker();
        let run = |text: &str, input: Sample<'static>| {
            conv(text)
                .unwrap()
                .unwrap()
                .apply_with(input, &tables, 1_500)
        };
        let key = || ip("10.0.0.1");
        assert_eq!(run("table_server_id(web)", key()), Some(Sample::Int(3)));
        assert_eq!(run("table_gpc0(web)", key()), Some(Sample::Int(7)));
        assert_eq!(run("table_conn_cnt(web)", key()), Some(Sample::Int(2)));
        assert_eq!(run("table_conn_rate(web)", key()), Some(Sample::Int(2)));
        assert_eq!(run("table_kbytes_in(web)", key()), Some(Sample::Int(4)));
        assert_eq!(run("table_kbytes_out(web)", key()), Some(Sample::Int(2)));
        assert_eq!(run("table_trackers(web)", key()), Some(Sample::Int(1)));
        assert_eq!(run("in_table(web)", key()), Some(Sample::Bool(true)));
        // The input is a string by the time it gets here: it is parsed as the key type.
        assert_eq!(
            run("table_gpc0(web)", Sample::Str("10.0.0.1".into())),
            Some(Sample::Int(7))
        );
        // Absent key: 0 (false for in_table); not stored: no sample.
        assert_eq!(run("table_gpc0(web)", ip("10.0.0.2")), Some(Sample::Int(0)));
        assert_eq!(
            run("in_table(web)", ip("10.0.0.2")),
            Some(Sample::Bool(false))
        );
        assert_eq!(run("table_gpc1(web)", key()), None);
        assert_eq!(
            run("table_sess_cnt(web)", ip("10.0.0.2")),
            Some(Sample::Int(0))
        );
        // Not a key of the table, or no such table: no sample.
        assert_eq!(run("table_gpc0(web)", ip("2001:db8::1")), None);
        assert_eq!(run("table_gpc0(nope)", key()), None);
        assert_eq!(
            conv("in_table(web)")
                .unwrap()
                .unwrap()
                .apply_with(key(), &Tables::default(), 0),
            None
        );
        // Once released and expired, the entry is gone.
        e.drop_tracker();
        drop(e);
        let later = conv("in_table(web)").unwrap().unwrap();
        assert_eq!(
            later.apply_with(key(), &tables, 11_000),
            Some(Sample::Bool(false))
        );
    }

    #[test]
    fn string_tables_truncate_the_input() {
        let tables = tables();
        let names = tables.get("names").unwrap();
        let e = names.get_or_create(Key::Str((*b"alic").into()), 0).unwrap();
        names.add(&e, DataType::Gpc0, 1, 0);
        let c = conv("table_gpc0(names)").unwrap().unwrap();
        assert_eq!(
            c.apply_with(Sample::Str("alice".into()), &tables, 0),
            Some(Sample::Int(1))
        );
    }

    #[test]
    fn installed_tables_serve_the_plain_apply() {
        // The only test that installs tables: the slot is process-wide.
        let tables = Arc::new(tables());
        let web = tables.get("web").unwrap();
        let e = web
            .get_or_create(Key::Ipv4([10, 9, 9, 9].into()), crate::clock::now_ms())
            .unwrap();
        web.add(&e, DataType::Gpc0, 5, crate::clock::now_ms());
        tables.install();
        let c = conv("table_gpc0(web)").unwrap().unwrap();
        assert_eq!(c.apply(ip("10.9.9.9")), Some(Sample::Int(5)));
        assert!(Arc::ptr_eq(&Tables::installed().unwrap(), &tables));
    }
}
