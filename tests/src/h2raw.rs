//! A raw HTTP/2 (h2c, prior knowledge) client that sends exactly the frames a test writes,
//! including ones a real client library refuses to build (uppercase names, connection-specific
//! headers, misplaced pseudo-headers, CR/LF/NUL in values, a `content-length` that disagrees
//! with the DATA frames): the h2 -> h1 downgrade cases of the smuggling corpus.
//!
//! Header blocks are HPACK literals without indexing and without Huffman coding, so every
//! byte is what the test wrote. Of the answer only the `:status` is decoded (the first field
//! of a response header block: a static-table index, or a literal whose value may be
//! Huffman-coded digits), and stream resets and GOAWAY are reported.

use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv4Addr, TcpStream};
use std::time::{Duration, Instant};

const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
const DATA: u8 = 0;
const HEADERS: u8 = 1;
const RST_STREAM: u8 = 3;
const SETTINGS: u8 = 4;
const PING: u8 = 6;
const GOAWAY: u8 = 7;
const END_STREAM: u8 = 0x1;
const ACK: u8 = 0x1;
const END_HEADERS: u8 = 0x4;
const PADDED: u8 = 0x8;
const PRIORITY: u8 = 0x20;

/// One HTTP/2 request as raw header fields (pseudo-headers included, in the given order) and
/// DATA frames.
#[derive(Debug, Clone, Default)]
pub struct H2Request {
    /// Header fields, sent in this order, bytes as given.
    pub fields: Vec<(Vec<u8>, Vec<u8>)>,
    /// Payloads of DATA frames; the last one carries END_STREAM (none: HEADERS does).
    pub data: Vec<Vec<u8>>,
}

impl H2Request {
    /// `GET path` with `:scheme http` and `:authority test`.
    pub fn get(path: &str) -> Self {
        Self::new("GET", path)
    }

    /// `method path` with `:scheme http` and `:authority test`.
    pub fn new(method: &str, path: &str) -> Self {
        Self {
            fields: vec![
                (b":method".to_vec(), method.as_bytes().to_vec()),
                (b":scheme".to_vec(), b"http".to_vec()),
                (b":authority".to_vec(), b"test".to_vec()),
                (b":path".to_vec(), path.as_bytes().to_vec()),
            ],
            data: Vec::new(),
        }
    }

    /// Appends a header field (any bytes).
    pub fn field(mut self, name: &[u8], value: &[u8]) -> Self {
        self.fields.push((name.to_vec(), value.to_vec()));
        self
    }

    /// Removes every field named `name`.
    pub fn without(mut self, name: &[u8]) -> Self {
        self.fields.retain(|(n, _)| n != name);
        self
    }

    /// Appends a DATA frame.
    pub fn data(mut self, payload: &[u8]) -> Self {
        self.data.push(payload.to_vec());
        self
    }
}

/// How the server answered the request (stream 1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum H2Outcome {
    /// A response header block with this `:status`.
    Status(u16),
    /// RST_STREAM on the request's stream, with this error code.
    Reset(u32),
    /// GOAWAY with this error code (connection error).
    GoAway(u32),
    /// The connection closed without an answer.
    Closed,
    /// Nothing conclusive within the time limit.
    Timeout,
}

impl H2Outcome {
    /// Whether the request was refused: a reset, a GOAWAY, a close, or a 4xx/5xx status.
    pub fn refused(&self) -> bool {
        match self {
            Self::Status(s) => *s >= 400,
            Self::Reset(_) | Self::GoAway(_) | Self::Closed => true,
            Self::Timeout => false,
        }
    }
}

/// Sends `req` on stream 1 of a new h2c connection to `127.0.0.1:port` and waits (at most
/// 5 s) for the answer.
pub fn send(port: u16, req: &H2Request) -> std::io::Result<H2Outcome> {
    let mut s = TcpStream::connect((Ipv4Addr::LOCALHOST, port))?;
    let mut out = PREFACE.to_vec();
    frame(&mut out, SETTINGS, 0, 0, &[]);
    let block = encode_block(&req.fields);
    let hflags = END_HEADERS | if req.data.is_empty() { END_STREAM } else { 0 };
    frame(&mut out, HEADERS, hflags, 1, &block);
    for (i, d) in req.data.iter().enumerate() {
        let last = i + 1 == req.data.len();
        frame(&mut out, DATA, if last { END_STREAM } else { 0 }, 1, d);
    }
    s.write_all(&out)?;
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16384];
    loop {
        while let Some((kind, flags, stream, payload, used)) = next_frame(&buf) {
            match (kind, stream) {
                (SETTINGS, 0) if flags & ACK == 0 => {
                    let mut ack = Vec::new();
                    frame(&mut ack, SETTINGS, ACK, 0, &[]);
                    s.write_all(&ack)?;
                }
                (PING, 0) if flags & ACK == 0 => {
                    let mut pong = Vec::new();
                    frame(&mut pong, PING, ACK, 0, &payload);
                    s.write_all(&pong)?;
                }
                (HEADERS, 1) => {
                    if let Some(status) = decode_status(&header_block(flags, &payload)) {
                        return Ok(H2Outcome::Status(status));
                    }
                }
                (RST_STREAM, 1) => return Ok(H2Outcome::Reset(be32(&payload, 0))),
                (GOAWAY, 0) => return Ok(H2Outcome::GoAway(be32(&payload, 4))),
                _ => {}
            }
            buf.drain(..used);
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(H2Outcome::Timeout);
        }
        s.set_read_timeout(Some(left))?;
        match s.read(&mut chunk) {
            Ok(0) => return Ok(H2Outcome::Closed),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return Ok(H2Outcome::Timeout);
            }
            Err(_) => return Ok(H2Outcome::Closed),
        }
    }
}

fn be32(p: &[u8], at: usize) -> u32 {
    p.get(at..at + 4)
        .map_or(0, |b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

fn frame(out: &mut Vec<u8>, kind: u8, flags: u8, stream: u32, payload: &[u8]) {
    let len = u32::try_from(payload.len()).expect("frame fits");
    out.extend_from_slice(&len.to_be_bytes()[1..]);
    out.extend_from_slice(&[kind, flags]);
    out.extend_from_slice(&stream.to_be_bytes());
    out.extend_from_slice(payload);
}

/// The next complete frame of `buf`: (type, flags, stream, payload, bytes used).
fn next_frame(buf: &[u8]) -> Option<(u8, u8, u32, Vec<u8>, usize)> {
    let head = buf.get(..9)?;
    let len = usize::from(head[0]) << 16 | usize::from(head[1]) << 8 | usize::from(head[2]);
    let payload = buf.get(9..9 + len)?;
    let stream = be32(head, 5) & 0x7fff_ffff;
    Some((head[3], head[4], stream, payload.to_vec(), 9 + len))
}

/// The header block fragment of a HEADERS payload (padding and priority removed).
fn header_block(flags: u8, p: &[u8]) -> Vec<u8> {
    let mut start = 0;
    let mut end = p.len();
    if flags & PADDED != 0 {
        let pad = usize::from(p.first().copied().unwrap_or(0));
        start = 1;
        end = end.saturating_sub(pad);
    }
    if flags & PRIORITY != 0 {
        start += 5;
    }
    p.get(start..end).map(<[u8]>::to_vec).unwrap_or_default()
}

/// HPACK integer with an `n`-bit prefix whose high bits are `first`.
fn put_int(out: &mut Vec<u8>, first: u8, n: u32, mut v: usize) {
    let max = (1usize << n) - 1;
    if v < max {
        out.push(first | u8::try_from(v).expect("small"));
        return;
    }
    out.push(first | u8::try_from(max).expect("small"));
    v -= max;
    while v >= 128 {
        out.push(u8::try_from(v % 128).expect("small") | 0x80);
        v /= 128;
    }
    out.push(u8::try_from(v).expect("small"));
}

/// Every field as "literal header field without indexing, new name", no Huffman coding.
fn encode_block(fields: &[(Vec<u8>, Vec<u8>)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (n, v) in fields {
        out.push(0x00);
        put_int(&mut out, 0, 7, n.len());
        out.extend_from_slice(n);
        put_int(&mut out, 0, 7, v.len());
        out.extend_from_slice(v);
    }
    out
}

/// HPACK integer with an `n`-bit prefix at `p[*at]`.
fn get_int(p: &[u8], at: &mut usize, n: u32) -> Option<usize> {
    let max = (1usize << n) - 1;
    let mut v = usize::from(*p.get(*at)?) & max;
    *at += 1;
    if v < max {
        return Some(v);
    }
    let mut shift = 0;
    loop {
        let b = *p.get(*at)?;
        *at += 1;
        v += usize::from(b & 0x7f) << shift;
        shift += 7;
        if b & 0x80 == 0 || shift > 28 {
            return Some(v);
        }
    }
}

/// The `:status` of a response header block, if its first field is one.
fn decode_status(p: &[u8]) -> Option<u16> {
    let first = *p.first()?;
    let mut at = 0;
    if first & 0x80 != 0 {
        // Indexed field: static entries 8..=14 are the common statuses.
        let idx = get_int(p, &mut at, 7)?;
        return [200, 204, 206, 304, 400, 404, 500]
            .get(idx.checked_sub(8)?)
            .copied();
    }
    let idx = if first & 0x40 != 0 {
        get_int(p, &mut at, 6)?
    } else {
        get_int(p, &mut at, 4)?
    };
    if !(8..=14).contains(&idx) {
        return None;
    }
    let huffman = *p.get(at)? & 0x80 != 0;
    let len = get_int(p, &mut at, 7)?;
    let value = p.get(at..at + len)?;
    let text = if huffman {
        huffman_digits(value)?
    } else {
        String::from_utf8_lossy(value).into_owned()
    };
    text.parse().ok()
}

/// Decodes a Huffman-coded string made of digits only (RFC 7541 appendix B: `0`-`2` are the
/// 5-bit codes 0-2, `3`-`9` the 6-bit codes 25-31); `None` for anything else.
fn huffman_digits(bytes: &[u8]) -> Option<String> {
    let bits: Vec<u8> = bytes
        .iter()
        .flat_map(|b| (0..8).rev().map(move |i| (b >> i) & 1))
        .collect();
    let mut out = String::new();
    let mut i = 0;
    while i + 5 <= bits.len() {
        let five = bits[i..i + 5].iter().fold(0u8, |a, b| a << 1 | b);
        if five <= 2 {
            out.push(char::from(b'0' + five));
            i += 5;
            continue;
        }
        if five == 0x1f && bits[i..].iter().all(|&b| b == 1) {
            break; // EOS padding
        }
        let six = (five << 1) | *bits.get(i + 5)?;
        if !(25..=31).contains(&six) {
            return None;
        }
        out.push(char::from(b'3' + (six - 25)));
        i += 6;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_indexed_literal_and_huffman_statuses() {
        assert_eq!(decode_status(&[0x88]), Some(200));
        assert_eq!(decode_status(&[0x8c]), Some(400));
        assert_eq!(decode_status(&[0x48, 0x03, b'5', b'0', b'3']), Some(503));
        // "502" Huffman: 011011 00000 00010 + EOS padding.
        assert_eq!(decode_status(&[0x48, 0x82, 0x6c, 0x02]), Some(502));
        assert_eq!(decode_status(&[0x01]), None);
    }

    #[test]
    fn integers_round_trip() {
        for v in [0, 5, 126, 127, 128, 300, 70000] {
            let mut out = Vec::new();
            put_int(&mut out, 0, 7, v);
            assert_eq!(get_int(&out, &mut 0, 7), Some(v));
        }
    }
}
