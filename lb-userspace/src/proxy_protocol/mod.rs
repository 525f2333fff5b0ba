//! The PROXY protocol (v1 text, v2 binary): parsing what a load balancer in front of us
//! sends (`accept-proxy`) and building what we send to servers (`send-proxy[-v2]`).
//!
//! The parser is sans-I/O: [`parse`] takes the bytes received so far and says whether a
//! complete header is there (and how many bytes it spans), more bytes are needed, or the
//! bytes can never become a valid header. [`read_header`] and [`write_header`] are the thin
//! socket edges the runtime calls. Follows HAProxy's `doc/proxy-protocol.txt` strictly.

mod crc32c;
mod error;
mod io;
mod tlv;
mod v1;
mod v2;

use std::net::SocketAddr;

use crate::config::model::ProxyVersion;

pub use crc32c::crc32c;
pub use error::{EncodeError, Endpoint, ParseError};
pub use io::{ReadError, read_header, write_header};
pub use tlv::{RawTlv, SslTlv, Tlv, kind};
pub use v1::{V1_MAX_LEN, encode_v1};
pub use v2::{SIGNATURE, encode_v2, encode_v2_local, encode_v2_with};

/// The outcome of [`parse`] on the bytes received so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parse {
    /// The bytes are a valid beginning of a header; wait for more.
    NeedMore,
    /// A complete header spanning the first `consumed` bytes; the rest is stream data.
    Done {
        /// The decoded header.
        header: Header,
        /// Length of the header on the wire.
        consumed: usize,
    },
    /// The bytes can never start a valid header: close the connection and log this.
    Error(ParseError),
}

/// Parses a PROXY protocol header (v1 or v2) at the start of `buf`. Invalid bytes are
/// reported as soon as they are seen, so a client not speaking the protocol is refused
/// without waiting for a full header.
pub fn parse(buf: &[u8]) -> Parse {
    const V1_PREFIX: &[u8] = b"PROXY ";
    match buf.first() {
        None => Parse::NeedMore,
        Some(b'P') => match prefix_state(buf, V1_PREFIX) {
            Prefix::Partial => Parse::NeedMore,
            Prefix::Mismatch => Parse::Error(ParseError::NotProxyHeader),
            Prefix::Complete => v1::parse(buf),
        },
        Some(b'\r') => match prefix_state(buf, &SIGNATURE) {
            Prefix::Partial => Parse::NeedMore,
            Prefix::Mismatch => Parse::Error(ParseError::NotProxyHeader),
            Prefix::Complete => v2::parse(buf),
        },
        Some(_) => Parse::Error(ParseError::NotProxyHeader),
    }
}

enum Prefix {
    Partial,
    Mismatch,
    Complete,
}

fn prefix_state(buf: &[u8], prefix: &[u8]) -> Prefix {
    let n = buf.len().min(prefix.len());
    if buf[..n] != prefix[..n] {
        Prefix::Mismatch
    } else if n < prefix.len() {
        Prefix::Partial
    } else {
        Prefix::Complete
    }
}

/// Protocol version of a header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// Human-readable text line.
    V1,
    /// Binary format.
    V2,
}

/// What the sender says the connection is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// v2 LOCAL: the sender's own connection (e.g. a health check); use the real addresses.
    Local,
    /// Relayed on behalf of a client described by the addresses (v1 headers are all PROXY).
    Proxy,
}

/// Transport of the relayed connection (v2; v1 only knows TCP).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// SOCK_STREAM: TCP or unix stream.
    Stream,
    /// SOCK_DGRAM: UDP or unix datagram.
    Dgram,
}

/// A unix socket address from a v2 header: the raw 108-byte `sun_path`.
#[derive(Clone, PartialEq, Eq)]
pub struct UnixAddr(pub Box<[u8; 108]>);

impl UnixAddr {
    /// The path bytes before the first NUL (empty for an abstract socket).
    pub fn path(&self) -> &[u8] {
        let end = self.0.iter().position(|&b| b == 0).unwrap_or(self.0.len());
        &self.0[..end]
    }
}

impl std::fmt::Debug for UnixAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "UnixAddr({:?})", String::from_utf8_lossy(self.path()))
    }
}

/// The addresses a header announces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Addresses {
    /// None usable: v1 `UNKNOWN`, v2 LOCAL, or a v2 UNSPEC family or transport.
    Unspec,
    /// IPv4 or IPv6 endpoints, both of the same family when parsed.
    Inet {
        /// TCP or UDP.
        transport: Transport,
        /// The client.
        src: SocketAddr,
        /// The address the client connected to.
        dst: SocketAddr,
    },
    /// Unix socket endpoints (v2 only).
    Unix {
        /// Stream or datagram.
        transport: Transport,
        /// The client.
        src: UnixAddr,
        /// The address the client connected to.
        dst: UnixAddr,
    },
}

/// A decoded PROXY protocol header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// Wire version it came in.
    pub version: Version,
    /// LOCAL or PROXY.
    pub command: Command,
    /// Announced endpoints.
    pub addresses: Addresses,
    /// v2 TLVs in wire order (empty for v1, LOCAL and UNSPEC headers).
    pub tlvs: Vec<Tlv>,
}

impl Header {
    /// The (source, destination) that replace the socket's own addresses for everything
    /// downstream (`src`, `dst`, logs, `send-proxy`), or `None` to keep the real ones. As
    /// HAProxy, only TCP over IPv4/IPv6 announced by a PROXY command is used.
    pub fn client_addrs(&self) -> Option<(SocketAddr, SocketAddr)> {
        match (&self.command, &self.addresses) {
            (
                Command::Proxy,
                Addresses::Inet {
                    transport: Transport::Stream,
                    src,
                    dst,
                },
            ) => Some((*src, *dst)),
            _ => None,
        }
    }

    /// The first TLV of type `kind`, as raw value bytes (SSL gives its whole value).
    fn tlv_value(&self, wanted: u8) -> Option<&[u8]> {
        self.tlvs.iter().find_map(|t| match t {
            Tlv::Alpn(v) if wanted == kind::ALPN => Some(v.as_slice()),
            Tlv::Authority(v) if wanted == kind::AUTHORITY => Some(v.as_slice()),
            Tlv::UniqueId(v) if wanted == kind::UNIQUE_ID => Some(v.as_slice()),
            Tlv::Netns(v) if wanted == kind::NETNS => Some(v.as_slice()),
            _ => None,
        })
    }

    /// The ALPN TLV (`fc_pp_alpn`-like).
    pub fn alpn(&self) -> Option<&[u8]> {
        self.tlv_value(kind::ALPN)
    }

    /// The AUTHORITY TLV (usually the client's SNI), as HAProxy's `fc_pp_authority`.
    pub fn authority(&self) -> Option<&[u8]> {
        self.tlv_value(kind::AUTHORITY)
    }

    /// The UNIQUE_ID TLV, as HAProxy's `fc_pp_unique_id`.
    pub fn unique_id(&self) -> Option<&[u8]> {
        self.tlv_value(kind::UNIQUE_ID)
    }

    /// The SSL TLV, when the upstream proxy terminated TLS.
    pub fn ssl(&self) -> Option<&SslTlv> {
        self.tlvs.iter().find_map(|t| match t {
            Tlv::Ssl(s) => Some(s),
            _ => None,
        })
    }

    /// Encodes this header in its own version. v1 can only express TCP over IP, so other
    /// addresses become `UNKNOWN`; v2 recomputes any CRC32C TLV.
    pub fn encode(&self) -> Result<Vec<u8>, EncodeError> {
        match self.version {
            Version::V1 => Ok(match self.client_addrs() {
                Some((src, dst)) => encode_v1(Some(src), Some(dst)),
                None => encode_v1(None, None),
            }),
            Version::V2 => v2::encode(self.command, &self.addresses, &self.tlvs),
        }
    }
}

/// The header `send-proxy` (v1) or `send-proxy-v2` (v2) puts in front of a relayed
/// connection, announcing `src` → `dst` (the client's addresses, or those its own PROXY
/// header announced). `None` (e.g. a unix socket client) gives v1 `UNKNOWN` / v2 LOCAL.
pub fn header_for(
    version: ProxyVersion,
    src: Option<SocketAddr>,
    dst: Option<SocketAddr>,
) -> Vec<u8> {
    match version {
        ProxyVersion::V1 => encode_v1(src, dst),
        ProxyVersion::V2 => encode_v2(src, dst),
    }
}

/// The header a health check sends when the server uses `send-proxy[-v2]`: as HAProxy, v1
/// announces the check connection's own endpoints and v2 uses the LOCAL command.
pub fn check_header(version: ProxyVersion, local: SocketAddr, peer: SocketAddr) -> Vec<u8> {
    match version {
        ProxyVersion::V1 => encode_v1(Some(local), Some(peer)),
        ProxyVersion::V2 => encode_v2_local(),
    }
}

#[cfg(test)]
mod tests;
