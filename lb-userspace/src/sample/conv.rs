//! Sample converters: transformations applied after a fetch (`src,ipmask(24)`).

use std::borrow::Cow;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::sample::conv_codec::CodecConv;
use crate::sample::conv_hash::HashConv;
use crate::sample::conv_map::MapConv;
use crate::sample::conv_text::TextConv;
use crate::sample::net::{parse_mask4, parse_mask6};
use crate::sample::parse::Call;
use crate::sample::vars::VarName;
use crate::sample::{Sample, SampleError, SampleType, StreamCtx};

/// An arithmetic operation of the `add`, `sub`, `mul`, `div` and `mod` converters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arith {
    /// `add(N)`, saturating.
    Add,
    /// `sub(N)`, saturating.
    Sub,
    /// `mul(N)`, saturating.
    Mul,
    /// `div(N)`; division by zero gives the largest integer, as in HAProxy.
    Div,
    /// `mod(N)`; modulo zero gives zero, as in HAProxy.
    Mod,
}

impl Arith {
    /// Applies the operation with HAProxy's overflow rules (results are capped).
    pub fn apply(self, a: i64, b: i64) -> i64 {
        match self {
            Self::Add => a.saturating_add(b),
            Self::Sub => a.saturating_sub(b),
            Self::Mul => a.saturating_mul(b),
            Self::Div if b == 0 => i64::MAX,
            Self::Div => a.saturating_div(b),
            Self::Mod if b == 0 => 0,
            // i64::MIN % -1 overflows in Rust; mathematically it is 0.
            Self::Mod => a.wrapping_rem(b),
        }
    }
}

/// The converters known so far, with their parsed arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Converter {
    /// `lower`: ASCII lower case.
    Lower,
    /// `upper`: ASCII upper case.
    Upper,
    /// `ipmask(mask4[,mask6])`: keeps the network part of an address. Without `mask6`,
    /// IPv6 addresses fail to convert (HAProxy's compatibility rule).
    IpMask {
        /// Mask applied to IPv4 addresses.
        v4: Ipv4Addr,
        /// Mask applied to IPv6 addresses.
        v6: Option<Ipv6Addr>,
    },
    /// `add`, `sub`, `mul`, `div`, `mod` with a constant.
    Arith(Arith, i64),
    /// `add`, `sub`, `mul`, `div`, `mod` with a variable (`add(txn.n)`); no value when
    /// the variable is unset or not an integer.
    ArithVar(Arith, VarName),
    /// `length`: length of a string in bytes.
    Length,
    /// Stick-table lookups: `table_*(T)`, `in_table(T)`.
    Table(crate::stick::conv::TableConv),
    /// `map`, `map_<match>[_<output>]`: map file lookups.
    Map(Box<MapConv>),
    /// `base64`, `b64dec`, `hex`, `json`.
    Codec(CodecConv),
    /// `crc32`, `djb2`, `sdbm`, `wt6`, `xxh3`.
    Hash(HashConv),
    /// `word`, `field`, `regsub`, `bytes`, `concat`.
    Text(TextConv),
    /// `url_dec`, `url_enc`, `http_date`, `ltime`, `utime`.
    Http(crate::sample::conv_http::HttpConv),
}

impl Converter {
    /// Builds the converter called `call.name`, checking its arguments.
    pub fn parse(call: &Call) -> Result<Self, SampleError> {
        let name = call.name.as_str();
        let conv = match name {
            "lower" => Self::Lower,
            "upper" => Self::Upper,
            "length" => Self::Length,
            "ipmask" => {
                let (m4, m6) = match call.args.as_slice() {
                    [m4] => (m4, None),
                    [m4, m6] => (m4, Some(m6)),
                    [] => return Err(bad_arg(name, "missing IPv4 mask".into())),
                    _ => return Err(bad_arg(name, "too many arguments".into())),
                };
                let v4 = parse_mask4(m4)
                    .ok_or_else(|| bad_arg(name, format!("'{m4}' is not a valid IPv4 mask")))?;
                let v6 = match m6 {
                    Some(m6) => Some(parse_mask6(m6).ok_or_else(|| {
                        bad_arg(name, format!("'{m6}' is not a valid IPv6 mask"))
                    })?),
                    None => None,
                };
                Self::IpMask {
                    v4: Ipv4Addr::from(v4),
                    v6: v6.map(Ipv6Addr::from),
                }
            }
            "add" | "sub" | "mul" | "div" | "mod" => {
                let op = match name {
                    "add" => Arith::Add,
                    "sub" => Arith::Sub,
                    "mul" => Arith::Mul,
                    "div" => Arith::Div,
                    _ => Arith::Mod,
                };
                let arg = match call.args.as_slice() {
                    [arg] => arg,
                    [] => return Err(bad_arg(name, "missing argument".into())),
                    _ => return Err(bad_arg(name, "too many arguments".into())),
                };
                // HAProxy tries a variable name first, then an integer.
                if let Ok(var) = VarName::parse(arg) {
                    Self::ArithVar(op, var)
                } else {
                    let value = arg
                        .parse()
                        .map_err(|_| bad_arg(name, format!("'{arg}' is not an integer")))?;
                    Self::Arith(op, value)
                }
            }
            other => {
                if let Some(c) = MapConv::parse(call)? {
                    Self::Map(Box::new(c))
                } else if let Some(c) = CodecConv::parse(call)? {
                    Self::Codec(c)
                } else if let Some(c) = HashConv::parse(call)? {
                    Self::Hash(c)
                } else if let Some(c) = TextConv::parse(call)? {
                    Self::Text(c)
                } else if let Some(c) = crate::stick::conv::TableConv::parse(call)? {
                    Self::Table(c)
                } else if let Some(c) = crate::sample::conv_http::HttpConv::parse(call)? {
                    Self::Http(c)
                } else {
                    return Err(SampleError::UnknownConverter(other.to_owned()));
                }
            }
        };
        if matches!(conv, Self::Lower | Self::Upper | Self::Length) && !call.args.is_empty() {
            return Err(bad_arg(name, "this converter takes no argument".into()));
        }
        Ok(conv)
    }

    /// The type the converter expects (its input is cast to it first).
    pub fn in_type(&self) -> SampleType {
        match self {
            Self::Lower | Self::Upper | Self::Length => SampleType::Str,
            Self::IpMask { .. } => SampleType::Addr,
            Self::Arith(..) | Self::ArithVar(..) => SampleType::Int,
            Self::Map(c) => c.in_type(),
            Self::Codec(c) => c.in_type(),
            Self::Hash(c) => c.in_type(),
            Self::Text(c) => c.in_type(),
            Self::Table(table) => table.in_type(),
            Self::Http(c) => c.in_type(),
        }
    }

    /// The type the converter produces.
    pub fn out_type(&self) -> SampleType {
        match self {
            Self::Lower | Self::Upper => SampleType::Str,
            Self::IpMask { .. } => SampleType::Addr,
            Self::Arith(..) | Self::ArithVar(..) | Self::Length => SampleType::Int,
            Self::Map(c) => c.out_type(),
            Self::Codec(c) => c.out_type(),
            Self::Hash(c) => c.out_type(),
            Self::Text(c) => c.out_type(),
            Self::Table(table) => table.out_type(),
            Self::Http(c) => c.out_type(),
        }
    }

    /// Applies the converter with access to the stream (variables for `concat` and
    /// `add(txn.x)`-style arithmetic); the others ignore it.
    pub fn apply_ctx<'a>(&self, input: Sample<'a>, ctx: &StreamCtx<'_>) -> Option<Sample<'a>> {
        match (self, input) {
            (Self::Text(c), input) => c.apply(input, Some(ctx)),
            (Self::ArithVar(op, var), Sample::Int(a)) => {
                match ctx.vars?.get(var)?.cast(SampleType::Int)? {
                    Sample::Int(b) => Some(Sample::Int(op.apply(a, b))),
                    _ => None,
                }
            }
            (conv, input) => conv.apply(input),
        }
    }

    /// Applies the converter to a value already cast to [`Converter::in_type`]; `None`
    /// when the conversion fails (the whole expression then has no value). Converters
    /// that read the stream (see [`Converter::apply_ctx`]) act as if it had no variable.
    pub fn apply<'a>(&self, input: Sample<'a>) -> Option<Sample<'a>> {
        match (self, input) {
            (Self::Lower, Sample::Str(s)) => Some(Sample::Str(map_ascii(s, false))),
            (Self::Upper, Sample::Str(s)) => Some(Sample::Str(map_ascii(s, true))),
            (Self::Length, Sample::Str(s)) => Some(Sample::Int(i64::try_from(s.len()).ok()?)),
            (Self::Arith(op, b), Sample::Int(a)) => Some(Sample::Int(op.apply(a, *b))),
            (Self::Map(c), input) => c.apply(input),
            (Self::Codec(c), input) => c.apply(input),
            (Self::Hash(c), input) => c.apply(input),
            (Self::Text(c), input) => c.apply(input, None),
            (Self::IpMask { v4, v6 }, Sample::Ip(ip)) => Some(Sample::Ip(match ip {
                IpAddr::V4(a) => IpAddr::V4(Ipv4Addr::from(u32::from(a) & u32::from(*v4))),
                IpAddr::V6(a) => IpAddr::V6(Ipv6Addr::from(u128::from(a) & u128::from((*v6)?))),
            })),
            (Self::Table(table), input) => table.apply(input),
            (Self::Http(c), input) => c.apply(input),
            _ => None,
        }
    }
}

/// Changes the case of ASCII letters, only allocating when something changes.
fn map_ascii(s: Cow<'_, str>, upper: bool) -> Cow<'_, str> {
    let needs = |c: &u8| {
        if upper {
            c.is_ascii_lowercase()
        } else {
            c.is_ascii_uppercase()
        }
    };
    if !s.as_bytes().iter().any(needs) {
        return s;
    }
    let mut owned = s.into_owned();
    if upper {
        owned.make_ascii_uppercase();
    } else {
        owned.make_ascii_lowercase();
    }
    Cow::Owned(owned)
}

fn bad_arg(keyword: &str, reason: String) -> SampleError {
    SampleError::BadArgs {
        keyword: keyword.to_owned(),
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample::parse::split_chain;

    fn conv(text: &str) -> Result<Converter, SampleError> {
        Converter::parse(&split_chain(text)?[0])
    }

    fn apply(text: &str, input: Sample<'static>) -> Option<Sample<'static>> {
        let c = conv(text).unwrap();
        let input = input.cast(c.in_type())?;
        c.apply(input).map(Sample::into_owned)
    }

    fn ip(text: &str) -> Sample<'static> {
        Sample::Ip(text.parse().unwrap())
    }

    #[test]
    fn case_converters() {
        assert_eq!(
            apply("lower", Sample::Str("AbC".into())),
            Some(Sample::Str("abc".into()))
        );
        assert_eq!(
            apply("upper", Sample::Str("AbC".into())),
            Some(Sample::Str("ABC".into()))
        );
        // Non-ASCII letters are left alone, as with C's tolower().
        assert_eq!(
            apply("upper", Sample::Str("é".into())),
            Some(Sample::Str("é".into()))
        );
        // Implicit cast: an address becomes its text.
        assert_eq!(apply("upper", ip("::a")), Some(Sample::Str("::A".into())));
        let borrowed = Sample::Str(Cow::Borrowed("abc"));
        let out = Converter::Lower.apply(borrowed);
        assert!(matches!(out, Some(Sample::Str(Cow::Borrowed(_)))));
    }

    #[test]
    fn ipmask() {
        assert_eq!(apply("ipmask(24)", ip("10.1.2.3")), Some(ip("10.1.2.0")));
        assert_eq!(
            apply("ipmask(255.255.0.0)", ip("10.1.2.3")),
            Some(ip("10.1.0.0"))
        );
        assert_eq!(
            apply("ipmask(24,64)", ip("2001:db8:1:2:3::4")),
            Some(ip("2001:db8:1:2::"))
        );
        assert_eq!(
            apply("ipmask(24,ffff::)", ip("2001:db8::4")),
            Some(ip("2001::"))
        );
        // Without mask6, IPv6 addresses do not convert.
        assert_eq!(apply("ipmask(24)", ip("2001:db8::1")), None);
        // Strings holding addresses are cast first.
        assert_eq!(
            apply("ipmask(8)", Sample::Str("10.9.9.9".into())),
            Some(ip("10.0.0.0"))
        );
        assert!(conv("ipmask(33)").is_err());
        assert!(conv("ipmask").is_err());
        assert!(conv("ipmask(8,200)").is_err());
    }

    #[test]
    fn arithmetic() {
        assert_eq!(apply("add(3)", Sample::Int(4)), Some(Sample::Int(7)));
        assert_eq!(apply("sub(10)", Sample::Int(4)), Some(Sample::Int(-6)));
        assert_eq!(apply("mul(-3)", Sample::Int(4)), Some(Sample::Int(-12)));
        assert_eq!(apply("div(2)", Sample::Int(7)), Some(Sample::Int(3)));
        assert_eq!(apply("mod(4)", Sample::Int(7)), Some(Sample::Int(3)));
        assert_eq!(
            apply("add(1)", Sample::Str("41".into())),
            Some(Sample::Int(42))
        );
        assert_eq!(apply("add(1)", Sample::Bool(true)), Some(Sample::Int(2)));
    }

    #[test]
    fn arithmetic_edges_follow_haproxy() {
        assert_eq!(apply("div(0)", Sample::Int(7)), Some(Sample::Int(i64::MAX)));
        assert_eq!(apply("mod(0)", Sample::Int(7)), Some(Sample::Int(0)));
        assert_eq!(
            apply("add(1)", Sample::Int(i64::MAX)),
            Some(Sample::Int(i64::MAX))
        );
        assert_eq!(
            apply("sub(1)", Sample::Int(i64::MIN)),
            Some(Sample::Int(i64::MIN))
        );
        assert_eq!(
            apply("mul(2)", Sample::Int(i64::MAX)),
            Some(Sample::Int(i64::MAX))
        );
        assert_eq!(
            apply("mul(-2)", Sample::Int(i64::MAX)),
            Some(Sample::Int(i64::MIN))
        );
        assert_eq!(
            apply("div(-1)", Sample::Int(i64::MIN)),
            Some(Sample::Int(i64::MAX))
        );
        assert_eq!(
            apply("mod(-1)", Sample::Int(i64::MIN)),
            Some(Sample::Int(0))
        );
        assert!(conv("add(x)").is_err());
        assert!(conv("add").is_err());
        assert!(conv("add(1,2)").is_err());
    }

    #[test]
    fn length() {
        assert_eq!(
            apply("length", Sample::Str("héllo".into())),
            Some(Sample::Int(6))
        );
        assert_eq!(apply("length", Sample::Int(1234)), Some(Sample::Int(4)));
        assert!(conv("length(1)").is_err());
    }

    #[test]
    fn every_converter_dispatches_with_its_types() {
        use SampleType::{Addr, Bin, Int, Str};
        for (text, input, output) in [
            ("base64", Bin, Str),
            ("b64dec", Str, Bin),
            ("hex", Bin, Str),
            ("json", Str, Str),
            ("json(utf8)", Str, Str),
            ("crc32", Bin, Int),
            ("djb2(1)", Bin, Int),
            ("sdbm", Bin, Int),
            ("wt6", Bin, Int),
            ("xxh3(3)", Bin, Int),
            ("word(1,_)", Str, Str),
            ("field(-1,_,2)", Str, Str),
            ("regsub(a,b,g)", Str, Str),
            ("bytes(1,2)", Bin, Bin),
            ("concat(a,txn.b,c)", Str, Str),
            ("add(txn.n)", Int, Int),
            ("mod(3)", Int, Int),
            ("ipmask(8)", Addr, Addr),
        ] {
            let c = conv(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!((c.in_type(), c.out_type()), (input, output), "{text}");
        }
    }

    #[test]
    fn unknown_converter() {
        assert_eq!(
            conv("frobnicate").unwrap_err(),
            SampleError::UnknownConverter("frobnicate".into())
        );
    }
}
