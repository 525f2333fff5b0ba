//! One HTTP request from head to log line: normalization, `monitor-uri`, routing, then
//! [`crate::http::forward`] to a server; local answers (errors) are made here.

use std::convert::Infallible;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use http::Response;
use hyper::body::Incoming;
use tokio::time::Instant;

use crate::backend::state::ServerSlot;
use crate::http::HttpTxn;
use crate::http::body::{ResBody, TxnEnd};
use crate::http::io::Phase;
use crate::http::pool::{self, Idle, Key};
use crate::http::session::ConnState;
use crate::http::{normalize, reply};
use crate::log::format::{TermCause, TermPhase, Termination};
use crate::proxy::session::StreamLog;
use crate::sample::StreamCtx;

/// hyper's service entry point: never fails, errors become HTTP responses.
pub async fn handle(
    state: Rc<ConnState>,
    req: http::Request<Incoming>,
) -> Result<Response<ResBody>, Infallible> {
    Ok(process(state, req).await)
}

/// What a transaction records for its log line and accounting.
#[derive(Debug)]
pub struct Record {
    /// The TCP-style part of the log record.
    pub log: StreamLog,
    /// When the request head was complete.
    pub started: Instant,
    /// Status sent to the client.
    pub status: u16,
}

async fn process(state: Rc<ConnState>, req: http::Request<Incoming>) -> Response<ResBody> {
    if !state.h2.get() {
        state.phase.set(Phase::Busy);
    }
    let nth = state.requests.get();
    state.requests.set(nth + 1);
    let shared = &state.ctx.shared;
    let fe = &shared.frontends[state.frontend];
    let accept_date = if nth == 0 {
        state.accept_date
    } else {
        std::time::SystemTime::now()
    };
    let mut rec = Record {
        log: StreamLog::new(state.client, accept_date, state.frontend),
        started: Instant::now(),
        status: 0,
    };
    if let Some(t) = &state.tracking {
        t.inc_http_req(crate::clock::now_ms());
    }
    let (mut parts, body) = req.into_parts();
    if let Err(reason) = normalize::check_request(&mut parts, shared.http_maxhdr) {
        tracing::info!(
            "{}: {}: request rejected: {reason}",
            fe.cfg.name,
            state.client
        );
        rec.log.termination = Termination::new(TermCause::Proxy, TermPhase::Request);
        let status = if reason == normalize::Reject::UnsupportedCoding {
            422
        } else {
            400
        };
        return finish_local(&state, rec, None, status, true);
    }
    // `monitor-uri`: answered here and never logged, as in HAProxy.
    if let Some(uri) = &fe.cfg.http.monitor_uri
        && parts.uri.path_and_query().map(|p| p.as_str()) == Some(uri.as_str())
    {
        let txn = HttpTxn::new(parts);
        let mut sctx = base_ctx(&state);
        sctx.http = Some(&txn);
        let failing = fe
            .cfg
            .http
            .monitor_fail
            .as_ref()
            .is_some_and(|c| c.eval(&sctx));
        let status = if failing { 503 } else { 200 };
        state.phase_idle();
        return reply::message(&reply::page(&fe.cfg.http, None, status), false);
    }
    let txn = HttpTxn::new(parts);
    let be_idx = match state.fixed_backend {
        Some(b) => Some(b),
        None => {
            let mut sctx = base_ctx(&state);
            sctx.http = Some(&txn);
            fe.route(&sctx)
        }
    };
    let Some(be_idx) = be_idx else {
        rec.log.termination = Termination::new(TermCause::Proxy, TermPhase::Request);
        return finish_local(&state, rec, None, 503, false);
    };
    crate::http::forward::forward(&state, rec, txn, body, be_idx).await
}

impl ConnState {
    /// The next request is awaited (HTTP/1 keep-alive timer).
    pub fn phase_idle(&self) {
        if !self.h2.get() {
            self.phase.set(Phase::Idle);
        }
    }
}

/// The sample context every evaluation of this connection starts from.
pub fn base_ctx(state: &ConnState) -> StreamCtx<'_> {
    let shared = &state.ctx.shared;
    let fe = &shared.frontends[state.frontend];
    let mut sctx = StreamCtx::new(state.src, state.dst, &fe.cfg.name);
    sctx.backends = Some(&shared.backends);
    sctx.fe_conn = fe.cur_conns.load(Ordering::Acquire);
    sctx.stick = state.tracking.as_ref();
    sctx.vars = state.vars.as_ref();
    sctx
}

/// Answers locally with `status` (an error page) and logs the transaction. The backend
/// (if any) was counted by the caller.
pub fn finish_local(
    state: &Rc<ConnState>,
    mut rec: Record,
    be_idx: Option<usize>,
    status: u16,
    close: bool,
) -> Response<ResBody> {
    let shared = &state.ctx.shared;
    let fe = &shared.frontends[state.frontend].cfg.http;
    let be = be_idx.map(|b| &shared.backends.list[b].cfg.http);
    let page = reply::page(fe, be, status);
    rec.status = page.status;
    rec.log.backend = be_idx;
    let res = reply::message(&page, close);
    let end = Done {
        state: Rc::clone(state),
        rec,
        slot: None,
        conn: None,
        be_counted: be_idx.is_some(),
        private: false,
    };
    let (parts, body) = res.into_parts();
    Response::from_parts(parts, body.on_end(Box::new(end)))
}

/// Accounting when a response is over: the server connection goes back to the pool (if the
/// response was complete), the server slot is released, counters and the log are updated.
pub struct Done {
    /// The client connection.
    pub state: Rc<ConnState>,
    /// The log record.
    pub rec: Record,
    /// The server slot held for the request.
    pub slot: Option<ServerSlot>,
    /// The server connection to pool once the response is complete.
    pub conn: Option<(Key, Idle)>,
    /// The backend's `cur_conns` was incremented for this request.
    pub be_counted: bool,
    /// The server connection is private to the client connection (`http-reuse never`).
    pub private: bool,
}

impl TxnEnd for Done {
    fn finish(&mut self, complete: bool, bytes: u64) {
        if complete && let Some((key, mut idle)) = self.conn.take() {
            idle.since = Instant::now();
            if self.private {
                // `http-reuse never`: the connection stays with its client connection.
                *self.state.private.borrow_mut() = Some((key, idle));
            } else {
                pool::put(key, idle);
            }
        }
        self.conn = None;
        let state = &self.state;
        let shared = &state.ctx.shared;
        let log = &mut self.rec.log;
        log.bytes_out = bytes;
        log.bytes_in = state.bytes_in.load(std::sync::atomic::Ordering::Relaxed);
        log.tt_ms = ms(self.rec.started.elapsed());
        if !complete && log.termination == Termination::NORMAL {
            log.termination = Termination::new(TermCause::ClientAbort, TermPhase::Data);
        }
        if let Some(server) = &log.server {
            log.srv_conn = server.cur_conns();
        }
        drop(self.slot.take());
        if let Some(b) = log.backend {
            let be = &shared.backends.list[b];
            log.beconn = be.cur_conns.load(Ordering::Acquire);
            if self.be_counted {
                be.cur_conns.fetch_sub(1, Ordering::AcqRel);
                self.be_counted = false;
            }
        }
        log.actconn = shared.actconn.load(Ordering::Acquire);
        log.feconn = shared.frontends[state.frontend]
            .cur_conns
            .load(Ordering::Acquire);
        if let Some(t) = &state.tracking {
            let now = crate::clock::now_ms();
            let s = self.rec.status;
            if (400..500).contains(&s) {
                t.inc_http_err(now);
            } else if s >= 500 && s != 501 && s != 505 {
                t.inc_http_fail(now);
            }
        }
        state.ctx.log_stream(log);
        state.phase_idle();
    }
}

/// Milliseconds of a duration, saturated.
pub fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}
