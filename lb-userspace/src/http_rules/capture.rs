//! Header captures: `capture request header NAME len N`, `capture response header ...`
//! and the slots `declare capture` / `http-request capture ... len N` add.
//!
//! Slots are numbered per direction in declaration order, as HAProxy does: `capture
//! request header` lines and request capture slots share one list, which is what
//! `capture.req.hdr(N)` and `%hr` read.

use http::{HeaderMap, HeaderName};

use crate::http::HttpTxn;
use crate::sample::fetch_http::hdr;

/// A `capture request|response header NAME len N` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderCapture {
    /// The header.
    pub name: HeaderName,
    /// At most this many bytes are kept.
    pub len: usize,
    /// Its slot.
    pub slot: usize,
}

/// The capture slots of a frontend.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HttpCaptures {
    /// Request header captures.
    pub req_headers: Vec<HeaderCapture>,
    /// Response header captures.
    pub res_headers: Vec<HeaderCapture>,
    /// Length of every request slot (header captures and others), by slot.
    pub req_slots: Vec<usize>,
    /// Length of every response slot, by slot.
    pub res_slots: Vec<usize>,
}

impl HttpCaptures {
    /// Whether nothing is captured at all.
    pub fn is_empty(&self) -> bool {
        self.req_slots.is_empty() && self.res_slots.is_empty()
    }
}

/// Truncates to at most `len` bytes on a character boundary.
pub fn truncate(value: &str, len: usize) -> String {
    let mut end = len.min(value.len());
    while !value.is_char_boundary(end) {
        end -= 1;
    }
    value[..end].to_owned()
}

fn capture(
    headers: &HeaderMap,
    caps: &[HeaderCapture],
    slots: &[usize],
    out: &mut Vec<Option<String>>,
) {
    if out.len() < slots.len() {
        out.resize(slots.len(), None);
    }
    for c in caps {
        // HAProxy keeps the last line of the header, whole.
        if let Some(v) = hdr::lines(headers, Some(c.name.as_str())).last()
            && let Some(slot) = out.get_mut(c.slot)
        {
            *slot = Some(truncate(&String::from_utf8_lossy(v), c.len));
        }
    }
}

/// Fills `txn.req_captures` from the request headers (call once the request head is
/// received, before the rules).
pub fn capture_request_headers(cfg: &HttpCaptures, txn: &mut HttpTxn) {
    if cfg.req_slots.is_empty() {
        return;
    }
    capture(
        &txn.req.headers,
        &cfg.req_headers,
        &cfg.req_slots,
        &mut txn.req_captures,
    );
}

/// Fills `txn.res_captures` from the response headers (call once `txn.res` is set).
pub fn capture_response_headers(cfg: &HttpCaptures, txn: &mut HttpTxn) {
    if cfg.res_slots.is_empty() {
        return;
    }
    if let Some(res) = &txn.res {
        capture(
            &res.headers,
            &cfg.res_headers,
            &cfg.res_slots,
            &mut txn.res_captures,
        );
    }
}
