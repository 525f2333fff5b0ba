//! Sample fetches: where a sample expression takes its value from.

use std::borrow::Cow;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::sample::fetch_payload::PayloadFetch;
use crate::sample::fetch_state::StateFetch;
use crate::sample::parse::Call;
use crate::sample::value::parse_hex;
use crate::sample::{Fetched, Sample, SampleError, SampleType, StreamCtx};

/// The fetches known so far, with their parsed arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fetch {
    /// `src`: client IP.
    Src,
    /// `src_port`: client port.
    SrcPort,
    /// `dst`: local IP the client reached.
    Dst,
    /// `dst_port`: local port the client reached.
    DstPort,
    /// `fe_name`: name of the frontend.
    FeName,
    /// `thread`: number of the worker serving the stream, `0..nbthread`.
    Thread,
    /// `always_true`.
    AlwaysTrue,
    /// `always_false`.
    AlwaysFalse,
    /// `int(N)`: a constant signed integer.
    Int(i64),
    /// `str(S)`: a constant string.
    Str(String),
    /// `bool(B)`: a constant boolean (`true`/`1` or `false`/`0`).
    Bool(bool),
    /// `bin(HEX)`: a constant binary block.
    Bin(Vec<u8>),
    /// `ipv4(A)`: a constant IPv4 address.
    Ipv4(Ipv4Addr),
    /// `ipv6(A)`: a constant IPv6 address.
    Ipv6(Ipv6Addr),
    /// Stick-table fetches: `sc0_*`..`sc2_*`, `sc_*(N)`, `src_*`.
    Stick(crate::stick::fetch::StickFetch),
    /// Fetches from the client's first bytes (`req.len`, `req.payload`, `req.ssl_sni`,
    /// `req.proto_http`, ...); the only ones whose value may change as data arrives.
    Payload(PayloadFetch),
    /// Fetches from the stream's surroundings (`be_name`, `nbsrv`, `env`, `var`, ...).
    State(StateFetch),
    /// HTTP fetches (`method`, `path`, `req.hdr`, `req.cook`, `status`, ...): no sample
    /// outside HTTP mode.
    Http(crate::sample::fetch_http::HttpFetch),
}

impl Fetch {
    /// Builds the fetch called `call.name`, checking its arguments.
    pub fn parse(call: &Call) -> Result<Self, SampleError> {
        let name = call.name.as_str();
        let fetch = match name {
            "src" => Self::Src,
            "src_port" => Self::SrcPort,
            "dst" => Self::Dst,
            "dst_port" => Self::DstPort,
            "fe_name" => Self::FeName,
            "thread" => Self::Thread,
            "always_true" => Self::AlwaysTrue,
            "always_false" => Self::AlwaysFalse,
            "int" => {
                let arg = one_arg(call)?;
                Self::Int(
                    arg.parse()
                        .map_err(|_| bad_arg(name, format!("'{arg}' is not an integer")))?,
                )
            }
            "str" => Self::Str(one_arg(call)?.to_owned()),
            "bool" => Self::Bool(match one_arg(call)? {
                "true" | "1" => true,
                "false" | "0" => false,
                other => return Err(bad_arg(name, format!("'{other}' is not a boolean"))),
            }),
            "bin" => {
                let arg = one_arg(call)?;
                Self::Bin(
                    parse_hex(arg)
                        .ok_or_else(|| bad_arg(name, format!("'{arg}' is not hexadecimal")))?,
                )
            }
            "ipv4" => {
                let arg = one_arg(call)?;
                Self::Ipv4(
                    arg.parse()
                        .map_err(|_| bad_arg(name, format!("'{arg}' is not an IPv4 address")))?,
                )
            }
            "ipv6" => {
                let arg = one_arg(call)?;
                Self::Ipv6(
                    arg.parse()
                        .map_err(|_| bad_arg(name, format!("'{arg}' is not an IPv6 address")))?,
                )
            }
            other => {
                if let Some(f) = PayloadFetch::parse(call)? {
                    Self::Payload(f)
                } else if let Some(f) = StateFetch::parse(call)? {
                    Self::State(f)
                } else if let Some(f) = crate::stick::fetch::StickFetch::parse(call)? {
                    Self::Stick(f)
                } else if let Some(f) = crate::sample::fetch_http::HttpFetch::parse(call)? {
                    Self::Http(f)
                } else {
                    return Err(SampleError::UnknownFetch(other.to_owned()));
                }
            }
        };
        if fetch.takes_no_args() && !call.args.is_empty() {
            return Err(bad_arg(name, "this fetch takes no argument".to_owned()));
        }
        Ok(fetch)
    }

    /// The fetch's keyword (the canonical spelling of aliases), for messages.
    pub fn name(&self) -> &str {
        match self {
            Self::Src => "src",
            Self::SrcPort => "src_port",
            Self::Dst => "dst",
            Self::DstPort => "dst_port",
            Self::FeName => "fe_name",
            Self::Thread => "thread",
            Self::AlwaysTrue => "always_true",
            Self::AlwaysFalse => "always_false",
            Self::Int(_) => "int",
            Self::Str(_) => "str",
            Self::Bool(_) => "bool",
            Self::Bin(_) => "bin",
            Self::Ipv4(_) => "ipv4",
            Self::Ipv6(_) => "ipv6",
            Self::Stick(f) => &f.keyword,
            Self::Payload(f) => f.name(),
            Self::State(f) => f.name(),
            Self::Http(f) => f.keyword,
        }
    }

    fn takes_no_args(&self) -> bool {
        matches!(
            self,
            Self::Src
                | Self::SrcPort
                | Self::Dst
                | Self::DstPort
                | Self::FeName
                | Self::Thread
                | Self::AlwaysTrue
                | Self::AlwaysFalse
        )
    }

    /// The type this fetch declares (what converters and match methods are checked
    /// against at parse time).
    pub fn out_type(&self) -> SampleType {
        match self {
            Self::Src | Self::Dst => SampleType::Addr,
            Self::SrcPort | Self::DstPort | Self::Int(_) | Self::Thread => SampleType::Int,
            Self::FeName | Self::Str(_) => SampleType::Str,
            Self::AlwaysTrue | Self::AlwaysFalse | Self::Bool(_) => SampleType::Bool,
            Self::Bin(_) => SampleType::Bin,
            Self::Ipv4(_) => SampleType::Ipv4,
            Self::Ipv6(_) => SampleType::Ipv6,
            Self::Stick(stick) => stick.out_type(),
            Self::Payload(f) => f.out_type(),
            Self::State(f) => f.out_type(),
            Self::Http(f) => f.out_type(),
        }
    }

    /// Fetches the value for a stream; `None` when it is not available.
    pub fn eval<'a>(&'a self, ctx: &'a StreamCtx<'_>) -> Option<Sample<'a>> {
        Some(match self {
            Self::Src => Sample::Ip(ctx.src.ip()),
            Self::SrcPort => Sample::Int(i64::from(ctx.src.port())),
            Self::Dst => Sample::Ip(ctx.dst.ip()),
            Self::DstPort => Sample::Int(i64::from(ctx.dst.port())),
            Self::FeName => Sample::Str(Cow::Borrowed(ctx.fe_name)),
            Self::Thread => Sample::Int(i64::try_from(crate::worker::current_id()?).ok()?),
            Self::AlwaysTrue => Sample::Bool(true),
            Self::AlwaysFalse => Sample::Bool(false),
            Self::Int(i) => Sample::Int(*i),
            Self::Str(s) => Sample::Str(Cow::Borrowed(s)),
            Self::Bool(b) => Sample::Bool(*b),
            Self::Bin(b) => Sample::Bin(Cow::Borrowed(b)),
            Self::Ipv4(a) => Sample::Ip(IpAddr::V4(*a)),
            Self::Ipv6(a) => Sample::Ip(IpAddr::V6(*a)),
            Self::Stick(stick) => return stick.eval(ctx),
            Self::Payload(f) => return f.eval(ctx).sample,
            Self::State(f) => return f.eval(ctx),
            Self::Http(f) => return f.eval(ctx),
        })
    }

    /// Fetches the value and says whether more client data could change it (only
    /// payload fetches may).
    pub fn eval_partial<'a>(&'a self, ctx: &'a StreamCtx<'_>) -> Fetched<'a> {
        match self {
            Self::Payload(f) => f.eval(ctx),
            other => Fetched::settled(other.eval(ctx)),
        }
    }
}

fn one_arg(call: &Call) -> Result<&str, SampleError> {
    match call.args.as_slice() {
        [arg] => Ok(arg),
        [] => Err(bad_arg(&call.name, "missing argument".to_owned())),
        _ => Err(bad_arg(&call.name, "too many arguments".to_owned())),
    }
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

    fn fetch(text: &str) -> Result<Fetch, SampleError> {
        Fetch::parse(&split_chain(text)?[0])
    }

    fn ctx() -> StreamCtx<'static> {
        StreamCtx::new(
            "192.0.2.7:40000".parse().unwrap(),
            "[2001:db8::1]:443".parse().unwrap(),
            "www",
        )
    }

    fn eval(text: &str) -> Option<Sample<'static>> {
        let f = fetch(text).unwrap();
        let c = ctx();
        f.eval(&c).map(Sample::into_owned)
    }

    #[test]
    fn connection_fetches() {
        assert_eq!(eval("src"), Some(Sample::Ip("192.0.2.7".parse().unwrap())));
        assert_eq!(eval("src_port"), Some(Sample::Int(40000)));
        assert_eq!(
            eval("dst"),
            Some(Sample::Ip("2001:db8::1".parse().unwrap()))
        );
        assert_eq!(eval("dst_port"), Some(Sample::Int(443)));
        assert_eq!(eval("fe_name"), Some(Sample::Str("www".into())));
        assert_eq!(fetch("src").unwrap().out_type(), SampleType::Addr);
        assert_eq!(fetch("dst_port").unwrap().out_type(), SampleType::Int);
    }

    #[test]
    fn constant_fetches() {
        assert_eq!(eval("always_true"), Some(Sample::Bool(true)));
        assert_eq!(eval("always_false"), Some(Sample::Bool(false)));
        assert_eq!(eval("int(-12)"), Some(Sample::Int(-12)));
        assert_eq!(eval("str(hello)"), Some(Sample::Str("hello".into())));
        assert_eq!(eval("bool(true)"), Some(Sample::Bool(true)));
        assert_eq!(eval("bool(0)"), Some(Sample::Bool(false)));
        assert_eq!(
            eval("bin(0aff)"),
            Some(Sample::Bin(vec![0x0a, 0xff].into()))
        );
        assert_eq!(
            eval("ipv4(10.0.0.1)"),
            Some(Sample::Ip("10.0.0.1".parse().unwrap()))
        );
        assert_eq!(eval("ipv6(::1)"), Some(Sample::Ip("::1".parse().unwrap())));
        assert_eq!(fetch("ipv4(1.2.3.4)").unwrap().out_type(), SampleType::Ipv4);
        assert_eq!(fetch("ipv6(::1)").unwrap().out_type(), SampleType::Ipv6);
    }

    #[test]
    fn argument_errors_name_the_keyword() {
        for bad in [
            "int(x)",
            "int",
            "int(1,2)",
            "ipv4(::1)",
            "ipv6(1.2.3.4)",
            "bool(yes)",
            "bin(xyz)",
            "src(1)",
        ] {
            let err = fetch(bad).unwrap_err();
            let keyword = bad.split('(').next().unwrap();
            assert!(
                matches!(&err, SampleError::BadArgs { keyword: k, .. } if k == keyword),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn unknown_fetch() {
        assert_eq!(
            fetch("req.nope").unwrap_err(),
            SampleError::UnknownFetch("req.nope".into())
        );
    }
}
