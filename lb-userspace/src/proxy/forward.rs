//! Full-duplex forwarding between a client and a server: half-closes propagated, inactivity
//! timeouts per side (with the `-fin` variants once a direction is shut), bounded memory,
//! and splice(2) zero-copy between TCP sockets with a copy fallback.

use std::cell::Cell;
use std::future::Future;
use std::io;
use std::os::fd::AsRawFd;
use std::time::Duration;

use tokio::io::Interest;
use tokio::time::Instant;

use crate::proxy::conn::Conn;
use crate::sys::pipe::{Pipe, PipePool};

/// Which end of a proxied connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The client.
    Client,
    /// The server.
    Server,
}

/// How a forwarding ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// Both directions finished normally.
    Done,
    /// A read or write on that side failed (reset, broken pipe).
    Error(Side),
    /// That side was inactive for longer than its timeout.
    Timeout(Side),
    /// Stopped by the process (hard stop).
    Killed,
}

/// Timeouts and buffers of one forwarding, already resolved (`timeout tunnel` applied).
#[derive(Debug, Clone, Copy)]
pub struct ForwardCfg {
    /// Client-side inactivity.
    pub client: Option<Duration>,
    /// Server-side inactivity.
    pub server: Option<Duration>,
    /// Client-side inactivity once a direction is shut.
    pub client_fin: Option<Duration>,
    /// Server-side inactivity once a direction is shut.
    pub server_fin: Option<Duration>,
    /// Copy buffer size per direction (`tune.bufsize`).
    pub bufsize: usize,
    /// Use splice(2) between TCP sockets.
    pub splice: bool,
    /// Pipe size for splice (`tune.pipesize`).
    pub pipesize: Option<usize>,
}

/// What a forwarding did.
#[derive(Debug, Clone, Copy)]
pub struct Outcome {
    /// Bytes from client to server.
    pub bytes_in: u64,
    /// Bytes from server to client.
    pub bytes_out: u64,
    /// Why it ended.
    pub end: End,
}

/// Last activity per side, shared by the two pumps and the watchdog of one connection.
struct Activity {
    client: Cell<Instant>,
    server: Cell<Instant>,
    /// We shut our write side toward the client (the server finished first).
    shut_to_client: Cell<bool>,
    /// We shut our write side toward the server (the client finished first).
    shut_to_server: Cell<bool>,
    bytes_in: Cell<u64>,
    bytes_out: Cell<u64>,
}

impl Activity {
    fn touch(&self, side: Side) {
        let now = Instant::now();
        match side {
            Side::Client => self.client.set(now),
            Side::Server => self.server.set(now),
        }
    }

    fn add_bytes(&self, to: Side, n: usize) {
        let cell = match to {
            Side::Server => &self.bytes_in,
            Side::Client => &self.bytes_out,
        };
        cell.set(cell.get() + n as u64);
    }
}

/// Forwards both directions until both are finished, one side fails or times out, or `stop`
/// completes.
pub async fn forward(
    client: &Conn,
    server: &Conn,
    cfg: &ForwardCfg,
    pipes: &PipePool,
    stop: impl Future<Output = ()>,
) -> Outcome {
    let now = Instant::now();
    let act = Activity {
        client: Cell::new(now),
        server: Cell::new(now),
        shut_to_client: Cell::new(false),
        shut_to_server: Cell::new(false),
        bytes_in: Cell::new(0),
        bytes_out: Cell::new(0),
    };
    let c2s = pump(client, server, Side::Client, &act, cfg, pipes);
    let s2c = pump(server, client, Side::Server, &act, cfg, pipes);
    let dog = watchdog(&act, cfg);
    tokio::pin!(c2s, s2c, dog, stop);
    let (mut c2s_done, mut s2c_done) = (false, false);
    let end = loop {
        tokio::select! {
            r = &mut c2s, if !c2s_done => match r {
                Ok(()) => {
                    c2s_done = true;
                    if s2c_done { break End::Done }
                    // `server-fin` applies from now on: restart the watchdog with it.
                    act.shut_to_server.set(true);
                    dog.set(watchdog(&act, cfg));
                }
                Err(side) => break End::Error(side),
            },
            r = &mut s2c, if !s2c_done => match r {
                Ok(()) => {
                    s2c_done = true;
                    if c2s_done { break End::Done }
                    // `client-fin` applies from now on: restart the watchdog with it.
                    act.shut_to_client.set(true);
                    dog.set(watchdog(&act, cfg));
                }
                Err(side) => break End::Error(side),
            },
            side = &mut dog => break End::Timeout(side),
            () = &mut stop => break End::Killed,
        }
    };
    Outcome {
        bytes_in: act.bytes_in.get(),
        bytes_out: act.bytes_out.get(),
        end,
    }
}

fn other(side: Side) -> Side {
    match side {
        Side::Client => Side::Server,
        Side::Server => Side::Client,
    }
}

/// One direction, from `from`'s socket `src` to the other side's `dst`. On end of stream the
/// half-close is propagated. The error names the side whose socket failed.
async fn pump(
    src: &Conn,
    dst: &Conn,
    from: Side,
    act: &Activity,
    cfg: &ForwardCfg,
    pipes: &PipePool,
) -> Result<(), Side> {
    if cfg.splice && src.is_tcp() && dst.is_tcp() {
        // A failure to make a pipe (fd limit) is not fatal: copying works too.
        if let Ok(pipe) = pipes.get() {
            let mut pipe = PooledPipe {
                pipe: Some(pipe),
                pool: pipes,
                holds_data: false,
            };
            let cap = cfg.pipesize.unwrap_or(65536);
            return splice_pump(src, dst, from, act, &mut pipe, cap).await;
        }
    }
    copy_pump(src, dst, from, act, cfg.bufsize).await
}

async fn copy_pump(
    src: &Conn,
    dst: &Conn,
    from: Side,
    act: &Activity,
    bufsize: usize,
) -> Result<(), Side> {
    let to = other(from);
    let mut buf = vec![0u8; bufsize.max(1024)];
    // Bytes may already wait on the socket while tokio believes it is not readable (rule
    // inspection and PROXY header parsing peek at it): read straight from the kernel until
    // it says "would block", and only then rely on readiness events.
    let mut direct = true;
    loop {
        let n = loop {
            let read = if direct {
                src.read_direct(&mut buf)
            } else {
                src.try_read(&mut buf)
            };
            match read {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock && direct => direct = false,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    src.readable().await.map_err(|_| from)?;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return Err(from),
            }
        };
        if n == 0 {
            dst.shutdown_write().map_err(|_| to)?;
            return Ok(());
        }
        act.touch(from);
        let mut off = 0;
        while off < n {
            match dst.try_write(&buf[off..n]) {
                Ok(w) => {
                    off += w;
                    act.add_bytes(to, w);
                    act.touch(to);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    dst.writable().await.map_err(|_| to)?;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return Err(to),
            }
        }
    }
}

/// A pipe borrowed from the worker's pool; it goes back only if it holds no data (a pipe
/// abandoned mid-transfer, e.g. on an error or a timeout, is closed).
struct PooledPipe<'a> {
    pipe: Option<Pipe>,
    pool: &'a PipePool,
    holds_data: bool,
}

impl Drop for PooledPipe<'_> {
    fn drop(&mut self) {
        if let Some(pipe) = self.pipe.take()
            && !self.holds_data
        {
            self.pool.put(pipe);
        }
    }
}

/// Result of one attempt to move socket data into the pipe.
enum Fill {
    Moved(usize),
    Eof,
    /// EAGAIN while the pipe held data: the pipe may be full, so the socket's readiness is
    /// kept (clearing it could lose the wake-up for data already queued).
    PipeFull,
}

async fn splice_pump(
    src: &Conn,
    dst: &Conn,
    from: Side,
    act: &Activity,
    pooled: &mut PooledPipe<'_>,
    cap: usize,
) -> Result<(), Side> {
    let Some(pipe) = pooled.pipe.take() else {
        return Err(from);
    };
    let result = splice_loop(src, dst, from, act, &pipe, cap, &mut pooled.holds_data).await;
    pooled.pipe = Some(pipe);
    result
}

async fn splice_loop(
    src: &Conn,
    dst: &Conn,
    from: Side,
    act: &Activity,
    pipe: &Pipe,
    cap: usize,
    holds_data: &mut bool,
) -> Result<(), Side> {
    let to = other(from);
    let (mut in_pipe, mut eof, mut pipe_full) = (0usize, false, false);
    let mut direct = true;
    loop {
        let mut progressed = false;
        if !eof && !pipe_full && in_pipe < cap {
            let held = in_pipe;
            let splice = || match pipe.fill_from(src.as_raw_fd(), cap - held) {
                Ok(0) => Ok(Fill::Eof),
                Ok(n) => Ok(Fill::Moved(n)),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock && held > 0 => Ok(Fill::PipeFull),
                Err(e) => Err(e),
            };
            // As in `copy_pump`: straight to the kernel until it says "would block", since
            // inspected bytes may wait while tokio thinks the socket is not readable.
            let fill = if direct {
                let fill = splice();
                if matches!(&fill, Err(e) if e.kind() == io::ErrorKind::WouldBlock) {
                    direct = false;
                }
                fill
            } else {
                src.try_io(Interest::READABLE, splice)
            };
            match fill {
                Ok(Fill::Moved(n)) => {
                    in_pipe += n;
                    *holds_data = true;
                    act.touch(from);
                    progressed = true;
                }
                Ok(Fill::Eof) => {
                    eof = true;
                    progressed = true;
                }
                Ok(Fill::PipeFull) => pipe_full = true,
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                    ) => {}
                Err(_) => return Err(from),
            }
        }
        if in_pipe > 0 {
            match dst.try_io(Interest::WRITABLE, || {
                pipe.drain_to(dst.as_raw_fd(), in_pipe)
            }) {
                Ok(n) => {
                    in_pipe -= n;
                    *holds_data = in_pipe > 0;
                    act.add_bytes(to, n);
                    act.touch(to);
                    pipe_full = false;
                    progressed = true;
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                    ) => {}
                Err(_) => return Err(to),
            }
        }
        if eof && in_pipe == 0 {
            dst.shutdown_write().map_err(|_| to)?;
            return Ok(());
        }
        if !progressed {
            let want_read = !eof && !pipe_full && in_pipe < cap;
            let want_write = in_pipe > 0;
            tokio::select! {
                r = src.readable(), if want_read => r.map_err(|_| from)?,
                r = dst.writable(), if want_write => r.map_err(|_| to)?,
            }
        }
    }
}

/// The inactivity timeout of one side: its `-fin` variant once we have shut our write side
/// toward it and wait for it to finish (HAProxy's guard against peers lingering in
/// FIN_WAIT), its normal one otherwise.
fn side_timeout(act: &Activity, cfg: &ForwardCfg, side: Side) -> Option<Duration> {
    match side {
        Side::Client if act.shut_to_client.get() => cfg.client_fin.or(cfg.client),
        Side::Client => cfg.client,
        Side::Server if act.shut_to_server.get() => cfg.server_fin.or(cfg.server),
        Side::Server => cfg.server,
    }
}

/// Resolves when one side has been inactive for longer than its timeout; names that side.
async fn watchdog(act: &Activity, cfg: &ForwardCfg) -> Side {
    loop {
        let client =
            side_timeout(act, cfg, Side::Client).map(|t| (act.client.get() + t, Side::Client));
        let server =
            side_timeout(act, cfg, Side::Server).map(|t| (act.server.get() + t, Side::Server));
        let next = match (client, server) {
            (Some(c), Some(s)) => Some(if c.0 <= s.0 { c } else { s }),
            (c, s) => c.or(s),
        };
        let Some((deadline, side)) = next else {
            // No timeout applies yet; a half-close may arm a `-fin` timeout later.
            tokio::time::sleep(Duration::from_secs(1)).await;
            continue;
        };
        tokio::time::sleep_until(deadline).await;
        // Activity may have moved the deadline while we slept: only fire if it still holds.
        let last = match side {
            Side::Client => act.client.get(),
            Side::Server => act.server.get(),
        };
        if let Some(t) = side_timeout(act, cfg, side)
            && Instant::now() >= last + t
        {
            return side;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};

    use super::*;

    /// Two connected socket pairs: (client app, proxy's client side, proxy's server side,
    /// server app).
    async fn rig() -> (TcpStream, Conn, Conn, TcpStream) {
        let l1 = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let l2 = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = TcpStream::connect(l1.local_addr().unwrap()).await.unwrap();
        let (front, _) = l1.accept().await.unwrap();
        let back = TcpStream::connect(l2.local_addr().unwrap()).await.unwrap();
        let (server, _) = l2.accept().await.unwrap();
        (client, Conn::Tcp(front), Conn::Tcp(back), server)
    }

    fn cfg(splice: bool) -> ForwardCfg {
        ForwardCfg {
            client: Some(Duration::from_secs(5)),
            server: Some(Duration::from_secs(5)),
            client_fin: None,
            server_fin: None,
            bufsize: 16384,
            splice,
            pipesize: None,
        }
    }

    fn pattern(len: usize, seed: u8) -> Vec<u8> {
        (0..len)
            .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
            .collect()
    }

    /// Sends `data` then half-closes, while reading everything the peer sends.
    async fn exchange(mut s: TcpStream, data: Vec<u8>) -> Vec<u8> {
        let (mut r, mut w) = s.split();
        let send = async {
            w.write_all(&data).await.unwrap();
            w.shutdown().await.unwrap();
        };
        let mut got = Vec::new();
        let recv = r.read_to_end(&mut got);
        let ((), n) = tokio::join!(send, recv);
        n.unwrap();
        got
    }

    async fn full_duplex(splice: bool) {
        let (client, front, back, server) = rig().await;
        let up = pattern(3 << 20, 1);
        let down = pattern(5 << 20, 7);
        let c = tokio::spawn(exchange(client, up.clone()));
        let s = tokio::spawn(exchange(server, down.clone()));
        let pool = PipePool::new(8, None);
        let out = forward(&front, &back, &cfg(splice), &pool, std::future::pending()).await;
        assert_eq!(out.end, End::Done);
        assert_eq!(out.bytes_in, up.len() as u64);
        assert_eq!(out.bytes_out, down.len() as u64);
        assert!(
            c.await.unwrap() == down,
            "client got the server's bytes intact"
        );
        assert!(
            s.await.unwrap() == up,
            "server got the client's bytes intact"
        );
        if splice {
            assert_eq!(pool.idle(), 2, "both pipes went back to the pool");
        }
    }

    #[tokio::test]
    async fn full_duplex_with_half_close_splice() {
        full_duplex(true).await;
    }

    #[tokio::test]
    async fn full_duplex_with_half_close_copy() {
        full_duplex(false).await;
    }

    #[tokio::test]
    async fn inactive_client_times_out_on_the_client_side() {
        let (_client, front, back, _server) = rig().await;
        let mut c = cfg(true);
        c.client = Some(Duration::from_millis(100));
        let pool = PipePool::new(8, None);
        let started = tokio::time::Instant::now();
        let out = forward(&front, &back, &c, &pool, std::future::pending()).await;
        assert_eq!(out.end, End::Timeout(Side::Client));
        assert!(started.elapsed() >= Duration::from_millis(100));
    }

    #[tokio::test]
    async fn activity_on_a_side_refreshes_its_timeout() {
        let (mut client, front, back, _server) = rig().await;
        let mut c = cfg(false);
        c.client = Some(Duration::from_millis(300));
        c.server = Some(Duration::from_millis(900));
        let talker = tokio::spawn(async move {
            for _ in 0..5 {
                tokio::time::sleep(Duration::from_millis(100)).await;
                client.write_all(b"x").await.unwrap();
            }
            client
        });
        let pool = PipePool::new(8, None);
        let started = tokio::time::Instant::now();
        // The client talks every 100 ms for 500 ms, each write also being server-side
        // activity (we write to the server): the first timeout to fire is the client's,
        // 300 ms after its last byte.
        let out = forward(&front, &back, &c, &pool, std::future::pending()).await;
        assert_eq!(out.end, End::Timeout(Side::Client));
        assert!(
            started.elapsed() >= Duration::from_millis(750),
            "{:?}",
            started.elapsed()
        );
        assert_eq!(out.bytes_in, 5);
        drop(talker);
    }

    #[tokio::test]
    async fn client_fin_applies_once_we_shut_toward_the_client() {
        let (_client, front, back, mut server) = rig().await;
        let mut c = cfg(true);
        c.client = Some(Duration::from_secs(10));
        c.client_fin = Some(Duration::from_millis(100));
        c.server = Some(Duration::from_secs(10));
        // The server finishes first; the client lingers without closing.
        server.shutdown().await.unwrap();
        let pool = PipePool::new(8, None);
        let started = tokio::time::Instant::now();
        let out = forward(&front, &back, &c, &pool, std::future::pending()).await;
        assert_eq!(out.end, End::Timeout(Side::Client));
        // The short `client-fin`, not the 10 s `client` timeout, must have fired.
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
    }

    #[tokio::test]
    async fn client_fin_does_not_apply_when_the_client_closed_first() {
        let (mut client, front, back, _server) = rig().await;
        let mut c = cfg(true);
        c.client = Some(Duration::from_millis(600));
        c.client_fin = Some(Duration::from_millis(50));
        c.server = Some(Duration::from_secs(10));
        client.shutdown().await.unwrap();
        let pool = PipePool::new(8, None);
        let started = tokio::time::Instant::now();
        let out = forward(&front, &back, &c, &pool, std::future::pending()).await;
        assert_eq!(out.end, End::Timeout(Side::Client));
        assert!(
            started.elapsed() >= Duration::from_millis(550),
            "{:?}",
            started.elapsed()
        );
    }

    #[tokio::test]
    async fn reset_by_server_is_a_server_error() {
        let (_client, front, back, server) = rig().await;
        let _ = socket2::SockRef::from(&server).set_linger(Some(Duration::ZERO));
        drop(server);
        let pool = PipePool::new(8, None);
        let out = forward(&front, &back, &cfg(true), &pool, std::future::pending()).await;
        // The server's RST surfaces when reading from it: the server's fault, not the client's.
        assert!(matches!(out.end, End::Error(Side::Server)), "{:?}", out.end);
    }

    #[tokio::test]
    async fn stop_kills_the_forwarding() {
        let (_client, front, back, _server) = rig().await;
        let pool = PipePool::new(8, None);
        let stop = tokio::time::sleep(Duration::from_millis(50));
        let out = forward(&front, &back, &cfg(true), &pool, stop).await;
        assert_eq!(out.end, End::Killed);
    }
}
