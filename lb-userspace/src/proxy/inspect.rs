//! Running a stream's layer-4 rules (`tcp-request connection|session|content`,
//! `tcp-response content`): the I/O side of the sans-I/O [`crate::rules`] engine.
//!
//! Content inspection peeks at the socket (`MSG_PEEK`), so the inspected bytes are still
//! there when forwarding starts: nothing is buffered twice.

use std::net::SocketAddr;
use tokio::time::Instant;

use crate::proxy::conn::Conn;
use crate::rules::{ContentVerdict, Cursor, Gpc, ProxyRules, ResponseVerdict, RuleHost};
use crate::sample::{Sample, StreamCtx};
use crate::stick::Tracking;

/// The runtime side of rule actions for one stream.
#[derive(Debug)]
pub struct Host<'a> {
    /// The stream's stick counters, when the process has tables.
    pub tracking: Option<&'a Tracking>,
    /// `expect-proxy layer4` was executed.
    pub expect_proxy: bool,
}

impl<'a> Host<'a> {
    /// A host for a stream with the given tracking state.
    pub fn new(tracking: Option<&'a Tracking>) -> Self {
        Self {
            tracking,
            expect_proxy: false,
        }
    }
}

impl RuleHost for Host<'_> {
    fn track(&mut self, sc: u8, table: &str, key: Sample<'_>) {
        if let Some(t) = self.tracking {
            // A key of the wrong type, a full `nopurge` table or an already busy counter
            // all leave the stream untracked, as in HAProxy.
            let _ = t.track(usize::from(sc), table, key, crate::clock::now_ms());
        }
    }

    fn inc_gpc(&mut self, sc: u8, gpc: Gpc) {
        if let Some(t) = self.tracking {
            let _ = t.inc_gpc(usize::from(sc), gpc, crate::clock::now_ms());
        }
    }

    fn set_gpt0(&mut self, sc: u8, value: i64) {
        if let Some(t) = self.tracking {
            let _ = t.set_gpt0(usize::from(sc), value, crate::clock::now_ms());
        }
    }

    // The engine already rewrote the context's addresses; the session copies them back
    // from the context after each rule set, so nothing more is needed here.
    fn set_src(&mut self, _addr: SocketAddr) {}

    fn set_dst(&mut self, _addr: SocketAddr) {}

    fn expect_proxy(&mut self) {
        self.expect_proxy = true;
    }

    fn xdp_deny(&mut self, src: std::net::IpAddr, action: &crate::rules::XdpDenyAction) {
        action.apply(src);
    }
}

/// Bytes peeked from one socket, kept across rule sets (frontend then backend content
/// rules look at the same data).
#[derive(Debug)]
pub struct Peeked {
    /// Allocated on the first inspection: streams without content rules never pay for it.
    buf: Vec<u8>,
    size: usize,
    len: usize,
    /// The peer shut its side or the buffer is full: no more data will come.
    ended: bool,
}

impl Peeked {
    /// A buffer of `size` bytes (`tune.bufsize`): inspection never looks further.
    pub fn new(size: usize) -> Self {
        Self {
            buf: Vec::new(),
            size: size.max(1),
            len: 0,
            ended: false,
        }
    }

    /// The bytes seen so far.
    pub fn data(&self) -> &[u8] {
        &self.buf[..self.len]
    }

    /// Waits for more bytes than already seen (or the end of the stream).
    async fn more(&mut self, conn: &Conn) {
        if self.buf.is_empty() {
            self.buf = vec![0; self.size];
        }
        match conn.peek_more(&mut self.buf, self.len).await {
            Ok(0) | Err(_) => self.ended = true,
            Ok(n) => {
                self.len = n;
                self.ended = n == self.buf.len();
            }
        }
    }
}

/// Runs `tcp-request content` rules of `rules` on client data, reading more while a
/// condition is undecided, until the inspect delay expires. The context's addresses follow
/// `set-src`/`set-dst`.
pub async fn request_content(
    rules: &ProxyRules,
    client: &Conn,
    peeked: &mut Peeked,
    sctx: &mut StreamCtx<'_>,
    host: &mut Host<'_>,
) -> ContentVerdict {
    if rules.content.is_empty() {
        return ContentVerdict::Accept;
    }
    let mut cursor = Cursor::default();
    let deadline = rules.inspect_delay.map(|d| Instant::now() + d);
    let mut expired = false;
    loop {
        let verdict = {
            let mut view = sctx.clone();
            view.payload = peeked.data();
            view.payload_final = expired || peeked.ended;
            let verdict = rules.eval_content(&mut cursor, &mut view, host);
            (sctx.src, sctx.dst) = (view.src, view.dst);
            verdict
        };
        if verdict != ContentVerdict::NeedMoreData {
            return verdict;
        }
        expired = wait_for_data(client, peeked, deadline).await;
    }
}

/// Runs `tcp-response content` rules on the first server data, as [`request_content`].
pub async fn response_content(
    rules: &ProxyRules,
    server: &Conn,
    peeked: &mut Peeked,
    sctx: &StreamCtx<'_>,
    host: &mut Host<'_>,
) -> ResponseVerdict {
    if rules.response.is_empty() {
        return ResponseVerdict::Accept;
    }
    let mut cursor = Cursor::default();
    let deadline = rules.response_inspect_delay.map(|d| Instant::now() + d);
    let mut expired = false;
    loop {
        let mut view = sctx.clone();
        view.res_payload = peeked.data();
        view.payload_final = expired || peeked.ended;
        let verdict = rules.eval_response(&mut cursor, &mut view, host);
        if verdict != ResponseVerdict::NeedMoreData {
            return verdict;
        }
        expired = wait_for_data(server, peeked, deadline).await;
    }
}

/// Waits for more data until `deadline`; returns `true` once the deadline passed. With no
/// deadline the engine never asks for more data (it treats the data as final), so this
/// only guards against a wait without end.
async fn wait_for_data(conn: &Conn, peeked: &mut Peeked, deadline: Option<Instant>) -> bool {
    let deadline = deadline.unwrap_or_else(Instant::now);
    if peeked.ended || Instant::now() >= deadline {
        return true;
    }
    tokio::select! {
        () = peeked.more(conn) => false,
        () = tokio::time::sleep_until(deadline) => true,
    }
}

/// Moves exactly `len` bytes already waiting on `from` to `to`, then half-closes `to`
/// (`tcp-response content close`: what arrived is delivered, nothing more).
pub async fn hand_over(from: &Conn, to: &Conn, len: usize) -> std::io::Result<()> {
    let mut buf = vec![0; len];
    let mut got = 0;
    while got < len {
        from.readable().await?;
        match from.try_read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
    }
    let mut sent = 0;
    while sent < got {
        to.writable().await?;
        match to.try_write(&buf[sent..got]) {
            Ok(n) => sent += n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
    }
    to.shutdown_write()
}
