//! The I/O edge of the runtime API: `stats socket` listeners on a thread of their own.
//!
//! Sockets are bound at start-up with the other listeners ([`bind_all`]), so that a
//! socket that cannot be bound stops the start-up as a `bind` line would. [`spawn`] then
//! serves them from one thread running a current-thread tokio runtime: commands take
//! short locks at most, and a slow or stuck client only ever holds its own task. At most
//! `stats maxconn` connections are served at once; `stats timeout` (or the connection's
//! `set timeout cli`) closes idle ones.

use std::ffi::OsString;
use std::io;
use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixListener as StdUnixListener;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use socket2::{Domain, Protocol, Socket, Type};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, UnixListener};
use tokio::sync::{Semaphore, oneshot};

use super::{Level, RuntimeState, Session, Step};
use crate::config::model::{BindAddr, Global, StatsSocket};
use crate::worker::listener::{bind_addr_text, remove_stale_socket};

/// `stats timeout` default, as HAProxy.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// `stats maxconn` default, as HAProxy.
pub const DEFAULT_MAXCONN: u32 = 10;
/// Longest unix socket path (`sun_path` holds 108 bytes with the NUL).
const MAX_UNIX_PATH: usize = 107;
/// How long a closing connection may take to send its last bytes before the close.
const LINGER: Duration = Duration::from_secs(1);

/// A `stats socket` that could not be bound, worded like HAProxy's alert.
#[derive(Debug, thiserror::Error)]
#[error("Starting proxy GLOBAL: cannot bind socket ({source}) [{addr}]")]
pub struct BindError {
    /// The address, as text.
    pub addr: String,
    /// The OS error.
    #[source]
    pub source: io::Error,
}

/// A bound `stats socket`.
#[derive(Debug)]
pub struct CliSocket {
    cfg: StatsSocket,
    listener: Bound,
}

#[derive(Debug)]
enum Bound {
    Unix(StdUnixListener),
    Tcp(std::net::TcpListener),
}

impl CliSocket {
    /// The socket's configuration line.
    pub fn cfg(&self) -> &StatsSocket {
        &self.cfg
    }

    /// The TCP address it listens on (with the port the system chose for port 0).
    pub fn local_tcp_addr(&self) -> Option<SocketAddr> {
        match &self.listener {
            Bound::Tcp(l) => l.local_addr().ok(),
            Bound::Unix(_) => None,
        }
    }
}

/// Binds every `stats socket` of the global section.
pub fn bind_all(global: &Global) -> Result<Vec<CliSocket>, BindError> {
    global
        .stats_sockets
        .iter()
        .map(|cfg| {
            let fail = |source| BindError {
                addr: bind_addr_text(&cfg.addr),
                source,
            };
            let listener = match &cfg.addr {
                BindAddr::Unix(path) => Bound::Unix(bind_unix(path, cfg.mode).map_err(fail)?),
                BindAddr::Tcp(sa) => Bound::Tcp(bind_tcp(*sa).map_err(fail)?),
            };
            Ok(CliSocket {
                cfg: cfg.clone(),
                listener,
            })
        })
        .collect()
}

/// Binds a unix socket with its permissions already set: bound under a temporary name,
/// `chmod`ed, then renamed into place (as HAProxy does), so that nobody can connect while
/// it still has the umask's permissions.
fn bind_unix(path: &Path, mode: Option<u32>) -> io::Result<StdUnixListener> {
    remove_stale_socket(path)?;
    let mut tmp = OsString::from(path.as_os_str());
    tmp.push(format!(".{}.tmp", std::process::id()));
    let tmp = PathBuf::from(tmp);
    let listener = if tmp.as_os_str().len() <= MAX_UNIX_PATH {
        let _ = std::fs::remove_file(&tmp);
        let listener = StdUnixListener::bind(&tmp)?;
        let placed = chmod(&tmp, mode).and_then(|()| std::fs::rename(&tmp, path));
        if let Err(e) = placed {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
        listener
    } else {
        let listener = StdUnixListener::bind(path)?;
        chmod(path, mode)?;
        listener
    };
    listener.set_nonblocking(true)?;
    Ok(listener)
}

fn chmod(path: &Path, mode: Option<u32>) -> io::Result<()> {
    match mode {
        Some(m) => std::fs::set_permissions(path, std::fs::Permissions::from_mode(m)),
        None => Ok(()),
    }
}

fn bind_tcp(addr: SocketAddr) -> io::Result<std::net::TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.set_nonblocking(true)?;
    socket.set_cloexec(true)?;
    socket.bind(&addr.into())?;
    socket.listen(128)?;
    Ok(socket.into())
}

/// How connections are served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CliSettings {
    /// Inactivity timeout (`stats timeout`).
    pub timeout: Duration,
    /// Concurrent connections (`stats maxconn`).
    pub maxconn: u32,
    /// Longest request or payload, in bytes (`tune.bufsize`, as HAProxy).
    pub max_request: usize,
}

impl CliSettings {
    /// The settings of a global section.
    pub fn of(global: &Global) -> Self {
        Self {
            timeout: global.stats_timeout.unwrap_or(DEFAULT_TIMEOUT),
            maxconn: global.stats_maxconn.unwrap_or(DEFAULT_MAXCONN),
            max_request: global.bufsize.max(1024),
        }
    }
}

/// Keeps the runtime API thread running; [`CliHandle::stop`] or dropping it stops it and
/// removes its unix socket files.
#[derive(Debug)]
pub struct CliHandle {
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
    paths: Vec<PathBuf>,
}

impl CliHandle {
    /// Stops serving, waits for the thread, removes the socket files.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        for path in self.paths.drain(..) {
            let _ = std::fs::remove_file(path);
        }
    }
}

impl Drop for CliHandle {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Serves `sockets` on a new thread until the handle is stopped or dropped.
pub fn spawn(
    sockets: Vec<CliSocket>,
    state: Arc<RuntimeState>,
    settings: CliSettings,
) -> io::Result<CliHandle> {
    let paths = sockets
        .iter()
        .filter_map(|s| match &s.cfg.addr {
            BindAddr::Unix(p) => Some(p.clone()),
            BindAddr::Tcp(_) => None,
        })
        .collect();
    let (stop_tx, stop_rx) = oneshot::channel();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let thread = std::thread::Builder::new()
        .name("lb-cli".into())
        .spawn(move || {
            runtime.block_on(async move {
                let slots = Arc::new(Semaphore::new(
                    usize::try_from(settings.maxconn).unwrap_or(usize::MAX),
                ));
                for socket in sockets {
                    let serving =
                        accept_loop(socket, Arc::clone(&state), Arc::clone(&slots), settings);
                    tokio::spawn(async move {
                        if let Err(e) = serving.await {
                            tracing::error!("runtime API socket stopped: {e}");
                        }
                    });
                }
                let _ = stop_rx.await;
            });
            // Dropping the runtime here cancels every connection still open.
        })?;
    Ok(CliHandle {
        stop: Some(stop_tx),
        thread: Some(thread),
        paths,
    })
}

async fn accept_loop(
    socket: CliSocket,
    state: Arc<RuntimeState>,
    slots: Arc<Semaphore>,
    settings: CliSettings,
) -> io::Result<()> {
    let level = socket.cfg.level;
    match socket.listener {
        Bound::Unix(l) => {
            let listener = UnixListener::from_std(l)?;
            loop {
                let Ok(slot) = Arc::clone(&slots).acquire_owned().await else {
                    return Ok(());
                };
                match listener.accept().await {
                    Ok((stream, _)) => {
                        let state = Arc::clone(&state);
                        tokio::spawn(async move {
                            serve(stream, level, &state, settings).await;
                            drop(slot);
                        });
                    }
                    Err(e) => accept_error(&e).await,
                }
            }
        }
        Bound::Tcp(l) => {
            let listener = TcpListener::from_std(l)?;
            loop {
                let Ok(slot) = Arc::clone(&slots).acquire_owned().await else {
                    return Ok(());
                };
                match listener.accept().await {
                    Ok((stream, _)) => {
                        let _ = stream.set_nodelay(true);
                        let state = Arc::clone(&state);
                        tokio::spawn(async move {
                            serve(stream, level, &state, settings).await;
                            drop(slot);
                        });
                    }
                    Err(e) => accept_error(&e).await,
                }
            }
        }
    }
}

/// Out of descriptors or a similar transient failure: pause rather than spin.
async fn accept_error(e: &io::Error) {
    tracing::warn!("runtime API: accept failed: {e}");
    tokio::time::sleep(Duration::from_millis(100)).await;
}

/// Runs one connection to its end.
async fn serve<S>(mut stream: S, level: Level, state: &RuntimeState, settings: CliSettings)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut session = Session::new(level, settings.max_request);
    let mut buf = vec![0u8; 4096];
    loop {
        let idle = session.timeout().unwrap_or(settings.timeout);
        match session.step(state, crate::clock::now_ms()) {
            Step::Write(text) => {
                let write = stream.write_all(text.as_bytes());
                if !matches!(tokio::time::timeout(idle, write).await, Ok(Ok(()))) {
                    return;
                }
            }
            Step::Close(text) => {
                let write = stream.write_all(text.as_bytes());
                if matches!(tokio::time::timeout(idle, write).await, Ok(Ok(()))) {
                    let _ = tokio::time::timeout(LINGER, stream.shutdown()).await;
                    // Closing with unread bytes would reset the connection and could
                    // destroy the response in flight: read what is left, briefly.
                    let drain =
                        async { while matches!(stream.read(&mut buf).await, Ok(n) if n > 0) {} };
                    let _ = tokio::time::timeout(LINGER.min(idle), drain).await;
                }
                return;
            }
            Step::Read => match tokio::time::timeout(idle, stream.read(&mut buf)).await {
                Ok(Ok(0)) => session.end_of_input(),
                Ok(Ok(n)) => session.receive(&buf[..n]),
                Ok(Err(_)) | Err(_) => return,
            },
        }
    }
}

#[cfg(test)]
mod tests;
