//! Why bytes are not a valid PROXY protocol header, or why a header cannot be encoded. The
//! texts start like HAProxy's connection error messages, so logs read the same.

use std::fmt;

/// Which end of the connection a v1 field describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// The client (first address, first port).
    Source,
    /// The address the client connected to.
    Destination,
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Source => "source",
            Self::Destination => "destination",
        })
    }
}

/// Everything that makes received bytes an invalid PROXY protocol header. Any of these
/// closes the connection.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    /// Starts with neither `PROXY ` (v1) nor the v2 signature.
    #[error("Received something which does not look like a PROXY protocol header")]
    NotProxyHeader,
    /// v1: no CRLF within the 107 bytes a line may span.
    #[error("Received an invalid PROXY protocol header: no CRLF within the first 107 bytes")]
    V1LineTooLong,
    /// v1: a lone CR or LF where the line must end with CRLF.
    #[error("Received an invalid PROXY protocol header: line not ended by CRLF")]
    V1BadLineEnd,
    /// v1: the protocol is not `TCP4`, `TCP6` or `UNKNOWN`.
    #[error("Received an unhandled protocol in the PROXY protocol header")]
    V1BadProtocol,
    /// v1: two spaces in a row, or a field missing between spaces.
    #[error(
        "Received an invalid PROXY protocol header: fields must be separated by exactly one space"
    )]
    V1EmptyField,
    /// v1: the line ends before both addresses and both ports.
    #[error("Received an invalid PROXY protocol header: missing addresses or ports")]
    V1MissingFields,
    /// v1: more fields after the destination port.
    #[error(
        "Received an invalid PROXY protocol header: unexpected data after the destination port"
    )]
    V1TooManyFields,
    /// v1: an address that is not a canonical address of the announced family.
    #[error("Received an invalid PROXY protocol header: invalid {0} address")]
    V1BadAddress(Endpoint),
    /// v1: a port that is not a decimal 0..65535 without leading zeroes.
    #[error("Received an invalid PROXY protocol header: invalid {0} port")]
    V1BadPort(Endpoint),
    /// v2: the version nibble is not 2.
    #[error("Received an invalid PROXY protocol header: unsupported version {0}")]
    V2BadVersion(u8),
    /// v2: the command nibble is neither LOCAL (0) nor PROXY (1).
    #[error("Received an invalid PROXY protocol header: unknown command {0}")]
    V2BadCommand(u8),
    /// v2: the address family nibble is not UNSPEC, INET, INET6 or UNIX.
    #[error("Received an invalid PROXY protocol header: unknown address family in byte {0:#04x}")]
    V2BadFamily(u8),
    /// v2: the transport nibble is not UNSPEC, STREAM or DGRAM.
    #[error("Received an invalid PROXY protocol header: unknown transport in byte {0:#04x}")]
    V2BadTransport(u8),
    /// v2: the length is smaller than the address block of the announced family.
    #[error(
        "Received an invalid PROXY protocol header: length {len} too short for the addresses of family {family:#04x} ({needed} bytes)"
    )]
    V2AddressTooShort {
        /// The family/transport byte.
        family: u8,
        /// The announced length.
        len: u16,
        /// The address block size of that family.
        needed: u16,
    },
    /// v2: a TLV (or its 3-byte type/length) runs past the end of the header.
    #[error("Received an invalid PROXY protocol header: TLV runs past the end of the header")]
    V2TlvOverflow,
    /// v2: a CRC32C TLV whose value is not exactly 4 bytes.
    #[error("Received an invalid PROXY protocol header: CRC32C TLV of {0} bytes instead of 4")]
    V2Crc32cLength(u16),
    /// v2: the CRC32C TLV does not match the header's checksum.
    #[error(
        "Received an invalid PROXY protocol header: CRC32C mismatch (received {received:#010x}, computed {computed:#010x})"
    )]
    V2Crc32cMismatch {
        /// The value in the TLV.
        received: u32,
        /// The checksum of the received header.
        computed: u32,
    },
    /// v2: more than one CRC32C TLV, which makes the checksum ambiguous.
    #[error("Received an invalid PROXY protocol header: more than one CRC32C TLV")]
    V2DuplicateCrc32c,
    /// v2: an AUTHORITY TLV longer than 255 bytes (HAProxy's limit).
    #[error("Received an invalid PROXY protocol header: AUTHORITY TLV of {0} bytes (max 255)")]
    V2AuthorityTooLong(u16),
    /// v2: a UNIQUE_ID TLV longer than the 128 bytes the specification allows.
    #[error("Received an invalid PROXY protocol header: UNIQUE_ID TLV of {0} bytes (max 128)")]
    V2UniqueIdTooLong(u16),
    /// v2: an SSL TLV shorter than its 5-byte client/verify prefix.
    #[error("Received an invalid PROXY protocol header: SSL TLV of {0} bytes (min 5)")]
    V2SslTooShort(u16),
    /// v2: a sub-TLV of the SSL TLV runs past the end of the SSL TLV.
    #[error(
        "Received an invalid PROXY protocol header: SSL sub-TLV runs past the end of the SSL TLV"
    )]
    V2SslSubTlvOverflow,
}

/// Why a v2 header cannot be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// Addresses plus TLVs exceed the 65535 bytes the length field can announce.
    #[error("PROXY protocol v2 header too long: {0} bytes after the fixed part (max 65535)")]
    TooLong(usize),
    /// A TLV value longer than its type allows (a receiver would reject it).
    #[error("PROXY protocol v2 TLV {kind:#04x} too long: {len} bytes (max {max})")]
    TlvTooLong {
        /// TLV type.
        kind: u8,
        /// Value length.
        len: usize,
        /// Largest allowed.
        max: usize,
    },
    /// More than one CRC32C TLV.
    #[error("PROXY protocol v2 header with more than one CRC32C TLV")]
    DuplicateCrc32c,
}
