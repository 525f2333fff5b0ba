//! Hashing converters: `crc32`, `djb2`, `sdbm`, `wt6` (with the optional `avalanche`
//! argument) and `xxh3` (with an optional seed). The functions are the ones `balance
//! hash` uses, so a converter and a hash-based balancer agree.

use crate::backend::balance::hash::{crc32, djb2, full_hash, sdbm, wt6};
use crate::sample::parse::Call;
use crate::sample::{Sample, SampleError, SampleType};

/// The 32-bit hash functions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hash32 {
    /// CRC32 (IEEE).
    Crc32,
    /// DJB2.
    Djb2,
    /// SDBM.
    Sdbm,
    /// WT6.
    Wt6,
}

/// The hashing converters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashConv {
    /// A 32-bit hash, passed through the avalanche function when asked.
    Hash32 {
        /// The function.
        func: Hash32,
        /// Non-zero argument: apply `full_hash` to the result.
        avalanche: bool,
    },
    /// `xxh3([seed])`: 64-bit XXH3, as a signed integer.
    Xxh3 {
        /// The seed (default 0).
        seed: i64,
    },
}

impl HashConv {
    /// Builds the converter called `call.name` if it is a hashing converter.
    pub fn parse(call: &Call) -> Result<Option<Self>, SampleError> {
        let name = call.name.as_str();
        let func = match name {
            "crc32" => Hash32::Crc32,
            "djb2" => Hash32::Djb2,
            "sdbm" => Hash32::Sdbm,
            "wt6" => Hash32::Wt6,
            "xxh3" => {
                return Ok(Some(Self::Xxh3 {
                    seed: opt_int(call)?,
                }));
            }
            _ => return Ok(None),
        };
        Ok(Some(Self::Hash32 {
            func,
            avalanche: opt_int(call)? != 0,
        }))
    }

    /// The input type: the bytes of the value.
    pub fn in_type(self) -> SampleType {
        SampleType::Bin
    }

    /// The output type.
    pub fn out_type(self) -> SampleType {
        SampleType::Int
    }

    /// Hashes a binary block.
    pub fn apply<'a>(self, input: Sample<'a>) -> Option<Sample<'a>> {
        let Sample::Bin(b) = input else {
            return None;
        };
        Some(Sample::Int(self.hash(&b)))
    }

    fn hash(self, b: &[u8]) -> i64 {
        match self {
            Self::Hash32 { func, avalanche } => {
                let h = match func {
                    Hash32::Crc32 => crc32(b),
                    Hash32::Djb2 => djb2(b),
                    Hash32::Sdbm => sdbm(b),
                    Hash32::Wt6 => wt6(b),
                };
                i64::from(if avalanche { full_hash(h) } else { h })
            }
            // HAProxy stores the unsigned 64-bit hash in a signed sample as is.
            Self::Xxh3 { seed } => xxhash_rust::xxh3::xxh3_64_with_seed(b, seed as u64) as i64,
        }
    }
}

fn opt_int(call: &Call) -> Result<i64, SampleError> {
    match call.args.as_slice() {
        [] => Ok(0),
        [a] if a.is_empty() => Ok(0),
        [a] => a.parse().map_err(|_| SampleError::BadArgs {
            keyword: call.name.clone(),
            reason: format!("'{a}' is not an integer"),
        }),
        _ => Err(SampleError::BadArgs {
            keyword: call.name.clone(),
            reason: "too many arguments".into(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use super::*;

    fn conv(name: &str, args: &[&str]) -> HashConv {
        HashConv::parse(&Call {
            name: name.into(),
            args: args.iter().map(|a| (*a).to_owned()).collect(),
        })
        .unwrap()
        .unwrap()
    }

    fn hash(c: HashConv, input: &str) -> i64 {
        let s = Sample::Str(Cow::Owned(input.to_owned()));
        match c.apply(s.cast(c.in_type()).unwrap()) {
            Some(Sample::Int(i)) => i,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn hashes_match_the_balancer_functions() {
        // Vectors also used by backend::balance::hash.
        assert_eq!(hash(conv("crc32", &[]), "123456789"), 0xcbf4_3926);
        assert_eq!(hash(conv("djb2", &[]), "abc"), 0x0b88_5c8b);
        assert_eq!(hash(conv("sdbm", &[]), "abc"), 0x3025_f862);
        assert_eq!(hash(conv("wt6", &[]), "abc"), 0x9400_28e8);
        assert_eq!(
            hash(conv("sdbm", &["1"]), "abc"),
            i64::from(full_hash(0x3025_f862))
        );
        assert_eq!(hash(conv("crc32", &["0"]), "123456789"), 0xcbf4_3926);
        // haproxy 2.6: str(abc),sdbm(1) and str(hello),djb2(1), str(x),wt6(1),
        // str(x),crc32(1).
        assert_eq!(hash(conv("sdbm", &["1"]), "abc"), 659_243_622);
        assert_eq!(hash(conv("djb2", &["1"]), "hello"), 1_119_739_105);
        assert_eq!(hash(conv("wt6", &["1"]), "x"), 3_136_124_494);
        assert_eq!(hash(conv("crc32", &["1"]), "x"), 1_122_807_935);
    }

    #[test]
    fn xxh3_vectors() {
        // The XXH3-64 reference value for empty input with seed 0.
        assert_eq!(hash(conv("xxh3", &[]), "") as u64, 0x2d06_8005_38d3_94c2);
        assert_ne!(
            hash(conv("xxh3", &["1"]), "abc"),
            hash(conv("xxh3", &[]), "abc")
        );
        assert_eq!(
            hash(conv("xxh3", &["-1"]), "abc") as u64,
            xxhash_rust::xxh3::xxh3_64_with_seed(b"abc", u64::MAX)
        );
    }

    #[test]
    fn integers_hash_as_eight_bytes() {
        let c = conv("crc32", &[]);
        let from_int = c.apply(Sample::Int(1).cast(SampleType::Bin).unwrap());
        assert_eq!(
            from_int,
            Some(Sample::Int(i64::from(crc32(&[0, 0, 0, 0, 0, 0, 0, 1]))))
        );
    }

    #[test]
    fn argument_errors() {
        let call = |args: &[&str]| Call {
            name: "djb2".into(),
            args: args.iter().map(|a| (*a).to_owned()).collect(),
        };
        assert!(HashConv::parse(&call(&["x"])).is_err());
        assert!(HashConv::parse(&call(&["1", "2"])).is_err());
        assert_eq!(
            HashConv::parse(&Call {
                name: "md5".into(),
                args: vec![]
            })
            .unwrap(),
            None
        );
    }
}
