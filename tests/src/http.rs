//! HTTP/1.1 test servers and a raw client, on loopback, one thread per connection.
//!
//! * [`HttpBackend::echo`]: answers every request with `200`, an `x-server: NAME` header and
//!   a body listing the request line and headers it received (`NAME METHOD TARGET\n` then
//!   `name: value\n` per header), keeping the connection alive.
//! * [`HttpBackend::with`]: answers with a test-provided function of the request.
//!
//! Every request a backend parses is recorded ([`HttpBackend::requests`]) with the connection
//! it came on, so a test can prove what reached the server, and how many requests: the
//! backend's parser is strict (one `Content-Length` or `chunked`, nothing else), so a smuggled
//! second request would show up as a second record.
//!
//! [`request`] sends raw bytes and reads one response ([`Response::read`] understands
//! `Content-Length`, chunked and close-delimited bodies).

use std::io::{BufRead, BufReader, Cursor, ErrorKind, Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::ports::free_port;

/// One request as the backend parsed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// Which accepted connection it came on (0, 1, ... in accept order).
    pub conn: usize,
    /// Method.
    pub method: String,
    /// Request target as sent (`/path?query` or absolute form).
    pub target: String,
    /// `HTTP/1.1` or `HTTP/1.0`.
    pub version: String,
    /// Header fields in order, names as sent.
    pub headers: Vec<(String, String)>,
    /// The body (de-chunked).
    pub body: Vec<u8>,
}

impl Request {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every value of header `name` (case-insensitive), in order.
    pub fn headers_named(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

/// A response, to send (from a handler) or as read by the client.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Header fields in order.
    pub headers: Vec<(String, String)>,
    /// The body (de-chunked when read).
    pub body: Vec<u8>,
}

impl Response {
    /// A response with `status` and a text body.
    pub fn new(status: u16, body: &str) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: body.as_bytes().to_vec(),
        }
    }

    /// Adds a header.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// The first value of header `name` (case-insensitive).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as text (lossy).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// Reads one response from `r` (for a `HEAD` request pass `head = true`: no body).
    pub fn read(r: &mut impl BufRead, head: bool) -> std::io::Result<Self> {
        let status_line = read_line(r)?;
        let mut parts = status_line.splitn(3, ' ');
        let _version = parts.next();
        let status = parts
            .next()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| bad(format!("bad status line {status_line:?}")))?;
        let headers = read_headers(r)?;
        let mut resp = Self {
            status,
            headers,
            body: Vec::new(),
        };
        if head || status == 204 || status == 304 || (100..200).contains(&status) {
            return Ok(resp);
        }
        resp.body = read_body(r, &resp.headers, true)?;
        Ok(resp)
    }
}

/// A function answering one request.
pub type HttpHandler = Arc<dyn Fn(&Request) -> Response + Send + Sync>;

/// A running HTTP/1.1 test server. Stopped on drop.
pub struct HttpBackend {
    name: String,
    port: u16,
    stop: Arc<AtomicBool>,
    log: Arc<Mutex<Vec<Request>>>,
    conns: Arc<AtomicUsize>,
    seen: Arc<Seen>,
    thread: Option<JoinHandle<()>>,
}

/// What a backend saw besides the requests it parsed: raw bytes and refusals.
#[derive(Default)]
struct Seen {
    /// Every byte received, per connection (index = connection id).
    raw: Mutex<Vec<Vec<u8>>>,
    /// Requests the strict parser refused as malformed (`conn N: reason`).
    violations: Mutex<Vec<String>>,
    /// Connections that closed in the middle of a request (the proxy aborted it).
    truncated: AtomicUsize,
}

impl std::fmt::Debug for HttpBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "HttpBackend({} on {})", self.name, self.port)
    }
}

impl HttpBackend {
    /// An echo server named `name` on a free port.
    pub fn echo(name: &str) -> Self {
        Self::with(name, Arc::new(Self::echo_handler(name)))
    }

    /// The handler of [`HttpBackend::echo`], to build on: `200`, `x-server: NAME`, and the
    /// request line and headers as the body.
    pub fn echo_handler(name: &str) -> impl Fn(&Request) -> Response + Send + Sync + 'static {
        let n = name.to_owned();
        move |req: &Request| {
            let mut body = format!("{n} {} {}\n", req.method, req.target);
            for (k, v) in &req.headers {
                body.push_str(&format!("{k}: {v}\n"));
            }
            Response::new(200, &body)
                .header("x-server", &n)
                .header("content-type", "text/plain")
        }
    }

    /// A server named `name` answering with `handler`.
    pub fn with(name: &str, handler: HttpHandler) -> Self {
        let port = free_port();
        let listener =
            TcpListener::bind((Ipv4Addr::LOCALHOST, port)).expect("bind HTTP test backend");
        listener.set_nonblocking(true).expect("nonblocking");
        let stop = Arc::new(AtomicBool::new(false));
        let log = Arc::new(Mutex::new(Vec::new()));
        let conns = Arc::new(AtomicUsize::new(0));
        let seen = Arc::new(Seen::default());
        let thread = {
            let (stop, log, conns, seen) = (stop.clone(), log.clone(), conns.clone(), seen.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    match listener.accept() {
                        Ok((s, _)) => {
                            let id = {
                                // Allocate the id and its raw slot together: ids index `raw`.
                                let mut raw = seen.raw.lock().expect("raw log");
                                raw.push(Vec::new());
                                conns.fetch_add(1, Ordering::SeqCst)
                            };
                            let (log, handler, stop, seen) =
                                (log.clone(), handler.clone(), stop.clone(), seen.clone());
                            std::thread::spawn(move || {
                                serve(s, id, &log, &*handler, &stop, &seen);
                            });
                        }
                        Err(e) if e.kind() == ErrorKind::WouldBlock => {
                            std::thread::sleep(Duration::from_millis(2));
                        }
                        Err(_) => break,
                    }
                }
            })
        };
        Self {
            name: name.into(),
            port,
            stop,
            log,
            conns,
            seen,
            thread: Some(thread),
        }
    }

    /// The server's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `127.0.0.1:PORT`.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.port))
    }

    /// Every request parsed so far, in arrival order.
    pub fn requests(&self) -> Vec<Request> {
        self.log.lock().expect("request log").clone()
    }

    /// How many connections were accepted so far.
    pub fn connections(&self) -> usize {
        self.conns.load(Ordering::SeqCst)
    }

    /// Every byte received so far on connection `conn` (empty if there is no such connection).
    pub fn raw(&self, conn: usize) -> Vec<u8> {
        self.seen
            .raw
            .lock()
            .expect("raw log")
            .get(conn)
            .cloned()
            .unwrap_or_default()
    }

    /// Every byte received so far, all connections, as lossy text (for failure messages).
    pub fn raw_text(&self) -> String {
        let raw = self.seen.raw.lock().expect("raw log");
        raw.iter()
            .enumerate()
            .map(|(i, r)| format!("[conn {i}] {:?}\n", String::from_utf8_lossy(r)))
            .collect()
    }

    /// Requests the strict parser refused as malformed (`conn N: reason`): a proxy that
    /// normalizes correctly never causes one.
    pub fn violations(&self) -> Vec<String> {
        self.seen.violations.lock().expect("violations").clone()
    }

    /// Connections closed in the middle of a request: what a proxy aborting a request whose
    /// head it had already forwarded looks like (not a framing violation).
    pub fn truncated(&self) -> usize {
        self.seen.truncated.load(Ordering::SeqCst)
    }
}

impl Drop for HttpBackend {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve(
    s: TcpStream,
    conn: usize,
    log: &Mutex<Vec<Request>>,
    handler: &(dyn Fn(&Request) -> Response + Send + Sync),
    stop: &AtomicBool,
    seen: &Seen,
) {
    let Ok(mut w) = s.try_clone() else { return };
    let mut r = BufReader::new(Tee {
        inner: s,
        seen,
        conn,
    });
    loop {
        // Idle between requests: short timeouts so that a stopped backend lets go. Inside a
        // request, one long timeout: a partly read request cannot be resumed after a timeout.
        let _ = w.set_read_timeout(Some(Duration::from_millis(200)));
        loop {
            match r.fill_buf() {
                Ok([]) => return,
                Ok(_) => break,
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    if stop.load(Ordering::Relaxed) {
                        return;
                    }
                }
                Err(_) => return,
            }
        }
        let _ = w.set_read_timeout(Some(Duration::from_secs(10)));
        let req = match read_request(&mut r, conn) {
            Ok(Some(req)) => req,
            Ok(None) => return,
            Err(e) if e.kind() == ErrorKind::InvalidData => {
                seen.violations
                    .lock()
                    .expect("violations")
                    .push(format!("conn {conn}: {e}"));
                // A request this strict parser refuses: say so, as a real server would.
                let _ = w.write_all(
                    b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
                );
                return;
            }
            Err(_) => {
                seen.truncated.fetch_add(1, Ordering::SeqCst);
                return;
            }
        };
        let close = req
            .header("connection")
            .is_some_and(|v| v.eq_ignore_ascii_case("close"))
            || req.version == "HTTP/1.0";
        log.lock().expect("request log").push(req.clone());
        let resp = handler(&req);
        if w.write_all(&encode(&resp, req.method == "HEAD", close))
            .is_err()
            || close
        {
            let _ = w.shutdown(Shutdown::Both);
            return;
        }
    }
}

/// A reader that keeps a copy of every byte read, per connection.
struct Tee<'a> {
    inner: TcpStream,
    seen: &'a Seen,
    conn: usize,
}

impl Read for Tee<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Some(raw) = self.seen.raw.lock().expect("raw log").get_mut(self.conn) {
            raw.extend_from_slice(&buf[..n]);
        }
        Ok(n)
    }
}

fn encode(resp: &Response, head: bool, close: bool) -> Vec<u8> {
    let mut out = format!("HTTP/1.1 {} X\r\n", resp.status).into_bytes();
    let mut has_len = false;
    for (k, v) in &resp.headers {
        has_len |=
            k.eq_ignore_ascii_case("content-length") || k.eq_ignore_ascii_case("transfer-encoding");
        out.extend_from_slice(format!("{k}: {v}\r\n").as_bytes());
    }
    if !has_len {
        out.extend_from_slice(format!("content-length: {}\r\n", resp.body.len()).as_bytes());
    }
    if close {
        out.extend_from_slice(b"connection: close\r\n");
    }
    out.extend_from_slice(b"\r\n");
    if !head {
        out.extend_from_slice(&resp.body);
    }
    out
}

/// Reads one request; `Ok(None)` on a clean close before any byte.
fn read_request(r: &mut impl BufRead, conn: usize) -> std::io::Result<Option<Request>> {
    let line = match read_line(r) {
        Ok(l) => l,
        Err(e) if e.kind() == ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    };
    let mut parts = line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad(format!("bad request line {line:?}")));
    };
    if !matches!(version, "HTTP/1.1" | "HTTP/1.0") || !is_token(method) || target.is_empty() {
        return Err(bad(format!("bad request line {line:?}")));
    }
    let headers = read_headers(r)?;
    let body = read_body(r, &headers, false)?;
    Ok(Some(Request {
        conn,
        method: method.into(),
        target: target.into(),
        version: version.into(),
        headers,
        body,
    }))
}

/// One CRLF-terminated line (a bare LF or a stray CR is an error: strict on purpose; EOF in
/// the middle of a line is a truncation, `UnexpectedEof`).
fn read_line(r: &mut impl BufRead) -> std::io::Result<String> {
    let mut buf = Vec::new();
    let n = r.read_until(b'\n', &mut buf)?;
    if n == 0 || !buf.ends_with(b"\n") {
        return Err(ErrorKind::UnexpectedEof.into());
    }
    if !buf.ends_with(b"\r\n") || buf[..buf.len() - 2].contains(&b'\r') {
        return Err(bad(format!(
            "line not ended by CRLF: {:?}",
            String::from_utf8_lossy(&buf)
        )));
    }
    buf.truncate(buf.len() - 2);
    if let Some(c) = buf.iter().find(|&&c| c != b'\t' && (c < 0x20 || c == 0x7f)) {
        return Err(bad(format!(
            "control character {c:#04x} in {:?}",
            String::from_utf8_lossy(&buf)
        )));
    }
    // obs-text (bytes >= 0x80) is legal in values: keep it, lossily.
    Ok(String::from_utf8_lossy(&buf).into_owned())
}

/// RFC 9110 `tchar`: what methods and field names are made of.
fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|c| c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&c))
}

fn read_headers(r: &mut impl BufRead) -> std::io::Result<Vec<(String, String)>> {
    let mut headers = Vec::new();
    loop {
        let line = read_line(r)?;
        if line.is_empty() {
            return Ok(headers);
        }
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| bad(format!("header without colon {line:?}")))?;
        if !is_token(name) {
            return Err(bad(format!("bad header {line:?}")));
        }
        headers.push((name.into(), value.trim_matches([' ', '\t']).into()));
    }
}

/// Reads a body framed by `headers`; `to_close`: without framing, read until EOF (responses).
fn read_body(
    r: &mut impl BufRead,
    headers: &[(String, String)],
    to_close: bool,
) -> std::io::Result<Vec<u8>> {
    let get = |n: &str| -> Vec<&str> {
        headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(n))
            .map(|(_, v)| v.as_str())
            .collect()
    };
    let te = get("transfer-encoding");
    let cl = get("content-length");
    if !te.is_empty() {
        // Codings may precede it, but `chunked` must come once, last: the framing.
        let codings: Vec<&str> = te
            .iter()
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .collect();
        let chunked = codings
            .iter()
            .filter(|c| c.eq_ignore_ascii_case("chunked"))
            .count();
        let last_chunked = codings
            .last()
            .is_some_and(|c| c.eq_ignore_ascii_case("chunked"));
        if !cl.is_empty() || chunked != 1 || !last_chunked || !codings.iter().all(|c| is_token(c)) {
            return Err(bad(format!("ambiguous framing te={te:?} cl={cl:?}")));
        }
        let mut body = Vec::new();
        loop {
            let size_line = read_line(r)?;
            let digits = size_line.split(';').next().unwrap_or("");
            let size = (is_hex(digits) && digits.len() <= 8)
                .then(|| usize::from_str_radix(digits, 16).ok())
                .flatten()
                .ok_or_else(|| bad(format!("bad chunk size {size_line:?}")))?;
            if size == 0 {
                while !read_line(r)?.is_empty() {}
                return Ok(body);
            }
            let start = body.len();
            body.resize(start + size, 0);
            r.read_exact(&mut body[start..])?;
            if !read_line(r)?.is_empty() {
                return Err(bad("chunk not followed by CRLF".into()));
            }
        }
    }
    match cl.as_slice() {
        [] if to_close => {
            let mut body = Vec::new();
            r.read_to_end(&mut body)?;
            Ok(body)
        }
        [] => Ok(Vec::new()),
        [one] => {
            let n: usize =
                (!one.is_empty() && one.len() <= 12 && one.bytes().all(|c| c.is_ascii_digit()))
                    .then(|| one.parse().ok())
                    .flatten()
                    .ok_or_else(|| bad(format!("bad content-length {one:?}")))?;
            let mut body = vec![0; n];
            r.read_exact(&mut body)?;
            Ok(body)
        }
        _ => Err(bad(format!("several content-length {cl:?}"))),
    }
}

fn is_hex(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|c| c.is_ascii_hexdigit())
}

fn bad(msg: String) -> std::io::Error {
    std::io::Error::new(ErrorKind::InvalidData, msg)
}

/// Sends `raw` to `127.0.0.1:port` and reads one response (5 s timeout).
pub fn request(port: u16, raw: &[u8]) -> std::io::Result<Response> {
    let mut s = TcpStream::connect((Ipv4Addr::LOCALHOST, port))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    s.write_all(raw)?;
    Response::read(&mut BufReader::new(s), raw.starts_with(b"HEAD "))
}

/// `GET path` with `Host: test` and `extra` header lines (each ending in `\r\n`),
/// `Connection: close`.
pub fn get(port: u16, path: &str, extra: &str) -> std::io::Result<Response> {
    request(
        port,
        format!("GET {path} HTTP/1.1\r\nhost: test\r\n{extra}connection: close\r\n\r\n").as_bytes(),
    )
}

/// What a client got back for a burst of raw bytes: see [`exchange`].
#[derive(Debug, Default)]
pub struct Exchange {
    /// The complete responses, in order.
    pub responses: Vec<Response>,
    /// Whether the server closed the connection (or reset it).
    pub closed: bool,
    /// Bytes after the last complete response.
    pub rest: Vec<u8>,
}

impl Exchange {
    /// The statuses of the responses, in order.
    pub fn statuses(&self) -> Vec<u16> {
        self.responses.iter().map(|r| r.status).collect()
    }
}

/// Sends `raw` to `127.0.0.1:port` in one write and collects responses until the server
/// closes, or `want` responses arrived and nothing more came for `settle`, or 5 s passed.
pub fn exchange(port: u16, raw: &[u8], want: usize, settle: Duration) -> std::io::Result<Exchange> {
    let mut s = TcpStream::connect((Ipv4Addr::LOCALHOST, port))?;
    s.write_all(raw)?;
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let mut buf = Vec::new();
    let mut out = Exchange::default();
    let mut chunk = [0u8; 16384];
    loop {
        let now = std::time::Instant::now();
        if now >= deadline {
            break;
        }
        let wait = if out.responses.len() >= want {
            settle
        } else {
            deadline - now
        };
        s.set_read_timeout(Some(wait.max(Duration::from_millis(1))))?;
        match s.read(&mut chunk) {
            Ok(0) => {
                out.closed = true;
                break;
            }
            Ok(n) => {
                buf.extend_from_slice(&chunk[..n]);
                parse_responses(&mut buf, &mut out.responses, false);
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                if out.responses.len() >= want {
                    break;
                }
            }
            Err(_) => {
                out.closed = true;
                break;
            }
        }
    }
    if out.closed {
        parse_responses(&mut buf, &mut out.responses, true);
    }
    out.rest = buf;
    Ok(out)
}

/// Moves every complete response at the front of `buf` into `out`. Responses delimited by
/// the close are complete only once `eof`.
fn parse_responses(buf: &mut Vec<u8>, out: &mut Vec<Response>, eof: bool) {
    loop {
        let mut cur = Cursor::new(&buf[..]);
        let Ok(resp) = Response::read(&mut cur, false) else {
            return;
        };
        let framed = resp.get("content-length").is_some()
            || resp.get("transfer-encoding").is_some()
            || matches!(resp.status, 100..=199 | 204 | 304);
        if !framed && !eof {
            return;
        }
        let used = usize::try_from(cur.position()).unwrap_or(buf.len());
        buf.drain(..used);
        out.push(resp);
        if buf.is_empty() {
            return;
        }
    }
}

/// An HTTP/2 client connection with prior knowledge (h2c) to `127.0.0.1:port`, its
/// connection task spawned on the current runtime.
pub async fn h2c(
    port: u16,
) -> hyper::client::conn::http2::SendRequest<http_body_util::Empty<bytes::Bytes>> {
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect to the proxy");
    let (sender, conn) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(tcp),
    )
    .await
    .expect("h2c handshake");
    tokio::spawn(conn);
    sender
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echo_backend_records_and_answers_keep_alive_requests() {
        let b = HttpBackend::echo("s1");
        let mut s = TcpStream::connect(b.addr()).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s.write_all(b"POST /a?x=1 HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\nGET /b HTTP/1.1\r\nHost: h\r\n\r\n").unwrap();
        let mut r = BufReader::new(s);
        let one = Response::read(&mut r, false).unwrap();
        let two = Response::read(&mut r, false).unwrap();
        assert_eq!(one.get("x-server"), Some("s1"));
        assert!(one.text().starts_with("s1 POST /a?x=1\n"), "{}", one.text());
        assert!(two.text().starts_with("s1 GET /b\n"));
        let reqs = b.requests();
        assert_eq!(reqs.len(), 2);
        assert_eq!(reqs[0].body, b"abc");
        assert_eq!((reqs[0].conn, reqs[1].conn), (0, 0));
    }

    #[test]
    fn strict_parser_refuses_ambiguous_framing() {
        let b = HttpBackend::echo("s1");
        let r = request(
            b.port,
            b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        )
        .unwrap();
        assert_eq!(r.status, 400);
        assert!(b.requests().is_empty());
    }
}
