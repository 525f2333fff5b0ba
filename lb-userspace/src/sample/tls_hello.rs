//! A sans-I/O reader of the TLS ClientHello a client sends first, for `req.ssl_sni`,
//! `req.ssl_ver` and `req.ssl_hello_type` (routing TLS without terminating it).
//!
//! It sees hostile bytes: every length is checked against what is there, nothing is
//! trusted, and the answer is "need more bytes", "not a TLS ClientHello" or the facts.
//! Unlike HAProxy, a ClientHello split over several handshake records (large post-quantum
//! key shares) is reassembled.

use std::borrow::Cow;

/// The outcome of reading the first bytes of a stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parse<T> {
    /// The bytes are enough to answer.
    Done(T),
    /// The bytes are a valid beginning; more are needed.
    Incomplete,
    /// The bytes are not what was expected.
    Invalid,
}

impl<T> Parse<T> {
    fn map<U>(self, f: impl FnOnce(T) -> U) -> Parse<U> {
        match self {
            Self::Done(v) => Parse::Done(f(v)),
            Self::Incomplete => Parse::Incomplete,
            Self::Invalid => Parse::Invalid,
        }
    }
}

/// Content type of handshake records.
const HANDSHAKE: u8 = 0x16;
/// Handshake type of a ClientHello.
const CLIENT_HELLO: u8 = 1;
/// Largest record payload accepted (2^14 plus the 2048 bytes of slack HAProxy allows).
const MAX_RECORD: usize = (1 << 14) + 2048;
/// Largest ClientHello accepted: more than any real client sends, and bounded so that a
/// hostile length cannot make the caller wait for megabytes.
const MAX_HELLO: usize = 1 << 16;

/// What a ClientHello says that routing needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientHello<'a> {
    /// `legacy_version` of the ClientHello (`0x0303` for TLS 1.2 and 1.3).
    pub version: u16,
    /// The first `host_name` of the server_name extension, as sent.
    pub sni: Option<Cow<'a, [u8]>>,
}

/// Reads a ClientHello at the start of `data` (a TLS record stream).
pub fn parse_client_hello(data: &[u8]) -> Parse<ClientHello<'_>> {
    let body = match handshake_body(data) {
        Parse::Done(body) => body,
        Parse::Incomplete => return Parse::Incomplete,
        Parse::Invalid => return Parse::Invalid,
    };
    let Some(fields) = hello_fields(&body) else {
        return Parse::Invalid;
    };
    let sni = fields.sni.map(|r| match &body {
        Cow::Borrowed(b) => Cow::Borrowed(&b[r]),
        Cow::Owned(b) => Cow::Owned(b[r].to_vec()),
    });
    Parse::Done(ClientHello {
        version: fields.version,
        sni,
    })
}

/// The type of the first handshake message once it is complete (HAProxy's
/// `req.ssl_hello_type`: 1 for a ClientHello, which may span several records).
pub fn hello_type(data: &[u8]) -> Parse<u8> {
    let len = match record_header(data) {
        Parse::Done(len) => len,
        Parse::Incomplete => return Parse::Incomplete,
        Parse::Invalid => return Parse::Invalid,
    };
    let record = &data[5..];
    let Some(&hs_type) = record.first() else {
        return Parse::Incomplete;
    };
    if len < 4 {
        return Parse::Invalid;
    }
    if hs_type == CLIENT_HELLO {
        return handshake_body(data).map(|_| CLIENT_HELLO);
    }
    let Some(hs_len) = record.get(1..4).map(be24) else {
        return Parse::Incomplete;
    };
    if record.len() < 4 + hs_len {
        return Parse::Incomplete;
    }
    Parse::Done(hs_type)
}

/// Checks the record header at the start of `data` (handshake, SSLv3 or later, sane
/// length) and returns the record's payload length.
fn record_header(data: &[u8]) -> Parse<usize> {
    match data.first() {
        None => return Parse::Incomplete,
        Some(&HANDSHAKE) => {}
        Some(_) => return Parse::Invalid,
    }
    match data.get(1) {
        None => return Parse::Incomplete,
        Some(&major) if major != 3 => return Parse::Invalid,
        Some(_) => {}
    }
    let Some(len) = data.get(3..5).map(be16) else {
        return Parse::Incomplete;
    };
    if len == 0 || len > MAX_RECORD {
        return Parse::Invalid;
    }
    Parse::Done(len)
}

/// The body of the first handshake message, which must be a ClientHello, gathered from
/// as many handshake records as it spans (borrowed when it fits in the first one).
fn handshake_body(data: &[u8]) -> Parse<Cow<'_, [u8]>> {
    let first_len = match record_header(data) {
        Parse::Done(len) => len,
        Parse::Incomplete => return Parse::Incomplete,
        Parse::Invalid => return Parse::Invalid,
    };
    let first = &data[5..];
    // The handshake header itself may straddle records only in theory; real clients
    // never do it, and refusing it keeps the reader simple.
    match first.first() {
        None => return Parse::Incomplete,
        Some(&CLIENT_HELLO) => {}
        Some(_) => return Parse::Invalid,
    }
    if first_len < 4 {
        return Parse::Invalid;
    }
    let Some(hs_len) = first.get(1..4).map(be24) else {
        return Parse::Incomplete;
    };
    if hs_len > MAX_HELLO {
        return Parse::Invalid;
    }
    let in_first = first_len - 4;
    if hs_len <= in_first {
        return match first.get(4..4 + hs_len) {
            Some(body) => Parse::Done(Cow::Borrowed(body)),
            None => Parse::Incomplete,
        };
    }
    // Continued in the following handshake records.
    let mut body = Vec::with_capacity(hs_len);
    let Some(part) = first.get(4..first_len) else {
        return Parse::Incomplete;
    };
    body.extend_from_slice(part);
    let mut rest = &first[first_len..];
    while body.len() < hs_len {
        let len = match record_header(rest) {
            Parse::Done(len) => len,
            Parse::Incomplete => return Parse::Incomplete,
            Parse::Invalid => return Parse::Invalid,
        };
        let want = (hs_len - body.len()).min(len);
        let Some(part) = rest.get(5..5 + want) else {
            return Parse::Incomplete;
        };
        body.extend_from_slice(part);
        if want < len {
            // Another handshake message follows in the same record: fine, it is not ours.
            break;
        }
        rest = &rest[5 + len..];
    }
    Parse::Done(Cow::Owned(body))
}

/// Offsets of what we need in a ClientHello body.
struct Fields {
    version: u16,
    sni: Option<std::ops::Range<usize>>,
}

/// A cursor over a byte slice that never reads past the end.
struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(n)?;
        let s = self.data.get(self.pos..end)?;
        self.pos = end;
        Some(s)
    }

    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }

    fn u16(&mut self) -> Option<u16> {
        self.take(2).map(|b| u16::from_be_bytes([b[0], b[1]]))
    }

    fn left(&self) -> usize {
        self.data.len() - self.pos
    }
}

fn hello_fields(body: &[u8]) -> Option<Fields> {
    let mut r = Reader { data: body, pos: 0 };
    let version = r.u16()?;
    // SSLv3 (3.0) at least; HAProxy requires TLS 1.0 for SNI, and SNI does not exist
    // before it anyway.
    if version >> 8 != 3 || version & 0xff == 0 {
        return None;
    }
    r.take(32)?; // random
    let sid_len = usize::from(r.u8()?);
    if sid_len > 32 {
        return None;
    }
    r.take(sid_len)?;
    let ciphers = usize::from(r.u16()?);
    if ciphers < 2 || !ciphers.is_multiple_of(2) {
        return None;
    }
    r.take(ciphers)?;
    let compressions = usize::from(r.u8()?);
    if compressions < 1 {
        return None;
    }
    r.take(compressions)?;
    if r.left() == 0 {
        // No extensions at all: valid, without SNI.
        return Some(Fields { version, sni: None });
    }
    let ext_total = usize::from(r.u16()?);
    let ext_start = r.pos;
    let exts = r.take(ext_total)?;
    let mut e = Reader { data: exts, pos: 0 };
    let mut sni = None;
    while e.left() > 0 {
        let ext_type = e.u16()?;
        let len = usize::from(e.u16()?);
        let start = e.pos;
        let ext = e.take(len)?;
        if ext_type == 0 && sni.is_none() {
            let name = server_name(ext)?;
            sni = name.map(|n| ext_start + start + n.start..ext_start + start + n.end);
        }
    }
    Some(Fields { version, sni })
}

/// The range of the first `host_name` in a server_name extension's data; `Some(None)`
/// when the list holds no host name.
fn server_name(ext: &[u8]) -> Option<Option<std::ops::Range<usize>>> {
    let mut r = Reader { data: ext, pos: 0 };
    let list_len = usize::from(r.u16()?);
    if list_len != r.left() || list_len < 3 {
        return None;
    }
    while r.left() > 0 {
        let name_type = r.u8()?;
        let len = usize::from(r.u16()?);
        let start = r.pos;
        r.take(len)?;
        if name_type == 0 {
            return Some(Some(start..start + len));
        }
    }
    Some(None)
}

/// The SSL/TLS version announced by a client (HAProxy's `req.ssl_ver`): major × 65536 +
/// minor of the ClientHello's version for SSLv3 and later record formats, of the hello
/// for SSLv2. Answers only once the whole first message is there.
pub fn ssl_version(data: &[u8]) -> Parse<u32> {
    let Some(&first) = data.first() else {
        return Parse::Incomplete;
    };
    if (0x14..=0x17).contains(&first) || first == 0xff {
        if data.len() < 11 {
            return Parse::Incomplete;
        }
        let record_version = (u32::from(data[1]) << 16) | u32::from(data[2]);
        let msg_len = be16(&data[3..5]);
        if record_version < 0x0003_0000 || !(6..=MAX_RECORD).contains(&msg_len) {
            return Parse::Invalid;
        }
        let version = (u32::from(data[9]) << 16) | u32::from(data[10]);
        return if data.len() - 5 < msg_len {
            Parse::Incomplete
        } else {
            Parse::Done(version)
        };
    }
    sslv2_version(data)
}

/// An SSLv2-format hello: 2- or 3-byte header, then type 1, version, and the lengths of
/// the cipher specs, session id and challenge.
fn sslv2_version(data: &[u8]) -> Parse<u32> {
    let (rlen, pad, hdr) = if data[0] & 0x80 != 0 {
        if data.len() < 3 {
            return Parse::Incomplete;
        }
        (
            usize::from(data[0] & 0x7f) << 8 | usize::from(data[1]),
            0,
            2,
        )
    } else {
        if data.len() < 4 {
            return Parse::Incomplete;
        }
        (
            usize::from(data[0] & 0x3f) << 8 | usize::from(data[1]),
            usize::from(data[2]),
            3,
        )
    };
    let msg = &data[hdr..];
    if msg[0] != 1 {
        return Parse::Invalid;
    }
    let Some(fixed) = msg.get(1..9) else {
        return Parse::Incomplete;
    };
    let version = (u32::from(fixed[0]) << 16) | u32::from(fixed[1]);
    let ciphers = be16(&fixed[2..4]);
    let sid = be16(&fixed[4..6]);
    let challenge = be16(&fixed[6..8]);
    if !ciphers.is_multiple_of(3)
        || (sid != 0 && sid != 16)
        || !(16..=32).contains(&challenge)
        || rlen != 9 + ciphers + sid + challenge
    {
        return Parse::Invalid;
    }
    let rest = msg.len() - 9;
    if rest < ciphers + sid + challenge + pad {
        Parse::Incomplete
    } else {
        Parse::Done(version)
    }
}

/// The SNI of a ClientHello, `Done(None)` when it has none; for `req.ssl_sni`.
pub fn sni(data: &[u8]) -> Parse<Option<Cow<'_, [u8]>>> {
    parse_client_hello(data).map(|h| h.sni)
}

fn be16(b: &[u8]) -> usize {
    usize::from(b[0]) << 8 | usize::from(b[1])
}

fn be24(b: &[u8]) -> usize {
    usize::from(b[0]) << 16 | usize::from(b[1]) << 8 | usize::from(b[2])
}

#[cfg(test)]
mod tests;
