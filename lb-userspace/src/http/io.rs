//! The client socket as hyper's server sees it, with HAProxy's client-side timers.
//!
//! hyper knows one header-read timeout and closes silently; HAProxy distinguishes three
//! waits and answers the slow one with a 408. The wrapper keeps a single deadline whose
//! meaning depends on the connection's [`Phase`], shared with the request handler:
//!
//! * waiting for a new request on a kept-alive connection: `timeout http-keep-alive`
//!   (else `timeout http-request`, else `timeout client`); expiry closes silently;
//! * a request head has started (or the connection is new): `timeout http-request` (else
//!   `timeout client`) counted from the head's first byte (from accept for the first
//!   request) and not reset by more bytes, so a slowloris client is cut; expiry writes
//!   HAProxy's 408 page and closes;
//! * a request is being served: `timeout client`, reset on each progress.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

use crate::http::gather::Gather;
use crate::proxy::conn::Conn;

/// Where a client connection is in its request cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Phase {
    /// Accepted, no request yet (the first request's head timer runs from accept).
    New,
    /// Between two requests of a kept-alive connection.
    Idle,
    /// A request head is arriving.
    Head,
    /// A request is being served (body, response).
    Busy,
    /// HTTP/2: many streams, only inactivity matters.
    Multiplexed,
}

/// The client-side timeouts.
#[derive(Debug, Clone, Copy)]
pub struct ClientTimers {
    /// `timeout http-request`.
    pub http_request: Option<Duration>,
    /// `timeout http-keep-alive`.
    pub keep_alive: Option<Duration>,
    /// `timeout client`.
    pub client: Option<Duration>,
}

/// Shared between the I/O wrapper and the handler. Atomics only because hyper wants
/// upgradable I/O to be `Send`; both users run on the same worker thread (relaxed order).
#[derive(Debug)]
pub struct PhaseCell {
    phase: AtomicU8,
    changed: AtomicBool,
    timed_out: AtomicU8,
    /// The last read found nothing (hyper then waits for readiness before reading again).
    read_blocked: AtomicBool,
    /// The last write could not complete (the socket buffer is full).
    write_blocked: AtomicBool,
    /// hyper is being taken off a parked connection: its shutdown must leave the socket.
    parking: AtomicBool,
    /// When the connection began waiting for the current request (end of the handshake
    /// or of the previous transaction), in [`crate::clock::now_ms`] milliseconds.
    base_ms: AtomicU64,
    /// When the first byte of the current request head arrived (0: not seen).
    head_start_ms: AtomicU64,
}

const NONE: u8 = u8::MAX;

impl Phase {
    fn from_u8(v: u8) -> Option<Self> {
        Some(match v {
            0 => Self::New,
            1 => Self::Idle,
            2 => Self::Head,
            3 => Self::Busy,
            4 => Self::Multiplexed,
            _ => return None,
        })
    }
}

impl PhaseCell {
    /// A new connection's state.
    pub fn new(phase: Phase) -> Arc<Self> {
        Arc::new(Self {
            phase: AtomicU8::new(phase as u8),
            changed: AtomicBool::new(true),
            timed_out: AtomicU8::new(NONE),
            read_blocked: AtomicBool::new(false),
            write_blocked: AtomicBool::new(false),
            parking: AtomicBool::new(false),
            base_ms: AtomicU64::new(crate::clock::now_ms()),
            head_start_ms: AtomicU64::new(0),
        })
    }

    /// Whether hyper, having just returned `Pending`, is idle: the response is over and
    /// fully written, and its last read found no new request.
    pub fn parkable(&self) -> bool {
        self.get() == Phase::Idle
            && self.read_blocked.load(Relaxed)
            && !self.write_blocked.load(Relaxed)
    }

    /// While set, shutting the I/O down leaves the socket open (hyper is being detached).
    pub fn set_parking(&self, on: bool) {
        self.parking.store(on, Relaxed);
    }

    /// The connection begins waiting for a request at `ms` (`%Ti` counts from there).
    pub fn mark_base(&self, ms: u64) {
        self.base_ms.store(ms, Relaxed);
    }

    /// When the connection began waiting for the current request.
    pub fn base(&self) -> u64 {
        self.base_ms.load(Relaxed)
    }

    /// The first byte of a request head arrived at `ms` (kept if one was already noted).
    pub fn mark_head_start(&self, ms: u64) {
        let _ = self
            .head_start_ms
            .compare_exchange(0, ms.max(1), Relaxed, Relaxed);
    }

    /// When the current request's first byte arrived, if it was noted; forgets it for the
    /// next request.
    pub fn take_head_start(&self) -> Option<u64> {
        Some(self.head_start_ms.swap(0, Relaxed)).filter(|&v| v != 0)
    }

    /// Moves to `phase` (re-arms the timer).
    pub fn set(&self, phase: Phase) {
        if self.phase.swap(phase as u8, Relaxed) != phase as u8 {
            self.changed.store(true, Relaxed);
        }
    }

    /// The current phase.
    pub fn get(&self) -> Phase {
        Phase::from_u8(self.phase.load(Relaxed)).unwrap_or(Phase::Busy)
    }

    /// The phase whose timer struck, if one did (a 408 was written for a head).
    pub fn timed_out(&self) -> Option<Phase> {
        Phase::from_u8(self.timed_out.load(Relaxed))
    }

    fn set_timed_out(&self, phase: Phase) {
        self.timed_out.store(phase as u8, Relaxed);
    }
}

/// The raw answers written below hyper: the 408 for a slow head, and the 400 that
/// replaces hyper's bare parse-error responses (HAProxy answers 400 with its page, or the
/// `errorfile`, to every unparsable, oversized or over-long request).
#[derive(Debug, Clone)]
pub struct RawPages {
    /// The 408 page.
    pub timeout: Arc<[u8]>,
    /// The 400 page.
    pub bad_request: Arc<[u8]>,
}

/// hyper's own answers to requests it could not parse (always `content-length: 0`).
fn is_hyper_error(buf: &[u8]) -> bool {
    const STATUS: [&[u8]; 4] = [
        b"HTTP/1.1 400 ",
        b"HTTP/1.1 414 ",
        b"HTTP/1.1 431 ",
        b"HTTP/1.1 505 ",
    ];
    buf.len() < 256
        && STATUS.iter().any(|s| buf.starts_with(s))
        && buf.ends_with(b"\r\n\r\n")
        && buf
            .windows(17)
            .any(|w| w.eq_ignore_ascii_case(b"content-length: 0"))
}

/// The client connection with its timers.
pub struct ClientIo {
    conn: Conn,
    timers: ClientTimers,
    phase: Arc<PhaseCell>,
    sleep: Pin<Box<Sleep>>,
    armed: bool,
    pages: RawPages,
    /// A raw answer being written (the 408, or the 400 replacing hyper's), and how much
    /// of it went out.
    raw: Option<(Arc<[u8]>, usize)>,
    /// Bytes received (for the logs).
    pub bytes_in: Arc<AtomicU64>,
    /// Bytes hyper read but did not use when it was detached, served first.
    prefix: bytes::Bytes,
    /// HTTP/2 output waiting for the flush.
    gather: Gather,
}

impl std::fmt::Debug for ClientIo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientIo")
            .field("phase", &self.phase.get())
            .finish()
    }
}

impl ClientIo {
    /// Wraps an accepted connection.
    pub fn new(conn: Conn, timers: ClientTimers, phase: Arc<PhaseCell>, pages: RawPages) -> Self {
        Self {
            conn,
            timers,
            phase,
            sleep: Box::pin(tokio::time::sleep_until(Instant::now())),
            armed: false,
            pages,
            raw: None,
            bytes_in: Arc::new(AtomicU64::new(0)),
            prefix: bytes::Bytes::new(),
            gather: Gather::default(),
        }
    }

    /// Bytes to hand out before reading the socket again (what a detached hyper had read).
    pub fn set_prefix(&mut self, prefix: bytes::Bytes) {
        self.prefix = prefix;
    }

    /// Waits, without any HTTP state, until the next request may have arrived: `false`
    /// when the keep-alive timer struck first (the connection is then closed silently,
    /// as HAProxy does).
    pub async fn wait_request(&mut self) -> bool {
        if !self.prefix.is_empty() {
            return true;
        }
        self.rearm(false);
        if !self.armed {
            return self.conn.readable().await.is_ok();
        }
        tokio::select! {
            r = self.conn.readable() => r.is_ok(),
            () = self.sleep.as_mut() => false,
        }
    }

    /// The socket.
    pub fn conn(&self) -> &Conn {
        &self.conn
    }

    fn limit(&self) -> Option<Duration> {
        let t = self.timers;
        match self.phase.get() {
            Phase::New | Phase::Head => t.http_request.or(t.client),
            Phase::Idle => t.keep_alive.or(t.http_request).or(t.client),
            Phase::Busy | Phase::Multiplexed => t.client,
        }
    }

    /// (Re)arms the deadline when the phase changed, or on progress in phases whose timer
    /// is an inactivity timer.
    fn rearm(&mut self, progress: bool) {
        let changed = self.phase.changed.swap(false, Relaxed);
        let inactivity = matches!(self.phase.get(), Phase::Busy | Phase::Multiplexed);
        if changed || (progress && inactivity) {
            match self.limit() {
                Some(t) => {
                    self.sleep.as_mut().reset(Instant::now() + t);
                    self.armed = true;
                }
                None => self.armed = false,
            }
        }
    }

    /// Polls the deadline; `Ready` means it struck.
    fn expired(&mut self, cx: &mut Context<'_>) -> bool {
        self.armed && self.sleep.as_mut().poll(cx).is_ready()
    }

    fn on_timeout(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let phase = self.phase.get();
        self.phase.set_timed_out(phase);
        if matches!(phase, Phase::New | Phase::Head) {
            // Answer like HAProxy before closing; a client that does not read gets cut.
            if self.raw.is_none() {
                self.raw = Some((Arc::clone(&self.pages.timeout), 0));
            }
            if self.write_raw(cx).is_pending() {
                return Poll::Pending;
            }
        }
        Poll::Ready(Err(io::ErrorKind::TimedOut.into()))
    }

    /// Writes the pending raw answer; `Ready` once it is out (or the socket failed).
    fn write_raw(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        while let Some((page, written)) = &mut self.raw {
            if *written >= page.len() {
                self.raw = None;
                break;
            }
            match Pin::new(&mut self.conn).poll_write(cx, &page[*written..]) {
                Poll::Ready(Ok(n)) if n > 0 => *written += n,
                Poll::Pending => return Poll::Pending,
                _ => self.raw = None,
            }
        }
        Poll::Ready(())
    }
}

impl ClientIo {
    /// Whether writes are gathered until the flush (HTTP/2).
    fn gathers(&self) -> bool {
        self.raw.is_none() && self.phase.get() == Phase::Multiplexed
    }

    /// Takes `bufs` into the gathered output, first sending what waits if it is full.
    fn poll_gather(
        &mut self,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        if !self.gather.has_room() {
            std::task::ready!(self.poll_drain(cx))?;
        }
        Poll::Ready(Ok(self.gather.push(bufs)))
    }

    /// Sends the gathered output.
    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while !self.gather.is_empty() {
            match Pin::new(&mut self.conn).poll_write(cx, self.gather.pending()) {
                Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Poll::Ready(Ok(n)) => {
                    self.phase.write_blocked.store(false, Relaxed);
                    self.gather.consumed(n);
                    self.rearm(true);
                }
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => {
                    self.phase.write_blocked.store(true, Relaxed);
                    if self.expired(cx) {
                        self.phase.set_timed_out(Phase::Multiplexed);
                        return Poll::Ready(Err(io::ErrorKind::TimedOut.into()));
                    }
                    return Poll::Pending;
                }
            }
        }
        Poll::Ready(Ok(()))
    }
}

impl AsyncRead for ClientIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.raw.is_some() && this.phase.timed_out().is_some() {
            return this.on_timeout(cx);
        }
        this.rearm(false);
        if !this.prefix.is_empty() {
            let n = this.prefix.len().min(buf.remaining());
            buf.put_slice(&this.prefix.split_to(n));
            this.phase.read_blocked.store(false, Relaxed);
            // Pipelined bytes a detached parser had read: the next head has begun.
            if this.phase.get() == Phase::Idle {
                this.phase.mark_head_start(crate::clock::now_ms());
                this.phase.set(Phase::Head);
            }
            return Poll::Ready(Ok(()));
        }
        let before = buf.filled().len();
        match Pin::new(&mut this.conn).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                this.phase.read_blocked.store(false, Relaxed);
                let n = buf.filled().len() - before;
                this.bytes_in.fetch_add(n as u64, Relaxed);
                if n > 0 && matches!(this.phase.get(), Phase::Idle | Phase::New) {
                    // `%Ti`/`%TR` split at the head's first byte.
                    this.phase.mark_head_start(crate::clock::now_ms());
                    if this.phase.get() == Phase::Idle {
                        this.phase.set(Phase::Head);
                    }
                }
                this.rearm(n > 0);
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => {
                if this.expired(cx) {
                    return this.on_timeout(cx);
                }
                this.phase.read_blocked.store(true, Relaxed);
                Poll::Pending
            }
        }
    }
}

impl AsyncWrite for ClientIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.raw.is_some()
            || (matches!(this.phase.get(), Phase::New | Phase::Head) && is_hyper_error(buf))
        {
            if this.raw.is_none() {
                this.raw = Some((Arc::clone(&this.pages.bad_request), 0));
            }
            return this.write_raw(cx).map(|()| Ok(buf.len()));
        }
        if this.gathers() {
            return this.poll_gather(cx, &[io::IoSlice::new(buf)]);
        }
        match Pin::new(&mut this.conn).poll_write(cx, buf) {
            Poll::Ready(r) => {
                this.phase.write_blocked.store(false, Relaxed);
                this.rearm(true);
                Poll::Ready(r)
            }
            Poll::Pending => {
                this.phase.write_blocked.store(true, Relaxed);
                if matches!(this.phase.get(), Phase::Busy | Phase::Multiplexed) && this.expired(cx)
                {
                    this.phase.set_timed_out(this.phase.get());
                    return Poll::Ready(Err(io::ErrorKind::TimedOut.into()));
                }
                Poll::Pending
            }
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if let Some(first) = bufs.iter().find(|b| !b.is_empty())
            && (this.raw.is_some()
                || (matches!(this.phase.get(), Phase::New | Phase::Head) && is_hyper_error(first)))
        {
            if this.raw.is_none() {
                this.raw = Some((Arc::clone(&this.pages.bad_request), 0));
            }
            let n = first.len();
            return this.write_raw(cx).map(|()| Ok(n));
        }
        if this.gathers() {
            return this.poll_gather(cx, bufs);
        }
        match Pin::new(&mut this.conn).poll_write_vectored(cx, bufs) {
            Poll::Ready(r) => {
                this.phase.write_blocked.store(false, Relaxed);
                this.rearm(true);
                Poll::Ready(r)
            }
            Poll::Pending => {
                this.phase.write_blocked.store(true, Relaxed);
                if matches!(this.phase.get(), Phase::Busy | Phase::Multiplexed) && this.expired(cx)
                {
                    this.phase.set_timed_out(this.phase.get());
                    return Poll::Ready(Err(io::ErrorKind::TimedOut.into()));
                }
                Poll::Pending
            }
        }
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if !this.gather.is_empty() {
            // Let the other ready tasks add their frames first: one write for the batch.
            if this.gather.yield_first() {
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            std::task::ready!(this.poll_drain(cx))?;
        }
        Pin::new(&mut this.conn).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.phase.parking.load(Relaxed) {
            return Poll::Ready(Ok(()));
        }
        std::task::ready!(this.poll_drain(cx))?;
        Pin::new(&mut this.conn).poll_shutdown(cx)
    }
}
