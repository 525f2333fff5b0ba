//! ACL match methods (`-m str`, `-m ip`, ...) and their compiled patterns.

use std::collections::HashSet;

use regex::{Regex, RegexBuilder};

use crate::acl::AclError;
use crate::sample::net::IpNet;
use crate::sample::value::parse_hex;
use crate::sample::{Sample, SampleType};

/// How a sample is compared with an ACL's patterns (`-m METHOD`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchMethod {
    /// `found`: the sample exists; patterns are ignored.
    Found,
    /// `bool`: the sample, as an integer, is non-zero; patterns are ignored.
    Bool,
    /// `int`: integer ranges.
    Int,
    /// `ip`: addresses and networks.
    Ip,
    /// `bin`: exact binary blocks given in hexadecimal.
    Bin,
    /// `len`: ranges on the string length.
    Len,
    /// `str`: exact strings.
    Str,
    /// `beg`: prefixes.
    Beg,
    /// `sub`: substrings.
    Sub,
    /// `dir`: a `/`-delimited portion.
    Dir,
    /// `dom`: a `.`-delimited portion.
    Dom,
    /// `end`: suffixes.
    End,
    /// `reg`: regular expressions.
    Reg,
}

impl MatchMethod {
    /// The method called `name` (`-m NAME`).
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "found" => Self::Found,
            "bool" => Self::Bool,
            "int" => Self::Int,
            "ip" => Self::Ip,
            "bin" => Self::Bin,
            "len" => Self::Len,
            "str" => Self::Str,
            "beg" => Self::Beg,
            "sub" => Self::Sub,
            "dir" => Self::Dir,
            "dom" => Self::Dom,
            "end" => Self::End,
            "reg" => Self::Reg,
            _ => return None,
        })
    }

    /// The method's name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Found => "found",
            Self::Bool => "bool",
            Self::Int => "int",
            Self::Ip => "ip",
            Self::Bin => "bin",
            Self::Len => "len",
            Self::Str => "str",
            Self::Beg => "beg",
            Self::Sub => "sub",
            Self::Dir => "dir",
            Self::Dom => "dom",
            Self::End => "end",
            Self::Reg => "reg",
        }
    }

    /// The type the sample is cast to before matching; `None` for `found`, which only
    /// looks at the sample's existence.
    pub fn expect_type(self) -> Option<SampleType> {
        match self {
            Self::Found => None,
            Self::Bool | Self::Int => Some(SampleType::Int),
            Self::Ip => Some(SampleType::Addr),
            Self::Bin => Some(SampleType::Bin),
            _ => Some(SampleType::Str),
        }
    }

    /// The method used when none is given, from the expression's type (HAProxy has no
    /// default for binary samples).
    pub fn default_for(ty: SampleType) -> Option<Self> {
        match ty {
            SampleType::Bool => Some(Self::Bool),
            SampleType::Int => Some(Self::Int),
            SampleType::Addr | SampleType::Ipv4 | SampleType::Ipv6 => Some(Self::Ip),
            SampleType::Str => Some(Self::Str),
            SampleType::Bin => None,
        }
    }

    /// Whether the method can be applied to a sample of type `ty`.
    pub fn accepts(self, ty: SampleType) -> bool {
        self.expect_type().is_none_or(|want| ty.can_cast_to(want))
    }

    /// Whether patterns are integers, so that `eq ge gt le lt` operators apply.
    pub fn takes_int_patterns(self) -> bool {
        matches!(self, Self::Int | Self::Len)
    }
}

/// A comparison operator written before integer patterns (`gt 1024`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IntOp {
    /// `eq`, the default.
    Eq,
    /// `gt`.
    Gt,
    /// `ge`.
    Ge,
    /// `lt`.
    Lt,
    /// `le`.
    Le,
}

impl IntOp {
    /// The operator called `word`, if it is one.
    pub fn from_word(word: &str) -> Option<Self> {
        Some(match word {
            "eq" => Self::Eq,
            "gt" => Self::Gt,
            "ge" => Self::Ge,
            "lt" => Self::Lt,
            "le" => Self::Le,
            _ => return None,
        })
    }
}

/// An inclusive integer range; a missing bound is open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IntRange {
    /// Lower bound.
    pub min: Option<i64>,
    /// Upper bound.
    pub max: Option<i64>,
}

impl IntRange {
    /// Parses `N`, `A:B`, `:B` or `A:` (`-` also separates, as in HAProxy), then applies
    /// `op` to a plain value (`gt 5` is `6:`).
    pub fn parse(text: &str, op: IntOp) -> Result<Self, AclError> {
        let bad = || AclError::BadPattern {
            pattern: text.to_owned(),
            reason: "not a valid integer or range".to_owned(),
        };
        let int = |s: &str| s.parse::<i64>().map_err(|_| bad());
        let Some(sep) = text.find([':', '-']) else {
            let v = int(text)?;
            return Ok(match op {
                IntOp::Eq => Self::between(v, v),
                IntOp::Ge => Self::at_least(v),
                IntOp::Gt => Self::at_least(v.checked_add(1).ok_or_else(bad)?),
                IntOp::Le => Self::at_most(v),
                IntOp::Lt => Self::at_most(v.checked_sub(1).ok_or_else(bad)?),
            });
        };
        // A range ignores the operator, as HAProxy does.
        let (lo, hi) = (&text[..sep], &text[sep + 1..]);
        match (lo.is_empty(), hi.is_empty()) {
            (true, true) => Err(bad()),
            (true, false) => Ok(Self::at_most(int(hi)?)),
            (false, true) => Ok(Self::at_least(int(lo)?)),
            (false, false) => {
                let (lo, hi) = (int(lo)?, int(hi)?);
                if lo > hi {
                    return Err(bad());
                }
                Ok(Self::between(lo, hi))
            }
        }
    }

    fn between(min: i64, max: i64) -> Self {
        Self {
            min: Some(min),
            max: Some(max),
        }
    }

    fn at_least(min: i64) -> Self {
        Self {
            min: Some(min),
            max: None,
        }
    }

    fn at_most(max: i64) -> Self {
        Self {
            min: None,
            max: Some(max),
        }
    }

    /// Whether `v` is in the range.
    pub fn contains(&self, v: i64) -> bool {
        self.min.is_none_or(|m| m <= v) && self.max.is_none_or(|m| v <= m)
    }
}

/// The compiled patterns of one ACL expression, by match method.
#[derive(Debug, Clone)]
pub enum PatternSet {
    /// `found`.
    Found,
    /// `bool`.
    Bool,
    /// `int` (`len: false`) or `len` (`len: true`).
    Int {
        /// Match the string length instead of the integer value.
        len: bool,
        /// The ranges.
        ranges: Vec<IntRange>,
    },
    /// `ip`.
    Ip(Vec<IpNet>),
    /// `bin`.
    Bin(Vec<Vec<u8>>),
    /// `str`: a set lookup (patterns are lower-cased with `-i`).
    Exact {
        /// Ignore ASCII case.
        icase: bool,
        /// The strings.
        set: HashSet<String>,
    },
    /// `beg`, `sub`, `dir`, `dom`, `end`.
    Text {
        /// Which comparison.
        method: MatchMethod,
        /// Ignore ASCII case.
        icase: bool,
        /// The strings.
        list: Vec<String>,
    },
    /// `reg`.
    Reg(Vec<Regex>),
}

impl PatternSet {
    /// An empty set for `method`.
    pub fn new(method: MatchMethod, icase: bool) -> Self {
        match method {
            MatchMethod::Found => Self::Found,
            MatchMethod::Bool => Self::Bool,
            MatchMethod::Int | MatchMethod::Len => Self::Int {
                len: method == MatchMethod::Len,
                ranges: Vec::new(),
            },
            MatchMethod::Ip => Self::Ip(Vec::new()),
            MatchMethod::Bin => Self::Bin(Vec::new()),
            MatchMethod::Str => Self::Exact {
                icase,
                set: HashSet::new(),
            },
            MatchMethod::Reg => Self::Reg(Vec::new()),
            _ => Self::Text {
                method,
                icase,
                list: Vec::new(),
            },
        }
    }

    /// Adds one pattern, with the operator in force for integer patterns.
    pub fn add(&mut self, text: &str, op: IntOp, icase: bool) -> Result<(), AclError> {
        let bad = |reason: &str| AclError::BadPattern {
            pattern: text.to_owned(),
            reason: reason.to_owned(),
        };
        match self {
            // HAProxy accepts and ignores patterns given to these two.
            Self::Found | Self::Bool => {}
            Self::Int { ranges, .. } => ranges.push(IntRange::parse(text, op)?),
            Self::Ip(nets) => nets
                .push(IpNet::parse(text).ok_or_else(|| bad("not a valid IPv4 or IPv6 address"))?),
            Self::Bin(list) => list.push(parse_hex(text).ok_or_else(|| bad("not hexadecimal"))?),
            Self::Exact { icase, set } => {
                set.insert(if *icase {
                    text.to_ascii_lowercase()
                } else {
                    text.to_owned()
                });
            }
            Self::Text { list, .. } => list.push(text.to_owned()),
            Self::Reg(list) => list.push(
                RegexBuilder::new(text)
                    .case_insensitive(icase)
                    .build()
                    .map_err(|e| bad(&e.to_string()))?,
            ),
        }
        Ok(())
    }

    /// Compares a sample with the patterns (any pattern matching is enough).
    pub fn matches(&self, sample: Sample<'_>) -> bool {
        match self {
            Self::Found => true,
            // `bool` works on the integer value (an IPv4 address counts as one).
            Self::Bool => matches!(sample.cast(SampleType::Int), Some(Sample::Int(v)) if v != 0),
            Self::Int { len: false, ranges } => match sample.cast(SampleType::Int) {
                Some(Sample::Int(v)) => ranges.iter().any(|r| r.contains(v)),
                _ => false,
            },
            Self::Int { len: true, ranges } => match sample.cast(SampleType::Str) {
                Some(Sample::Str(s)) => {
                    let len = i64::try_from(s.len()).unwrap_or(i64::MAX);
                    ranges.iter().any(|r| r.contains(len))
                }
                _ => false,
            },
            Self::Ip(nets) => match sample.cast(SampleType::Addr) {
                Some(Sample::Ip(ip)) => nets.iter().any(|n| n.contains(ip)),
                _ => false,
            },
            Self::Bin(list) => match sample.cast(SampleType::Bin) {
                Some(Sample::Bin(b)) => list.iter().any(|p| **p == *b),
                _ => false,
            },
            Self::Exact { icase, set } => match sample.cast(SampleType::Str) {
                Some(Sample::Str(s)) => {
                    if *icase && s.bytes().any(|c| c.is_ascii_uppercase()) {
                        set.contains(&s.to_ascii_lowercase())
                    } else {
                        set.contains(&*s)
                    }
                }
                _ => false,
            },
            Self::Text {
                method,
                icase,
                list,
            } => match sample.cast(SampleType::Str) {
                Some(Sample::Str(s)) => list
                    .iter()
                    .any(|p| text_match(*method, s.as_bytes(), p.as_bytes(), *icase)),
                _ => false,
            },
            Self::Reg(list) => match sample.cast(SampleType::Str) {
                Some(Sample::Str(s)) => list.iter().any(|r| r.is_match(&s)),
                _ => false,
            },
        }
    }
}

fn eq_bytes(a: &[u8], b: &[u8], icase: bool) -> bool {
    if icase {
        a.eq_ignore_ascii_case(b)
    } else {
        a == b
    }
}

fn text_match(method: MatchMethod, s: &[u8], p: &[u8], icase: bool) -> bool {
    match method {
        MatchMethod::Beg => s.len() >= p.len() && eq_bytes(&s[..p.len()], p, icase),
        MatchMethod::End => s.len() >= p.len() && eq_bytes(&s[s.len() - p.len()..], p, icase),
        MatchMethod::Sub => p.is_empty() || s.windows(p.len()).any(|w| eq_bytes(w, p, icase)),
        MatchMethod::Dir => match_word(s, p, icase, b"/?"),
        MatchMethod::Dom => match_word(s, p, icase, b"/?.:"),
        _ => false,
    }
}

/// Looks for `p` in `s` as a whole word between delimiters (or the string's ends), as
/// HAProxy's `match_word`; delimiters at the ends of the pattern are ignored.
fn match_word(s: &[u8], p: &[u8], icase: bool, delims: &[u8]) -> bool {
    let is_delim = |c: &u8| delims.contains(c);
    let start = p.iter().position(|c| !is_delim(c)).unwrap_or(p.len());
    let end = p
        .iter()
        .rposition(|c| !is_delim(c))
        .map_or(start, |i| i + 1);
    let p = &p[start..end];
    if p.is_empty() || p.len() > s.len() {
        return false;
    }
    let mut may_match = true;
    for i in 0..=s.len() - p.len() {
        if is_delim(&s[i]) {
            may_match = true;
            continue;
        }
        if !may_match {
            continue;
        }
        if eq_bytes(&s[i..i + p.len()], p, icase) && s.get(i + p.len()).is_none_or(is_delim) {
            return true;
        }
        may_match = false;
    }
    false
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use super::*;

    fn set(method: &str, icase: bool, patterns: &[&str]) -> PatternSet {
        let mut set = PatternSet::new(MatchMethod::from_name(method).unwrap(), icase);
        for p in patterns {
            set.add(p, IntOp::Eq, icase).unwrap();
        }
        set
    }

    fn s(text: &str) -> Sample<'_> {
        Sample::Str(Cow::Borrowed(text))
    }

    #[test]
    fn int_ranges() {
        let r = |t: &str, op| IntRange::parse(t, op).unwrap();
        assert_eq!(r("5", IntOp::Eq), IntRange::between(5, 5));
        assert_eq!(r("1:10", IntOp::Eq), IntRange::between(1, 10));
        assert_eq!(r("1-10", IntOp::Eq), IntRange::between(1, 10));
        assert_eq!(r(":10", IntOp::Eq), IntRange::at_most(10));
        assert_eq!(r("10:", IntOp::Eq), IntRange::at_least(10));
        assert_eq!(r("5", IntOp::Gt), IntRange::at_least(6));
        assert_eq!(r("5", IntOp::Ge), IntRange::at_least(5));
        assert_eq!(r("5", IntOp::Lt), IntRange::at_most(4));
        assert_eq!(r("5", IntOp::Le), IntRange::at_most(5));
        // A range ignores the operator.
        assert_eq!(r("1:3", IntOp::Gt), IntRange::between(1, 3));
        for bad in ["", ":", "x", "10:1", "1:x", "1:2:3"] {
            assert!(IntRange::parse(bad, IntOp::Eq).is_err(), "{bad}");
        }
    }

    #[test]
    fn int_and_len_matching() {
        let ints = set("int", false, &["80", "8000:8080", "9000:"]);
        assert!(ints.matches(Sample::Int(80)));
        assert!(ints.matches(Sample::Int(8042)));
        assert!(ints.matches(Sample::Int(65000)));
        assert!(!ints.matches(Sample::Int(81)));
        assert!(ints.matches(s("80")));
        let lens = set("len", false, &["3"]);
        assert!(lens.matches(s("abc")));
        assert!(!lens.matches(s("abcd")));
    }

    #[test]
    fn ip_matching() {
        let ips = set("ip", false, &["10.0.0.0/8", "::1", "192.168.0.1"]);
        assert!(ips.matches(Sample::Ip("10.2.3.4".parse().unwrap())));
        assert!(ips.matches(Sample::Ip("::1".parse().unwrap())));
        assert!(ips.matches(Sample::Ip("::ffff:10.0.0.1".parse().unwrap())));
        assert!(ips.matches(s("192.168.0.1")));
        assert!(!ips.matches(Sample::Ip("192.168.0.2".parse().unwrap())));
        assert!(!ips.matches(s("not an ip")));
        let mut bad = PatternSet::new(MatchMethod::Ip, false);
        assert!(bad.add("10.0.0.0/33", IntOp::Eq, false).is_err());
    }

    #[test]
    fn exact_strings() {
        let exact = set("str", false, &["foo", "Bar"]);
        assert!(exact.matches(s("foo")));
        assert!(exact.matches(s("Bar")));
        assert!(!exact.matches(s("bar")));
        assert!(!exact.matches(s("fo")));
        let icase = set("str", true, &["Bar"]);
        assert!(icase.matches(s("bar")));
        assert!(icase.matches(s("BAR")));
    }

    #[test]
    fn prefix_suffix_substring() {
        let beg = set("beg", false, &["/api"]);
        assert!(beg.matches(s("/api/v1")));
        assert!(!beg.matches(s("/ap")));
        assert!(!set("beg", false, &["/API"]).matches(s("/api")));
        assert!(set("beg", true, &["/API"]).matches(s("/api")));
        let end = set("end", false, &[".jpg"]);
        assert!(end.matches(s("a.jpg")));
        assert!(!end.matches(s("a.jpeg")));
        assert!(set("end", true, &[".JPG"]).matches(s("a.jpg")));
        let sub = set("sub", false, &["admin"]);
        assert!(sub.matches(s("/x/admin/y")));
        assert!(!sub.matches(s("/x/adm/y")));
        assert!(set("sub", true, &["ADMIN"]).matches(s("/x/admin/y")));
        assert!(set("sub", false, &[""]).matches(s("anything")));
    }

    #[test]
    fn dom_and_dir() {
        let dom = set("dom", false, &["example"]);
        assert!(dom.matches(s("www.example.com")));
        assert!(dom.matches(s("example")));
        assert!(!dom.matches(s("www.myexample.com")));
        assert!(!dom.matches(s("www.examples.com")));
        assert!(set("dom", false, &[".com."]).matches(s("www.example.com")));
        assert!(set("dom", true, &["EXAMPLE"]).matches(s("www.example.com")));
        assert!(set("dom", false, &["example"]).matches(s("example.com:8080")));
        let dir = set("dir", false, &["img"]);
        assert!(dir.matches(s("/static/img/a.png")));
        assert!(dir.matches(s("/img?x")));
        assert!(!dir.matches(s("/static/imgs/a.png")));
        assert!(set("dir", false, &["/img/"]).matches(s("/img")));
        assert!(!set("dir", false, &["//"]).matches(s("/img")));
    }

    #[test]
    fn regex_and_bin() {
        let reg = set("reg", false, &["^/api/v[0-9]+"]);
        assert!(reg.matches(s("/api/v2/x")));
        assert!(!reg.matches(s("/API/v2/x")));
        assert!(set("reg", true, &["^/api"]).matches(s("/API/v2/x")));
        let mut bad = PatternSet::new(MatchMethod::Reg, false);
        assert!(bad.add("(", IntOp::Eq, false).is_err());
        let bin = set("bin", false, &["0102"]);
        assert!(bin.matches(Sample::Bin(Cow::Borrowed(&[1, 2]))));
        assert!(!bin.matches(Sample::Bin(Cow::Borrowed(&[1, 2, 3]))));
        assert!(bin.matches(s("\u{1}\u{2}")));
    }

    #[test]
    fn found_and_bool() {
        assert!(set("found", false, &[]).matches(Sample::Int(0)));
        let b = set("bool", false, &[]);
        assert!(b.matches(Sample::Bool(true)));
        assert!(!b.matches(Sample::Bool(false)));
        assert!(b.matches(Sample::Int(3)));
        assert!(!b.matches(Sample::Int(0)));
        assert!(b.matches(s("1")));
        assert!(b.matches(Sample::Ip("0.0.0.1".parse().unwrap())));
        assert!(!b.matches(Sample::Ip("0.0.0.0".parse().unwrap())));
    }

    #[test]
    fn methods_and_types() {
        assert_eq!(
            MatchMethod::default_for(SampleType::Addr),
            Some(MatchMethod::Ip)
        );
        assert_eq!(
            MatchMethod::default_for(SampleType::Int),
            Some(MatchMethod::Int)
        );
        assert_eq!(
            MatchMethod::default_for(SampleType::Str),
            Some(MatchMethod::Str)
        );
        assert_eq!(
            MatchMethod::default_for(SampleType::Bool),
            Some(MatchMethod::Bool)
        );
        assert_eq!(MatchMethod::default_for(SampleType::Bin), None);
        assert!(MatchMethod::Str.accepts(SampleType::Addr));
        assert!(!MatchMethod::Int.accepts(SampleType::Addr));
        assert!(MatchMethod::Found.accepts(SampleType::Bin));
        assert!(!MatchMethod::Ip.accepts(SampleType::Bool));
        for m in [
            "found", "bool", "int", "ip", "bin", "len", "str", "beg", "sub", "dir", "dom", "end",
            "reg",
        ] {
            assert_eq!(MatchMethod::from_name(m).unwrap().name(), m);
        }
        assert_eq!(MatchMethod::from_name("regm"), None);
    }
}
