//! One client connection in HTTP mode: protocol detection (HTTP/1.1, or HTTP/2 with prior
//! knowledge), hyper's server connection with the client-side limits and timers, and one
//! [`crate::http::txn`] per request.

use std::cell::Cell;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::SystemTime;

use hyper_util::rt::{TokioIo, TokioTimer};

use crate::http::io::{ClientIo, ClientTimers, Phase, PhaseCell, RawPages};
use crate::http::upstream::LocalExec;
use crate::log::format::{LogAddr, TermCause, TermPhase, Termination};
use crate::proxy::conn::Conn;
use crate::sample::vars::Vars;
use crate::stick::Tracking;
use crate::worker::WorkerCtx;

/// The HTTP/2 connection preface a prior-knowledge client starts with.
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Smallest read buffer limit hyper accepts.
const HYPER_MIN_BUF: usize = 8192;

/// HAProxy's `tune.maxrewrite`: buffer space kept free for header rewrites.
const MAXREWRITE: usize = 1024;

/// Default of `tune.http.maxhdr`, as in HAProxy.
pub const DEFAULT_MAXHDR: usize = 101;

/// What every request of a client connection shares.
pub struct ConnState {
    /// The worker.
    pub ctx: Rc<WorkerCtx>,
    /// Frontend index.
    pub frontend: usize,
    /// The backend, when a TCP frontend handed the connection over to an HTTP backend.
    pub fixed_backend: Option<usize>,
    /// Client address (after the PROXY header).
    pub src: SocketAddr,
    /// Address the client reached.
    pub dst: SocketAddr,
    /// Client address as logs print it.
    pub client: LogAddr,
    /// When the connection was accepted.
    pub accept_date: SystemTime,
    /// Where the connection is in its request cycle (shared with the I/O timers).
    pub phase: std::sync::Arc<PhaseCell>,
    /// Requests received so far on this connection.
    pub requests: Cell<u64>,
    /// The client speaks HTTP/2.
    pub h2: Cell<bool>,
    /// Stick-table tracking of the connection.
    pub tracking: Option<Tracking>,
    /// Variables (`sess` scope lives as long as the connection).
    pub vars: Option<Vars>,
    /// Bytes received from the client.
    pub bytes_in: std::sync::Arc<std::sync::atomic::AtomicU64>,
    /// The client socket (for `silent-drop`).
    pub fd: std::os::fd::RawFd,
    /// The server connection kept for this client alone (`http-reuse never`).
    pub private: std::cell::RefCell<Option<(crate::http::pool::Key, crate::http::pool::Idle)>>,
}

impl ConnState {
    /// Takes the private server connection if it goes to `key`.
    pub fn take_private(&self, key: crate::http::pool::Key) -> Option<crate::http::pool::Idle> {
        let mut p = self.private.borrow_mut();
        match p.take() {
            Some((k, idle)) if k == key && !idle.sender.is_closed() => Some(idle),
            _ => None,
        }
    }
}

impl std::fmt::Debug for ConnState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnState")
            .field("frontend", &self.frontend)
            .field("src", &self.src)
            .finish()
    }
}

/// Everything [`serve`] needs to know about the accepted connection.
#[derive(Debug)]
pub struct Accepted {
    /// Frontend index.
    pub frontend: usize,
    /// A TCP frontend's chosen HTTP backend.
    pub fixed_backend: Option<usize>,
    /// Client address.
    pub src: SocketAddr,
    /// Address the client reached.
    pub dst: SocketAddr,
    /// Client address for logs.
    pub client: LogAddr,
    /// Accept time.
    pub accept_date: SystemTime,
}

/// Serves HTTP on an accepted client connection until it closes.
pub async fn serve(
    ctx: Rc<WorkerCtx>,
    accepted: Accepted,
    conn: Conn,
    tracking: Option<Tracking>,
    vars: Option<Vars>,
) {
    let fe = &ctx.shared.frontends[accepted.frontend].cfg;
    let timers = ClientTimers {
        http_request: fe.timeouts.http_request,
        keep_alive: fe.timeouts.http_keep_alive,
        client: fe.timeouts.client,
    };
    // HTTP rules keep variables (`txn.*` across the request and response rules).
    let vars = vars.or_else(|| {
        let any_rules = !fe.http_rules.is_empty()
            || ctx
                .shared
                .backends
                .list
                .iter()
                .any(|b| !b.cfg.http_rules.is_empty());
        any_rules.then(Vars::default)
    });
    // The handshake (PROXY header...) is over: `%Ti` counts from here, `%TR` from the
    // first byte that ends the wait below.
    let ready = crate::clock::now_ms();
    let h2 = detect_h2(&conn, timers).await;
    let fd = std::os::fd::AsRawFd::as_raw_fd(&conn);
    let phase = PhaseCell::new(if h2 { Phase::Multiplexed } else { Phase::New });
    phase.mark_base(ready);
    if !h2 {
        phase.mark_head_start(crate::clock::now_ms());
    }
    let pages = raw_pages(&ctx, accepted.frontend);
    let io = ClientIo::new(conn, timers, std::sync::Arc::clone(&phase), pages);
    let bytes_in = std::sync::Arc::clone(&io.bytes_in);
    let state = Rc::new(ConnState {
        ctx: Rc::clone(&ctx),
        frontend: accepted.frontend,
        fixed_backend: accepted.fixed_backend,
        src: accepted.src,
        dst: accepted.dst,
        client: accepted.client,
        accept_date: accepted.accept_date,
        phase: std::sync::Arc::clone(&phase),
        requests: Cell::new(0),
        h2: Cell::new(h2),
        tracking,
        vars,
        bytes_in,
        private: std::cell::RefCell::new(None),
        fd,
    });
    let svc_state = Rc::clone(&state);
    let service =
        hyper::service::service_fn(move |req| crate::http::txn::handle(Rc::clone(&svc_state), req));
    // As HAProxy, a request head must fit in the buffer minus its rewrite reserve.
    let bufsize = ctx
        .shared
        .bufsize
        .saturating_sub(MAXREWRITE)
        .max(HYPER_MIN_BUF);
    let maxhdr = ctx.shared.http_maxhdr;
    let stop = ctx.hard_stop();
    let result = if h2 {
        let mut builder = hyper::server::conn::http2::Builder::new(LocalExec);
        builder
            .timer(TokioTimer::new())
            .max_header_list_size(u32::try_from(bufsize).unwrap_or(u32::MAX))
            .max_concurrent_streams(100)
            // RFC 8441: WebSocket over HTTP/2 (see `http::websocket`).
            .enable_connect_protocol();
        let conn = builder.serve_connection(TokioIo::new(io), service);
        tokio::select! {
            r = conn => r,
            () = stop => Ok(()),
        }
    } else {
        let mut builder = hyper::server::conn::http1::Builder::new();
        builder
            .max_buf_size(bufsize)
            .max_headers(maxhdr)
            .half_close(false)
            .auto_date_header(false)
            .keep_alive(true);
        serve_h1(&builder, io, service, &phase, stop).await
    };
    if let Err(e) = result {
        let fe_name = &ctx.shared.frontends[state.frontend].cfg.name;
        match phase.timed_out() {
            Some(Phase::New | Phase::Head) => {
                tracing::info!("{fe_name}: {}: request timeout (408)", state.client);
                let t = Termination::new(TermCause::ClientTimeout, TermPhase::Request);
                crate::http::txn::log_bad_request(&state, 408, t);
            }
            Some(_) => {}
            None if e.is_parse() || e.is_parse_too_large() => {
                // hyper answered 400/414/431 itself; say why, as HAProxy's error log would.
                tracing::info!("{fe_name}: {}: bad request: {e}", state.client);
                let t = Termination::new(TermCause::Proxy, TermPhase::Request);
                crate::http::txn::log_bad_request(&state, 400, t);
            }
            None => tracing::debug!("{fe_name}: {}: connection ended: {e}", state.client),
        }
    }
}

/// Serves HTTP/1.1 on `io`, parking the connection whenever it waits for a request.
///
/// An idle hyper connection keeps its read and write buffers (8 KiB each) and its
/// per-request state; HAProxy releases its buffers between requests. So when the client
/// has nothing more to say and the response is out, hyper is detached from the socket
/// (its shutdown leaves the socket open) and dropped; the connection waits with only its
/// socket, its keep-alive timer and [`ConnState`], and a fresh hyper connection takes over
/// when the next request arrives.
async fn serve_h1<S>(
    builder: &hyper::server::conn::http1::Builder,
    mut io: ClientIo,
    mut service: S,
    phase: &PhaseCell,
    stop: impl std::future::Future<Output = ()>,
) -> Result<(), hyper::Error>
where
    S: hyper::service::HttpService<hyper::body::Incoming> + Unpin,
    S::ResBody: 'static,
    <S::ResBody as hyper::body::Body>::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    use std::future::Future as _;
    use std::task::Poll;
    let mut stop = std::pin::pin!(stop);
    loop {
        // Boxed: while parked, the task keeps no room for hyper's connection state.
        let mut conn = Box::pin(
            builder
                .serve_connection(TokioIo::new(io), service)
                .with_upgrades(),
        );
        let idle = std::future::poll_fn(|cx| {
            if stop.as_mut().poll(cx).is_ready() {
                return Poll::Ready(None);
            }
            match conn.as_mut().poll(cx) {
                Poll::Ready(r) => Poll::Ready(Some(Err(r))),
                Poll::Pending if phase.parkable() => Poll::Ready(Some(Ok(()))),
                Poll::Pending => Poll::Pending,
            }
        })
        .await;
        match idle {
            None => return Ok(()),
            Some(Err(r)) => return r,
            Some(Ok(())) => {}
        }
        // hyper is idle: closing it now ends the connection future at once, without a
        // byte written. Otherwise (a request body left unread, say) it was not idle after
        // all: it finishes the exchange in progress and closes, as any server may close a
        // kept-alive connection.
        conn.as_mut().graceful_shutdown();
        phase.set_parking(true);
        let detached = std::future::poll_fn(|cx| Poll::Ready(conn.as_mut().poll(cx))).await;
        phase.set_parking(false);
        match detached {
            Poll::Ready(Ok(())) => {}
            Poll::Ready(Err(e)) => return Err(e),
            Poll::Pending => {
                return tokio::select! {
                    r = conn => r,
                    () = stop => Ok(()),
                };
            }
        }
        let Some(hyper::server::conn::http1::Parts {
            io: detached,
            read_buf,
            service: svc,
            ..
        }) = std::pin::Pin::into_inner(conn).into_parts()
        else {
            return Ok(());
        };
        io = detached.into_inner();
        if !read_buf.is_empty() {
            // A copy: the slice would keep hyper's whole read buffer alive.
            io.set_prefix(bytes::Bytes::copy_from_slice(&read_buf));
        }
        // Dropped now, not at the end of the wait: it holds hyper's read buffer.
        drop(read_buf);
        service = svc;
        tokio::select! {
            more = io.wait_request() => if !more { return Ok(()) },
            () = &mut stop => return Ok(()),
        }
    }
}

/// The frontend's raw 408 and 400 answers, rendered once per worker and frontend.
fn raw_pages(ctx: &WorkerCtx, frontend: usize) -> RawPages {
    thread_local! {
        static PAGES: std::cell::RefCell<Vec<Option<RawPages>>> =
            const { std::cell::RefCell::new(Vec::new()) };
    }
    PAGES.with(|p| {
        let mut p = p.borrow_mut();
        if p.len() <= frontend {
            p.resize(frontend + 1, None);
        }
        p[frontend]
            .get_or_insert_with(|| {
                let fe_http = &ctx.shared.frontends[frontend].cfg.http;
                let raw = |status| -> std::sync::Arc<[u8]> {
                    crate::http::reply::page(fe_http, None, status)
                        .to_http1()
                        .into()
                };
                RawPages {
                    timeout: raw(408),
                    bad_request: raw(400),
                }
            })
            .clone()
    })
}

/// Peeks at the first bytes: an HTTP/2 connection preface means h2c prior knowledge.
async fn detect_h2(conn: &Conn, timers: ClientTimers) -> bool {
    let mut buf = [0u8; H2_PREFACE.len()];
    let limit = timers
        .http_request
        .or(timers.client)
        .unwrap_or(std::time::Duration::from_secs(3600));
    let peek = async {
        let mut seen = 0;
        loop {
            match conn.peek_more(&mut buf, seen).await {
                Ok(0) | Err(_) => return false,
                Ok(n) => {
                    if buf[..n] != H2_PREFACE[..n] {
                        return false;
                    }
                    if n == H2_PREFACE.len() {
                        return true;
                    }
                    seen = n;
                }
            }
        }
    };
    tokio::time::timeout(limit, peek).await.unwrap_or(false)
}
