//! One object per HTTP transaction tying persistence ([`super::cookie`]), compression
//! ([`super::compress`]) and log facts ([`super::log`]) to the runtime's phases, so the
//! proxy calls four methods instead of a dozen functions.
//!
//! | Phase (in order) | Call |
//! |---|---|
//! | request head received, before `http-request` rules | [`Extras::on_request_head`] |
//! | backend chosen, after its `http-request` rules, before `use-server` / stick / balancing | [`Extras::on_backend`]: a `Some(index)` result is the server to use |
//! | response head received, after `http-response` rules | [`Extras::on_response_head`]: a `Some(algo)` result means "wrap the body in [`super::compress::CompressBody`]" |
//! | log line | [`Extras::fill_facts`] on an [`HttpLogFacts`] made with [`HttpLogFacts::new`] |

use std::time::{SystemTime, UNIX_EPOCH};

use http::{HeaderName, HeaderValue, Method, Version};

use super::compress::{self, CompAlgo, RequestInfo};
use super::cookie::{self, CookieTxn, PersistOverride, RequestFlags, ResponseFlags};
use super::log::{HttpLogFacts, request_line, unique_id};
use crate::backend::state::BackendState;
use crate::config::model::{Frontend, Server};
use crate::sample::StreamCtx;

/// Persistence, compression and log state of one transaction.
#[derive(Debug, Default)]
pub struct Extras {
    /// Cookie persistence state (`%tsc` characters).
    pub cookie: CookieTxn,
    /// The algorithm negotiated with the client, if any.
    pub comp: Option<CompAlgo>,
    /// `%CC`.
    pub req_cookie: Option<String>,
    /// `%CS`.
    pub res_cookie: Option<String>,
    /// `%r` (the request line as received).
    pub request_line: Option<String>,
    /// `%ID`.
    pub unique_id: Option<String>,
    /// The request was an HTTP/2 extended `CONNECT` (WebSocket over HTTP/2), sent to the
    /// server as an HTTP/1.1 upgrade.
    pub ext_connect: Option<crate::http::websocket::ExtendedConnect>,
    /// The request method and version, for the response-side decisions.
    method: Option<Method>,
    version: Option<Version>,
}

/// Seconds since the epoch, for cookie dates.
fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

impl Extras {
    /// Request head received: keeps the request line, captures the cookie (`%CC`),
    /// computes the unique id and adds `unique-id-header`. `facts` gives `%Ts`, `%rt`...
    /// to `unique-id-format`.
    pub fn on_request_head(
        &mut self,
        fe: &Frontend,
        req: &mut http::request::Parts,
        ctx: &StreamCtx<'_>,
        facts: &HttpLogFacts<'_>,
    ) {
        let log = &fe.http_log;
        self.method = Some(req.method.clone());
        self.version = Some(req.version);
        if log.format.is_some() {
            self.request_line = Some(request_line(req));
        }
        if let Some(cap) = &log.capture_cookie {
            self.req_cookie = cookie::capture_request(cap, req);
        }
        if let Some(format) = &log.unique_id_format {
            let id = unique_id(format, ctx, facts);
            if let (Some(name), Ok(v)) = (&log.unique_id_header, HeaderValue::from_str(&id))
                && let Ok(name) = HeaderName::from_bytes(name.as_bytes())
            {
                req.headers.append(name, v);
            }
            self.unique_id = Some(id);
        }
    }

    /// Backend chosen: `force-persist`/`ignore-persist`, the persistence cookie (may
    /// rewrite `Cookie`), then compression negotiation (may remove `Accept-Encoding`
    /// with `compression offload`). Returns the index of the server the cookie
    /// designates, to use instead of `use-server`, stick rules and balancing.
    pub fn on_backend(
        &mut self,
        fe: &Frontend,
        be: &BackendState,
        req: &mut http::request::Parts,
        ctx: &StreamCtx<'_>,
    ) -> Option<usize> {
        let persist = &be.cfg.persist;
        if persist.cookie.is_some() {
            let override_ = cookie::persist_override(&persist.rules, ctx);
            let flags = RequestFlags {
                override_,
                assigned: false,
                now_secs: now_secs(),
            };
            self.cookie = cookie::on_request(persist, req, &be.servers, flags);
        } else if cookie::persist_override(&persist.rules, ctx) == PersistOverride::Ignore {
            self.cookie.ignore = true;
        }
        self.comp = compress::negotiate(fe.compression.as_ref(), be.cfg.compression.as_ref(), req);
        self.cookie.server
    }

    /// Response head received: `%CS`, the persistence cookie, and the compression
    /// headers. `server` is the server that answered (`None` for a response made by the
    /// proxy). Returns the algorithm to compress the body with, if any.
    pub fn on_response_head(
        &mut self,
        fe: &Frontend,
        be: &BackendState,
        server: Option<&Server>,
        res: &mut http::response::Parts,
    ) -> Option<CompAlgo> {
        if let Some(cap) = &fe.http_log.capture_cookie {
            self.res_cookie = cookie::capture_response(cap, res);
        }
        // A request redispatched away from its cookie's server is no longer "direct"
        // (HAProxy clears SF_DIRECT): the answering server's cookie is inserted.
        if let Some(i) = self.cookie.server
            && server.map(|s| s.id) != be.servers.get(i).map(|s| s.cfg.id)
        {
            self.cookie.direct = false;
        }
        let method = self.method.clone().unwrap_or(Method::GET);
        let flags = ResponseFlags {
            server,
            post: method == Method::POST,
            safe_method: matches!(
                method,
                Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE
            ),
            now_secs: now_secs(),
        };
        cookie::on_response(&be.cfg.persist, &mut self.cookie, res, flags);
        let algo = self.comp?;
        let info = RequestInfo {
            method: &method,
            version: self.version.unwrap_or(Version::HTTP_11),
        };
        let (fe_c, be_c) = (fe.compression.as_ref(), be.cfg.compression.as_ref());
        if !compress::response_allows(fe_c, be_c, info, res) {
            return None;
        }
        compress::apply_headers(algo, res);
        Some(algo)
    }

    /// Copies what this object knows into the log facts (`%CC %CS %r %ID` and the
    /// cookie characters of `%tsc`; `be` is the backend, `None` when none was chosen).
    pub fn fill_facts<'a>(&'a self, facts: &mut HttpLogFacts<'a>, be: Option<&BackendState>) {
        facts.req_cookie = self.req_cookie.as_deref();
        facts.res_cookie = self.res_cookie.as_deref();
        facts.request_line = self.request_line.as_deref();
        facts.unique_id = self.unique_id.as_deref();
        facts.cookie_chars = self
            .cookie
            .log_chars(be.and_then(|b| b.cfg.persist.cookie.as_ref()));
    }
}

#[cfg(test)]
#[path = "extras_tests.rs"]
mod tests;
