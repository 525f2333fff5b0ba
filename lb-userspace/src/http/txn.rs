//! One HTTP request from head to log line: normalization, `monitor-uri`, routing, then
//! [`crate::http::forward`] to a server; local answers (errors) are made here.

use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use http::Response;
use hyper::body::Incoming;
use tokio::time::Instant;

use crate::backend::state::ServerSlot;
use crate::http::HttpTxn;
use crate::http::body::{ReqBody, ResBody, TxnEnd};
use crate::http::extras::Extras;
use crate::http::io::Phase;
use crate::http::phases::{self, RequestOutcome};
use crate::http::pool::{self, Idle, Key};
use crate::http::session::ConnState;
use crate::http::{normalize, reply};
use crate::log::format::{TermCause, TermPhase, Termination};
use crate::proxy::session::StreamLog;
use crate::sample::StreamCtx;
use crate::sample::vars::Scope;

/// The connection must close without (more of) a response: `http-request reject` or
/// `silent-drop`. hyper closes the connection when the service fails.
#[derive(Debug, thiserror::Error)]
#[error("connection closed by a rule")]
pub struct Closed;

/// hyper's service entry point: errors become HTTP responses; only rules that close the
/// connection fail.
pub async fn handle(
    state: Rc<ConnState>,
    req: http::Request<Incoming>,
) -> Result<Response<ResBody>, Closed> {
    process(state, req).await
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
    /// Server response time (request sent to response head).
    pub tr_ms: Option<u64>,
    /// `set-log-level` (`Some(None)`: silent).
    pub level: Option<Option<crate::log::syslog::Level>>,
    /// Size of the response head sent to the client (for `%B`).
    pub head_bytes: u64,
    /// `%Th`, `%Ti`, `%TR`: what happened before `started`.
    pub times: crate::http::timing::RequestTimes,
    /// The request was not fully analysed (closed by `reject`/`silent-drop`, held by
    /// `tarpit`): HAProxy logs `%TR` as -1 then.
    pub no_treq: bool,
}

/// A transaction on its way: the request as rules see it, and the persistence,
/// compression and log state.
pub struct Txn {
    /// The HTTP transaction.
    pub txn: HttpTxn,
    /// Cookie persistence, compression, log facts.
    pub extras: Extras,
}

async fn process(
    state: Rc<ConnState>,
    req: http::Request<Incoming>,
) -> Result<Response<ResBody>, Closed> {
    if !state.h2.get() {
        state.phase.set(Phase::Busy);
    }
    let nth = state.requests.get();
    state.requests.set(nth + 1);
    let shared = &state.ctx.shared;
    let fe = &shared.frontends[state.frontend];
    let head_done = crate::clock::now_ms();
    let times = crate::http::timing::of_request(&state, nth, head_done);
    // A kept-alive connection's next transaction starts when the previous one ended.
    let accept_date = if nth == 0 {
        state.accept_date
    } else {
        std::time::SystemTime::now() - Duration::from_millis(times.ti + times.treq)
    };
    let mut rec = Record {
        log: StreamLog::new(state.client, accept_date, state.frontend),
        started: Instant::now(),
        status: 0,
        tr_ms: None,
        level: None,
        head_bytes: 0,
        times,
        no_treq: false,
    };
    if let Some(t) = &state.tracking {
        t.inc_http_req(crate::clock::now_ms());
    }
    if let Some(v) = &state.vars {
        // A new transaction: only `sess` variables survive.
        for scope in [Scope::Txn, Scope::Req, Scope::Res] {
            v.clear(scope);
        }
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
        let t = Txn {
            txn: HttpTxn::new(parts),
            extras: Extras::default(),
        };
        return Ok(finish_local(&state, rec, t, None, status, true));
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
        return Ok(reply::message(
            &reply::page(&fe.cfg.http, None, status),
            false,
        ));
    }
    let mut t = Txn {
        txn: HttpTxn::new(parts),
        extras: Extras::default(),
    };
    // HAProxy 2.6 never reports an HTTP/2 stream as a connection's first request.
    t.txn.first_req = nth == 0 && !state.h2.get();
    // WebSocket over HTTP/2: rules already see the HTTP/1.1 upgrade `GET` (as in HAProxy).
    t.extras.ext_connect = crate::http::websocket::downgrade_request(&mut t.txn.req);
    {
        let sctx = base_ctx(&state);
        let facts = crate::http::log::HttpLogFacts::new(accept_date);
        t.extras
            .on_request_head(&fe.cfg, &mut t.txn.req, &sctx, &facts);
    }
    crate::http_rules::capture_request_headers(&fe.cfg.http_captures, &mut t.txn);
    let mut body = ReqBody::Stream(body);
    let tarpit = fe.cfg.timeouts.tarpit.or(fe.cfg.timeouts.connect);
    match phases::request_rules(
        &state,
        &fe.cfg.http_rules,
        &mut t.txn,
        &mut body,
        None,
        &mut rec.level,
        tarpit,
    )
    .await
    {
        RequestOutcome::Continue => {}
        RequestOutcome::Respond(r) => return Ok(deliver_reply(&state, rec, t, None, r)),
        RequestOutcome::Close { silent } => return Err(close(&state, rec, t, None, silent)),
    }
    let be_idx = match state.fixed_backend {
        Some(b) => Some(b),
        None => {
            let mut sctx = base_ctx(&state);
            sctx.http = Some(&t.txn);
            fe.route(&sctx)
        }
    };
    let Some(be_idx) = be_idx else {
        // HAProxy stays on the frontend, which has no server: `SC--`, no `%TR`.
        crate::http::reject::log(
            &fe.cfg.name,
            &state.client,
            &"matched no backend (no default_backend), answered 503",
        );
        rec.log.termination = Termination::new(TermCause::ServerAbort, TermPhase::Connect);
        rec.no_treq = true;
        return Ok(finish_local(&state, rec, t, None, 503, false));
    };
    let be = &shared.backends.list[be_idx];
    if be.cfg.name != fe.cfg.name {
        let tarpit = be.cfg.timeouts.tarpit.or(tarpit);
        match phases::request_rules(
            &state,
            &be.cfg.http_rules,
            &mut t.txn,
            &mut body,
            Some(&be.cfg.name),
            &mut rec.level,
            tarpit,
        )
        .await
        {
            RequestOutcome::Continue => {}
            RequestOutcome::Respond(r) => {
                return Ok(deliver_reply(&state, rec, t, Some(be_idx), r));
            }
            RequestOutcome::Close { silent } => {
                return Err(close(&state, rec, t, Some(be_idx), silent));
            }
        }
    }
    Ok(crate::http::forward::forward(&state, rec, t, body, be_idx).await)
}

/// Prepares the connection's end for a closing rule, and logs the transaction as HAProxy
/// does (no status, `PR--`).
fn close(
    state: &Rc<ConnState>,
    mut rec: Record,
    t: Txn,
    be_idx: Option<usize>,
    silent: bool,
) -> Closed {
    if silent {
        crate::sys::sock::prepare_silent_close(state.fd);
    }
    rec.log.backend = be_idx;
    rec.log.termination = Termination::new(TermCause::Proxy, TermPhase::Request);
    rec.no_treq = true;
    let mut end = Done {
        state: Rc::clone(state),
        rec,
        slot: None,
        conn: None,
        be_counted: false,
        t: Some(t),
    };
    end.finish(false, 0);
    Closed
}

/// Answers with a rule's reply (counting the backend if one was chosen).
pub fn deliver_reply(
    state: &Rc<ConnState>,
    mut rec: Record,
    t: Txn,
    be_idx: Option<usize>,
    r: crate::http_rules::Reply,
) -> Response<ResBody> {
    rec.log.backend = be_idx;
    rec.log.termination = match r.cause {
        crate::http_rules::ReplyCause::Deny => {
            Termination::new(TermCause::Proxy, TermPhase::Request)
        }
        crate::http_rules::ReplyCause::Tarpit => {
            // HAProxy counts the tarpit delay as queue time (`%Tw`).
            rec.log.tw_ms = Some(ms(rec.started.elapsed()));
            rec.no_treq = true;
            Termination::new(TermCause::Proxy, TermPhase::Tarpit)
        }
        crate::http_rules::ReplyCause::RewriteFailed => {
            Termination::new(TermCause::Internal, TermPhase::Request)
        }
        _ => Termination::new(TermCause::Local, TermPhase::Request),
    };
    if let Some(b) = be_idx {
        let be = &state.ctx.shared.backends.list[b];
        be.cur_conns.fetch_add(1, Ordering::AcqRel);
    }
    let res = phases::reply_response(state, be_idx, r);
    deliver(state, rec, t, be_idx, res, None, None, be_idx.is_some())
}

/// Sends `res` to the client: `http-after-response` rules, then the end-of-transaction
/// accounting (`slot` and `conn` are the server's, if any).
#[allow(clippy::too_many_arguments)]
pub fn deliver(
    state: &Rc<ConnState>,
    mut rec: Record,
    mut t: Txn,
    be_idx: Option<usize>,
    res: Response<ResBody>,
    slot: Option<ServerSlot>,
    conn: Option<(Key, Idle, bool)>,
    be_counted: bool,
) -> Response<ResBody> {
    let shared = &state.ctx.shared;
    let fe = &shared.frontends[state.frontend].cfg;
    let be = be_idx.map(|b| &shared.backends.list[b].cfg);
    let (parts, mut body) = res.into_parts();
    t.txn.res = Some(parts);
    let lists = [
        be.filter(|b| b.name != fe.name).map(|b| &b.http_rules),
        Some(&fe.http_rules),
    ];
    let be_name = be.map(|b| b.name.as_str());
    if let Some(v) =
        phases::response_rules(state, lists, &mut t.txn, be_name, false, &mut rec.level)
    {
        // A failed after-response rule answers 500 instead, as HAProxy does.
        tracing::debug!("http-after-response: {v:?}");
        let page = reply::message(&reply::page(&fe.http, be.map(|b| &b.http), 500), false);
        let (p, b) = page.into_parts();
        t.txn.res = Some(p);
        body = b;
    }
    let parts = t
        .txn
        .res
        .take()
        .unwrap_or_else(|| Response::new(()).into_parts().0);
    rec.status = parts
        .extensions
        .get::<reply::LoggedStatus>()
        .map_or(parts.status.as_u16(), |s| s.0);
    rec.head_bytes = head_size(&parts, &body);
    let end = Done {
        state: Rc::clone(state),
        rec,
        slot,
        conn,
        be_counted,
        t: Some(t),
    };
    Response::from_parts(parts, body.on_end(Box::new(end)))
}

impl ConnState {
    /// The next request is awaited (HTTP/1 keep-alive timer).
    pub fn phase_idle(&self) {
        // The next request's (or HTTP/2 stream's) idle time counts from here.
        self.phase.mark_base(crate::clock::now_ms());
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
    t: Txn,
    be_idx: Option<usize>,
    status: u16,
    close: bool,
) -> Response<ResBody> {
    let shared = &state.ctx.shared;
    let fe = &shared.frontends[state.frontend].cfg.http;
    let be = be_idx.map(|b| &shared.backends.list[b].cfg.http);
    let page = reply::page(fe, be, status);
    rec.log.backend = be_idx;
    let mut res = reply::message(&page, close && !state.h2.get());
    reply::mark_replaced_status(&mut res, status);
    deliver(state, rec, t, be_idx, res, None, None, be_idx.is_some())
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
    /// The server connection to pool once the response is complete, and whether it is
    /// private to this client connection (`http-reuse never`).
    pub conn: Option<(Key, Idle, bool)>,
    /// The backend's `cur_conns` was incremented for this request.
    pub be_counted: bool,
    /// The transaction, for the log line.
    pub t: Option<Txn>,
}

impl TxnEnd for Done {
    fn finish(&mut self, complete: bool, bytes: u64) {
        if complete && let Some((key, mut idle, private)) = self.conn.take() {
            idle.since = Instant::now();
            if private {
                // `http-reuse never`: the connection stays with its client connection.
                *self.state.private.borrow_mut() = Some((key, idle));
            } else {
                let demand = self
                    .slot
                    .as_ref()
                    .map_or_else(pool::Demand::default, |s| pool::Demand::of(s.server()));
                pool::put(key, idle, demand);
            }
        }
        self.conn = None;
        let state = &self.state;
        let shared = &state.ctx.shared;
        let log = &mut self.rec.log;
        log.bytes_out = bytes + self.rec.head_bytes;
        log.bytes_in = state.bytes_in.load(std::sync::atomic::Ordering::Relaxed);
        log.tt_ms = self.rec.times.before_head() + ms(self.rec.started.elapsed());
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
        self.log();
        self.state.phase_idle();
    }
}

impl Done {
    /// The log line: the frontend's HTTP format (`option httplog`, `log-format`), else
    /// the TCP one with `option tcplog`.
    fn log(&mut self) {
        let state = Rc::clone(&self.state);
        let shared = &state.ctx.shared;
        let fe = &shared.frontends[state.frontend].cfg;
        if self.rec.level == Some(None) {
            return;
        }
        let Some(format) = &fe.http_log.format else {
            state.ctx.log_stream(&self.rec.log);
            return;
        };
        let Some(t) = self.t.as_ref() else {
            return;
        };
        let log = &self.rec.log;
        let be = log.backend.map(|b| &shared.backends.list[b]);
        let signed = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        let mut facts = crate::http::log::HttpLogFacts::new(log.accept_date);
        let times = self.rec.times;
        facts.request_date = log.accept_date + Duration::from_millis(times.th + times.ti);
        facts.th_ms = signed(times.th);
        facts.ti_ms = signed(times.ti);
        facts.treq_ms = if self.rec.no_treq {
            -1
        } else {
            signed(times.treq)
        };
        facts.tw_ms = log.tw_ms.map_or(-1, signed);
        facts.tc_ms = log.tc_ms.map_or(-1, signed);
        facts.tr_ms = self.rec.tr_ms.map_or(-1, signed);
        facts.tt_ms = signed(log.tt_ms);
        facts.ta_ms = facts.tt_ms - facts.th_ms - facts.ti_ms;
        facts.status = (self.rec.status != 0).then_some(self.rec.status);
        facts.bytes_out = log.bytes_out;
        facts.bytes_in = log.bytes_in;
        facts.termination = log.termination;
        facts.actconn = log.actconn;
        facts.feconn = log.feconn;
        facts.beconn = log.beconn;
        facts.srv_conn = log.srv_conn;
        facts.retries = log.retries;
        facts.redispatched = log.redispatched;
        facts.srv_queue = log.srv_queue as usize;
        facts.backend_queue = log.backend_queue as usize;
        facts.req_captures = &t.txn.req_captures;
        facts.res_captures = &t.txn.res_captures;
        facts.request_counter = state.requests.get();
        facts.server_addr = log
            .server
            .as_ref()
            .map(|s| crate::proxy::connect::server_addr(s, state.dst));
        t.extras.fill_facts(&mut facts, be.map(|b| &**b));
        if fe.http_log.dontlognull && facts.is_null() {
            return;
        }
        let mut sctx = base_ctx(&state);
        sctx.http = Some(&t.txn);
        sctx.be_name = be.map(|b| b.cfg.name.as_str());
        sctx.srv_name = log.server.as_ref().map(|s| s.cfg.name.as_str());
        state.ctx.loggers[state.frontend].log_http(
            format,
            &sctx,
            &mut facts,
            fe.http_log.log_separate_errors,
        );
    }
}

/// The size of the HTTP/1.1 head hyper writes for `parts` (status line, headers, the
/// `content-length` it adds for a body of known size, the empty line).
fn head_size(parts: &http::response::Parts, body: &ResBody) -> u64 {
    let reason = parts
        .extensions
        .get::<hyper::ext::ReasonPhrase>()
        .map(|r| r.as_bytes().len())
        .or_else(|| parts.status.canonical_reason().map(str::len))
        .unwrap_or(0);
    let mut n = 13 + reason + 2;
    for (name, value) in &parts.headers {
        n += name.as_str().len() + 2 + value.len() + 2;
    }
    if !parts.headers.contains_key(http::header::CONTENT_LENGTH)
        && let Some(len) = http_body::Body::size_hint(body).exact()
    {
        n += 16 + len.to_string().len() + 2;
    } else if !parts.headers.contains_key(http::header::CONTENT_LENGTH) {
        n += 28; // transfer-encoding: chunked
    }
    (n + 2) as u64
}

/// Logs a request hyper could not parse (answered 400) or a head that timed out (408):
/// HAProxy's `<BADREQ>` line.
pub fn log_bad_request(state: &ConnState, status: u16, termination: Termination) {
    let shared = &state.ctx.shared;
    let fe = &shared.frontends[state.frontend].cfg;
    let Some(format) = &fe.http_log.format else {
        return;
    };
    let mut facts = crate::http::log::HttpLogFacts::new(state.accept_date);
    let tt = state
        .accept_date
        .elapsed()
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    facts.tt_ms = tt;
    facts.ta_ms = tt;
    facts.status = Some(status);
    facts.termination = termination;
    facts.bytes_in = state.bytes_in.load(std::sync::atomic::Ordering::Relaxed);
    facts.bytes_out = reply::page(&fe.http, None, status).to_http1().len() as u64;
    facts.actconn = shared.actconn.load(Ordering::Acquire);
    facts.feconn = shared.frontends[state.frontend]
        .cur_conns
        .load(Ordering::Acquire);
    if fe.http_log.dontlognull && facts.is_null() {
        return;
    }
    let mut sctx = base_ctx(state);
    sctx.be_name = Some(&fe.name);
    state.ctx.loggers[state.frontend].log_http(
        format,
        &sctx,
        &mut facts,
        fe.http_log.log_separate_errors,
    );
}

/// Milliseconds of a duration, saturated.
pub fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}
