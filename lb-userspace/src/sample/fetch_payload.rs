//! Fetches reading the client's first bytes (HAProxy's layer-6 request fetches):
//! `req.len`, `req.payload`, `req.payload_lv`, `req.ssl_sni`, `req.ssl_ver`,
//! `req.ssl_hello_type`, `req.proto_http`, `req.rdp_cookie`, `req.rdp_cookie_cnt` and
//! `wait_end`. Each says when more data could change its answer.

use std::borrow::Cow;

use crate::sample::parse::Call;
use crate::sample::tls_hello::{self, Parse};
use crate::sample::{
    BUFSIZE, Fetched, Sample, SampleError, SampleType, StreamCtx, http_detect, rdp,
};

/// Where `req.payload_lv` finds the block: after the length field, or elsewhere.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockOffset {
    /// Just after the length field (no third argument).
    AfterLength,
    /// At an absolute offset.
    Absolute(u64),
    /// Relative to the end of the length field (`+N`, `-N`).
    Relative(i64),
}

/// The payload fetches, with their parsed arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PayloadFetch {
    /// `req.len`, `req_len`: bytes received so far.
    Len,
    /// `req.payload(offset,length)`: `length` bytes at `offset` (0: up to the end).
    Payload {
        /// Offset of the block.
        offset: u64,
        /// Length of the block; 0 means "the rest of the buffer".
        length: u64,
    },
    /// `req.payload_lv(offset1,length[,offset2])`: a block whose big-endian length is
    /// the `length` bytes at `offset1`.
    PayloadLv {
        /// Offset of the length field.
        len_offset: u64,
        /// Size of the length field in bytes.
        len_size: u64,
        /// Where the block starts.
        block: BlockOffset,
    },
    /// `req.ssl_sni`, `req_ssl_sni`: server name of a TLS ClientHello.
    SslSni,
    /// `req.ssl_ver`, `req_ssl_ver`: SSL/TLS version of the first message.
    SslVer,
    /// `req.ssl_hello_type`, `req_ssl_hello_type`: type of the first handshake message.
    SslHelloType,
    /// `req.proto_http`, `req_proto_http`: the data parse as an HTTP/1 request.
    ProtoHttp,
    /// `req.rdp_cookie([name])`, `rdp_cookie`: value of the RDP cookie.
    RdpCookie(String),
    /// `req.rdp_cookie_cnt([name])`, `rdp_cookie_cnt`: 1 if the RDP cookie is there.
    RdpCookieCnt(String),
    /// `wait_end`: true once no more data will come (it never fails otherwise: it waits).
    WaitEnd,
    /// `res.len`, `res.payload(...)`, `res.payload_lv(...)`: the same fetches over the
    /// server's first bytes (`tcp-response content` rules).
    Response(Box<PayloadFetch>),
}

impl PayloadFetch {
    /// Builds the fetch called `call.name` if it is a payload fetch.
    pub fn parse(call: &Call) -> Result<Option<Self>, SampleError> {
        let name = call.name.as_str();
        if let Some(what @ ("len" | "payload" | "payload_lv")) = name.strip_prefix("res.") {
            let req = Call {
                name: format!("req.{what}"),
                ..call.clone()
            };
            let inner = Self::parse(&req).map_err(|e| match e {
                SampleError::BadArgs { reason, .. } => bad(name, &reason),
                other => other,
            })?;
            return Ok(inner.map(|f| Self::Response(Box::new(f))));
        }
        let fetch = match name {
            "req.len" | "req_len" => Self::Len,
            "req.ssl_sni" | "req_ssl_sni" => Self::SslSni,
            "req.ssl_ver" | "req_ssl_ver" => Self::SslVer,
            "req.ssl_hello_type" | "req_ssl_hello_type" => Self::SslHelloType,
            "req.proto_http" | "req_proto_http" => Self::ProtoHttp,
            "wait_end" => Self::WaitEnd,
            "req.rdp_cookie" | "rdp_cookie" | "req.rdp_cookie_cnt" | "rdp_cookie_cnt" => {
                let cookie = match call.args.as_slice() {
                    [] => String::new(),
                    [n] => n.clone(),
                    _ => return Err(bad(name, "too many arguments")),
                };
                if name.ends_with("_cnt") {
                    Self::RdpCookieCnt(cookie)
                } else {
                    Self::RdpCookie(cookie)
                }
            }
            "req.payload" | "payload" => match call.args.as_slice() {
                [offset, length] => Self::Payload {
                    offset: unsigned(name, offset, "offset")?,
                    length: unsigned(name, length, "length")?,
                },
                _ => return Err(bad(name, "expects <offset>,<length>")),
            },
            "req.payload_lv" | "payload_lv" => {
                let (off1, len, off2) = match call.args.as_slice() {
                    [a, b] => (a, b, None),
                    [a, b, c] => (a, b, Some(c)),
                    _ => return Err(bad(name, "expects <offset1>,<length>[,<offset2>]")),
                };
                let len_size = unsigned(name, len, "length")?;
                if len_size == 0 {
                    return Err(bad(name, "payload length must be > 0"));
                }
                let block = match off2.map(String::as_str) {
                    None | Some("") => BlockOffset::AfterLength,
                    Some(rel) if rel.starts_with(['+', '-']) => BlockOffset::Relative(
                        rel.parse()
                            .map_err(|_| bad(name, "offset2 must be an integer"))?,
                    ),
                    Some(abs) => BlockOffset::Absolute(unsigned(name, abs, "offset2")?),
                };
                Self::PayloadLv {
                    len_offset: unsigned(name, off1, "offset1")?,
                    len_size,
                    block,
                }
            }
            _ => return Ok(None),
        };
        let takes_args = matches!(
            fetch,
            Self::Payload { .. }
                | Self::PayloadLv { .. }
                | Self::RdpCookie(_)
                | Self::RdpCookieCnt(_)
        );
        if !takes_args && !call.args.is_empty() {
            return Err(bad(name, "this fetch takes no argument"));
        }
        Ok(Some(fetch))
    }

    /// The fetch's keyword (its main spelling), for messages.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Len => "req.len",
            Self::Payload { .. } => "req.payload",
            Self::PayloadLv { .. } => "req.payload_lv",
            Self::SslSni => "req.ssl_sni",
            Self::SslVer => "req.ssl_ver",
            Self::SslHelloType => "req.ssl_hello_type",
            Self::ProtoHttp => "req.proto_http",
            Self::RdpCookie(_) => "req.rdp_cookie",
            Self::RdpCookieCnt(_) => "req.rdp_cookie_cnt",
            Self::WaitEnd => "wait_end",
            Self::Response(inner) => match **inner {
                Self::Len => "res.len",
                Self::Payload { .. } => "res.payload",
                _ => "res.payload_lv",
            },
        }
    }

    /// The type the fetch declares.
    pub fn out_type(&self) -> SampleType {
        match self {
            Self::Len | Self::SslVer | Self::SslHelloType | Self::RdpCookieCnt(_) => {
                SampleType::Int
            }
            Self::Payload { .. } | Self::PayloadLv { .. } => SampleType::Bin,
            Self::SslSni | Self::RdpCookie(_) => SampleType::Str,
            Self::ProtoHttp | Self::WaitEnd => SampleType::Bool,
            Self::Response(inner) => inner.out_type(),
        }
    }

    /// Fetches from `ctx.payload`, saying whether more data could change the answer.
    pub fn eval<'a>(&self, ctx: &StreamCtx<'a>) -> Fetched<'a> {
        if let Self::Response(inner) = self {
            let mut res = ctx.clone();
            res.payload = ctx.res_payload;
            return inner.eval(&res);
        }
        let data: &'a [u8] = ctx.payload;
        let open = !ctx.payload_final;
        match self {
            Self::Len => Fetched {
                sample: Some(Sample::Int(i64::try_from(data.len()).unwrap_or(i64::MAX))),
                may_change: open,
            },
            Self::Payload { offset, length } => payload(data, *offset, *length, open),
            Self::PayloadLv {
                len_offset,
                len_size,
                block,
            } => payload_lv(data, *len_offset, *len_size, *block),
            Self::SslSni => from_parse(tls_hello::sni(data), |sni| {
                sni.map(|name| Sample::Str(bytes_to_str(name)))
            }),
            Self::SslVer => from_parse(tls_hello::ssl_version(data), |v| {
                Some(Sample::Int(i64::from(v)))
            }),
            Self::SslHelloType => from_parse(tls_hello::hello_type(data), |t| {
                Some(Sample::Int(i64::from(t)))
            }),
            Self::ProtoHttp => from_parse(http_detect::probe_request(data), |()| {
                Some(Sample::Bool(true))
            }),
            Self::RdpCookie(name) => from_parse(rdp::rdp_cookie(data, Some(name)), |v| {
                Some(Sample::Str(bytes_to_str(Cow::Borrowed(v))))
            }),
            Self::RdpCookieCnt(name) => match rdp::rdp_cookie(data, Some(name)) {
                Parse::Done(_) => Fetched::settled(Some(Sample::Int(1))),
                Parse::Invalid => Fetched::settled(Some(Sample::Int(0))),
                // HAProxy gives no count at all until it can tell.
                Parse::Incomplete => Fetched {
                    sample: None,
                    may_change: true,
                },
            },
            Self::WaitEnd if open => Fetched {
                sample: None,
                may_change: true,
            },
            Self::WaitEnd => Fetched::settled(Some(Sample::Bool(true))),
            // Handled above, before `data` is chosen.
            Self::Response(inner) => inner.eval(ctx),
        }
    }
}

fn from_parse<'a, T>(p: Parse<T>, f: impl FnOnce(T) -> Option<Sample<'a>>) -> Fetched<'a> {
    match p {
        Parse::Done(v) => Fetched::settled(f(v)),
        Parse::Invalid => Fetched::settled(None),
        Parse::Incomplete => Fetched {
            sample: None,
            may_change: true,
        },
    }
}

/// Hostile bytes become text without failing (invalid UTF-8 is replaced).
fn bytes_to_str(b: Cow<'_, [u8]>) -> Cow<'_, str> {
    match b {
        Cow::Borrowed(b) => String::from_utf8_lossy(b),
        Cow::Owned(b) => Cow::Owned(String::from_utf8_lossy(&b).into_owned()),
    }
}

fn too_short<'a>() -> Fetched<'a> {
    Fetched {
        sample: None,
        may_change: true,
    }
}

fn never<'a>() -> Fetched<'a> {
    Fetched::settled(None)
}

fn payload(data: &[u8], offset: u64, length: u64, open: bool) -> Fetched<'_> {
    let max = BUFSIZE as u64;
    if length > max || offset.saturating_add(length) > max {
        return never();
    }
    // Both fit in BUFSIZE, hence in usize.
    let (offset, length) = (offset as usize, length as usize);
    if length == 0 {
        // The rest of the buffer: it may still grow.
        return match data.get(offset..) {
            Some(rest) => Fetched {
                sample: Some(Sample::Bin(Cow::Borrowed(rest))),
                may_change: open,
            },
            None => too_short(),
        };
    }
    match data.get(offset..offset + length) {
        Some(block) => Fetched::settled(Some(Sample::Bin(Cow::Borrowed(block)))),
        None => too_short(),
    }
}

fn payload_lv(data: &[u8], len_offset: u64, len_size: u64, block: BlockOffset) -> Fetched<'_> {
    let max = BUFSIZE as u64;
    if len_size > max || len_offset.saturating_add(len_size) > max {
        return never();
    }
    let (lo, ls) = (len_offset as usize, len_size as usize);
    let Some(len_field) = data.get(lo..lo + ls) else {
        return too_short();
    };
    // HAProxy accumulates into a 32-bit integer; longer fields wrap the same way.
    let block_len = len_field.iter().fold(0u32, |acc, &b| {
        acc.wrapping_shl(8).wrapping_add(u32::from(b))
    });
    let after = len_offset + len_size;
    let start = match block {
        BlockOffset::AfterLength => Some(after),
        BlockOffset::Absolute(a) => Some(a),
        BlockOffset::Relative(r) => after.checked_add_signed(r),
    };
    let Some(start) = start else {
        return never();
    };
    let block_len = u64::from(block_len);
    if block_len == 0 || block_len > max || start.saturating_add(block_len) > max {
        return never();
    }
    let (start, block_len) = (start as usize, block_len as usize);
    match data.get(start..start + block_len) {
        Some(b) => Fetched::settled(Some(Sample::Bin(Cow::Borrowed(b)))),
        None => too_short(),
    }
}

fn unsigned(keyword: &str, text: &str, what: &str) -> Result<u64, SampleError> {
    text.parse().map_err(|_| {
        bad(
            keyword,
            &format!("{what} must be a positive integer, got '{text}'"),
        )
    })
}

fn bad(keyword: &str, reason: &str) -> SampleError {
    SampleError::BadArgs {
        keyword: keyword.to_owned(),
        reason: reason.to_owned(),
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod response_tests {
    use super::*;
    use crate::sample::SampleExpr;

    #[test]
    fn res_fetches_read_the_server_bytes() {
        let mut ctx = StreamCtx::new(
            "10.0.0.1:1000".parse().unwrap(),
            "10.0.0.2:80".parse().unwrap(),
            "fe",
        );
        ctx.payload = b"client";
        ctx.res_payload = b"SSH-2.0-x";
        ctx.payload_final = true;
        let len = SampleExpr::parse("res.len").unwrap();
        assert_eq!(len.eval(&ctx), Some(Sample::Int(9)));
        let head = SampleExpr::parse("res.payload(0,4)").unwrap();
        assert_eq!(head.eval(&ctx), Some(Sample::Bin(Cow::Borrowed(b"SSH-"))));
        assert!(SampleExpr::parse("res.payload(0)").is_err());
        assert!(SampleExpr::parse("res.ssl_sni").is_err());
    }
}
