//! Version 2: 12-byte signature, version/command, family/transport, 16-bit length, then
//! the address block and TLVs.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

use super::error::{EncodeError, ParseError};
use super::{Addresses, Command, Header, Parse, Tlv, Transport, UnixAddr, Version, tlv};

/// The v2 signature every binary header starts with.
pub const SIGNATURE: [u8; 12] = *b"\r\n\r\n\0\r\nQUIT\n";

/// Signature, version/command, family/transport, length.
const FIXED: usize = 16;
const INET_LEN: usize = 12;
const INET6_LEN: usize = 36;
const UNIX_LEN: usize = 216;
const UNIX_PATH: usize = 108;

/// Parses a v2 header; `buf` starts with the full signature.
pub(super) fn parse(buf: &[u8]) -> Parse {
    let Some(fixed) = buf.get(..FIXED) else {
        return Parse::NeedMore;
    };
    let (ver_cmd, fam) = (fixed[12], fixed[13]);
    let len = u16::from_be_bytes([fixed[14], fixed[15]]);
    if ver_cmd >> 4 != 2 {
        return Parse::Error(ParseError::V2BadVersion(ver_cmd >> 4));
    }
    let command = match ver_cmd & 0x0F {
        0 => Command::Local,
        1 => Command::Proxy,
        other => return Parse::Error(ParseError::V2BadCommand(other)),
    };
    // LOCAL: "discard the protocol block including the family which is ignored".
    let addr_len = if command == Command::Proxy {
        match address_len(fam) {
            Ok(n) => n,
            Err(e) => return Parse::Error(e),
        }
    } else {
        None
    };
    if let Some(needed) = addr_len
        && usize::from(len) < needed
    {
        let needed = u16::try_from(needed).unwrap_or(u16::MAX);
        return Parse::Error(ParseError::V2AddressTooShort {
            family: fam,
            len,
            needed,
        });
    }
    let total = FIXED + usize::from(len);
    let Some(header) = buf.get(..total) else {
        return Parse::NeedMore;
    };
    let (addresses, tlvs) = match addr_len {
        // Without a known address block the TLVs cannot be located: the spec's
        // "fall back to UNSPEC" mode ignores the whole block.
        None => (Addresses::Unspec, Vec::new()),
        Some(n) => match tlv::parse(header, FIXED + n) {
            Ok(tlvs) => (addresses(fam, &header[FIXED..FIXED + n]), tlvs),
            Err(e) => return Parse::Error(e),
        },
    };
    Parse::Done {
        header: Header {
            version: Version::V2,
            command,
            addresses,
            tlvs,
        },
        consumed: total,
    }
}

/// The address block size of a PROXY command's family/transport byte; `None` for the
/// UNSPEC combinations (either nibble 0).
fn address_len(fam: u8) -> Result<Option<usize>, ParseError> {
    if fam >> 4 > 3 {
        return Err(ParseError::V2BadFamily(fam));
    }
    if fam & 0x0F > 2 {
        return Err(ParseError::V2BadTransport(fam));
    }
    Ok(match fam {
        0x11 | 0x12 => Some(INET_LEN),
        0x21 | 0x22 => Some(INET6_LEN),
        0x31 | 0x32 => Some(UNIX_LEN),
        _ => None,
    })
}

/// Decodes an address block whose size `address_len` checked.
fn addresses(fam: u8, block: &[u8]) -> Addresses {
    let transport = if fam & 0x0F == 2 {
        Transport::Dgram
    } else {
        Transport::Stream
    };
    let port = |at: usize| u16::from_be_bytes([block[at], block[at + 1]]);
    match fam >> 4 {
        1 => {
            let ip =
                |at: usize| Ipv4Addr::new(block[at], block[at + 1], block[at + 2], block[at + 3]);
            Addresses::Inet {
                transport,
                src: SocketAddr::V4(SocketAddrV4::new(ip(0), port(8))),
                dst: SocketAddr::V4(SocketAddrV4::new(ip(4), port(10))),
            }
        }
        2 => {
            let ip = |at: usize| {
                let mut octets = [0u8; 16];
                octets.copy_from_slice(&block[at..at + 16]);
                Ipv6Addr::from(octets)
            };
            Addresses::Inet {
                transport,
                src: SocketAddr::V6(SocketAddrV6::new(ip(0), port(32), 0, 0)),
                dst: SocketAddr::V6(SocketAddrV6::new(ip(16), port(34), 0, 0)),
            }
        }
        _ => {
            let path = |at: usize| {
                let mut raw = Box::new([0u8; UNIX_PATH]);
                raw.copy_from_slice(&block[at..at + UNIX_PATH]);
                UnixAddr(raw)
            };
            Addresses::Unix {
                transport,
                src: path(0),
                dst: path(UNIX_PATH),
            }
        }
    }
}

/// Encodes a v2 header. LOCAL and `Unspec` carry no address (family 0x00); mixed IPv4/IPv6
/// endpoints are sent as IPv6 with the IPv4 one v4-mapped, as HAProxy does. A
/// [`Tlv::Crc32c`] gets the checksum of the final header whatever value it holds.
pub(super) fn encode(
    command: Command,
    addresses: &Addresses,
    tlvs: &[Tlv],
) -> Result<Vec<u8>, EncodeError> {
    let mut out = Vec::with_capacity(FIXED + INET6_LEN);
    out.extend_from_slice(&SIGNATURE);
    let cmd = match command {
        Command::Local => 0x20,
        Command::Proxy => 0x21,
    };
    out.extend_from_slice(&[cmd, 0x00, 0, 0]);
    let trans = |t: &Transport| match t {
        Transport::Stream => 1,
        Transport::Dgram => 2,
    };
    match (command, addresses) {
        (Command::Local, _) | (_, Addresses::Unspec) => {}
        (
            _,
            Addresses::Inet {
                transport,
                src: SocketAddr::V4(s),
                dst: SocketAddr::V4(d),
            },
        ) => {
            out[13] = 0x10 | trans(transport);
            out.extend_from_slice(&s.ip().octets());
            out.extend_from_slice(&d.ip().octets());
            out.extend_from_slice(&s.port().to_be_bytes());
            out.extend_from_slice(&d.port().to_be_bytes());
        }
        (
            _,
            Addresses::Inet {
                transport,
                src,
                dst,
            },
        ) => {
            out[13] = 0x20 | trans(transport);
            out.extend_from_slice(&super::v1::as_v6(src.ip()).octets());
            out.extend_from_slice(&super::v1::as_v6(dst.ip()).octets());
            out.extend_from_slice(&src.port().to_be_bytes());
            out.extend_from_slice(&dst.port().to_be_bytes());
        }
        (
            _,
            Addresses::Unix {
                transport,
                src,
                dst,
            },
        ) => {
            out[13] = 0x30 | trans(transport);
            out.extend_from_slice(&src.0[..]);
            out.extend_from_slice(&dst.0[..]);
        }
    }
    let crc_at = tlv::encode(&mut out, tlvs)?;
    let len =
        u16::try_from(out.len() - FIXED).map_err(|_| EncodeError::TooLong(out.len() - FIXED))?;
    out[14..FIXED].copy_from_slice(&len.to_be_bytes());
    if let Some(at) = crc_at {
        let crc = super::crc32c(&out);
        out[at..at + 4].copy_from_slice(&crc.to_be_bytes());
    }
    Ok(out)
}

/// Builds the v2 header `send-proxy-v2` sends for a client `src` → `dst`: a PROXY command
/// for TCP over IPv4/IPv6, LOCAL when either address is unknown (as HAProxy).
pub fn encode_v2(src: Option<SocketAddr>, dst: Option<SocketAddr>) -> Vec<u8> {
    // Without TLVs the block is at most 36 bytes: encoding cannot fail.
    encode_v2_with(src, dst, &[]).unwrap_or_else(|_| encode_v2_local())
}

/// As [`encode_v2`], followed by `tlvs` (e.g. [`Tlv::UniqueId`], [`Tlv::Authority`],
/// [`Tlv::Crc32c`] to have the checksum computed).
pub fn encode_v2_with(
    src: Option<SocketAddr>,
    dst: Option<SocketAddr>,
    tlvs: &[Tlv],
) -> Result<Vec<u8>, EncodeError> {
    match (src, dst) {
        (Some(src), Some(dst)) => {
            let addresses = Addresses::Inet {
                transport: Transport::Stream,
                src,
                dst,
            };
            encode(Command::Proxy, &addresses, tlvs)
        }
        _ => encode(Command::Local, &Addresses::Unspec, tlvs),
    }
}

/// The 16-byte LOCAL header (health checks: "use the real connection endpoints").
pub fn encode_v2_local() -> Vec<u8> {
    let mut out = SIGNATURE.to_vec();
    out.extend_from_slice(&[0x20, 0x00, 0, 0]);
    out
}

#[cfg(test)]
mod tests;
