//! Listening sockets: one SO_REUSEPORT socket per bind address and per worker, all opened
//! before anything starts so that a failing bind stops the start-up cleanly.

use std::io;
use std::net::SocketAddr;
use std::os::unix::net::UnixListener as StdUnixListener;
use std::path::{Path, PathBuf};

use socket2::{Domain, Protocol, Socket, Type};

use crate::config::model::{BindAddr, Config};

/// Listen backlog when the frontend sets no `maxconn` (HAProxy uses maxconn as backlog).
const DEFAULT_BACKLOG: i32 = 1024;

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
    /// The address it listens on.
    pub addr: BindAddr,
    /// The socket.
    pub socket: ListenSocket,
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

/// Opens every listener for `workers` workers: `result[w]` holds worker `w`'s sockets.
pub fn bind_all(config: &Config, workers: usize) -> Result<Vec<Vec<Listener>>, BindError> {
    let mut per_worker: Vec<Vec<Listener>> = (0..workers).map(|_| Vec::new()).collect();
    for (fe_idx, fe) in config.frontends.iter().enumerate() {
        let backlog = fe
            .maxconn
            .and_then(|m| i32::try_from(m).ok())
            .unwrap_or(DEFAULT_BACKLOG)
            .max(16);
        let addrs = fe
            .binds
            .iter()
            .flat_map(|b| b.addrs.iter().map(|a| (a, b.accept_proxy)));
        for (id, (addr, accept_proxy)) in addrs.enumerate() {
            let id = u32::try_from(id + 1).unwrap_or(u32::MAX);
            let fail = |source| BindError {
                frontend: fe.name.clone(),
                addr: bind_addr_text(addr),
                source,
            };
            match addr {
                BindAddr::Tcp(sa) => {
                    for listeners in &mut per_worker {
                        let socket = bind_tcp(*sa, backlog).map_err(fail)?;
                        listeners.push(Listener {
                            frontend: fe_idx,
                            id,
                            accept_proxy,
                            addr: addr.clone(),
                            socket: ListenSocket::Tcp(socket),
                        });
                    }
                }
                BindAddr::Unix(path) => {
                    let socket = bind_unix(path).map_err(fail)?;
                    for listeners in &mut per_worker {
                        let clone = socket.try_clone().map_err(fail)?;
                        listeners.push(Listener {
                            frontend: fe_idx,
                            id,
                            accept_proxy,
                            addr: addr.clone(),
                            socket: ListenSocket::Unix(clone),
                        });
                    }
                }
            }
        }
    }
    Ok(per_worker)
}

/// A bind address as HAProxy prints it.
pub fn bind_addr_text(addr: &BindAddr) -> String {
    match addr {
        BindAddr::Tcp(sa) => sa.to_string(),
        BindAddr::Unix(p) => format!("unix@{}", p.display()),
    }
}

fn bind_tcp(addr: SocketAddr, backlog: i32) -> io::Result<std::net::TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
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
