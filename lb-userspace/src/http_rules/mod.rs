//! HTTP rules: `http-request`, `http-response`, `http-after-response` and `redirect`,
//! plus header captures, sans-I/O.
//!
//! The configuration gives each proxy side an [`HttpRules`] (`Frontend::http_rules`,
//! `Backend::http_rules`; a `listen` section has both halves, each holding the same
//! lists). The runtime owns the I/O and calls this module at fixed points of each
//! transaction, always with a [`StreamCtx`] describing the stream (addresses, proxy
//! names, `vars`, `stick`, ...; its `http` field is ignored: the engine points it at
//! the transaction itself before evaluating each condition and value).
//!
//! # How the runtime calls it
//!
//! 1. Request head received: build the [`HttpTxn`], then
//!    [`capture_request_headers`]`(&frontend.http_captures, &mut txn)` (fills
//!    `txn.req_captures` for `capture request header`, `%hr`, `capture.req.hdr(n)`).
//! 2. Frontend request rules: `let mut cur = 0;` then
//!    [`eval_request`]`(&frontend.http_rules, &mut txn, &ctx, host, &mut cur)`.
//!    It runs `http-request` rules then `redirect` rules and answers an
//!    [`HttpVerdict`]:
//!    * `Continue` / `Allow`: go on (choose the backend with `use_backend`, whose
//!      conditions now see the rewritten request);
//!    * `Reply(r)`: do not contact a server; send `r` (see [`Reply`]; `r.cause` says
//!      deny/return/redirect/auth for logs and counters), then run the after-response
//!      rules on it (step 6);
//!    * `Tarpit(r)`: wait `timeout tarpit` (else `timeout connect`), then send `r`;
//!    * `Reject`: close the client connection without a response;
//!    * `SilentDrop`: close without telling the client (no FIN/RST: disable lingering
//!      and let the socket die);
//!    * `WaitForBody { time, at_least }`: buffer the request body (until it is
//!      complete, `at_least` bytes arrived, or `time` elapsed, bounded by the buffer
//!      size), store it in `txn.req_body`, and call [`eval_request`] again with the
//!      same cursor: rules already executed are not executed again.
//! 3. Backend request rules, only when the backend is another proxy than the frontend
//!    (a `listen` section's backend half holds the same lists as its frontend half:
//!    they ran in step 2): same call with `&backend.http_rules`, a fresh cursor and
//!    `ctx.be_name` set (`auth` without a realm names the backend, as HAProxy). The
//!    balance algorithm runs after, with `ctx.http = Some(&txn)`.
//! 4. Response head received: [`capture_response_headers`]`(&frontend.http_captures,
//!    &mut txn)` once `txn.res` is set, then [`eval_response`] with the backend's
//!    rules, then with the frontend's (HAProxy's order). `Reply(r)` replaces the
//!    server's response by `r` (e.g. `http-response deny`: 502), `Allow` stops that
//!    proxy's list, `Reject`/`SilentDrop` close.
//! 5. Responses produced by the proxy itself (errors, `Reply` above) also go through
//!    step 6, not step 4.
//! 6. Every response, just before it is sent: put it in `txn.res` and call
//!    [`eval_after_response`] with the backend's rules then the frontend's
//!    (`http-after-response`); only `Continue`/`Allow` and header edits are meaningful
//!    there; a `Reply` means "send a 500 instead" (a failed rewrite in strict mode).
//!
//! The context given to every call must carry what fetches read: `vars` (the stream's
//! variables, for `set-var` and `var()`), `stick` (tracked counters), `backends`,
//! `be_name` once a backend is chosen, and the addresses. The balancer must be called
//! with `ctx.http = Some(&txn)` too: `balance uri|url_param|hdr` and `hash` on HTTP
//! fetches read the request from there (round robin without it).
//!
//! Side effects other than the transaction and variables go through the
//! [`HttpRuleHost`] (stick counters, `set-src`, `set-log-level`). Headers are edited in
//! `txn.req.headers` / `txn.res.headers`, the target in `txn.req.uri`, the method in
//! `txn.req.method`, the status in `txn.res.status`; `set-status ... reason R` stores a
//! [`hyper::ext::ReasonPhrase`] in `txn.res.extensions`, which hyper writes on HTTP/1
//! status lines.

pub mod action;
pub mod capture;
pub mod edit;
pub mod engine;
pub mod normalize;
pub mod redirect;
pub mod reply;
pub mod userlist;

#[cfg(test)]
mod tests;

use crate::acl::Condition;
use crate::config::model::Location;

pub use action::HttpAction;
pub use capture::{HeaderCapture, HttpCaptures, capture_request_headers, capture_response_headers};
pub use engine::{
    HttpRuleHost, HttpVerdict, Phase, eval_after_response, eval_request, eval_response,
};
pub use reply::{Reply, ReplyCause};

// For the links of the module documentation.
#[cfg(doc)]
use crate::{http::HttpTxn, sample::StreamCtx};

/// The HTTP rules of one proxy side, each list in evaluation order (rules inherited from
/// a named `defaults` section first).
#[derive(Debug, Clone, Default)]
pub struct HttpRules {
    /// `http-request ...`.
    pub request: Vec<HttpRule>,
    /// `redirect ...` (evaluated after `http-request` rules, as in HAProxy).
    pub redirects: Vec<HttpRule>,
    /// `http-response ...`.
    pub response: Vec<HttpRule>,
    /// `http-after-response ...`.
    pub after_response: Vec<HttpRule>,
    /// `http-request strict-mode` (on by default): a failed rewrite answers 500.
    pub strict: bool,
}

impl HttpRules {
    /// Empty lists, strict mode on.
    pub fn new() -> Self {
        Self {
            strict: true,
            ..Self::default()
        }
    }

    /// True when there is no rule at all.
    pub fn is_empty(&self) -> bool {
        self.request.is_empty()
            && self.redirects.is_empty()
            && self.response.is_empty()
            && self.after_response.is_empty()
    }
}

/// One rule: an action and an optional condition.
#[derive(Debug, Clone)]
pub struct HttpRule {
    /// What the rule does.
    pub action: HttpAction,
    /// `if`/`unless` condition; `None` means always.
    pub cond: Option<Condition>,
    /// Where the rule is written.
    pub location: Location,
}

/// Helpers for tests elsewhere in the crate: transactions from raw HTTP/1 text.
#[cfg(test)]
pub(crate) mod tests_support {
    use crate::http::HttpTxn;

    /// A transaction from a request head (`METHOD TARGET HTTP/1.x`, headers, `\r\n`);
    /// a body after the empty line becomes the buffered body.
    pub fn txn(raw: &str) -> HttpTxn {
        let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((raw, ""));
        let mut lines = head.split("\r\n");
        let mut first = lines.next().unwrap().split(' ');
        let method = first.next().unwrap();
        let target = first.next().unwrap();
        let version = match first.next().unwrap() {
            "HTTP/1.0" => http::Version::HTTP_10,
            "HTTP/2.0" => http::Version::HTTP_2,
            _ => http::Version::HTTP_11,
        };
        let mut b = http::Request::builder()
            .method(method)
            .uri(target)
            .version(version);
        for l in lines.filter(|l| !l.is_empty()) {
            let (n, v) = l.split_once(':').unwrap();
            b = b.header(n.trim(), v.trim());
        }
        let (parts, ()) = b.body(()).unwrap().into_parts();
        let mut t = HttpTxn::new(parts);
        if !body.is_empty() {
            t.req_body = Some(bytes::Bytes::copy_from_slice(body.as_bytes()));
        }
        t
    }

    /// Sets a response from a raw head (`HTTP/1.1 NNN reason`, headers).
    pub fn respond(t: &mut HttpTxn, raw: &str) {
        let mut lines = raw.split("\r\n");
        let status: u16 = lines
            .next()
            .unwrap()
            .split(' ')
            .nth(1)
            .unwrap()
            .parse()
            .unwrap();
        let mut b = http::Response::builder().status(status);
        for l in lines.filter(|l| !l.is_empty()) {
            let (n, v) = l.split_once(':').unwrap();
            b = b.header(n.trim(), v.trim());
        }
        t.res = Some(b.body(()).unwrap().into_parts().0);
    }
}
