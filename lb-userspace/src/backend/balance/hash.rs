//! Hash functions of `hash-type` (sdbm, djb2, wt6, crc32, none, `avalanche`) and the keys
//! of the hashing algorithms, with HAProxy's exact semantics so that a key lands on the
//! same slot of the map or ring as it would in HAProxy with the same servers.

use std::net::IpAddr;

use crate::config::model::{HashFunction, HashType};
use crate::sample::Sample;
use crate::sample::value::read_int64;

/// SDBM, HAProxy's default hash function.
pub fn sdbm(key: &[u8]) -> u32 {
    key.iter().fold(0u32, |h, &c| {
        u32::from(c)
            .wrapping_add(h << 6)
            .wrapping_add(h << 16)
            .wrapping_sub(h)
    })
}

/// DJB2.
pub fn djb2(key: &[u8]) -> u32 {
    key.iter().fold(5381u32, |h, &c| {
        (h << 5).wrapping_add(h).wrapping_add(u32::from(c))
    })
}

/// WT6, Willy Tarreau's hash with data-dependent rotations.
pub fn wt6(key: &[u8]) -> u32 {
    let (mut h0, mut h1): (u32, u32) = (0xa53c_965a, 0x5ca6_953a);
    let (mut step0, mut step1) = (6u32, 18u32);
    for &c in key {
        let t = u32::from(c);
        h0 = !(h0 ^ t);
        h1 = !h1.wrapping_add(t);
        let t = h1.rotate_left(step0);
        h1 = h0.rotate_left(step1);
        h0 = t;
        let t = ((h0 >> 16) ^ h1) & 0xffff;
        step0 = t & 0x1f;
        step1 = t >> 11;
    }
    h0 ^ h1
}

/// CRC32 (IEEE polynomial, reflected), bit by bit as HAProxy computes it.
pub fn crc32(key: &[u8]) -> u32 {
    let mut hash = !0u32;
    for &c in key {
        hash ^= u32::from(c);
        for _ in 0..8 {
            hash = (hash >> 1) ^ if hash & 1 == 1 { 0xedb8_8320 } else { 0 };
        }
    }
    !hash
}

/// Bob Jenkins' full-avalanche 32-bit integer hash (HAProxy's `full_hash`), used by the
/// `avalanche` modifier, `base32`/`url32` and to place consistent-hash ring points.
pub fn full_hash(a: u32) -> u32 {
    let a = a.wrapping_add(0x7ed5_5d16).wrapping_add(a << 12);
    let a = (a ^ 0xc761_c23c) ^ (a >> 19);
    let a = a.wrapping_add(0x1656_67b1).wrapping_add(a << 5);
    let a = a.wrapping_add(0xd3a2_646c) ^ (a << 9);
    let a = a.wrapping_add(0xfd70_46c5).wrapping_add(a << 3);
    let a = (a ^ 0xb55a_4f09) ^ (a >> 16);
    // HAProxy then multiplies by a prime close to 3/4 of the 32-bit space to spread
    // values around its trees; without it every hash differs from HAProxy's.
    a.wrapping_mul(3_221_225_473)
}

/// Hashes key bytes with the configured function and modifier (HAProxy's `gen_hash`).
/// `none` reads the key as a decimal number, as HAProxy does for string keys.
pub fn hash_bytes(ht: &HashType, key: &[u8]) -> u32 {
    let hash = match ht.function {
        HashFunction::Sdbm => sdbm(key),
        HashFunction::Djb2 => djb2(key),
        HashFunction::Wt6 => wt6(key),
        HashFunction::Crc32 => crc32(key),
        // Truncation to 32 bits is the point: the key is used as the hash.
        HashFunction::None => read_int64(key) as u32,
    };
    avalanche(ht, hash)
}

/// The hash of a `balance hash <expr>` sample: its bytes (see
/// [`Sample::to_hash_key`]) through [`hash_bytes`]. With `none`, an integer sample is
/// used as the hash directly (HAProxy would parse its 8 binary bytes as decimal text,
/// which defeats the documented purpose of `none`).
pub fn sample_hash(ht: &HashType, sample: &Sample<'_>) -> u32 {
    if ht.function == HashFunction::None {
        match sample {
            // Truncation to 32 bits is the point: the key is used as the hash.
            Sample::Int(v) => return avalanche(ht, *v as u32),
            Sample::Bool(b) => return avalanche(ht, u32::from(*b)),
            _ => {}
        }
    }
    hash_bytes(ht, &sample.to_hash_key())
}

/// The hash of `balance source`: the 32-bit words of the address XOR-ed together, then
/// the `avalanche` modifier; the hash function is not used (HAProxy's `get_server_sh`).
pub fn source_hash(ht: &HashType, addr: IpAddr) -> u32 {
    let h = match addr {
        IpAddr::V4(v4) => u32::from(v4),
        IpAddr::V6(v6) => v6
            .octets()
            .chunks_exact(4)
            .fold(0, |h, w| h ^ u32::from_be_bytes([w[0], w[1], w[2], w[3]])),
    };
    avalanche(ht, h)
}

fn avalanche(ht: &HashType, hash: u32) -> u32 {
    if ht.avalanche { full_hash(hash) } else { hash }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::model::HashMethod;

    /// (input, sdbm, djb2, wt6, crc32), computed with a C transcription of HAProxy's
    /// hash.c (the crc32 values are the well-known IEEE check values).
    const VECTORS: &[(&str, u32, u32, u32, u32)] = &[
        ("", 0x0000_0000, 0x0000_1505, 0xf99a_0360, 0x0000_0000),
        ("a", 0x0000_0061, 0x0002_b606, 0x714b_f225, 0xe8b7_be43),
        ("abc", 0x3025_f862, 0x0b88_5c8b, 0x9400_28e8, 0x3524_41c2),
        (
            "123456789",
            0x68a0_7035,
            0x35cd_bb82,
            0x84a1_6c1d,
            0xcbf4_3926,
        ),
        (
            "www.example.com",
            0xa204_b186,
            0xa978_8331,
            0x2481_09f7,
            0x2ed6_42bb,
        ),
        (
            "The quick brown fox jumps over the lazy dog",
            0x8ca7_7173,
            0x34cc_38de,
            0xe4e7_b045,
            0x414f_a339,
        ),
    ];

    #[test]
    fn functions_match_haproxy() {
        for &(input, s, d, w, c) in VECTORS {
            let key = input.as_bytes();
            assert_eq!(sdbm(key), s, "sdbm({input:?})");
            assert_eq!(djb2(key), d, "djb2({input:?})");
            assert_eq!(wt6(key), w, "wt6({input:?})");
            assert_eq!(crc32(key), c, "crc32({input:?})");
        }
    }

    #[test]
    fn full_hash_matches_haproxy() {
        for (input, output) in [
            (0, 0xab4e_d927),
            (1, 0x3486_81b6),
            (42, 0xc343_bb70),
            (u32::MAX, 0x7e64_c182),
            (4096, 0x49c2_008b),
        ] {
            assert_eq!(full_hash(input), output, "full_hash({input})");
        }
    }

    fn ht(function: HashFunction, avalanche: bool) -> HashType {
        HashType {
            method: HashMethod::MapBased,
            function,
            avalanche,
        }
    }

    #[test]
    fn function_selection_and_avalanche() {
        let key = b"abc";
        assert_eq!(hash_bytes(&ht(HashFunction::Sdbm, false), key), sdbm(key));
        assert_eq!(hash_bytes(&ht(HashFunction::Djb2, false), key), djb2(key));
        assert_eq!(hash_bytes(&ht(HashFunction::Wt6, false), key), wt6(key));
        assert_eq!(hash_bytes(&ht(HashFunction::Crc32, false), key), crc32(key));
        assert_eq!(
            hash_bytes(&ht(HashFunction::Sdbm, true), key),
            full_hash(sdbm(key))
        );
    }

    #[test]
    fn none_uses_the_key() {
        let none = ht(HashFunction::None, false);
        assert_eq!(hash_bytes(&none, b"1234"), 1234);
        assert_eq!(hash_bytes(&none, b"-1"), u32::MAX);
        assert_eq!(hash_bytes(&none, b"x"), 0);
        assert_eq!(sample_hash(&none, &Sample::Int(77)), 77);
        assert_eq!(sample_hash(&none, &Sample::Str("99".into())), 99);
        assert_eq!(
            sample_hash(&ht(HashFunction::None, true), &Sample::Int(77)),
            full_hash(77)
        );
    }

    #[test]
    fn sample_keys() {
        let sdbm_ht = ht(HashFunction::Sdbm, false);
        let ip = Sample::Ip("1.2.3.4".parse().unwrap());
        assert_eq!(sample_hash(&sdbm_ht, &ip), sdbm(&[1, 2, 3, 4]));
        assert_eq!(
            sample_hash(&sdbm_ht, &Sample::Int(1)),
            sdbm(&[0, 0, 0, 0, 0, 0, 0, 1])
        );
        assert_eq!(
            sample_hash(&sdbm_ht, &Sample::Str("abc".into())),
            sdbm(b"abc")
        );
    }

    #[test]
    fn source_keys() {
        let plain = ht(HashFunction::Sdbm, false);
        assert_eq!(
            source_hash(&plain, "10.0.0.1".parse().unwrap()),
            0x0a00_0001
        );
        assert_eq!(
            source_hash(&plain, "2001:db8::1".parse().unwrap()),
            0x2001_0db8 ^ 0x0000_0001
        );
        let aval = ht(HashFunction::Djb2, true);
        assert_eq!(
            source_hash(&aval, "10.0.0.1".parse().unwrap()),
            full_hash(0x0a00_0001)
        );
    }
}
