//! ACL match methods (`-m str`, `-m ip`, ...) and integer patterns. Patterns are
//! compiled and matched by [`crate::map::Index`], shared with maps.

use crate::acl::AclError;
use crate::sample::SampleType;

/// How a sample is compared with an ACL's patterns (`-m METHOD`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
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
    /// `regm`: regular expressions whose captures feed the value (maps only: `map_regm`).
    Regm,
}

impl MatchMethod {
    /// The method called `name` (`-m NAME`); `regm` is for maps only.
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
            Self::Regm => "regm",
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
            SampleType::Bin | SampleType::Any => None,
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

/// Rewrites a dotted-version pattern (`3.1`, `2:3.1`, `:3`, `3.1-`) as the integer
/// pattern it stands for, HAProxy's `pat_parse_dotted_ver`: each bound is
/// `(major << 16) | minor`, a missing minor being 0 (`3` is SSLv3, `3.0`).
pub fn dotted_version_pattern(text: &str) -> Result<String, AclError> {
    let bad = |what: &str| AclError::BadPattern {
        pattern: text.to_owned(),
        reason: format!("'{text}' is not a {what}"),
    };
    let one = |s: &str| -> Result<i64, AclError> {
        let (major, minor) = s.split_once('.').unwrap_or((s, "0"));
        let part = |p: &str| {
            p.parse::<u16>()
                .ok()
                .filter(|_| p.bytes().all(|b| b.is_ascii_digit()))
        };
        match (part(major), part(minor)) {
            (Some(major), Some(minor)) => Ok((i64::from(major) << 16) | i64::from(minor)),
            _ => Err(bad("dotted number")),
        }
    };
    let Some(sep) = text.find([':', '-']) else {
        return Ok(one(text)?.to_string());
    };
    let (lo, hi) = (&text[..sep], &text[sep + 1..]);
    match (lo.is_empty(), hi.is_empty()) {
        (true, true) => Err(bad("dotted number")),
        (true, false) => Ok(format!(":{}", one(hi)?)),
        (false, true) => Ok(format!("{}:", one(lo)?)),
        (false, false) => {
            let (lo, hi) = (one(lo)?, one(hi)?);
            if lo > hi {
                return Err(bad("valid dotted number range"));
            }
            Ok(format!("{lo}:{hi}"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dotted_versions() {
        let d = |t: &str| dotted_version_pattern(t).unwrap();
        assert_eq!(d("3.1"), "196609");
        assert_eq!(d("3"), "196608");
        assert_eq!(d("2:3.1"), "131072:196609");
        assert_eq!(d("3.1-3.3"), "196609:196611");
        assert_eq!(d(":3.0"), ":196608");
        assert_eq!(d("-3"), ":196608");
        assert_eq!(d("3.2:"), "196610:");
        for bad in ["", ":", "x", "3.x", "3.1.2", "65536", "3.1:2"] {
            assert!(dotted_version_pattern(bad).is_err(), "{bad}");
        }
        let err = dotted_version_pattern("3.1:2").unwrap_err().to_string();
        assert!(err.contains("is not a valid dotted number range"), "{err}");
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
        assert_eq!(MatchMethod::Regm.name(), "regm");
        assert_eq!(MatchMethod::default_for(SampleType::Any), None);
        assert!(MatchMethod::Int.accepts(SampleType::Any));
    }
}
