//! HTTP mode (`mode http`): the HTTP transaction that fetches, rules and logs see.
//!
//! The runtime (hyper on both sides) builds an [`HttpTxn`] per request; sample fetches
//! read it through [`crate::sample::StreamCtx::http`], HTTP rules modify it between
//! evaluations, and the log line reads what it kept. Sub-modules hold the proxying,
//! rules glue, persistence and compression.

pub mod compress;
pub mod cookie;
mod cookie_parse;
pub mod extras;
pub mod log;

/// One HTTP request/response exchange as the rules and fetches see it.
///
/// Header names are lowercase (as hyper and HAProxy's HTX keep them); an HTTP/2 request
/// carries its `:authority` as a `host` header so `hdr(host)` works for both versions.
#[derive(Debug)]
pub struct HttpTxn {
    /// The request head (method, URI, version, headers), as rules left it so far.
    pub req: http::request::Parts,
    /// The request body when it was buffered (`option http-buffer-request`,
    /// `http-request wait-for-body`); `None` when it is streamed.
    pub req_body: Option<bytes::Bytes>,
    /// The response head, once the server (or a rule) produced one.
    pub res: Option<http::response::Parts>,
    /// Request captures (`capture request header`, `http-request capture`), by slot.
    pub req_captures: Vec<Option<String>>,
    /// Response captures (`capture response header`, `http-response capture`), by slot.
    pub res_captures: Vec<Option<String>>,
    /// The request went to the server: fetches of its URI, headers and body find nothing
    /// any more (HAProxy's behaviour in response rules); `req` keeps what
    /// `method` and `capture.req.*` read.
    pub req_released: bool,
    /// The request is the first of its client connection (`http_first_req`).
    pub first_req: bool,
}

impl HttpTxn {
    /// A transaction for a request head that has just been received.
    pub fn new(req: http::request::Parts) -> Self {
        Self {
            req,
            req_body: None,
            res: None,
            req_captures: Vec::new(),
            res_captures: Vec::new(),
            req_released: false,
            first_req: false,
        }
    }
}

pub mod body;
pub mod buffer;
pub mod cacheability;
pub mod checkcache;
pub mod errors;
pub mod forward;
pub mod gather;
pub mod headers;
pub mod io;
pub mod normalize;
pub mod phases;
pub mod pool;
pub mod reject;
pub mod reply;
pub mod session;
pub mod timing;
pub mod tunnel;
pub mod txn;
pub mod upstream;
pub mod websocket;
