//! Listening sockets: one SO_REUSEPORT socket per bind address and per worker, all opened
//! before anything starts so that a failing bind stops the start-up cleanly.
//!
//! With eBPF, each address's group of worker sockets is steered by the `sk_reuseport`
//! program (`steer` policy, queued connections migrated on close), and each address prefix
//! or port range is served by one socket per worker through `sk_lookup`. Without eBPF the
//! kernel hashes among the sockets and ranges are expanded into one socket per address and
//! port, up to [`MAX_EXPANDED_SOCKETS`].

use std::io;
use std::net::SocketAddr;
use std::os::unix::net::UnixListener as StdUnixListener;
use std::path::{Path, PathBuf};

use socket2::{Domain, Protocol, Socket, Type};

use crate::config::model::{Bind, BindAddr, BindRange, Config, SteerPolicy};
use crate::ebpf::{SteerBuilder, Steering, WorkerLoad};

/// Listen backlog when the frontend sets no `maxconn` (HAProxy uses maxconn as backlog).
const DEFAULT_BACKLOG: i32 = 1024;

/// Most sockets (per worker) one range element may expand into when `sk_lookup` is not
/// available: beyond it, `lb` refuses to start rather than open thousands of descriptors.
pub const MAX_EXPANDED_SOCKETS: u128 = 1024;

/// Where the kernel says whether closing listeners hand their queue over without a program.
const MIGRATE_SYSCTL: &str = "/proc/sys/net/ipv4/tcp_migrate_req";

/// A listening socket ready to hand to a worker.
#[derive(Debug)]
pub enum ListenSocket {
    /// TCP (IPv4 or IPv6).
    Tcp(std::net::TcpListener),
    /// Unix stream socket (shared by all workers: SO_REUSEPORT does not apply).
    Unix(StdUnixListener),
}

/// One listening socket with what it belongs to.
#[derive(Debug)]
pub struct Listener {
    /// Index of the frontend in `Config::frontends`.
    pub frontend: usize,
    /// 1-based number of the address among its frontend's (HAProxy's listener id).
    pub id: u32,
    /// `accept-proxy` on the bind line.
    pub accept_proxy: bool,
    /// The address it listens on (the first of a range served through `sk_lookup`).
    pub addr: BindAddr,
    /// The socket.
    pub socket: ListenSocket,
    /// The bind's `steer` policy.
    pub steer: SteerPolicy,
    /// Where the worker publishes its active connections (eBPF steering only).
    pub load: Option<WorkerLoad>,
}

/// A bind that failed, worded like HAProxy's alert.
#[derive(Debug, thiserror::Error)]
#[error("Starting frontend {frontend}: cannot bind socket ({source}) [{addr}]")]
pub struct BindError {
    /// Frontend name.
    pub frontend: String,
    /// The address, as text.
    pub addr: String,
    /// The OS error.
    #[source]
    pub source: io::Error,
}

/// Binding state: the sockets so far and the steering being set up.
struct Binder {
    workers: usize,
    per_worker: Vec<Vec<Listener>>,
    steer: Option<SteerBuilder>,
    /// Why eBPF steering is off, for range errors.
    no_steer: Option<String>,
}

/// Opens every listener for `workers` workers: `result[w]` holds worker `w`'s sockets.
pub fn bind_all(config: &Config, workers: usize) -> Result<Vec<Vec<Listener>>, BindError> {
    let binds = || config.frontends.iter().flat_map(|f| &f.binds);
    let ranges = binds().any(|b| !b.ranges.is_empty());
    let tcp = ranges || binds().any(|b| b.addrs.iter().any(|a| matches!(a, BindAddr::Tcp(_))));
    let (steer, no_steer) = if tcp {
        match SteerBuilder::load(workers, ranges) {
            Ok(b) => (Some(b), None),
            Err(e) => {
                log_fallback(&e.to_string());
                (None, Some(e.to_string()))
            }
        }
    } else {
        (None, None)
    };
    let mut binder = Binder {
        workers,
        per_worker: (0..workers).map(|_| Vec::new()).collect(),
        steer,
        no_steer,
    };
    for (fe_idx, fe) in config.frontends.iter().enumerate() {
        let backlog = fe
            .maxconn
            .and_then(|m| i32::try_from(m).ok())
            .unwrap_or(DEFAULT_BACKLOG)
            .max(16);
        let mut id = 0u32;
        for bind in &fe.binds {
            let ctx = BindCtx {
                frontend: fe_idx,
                name: &fe.name,
                bind,
                backlog,
            };
            for addr in &bind.addrs {
                id += 1;
                binder.bind_addr(&ctx, id, addr)?;
            }
            for range in &bind.ranges {
                binder.bind_range(&ctx, &mut id, range)?;
            }
        }
    }
    Ok(binder.finish())
}

/// What every socket of one `bind` line shares.
struct BindCtx<'a> {
    frontend: usize,
    name: &'a str,
    bind: &'a Bind,
    backlog: i32,
}

impl BindCtx<'_> {
    fn fail(&self, addr: String) -> impl FnOnce(io::Error) -> BindError {
        let frontend = self.name.to_owned();
        move |source| BindError {
            frontend,
            addr,
            source,
        }
    }

    fn listener(&self, id: u32, addr: BindAddr, socket: ListenSocket) -> Listener {
        Listener {
            frontend: self.frontend,
            id,
            accept_proxy: self.bind.accept_proxy,
            addr,
            socket,
            steer: self.bind.steer,
            load: None,
        }
    }
}

impl Binder {
    fn bind_addr(&mut self, ctx: &BindCtx<'_>, id: u32, addr: &BindAddr) -> Result<(), BindError> {
        let fail = ctx.fail(bind_addr_text(addr));
        match addr {
            BindAddr::Tcp(sa) => self.bind_group(ctx, id, *sa),
            BindAddr::Unix(path) => {
                let socket = bind_unix(path).map_err(fail)?;
                for w in 0..self.workers {
                    let clone = socket.try_clone().map_err(ctx.fail(bind_addr_text(addr)))?;
                    let l = ctx.listener(id, addr.clone(), ListenSocket::Unix(clone));
                    self.per_worker[w].push(l);
                }
                Ok(())
            }
        }
    }

    /// One socket per worker on `sa`, steered as one group.
    fn bind_group(&mut self, ctx: &BindCtx<'_>, id: u32, sa: SocketAddr) -> Result<(), BindError> {
        let sockets = (0..self.workers)
            .map(|_| bind_tcp(sa, ctx.backlog, false))
            .collect::<io::Result<Vec<_>>>()
            .map_err(ctx.fail(sa.to_string()))?;
        if let Some(steer) = &mut self.steer
            && let Err(e) = steer.add_group(&sockets, ctx.bind.steer)
        {
            tracing::warn!("frontend {}: {sa}: kernel reuseport hashing: {e}", ctx.name);
        }
        self.push_tcp(ctx, id, BindAddr::Tcp(sa), sockets);
        Ok(())
    }

    fn push_tcp(
        &mut self,
        ctx: &BindCtx<'_>,
        id: u32,
        addr: BindAddr,
        sockets: Vec<std::net::TcpListener>,
    ) {
        for (w, socket) in sockets.into_iter().enumerate() {
            let l = ctx.listener(id, addr.clone(), ListenSocket::Tcp(socket));
            self.per_worker[w].push(l);
        }
    }

    /// A prefix or port range: one socket per worker through `sk_lookup`, else expanded.
    fn bind_range(
        &mut self,
        ctx: &BindCtx<'_>,
        id: &mut u32,
        range: &BindRange,
    ) -> Result<(), BindError> {
        if let Some(steer) = &mut self.steer {
            let first = range.first();
            // The range's own socket need not be on a local address: sk_lookup feeds it.
            let sockets = (0..self.workers)
                .map(|_| bind_tcp(first, ctx.backlog, !range.is_wildcard()))
                .collect::<io::Result<Vec<_>>>()
                .map_err(ctx.fail(range.to_string()))?;
            match steer.add_range(range, &sockets, ctx.bind.steer) {
                Ok(()) => {
                    *id += 1;
                    self.push_tcp(ctx, *id, BindAddr::Tcp(first), sockets);
                    return Ok(());
                }
                Err(e) => {
                    tracing::warn!("frontend {}: {range}: one socket per port: {e}", ctx.name);
                    self.no_steer = Some(e.to_string());
                }
            }
        }
        let count = range.socket_count();
        if count > MAX_EXPANDED_SOCKETS {
            let why = self.no_steer.as_deref().unwrap_or("sk_lookup failed");
            let msg = format!(
                "{range} needs {count} sockets per worker without eBPF sk_lookup, more than \
                 the limit of {MAX_EXPANDED_SOCKETS} ({why})"
            );
            return Err(ctx.fail(range.to_string())(io::Error::new(
                io::ErrorKind::InvalidInput,
                msg,
            )));
        }
        for sa in range.expand() {
            *id += 1;
            self.bind_group(ctx, *id, sa)?;
        }
        Ok(())
    }

    /// Attaches `sk_lookup`, hands each worker its load counter.
    fn finish(mut self) -> Vec<Vec<Listener>> {
        let Some(steer) = self.steer.take() else {
            return self.per_worker;
        };
        let steering: Steering = steer.finish();
        tracing::info!(
            "eBPF steering: sk_reuseport on every TCP bind, {} range(s) through sk_lookup",
            steering.ranges()
        );
        for (w, listeners) in self.per_worker.iter_mut().enumerate() {
            let load = steering.worker_load(w);
            for l in listeners.iter_mut() {
                l.load.clone_from(&load);
            }
        }
        self.per_worker
    }
}

/// The one line saying that the kernel, not our program, spreads connections.
fn log_fallback(why: &str) {
    let migrate = std::fs::read_to_string(MIGRATE_SYSCTL).is_ok_and(|v| v.trim() == "1");
    let queued = if migrate {
        "queued connections of a closing listener move to the others (tcp_migrate_req=1)"
    } else {
        "queued connections of a closing listener are reset (sysctl net.ipv4.tcp_migrate_req=1 moves them)"
    };
    tracing::info!(
        "eBPF steering unavailable ({why}): the kernel's reuseport hash spreads connections, \
         ranges are expanded into one socket per port (at most {MAX_EXPANDED_SOCKETS}), {queued}"
    );
}

/// A bind address as HAProxy prints it.
pub fn bind_addr_text(addr: &BindAddr) -> String {
    match addr {
        BindAddr::Tcp(sa) => sa.to_string(),
        BindAddr::Unix(p) => format!("unix@{}", p.display()),
    }
}

fn bind_tcp(addr: SocketAddr, backlog: i32, freebind: bool) -> io::Result<std::net::TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    if freebind {
        if addr.is_ipv6() {
            socket.set_freebind_v6(true)?;
        } else {
            socket.set_freebind_v4(true)?;
        }
    }
    // One socket per worker on the same address: the kernel (or later our sk_reuseport
    // program) spreads new connections among them.
    socket.set_reuse_port(true)?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.set_nonblocking(true)?;
    socket.set_cloexec(true)?;
    socket.bind(&addr.into())?;
    socket.listen(backlog)?;
    Ok(socket.into())
}

fn bind_unix(path: &Path) -> io::Result<StdUnixListener> {
    remove_stale_socket(path)?;
    let listener = StdUnixListener::bind(path)?;
    listener.set_nonblocking(true)?;
    Ok(listener)
}

/// Removes a socket file left by a previous run, but never a live socket or another file.
pub(crate) fn remove_stale_socket(path: &Path) -> io::Result<()> {
    use std::os::unix::fs::FileTypeExt;
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return Ok(());
    };
    if !meta.file_type().is_socket() {
        return Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            format!("{} exists and is not a socket", path.display()),
        ));
    }
    if std::os::unix::net::UnixStream::connect(path).is_ok() {
        return Err(io::Error::new(
            io::ErrorKind::AddrInUse,
            "a live socket is already bound there",
        ));
    }
    std::fs::remove_file(path)
}

/// Removes unix socket files on exit.
pub fn cleanup_unix_sockets(config: &Config) {
    let paths: Vec<&PathBuf> = config
        .frontends
        .iter()
        .flat_map(|f| f.binds.iter().flat_map(|b| b.addrs.iter()))
        .filter_map(|a| match a {
            BindAddr::Unix(p) => Some(p),
            BindAddr::Tcp(_) => None,
        })
        .collect();
    for path in paths {
        let _ = std::fs::remove_file(path);
    }
}
