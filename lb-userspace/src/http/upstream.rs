//! Server connections of HTTP mode: opening one (TCP connect, PROXY header, hyper client
//! handshake in HTTP/1.1 or HTTP/2) and finding an idle one in the worker's pool according
//! to `http-reuse`.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use hyper_util::rt::{TokioIo, TokioTimer};

use crate::backend::state::ServerState;
use crate::config::http::HttpReuse;
use crate::http::body::ReqBody;
use crate::http::pool::{self, Idle, Key, Sender, Want};
use crate::proxy::conn::Conn;
use crate::proxy::connect;
use crate::sample::StreamCtx;

/// Runs hyper's background tasks (HTTP/2 streams) on the worker's local task set: nothing
/// needs to be `Send`, nothing crosses workers.
#[derive(Debug, Clone, Copy)]
pub struct LocalExec;

impl<F> hyper::rt::Executor<F> for LocalExec
where
    F: Future + 'static,
{
    fn execute(&self, fut: F) {
        tokio::task::spawn_local(fut);
    }
}

/// Why a server connection could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// `timeout connect` struck.
    #[error("connect timeout")]
    Timeout,
    /// The TCP connection failed.
    #[error("connect failed: {0}")]
    Connect(std::io::Error),
    /// The PROXY header could not be written.
    #[error("PROXY header not sent: {0}")]
    Proxy(std::io::Error),
    /// The HTTP handshake failed (HTTP/2 preface or settings).
    #[error("handshake failed: {0}")]
    Handshake(hyper::Error),
}

/// The pool key of `server` reached at `addr`.
pub fn key(server: &std::sync::Arc<ServerState>, addr: SocketAddr) -> Key {
    (std::sync::Arc::as_ptr(server) as usize, addr)
}

/// An idle connection the request may use under `reuse`; `first` is whether it is the
/// first request of its client connection.
pub fn reuse(key: Key, reuse: HttpReuse, first: bool) -> Option<Idle> {
    let want = match (reuse, first) {
        (HttpReuse::Never, _) | (HttpReuse::Safe, true) => return None,
        (HttpReuse::Aggressive, true) => Want::Proven,
        _ => Want::Any,
    };
    pool::take(key, want)
}

/// Opens a new connection to `server` at `addr`.
pub async fn open(
    server: &ServerState,
    addr: SocketAddr,
    t_connect: Option<Duration>,
    t_server: Option<Duration>,
    sctx: &StreamCtx<'_>,
) -> Result<Sender, OpenError> {
    let stream = connect::connect(addr, t_connect).await.map_err(|e| {
        if e.kind() == std::io::ErrorKind::TimedOut {
            OpenError::Timeout
        } else {
            OpenError::Connect(e)
        }
    })?;
    let _ = stream.set_nodelay(true);
    let conn = Conn::Tcp(stream);
    if let Some(version) = server.cfg.send_proxy {
        connect::send_proxy_header(&conn, version, sctx)
            .await
            .map_err(OpenError::Proxy)?;
    }
    let io = TokioIo::new(ServerIo::new(conn, t_server));
    if server.cfg.proto_h2 {
        let (sender, connection) = hyper::client::conn::http2::Builder::new(LocalExec)
            .timer(TokioTimer::new())
            .handshake(io)
            .await
            .map_err(OpenError::Handshake)?;
        tokio::task::spawn_local(async move {
            if let Err(e) = connection.await {
                tracing::debug!("server h2 connection: {e}");
            }
        });
        Ok(Sender::H2(sender))
    } else {
        let (sender, connection) = hyper::client::conn::http1::Builder::new()
            .max_buf_size(64 * 1024)
            .handshake(io)
            .await
            .map_err(OpenError::Handshake)?;
        tokio::task::spawn_local(async move {
            if let Err(e) = connection.with_upgrades().await {
                tracing::debug!("server h1 connection: {e}");
            }
        });
        Ok(Sender::H1(sender))
    }
}

/// What sending a request on a connection gave.
#[derive(Debug)]
pub enum Sent {
    /// A response head.
    Response(http::Response<hyper::body::Incoming>),
    /// The connection was not usable and the request was not sent: it comes back.
    NotSent(http::Request<ReqBody>),
    /// The request failed after (part of) it was sent.
    Failed(SendFailure),
}

/// How a sent request failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendFailure {
    /// The server closed without a response.
    Empty,
    /// The server answered something that is not HTTP.
    Junk,
    /// `timeout server` struck before the response head.
    Timeout,
    /// The client's body failed (client aborted).
    ClientBody,
}

/// Sends `req` on `sender`, waiting at most `t_server` for the response head.
pub async fn send(
    sender: &mut Sender,
    req: http::Request<ReqBody>,
    t_server: Option<Duration>,
) -> Sent {
    let fut = async {
        match sender {
            Sender::H1(s) => {
                if s.ready().await.is_err() {
                    return Sent::NotSent(req);
                }
                classify(s.try_send_request(req).await)
            }
            Sender::H2(s) => {
                if s.ready().await.is_err() {
                    return Sent::NotSent(req);
                }
                classify(s.try_send_request(req).await)
            }
        }
    };
    match t_server {
        Some(t) => tokio::time::timeout(t, fut)
            .await
            .unwrap_or(Sent::Failed(SendFailure::Timeout)),
        None => fut.await,
    }
}

fn classify(
    r: Result<
        http::Response<hyper::body::Incoming>,
        hyper::client::conn::TrySendError<http::Request<ReqBody>>,
    >,
) -> Sent {
    match r {
        Ok(res) => Sent::Response(res),
        Err(mut e) => {
            if let Some(req) = e.take_message() {
                return Sent::NotSent(req);
            }
            let err = e.error();
            let failure = if err.is_parse() || err.is_parse_status() {
                SendFailure::Junk
            } else if err.is_user() || err.is_body_write_aborted() {
                SendFailure::ClientBody
            } else {
                SendFailure::Empty
            };
            tracing::debug!("server request failed: {err}");
            Sent::Failed(failure)
        }
    }
}

/// A server socket with `timeout server` as an inactivity limit: a read or write that
/// waits longer fails, so a stalled server cannot hold a response (or an idle pooled
/// connection) forever.
pub struct ServerIo {
    conn: Conn,
    limit: Option<Duration>,
    sleep: std::pin::Pin<Box<tokio::time::Sleep>>,
    armed: bool,
}

impl ServerIo {
    /// Wraps a connected server socket.
    pub fn new(conn: Conn, limit: Option<Duration>) -> Self {
        Self {
            conn,
            limit,
            sleep: Box::pin(tokio::time::sleep(Duration::ZERO)),
            armed: false,
        }
    }

    fn progress(&mut self) {
        self.armed = false;
    }

    /// On a pending operation: arms the timer if needed; `true` when it struck.
    fn stalled(&mut self, cx: &mut std::task::Context<'_>) -> bool {
        let Some(limit) = self.limit else {
            return false;
        };
        if !self.armed {
            self.sleep
                .as_mut()
                .reset(tokio::time::Instant::now() + limit);
            self.armed = true;
        }
        self.sleep.as_mut().poll(cx).is_ready()
    }
}

impl tokio::io::AsyncRead for ServerIo {
    fn poll_read(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let this = self.get_mut();
        match std::pin::Pin::new(&mut this.conn).poll_read(cx, buf) {
            std::task::Poll::Pending if this.stalled(cx) => {
                std::task::Poll::Ready(Err(std::io::ErrorKind::TimedOut.into()))
            }
            std::task::Poll::Pending => std::task::Poll::Pending,
            ready => {
                this.progress();
                ready
            }
        }
    }
}

impl tokio::io::AsyncWrite for ServerIo {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        match std::pin::Pin::new(&mut this.conn).poll_write(cx, buf) {
            std::task::Poll::Pending if this.stalled(cx) => {
                std::task::Poll::Ready(Err(std::io::ErrorKind::TimedOut.into()))
            }
            std::task::Poll::Pending => std::task::Poll::Pending,
            ready => {
                this.progress();
                ready
            }
        }
    }

    fn poll_write_vectored(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> std::task::Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        match std::pin::Pin::new(&mut this.conn).poll_write_vectored(cx, bufs) {
            std::task::Poll::Pending if this.stalled(cx) => {
                std::task::Poll::Ready(Err(std::io::ErrorKind::TimedOut.into()))
            }
            std::task::Poll::Pending => std::task::Poll::Pending,
            ready => {
                this.progress();
                ready
            }
        }
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.get_mut().conn).poll_flush(cx)
    }

    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.get_mut().conn).poll_shutdown(cx)
    }
}
