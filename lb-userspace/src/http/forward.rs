//! Forwarding a request to a server of its backend: request preparation (connection
//! headers, `option forwardfor`, close modes, `option http-buffer-request`), server choice
//! and connection with `retries`/`retry-on`/`option redispatch`, the response's way back,
//! and protocol switches (`Upgrade`, `CONNECT`) handed to a tunnel.

use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Method, Response, Version, header};
use hyper::body::Incoming;
use tokio::time::Instant;

use crate::backend::state::{BackendState, ServerSlot, ServerState};
use crate::config::http::{ConnMode, HttpReuse, RetryOn};
use crate::config::model::Mode;
use crate::http::HttpTxn;
use crate::http::body::{ReqBody, ResBody};
use crate::http::pool::{Idle, Key, Sender};
use crate::http::session::ConnState;
use crate::http::txn::{Record, Txn, base_ctx, deliver, finish_local, ms};
use crate::http::upstream::{self, OpenError, SendFailure, Sent};
use crate::http::{headers, tunnel};
use crate::log::format::{TermCause, TermPhase, Termination};
use crate::proxy::connect::{self, FailKind};

/// Idle server connections live this long when neither `timeout http-keep-alive` nor
/// `timeout server` says otherwise (HAProxy's `pool-purge-delay`).
const DEFAULT_IDLE: Duration = Duration::from_secs(5);

/// A request ready to be sent again after a failure (its body is in memory).
struct Replay {
    head: http::request::Parts,
    body: Option<Bytes>,
}

impl Replay {
    fn build(&self) -> http::Request<ReqBody> {
        http::Request::from_parts(clone_parts(&self.head), ReqBody::Full(self.body.clone()))
    }
}

/// A server connection obtained for a request.
struct Attempt {
    slot: ServerSlot,
    server: Arc<ServerState>,
    key: Key,
    sender: Sender,
    reused: bool,
}

/// What the per-request settings of the backend and frontend give.
struct Plan {
    conn_mode: ConnMode,
    retry_on: RetryOn,
    first: bool,
}

/// Forwards `txn` (whose body is `body`) to backend `be_idx` and returns the response.
pub async fn forward(
    state: &Rc<ConnState>,
    mut rec: Record,
    mut t: Txn,
    body: ReqBody,
    be_idx: usize,
) -> Response<ResBody> {
    let ctx = &state.ctx;
    let shared = &ctx.shared;
    let fe = &shared.frontends[state.frontend].cfg;
    let be = &shared.backends.list[be_idx];
    rec.log.backend = Some(be_idx);
    be.cur_conns.fetch_add(1, Ordering::AcqRel);
    be.total_conns.fetch_add(1, Ordering::Relaxed);
    if be.cfg.mode != Mode::Http {
        return finish_local(state, rec, t, Some(be_idx), 500, false);
    }
    let plan = Plan {
        conn_mode: fe
            .http
            .conn_mode
            .unwrap_or_default()
            .max(be.cfg.http.conn_mode.unwrap_or_default()),
        retry_on: be.cfg.http.retry_on,
        first: state.requests.get() == 1,
    };
    let txn = &mut t.txn;
    let upgrade = headers::wants_upgrade(&txn.req.headers, txn.req.version)
        || txn.req.method == Method::CONNECT
        || t.extras.ext_connect.is_some();
    let client_upgrade = if upgrade {
        txn.req.extensions.remove::<hyper::upgrade::OnUpgrade>()
    } else {
        None
    };
    let client_close = headers::asks_close(&txn.req.headers);
    headers::connection_h1(&mut txn.req.headers);
    headers::forwardfor(
        &mut txn.req.headers,
        fe.http.forwardfor.as_ref(),
        be.cfg.http.forwardfor.as_ref(),
        state.src.ip(),
    );
    if plan.conn_mode != ConnMode::KeepAlive && !upgrade {
        txn.req
            .headers
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    let mut req_body = body;
    // `balance url_param NAME check_post` looks in the body of a POST: wait for it too.
    let check_post = matches!(
        &be.cfg.balance,
        crate::config::model::Balance::UrlParam {
            check_post: true,
            ..
        }
    ) && txn.req.method == Method::POST;
    if (fe.http.buffer_request || be.cfg.http.buffer_request || check_post)
        && txn.req_body.is_none()
    {
        match crate::http::buffer::read_body(req_body, shared.bufsize).await {
            Ok((b, whole)) => {
                txn.req_body = whole;
                req_body = b;
            }
            Err(()) => {
                rec.log.termination = Termination::new(TermCause::ClientAbort, TermPhase::Request);
                return finish_local(state, rec, t, Some(be_idx), 400, true);
            }
        }
    }
    // Retries beyond connection failures replay the request: like HAProxy's L7 retries,
    // keep a copy of a body that fits in a buffer.
    if needs_copy(plan.retry_on, be.cfg.retries) && !matches!(req_body, ReqBody::Full(_)) {
        let fits = match &req_body {
            ReqBody::Stream(s) => http_body::Body::size_hint(s)
                .upper()
                .is_some_and(|n| n <= shared.bufsize as u64),
            _ => false,
        };
        if fits {
            match crate::http::buffer::read_body(req_body, shared.bufsize).await {
                Ok((b, _)) => req_body = b,
                Err(()) => {
                    rec.log.termination =
                        Termination::new(TermCause::ClientAbort, TermPhase::Request);
                    return finish_local(state, rec, t, Some(be_idx), 400, true);
                }
            }
        }
    }
    let replay = replayable(&t.txn, &req_body, plan.retry_on, be.cfg.retries);
    // Persistence cookie, then `stick match|on`, then balancing.
    let cookie_server = {
        // `force-persist`/`ignore-persist` conditions read the request while the cookie
        // code edits it: give them a copy, only when there are such rules.
        let view =
            (!be.cfg.persist.rules.is_empty()).then(|| HttpTxn::new(clone_parts(&t.txn.req)));
        let mut sctx = base_ctx(state);
        sctx.be_name = Some(&be.cfg.name);
        sctx.http = view.as_ref();
        let mut req = std::mem::replace(&mut t.txn.req, empty_parts());
        let chosen = t.extras.on_backend(fe, be, &mut req, &sctx);
        t.txn.req = req;
        chosen
    };
    let stick = {
        let mut sctx = base_ctx(state);
        sctx.be_name = Some(&be.cfg.name);
        sctx.http = Some(&t.txn);
        connect::stick_decision(ctx, be, &sctx)
    };
    let mut preferred = cookie_server
        .and_then(|i| be.servers.get(i).cloned())
        .or_else(|| {
            stick
                .as_ref()
                .and_then(|d| d.server())
                .and_then(|id| be.servers.iter().find(|s| s.cfg.id == id).cloned())
        });
    // Balancing on HTTP data (also when retrying) reads the whole request: keep a copy
    // then. Otherwise the transaction keeps only what later phases may read (`method`,
    // `capture.req.*`: method, URI, version), which allocates nothing.
    let keep_request = be.cfg.balance.needs_http()
        || matches!(be.cfg.balance, crate::config::model::Balance::Hash(_));
    let parts = if keep_request {
        clone_parts(&t.txn.req)
    } else {
        let light = light_parts(&t.txn.req);
        std::mem::replace(&mut t.txn.req, light)
    };
    let mut req = http::Request::from_parts(parts, req_body);
    let mut retries_left = be.cfg.retries;
    let mut exclude: Option<Arc<ServerState>> = None;
    loop {
        let view = keep_request.then_some(&t.txn);
        let mut att = match connection(
            state,
            be_idx,
            be,
            &plan,
            &mut rec,
            &mut retries_left,
            &mut exclude,
            preferred.take(),
            view,
        )
        .await
        {
            Ok(a) => a,
            Err(status) => return finish_local(state, rec, t, Some(be_idx), status, false),
        };
        if t.extras.ext_connect.is_some() && att.server.cfg.proto_h2 {
            // RFC 8441 toward an HTTP/2 server is not implemented: refuse plainly rather
            // than send a `GET` the server cannot upgrade.
            let reason =
                "WebSocket over HTTP/2 toward a 'proto h2' server is not supported, answered 502";
            crate::http::reject::log(&be.cfg.name, &state.client, &reason);
            rec.log.server = Some(Arc::clone(&att.server));
            rec.log.termination = Termination::new(TermCause::Proxy, TermPhase::Connect);
            return finish_local(state, rec, t, Some(be_idx), 502, false);
        }
        let (mut parts, body) = req.into_parts();
        headers::target_for_server(
            &mut parts.uri,
            &mut parts.version,
            &parts.headers,
            &parts.method,
            att.server.cfg.proto_h2,
        );
        if att.server.cfg.proto_h2 {
            headers::connection_h2(&mut parts.headers);
        }
        if let Some(name) = &be.cfg.http.send_name_header
            && let Ok(v) = HeaderValue::from_str(&att.server.cfg.name)
        {
            parts.headers.insert(name.clone(), v);
        }
        let sent_at = Instant::now();
        let outcome = upstream::send(
            &mut att.sender,
            http::Request::from_parts(parts, body),
            be.cfg.timeouts.server,
        )
        .await;
        let retry = |f: RetryOn| plan.retry_on.has(f);
        let failure = match outcome {
            Sent::Response(res) => {
                let status = res.status().as_u16();
                if let Some(r) = replay.as_ref()
                    && plan.retry_on.has_status(status)
                    && retries_left > 0
                {
                    drop(res);
                    next_try(be, &att.server, &mut rec, &mut retries_left, &mut exclude);
                    req = r.build();
                    continue;
                }
                if let Some(d) = &stick {
                    d.store(att.server.cfg.id, crate::clock::now_ms());
                }
                rec.log.tc_ms.get_or_insert(0);
                rec.tr_ms = Some(ms(sent_at.elapsed()));
                return respond(
                    state,
                    rec,
                    t,
                    att,
                    res,
                    &plan,
                    client_close,
                    client_upgrade,
                    be_idx,
                );
            }
            Sent::NotSent(r) => {
                // A pooled connection the server had closed: try another one, no retry
                // counted (nothing was sent).
                req = r;
                if att.reused {
                    continue;
                }
                SendFailure::Empty
            }
            Sent::Failed(f) => {
                let Some(r) = replay.as_ref() else {
                    return failed(state, rec, t, be_idx, f);
                };
                req = r.build();
                f
            }
        };
        let wanted = match failure {
            SendFailure::Empty => retry(RetryOn::EMPTY_RESPONSE) || retry(RetryOn::CONN_FAILURE),
            SendFailure::Junk => retry(RetryOn::JUNK_RESPONSE),
            SendFailure::Timeout => retry(RetryOn::RESPONSE_TIMEOUT),
            SendFailure::ClientBody => false,
        };
        if !wanted || retries_left == 0 {
            return failed(state, rec, t, be_idx, failure);
        }
        next_try(be, &att.server, &mut rec, &mut retries_left, &mut exclude);
    }
}

/// Counts a retry; the last one goes to another server with `option redispatch`.
fn next_try(
    be: &BackendState,
    server: &Arc<ServerState>,
    rec: &mut Record,
    retries_left: &mut u32,
    exclude: &mut Option<Arc<ServerState>>,
) {
    *retries_left -= 1;
    rec.log.retries += 1;
    if be.cfg.redispatch && (*retries_left == 0 || !server.is_usable()) {
        *exclude = Some(Arc::clone(server));
        rec.log.redispatched = true;
    }
}

/// The answer when the server failed after the request was sent.
fn failed(
    state: &Rc<ConnState>,
    mut rec: Record,
    t: Txn,
    be_idx: usize,
    failure: SendFailure,
) -> Response<ResBody> {
    let (cause, phase, status) = match failure {
        SendFailure::Timeout => (TermCause::ServerTimeout, TermPhase::Headers, 504),
        SendFailure::ClientBody => (TermCause::ClientAbort, TermPhase::Data, 400),
        SendFailure::Empty | SendFailure::Junk => (TermCause::ServerAbort, TermPhase::Headers, 502),
    };
    rec.log.termination = Termination::new(cause, phase);
    finish_local(state, rec, t, Some(be_idx), status, false)
}

/// A copy of a request head (extensions are not copied: they belong to the original).
fn clone_parts(p: &http::request::Parts) -> http::request::Parts {
    let mut copy = light_parts(p);
    copy.headers = p.headers.clone();
    copy
}

/// An empty request head (what stays in the transaction once the request left).
fn empty_parts() -> http::request::Parts {
    http::Request::new(()).into_parts().0
}

/// Method, URI and version of a request head, without headers (no allocation: the URI
/// shares its bytes).
fn light_parts(p: &http::request::Parts) -> http::request::Parts {
    let mut req = http::Request::new(());
    *req.method_mut() = p.method.clone();
    *req.uri_mut() = p.uri.clone();
    *req.version_mut() = p.version;
    req.into_parts().0
}

/// Whether a failure after the request was sent may be retried (connection failures never
/// need a copy: the request is still in hand).
fn needs_copy(retry_on: RetryOn, retries: u32) -> bool {
    retries > 0
        && (retry_on.has(RetryOn::EMPTY_RESPONSE)
            || retry_on.has(RetryOn::JUNK_RESPONSE)
            || retry_on.has(RetryOn::RESPONSE_TIMEOUT)
            || [404, 408, 425, 500, 501, 502, 503, 504]
                .iter()
                .any(|&s| retry_on.has_status(s)))
}

/// Whether the request can be sent again, and its copy if so.
fn replayable(txn: &HttpTxn, body: &ReqBody, retry_on: RetryOn, retries: u32) -> Option<Replay> {
    if !needs_copy(retry_on, retries) {
        return None;
    }
    let data = match body {
        ReqBody::Full(b) => b.clone(),
        ReqBody::Stream(s) if http_body::Body::is_end_stream(s) => None,
        _ => return None,
    };
    Some(Replay {
        head: clone_parts(&txn.req),
        body: data,
    })
}

/// Gets a server slot and a connection on it, retrying connection failures as `retries`
/// and `retry-on conn-failure` allow. `Err` is the status to answer.
#[allow(clippy::too_many_arguments)]
async fn connection(
    state: &Rc<ConnState>,
    be_idx: usize,
    be: &Arc<BackendState>,
    plan: &Plan,
    rec: &mut Record,
    retries_left: &mut u32,
    exclude: &mut Option<Arc<ServerState>>,
    mut preferred: Option<Arc<ServerState>>,
    txn: Option<&HttpTxn>,
) -> Result<Attempt, u16> {
    let ctx = &state.ctx;
    'slot: loop {
        let got = {
            let mut sctx = base_ctx(state);
            sctx.be_name = Some(&be.cfg.name);
            sctx.http = txn;
            connect::acquire(ctx, be_idx, be, &sctx, exclude.as_ref(), preferred.take()).await
        };
        let got = match got {
            Ok(got) => got,
            Err((kind, pos, waited)) => {
                rec.log.tw_ms = Some(rec.log.tw_ms.unwrap_or(0) + ms(waited));
                rec.log.srv_queue = pos.0;
                rec.log.backend_queue = pos.1;
                rec.log.server = exclude.clone();
                rec.log.termination = match kind {
                    FailKind::QueueTimeout => {
                        Termination::new(TermCause::ServerTimeout, TermPhase::Queue)
                    }
                    _ => Termination::new(TermCause::ServerAbort, TermPhase::Connect),
                };
                return Err(503);
            }
        };
        rec.log.tw_ms = Some(rec.log.tw_ms.unwrap_or(0) + ms(got.waited));
        (rec.log.srv_queue, rec.log.backend_queue) = got.queue_pos;
        let slot = got.slot;
        let server = Arc::clone(slot.server());
        rec.log.server = Some(Arc::clone(&server));
        let addr = connect::server_addr(&server, state.dst);
        let key = upstream::key(&server, addr);
        loop {
            let idle = match (plan.conn_mode, be.cfg.http.reuse) {
                (ConnMode::KeepAlive, HttpReuse::Never) => state.take_private(key),
                (ConnMode::KeepAlive, reuse) => upstream::reuse(key, reuse, plan.first),
                _ => None,
            };
            if let Some(idle) = idle {
                return Ok(Attempt {
                    slot,
                    server,
                    key,
                    sender: idle.sender,
                    reused: true,
                });
            }
            let started = Instant::now();
            let opened = {
                let sctx = base_ctx(state);
                upstream::open(
                    &server,
                    addr,
                    be.cfg.timeouts.connect,
                    be.cfg.timeouts.server,
                    &sctx,
                )
                .await
            };
            rec.log.tc_ms = Some(ms(started.elapsed()));
            let e = match opened {
                Ok(sender) => {
                    return Ok(Attempt {
                        slot,
                        server,
                        key,
                        sender,
                        reused: false,
                    });
                }
                Err(e) => e,
            };
            tracing::debug!("{}/{}: {e}", be.cfg.name, server.cfg.name);
            let timeout = matches!(e, OpenError::Timeout);
            if !plan.retry_on.has(RetryOn::CONN_FAILURE) || *retries_left == 0 {
                rec.log.termination = if timeout {
                    Termination::new(TermCause::ServerTimeout, TermPhase::Connect)
                } else {
                    Termination::new(TermCause::ServerAbort, TermPhase::Connect)
                };
                return Err(503);
            }
            if !timeout {
                // HAProxy's turn-around timer: don't hammer a restarting server.
                let pause = be
                    .cfg
                    .timeouts
                    .connect
                    .unwrap_or(Duration::from_secs(1))
                    .min(Duration::from_secs(1));
                tokio::time::sleep(pause).await;
            }
            next_try(be, &server, rec, retries_left, exclude);
            if exclude.as_ref().is_some_and(|x| Arc::ptr_eq(x, &server)) {
                drop(slot);
                continue 'slot;
            }
        }
    }
}

/// Turns the server's response into the client's (response rules, persistence cookie,
/// compression, after-response rules), and arranges the end of the transaction (pooling,
/// log) and any tunnel.
#[allow(clippy::too_many_arguments)]
fn respond(
    state: &Rc<ConnState>,
    mut rec: Record,
    mut t: Txn,
    att: Attempt,
    res: Response<Incoming>,
    plan: &Plan,
    client_close: bool,
    client_upgrade: Option<hyper::upgrade::OnUpgrade>,
    be_idx: usize,
) -> Response<ResBody> {
    let shared = &state.ctx.shared;
    let fe = &shared.frontends[state.frontend].cfg;
    let be = &shared.backends.list[be_idx];
    let mut res = res;
    let status = res.status();
    let switching = client_upgrade.is_some()
        && (status == http::StatusCode::SWITCHING_PROTOCOLS
            || (status.is_success() && is_connect(&res)));
    let mut tunnel_conn = None;
    if switching {
        tunnel_conn = Some(hyper::upgrade::on(&mut res));
    }
    let (mut parts, body) = res.into_parts();
    if let Some(x) = &t.extras.ext_connect
        && let Err(e) = crate::http::websocket::upgrade_response(&mut parts, x)
    {
        crate::http::reject::log_response(&be.cfg.name, &state.client, &e);
        rec.log.termination = Termination::new(TermCause::Proxy, TermPhase::Headers);
        drop(tunnel_conn);
        return finish_local(state, rec, t, Some(be_idx), 502, false);
    }
    if state.h2.get() {
        headers::connection_h2(&mut parts.headers);
    } else {
        headers::connection_h1(&mut parts.headers);
    }
    t.txn.res = Some(parts);
    t.txn.req_released = true;
    crate::http_rules::capture_response_headers(&fe.http_captures, &mut t.txn);
    let lists = [
        (be.cfg.name != fe.name).then_some(&be.cfg.http_rules),
        Some(&fe.http_rules),
    ];
    if let Some(verdict) = crate::http::phases::response_rules(
        state,
        lists,
        &mut t.txn,
        Some(&be.cfg.name),
        true,
        &mut rec.level,
    ) {
        // The server's response is replaced: its connection cannot be reused.
        drop(body);
        let reply = match verdict {
            crate::http_rules::HttpVerdict::Reply(r)
            | crate::http_rules::HttpVerdict::Tarpit(r) => *r,
            _ => crate::http_rules::Reply::error(502, crate::http_rules::ReplyCause::Deny),
        };
        t.txn.res = None;
        rec.log.termination = Termination::new(TermCause::Proxy, TermPhase::Headers);
        // Not a valid response any more: HAProxy logs `%Tr` as -1.
        rec.tr_ms = None;
        let res = crate::http::phases::reply_response(state, Some(be_idx), reply);
        return deliver(state, rec, t, Some(be_idx), res, Some(att.slot), None, true);
    }
    // `option checkcache`: a cacheable response must not carry the server's cookie.
    if be.cfg.http.checkcache
        && t.txn
            .res
            .as_ref()
            .is_some_and(|r| crate::http::checkcache::blocks(&t.txn.req.method, r))
    {
        tracing::error!(
            "Blocking cacheable cookie in response from instance {}, server {}.",
            be.cfg.name,
            att.server.cfg.name
        );
        drop(body);
        t.txn.res = None;
        rec.log.termination = Termination::new(TermCause::Proxy, TermPhase::Headers);
        rec.tr_ms = None;
        let reply = crate::http_rules::Reply::error(502, crate::http_rules::ReplyCause::Deny);
        let res = crate::http::phases::reply_response(state, Some(be_idx), reply);
        return deliver(state, rec, t, Some(be_idx), res, Some(att.slot), None, true);
    }
    // `stick store-response`: learn the key from the response head.
    if be
        .cfg
        .stick_rules
        .iter()
        .any(|r| r.kind == crate::stick::rules::StickKind::StoreResponse)
        && !att.server.cfg.non_stick
    {
        let mut sctx = base_ctx(state);
        sctx.be_name = Some(&be.cfg.name);
        sctx.http = Some(&t.txn);
        crate::stick::rules::store_response(
            &be.cfg.stick_rules,
            &shared.tables,
            &sctx,
            att.server.cfg.id,
            crate::clock::now_ms(),
        );
    }
    // A request redispatched away from its cookie's server gets a new cookie.
    if let Some(i) = t.extras.cookie.server
        && be
            .servers
            .get(i)
            .is_none_or(|s| !Arc::ptr_eq(s, &att.server))
    {
        t.extras.cookie.direct = false;
    }
    let mut parts = t
        .txn
        .res
        .take()
        .unwrap_or_else(|| Response::new(()).into_parts().0);
    let algo = t
        .extras
        .on_response_head(fe, be, Some(&att.server.cfg), &mut parts);
    if plan.conn_mode == ConnMode::Close || (client_close && !state.h2.get()) {
        parts
            .headers
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    parts.version = Version::HTTP_11;
    if let (Some(client), Some(server)) = (client_upgrade, tunnel_conn) {
        let idle = be.cfg.timeouts.tunnel.or(be.cfg.timeouts.server);
        tokio::task::spawn_local(tunnel::run(client, server, idle));
    }
    let pooled = (plan.conn_mode == ConnMode::KeepAlive && !switching).then(|| {
        let max_idle = be
            .cfg
            .timeouts
            .http_keep_alive
            .or(be.cfg.timeouts.server)
            .unwrap_or(DEFAULT_IDLE);
        (
            att.key,
            Idle {
                sender: att.sender,
                since: Instant::now(),
                max_idle,
                reused: att.reused,
            },
            be.cfg.http.reuse == HttpReuse::Never,
        )
    });
    let body = match algo {
        Some(a) => ResBody::compressed(body, a, state.ctx.shared.comp_level),
        None => ResBody::stream(body),
    };
    let res = Response::from_parts(parts, body);
    deliver(
        state,
        rec,
        t,
        Some(be_idx),
        res,
        Some(att.slot),
        pooled,
        true,
    )
}

/// hyper marks the response to a `CONNECT` by keeping the request method out of it: the
/// caller only asks when the client sent `CONNECT` or `Upgrade`, so a 2xx to a request
/// without `Upgrade` header is the CONNECT case.
fn is_connect(res: &Response<Incoming>) -> bool {
    !res.headers().contains_key(header::UPGRADE)
}
