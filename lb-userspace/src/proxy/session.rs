//! One client connection in TCP mode, from accept to log line: route to a backend, get a
//! server connection, forward, account, log.

use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime};

use tokio::time::Instant;

use crate::backend::state::ServerState;
use crate::config::model::Mode;
use crate::log::format::{LogAddr, TermCause, TermPhase, Termination};
use crate::proxy::conn::Conn;
use crate::proxy::connect::{self, FailKind};
use crate::proxy::forward::{self, End, ForwardCfg, Side};
use crate::proxy::frontend::FrontendState;
use crate::proxy::inspect::{self, Host, Peeked};
use crate::rules::{ContentVerdict, ResponseVerdict, Verdict};
use crate::sample::StreamCtx;
use crate::sample::vars::Vars;
use crate::stick::Tracking;
use crate::worker::WorkerCtx;

/// What is known about a finished stream, for the traffic log.
#[derive(Debug, Clone)]
pub struct StreamLog {
    /// Client address.
    pub client: LogAddr,
    /// Wall-clock accept time.
    pub accept_date: SystemTime,
    /// Frontend index.
    pub frontend: usize,
    /// Backend index, if one was chosen.
    pub backend: Option<usize>,
    /// The server, if one was chosen.
    pub server: Option<Arc<ServerState>>,
    /// Time in queues (ms); `None` if never dispatched.
    pub tw_ms: Option<u64>,
    /// Connect time (ms); `None` if never connected.
    pub tc_ms: Option<u64>,
    /// Total time (ms).
    pub tt_ms: u64,
    /// Bytes sent to the client.
    pub bytes_out: u64,
    /// Bytes received from the client.
    pub bytes_in: u64,
    /// Termination state (HAProxy's two characters).
    pub termination: Termination,
    /// Retries, and whether the stream was redispatched.
    pub retries: u32,
    /// Redispatched to another server.
    pub redispatched: bool,
    /// Process-wide active connections at log time.
    pub actconn: u32,
    /// Frontend connections at log time.
    pub feconn: u32,
    /// Backend connections at log time.
    pub beconn: u32,
    /// Server connections at log time.
    pub srv_conn: u32,
    /// Connections ahead in the server queue when this one was queued.
    pub srv_queue: u32,
    /// Connections ahead in the backend queue when this one was queued.
    pub backend_queue: u32,
}

impl StreamLog {
    /// The log record of a stream accepted at `accept_date`, before anything happened.
    pub fn new(client: LogAddr, accept_date: SystemTime, frontend: usize) -> Self {
        Self {
            client,
            accept_date,
            frontend,
            backend: None,
            server: None,
            tw_ms: None,
            tc_ms: None,
            tt_ms: 0,
            bytes_out: 0,
            bytes_in: 0,
            termination: Termination::NORMAL,
            retries: 0,
            redispatched: false,
            actconn: 0,
            feconn: 0,
            beconn: 0,
            srv_conn: 0,
            srv_queue: 0,
            backend_queue: 0,
        }
    }
}

/// Counts a connection in the worker, frontend and process for as long as it lives.
struct Accounting<'a> {
    ctx: &'a WorkerCtx,
    frontend: usize,
}

impl<'a> Accounting<'a> {
    fn new(ctx: &'a WorkerCtx, frontend: usize) -> Self {
        let fe = &ctx.shared.frontends[frontend];
        fe.cur_conns.fetch_add(1, Ordering::AcqRel);
        fe.total_conns.fetch_add(1, Ordering::Relaxed);
        ctx.shared.actconn.fetch_add(1, Ordering::AcqRel);
        ctx.active.set(ctx.active.get() + 1);
        Self { ctx, frontend }
    }
}

impl Drop for Accounting<'_> {
    fn drop(&mut self) {
        let shared = &self.ctx.shared;
        let fe = &shared.frontends[self.frontend];
        fe.cur_conns.fetch_sub(1, Ordering::AcqRel);
        fe.gate.release();
        shared.global.release();
        shared.actconn.fetch_sub(1, Ordering::AcqRel);
        self.ctx.active.set(self.ctx.active.get() - 1);
        if self.ctx.active.get() == 0 {
            self.ctx.idle.notify_waiters();
        }
    }
}

/// A connection just accepted by a listener.
#[derive(Debug)]
pub struct Accepted {
    /// The client socket.
    pub conn: Conn,
    /// Client address (unspecified for unix sockets).
    pub src: SocketAddr,
    /// Address the client reached (unspecified for unix sockets).
    pub dst: SocketAddr,
    /// Client address as logs print it.
    pub client: LogAddr,
    /// Local address as logs print it.
    pub local: LogAddr,
    /// The connection starts with a PROXY protocol header (`accept-proxy`).
    pub accept_proxy: bool,
    /// The listener's number in its frontend.
    pub listener: u32,
}

/// Serves one accepted client connection. The caller reserved a slot in the process and
/// frontend gates; they are released when this returns.
pub async fn run(ctx: Rc<WorkerCtx>, frontend: usize, accepted: Accepted) {
    let accounting = Accounting::new(&ctx, frontend);
    let started = Instant::now();
    let accept_date = SystemTime::now();
    let shared = &ctx.shared;
    let fe = &shared.frontends[frontend];
    let client = &accepted.conn;
    // Only streams of a process with stick tables pay for tracking, and only a process
    // with rules for variables.
    let tracking = (!shared.tables.is_empty()).then(|| Tracking::new(Arc::clone(&shared.tables)));
    let vars = shared.rules_active.then(Vars::default);
    let mut sctx = StreamCtx::new(accepted.src, accepted.dst, &fe.cfg.name);
    sctx.backends = Some(&shared.backends);
    sctx.fe_conn = fe.cur_conns.load(Ordering::Acquire);
    let fe_conns = |name: &str| {
        shared
            .frontends
            .iter()
            .find(|f| f.cfg.name == name)
            .map(|f| f.cur_conns.load(Ordering::Acquire))
    };
    sctx.frontends = Some(crate::sample::FrontendConns(&fe_conns));
    sctx.stick = tracking.as_ref();
    sctx.vars = vars.as_ref();
    let mut host = Host::new(tracking.as_ref());
    // `tcp-request connection` sees the real addresses; its rejects are not logged.
    match fe.cfg.rules.eval_connection(&mut sctx, &mut host) {
        Verdict::Accept => {}
        Verdict::Reject => return,
        Verdict::SilentDrop => return client.prepare_silent_drop(),
    }
    let (mut client_addr, mut local_addr) = (accepted.client, accepted.local);
    if accepted.accept_proxy || host.expect_proxy {
        // Connection rules saw the real peer; everything after sees the announced one.
        match crate::proxy_protocol::read_header(client, fe.cfg.timeouts.client).await {
            Ok(header) => {
                if let Some((src, dst)) = header.client_addrs() {
                    (sctx.src, sctx.dst) = (src, dst);
                    (client_addr, local_addr) = (LogAddr::Inet(src), LogAddr::Inet(dst));
                }
            }
            Err(e) => {
                let listener = accepted.listener;
                return ctx.log_connection_error(frontend, listener, client_addr, &e.to_string());
            }
        }
    }
    ctx.log_accept(frontend, client_addr, local_addr);
    if fe.cfg.mode == Mode::Http {
        // HTTP mode: session rules here, then one transaction per request.
        match fe.cfg.rules.eval_session(&mut sctx, &mut host) {
            Verdict::Accept => {}
            Verdict::Reject => return,
            Verdict::SilentDrop => return client.prepare_silent_drop(),
        }
        if let Some(t) = &tracking {
            t.accept_session(crate::clock::now_ms());
        }
        let http = crate::http::session::Accepted {
            frontend,
            fixed_backend: None,
            src: sctx.src,
            dst: sctx.dst,
            client: client_addr,
            accept_date,
        };
        crate::http::session::serve(Rc::clone(&ctx), http, accepted.conn, tracking, vars).await;
        drop(accounting);
        return;
    }
    let mut log = StreamLog::new(client_addr, accept_date, frontend);
    let mut peeked = Peeked::new(shared.bufsize);
    match request_phase(
        &ctx,
        fe,
        client,
        &mut peeked,
        &mut sctx,
        &mut host,
        &tracking,
    )
    .await
    {
        Ok(be_idx) if shared.backends.list[be_idx].cfg.mode == Mode::Http => {
            // A TCP frontend handing over to an HTTP backend: the stream becomes HTTP.
            let http = crate::http::session::Accepted {
                frontend,
                fixed_backend: Some(be_idx),
                src: sctx.src,
                dst: sctx.dst,
                client: client_addr,
                accept_date,
            };
            crate::http::session::serve(Rc::clone(&ctx), http, accepted.conn, tracking, vars).await;
            drop(accounting);
            return;
        }
        Ok(be_idx) => {
            let mut view = sctx.clone();
            view.payload = peeked.data();
            view.be_name = Some(&shared.backends.list[be_idx].cfg.name);
            serve(&ctx, be_idx, client, &view, &mut host, &mut log).await;
        }
        Err(termination) => log.termination = termination,
    }
    if let Some(tracking) = &tracking {
        let now = crate::clock::now_ms();
        tracking.add_bytes_in(log.bytes_in, now);
        tracking.add_bytes_out(log.bytes_out, now);
    }
    if matches!(
        log.termination.cause,
        TermCause::ServerAbort | TermCause::ServerTimeout | TermCause::Killed
    ) {
        // Close abruptly like HAProxy does on a server-side error, so the client notices.
        client.abort_on_close();
    }
    log.tt_ms = ms(started.elapsed());
    log.actconn = shared.actconn.load(Ordering::Acquire);
    log.feconn = fe.cur_conns.load(Ordering::Acquire);
    ctx.log_stream(&log);
    drop(accepted);
    // Ends the tracked entries (conn_cur) at the close, with the close's time.
    drop(tracking);
    drop(accounting);
}

/// Everything between accept and the server connection: session rules, content
/// inspection, backend selection, the backend's content rules. Returns the backend, or
/// the termination state of a stream that ends here.
async fn request_phase<'a>(
    ctx: &'a WorkerCtx,
    fe: &FrontendState,
    client: &Conn,
    peeked: &mut Peeked,
    sctx: &mut StreamCtx<'a>,
    host: &mut Host<'_>,
    tracking: &Option<Tracking>,
) -> Result<usize, Termination> {
    let refused = Termination::new(TermCause::Proxy, TermPhase::Request);
    match fe.cfg.rules.eval_session(sctx, host) {
        Verdict::Accept => {}
        Verdict::Reject => return Err(refused),
        Verdict::SilentDrop => {
            client.prepare_silent_drop();
            return Err(refused);
        }
    }
    // HAProxy counts a session once its session rules accepted it.
    if let Some(t) = tracking {
        t.accept_session(crate::clock::now_ms());
    }
    content_verdict(
        inspect::request_content(&fe.cfg.rules, client, peeked, sctx, host).await,
        client,
    )?;
    let be_idx = {
        let mut view = sctx.clone();
        view.payload = peeked.data();
        fe.route(&view)
    };
    let be_idx = be_idx.ok_or(refused)?;
    let be = &ctx.shared.backends.list[be_idx].cfg;
    // A `listen` section's rules were already run as its frontend's.
    if be.name != fe.cfg.name {
        sctx.be_name = Some(&be.name);
        content_verdict(
            inspect::request_content(&be.rules, client, peeked, sctx, host).await,
            client,
        )?;
    }
    Ok(be_idx)
}

/// Maps a content verdict to "go on" or the termination state it logs.
fn content_verdict(verdict: ContentVerdict, client: &Conn) -> Result<(), Termination> {
    let refused = Termination::new(TermCause::Proxy, TermPhase::Request);
    match verdict {
        ContentVerdict::Accept => Ok(()),
        // Without an inspect delay the engine never waits: treat as accepted.
        ContentVerdict::NeedMoreData => Ok(()),
        ContentVerdict::Reject => Err(refused),
        ContentVerdict::SilentDrop => {
            client.prepare_silent_drop();
            Err(refused)
        }
    }
}

async fn serve(
    ctx: &WorkerCtx,
    be_idx: usize,
    client: &Conn,
    sctx: &StreamCtx<'_>,
    host: &mut Host<'_>,
    log: &mut StreamLog,
) {
    let be = &ctx.shared.backends.list[be_idx];
    log.backend = Some(be_idx);
    be.cur_conns.fetch_add(1, Ordering::AcqRel);
    be.total_conns.fetch_add(1, Ordering::Relaxed);
    log.tw_ms = Some(0);
    match connect::establish(ctx, be_idx, sctx).await {
        Err(failed) => {
            log.tw_ms = Some(ms(failed.queued));
            log.retries = failed.retries;
            log.server = failed.server.clone();
            log.termination = match failed.kind {
                FailKind::NoServer | FailKind::ConnectError => {
                    Termination::new(TermCause::ServerAbort, TermPhase::Connect)
                }
                FailKind::QueueTimeout => {
                    Termination::new(TermCause::ServerTimeout, TermPhase::Queue)
                }
                FailKind::ConnectTimeout => {
                    Termination::new(TermCause::ServerTimeout, TermPhase::Connect)
                }
            };
            log.srv_conn = failed.server.as_ref().map_or(0, |s| s.cur_conns());
            log.srv_queue = failed.queue_pos.0;
            log.backend_queue = failed.queue_pos.1;
        }
        Ok(est) => {
            let server = est.slot.server();
            log.server = Some(Arc::clone(server));
            log.tw_ms = Some(ms(est.queued));
            log.tc_ms = Some(ms(est.connect));
            log.retries = est.retries;
            log.redispatched = est.redispatched;
            if let Err(termination) =
                response_phase(ctx, be_idx, client, &est.conn, sctx, host).await
            {
                log.termination = termination;
                est.conn.abort_on_close();
                log.srv_conn = server.cur_conns();
                log.beconn = be.cur_conns.load(Ordering::Acquire);
                be.cur_conns.fetch_sub(1, Ordering::AcqRel);
                return;
            }
            let cfg = forward_cfg(ctx, log.frontend, be_idx);
            let stop = ctx.hard_stop();
            let outcome = forward::forward(client, &est.conn, &cfg, &ctx.pipes, stop).await;
            log.bytes_in = outcome.bytes_in;
            log.bytes_out = outcome.bytes_out;
            log.termination = termination(outcome.end);
            if matches!(
                outcome.end,
                End::Error(Side::Client) | End::Timeout(_) | End::Killed
            ) {
                est.conn.abort_on_close();
            }
            log.srv_conn = server.cur_conns();
            log.srv_queue = est.queue_pos.0;
            log.backend_queue = est.queue_pos.1;
        }
    }
    log.beconn = be.cur_conns.load(Ordering::Acquire);
    be.cur_conns.fetch_sub(1, Ordering::AcqRel);
}

/// `tcp-response content` rules on the server's first bytes. `Err` ends the stream
/// with that termination state; `close` hands over what arrived, then ends it normally.
async fn response_phase(
    ctx: &WorkerCtx,
    be_idx: usize,
    client: &Conn,
    server: &Conn,
    sctx: &StreamCtx<'_>,
    host: &mut Host<'_>,
) -> Result<(), Termination> {
    let rules = &ctx.shared.backends.list[be_idx].cfg.rules;
    if rules.response.is_empty() {
        return Ok(());
    }
    let mut peeked = Peeked::new(ctx.shared.bufsize);
    match inspect::response_content(rules, server, &mut peeked, sctx, host).await {
        ResponseVerdict::Accept | ResponseVerdict::NeedMoreData => Ok(()),
        ResponseVerdict::Reject => Err(Termination::new(TermCause::Proxy, TermPhase::Data)),
        ResponseVerdict::SilentDrop => {
            client.prepare_silent_drop();
            Err(Termination::new(TermCause::Proxy, TermPhase::Data))
        }
        ResponseVerdict::Close => {
            let _ = inspect::hand_over(server, client, peeked.data().len()).await;
            Err(Termination::NORMAL)
        }
    }
}

/// Timeouts of the forwarding: the frontend owns the client side, the backend the server
/// side, and in TCP mode the backend's `timeout tunnel` supersedes both once the server
/// connection is established, as in HAProxy.
fn forward_cfg(ctx: &WorkerCtx, fe_idx: usize, be_idx: usize) -> ForwardCfg {
    let shared = &ctx.shared;
    let fe = &shared.frontends[fe_idx].cfg.timeouts;
    let be = &shared.backends.list[be_idx].cfg.timeouts;
    ForwardCfg {
        client: be.tunnel.or(fe.client),
        server: be.tunnel.or(be.server),
        client_fin: fe.client_fin,
        server_fin: be.server_fin,
        bufsize: shared.bufsize,
        splice: shared.splice,
        pipesize: shared.pipesize,
    }
}

fn termination(end: End) -> Termination {
    let cause = match end {
        End::Done => return Termination::NORMAL,
        End::Error(Side::Client) => TermCause::ClientAbort,
        End::Error(Side::Server) => TermCause::ServerAbort,
        End::Timeout(Side::Client) => TermCause::ClientTimeout,
        End::Timeout(Side::Server) => TermCause::ServerTimeout,
        End::Killed => TermCause::Killed,
    };
    Termination::new(cause, TermPhase::Data)
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}
