//! HTTP response compression (`compression algo|type|offload`), HAProxy 2.6's rules,
//! sans-I/O, streaming with bounded memory.
//!
//! # How the runtime calls it
//!
//! 1. **Request head received** (after the backend is chosen, before forwarding) —
//!    [`negotiate`] with the frontend's and backend's [`CompressionCfg`] picks an
//!    algorithm from `Accept-Encoding` (q-values honoured, `q=0` excludes, equal
//!    q-values keep the first listed, `*` takes the last configured algorithm) and, with
//!    `compression offload`, removes `Accept-Encoding` from the request so that the
//!    server does not compress. Keep the returned algorithm with the transaction.
//! 2. **Response head received** (after `http-response` rules) — if step 1 chose an
//!    algorithm, [`response_allows`] checks HAProxy's conditions (HTTP/1.1 or above on
//!    both sides, not HEAD, status 200..=203, a body with a known framing, no
//!    `Content-Encoding`, no `Cache-Control: no-transform`, at most one well-formed ETag,
//!    not `multipart/*`, a `Content-Type` matching `compression type` if any); when it
//!    says yes, [`apply_headers`] edits the head: `Content-Encoding`, `Content-Length`
//!    removed (hyper then frames the body as chunked on HTTP/1.1), strong `ETag` made
//!    weak (`W/`), `Vary: Accept-Encoding` added.
//! 3. **Body** — create an [`Encoder`] for the algorithm and pass every body chunk to
//!    [`Encoder::push`] (each call emits a sync-flushed block, as HAProxy flushes per
//!    buffer, so streaming responses are not delayed), then [`Encoder::finish`] at the
//!    end of the body (trailers, if any, follow unchanged). [`CompressBody`] wraps a
//!    [`http_body::Body`] to do this directly.
//!
//! HAProxy 2.6 has no minimum size (`compression minsize-*` came later) and compresses
//! at `tune.comp.maxlevel` (default 1, the fastest), which workers read from their shared
//! state.

mod body;
mod encoder;

pub use body::CompressBody;
pub use encoder::{EncodeError, Encoder};

use http::header::{
    ACCEPT_ENCODING, CACHE_CONTROL, CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_TYPE, ETAG,
    TRANSFER_ENCODING, USER_AGENT, VARY,
};
use http::{HeaderValue, Method, Version};

pub use crate::config::compression::{CompAlgo, CompressionCfg};

/// The algorithm list that applies: the backend's if it has one, else the frontend's.
fn algos<'a>(fe: Option<&'a CompressionCfg>, be: Option<&'a CompressionCfg>) -> &'a [CompAlgo] {
    match (be, fe) {
        (Some(b), _) if !b.algos.is_empty() => &b.algos,
        (_, Some(f)) if !f.algos.is_empty() => &f.algos,
        _ => &[],
    }
}

/// The types list that applies: the backend's if it has one, else the frontend's.
fn types<'a>(fe: Option<&'a CompressionCfg>, be: Option<&'a CompressionCfg>) -> &'a [String] {
    match (be, fe) {
        (Some(b), _) if !b.types.is_empty() => &b.types,
        (_, Some(f)) if !f.types.is_empty() => &f.types,
        _ => &[],
    }
}

/// HTTP token characters (RFC 9110 `tchar`).
fn is_token(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&c)
}

/// Parses a q-value (`1`, `0.5`, `1.000`) into thousandths, as HAProxy's
/// `http_parse_qvalue` (anything malformed counts as what was read so far).
pub fn parse_qvalue(s: &[u8]) -> u16 {
    let mut it = s.iter().copied().peekable();
    let q: u16 = match it.next() {
        Some(b'1') => 1000,
        Some(b'0') => 0,
        _ => return 0,
    };
    if it.next() != Some(b'.') {
        return q;
    }
    if q == 1000 {
        return 1000;
    }
    let mut v = 0u16;
    let mut mult = 100u16;
    for c in it.take(3) {
        if !c.is_ascii_digit() {
            break;
        }
        v += u16::from(c - b'0') * mult;
        mult /= 10;
    }
    v
}

/// HAProxy refuses to compress for old `Mozilla/4` agents except MSIE 6 SP2 and MSIE 7+.
fn broken_user_agent(ua: &[u8]) -> bool {
    ua.len() >= 9
        && &ua[..9] == b"Mozilla/4"
        && (ua.len() < 31
            || &ua[25..30] != b"MSIE "
            || ua[30] < b'6'
            || (ua[30] == b'6' && (ua.len() < 54 || &ua[51..54] != b"SV1")))
}

/// Chooses the compression algorithm for a request (step 1 of the module docs); with
/// `compression offload` in either proxy, removes `Accept-Encoding` when one was chosen.
pub fn negotiate(
    fe: Option<&CompressionCfg>,
    be: Option<&CompressionCfg>,
    req: &mut http::request::Parts,
) -> Option<CompAlgo> {
    let list = algos(fe, be);
    if list.is_empty() {
        return None;
    }
    if req
        .headers
        .get(USER_AGENT)
        .is_some_and(|ua| broken_user_agent(ua.as_bytes()))
    {
        return None;
    }
    let mut best: Option<CompAlgo> = None;
    let mut best_q = 0u16;
    for value in req.headers.get_all(ACCEPT_ENCODING) {
        for item in value.as_bytes().split(|&c| c == b',') {
            let item = item.trim_ascii_start();
            if item.is_empty() {
                continue;
            }
            let toklen = item.iter().take_while(|&&c| is_token(c)).count();
            let q = find_q(&item[toklen..]).map_or(1000, parse_qvalue);
            if q <= best_q {
                continue;
            }
            let token = &item[..toklen];
            // The configuration's last algorithm comes first, as HAProxy prepends.
            if let Some(a) = list
                .iter()
                .rev()
                .find(|a| item[0] == b'*' || token.eq_ignore_ascii_case(a.token().as_bytes()))
            {
                best = Some(*a);
                best_q = q;
            }
        }
    }
    if best.is_some() {
        let offload = fe.is_some_and(|c| c.offload) || be.is_some_and(|c| c.offload);
        if offload {
            req.headers.remove(ACCEPT_ENCODING);
        }
        return best;
    }
    // Identity needs no header.
    list.iter().copied().find(|a| *a == CompAlgo::Identity)
}

/// The text after the first `q=` among the `;` parameters of an `Accept-Encoding` item.
fn find_q(params: &[u8]) -> Option<&[u8]> {
    let mut rest = params;
    loop {
        rest = rest.trim_ascii_start();
        rest = rest.strip_prefix(b";")?;
        rest = rest.trim_ascii_start();
        if rest.is_empty() {
            return None;
        }
        if let Some(v) = rest.strip_prefix(b"q=") {
            return Some(v);
        }
        let next = rest.iter().position(|&c| c == b';')?;
        rest = &rest[next..];
    }
}

/// What [`response_allows`] needs to know about the request.
#[derive(Debug, Clone, Copy)]
pub struct RequestInfo<'a> {
    /// The request method.
    pub method: &'a Method,
    /// The request's HTTP version.
    pub version: Version,
}

/// Whether a strong (`"x"`) or weak (`W/"x"`) entity tag.
fn etag_valid(v: &[u8]) -> bool {
    let body = v.strip_prefix(b"W/").unwrap_or(v);
    body.len() >= 2 && body[0] == b'"' && body[body.len() - 1] == b'"'
}

/// Whether the response may be compressed (step 2 of the module docs).
pub fn response_allows(
    fe: Option<&CompressionCfg>,
    be: Option<&CompressionCfg>,
    req: RequestInfo<'_>,
    res: &http::response::Parts,
) -> bool {
    let v11 = |v: Version| v >= Version::HTTP_11;
    if !v11(req.version) || !v11(res.version) || *req.method == Method::HEAD {
        return false;
    }
    if !matches!(res.status.as_u16(), 200..=203) {
        return false;
    }
    let h = &res.headers;
    let chunked = h
        .get_all(TRANSFER_ENCODING)
        .iter()
        .next_back()
        .is_some_and(|v| {
            v.as_bytes()
                .rsplit(|&c| c == b',')
                .next()
                .is_some_and(|t| t.trim_ascii().eq_ignore_ascii_case(b"chunked"))
        });
    let framed = res.version >= Version::HTTP_2 || h.contains_key(CONTENT_LENGTH) || chunked;
    if !framed || h.contains_key(CONTENT_ENCODING) {
        return false;
    }
    let no_transform = h.get_all(CACHE_CONTROL).iter().any(|v| {
        v.as_bytes()
            .split(|&c| c == b',')
            .any(|d| d.trim_ascii().eq_ignore_ascii_case(b"no-transform"))
    });
    if no_transform {
        return false;
    }
    let mut etags = h.get_all(ETAG).iter();
    if let Some(first) = etags.next()
        && (!etag_valid(first.as_bytes().trim_ascii()) || etags.next().is_some())
    {
        return false;
    }
    let wanted = types(fe, be);
    match h.get(CONTENT_TYPE) {
        Some(ct) => {
            let ct = ct.as_bytes();
            let prefix = |p: &[u8]| ct.len() >= p.len() && ct[..p.len()].eq_ignore_ascii_case(p);
            if prefix(b"multipart") {
                return false;
            }
            wanted.is_empty() || wanted.iter().any(|t| prefix(t.as_bytes()))
        }
        None => wanted.is_empty(),
    }
}

/// Edits the response head for `algo` (step 2 of the module docs).
pub fn apply_headers(algo: CompAlgo, res: &mut http::response::Parts) {
    let h = &mut res.headers;
    if algo != CompAlgo::Identity {
        h.append(CONTENT_ENCODING, HeaderValue::from_static(algo.token()));
    }
    h.remove(CONTENT_LENGTH);
    if let Some(etag) = h.get_mut(ETAG) {
        let v = etag.as_bytes();
        if v.first() == Some(&b'"') {
            let mut weak = Vec::with_capacity(v.len() + 2);
            weak.extend_from_slice(b"W/");
            weak.extend_from_slice(v);
            if let Ok(w) = HeaderValue::from_bytes(&weak) {
                *etag = w;
            }
        }
    }
    h.append(VARY, HeaderValue::from_static("Accept-Encoding"));
}

#[cfg(test)]
mod tests;
