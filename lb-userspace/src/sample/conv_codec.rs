//! Encoding converters: `base64`, `b64dec`, `hex` and `json`.

use std::borrow::Cow;
use std::fmt::Write;

use crate::sample::parse::Call;
use crate::sample::{Sample, SampleError, SampleType};

/// How `json` reads its input (its argument).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JsonInput {
    /// `ascii` (the default): every byte is a character.
    Ascii,
    /// `utf8`: UTF-8, failing on characters JSON's `\u` cannot carry.
    Utf8,
    /// `utf8s`: UTF-8, skipping such characters.
    Utf8Skip,
    /// `utf8p`: permissive UTF-8, failing on them.
    Utf8Permissive,
    /// `utf8ps`: permissive UTF-8, skipping them.
    Utf8PermissiveSkip,
}

/// The encoding converters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodecConv {
    /// `base64`: binary to base64 text (standard alphabet, padded).
    Base64,
    /// `b64dec`: base64 text to binary; fails on malformed input.
    B64Dec,
    /// `hex`: binary to upper-case hexadecimal.
    Hex,
    /// `json([input-code])`: escapes a string for use between JSON quotes.
    Json(JsonInput),
}

impl CodecConv {
    /// Builds the converter called `call.name` if it is an encoding converter.
    pub fn parse(call: &Call) -> Result<Option<Self>, SampleError> {
        let name = call.name.as_str();
        let conv = match name {
            "base64" => Self::Base64,
            "b64dec" => Self::B64Dec,
            "hex" => Self::Hex,
            "json" => Self::Json(match call.args.as_slice() {
                [] => JsonInput::Ascii,
                [a] => match a.as_str() {
                    "" | "ascii" => JsonInput::Ascii,
                    "utf8" => JsonInput::Utf8,
                    "utf8s" => JsonInput::Utf8Skip,
                    "utf8p" => JsonInput::Utf8Permissive,
                    "utf8ps" => JsonInput::Utf8PermissiveSkip,
                    _ => {
                        return Err(bad(
                            name,
                            "Unexpected input code type. Allowed value are 'ascii', 'utf8', \
                             'utf8s', 'utf8p' and 'utf8ps'",
                        ));
                    }
                },
                _ => return Err(bad(name, "too many arguments")),
            }),
            _ => return Ok(None),
        };
        if !matches!(conv, Self::Json(_)) && !call.args.is_empty() {
            return Err(bad(name, "this converter takes no argument"));
        }
        Ok(Some(conv))
    }

    /// The input type.
    pub fn in_type(self) -> SampleType {
        match self {
            Self::Base64 | Self::Hex => SampleType::Bin,
            Self::B64Dec | Self::Json(_) => SampleType::Str,
        }
    }

    /// The output type.
    pub fn out_type(self) -> SampleType {
        match self {
            Self::B64Dec => SampleType::Bin,
            _ => SampleType::Str,
        }
    }

    /// Applies the converter to a value of [`CodecConv::in_type`].
    pub fn apply<'a>(self, input: Sample<'a>) -> Option<Sample<'a>> {
        match (self, input) {
            (Self::Base64, Sample::Bin(b)) => Some(Sample::Str(Cow::Owned(base64(&b)))),
            (Self::Hex, Sample::Bin(b)) => {
                let mut out = String::with_capacity(b.len() * 2);
                for c in b.iter() {
                    let _ = write!(out, "{c:02X}");
                }
                Some(Sample::Str(Cow::Owned(out)))
            }
            (Self::B64Dec, Sample::Str(s)) => {
                b64dec(s.as_bytes()).map(|b| Sample::Bin(Cow::Owned(b)))
            }
            (Self::Json(mode), Sample::Str(s)) => {
                json(&s, mode).map(|j| Sample::Str(Cow::Owned(j)))
            }
            _ => None,
        }
    }
}

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 with padding.
pub(crate) fn base64(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn b64_value(c: u8) -> Option<u32> {
    ALPHABET.iter().position(|&a| a == c).map(|p| p as u32)
}

/// Strict decoding: length a multiple of 4, padding only at the very end (`XX==` or
/// `XXX=`).
pub(crate) fn b64dec(text: &[u8]) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(4) {
        return None;
    }
    let mut out = Vec::with_capacity(text.len() / 4 * 3);
    let quads = text.len() / 4;
    for (q, quad) in text.chunks(4).enumerate() {
        let pad = quad.iter().rev().take_while(|&&c| c == b'=').count();
        if pad > 2 || (pad > 0 && q + 1 != quads) {
            return None;
        }
        let mut n = 0u32;
        for &c in &quad[..4 - pad] {
            n = n << 6 | b64_value(c)?;
        }
        n <<= 6 * pad as u32;
        let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        out.extend_from_slice(&bytes[..3 - pad]);
    }
    Some(out)
}

fn json(s: &str, mode: JsonInput) -> Option<String> {
    let mut out = String::with_capacity(s.len() + 2);
    let mut push = |c: u32| match c {
        0x22 => out.push_str("\\\""),
        0x5c => out.push_str("\\\\"),
        0x2f => out.push_str("\\/"),
        0x08 => out.push_str("\\b"),
        0x0c => out.push_str("\\f"),
        0x0d => out.push_str("\\r"),
        0x0a => out.push_str("\\n"),
        0x09 => out.push_str("\\t"),
        // C's isprint() in the C locale.
        0x20..=0x7e => out.push(char::from(c as u8)),
        _ => {
            let _ = write!(out, "\\u{c:04x}");
        }
    };
    if mode == JsonInput::Ascii {
        s.bytes().for_each(|b| push(u32::from(b)));
        return Some(out);
    }
    let skip = matches!(mode, JsonInput::Utf8Skip | JsonInput::Utf8PermissiveSkip);
    for ch in s.chars() {
        let c = u32::from(ch);
        // Beyond the BMP `\u` cannot carry it; U+FFFE/U+FFFF are HAProxy's "invalid
        // range". Surrogates and bad sequences cannot occur in a Rust string.
        if c > 0xffff || (0xfffe..=0xffff).contains(&c) {
            if skip {
                continue;
            }
            return None;
        }
        push(c);
    }
    Some(out)
}

fn bad(keyword: &str, reason: &str) -> SampleError {
    SampleError::BadArgs {
        keyword: keyword.to_owned(),
        reason: reason.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conv(name: &str, args: &[&str]) -> Result<Option<CodecConv>, SampleError> {
        CodecConv::parse(&Call {
            name: name.into(),
            args: args.iter().map(|a| (*a).to_owned()).collect(),
        })
    }

    fn apply(c: CodecConv, input: Sample<'static>) -> Option<Sample<'static>> {
        c.apply(input.cast(c.in_type())?).map(Sample::into_owned)
    }

    fn s(t: &str) -> Sample<'static> {
        Sample::Str(Cow::Owned(t.to_owned()))
    }

    fn bin(b: &[u8]) -> Sample<'static> {
        Sample::Bin(Cow::Owned(b.to_vec()))
    }

    #[test]
    fn base64_round_trips() {
        for (plain, enc) in [
            (&b""[..], ""),
            (b"f", "Zg=="),
            (b"fo", "Zm8="),
            (b"foo", "Zm9v"),
            (b"foobar", "Zm9vYmFy"),
            (b"\xff\x00\xfe", "/wD+"),
        ] {
            assert_eq!(apply(CodecConv::Base64, bin(plain)), Some(s(enc)));
            assert_eq!(apply(CodecConv::B64Dec, s(enc)), Some(bin(plain)));
        }
        // Strings are bytes to base64.
        assert_eq!(apply(CodecConv::Base64, s("hi")), Some(s("aGk=")));
    }

    #[test]
    fn b64dec_is_strict() {
        for bad in ["Zg", "Zg=", "Z===", "====", "Zg==Zm9v", "Zm9v!A==", "Zm 9"] {
            assert_eq!(apply(CodecConv::B64Dec, s(bad)), None, "{bad}");
        }
    }

    #[test]
    fn hex_is_upper_case() {
        assert_eq!(
            apply(CodecConv::Hex, bin(&[0, 0xab, 0x1f])),
            Some(s("00AB1F"))
        );
        assert_eq!(apply(CodecConv::Hex, s("A")), Some(s("41")));
        assert_eq!(
            apply(CodecConv::Hex, Sample::Int(1)),
            Some(s("0000000000000001"))
        );
    }

    #[test]
    fn json_escapes() {
        let ascii = CodecConv::Json(JsonInput::Ascii);
        assert_eq!(
            apply(ascii, s("a\"b\\c/d\u{8}\u{c}\r\n\t\u{1}")),
            Some(s("a\\\"b\\\\c\\/d\\b\\f\\r\\n\\t\\u0001"))
        );
        // ASCII mode escapes each byte of a multi-byte character.
        assert_eq!(apply(ascii, s("é")), Some(s("\\u00c3\\u00a9")));
        let utf8 = CodecConv::Json(JsonInput::Utf8);
        assert_eq!(apply(utf8, s("é€")), Some(s("\\u00e9\\u20ac")));
        assert_eq!(apply(utf8, s("a😀")), None);
        assert_eq!(apply(utf8, s("\u{ffff}")), None);
        let skip = CodecConv::Json(JsonInput::Utf8Skip);
        assert_eq!(apply(skip, s("a😀b")), Some(s("ab")));
        assert_eq!(
            apply(CodecConv::Json(JsonInput::Utf8PermissiveSkip), s("😀")),
            Some(s(""))
        );
        assert_eq!(
            apply(CodecConv::Json(JsonInput::Utf8Permissive), s("😀")),
            None
        );
    }

    #[test]
    fn arguments() {
        assert_eq!(
            conv("json", &[]).unwrap(),
            Some(CodecConv::Json(JsonInput::Ascii))
        );
        assert_eq!(
            conv("json", &["utf8s"]).unwrap(),
            Some(CodecConv::Json(JsonInput::Utf8Skip))
        );
        assert!(conv("json", &["latin1"]).is_err());
        assert!(conv("json", &["a", "b"]).is_err());
        assert!(conv("hex", &["1"]).is_err());
        assert!(conv("base64", &["1"]).is_err());
        assert_eq!(conv("nope", &[]).unwrap(), None);
        assert_eq!(CodecConv::B64Dec.out_type(), SampleType::Bin);
        assert_eq!(CodecConv::Hex.in_type(), SampleType::Bin);
    }
}
