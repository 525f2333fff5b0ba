//! Stick-table keys: samples converted to a table's key type, as HAProxy's `smp_to_stkey`.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::sample::Sample;
use crate::sample::value::parse_hex;
use crate::stick::types::KeyType;

/// A key of one table, already normalized (truncated, canonical) for that table's type.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Key {
    /// A `type ip` key.
    Ipv4(Ipv4Addr),
    /// A `type ipv6` key.
    Ipv6(Ipv6Addr),
    /// A `type integer` key.
    Int(u32),
    /// A `type string` key: at most `len` bytes, up to the first NUL.
    Str(Box<[u8]>),
    /// A `type binary` key: at most `len` bytes, trailing zero bytes removed (HAProxy pads
    /// short keys with zeros to `len`, so `ab` and `ab\0` are the same key).
    Bin(Box<[u8]>),
}

impl KeyType {
    /// Converts a sample to a key of this type, casting like HAProxy does; `None` when the
    /// sample has no such value (e.g. an IPv6 address for a `type ip` table).
    pub fn key_of(self, sample: Sample<'_>) -> Option<Key> {
        let sample = sample.cast(self.sample_type())?;
        Some(match (self, sample) {
            (Self::Ip, Sample::Ip(IpAddr::V4(a))) => Key::Ipv4(a),
            (Self::Ipv6, Sample::Ip(IpAddr::V6(a))) => Key::Ipv6(a),
            // HAProxy reads the low 32 bits of the 64-bit integer.
            (Self::Integer, Sample::Int(i)) => Key::Int(i as u32),
            (Self::String { len }, Sample::Str(s)) => string_key(s.as_bytes(), len),
            (Self::Binary { len }, Sample::Bin(b)) => binary_key(&b, len),
            _ => return None,
        })
    }

    /// Parses a key written as text (the CLI's `key <value>`): addresses, a decimal
    /// integer, the string itself, or hexadecimal for binary keys.
    pub fn parse_key(self, text: &str) -> Option<Key> {
        Some(match self {
            Self::Ip => Key::Ipv4(text.parse().ok()?),
            Self::Ipv6 => Key::Ipv6(text.parse().ok()?),
            Self::Integer => Key::Int(text.parse().ok()?),
            Self::String { len } => string_key(text.as_bytes(), len),
            Self::Binary { len } => binary_key(&parse_hex(text)?, len),
        })
    }

    /// Re-normalizes a key of another table for this one (`sc0_conn_cnt(other)` looks the
    /// tracked key up in `other`); `None` when the key types differ.
    pub fn adopt(self, key: &Key) -> Option<Key> {
        Some(match (self, key) {
            (Self::Ip, Key::Ipv4(_))
            | (Self::Ipv6, Key::Ipv6(_))
            | (Self::Integer, Key::Int(_)) => key.clone(),
            (Self::String { len }, Key::Str(s)) => string_key(s, len),
            (Self::Binary { len }, Key::Bin(b)) => binary_key(b, len),
            _ => return None,
        })
    }

    /// The key as `show table` prints it (binary keys in hexadecimal, padded to `len`).
    pub fn display(self, key: &Key) -> String {
        match (self, key) {
            (Self::Binary { len }, Key::Bin(b)) => {
                let mut text: String = b.iter().map(|c| format!("{c:02x}")).collect();
                text.extend(std::iter::repeat_n("00", len.saturating_sub(b.len())));
                text
            }
            _ => key.to_string(),
        }
    }
}

fn string_key(bytes: &[u8], len: usize) -> Key {
    // Keys are NUL-terminated strings in HAProxy: nothing after a NUL counts.
    let end = bytes.iter().position(|&c| c == 0).unwrap_or(bytes.len());
    Key::Str(bytes[..end.min(len)].into())
}

fn binary_key(bytes: &[u8], len: usize) -> Key {
    let bytes = &bytes[..bytes.len().min(len)];
    let end = bytes.iter().rposition(|&c| c != 0).map_or(0, |i| i + 1);
    Key::Bin(bytes[..end].into())
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Ipv4(a) => write!(f, "{a}"),
            Self::Ipv6(a) => write!(f, "{a}"),
            Self::Int(i) => write!(f, "{i}"),
            Self::Str(s) => f.write_str(&String::from_utf8_lossy(s)),
            Self::Bin(b) => b.iter().try_for_each(|c| write!(f, "{c:02x}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use super::*;

    fn ip(text: &str) -> Sample<'static> {
        Sample::Ip(text.parse().unwrap())
    }

    #[test]
    fn addresses_follow_haproxy_casts() {
        let v4 = KeyType::Ip;
        assert_eq!(
            v4.key_of(ip("10.0.0.1")),
            Some(Key::Ipv4([10, 0, 0, 1].into()))
        );
        // IPv4-mapped IPv6 addresses become IPv4 keys; other IPv6 addresses have none.
        assert_eq!(
            v4.key_of(ip("::ffff:10.0.0.1")),
            Some(Key::Ipv4([10, 0, 0, 1].into()))
        );
        assert_eq!(v4.key_of(ip("2001:db8::1")), None);
        assert_eq!(
            v4.key_of(Sample::Str("192.0.2.9".into())),
            Some(Key::Ipv4([192, 0, 2, 9].into()))
        );
        assert_eq!(v4.key_of(Sample::Str("nope".into())), None);
        let v6 = KeyType::Ipv6;
        assert_eq!(
            v6.key_of(ip("10.0.0.1")),
            Some(Key::Ipv6("::ffff:10.0.0.1".parse().unwrap()))
        );
        assert_eq!(
            v6.key_of(ip("2001:db8::1")),
            Some(Key::Ipv6("2001:db8::1".parse().unwrap()))
        );
    }

    #[test]
    fn integers_keep_32_bits() {
        let t = KeyType::Integer;
        assert_eq!(t.key_of(Sample::Int(42)), Some(Key::Int(42)));
        assert_eq!(t.key_of(Sample::Int((1 << 32) + 7)), Some(Key::Int(7)));
        assert_eq!(t.key_of(Sample::Int(-1)), Some(Key::Int(u32::MAX)));
        assert_eq!(t.key_of(ip("0.0.1.2")), Some(Key::Int(258)));
        assert_eq!(t.key_of(Sample::Str("17".into())), Some(Key::Int(17)));
    }

    #[test]
    fn strings_are_truncated() {
        let t = KeyType::String { len: 4 };
        assert_eq!(
            t.key_of(Sample::Str("abcdef".into())),
            Some(Key::Str((*b"abcd").into()))
        );
        assert_eq!(
            t.key_of(Sample::Str("ab\0cd".into())),
            Some(Key::Str((*b"ab").into()))
        );
        assert_eq!(
            t.key_of(Sample::Int(12345)),
            Some(Key::Str((*b"1234").into()))
        );
        assert_eq!(t.key_of(ip("1.2.3.4")), Some(Key::Str((*b"1.2.").into())));
    }

    #[test]
    fn binary_keys_are_padded_with_zeros() {
        let t = KeyType::Binary { len: 4 };
        let bin = |b: &'static [u8]| Sample::Bin(Cow::Borrowed(b));
        let k = t.key_of(bin(b"ab")).unwrap();
        assert_eq!(k, t.key_of(bin(b"ab\0")).unwrap());
        assert_eq!(k, t.key_of(bin(b"ab\0\0zz")).unwrap());
        assert_ne!(k, t.key_of(bin(b"\0ab")).unwrap());
        assert_eq!(t.display(&k), "61620000");
        assert_eq!(
            t.key_of(ip("1.2.3.4")),
            Some(Key::Bin((*b"\x01\x02\x03\x04").into()))
        );
        assert_eq!(t.parse_key("6162"), Some(k));
        assert_eq!(t.parse_key("zz"), None);
    }

    #[test]
    fn parse_and_adopt() {
        assert_eq!(
            KeyType::Ip.parse_key("1.2.3.4").unwrap().to_string(),
            "1.2.3.4"
        );
        assert_eq!(KeyType::Ip.parse_key("::1"), None);
        assert_eq!(KeyType::Integer.parse_key("7"), Some(Key::Int(7)));
        let long = KeyType::String { len: 8 }.parse_key("abcdefgh").unwrap();
        assert_eq!(
            KeyType::String { len: 3 }.adopt(&long),
            Some(Key::Str((*b"abc").into()))
        );
        assert_eq!(KeyType::Ip.adopt(&long), None);
        assert_eq!(KeyType::Integer.adopt(&Key::Int(3)), Some(Key::Int(3)));
    }
}
