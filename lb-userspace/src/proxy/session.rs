//! One client connection in TCP mode, from accept to log line: route to a backend, get a
//! server connection, forward, account, log.

use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime};

use tokio::time::Instant;

use crate::backend::state::ServerState;
use crate::log::format::{LogAddr, TermCause, TermPhase, Termination};
use crate::proxy::conn::Conn;
use crate::proxy::connect::{self, FailKind};
use crate::proxy::forward::{self, End, ForwardCfg, Side};
use crate::sample::StreamCtx;
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
}

/// Serves one accepted client connection. The caller reserved a slot in the process and
/// frontend gates; they are released when this returns.
pub async fn run(ctx: Rc<WorkerCtx>, frontend: usize, accepted: Accepted) {
    let Accepted {
        conn: client,
        src,
        dst,
        client: client_addr,
        local,
    } = accepted;
    let accounting = Accounting::new(&ctx, frontend);
    ctx.log_accept(frontend, client_addr, local);
    let started = Instant::now();
    let accept_date = SystemTime::now();
    let shared = &ctx.shared;
    let fe = &shared.frontends[frontend];
    // Only streams of a process with stick tables pay for tracking.
    let tracking = (!shared.tables.is_empty()).then(|| Tracking::new(Arc::clone(&shared.tables)));
    let mut sctx = StreamCtx::new(src, dst, &fe.cfg.name);
    sctx.backends = Some(&shared.backends);
    sctx.fe_conn = fe.cur_conns.load(Ordering::Acquire);
    sctx.stick = tracking.as_ref();
    let mut log = StreamLog {
        client: client_addr,
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
    };
    match fe.route(&sctx) {
        None => log.termination = Termination::new(TermCause::Proxy, TermPhase::Request),
        Some(be_idx) => {
            sctx.be_name = Some(&shared.backends.list[be_idx].cfg.name);
            serve(&ctx, be_idx, &client, &sctx, &mut log).await;
        }
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
    drop(client);
    // Ends the tracked entries (conn_cur) at the close, with the close's time.
    drop(tracking);
    drop(accounting);
}

async fn serve(
    ctx: &WorkerCtx,
    be_idx: usize,
    client: &Conn,
    sctx: &StreamCtx<'_>,
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
