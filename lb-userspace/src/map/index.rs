//! An [`Index`]: the patterns of one pattern reference (or of one ACL's inline
//! patterns) compiled for one match method, with their map values, ready for lookups.
//!
//! Indexes built over a [`PatRef`] are shared by every user with the same
//! [`IndexSpec`] and updated in place by the reference's run-time operations; a lookup
//! holds the index's read lock only while it runs (never across an await).

use std::borrow::Cow;
use std::net::IpAddr;
use std::sync::{Arc, PoisonError, RwLock};

use crate::acl::pattern::{IntOp, MatchMethod};
use crate::map::registry::PatRef;
use crate::map::store::{Key, Slot, Store, compile};
use crate::sample::value::read_int64;
use crate::sample::{Sample, SampleType};

/// The type of the values a map converter returns (`map_*_str`, `map_*_int`,
/// `map_*_ip`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OutputType {
    /// Strings (the default).
    Str,
    /// Signed integers.
    Int,
    /// IPv4 or IPv6 addresses.
    Ip,
}

impl OutputType {
    /// The sample type a converter with this output declares.
    pub fn sample_type(self) -> SampleType {
        match self {
            Self::Str => SampleType::Str,
            Self::Int => SampleType::Int,
            Self::Ip => SampleType::Addr,
        }
    }

    /// HAProxy's name of the output in messages.
    pub fn name(self) -> &'static str {
        match self {
            Self::Str => "str",
            Self::Int => "integer",
            Self::Ip => "ip",
        }
    }
}

/// A parsed map value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MapValue {
    /// A string.
    Str(Arc<str>),
    /// An integer.
    Int(i64),
    /// An address.
    Ip(IpAddr),
}

impl MapValue {
    /// Parses `text` as HAProxy does for the output type: integers are an optional sign
    /// and digits (an empty value is 0), addresses are IPv4 or IPv6.
    pub fn parse(text: &str, ty: OutputType) -> Option<Self> {
        match ty {
            OutputType::Str => Some(Self::Str(text.into())),
            OutputType::Int => {
                let digits = text.strip_prefix(['-', '+']).unwrap_or(text);
                digits
                    .bytes()
                    .all(|c| c.is_ascii_digit())
                    .then(|| Self::Int(read_int64(text.as_bytes())))
            }
            OutputType::Ip => text.parse().ok().map(Self::Ip),
        }
    }

    /// The value as a sample.
    pub fn to_sample(&self) -> Sample<'static> {
        match self {
            Self::Str(s) => Sample::Str(Cow::Owned(s.to_string())),
            Self::Int(i) => Sample::Int(*i),
            Self::Ip(ip) => Sample::Ip(*ip),
        }
    }
}

/// What an index is compiled for: two users with equal specs share one index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IndexSpec {
    /// How samples are compared with keys.
    pub method: MatchMethod,
    /// Ignore ASCII case (ACL `-i`; maps never ignore case).
    pub icase: bool,
    /// The type values are parsed to; `None` when values are not used (ACLs).
    pub output: Option<OutputType>,
}

/// The result of a successful lookup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// The value of the matching entry (`None` for ACL indexes).
    pub value: Option<MapValue>,
    /// The id of the matching entry ([`crate::map::Entry::id`]); `None` for `found` and
    /// `bool` indexes, which keep no entries.
    pub id: Option<u64>,
}

/// Why a key or value cannot enter an index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Reject {
    /// The key does not parse for the match method.
    Key(String),
    /// The value does not parse for the output type.
    Value(OutputType),
}

/// Compiled patterns for one [`IndexSpec`].
#[derive(Debug)]
pub struct Index {
    spec: IndexSpec,
    store: Cell,
    pat_ref: Option<Arc<PatRef>>,
}

/// Inline ACL patterns never change after parsing and need no lock; indexes over a
/// reference are updated at run time.
#[derive(Debug)]
enum Cell {
    Static(Store),
    Shared(RwLock<Store>),
}

impl Index {
    /// An empty index for patterns written inline (filled with [`Index::add_pattern`]).
    pub fn new(spec: IndexSpec) -> Self {
        Self {
            spec,
            store: Cell::Static(Store::new(spec.method)),
            pat_ref: None,
        }
    }

    /// An empty index attached to a reference (built by [`PatRef::index`]).
    pub(crate) fn shared(spec: IndexSpec, pat_ref: Arc<PatRef>) -> Self {
        Self {
            spec,
            store: Cell::Shared(RwLock::new(Store::new(spec.method))),
            pat_ref: Some(pat_ref),
        }
    }

    /// What the index is compiled for.
    pub fn spec(&self) -> IndexSpec {
        self.spec
    }

    /// The reference the index follows, if it was built from one.
    pub fn pat_ref(&self) -> Option<&Arc<PatRef>> {
        self.pat_ref.as_ref()
    }

    /// Adds an inline pattern (with the integer operator in force); the entry's id is
    /// its position. Only for indexes built with [`Index::new`].
    pub fn add_pattern(&mut self, text: &str, op: IntOp) -> Result<(), String> {
        let key = compile(self.spec.method, self.spec.icase, text, op)?;
        let Cell::Static(store) = &mut self.store else {
            return Err("patterns of a shared index change through its reference".into());
        };
        let id = store.len() as u64;
        store.insert(key, Slot { id, value: None });
        Ok(())
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.read(|s| s.len())
    }

    /// Whether the index has no entry.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether `sample` matches an entry.
    pub fn matches(&self, sample: Sample<'_>) -> bool {
        self.lookup(sample).is_some()
    }

    /// The entry `sample` matches, with HAProxy's precedence: exact for `str`, longest
    /// prefix for `beg` and `ip`, first in file order otherwise.
    pub fn lookup(&self, sample: Sample<'_>) -> Option<Found> {
        let IndexSpec { method, icase, .. } = self.spec;
        self.read(|store| store.find(method, icase, sample))
    }

    fn read<R>(&self, f: impl FnOnce(&Store) -> R) -> R {
        match &self.store {
            Cell::Static(store) => f(store),
            Cell::Shared(lock) => f(&lock.read().unwrap_or_else(PoisonError::into_inner)),
        }
    }

    pub(crate) fn write<R>(&self, f: impl FnOnce(&mut Store) -> R) -> Option<R> {
        match &self.store {
            Cell::Static(_) => None,
            Cell::Shared(lock) => {
                Some(f(&mut lock.write().unwrap_or_else(PoisonError::into_inner)))
            }
        }
    }

    /// Compiles a key for this index.
    pub(crate) fn key(&self, key: &str) -> Result<Key, Reject> {
        compile(self.spec.method, self.spec.icase, key, IntOp::Eq).map_err(Reject::Key)
    }

    /// Compiles a key and parses a value for this index, without inserting.
    pub(crate) fn prepare(
        &self,
        key: &str,
        value: Option<&str>,
    ) -> Result<(Key, Option<MapValue>), Reject> {
        let key = self.key(key)?;
        let value = match self.spec.output {
            None => None,
            Some(ty) => Some(MapValue::parse(value.unwrap_or(""), ty).ok_or(Reject::Value(ty))?),
        };
        Ok((key, value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inline(method: MatchMethod, icase: bool, patterns: &[&str]) -> Index {
        let mut index = Index::new(IndexSpec {
            method,
            icase,
            output: None,
        });
        for p in patterns {
            index.add_pattern(p, IntOp::Eq).unwrap();
        }
        index
    }

    fn s(text: &str) -> Sample<'_> {
        Sample::Str(Cow::Borrowed(text))
    }

    #[test]
    fn values_parse_per_output_type() {
        assert_eq!(
            MapValue::parse("abc", OutputType::Str),
            Some(MapValue::Str("abc".into()))
        );
        assert_eq!(
            MapValue::parse("-12", OutputType::Int),
            Some(MapValue::Int(-12))
        );
        assert_eq!(
            MapValue::parse("+7", OutputType::Int),
            Some(MapValue::Int(7))
        );
        assert_eq!(MapValue::parse("", OutputType::Int), Some(MapValue::Int(0)));
        assert_eq!(MapValue::parse("12a", OutputType::Int), None);
        assert_eq!(MapValue::parse("1 2", OutputType::Int), None);
        assert_eq!(
            MapValue::parse("::1", OutputType::Ip),
            Some(MapValue::Ip("::1".parse().unwrap()))
        );
        assert_eq!(MapValue::parse("10.0.0.300", OutputType::Ip), None);
        assert_eq!(MapValue::Int(3).to_sample(), Sample::Int(3));
    }

    #[test]
    fn inline_patterns_per_method() {
        let exact = inline(MatchMethod::Str, false, &["foo", "Bar"]);
        assert!(exact.matches(s("foo")));
        assert!(!exact.matches(s("bar")));
        assert!(inline(MatchMethod::Str, true, &["Bar"]).matches(s("bAR")));
        let beg = inline(MatchMethod::Beg, false, &["/api"]);
        assert!(beg.matches(s("/api/v1")));
        assert!(!beg.matches(s("/ap")));
        assert!(inline(MatchMethod::Beg, true, &["/API"]).matches(s("/api/x")));
        assert!(inline(MatchMethod::Beg, false, &[""]).matches(s("anything")));
        let end = inline(MatchMethod::End, false, &[".jpg"]);
        assert!(end.matches(s("a.jpg")));
        assert!(!end.matches(s("a.jpeg")));
        assert!(inline(MatchMethod::End, true, &[".JPG"]).matches(s("A.jpg")));
        let sub = inline(MatchMethod::Sub, true, &["ADMIN"]);
        assert!(sub.matches(s("/x/admin/y")));
        assert!(!sub.matches(s("/x/adm/y")));
        assert!(inline(MatchMethod::Sub, false, &[""]).matches(s("x")));
        let dom = inline(MatchMethod::Dom, false, &["example"]);
        assert!(dom.matches(s("www.example.com")));
        assert!(!dom.matches(s("www.myexample.com")));
        assert!(inline(MatchMethod::Dom, false, &[".com."]).matches(s("a.com")));
        assert!(inline(MatchMethod::Dom, true, &["EXAMPLE"]).matches(s("example.com:80")));
        let dir = inline(MatchMethod::Dir, false, &["img"]);
        assert!(dir.matches(s("/static/img/a.png")));
        assert!(dir.matches(s("/img?x")));
        assert!(!dir.matches(s("/static/imgs/a.png")));
        assert!(!inline(MatchMethod::Dir, false, &["//"]).matches(s("/img")));
        let reg = inline(MatchMethod::Reg, true, &["^/api/v[0-9]+"]);
        assert!(reg.matches(s("/API/v2/x")));
        assert!(!reg.matches(s("/api/x")));
        let len = inline(MatchMethod::Len, false, &["3", "10:"]);
        assert!(len.matches(s("abc")));
        assert!(len.matches(s("0123456789")));
        assert!(!len.matches(s("abcd")));
        let ints = inline(MatchMethod::Int, false, &["80", "8000:8080"]);
        assert!(ints.matches(Sample::Int(8042)));
        assert!(ints.matches(s("80")));
        assert!(!ints.matches(Sample::Int(81)));
        let bin = inline(MatchMethod::Bin, false, &["0102"]);
        assert!(bin.matches(Sample::Bin(Cow::Borrowed(&[1, 2]))));
        assert!(!bin.matches(Sample::Bin(Cow::Borrowed(&[1, 2, 3]))));
        assert_eq!(bin.len(), 1);
        assert!(!inline(MatchMethod::Str, false, &[]).matches(s("")));
    }

    #[test]
    fn ip_longest_prefix_and_cross_family() {
        let ips = inline(
            MatchMethod::Ip,
            false,
            &[
                "10.0.0.0/8",
                "10.1.0.0/16",
                "::1",
                "2001:db8::/32",
                "192.168.0.1/255.0.255.0",
            ],
        );
        let ip = |t: &str| Sample::Ip(t.parse().unwrap());
        assert!(ips.matches(ip("10.2.3.4")));
        assert!(ips.matches(ip("10.1.3.4")));
        assert!(ips.matches(ip("::1")));
        assert!(ips.matches(ip("2001:db8:5::1")));
        assert!(ips.matches(ip("::ffff:10.0.0.1")));
        assert!(ips.matches(ip("2002:0a00:0001::1")));
        // Non-prefix mask: 192.x.0.x.
        assert!(ips.matches(ip("192.77.0.9")));
        assert!(!ips.matches(ip("192.77.1.9")));
        assert!(!ips.matches(ip("11.0.0.1")));
        assert!(ips.matches(s("10.9.9.9")));
        assert!(!ips.matches(s("nope")));
        let mapped = inline(MatchMethod::Ip, false, &["::ffff:10.0.0.0/104"]);
        assert!(mapped.matches(ip("10.9.9.9")));
        let mut bad = Index::new(IndexSpec {
            method: MatchMethod::Ip,
            icase: false,
            output: None,
        });
        assert!(bad.add_pattern("10.0.0.0/33", IntOp::Eq).is_err());
    }

    #[test]
    fn bad_patterns_are_errors() {
        let mut reg = Index::new(IndexSpec {
            method: MatchMethod::Reg,
            icase: false,
            output: None,
        });
        assert!(reg.add_pattern("(", IntOp::Eq).is_err());
        let mut int = Index::new(IndexSpec {
            method: MatchMethod::Int,
            icase: false,
            output: None,
        });
        assert!(int.add_pattern("x", IntOp::Eq).is_err());
        int.add_pattern("5", IntOp::Gt).unwrap();
        assert!(int.matches(Sample::Int(6)));
        assert!(!int.matches(Sample::Int(5)));
    }
}
