//! Getting a server connection for a stream: balancing, queueing (`maxconn`, `timeout
//! queue`), connecting (`timeout connect`), `retries` and `option redispatch`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::time::Instant;

use crate::backend::balance::Pick;
use crate::backend::state::{BackendState, ServerSlot, ServerState};
use crate::config::model::{Balance, ServerPort};
use crate::proxy::conn::Conn;
use crate::sample::StreamCtx;
use crate::worker::WorkerCtx;

/// A connected server with how long it took.
#[derive(Debug)]
pub struct Established {
    /// The server socket.
    pub conn: Conn,
    /// The slot held on the server for the connection's life.
    pub slot: ServerSlot,
    /// Time spent in queues.
    pub queued: Duration,
    /// Time of the successful connect.
    pub connect: Duration,
    /// Retries used.
    pub retries: u32,
    /// Whether the stream moved to another server after a failure.
    pub redispatched: bool,
    /// Connections ahead in the (server, backend) queue when this one was queued.
    pub queue_pos: (u32, u32),
}

/// Why no server connection could be made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailKind {
    /// No usable server in the backend.
    NoServer,
    /// Waited longer than `timeout queue` for a slot.
    QueueTimeout,
    /// The last connect attempt timed out.
    ConnectTimeout,
    /// The last connect attempt failed (refused, unreachable...).
    ConnectError,
}

/// A failure with what is known for the log line.
#[derive(Debug)]
pub struct Failed {
    /// What went wrong.
    pub kind: FailKind,
    /// The last server tried, if any.
    pub server: Option<Arc<ServerState>>,
    /// Time spent in queues.
    pub queued: Duration,
    /// Retries used.
    pub retries: u32,
    /// Connections ahead in the (server, backend) queue when this one was queued.
    pub queue_pos: (u32, u32),
}

/// Connects the stream to a server of backend `be_idx`, with queueing and retries.
pub async fn establish(
    ctx: &WorkerCtx,
    be_idx: usize,
    sctx: &StreamCtx<'_>,
) -> Result<Established, Failed> {
    let be = &ctx.shared.backends.list[be_idx];
    let t_connect = be.cfg.timeouts.connect;
    let mut retries_left = be.cfg.retries;
    let mut exclude: Option<Arc<ServerState>> = None;
    let mut slot: Option<ServerSlot> = None;
    let (mut queued, mut retries, mut redispatched) = (Duration::ZERO, 0u32, false);
    let mut queue_pos = (0, 0);
    // `stick match|on`: a remembered server takes precedence over balancing.
    let stick = stick_decision(ctx, be, sctx);
    let mut preferred = stick
        .as_ref()
        .and_then(|d| d.server())
        .and_then(|id| be.servers.iter().find(|s| s.cfg.id == id).cloned());
    loop {
        let held = match slot.take() {
            Some(held) => held,
            None => {
                match acquire(ctx, be_idx, be, sctx, exclude.as_ref(), preferred.take()).await {
                    Ok(got) => {
                        queued += got.waited;
                        queue_pos = got.queue_pos;
                        got.slot
                    }
                    Err((kind, pos, waited)) => {
                        queued += waited;
                        let server = exclude.clone();
                        return Err(Failed {
                            kind,
                            server,
                            queued,
                            retries,
                            queue_pos: pos,
                        });
                    }
                }
            }
        };
        let server = Arc::clone(held.server());
        let addr = server_addr(&server, sctx.dst);
        let started = Instant::now();
        match connect(addr, t_connect).await.map(Conn::Tcp) {
            Ok(conn) => {
                // `send-proxy[-v2]`: announce the client before any of its bytes.
                if let Some(version) = server.cfg.send_proxy
                    && let Err(e) = send_proxy_header(&conn, version, sctx).await
                {
                    tracing::debug!(
                        "{}/{}: PROXY header not sent: {e}",
                        be.cfg.name,
                        server.cfg.name
                    );
                    return Err(Failed {
                        kind: FailKind::ConnectError,
                        server: Some(server),
                        queued,
                        retries,
                        queue_pos,
                    });
                }
                if let Conn::Tcp(stream) = &conn {
                    let _ = stream.set_nodelay(true);
                }
                if let Some(d) = &stick {
                    d.store(server.cfg.id, crate::clock::now_ms());
                }
                return Ok(Established {
                    conn,
                    slot: held,
                    queued,
                    connect: started.elapsed(),
                    retries,
                    redispatched,
                    queue_pos,
                });
            }
            Err(e) => {
                let kind = if e.kind() == std::io::ErrorKind::TimedOut {
                    FailKind::ConnectTimeout
                } else {
                    FailKind::ConnectError
                };
                if retries_left == 0 {
                    let server = Some(server);
                    return Err(Failed {
                        kind,
                        server,
                        queued,
                        retries,
                        queue_pos,
                    });
                }
                retries_left -= 1;
                retries += 1;
                // HAProxy's turn-around timer: don't hammer a restarting server, unless we
                // already waited a whole connect timeout.
                if kind == FailKind::ConnectError {
                    let pause = t_connect
                        .unwrap_or(Duration::from_secs(1))
                        .min(Duration::from_secs(1));
                    tokio::time::sleep(pause).await;
                }
                // `option redispatch`: the last retry (or any retry once the server is known
                // down) goes to another server.
                if be.cfg.redispatch && (retries_left == 0 || !server.is_usable()) {
                    exclude = Some(server);
                    redispatched = true;
                    drop(held);
                } else {
                    slot = Some(held);
                }
            }
        }
    }
}

/// Writes the PROXY protocol header describing the stream's client (unix clients, which
/// have no address, are announced as `UNKNOWN`/`LOCAL`, as HAProxy does).
pub(crate) async fn send_proxy_header(
    conn: &Conn,
    version: crate::config::model::ProxyVersion,
    sctx: &StreamCtx<'_>,
) -> std::io::Result<()> {
    let known = |a: SocketAddr| (!a.ip().is_unspecified() || a.port() != 0).then_some(a);
    let header = crate::proxy_protocol::header_for(version, known(sctx.src), known(sctx.dst));
    crate::proxy_protocol::write_header(conn, &header).await
}

/// The address to connect to for a server and a stream that reached `dst`.
pub fn server_addr(server: &ServerState, dst: SocketAddr) -> SocketAddr {
    let port = match server.cfg.port {
        ServerPort::Fixed(p) => p,
        ServerPort::SameAsClient => dst.port(),
        ServerPort::Offset(off) => {
            let p = i64::from(dst.port()) + i64::from(off);
            u16::try_from(p.rem_euclid(65536)).unwrap_or(0)
        }
    };
    SocketAddr::new(server.cfg.addr, port)
}

pub(crate) async fn connect(
    addr: SocketAddr,
    limit: Option<Duration>,
) -> std::io::Result<TcpStream> {
    match limit {
        Some(t) => tokio::time::timeout(t, TcpStream::connect(addr))
            .await
            .unwrap_or_else(|_| Err(std::io::ErrorKind::TimedOut.into())),
        None => TcpStream::connect(addr).await,
    }
}

/// A slot obtained by [`acquire`].
pub(crate) struct Acquired {
    /// The slot held on the chosen server.
    pub slot: ServerSlot,
    /// Time spent in a queue.
    pub waited: Duration,
    /// Connections ahead in the (server, backend) queue.
    pub queue_pos: (u32, u32),
}

/// Takes a slot on a server chosen by the backend's balancer, queueing when servers are full.
/// On failure, also says how many were ahead in the queue and how long it waited.
pub(crate) async fn acquire(
    ctx: &WorkerCtx,
    be_idx: usize,
    be: &Arc<BackendState>,
    sctx: &StreamCtx<'_>,
    exclude: Option<&Arc<ServerState>>,
    preferred: Option<Arc<ServerState>>,
) -> Result<Acquired, (FailKind, (u32, u32), Duration)> {
    let sticky = preferred.is_some();
    let pick = match preferred {
        Some(server) => Pick::Server(server),
        None => ctx.balancers.borrow_mut()[be_idx].pick(sctx, exclude),
    };
    let ahead = |q: &crate::backend::queue::Queue| u32::try_from(q.len()).unwrap_or(u32::MAX);
    let (rx, queue_pos) = match pick {
        Pick::NoServer => return Err((FailKind::NoServer, (0, 0), Duration::ZERO)),
        Pick::Server(server) => {
            if let Some(slot) = server.try_acquire() {
                return Ok(Acquired {
                    slot,
                    waited: Duration::ZERO,
                    queue_pos: (0, 0),
                });
            }
            if sticky || is_deterministic(&be.cfg.balance) {
                // The key maps to this server: wait for it, as HAProxy queues on the server.
                let pos = (ahead(&server.queue), 0);
                let rx = server.queue.join();
                // A slot freed between the check and the join would otherwise be missed.
                drop(server.try_acquire());
                (rx, pos)
            } else {
                let pos = (0, ahead(&be.queue));
                (join_backend_queue(be), pos)
            }
        }
        Pick::AllFull => {
            let pos = (0, ahead(&be.queue));
            (join_backend_queue(be), pos)
        }
    };
    let limit = be.cfg.timeouts.queue.or(be.cfg.timeouts.connect);
    let started = Instant::now();
    let got = match limit {
        Some(t) => match tokio::time::timeout(t, rx).await {
            Ok(got) => got,
            Err(_) => return Err((FailKind::QueueTimeout, queue_pos, started.elapsed())),
        },
        None => rx.await,
    };
    match got {
        Ok(slot) => Ok(Acquired {
            slot,
            waited: started.elapsed(),
            queue_pos,
        }),
        Err(_) => Err((FailKind::NoServer, queue_pos, started.elapsed())),
    }
}

fn join_backend_queue(be: &BackendState) -> oneshot::Receiver<ServerSlot> {
    let rx = be.queue.join();
    be.pump_queue();
    rx
}

/// Runs the backend's `stick` rules, if any: the server they remember (when it exists and
/// is usable) and the keys to store once a server is chosen.
pub(crate) fn stick_decision(
    ctx: &WorkerCtx,
    be: &BackendState,
    sctx: &StreamCtx<'_>,
) -> Option<crate::stick::rules::StickDecision> {
    if be.cfg.stick_rules.is_empty() {
        return None;
    }
    let usable = |id: u32| be.servers.iter().any(|s| s.cfg.id == id && s.is_usable());
    let now = crate::clock::now_ms();
    Some(crate::stick::rules::evaluate(
        &be.cfg.stick_rules,
        &ctx.shared.tables,
        sctx,
        now,
        usable,
    ))
}

/// Algorithms whose choice depends only on the key: a full server is waited for, not skipped.
fn is_deterministic(balance: &Balance) -> bool {
    matches!(
        balance,
        Balance::Source | Balance::Hash(_) | Balance::RdpCookie { .. }
    )
}
