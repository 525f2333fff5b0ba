//! v2 Type-Length-Value extensions after the addresses: ALPN, AUTHORITY, CRC32C, NOOP,
//! UNIQUE_ID, SSL (with sub-TLVs), NETNS, and any other type kept raw.

use super::crc32c::Crc32c;
use super::error::{EncodeError, ParseError};

/// Registered TLV types (`PP2_TYPE_*` / `PP2_SUBTYPE_*`).
pub mod kind {
    /// Application-Layer Protocol Negotiation.
    pub const ALPN: u8 = 0x01;
    /// Host name the client asked for (often the SNI).
    pub const AUTHORITY: u8 = 0x02;
    /// CRC32C of the whole header.
    pub const CRC32C: u8 = 0x03;
    /// Padding, ignored.
    pub const NOOP: u8 = 0x04;
    /// Opaque connection id of up to 128 bytes.
    pub const UNIQUE_ID: u8 = 0x05;
    /// TLS facts about the client connection.
    pub const SSL: u8 = 0x20;
    /// SSL sub-TLV: TLS version string.
    pub const SSL_VERSION: u8 = 0x21;
    /// SSL sub-TLV: client certificate Common Name.
    pub const SSL_CN: u8 = 0x22;
    /// SSL sub-TLV: cipher name.
    pub const SSL_CIPHER: u8 = 0x23;
    /// SSL sub-TLV: certificate signature algorithm.
    pub const SSL_SIG_ALG: u8 = 0x24;
    /// SSL sub-TLV: certificate key algorithm.
    pub const SSL_KEY_ALG: u8 = 0x25;
    /// Network namespace name.
    pub const NETNS: u8 = 0x30;
}

/// Longest AUTHORITY value HAProxy accepts (`PP2_AUTHORITY_MAX`).
pub(super) const AUTHORITY_MAX: usize = 255;
/// Longest UNIQUE_ID value the specification allows.
pub(super) const UNIQUE_ID_MAX: usize = 128;
/// `client` (1 byte) and `verify` (4 bytes) before the SSL sub-TLVs.
const SSL_PREFIX: usize = 5;
/// Type (1 byte) and length (2 bytes).
const TLV_HEADER: usize = 3;

/// A TLV whose type this parser does not interpret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawTlv {
    /// Type byte.
    pub kind: u8,
    /// Value bytes.
    pub value: Vec<u8>,
}

/// The `PP2_TYPE_SSL` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SslTlv {
    /// `PP2_CLIENT_*` bits: 0x01 SSL, 0x02 certificate on this connection, 0x04 in session.
    pub client: u8,
    /// 0 when the client presented a certificate that verified.
    pub verify: u32,
    /// Sub-TLVs (`kind::SSL_*`) in wire order.
    pub subs: Vec<RawTlv>,
}

impl SslTlv {
    /// The first sub-TLV of type `kind`.
    pub fn sub(&self, kind: u8) -> Option<&[u8]> {
        self.subs
            .iter()
            .find(|t| t.kind == kind)
            .map(|t| t.value.as_slice())
    }
}

/// One v2 TLV.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Tlv {
    /// ALPN protocol bytes.
    Alpn(Vec<u8>),
    /// Host name (UTF-8 by the specification, kept as bytes), at most 255 bytes.
    Authority(Vec<u8>),
    /// The checksum carried; verified when parsing, recomputed when encoding.
    Crc32c(u32),
    /// Padding bytes.
    Noop(Vec<u8>),
    /// Opaque id, at most 128 bytes.
    UniqueId(Vec<u8>),
    /// TLS facts.
    Ssl(SslTlv),
    /// Network namespace name.
    Netns(Vec<u8>),
    /// Any other type, including the custom (0xE0..=0xEF) and experimental ranges.
    Other(RawTlv),
}

/// One TLV found in a byte area: offset of its value in the area, type, value.
type Found<'a> = (usize, u8, &'a [u8]);

/// Splits `bytes` into raw TLVs, each wholly inside `bytes`.
fn split(bytes: &[u8], overflow: ParseError) -> Result<Vec<Found<'_>>, ParseError> {
    let mut out = Vec::new();
    let mut off = 0;
    while off < bytes.len() {
        let head = bytes
            .get(off..off + TLV_HEADER)
            .ok_or_else(|| overflow.clone())?;
        let len = usize::from(u16::from_be_bytes([head[1], head[2]]));
        let start = off + TLV_HEADER;
        let value = bytes
            .get(start..start + len)
            .ok_or_else(|| overflow.clone())?;
        out.push((start, head[0], value));
        off = start + len;
    }
    Ok(out)
}

/// Parses the TLVs in `header[start..]`, `header` being the whole v2 header (for CRC32C).
pub(super) fn parse(header: &[u8], start: usize) -> Result<Vec<Tlv>, ParseError> {
    let area = header.get(start..).unwrap_or_default();
    let raw = split(area, ParseError::V2TlvOverflow)?;
    if raw.iter().filter(|(_, k, _)| *k == kind::CRC32C).count() > 1 {
        return Err(ParseError::V2DuplicateCrc32c);
    }
    let mut tlvs = Vec::with_capacity(raw.len());
    for (at, kind, value) in raw {
        let len = u16::try_from(value.len()).unwrap_or(u16::MAX);
        tlvs.push(match kind {
            kind::ALPN => Tlv::Alpn(value.to_vec()),
            kind::AUTHORITY if value.len() > AUTHORITY_MAX => {
                return Err(ParseError::V2AuthorityTooLong(len));
            }
            kind::AUTHORITY => Tlv::Authority(value.to_vec()),
            kind::CRC32C => {
                let received = u32::from_be_bytes(
                    value
                        .try_into()
                        .map_err(|_| ParseError::V2Crc32cLength(len))?,
                );
                let field = start + at;
                let computed = Crc32c::new()
                    .update(&header[..field])
                    .update(&[0; 4])
                    .update(&header[field + 4..])
                    .finish();
                if computed != received {
                    return Err(ParseError::V2Crc32cMismatch { received, computed });
                }
                Tlv::Crc32c(received)
            }
            kind::NOOP => Tlv::Noop(value.to_vec()),
            kind::UNIQUE_ID if value.len() > UNIQUE_ID_MAX => {
                return Err(ParseError::V2UniqueIdTooLong(len));
            }
            kind::UNIQUE_ID => Tlv::UniqueId(value.to_vec()),
            kind::SSL => Tlv::Ssl(parse_ssl(value, len)?),
            kind::NETNS => Tlv::Netns(value.to_vec()),
            kind => Tlv::Other(RawTlv {
                kind,
                value: value.to_vec(),
            }),
        });
    }
    Ok(tlvs)
}

fn parse_ssl(value: &[u8], len: u16) -> Result<SslTlv, ParseError> {
    let (prefix, subs) = match value.split_at_checked(SSL_PREFIX) {
        Some(parts) => parts,
        None => return Err(ParseError::V2SslTooShort(len)),
    };
    let subs = split(subs, ParseError::V2SslSubTlvOverflow)?
        .into_iter()
        .map(|(_, kind, value)| RawTlv {
            kind,
            value: value.to_vec(),
        })
        .collect();
    Ok(SslTlv {
        client: prefix[0],
        verify: u32::from_be_bytes([prefix[1], prefix[2], prefix[3], prefix[4]]),
        subs,
    })
}

/// Appends one TLV; `Err` when the value cannot be announced in 16 bits.
fn put(out: &mut Vec<u8>, kind: u8, value: &[u8]) -> Result<(), EncodeError> {
    let len = u16::try_from(value.len()).map_err(|_| EncodeError::TooLong(value.len()))?;
    out.push(kind);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(value);
    Ok(())
}

fn limited(kind: u8, value: &[u8], max: usize) -> Result<&[u8], EncodeError> {
    if value.len() > max {
        return Err(EncodeError::TlvTooLong {
            kind,
            len: value.len(),
            max,
        });
    }
    Ok(value)
}

/// Appends `tlvs` to `out`; returns the offset of the CRC32C value to fill in, if any.
pub(super) fn encode(out: &mut Vec<u8>, tlvs: &[Tlv]) -> Result<Option<usize>, EncodeError> {
    let mut crc_at = None;
    for tlv in tlvs {
        match tlv {
            Tlv::Alpn(v) => put(out, kind::ALPN, v)?,
            Tlv::Authority(v) => put(
                out,
                kind::AUTHORITY,
                limited(kind::AUTHORITY, v, AUTHORITY_MAX)?,
            )?,
            Tlv::Crc32c(_) => {
                if crc_at.is_some() {
                    return Err(EncodeError::DuplicateCrc32c);
                }
                crc_at = Some(out.len() + TLV_HEADER);
                put(out, kind::CRC32C, &[0; 4])?;
            }
            Tlv::Noop(v) => put(out, kind::NOOP, v)?,
            Tlv::UniqueId(v) => put(
                out,
                kind::UNIQUE_ID,
                limited(kind::UNIQUE_ID, v, UNIQUE_ID_MAX)?,
            )?,
            Tlv::Ssl(ssl) => {
                let mut value = vec![ssl.client];
                value.extend_from_slice(&ssl.verify.to_be_bytes());
                for sub in &ssl.subs {
                    put(&mut value, sub.kind, &sub.value)?;
                }
                put(out, kind::SSL, &value)?;
            }
            Tlv::Netns(v) => put(out, kind::NETNS, v)?,
            Tlv::Other(raw) => put(out, raw.kind, &raw.value)?,
        }
    }
    Ok(crc_at)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tlvs(area: &[u8]) -> Result<Vec<Tlv>, ParseError> {
        parse(area, 0)
    }

    #[test]
    fn each_type() {
        let area = [
            &[kind::ALPN, 0, 2][..],
            b"h2",
            &[kind::AUTHORITY, 0, 11],
            b"example.com",
            &[kind::NOOP, 0, 3, 0, 0, 0],
            &[kind::UNIQUE_ID, 0, 3, 1, 2, 3],
            &[kind::NETNS, 0, 3],
            b"red",
            &[0xE5, 0, 1, 9],
            &[kind::SSL, 0, 14, 0x07, 0, 0, 0, 1, kind::SSL_VERSION, 0, 6],
            b"TLSv13",
        ]
        .concat();
        let want = vec![
            Tlv::Alpn(b"h2".to_vec()),
            Tlv::Authority(b"example.com".to_vec()),
            Tlv::Noop(vec![0; 3]),
            Tlv::UniqueId(vec![1, 2, 3]),
            Tlv::Netns(b"red".to_vec()),
            Tlv::Other(RawTlv {
                kind: 0xE5,
                value: vec![9],
            }),
            Tlv::Ssl(SslTlv {
                client: 7,
                verify: 1,
                subs: vec![RawTlv {
                    kind: kind::SSL_VERSION,
                    value: b"TLSv13".to_vec(),
                }],
            }),
        ];
        assert_eq!(tlvs(&area), Ok(want.clone()));
        let mut out = Vec::new();
        assert_eq!(encode(&mut out, &want), Ok(None));
        assert_eq!(out, area);
        assert_eq!(tlvs(&[]), Ok(vec![]));
        assert_eq!(tlvs(&[kind::NOOP, 0, 0]), Ok(vec![Tlv::Noop(vec![])]));
    }

    #[test]
    fn bounds() {
        use ParseError as E;
        assert_eq!(tlvs(&[kind::ALPN]), Err(E::V2TlvOverflow));
        assert_eq!(tlvs(&[kind::ALPN, 0]), Err(E::V2TlvOverflow));
        assert_eq!(tlvs(&[kind::ALPN, 0, 2, b'h']), Err(E::V2TlvOverflow));
        assert_eq!(tlvs(&[kind::ALPN, 0xFF, 0xFF, b'h']), Err(E::V2TlvOverflow));
        assert_eq!(tlvs(&[kind::NOOP, 0, 0, 7]), Err(E::V2TlvOverflow));
        let auth = [&[kind::AUTHORITY, 1, 0][..], &[b'a'; 256]].concat();
        assert_eq!(tlvs(&auth), Err(E::V2AuthorityTooLong(256)));
        assert!(tlvs(&[&[kind::AUTHORITY, 0, 255][..], &[b'a'; 255]].concat()).is_ok());
        let id = [&[kind::UNIQUE_ID, 0, 129][..], &[1; 129]].concat();
        assert_eq!(tlvs(&id), Err(E::V2UniqueIdTooLong(129)));
        assert!(tlvs(&[&[kind::UNIQUE_ID, 0, 128][..], &[1; 128]].concat()).is_ok());
        assert_eq!(
            tlvs(&[kind::SSL, 0, 4, 1, 0, 0, 0]),
            Err(E::V2SslTooShort(4))
        );
        assert_eq!(
            tlvs(&[kind::SSL, 0, 7, 1, 0, 0, 0, 0, kind::SSL_CN, 0]),
            Err(E::V2SslSubTlvOverflow)
        );
        assert_eq!(
            tlvs(&[kind::SSL, 0, 8, 1, 0, 0, 0, 0, kind::SSL_CN, 0, 1]),
            Err(E::V2SslSubTlvOverflow)
        );
        assert_eq!(
            tlvs(&[kind::CRC32C, 0, 3, 0, 0, 0]),
            Err(E::V2Crc32cLength(3))
        );
    }

    #[test]
    fn encode_limits() {
        let mut out = Vec::new();
        assert_eq!(
            encode(&mut out, &[Tlv::Authority(vec![b'a'; 256])]),
            Err(EncodeError::TlvTooLong {
                kind: kind::AUTHORITY,
                len: 256,
                max: 255
            })
        );
        assert_eq!(
            encode(&mut out, &[Tlv::UniqueId(vec![0; 129])]),
            Err(EncodeError::TlvTooLong {
                kind: kind::UNIQUE_ID,
                len: 129,
                max: 128
            })
        );
        assert_eq!(
            encode(&mut out, &[Tlv::Crc32c(0), Tlv::Crc32c(0)]),
            Err(EncodeError::DuplicateCrc32c)
        );
        assert_eq!(
            encode(&mut out, &[Tlv::Alpn(vec![0; 70_000])]),
            Err(EncodeError::TooLong(70_000))
        );
    }
}
