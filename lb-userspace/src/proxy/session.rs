//! One client connection in TCP mode, from accept to log line: route to a backend, get a
//! server connection, forward, account, log.

use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime};

use tokio::time::Instant;

use crate::proxy::conn::Conn;
use crate::proxy::connect::{self, FailKind};
use crate::proxy::forward::{self, End, ForwardCfg, Side};
use crate::sample::StreamCtx;
use crate::worker::WorkerCtx;

/// What is known about a finished stream, for the traffic log.
#[derive(Debug, Clone)]
pub struct StreamLog {
    /// Client address.
    pub client: SocketAddr,
    /// Address the client reached.
    pub frontend_addr: SocketAddr,
    /// Wall-clock accept time.
    pub accept_date: SystemTime,
    /// Frontend index.
    pub frontend: usize,
    /// Backend index, if one was chosen.
    pub backend: Option<usize>,
    /// Server name, if one was chosen.
    pub server: Option<String>,
    /// Time in queues (ms), -1 if never reached.
    pub tw_ms: i64,
    /// Connect time (ms), -1 if never connected.
    pub tc_ms: i64,
    /// Total time (ms).
    pub tt_ms: i64,
    /// Bytes sent to the client.
    pub bytes_out: u64,
    /// Bytes received from the client.
    pub bytes_in: u64,
    /// Termination state (two characters, HAProxy's codes).
    pub termination: [u8; 2],
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
    /// Server queue length.
    pub srv_queue: usize,
    /// Backend queue length.
    pub backend_queue: usize,
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

/// Serves one accepted client connection. The caller reserved a slot in the process and
/// frontend gates; they are released when this returns.
pub async fn run(
    ctx: Rc<WorkerCtx>,
    frontend: usize,
    client: Conn,
    src: SocketAddr,
    dst: SocketAddr,
) {
    let accounting = Accounting::new(&ctx, frontend);
    let started = Instant::now();
    let accept_date = SystemTime::now();
    let shared = &ctx.shared;
    let fe = &shared.frontends[frontend];
    let sctx = StreamCtx {
        src,
        dst,
        fe_name: &fe.cfg.name,
    };
    let mut log = StreamLog {
        client: src,
        frontend_addr: dst,
        accept_date,
        frontend,
        backend: None,
        server: None,
        tw_ms: -1,
        tc_ms: -1,
        tt_ms: 0,
        bytes_out: 0,
        bytes_in: 0,
        termination: *b"--",
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
        None => log.termination = *b"PR",
        Some(be_idx) => serve(&ctx, be_idx, &client, &sctx, &mut log).await,
    }
    if log.termination[0] == b'S' || log.termination[0] == b's' || log.termination[0] == b'K' {
        // Close abruptly like HAProxy does on a server-side error, so the client notices.
        client.abort_on_close();
    }
    log.tt_ms = ms(started.elapsed());
    log.actconn = shared.actconn.load(Ordering::Acquire);
    log.feconn = fe.cur_conns.load(Ordering::Acquire);
    ctx.log_stream(&log);
    drop(client);
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
    log.tw_ms = 0;
    match connect::establish(ctx, be_idx, sctx).await {
        Err(failed) => {
            log.tw_ms = ms(failed.queued);
            log.retries = failed.retries;
            log.server = failed.server.as_ref().map(|s| s.cfg.name.clone());
            log.termination = match failed.kind {
                FailKind::NoServer => *b"SC",
                FailKind::QueueTimeout => *b"sQ",
                FailKind::ConnectTimeout => *b"sC",
                FailKind::ConnectError => *b"SC",
            };
            log.srv_conn = failed.server.as_ref().map_or(0, |s| s.cur_conns());
            log.srv_queue = failed.server.as_ref().map_or(0, |s| s.queue.len());
        }
        Ok(est) => {
            let server = est.slot.server();
            log.server = Some(server.cfg.name.clone());
            log.tw_ms = ms(est.queued);
            log.tc_ms = ms(est.connect);
            log.retries = est.retries;
            log.redispatched = est.redispatched;
            let cfg = forward_cfg(ctx, log.frontend, be_idx);
            let stop = ctx.hard_stop();
            let outcome = forward::forward(client, &est.conn, &cfg, stop).await;
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
            log.srv_queue = server.queue.len();
        }
    }
    log.beconn = be.cur_conns.load(Ordering::Acquire);
    log.backend_queue = be.queue.len();
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

fn termination(end: End) -> [u8; 2] {
    match end {
        End::Done => *b"--",
        End::Error(Side::Client) => *b"CD",
        End::Error(Side::Server) => *b"SD",
        End::Timeout(Side::Client) => *b"cD",
        End::Timeout(Side::Server) => *b"sD",
        End::Killed => *b"KD",
    }
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}
