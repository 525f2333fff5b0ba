//! Workers: one single-threaded event loop per core, each with its own SO_REUSEPORT
//! listeners, its own balancers and loggers. Workers share only atomics ([`Shared`]).

pub mod gate;
pub mod listener;
mod steer;

pub use steer::current_id;

use std::cell::{Cell, RefCell};
use std::net::{Ipv4Addr, SocketAddr};
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::AtomicU32;
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::net::{TcpListener, UnixListener};
use tokio::sync::{Notify, watch};

use crate::backend::balance::Balancer;
use crate::backend::state::Backends;
use crate::config::model::SteerPolicy;
use crate::log::format::{LogAddr, TcpLogRecord};
use crate::log::sink::Logger;
use crate::proxy::conn::Conn;
use crate::proxy::frontend::FrontendState;
use crate::proxy::session::{self, StreamLog};
use crate::sys::pipe::PipePool;
use crate::worker::gate::ConnGate;

/// Idle pipes a worker keeps for splice (two per connection in flight).
const PIPE_POOL_MAX: usize = 256;
use crate::worker::listener::{ListenSocket, Listener};

/// How the process is asked to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopMode {
    /// Serving.
    Running,
    /// Soft stop: close listeners, let open connections finish.
    Soft,
    /// Hard stop: close everything now.
    Hard,
}

/// State shared by all workers: configuration-derived and atomic only.
#[derive(Debug)]
pub struct Shared {
    /// Backends and servers.
    pub backends: Arc<Backends>,
    /// Frontends, in config order.
    pub frontends: Vec<FrontendState>,
    /// Process-wide `maxconn`.
    pub global: ConnGate,
    /// Active client connections in the process (`%ac`).
    pub actconn: AtomicU32,
    /// `tune.bufsize`.
    pub bufsize: usize,
    /// splice(2) enabled.
    pub splice: bool,
    /// `tune.pipesize`.
    pub pipesize: Option<usize>,
    /// Stick tables of the process.
    pub tables: Arc<crate::stick::Tables>,
    /// Some proxy has `tcp-request`/`tcp-response` rules (streams then get variables).
    pub rules_active: bool,
    /// `tune.http.maxhdr`: most header fields in an HTTP message.
    pub http_maxhdr: usize,
    /// `tune.comp.maxlevel`: the level every HTTP compression runs at (1 to 9).
    pub comp_level: u32,
}

/// One worker's own state, shared by its tasks (never crosses threads).
#[derive(Debug)]
pub struct WorkerCtx {
    /// Worker number.
    pub id: usize,
    /// Shared state.
    pub shared: Arc<Shared>,
    /// This worker's balancer of each backend (same index as `Backends::list`).
    pub balancers: RefCell<Vec<Balancer>>,
    /// Connections currently served by this worker.
    pub active: Cell<usize>,
    /// Woken when `active` drops to zero.
    pub idle: Notify,
    /// This worker's logger of each frontend (same index as `Shared::frontends`).
    pub loggers: Vec<Logger>,
    /// Idle pipes for splice forwarding.
    pub pipes: PipePool,
    stop: watch::Receiver<StopMode>,
}

impl WorkerCtx {
    /// Resolves on a hard stop.
    pub fn hard_stop(&self) -> impl Future<Output = ()> + 'static {
        let mut stop = self.stop.clone();
        async move {
            let _ = stop.wait_for(|m| *m == StopMode::Hard).await;
        }
    }

    /// Logs an accepted connection when the frontend logs without `option tcplog`,
    /// `option httplog` or `log-format` (HAProxy's default: one line at accept).
    pub fn log_accept(&self, frontend: usize, client: LogAddr, local: LogAddr) {
        let fe = &self.shared.frontends[frontend];
        if !fe.cfg.tcplog && fe.cfg.http_log.format.is_none() {
            self.loggers[frontend].log_connect(client, local, &fe.cfg.name, fe.cfg.mode);
        }
    }

    /// Logs a connection that failed before becoming a stream (e.g. a bad PROXY header),
    /// in HAProxy's words: `CLIENT [DATE] FRONTEND: MESSAGE`.
    pub fn log_connection_error(&self, frontend: usize, listener: u32, client: LogAddr, msg: &str) {
        let fe = &self.shared.frontends[frontend];
        tracing::debug!("frontend {}: {client}: {msg}", fe.cfg.name);
        self.loggers[frontend].log_connection_error(client, &fe.cfg.name, listener, msg);
    }

    /// Logs a finished stream in `option tcplog` format.
    pub fn log_stream(&self, log: &StreamLog) {
        let fe = &self.shared.frontends[log.frontend];
        let logger = &self.loggers[log.frontend];
        if !fe.cfg.tcplog || logger.is_empty() {
            return;
        }
        let backend = log
            .backend
            .map(|b| self.shared.backends.list[b].cfg.name.as_str());
        logger.log_tcp(&TcpLogRecord {
            client: log.client,
            accept_date: log.accept_date,
            frontend: &fe.cfg.name,
            backend,
            server: log.server.as_ref().map(|s| s.cfg.name.as_str()),
            tw_ms: log.tw_ms.map_or(-1, signed),
            tc_ms: log.tc_ms.map_or(-1, signed),
            tt_ms: signed(log.tt_ms),
            bytes_read: log.bytes_out,
            termination: log.termination,
            actconn: log.actconn,
            feconn: log.feconn,
            beconn: log.beconn,
            srv_conn: log.srv_conn,
            retries: log.retries,
            redispatched: log.redispatched,
            srv_queue: log.srv_queue as usize,
            backend_queue: log.backend_queue as usize,
        });
    }
}

fn signed(ms: u64) -> i64 {
    i64::try_from(ms).unwrap_or(i64::MAX)
}

/// Starts `listeners.len()` worker threads; each serves its own listeners until `stop` says
/// otherwise, then returns once its connections are done (soft) or killed (hard).
pub fn spawn(
    shared: &Arc<Shared>,
    listeners: Vec<Vec<Listener>>,
    stop: &watch::Receiver<StopMode>,
) -> std::io::Result<Vec<JoinHandle<()>>> {
    listeners
        .into_iter()
        .enumerate()
        .map(|(id, own)| {
            let shared = Arc::clone(shared);
            let stop = stop.clone();
            std::thread::Builder::new()
                .name(format!("lb-worker-{id}"))
                .spawn(move || run(id, shared, own, stop))
        })
        .collect()
}

fn run(id: usize, shared: Arc<Shared>, listeners: Vec<Listener>, stop: watch::Receiver<StopMode>) {
    steer::set_current_id(id);
    if listeners.iter().any(|l| l.steer == SteerPolicy::Cpu) {
        steer::pin_to_cpu(id);
    }
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!("worker {id}: cannot start its event loop: {e}");
            return;
        }
    };
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, async move {
        let balancers = shared
            .backends
            .list
            .iter()
            .map(|b| Balancer::new(Arc::clone(b)))
            .collect();
        let loggers = shared
            .frontends
            .iter()
            .map(|f| worker_logger(id, &f.cfg.name, &f.cfg.logs))
            .collect();
        let pipes = PipePool::new(PIPE_POOL_MAX, shared.pipesize);
        let ctx = Rc::new(WorkerCtx {
            pipes,
            id,
            loggers,
            shared,
            balancers: RefCell::new(balancers),
            active: Cell::new(0),
            idle: Notify::new(),
            stop: stop.clone(),
        });
        let mut accepting = Vec::new();
        for listener in listeners {
            match accept_loop(Rc::clone(&ctx), listener) {
                Ok(fut) => accepting.push(tokio::task::spawn_local(fut)),
                Err(e) => tracing::error!("worker {id}: cannot register a listener: {e}"),
            }
        }
        let mut stop = stop;
        let mode = stop.wait_for(|m| *m != StopMode::Running).await.map(|m| *m);
        // Closing the listeners: no new connections from here on.
        for task in accepting {
            task.abort();
        }
        if mode.is_ok_and(|m| m == StopMode::Soft) {
            let hard = ctx.hard_stop();
            tokio::pin!(hard);
            while ctx.active.get() > 0 {
                let idle = ctx.idle.notified();
                tokio::select! {
                    () = idle => {}
                    () = &mut hard => break,
                }
            }
        }
        // On hard stop, live streams see the same signal and end themselves; give them a
        // moment to log.
        let deadline = tokio::time::Instant::now() + Duration::from_millis(500);
        while ctx.active.get() > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    });
}

/// Each worker logs through its own sockets (no sharing between threads). The targets were
/// validated at start-up, so a failure here is unexpected; it is reported and that worker
/// logs nothing for the frontend rather than stopping.
fn worker_logger(
    worker: usize,
    frontend: &str,
    targets: &[crate::config::model::LogTarget],
) -> Logger {
    Logger::new(targets).unwrap_or_else(|e| {
        tracing::error!("worker {worker}: frontend {frontend}: logging disabled: {e}");
        Logger::new(&[]).unwrap_or_else(|_| unreachable!("an empty logger cannot fail"))
    })
}

/// Builds the accept loop of one listener (registration must happen inside the runtime).
fn accept_loop(
    ctx: Rc<WorkerCtx>,
    listener: Listener,
) -> std::io::Result<impl Future<Output = ()> + 'static> {
    let fe_idx = listener.frontend;
    let listener_id = listener.id;
    let accept_proxy = listener.accept_proxy;
    let load = listener.load;
    let socket = match listener.socket {
        ListenSocket::Tcp(s) => Accept::Tcp(TcpListener::from_std(s)?),
        ListenSocket::Unix(s) => Accept::Unix(UnixListener::from_std(s)?),
    };
    Ok(async move {
        loop {
            let fe = &ctx.shared.frontends[fe_idx];
            // Reserve before accepting: a full process or frontend leaves connections in
            // the kernel's backlog, as HAProxy's paused listeners do.
            ctx.shared.global.reserve().await;
            fe.gate.reserve().await;
            match socket.accept(listener_id).await {
                Ok(mut accepted) => {
                    accepted.accept_proxy = accept_proxy;
                    match &load {
                        // Published for `steer least-loaded` until the session ends.
                        Some(load) => {
                            let counted = load.enter();
                            let ctx = Rc::clone(&ctx);
                            // The session future is built inside the task: captured and
                            // then awaited, it would be stored twice in every task.
                            tokio::task::spawn_local(async move {
                                session::run(ctx, fe_idx, accepted).await;
                                drop(counted);
                            })
                        }
                        None => tokio::task::spawn_local(session::run(
                            Rc::clone(&ctx),
                            fe_idx,
                            accepted,
                        )),
                    };
                }
                Err(e) => {
                    fe.gate.release();
                    ctx.shared.global.release();
                    tracing::warn!("frontend {}: accept failed: {e}", fe.cfg.name);
                    // Out of descriptors or memory: back off instead of spinning.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    })
}

enum Accept {
    Tcp(TcpListener),
    Unix(UnixListener),
}

impl Accept {
    async fn accept(&self, listener_id: u32) -> std::io::Result<session::Accepted> {
        match self {
            Self::Tcp(l) => {
                let (stream, src) = l.accept().await?;
                let dst = stream.local_addr()?;
                let _ = stream.set_nodelay(true);
                Ok(session::Accepted {
                    conn: Conn::Tcp(stream),
                    src,
                    dst,
                    client: LogAddr::Inet(src),
                    local: LogAddr::Inet(dst),
                    accept_proxy: false,
                    listener: listener_id,
                })
            }
            Self::Unix(l) => {
                let (stream, _) = l.accept().await?;
                let none = SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0));
                let unix = LogAddr::Unix { listener_id };
                Ok(session::Accepted {
                    conn: Conn::Unix(stream),
                    src: none,
                    dst: none,
                    client: unix,
                    local: unix,
                    accept_proxy: false,
                    listener: listener_id,
                })
            }
        }
    }
}
