//! Typed sample values and HAProxy's implicit casts between sample types.

use std::borrow::Cow;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr};

use crate::sample::net;

/// The static type of a sample, as HAProxy names them (`bool`, `sint`, `addr`, ...).
///
/// `Addr` is HAProxy's pseudo-type "an IPv4 or an IPv6 address": fetches such as `src`
/// declare it because the family is only known at run time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SampleType {
    /// A boolean.
    Bool,
    /// A signed 64-bit integer.
    Int,
    /// An IPv4 or IPv6 address.
    Addr,
    /// An IPv4 address.
    Ipv4,
    /// An IPv6 address.
    Ipv6,
    /// A string.
    Str,
    /// A binary block.
    Bin,
    /// Known only at run time (`var()`): every cast is allowed at parse time and
    /// checked when the value is there.
    Any,
}

impl SampleType {
    /// HAProxy's name of the type, for error messages.
    pub fn name(self) -> &'static str {
        match self {
            Self::Bool => "bool",
            Self::Int => "sint",
            Self::Addr => "addr",
            Self::Ipv4 => "ipv4",
            Self::Ipv6 => "ipv6",
            Self::Str => "str",
            Self::Bin => "bin",
            Self::Any => "any",
        }
    }

    /// Whether a value of this type may be cast to `to` (HAProxy's `sample_casts` matrix);
    /// used at parse time to reject converters and match methods that cannot apply.
    pub fn can_cast_to(self, to: SampleType) -> bool {
        use SampleType::{Addr, Bin, Bool, Int, Ipv4, Ipv6, Str};
        match (self, to) {
            (a, b) if a == b => true,
            (SampleType::Any, _) | (_, SampleType::Any) => true,
            (Bool, Int | Str | Bin) => true,
            (Int, Bool | Addr | Ipv4 | Ipv6 | Str | Bin) => true,
            (Addr, Ipv4 | Ipv6 | Str | Bin) => true,
            (Ipv4, Int | Addr | Ipv6 | Str | Bin) => true,
            (Ipv6, Addr | Ipv4 | Str | Bin) => true,
            (Str, Bool | Int | Addr | Ipv4 | Ipv6 | Bin) => true,
            (Bin, Str) => true,
            _ => false,
        }
    }
}

impl fmt::Display for SampleType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A value produced by a fetch or a converter. Strings and binary blocks borrow from the
/// stream or the expression when they can, so that evaluating does not allocate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sample<'a> {
    /// A boolean.
    Bool(bool),
    /// A signed integer.
    Int(i64),
    /// An IP address (its family gives the `ipv4`/`ipv6` type).
    Ip(IpAddr),
    /// A string.
    Str(Cow<'a, str>),
    /// A binary block.
    Bin(Cow<'a, [u8]>),
}

impl<'a> Sample<'a> {
    /// The run-time type of this value.
    pub fn sample_type(&self) -> SampleType {
        match self {
            Self::Bool(_) => SampleType::Bool,
            Self::Int(_) => SampleType::Int,
            Self::Ip(IpAddr::V4(_)) => SampleType::Ipv4,
            Self::Ip(IpAddr::V6(_)) => SampleType::Ipv6,
            Self::Str(_) => SampleType::Str,
            Self::Bin(_) => SampleType::Bin,
        }
    }

    /// Detaches the value from what it borrows.
    pub fn into_owned(self) -> Sample<'static> {
        match self {
            Self::Bool(b) => Sample::Bool(b),
            Self::Int(i) => Sample::Int(i),
            Self::Ip(ip) => Sample::Ip(ip),
            Self::Str(s) => Sample::Str(Cow::Owned(s.into_owned())),
            Self::Bin(b) => Sample::Bin(Cow::Owned(b.into_owned())),
        }
    }

    /// Converts the value to `to` as HAProxy does implicitly; `None` when the cast is
    /// impossible or fails (e.g. a string that is not an address).
    pub fn cast(self, to: SampleType) -> Option<Sample<'a>> {
        if self.sample_type() == to {
            return Some(self);
        }
        match to {
            SampleType::Any => Some(self),
            SampleType::Bool => self.truth().map(Sample::Bool),
            SampleType::Int => self.to_int().map(Sample::Int),
            SampleType::Addr => self.to_addr().map(Sample::Ip),
            SampleType::Ipv4 => match self.to_addr()? {
                IpAddr::V4(v4) => Some(Sample::Ip(IpAddr::V4(v4))),
                IpAddr::V6(v6) => net::v6_to_v4(&v6).map(|v4| Sample::Ip(IpAddr::V4(v4))),
            },
            SampleType::Ipv6 => match self.to_addr()? {
                IpAddr::V4(v4) => Some(Sample::Ip(IpAddr::V6(v4.to_ipv6_mapped()))),
                v6 @ IpAddr::V6(_) => Some(Sample::Ip(v6)),
            },
            SampleType::Str => Some(Sample::Str(self.into_str()?)),
            SampleType::Bin => Some(Sample::Bin(self.into_bin())),
        }
    }

    /// The value as an integer (`bool` and `sint` directly, IPv4 as its 32-bit value,
    /// strings parsed like HAProxy's `c_str2int`).
    fn to_int(&self) -> Option<i64> {
        match self {
            Self::Bool(b) => Some(i64::from(*b)),
            Self::Int(i) => Some(*i),
            Self::Ip(IpAddr::V4(v4)) => Some(i64::from(u32::from(*v4))),
            Self::Ip(IpAddr::V6(_)) | Self::Bin(_) => None,
            Self::Str(s) if s.is_empty() => None,
            Self::Str(s) => Some(read_int64(s.as_bytes())),
        }
    }

    /// The value as an address (integers become IPv4 addresses, strings are parsed).
    fn to_addr(&self) -> Option<IpAddr> {
        match self {
            Self::Ip(ip) => Some(*ip),
            // HAProxy truncates to 32 bits on purpose: `int(N)` builds IPv4 addresses.
            Self::Int(i) => Some(IpAddr::V4(Ipv4Addr::from(*i as u32))),
            Self::Str(s) => s.parse().ok(),
            Self::Bool(_) | Self::Bin(_) => None,
        }
    }

    fn into_str(self) -> Option<Cow<'a, str>> {
        Some(match self {
            Self::Str(s) => s,
            Self::Bool(b) => Cow::Borrowed(if b { "1" } else { "0" }),
            Self::Int(i) => Cow::Owned(i.to_string()),
            Self::Ip(ip) => Cow::Owned(ip.to_string()),
            // A NUL always ends a string converted from binary, as in HAProxy.
            Self::Bin(b) => {
                let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
                match b {
                    Cow::Borrowed(bytes) => String::from_utf8_lossy(&bytes[..end]),
                    Cow::Owned(bytes) => {
                        Cow::Owned(String::from_utf8_lossy(&bytes[..end]).into_owned())
                    }
                }
            }
        })
    }

    fn into_bin(self) -> Cow<'a, [u8]> {
        match self {
            Self::Bin(b) => b,
            Self::Str(Cow::Borrowed(s)) => Cow::Borrowed(s.as_bytes()),
            Self::Str(Cow::Owned(s)) => Cow::Owned(s.into_bytes()),
            other => Cow::Owned(other.to_hash_key().to_vec()),
        }
    }

    /// The bytes HAProxy hashes for this value (its cast to `bin`): IPv4 as 4 bytes,
    /// IPv6 as 16, integers and booleans as 8 bytes big-endian, strings as their bytes.
    pub fn to_hash_key(&self) -> HashKey<'_> {
        match self {
            Self::Bool(b) => HashKey::inline(&i64::from(*b).to_be_bytes()),
            Self::Int(i) => HashKey::inline(&i.to_be_bytes()),
            Self::Ip(IpAddr::V4(v4)) => HashKey::inline(&v4.octets()),
            Self::Ip(IpAddr::V6(v6)) => HashKey::inline(&v6.octets()),
            Self::Str(s) => HashKey::Borrowed(s.as_bytes()),
            Self::Bin(b) => HashKey::Borrowed(b),
        }
    }

    /// The boolean value of the sample (its cast to `bool`): non-zero integers are true,
    /// strings are read as integers; `None` for addresses and binary blocks, which have
    /// no boolean meaning.
    pub fn truth(&self) -> Option<bool> {
        match self {
            Self::Ip(_) | Self::Bin(_) => None,
            _ => self.to_int().map(|i| i != 0),
        }
    }
}

impl fmt::Display for Sample<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Bool(b) => write!(f, "{}", u8::from(*b)),
            Self::Int(i) => write!(f, "{i}"),
            Self::Ip(ip) => write!(f, "{ip}"),
            Self::Str(s) => f.write_str(s),
            Self::Bin(b) => b.iter().try_for_each(|c| write!(f, "{c:02X}")),
        }
    }
}

/// The bytes of a sample used as a hash key; small keys live inline (no allocation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HashKey<'a> {
    /// Up to 16 bytes stored in place: `len` bytes of `buf` are the key.
    Inline {
        /// Storage.
        buf: [u8; 16],
        /// Number of meaningful bytes.
        len: u8,
    },
    /// Bytes borrowed from the sample.
    Borrowed(&'a [u8]),
}

impl HashKey<'_> {
    fn inline(bytes: &[u8]) -> Self {
        let mut buf = [0u8; 16];
        let len = bytes.len().min(16);
        buf[..len].copy_from_slice(&bytes[..len]);
        Self::Inline {
            buf,
            len: len as u8,
        }
    }
}

impl std::ops::Deref for HashKey<'_> {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match self {
            Self::Inline { buf, len } => &buf[..usize::from(*len)],
            Self::Borrowed(b) => b,
        }
    }
}

/// Reads a decimal integer as HAProxy's `read_int64`: an optional sign, then digits up to
/// the first non-digit; saturates on overflow; no digits gives 0.
pub fn read_int64(bytes: &[u8]) -> i64 {
    let (neg, digits) = match bytes.first() {
        Some(b'-') => (true, &bytes[1..]),
        Some(b'+') => (false, &bytes[1..]),
        _ => (false, bytes),
    };
    let mut value: u64 = 0;
    for &c in digits.iter().take_while(|c| c.is_ascii_digit()) {
        value = value
            .checked_mul(10)
            .and_then(|v| v.checked_add(u64::from(c - b'0')))
            .unwrap_or(u64::MAX);
    }
    if neg {
        if value >= 1 << 63 {
            i64::MIN
        } else {
            -(value as i64)
        }
    } else {
        i64::try_from(value).unwrap_or(i64::MAX)
    }
}

/// Parses a `bin` argument or pattern written in hexadecimal.
pub fn parse_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    text.as_bytes()
        .chunks(2)
        .map(|pair| {
            let hi = char::from(pair[0]).to_digit(16)?;
            let lo = char::from(pair[1]).to_digit(16)?;
            u8::try_from(hi * 16 + lo).ok()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::net::Ipv6Addr;

    use super::*;

    fn ipv6(addr: Ipv6Addr) -> Sample<'static> {
        Sample::Ip(IpAddr::V6(addr))
    }

    fn s(text: &str) -> Sample<'_> {
        Sample::Str(Cow::Borrowed(text))
    }

    #[test]
    fn cast_matrix_matches_haproxy() {
        use SampleType::*;
        assert!(Addr.can_cast_to(Str));
        assert!(!Addr.can_cast_to(Int));
        assert!(Ipv4.can_cast_to(Int));
        assert!(!Ipv6.can_cast_to(Int));
        assert!(Str.can_cast_to(Int));
        assert!(!Bin.can_cast_to(Int));
        assert!(!Bool.can_cast_to(Addr));
        assert!(Int.can_cast_to(Ipv6));
    }

    #[test]
    fn str_to_int_reads_leading_digits() {
        assert_eq!(s("42abc").cast(SampleType::Int), Some(Sample::Int(42)));
        assert_eq!(s("-7").cast(SampleType::Int), Some(Sample::Int(-7)));
        assert_eq!(s("abc").cast(SampleType::Int), Some(Sample::Int(0)));
        assert_eq!(s("").cast(SampleType::Int), None);
        assert_eq!(
            s("99999999999999999999").cast(SampleType::Int),
            Some(Sample::Int(i64::MAX))
        );
        assert_eq!(read_int64(b"-99999999999999999999"), i64::MIN);
        assert_eq!(s("1").cast(SampleType::Bool), Some(Sample::Bool(true)));
        assert_eq!(s("0").cast(SampleType::Bool), Some(Sample::Bool(false)));
        assert_eq!(
            Sample::Int(-3).cast(SampleType::Bool),
            Some(Sample::Bool(true))
        );
        let v4 = Sample::Ip("1.2.3.4".parse().unwrap());
        assert_eq!(v4.truth(), None);
        assert_eq!(v4.cast(SampleType::Bool), None);
    }

    #[test]
    fn address_casts() {
        let v4: IpAddr = "10.1.2.3".parse().unwrap();
        assert_eq!(
            Sample::Ip(v4).cast(SampleType::Int),
            Some(Sample::Int(0x0a01_0203))
        );
        assert_eq!(
            Sample::Int(0x7f00_0001).cast(SampleType::Addr),
            Some(Sample::Ip("127.0.0.1".parse().unwrap()))
        );
        assert_eq!(
            Sample::Ip(v4).cast(SampleType::Ipv6),
            Some(Sample::Ip("::ffff:10.1.2.3".parse().unwrap()))
        );
        let mapped = Sample::Ip("::ffff:10.1.2.3".parse().unwrap());
        assert_eq!(mapped.cast(SampleType::Ipv4), Some(Sample::Ip(v4)));
        let pure6 = Sample::Ip("2001:db8::1".parse().unwrap());
        assert_eq!(pure6.clone().cast(SampleType::Ipv4), None);
        assert_eq!(pure6.cast(SampleType::Int), None);
        assert_eq!(
            s("::1").cast(SampleType::Addr),
            Some(ipv6(Ipv6Addr::LOCALHOST))
        );
        assert_eq!(s("nope").cast(SampleType::Addr), None);
        assert_eq!(
            Sample::Ip(v4).cast(SampleType::Str),
            Some(Sample::Str("10.1.2.3".into()))
        );
    }

    #[test]
    fn other_casts() {
        assert_eq!(
            Sample::Bool(true).cast(SampleType::Str),
            Some(Sample::Str("1".into()))
        );
        assert_eq!(
            Sample::Int(-5).cast(SampleType::Str),
            Some(Sample::Str("-5".into()))
        );
        assert_eq!(
            Sample::Bin(Cow::Borrowed(b"ab\0cd")).cast(SampleType::Str),
            Some(Sample::Str("ab".into()))
        );
        assert_eq!(
            s("hi").cast(SampleType::Bin),
            Some(Sample::Bin(Cow::Borrowed(b"hi")))
        );
        assert_eq!(
            Sample::Int(1).cast(SampleType::Bin),
            Some(Sample::Bin(Cow::Owned(vec![0, 0, 0, 0, 0, 0, 0, 1])))
        );
        assert_eq!(Sample::Bin(Cow::Borrowed(b"1")).cast(SampleType::Int), None);
    }

    #[test]
    fn hash_keys_have_haproxy_layout() {
        let v4 = Sample::Ip("1.2.3.4".parse().unwrap());
        assert_eq!(&*v4.to_hash_key(), &[1, 2, 3, 4]);
        let v6 = Sample::Ip("::1".parse().unwrap());
        assert_eq!(v6.to_hash_key().len(), 16);
        assert_eq!(v6.to_hash_key()[15], 1);
        assert_eq!(&*Sample::Int(258).to_hash_key(), &[0, 0, 0, 0, 0, 0, 1, 2]);
        assert_eq!(
            &*Sample::Bool(true).to_hash_key(),
            &[0, 0, 0, 0, 0, 0, 0, 1]
        );
        assert_eq!(&*s("abc").to_hash_key(), b"abc");
    }

    #[test]
    fn hex_parsing() {
        assert_eq!(parse_hex("00fFa1"), Some(vec![0, 255, 0xa1]));
        assert_eq!(parse_hex("abc"), None);
        assert_eq!(parse_hex("zz"), None);
        assert_eq!(parse_hex(""), Some(vec![]));
    }

    #[test]
    fn display() {
        assert_eq!(Sample::Bin(Cow::Borrowed(&[1, 0xab])).to_string(), "01AB");
        assert_eq!(Sample::Bool(false).to_string(), "0");
    }
}
