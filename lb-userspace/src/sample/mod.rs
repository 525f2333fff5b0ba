//! Sample fetches and converters (`fetch(args),conv(args),...`), sans-I/O.
//!
//! A [`SampleExpr`] is parsed once from the config and evaluated against a [`StreamCtx`]
//! for each connection. The rules-engine issue extends the fetch and converter lists; this
//! module is the one entry point for all of them.

use std::net::{IpAddr, SocketAddr};

/// What a sample expression can see of a stream (connection), without any I/O.
#[derive(Debug, Clone)]
pub struct StreamCtx<'a> {
    /// Client address (after PROXY protocol, when that arrives).
    pub src: SocketAddr,
    /// Address the client reached.
    pub dst: SocketAddr,
    /// Frontend name.
    pub fe_name: &'a str,
}

/// A value produced by a fetch or converter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sample {
    /// An IP address.
    Ip(IpAddr),
    /// An integer.
    Int(i64),
    /// A string.
    Str(String),
    /// A boolean.
    Bool(bool),
}

/// A parsed sample expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SampleExpr {
    /// The fetch.
    pub fetch: Fetch,
}

/// The fetches known so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fetch {
    /// `src`: client IP.
    Src,
    /// `src_port`.
    SrcPort,
    /// `dst`: local IP the client reached.
    Dst,
    /// `dst_port`.
    DstPort,
}

/// Why a sample expression could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SampleError {
    /// The fetch name is not known.
    #[error("unknown fetch method '{0}'")]
    UnknownFetch(String),
}

impl SampleExpr {
    /// Parses `fetch(args),conv(args),...` as written in the config.
    pub fn parse(text: &str) -> Result<Self, SampleError> {
        let fetch = match text {
            "src" => Fetch::Src,
            "src_port" => Fetch::SrcPort,
            "dst" => Fetch::Dst,
            "dst_port" => Fetch::DstPort,
            other => return Err(SampleError::UnknownFetch(other.to_owned())),
        };
        Ok(Self { fetch })
    }

    /// Evaluates the expression; `None` when the sample is not available.
    pub fn eval(&self, ctx: &StreamCtx<'_>) -> Option<Sample> {
        Some(match self.fetch {
            Fetch::Src => Sample::Ip(ctx.src.ip()),
            Fetch::SrcPort => Sample::Int(i64::from(ctx.src.port())),
            Fetch::Dst => Sample::Ip(ctx.dst.ip()),
            Fetch::DstPort => Sample::Int(i64::from(ctx.dst.port())),
        })
    }
}
