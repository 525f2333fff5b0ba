//! HTTP traffic logs: the facts of one transaction and how each log-format variable
//! prints them, byte for byte as HAProxy 2.6 (`option httplog`, `option httplog clf`,
//! `log-format`, `unique-id-format`).
//!
//! # How the runtime calls it
//!
//! * **Accept**: remember the wall-clock accept date and a monotonic instant.
//! * **Request head complete**: [`request_line`] of the head *as received* (before any
//!   rule rewrites it: `%r`, `%HM`, `%HU`... show what the client sent), the request
//!   date (`%tr` = accept + `Th` + `Ti`), the captures ([`crate::http::cookie::capture_request`]
//!   for `%CC`, the header captures in `HttpTxn::req_captures`). With
//!   `unique-id-format`, render it once with [`unique_id`] (it may use `%[...]` fetches)
//!   and, with `unique-id-header NAME`, add `NAME: ID` to the request.
//! * **Response head**: `%CS` with [`crate::http::cookie::capture_response`], status.
//! * **End of the transaction** (response fully sent, or the error that ended it): fill
//!   an [`HttpLogFacts`] and call `Logger::log_http` with the frontend's
//!   `http_log.format` — unless `option dontlognull` is set and the client sent nothing
//!   ([`HttpLogFacts::is_null`]), or the request was for `monitor-uri`. With `option
//!   log-separate-errors` the level is `err` for [`HttpLogFacts::is_error`].
//!
//! Timers follow HAProxy (section 8.4 of its manual), all in milliseconds, `-1` when
//! the step never happened: `Th` handshake (PROXY header), `Ti` idle before the request
//! (keep-alive), `TR` request head reception, `Tw` queues, `Tc` server connect, `Tr`
//! server response head, `Ta` active time (`Tt - Th - Ti`), `Tt` total since accept.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::log::Termination;
use crate::log::time::LocalTime;
use crate::logformat::{Alias, AliasSource, Flags, LogFormat, write_text};
use crate::sample::StreamCtx;

/// Everything an HTTP log line can report about a finished transaction.
#[derive(Debug, Clone)]
pub struct HttpLogFacts<'a> {
    /// Wall-clock date of the accept (`%t`, `%T`, `%Tl`, `%Ts`, `%ms`).
    pub accept_date: SystemTime,
    /// Wall-clock date the request started (`%tr`, `%trg`, `%trl`): accept + Th + Ti.
    pub request_date: SystemTime,
    /// Local time zone offset, seconds east of UTC (`%t`, `%tr`, `%Tl`, `%trl`).
    pub utc_offset_secs: i32,
    /// `%Th`: connection handshake time.
    pub th_ms: i64,
    /// `%Ti`: idle time before the request.
    pub ti_ms: i64,
    /// `%TR`: time to receive the request head, from its first byte.
    pub treq_ms: i64,
    /// `%Tw`: time spent in queues.
    pub tw_ms: i64,
    /// `%Tc`: time to connect to the server.
    pub tc_ms: i64,
    /// `%Tr`: server response time (request sent to response head received).
    pub tr_ms: i64,
    /// `%Ta`: active time of the request (`Tt - Th - Ti`).
    pub ta_ms: i64,
    /// `%Tt`: total time since the accept.
    pub tt_ms: i64,
    /// `%ST`: status sent to the client; `None` prints `-1` (no response).
    pub status: Option<u16>,
    /// `%B`: bytes sent to the client (headers included).
    pub bytes_out: u64,
    /// `%U`: bytes received from the client (headers included).
    pub bytes_in: u64,
    /// First two characters of `%ts` / `%tsc`.
    pub termination: Termination,
    /// 3rd and 4th characters of `%tsc` ([`crate::http::cookie::CookieTxn::log_chars`]).
    pub cookie_chars: [char; 2],
    /// `%CC`: captured request cookie.
    pub req_cookie: Option<&'a str>,
    /// `%CS`: captured response cookie.
    pub res_cookie: Option<&'a str>,
    /// `%hr` / `%hrl`: request header captures, one per `capture request header` slot.
    pub req_captures: &'a [Option<String>],
    /// `%hs` / `%hsl`: response header captures.
    pub res_captures: &'a [Option<String>],
    /// The request line as received ([`request_line`]); `None` prints `<BADREQ>`.
    pub request_line: Option<&'a str>,
    /// `%ID`: the unique id.
    pub unique_id: Option<&'a str>,
    /// `%ac`: connections of the whole process.
    pub actconn: u32,
    /// `%fc`: connections of the frontend.
    pub feconn: u32,
    /// `%bc`: connections of the backend.
    pub beconn: u32,
    /// `%sc`: connections of the server.
    pub srv_conn: u32,
    /// `%rc`: connection retries.
    pub retries: u32,
    /// The request was redispatched (`%rc` gets a `+`).
    pub redispatched: bool,
    /// `%sq`: position in the server queue.
    pub srv_queue: usize,
    /// `%bq`: position in the backend queue.
    pub backend_queue: usize,
    /// `%bi:%bp`: our address toward the server.
    pub backend_src: Option<SocketAddr>,
    /// `%si:%sp`: the server's address.
    pub server_addr: Option<SocketAddr>,
    /// `%rt`: request counter (HAProxy's stream id).
    pub request_counter: u64,
    /// `%lc`: the frontend's log counter.
    pub log_counter: u64,
    /// `%H`: host name.
    pub hostname: Option<&'a str>,
}

impl HttpLogFacts<'_> {
    /// Facts for a transaction accepted at `accept_date` that has not progressed yet:
    /// every timer `-1`, no status, no byte, normal termination, nothing captured.
    /// The runtime updates the fields as the transaction goes.
    pub fn new(accept_date: SystemTime) -> Self {
        Self {
            accept_date,
            request_date: accept_date,
            utc_offset_secs: 0,
            th_ms: 0,
            ti_ms: 0,
            treq_ms: -1,
            tw_ms: -1,
            tc_ms: -1,
            tr_ms: -1,
            ta_ms: -1,
            tt_ms: -1,
            status: None,
            bytes_out: 0,
            bytes_in: 0,
            termination: Termination::NORMAL,
            cookie_chars: ['-', '-'],
            req_cookie: None,
            res_cookie: None,
            req_captures: &[],
            res_captures: &[],
            request_line: None,
            unique_id: None,
            actconn: 0,
            feconn: 0,
            beconn: 0,
            srv_conn: 0,
            retries: 0,
            redispatched: false,
            srv_queue: 0,
            backend_queue: 0,
            backend_src: None,
            server_addr: None,
            request_counter: 0,
            log_counter: 0,
            hostname: None,
        }
    }

    /// `option dontlognull`: the client sent nothing (no request at all).
    pub fn is_null(&self) -> bool {
        self.bytes_in == 0 && self.request_line.is_none()
    }

    /// `option log-separate-errors`: an error, timeout, retry, redispatch or 5xx.
    pub fn is_error(&self) -> bool {
        self.termination.cause != crate::log::TermCause::None
            || self.retries > 0
            || self.redispatched
            || self.status.is_some_and(|s| s >= 500)
    }
}

/// The request line HAProxy logs: `METHOD URI VERSION` (HTTP/2 requests print their
/// path and `HTTP/2.0`).
pub fn request_line(req: &http::request::Parts) -> String {
    let version = match req.version {
        http::Version::HTTP_09 => "HTTP/0.9",
        http::Version::HTTP_10 => "HTTP/1.0",
        http::Version::HTTP_2 => "HTTP/2.0",
        http::Version::HTTP_3 => "HTTP/3.0",
        _ => "HTTP/1.1",
    };
    let uri = req.uri.to_string();
    let mut out = String::with_capacity(req.method.as_str().len() + uri.len() + 10);
    let _ = write!(out, "{} {} {}", req.method, uri, version);
    out
}

/// Renders `unique-id-format` for a request (flags and fetches apply as in logs).
pub fn unique_id(format: &LogFormat, ctx: &StreamCtx<'_>, facts: &HttpLogFacts<'_>) -> String {
    format.render(ctx, facts)
}

/// Escapes like HAProxy's `lf_encode_string`: bytes outside 32..=126 and those of
/// `special` become `#XX`.
fn write_encoded(out: &mut String, text: &str, special: &[u8]) {
    for &b in text.as_bytes() {
        if !(32..=126).contains(&b) || special.contains(&b) {
            let _ = write!(out, "#{b:02X}");
        } else {
            out.push(char::from(b));
        }
    }
}

/// Characters escaped in the request line.
const URL_SPECIAL: &[u8] = b"\"#";
/// Characters escaped in captured headers.
const HDR_SPECIAL: &[u8] = b"\"#{|}";

fn write_ms(out: &mut String, ms: i64, _: Flags) {
    let _ = write!(out, "{}", ms.max(-1));
}

/// Numbers print in decimal: HAProxy's `X` flag only applies to addresses, ports,
/// `%Ts`, `%rt` and `%pid`.
fn write_num(out: &mut String, v: u64, _: Flags) {
    let _ = write!(out, "{v}");
}

fn write_addr_ip(out: &mut String, a: Option<SocketAddr>, flags: Flags) {
    match a {
        Some(a) if flags.hexa => match a.ip() {
            std::net::IpAddr::V4(v4) => v4.octets().iter().for_each(|o| {
                let _ = write!(out, "{o:02X}");
            }),
            std::net::IpAddr::V6(v6) => v6.octets().iter().for_each(|o| {
                let _ = write!(out, "{o:02X}");
            }),
        },
        Some(a) => write_text(out, Some(&a.ip().to_string()), flags),
        None => write_text(out, None, flags),
    }
}

fn write_port(out: &mut String, a: Option<SocketAddr>, flags: Flags) {
    match a {
        Some(a) if flags.hexa => {
            let _ = write!(out, "{:04X}", a.port());
        }
        Some(a) => {
            let _ = write!(out, "{}", a.port());
        }
        None => write_text(out, None, flags),
    }
}

/// `%r` parts: method, URI, version (the line is `<BADREQ>` when absent or odd).
fn split_line(line: Option<&str>) -> Option<(&str, &str, &str)> {
    let mut it = line?.splitn(3, ' ');
    Some((it.next()?, it.next().unwrap_or(""), it.next().unwrap_or("")))
}

/// Quoting for text written by hand (`%hr`, `%r`...): HAProxy writes the quotes itself.
fn quoted(out: &mut String, flags: Flags, f: impl FnOnce(&mut String)) {
    if flags.quote {
        out.push('"');
    }
    f(out);
    if flags.quote {
        out.push('"');
    }
}

impl HttpLogFacts<'_> {
    fn write_captures(&self, out: &mut String, caps: &[Option<String>], flags: Flags) -> bool {
        if caps.is_empty() {
            // Nothing at all (not even "-") when nothing is captured, as HAProxy.
            return true;
        }
        quoted(out, flags, |out| {
            out.push('{');
            for (i, c) in caps.iter().enumerate() {
                if i > 0 {
                    out.push('|');
                }
                if let Some(c) = c {
                    write_encoded(out, c, HDR_SPECIAL);
                }
            }
            out.push('}');
        });
        true
    }

    fn write_capture_list(&self, out: &mut String, caps: &[Option<String>], flags: Flags) {
        for (i, c) in caps.iter().enumerate() {
            if i > 0 {
                out.push(' ');
            }
            if flags.quote {
                out.push('"');
            }
            match c {
                Some(c) => write_encoded(out, c, HDR_SPECIAL),
                None if !flags.quote => out.push('-'),
                None => {}
            }
            if flags.quote {
                out.push('"');
            }
        }
    }

    fn write_uri_part(&self, out: &mut String, alias: Alias, flags: Flags) {
        let Some((method, uri, version)) = split_line(self.request_line) else {
            write_text(out, Some("<BADREQ>"), flags);
            return;
        };
        let part = match alias {
            Alias::HttpMethod => method,
            Alias::HttpVersion => version,
            Alias::HttpUri => uri,
            Alias::HttpPath => uri.split('?').next().unwrap_or(""),
            Alias::HttpQuery => uri.find('?').map_or("", |i| &uri[i..]),
            _ => {
                // %HPO: path only, without scheme, authority and query.
                let no_query = uri.split('?').next().unwrap_or("");
                match no_query.find("://") {
                    Some(i) => {
                        let rest = &no_query[i + 3..];
                        rest.find('/').map_or("", |j| &rest[j..])
                    }
                    None => no_query,
                }
            }
        };
        // Empty parts print nothing (not "-"), as HAProxy's `lf_encode_chunk`.
        quoted(out, flags, |out| write_encoded(out, part, URL_SPECIAL));
    }
}

impl AliasSource for HttpLogFacts<'_> {
    fn write_alias(&self, alias: Alias, flags: Flags, out: &mut String) -> bool {
        let local = |t: SystemTime| LocalTime::from_system_time(t, self.utc_offset_secs);
        let gmt = |t: SystemTime| LocalTime::from_system_time(t, 0);
        match alias {
            Alias::Date => local(self.accept_date).write_accept_date(out),
            Alias::RequestDate => local(self.request_date).write_accept_date(out),
            Alias::DateGmt => gmt(self.accept_date).write_clf_date(out),
            Alias::DateLocal => local(self.accept_date).write_clf_date(out),
            Alias::RequestDateGmt => gmt(self.request_date).write_clf_date(out),
            Alias::RequestDateLocal => local(self.request_date).write_clf_date(out),
            Alias::Timestamp => {
                let secs = self
                    .accept_date
                    .duration_since(UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs());
                let _ = if flags.hexa {
                    write!(out, "{secs:08X}")
                } else {
                    write!(out, "{secs}")
                };
            }
            Alias::AcceptMs => {
                let ms = self
                    .accept_date
                    .duration_since(UNIX_EPOCH)
                    .map_or(0, |d| d.subsec_millis());
                let _ = write!(out, "{ms:03}");
            }
            Alias::TimeHandshake => write_ms(out, self.th_ms, flags),
            Alias::TimeIdle => write_ms(out, self.ti_ms, flags),
            Alias::TimeRequest => write_ms(out, self.treq_ms, flags),
            Alias::TimeRequestQ => {
                let tq = if self.treq_ms < 0 {
                    -1
                } else {
                    self.th_ms.max(0) + self.ti_ms.max(0) + self.treq_ms
                };
                write_ms(out, tq, flags);
            }
            Alias::TimeWait => write_ms(out, self.tw_ms, flags),
            Alias::TimeConnect => write_ms(out, self.tc_ms, flags),
            Alias::TimeResponse => write_ms(out, self.tr_ms, flags),
            Alias::TimeActive => write_ms(out, self.ta_ms, flags),
            Alias::TimeTotal => write_ms(out, self.tt_ms, flags),
            Alias::TimeUser => write_ms(out, self.tt_ms - self.ti_ms.max(0), flags),
            Alias::TimeData => {
                let before = self.th_ms.max(0)
                    + self.ti_ms.max(0)
                    + self.treq_ms.max(0)
                    + self.tw_ms.max(0)
                    + self.tc_ms.max(0)
                    + self.tr_ms.max(0);
                let td = if self.tr_ms < 0 {
                    -1
                } else {
                    self.tt_ms - before
                };
                write_ms(out, td, flags);
            }
            Alias::Status => {
                let _ = write!(out, "{}", self.status.map_or(-1, i32::from));
            }
            Alias::Bytes => write_num(out, self.bytes_out, flags),
            Alias::BytesUp => write_num(out, self.bytes_in, flags),
            Alias::TermState => {
                let _ = write!(out, "{}", self.termination);
            }
            Alias::TermStateCookie => {
                let [c, s] = self.cookie_chars;
                let _ = write!(out, "{}{c}{s}", self.termination);
            }
            Alias::CapturedRequestCookie => write_text(out, self.req_cookie, flags),
            Alias::CapturedResponseCookie => write_text(out, self.res_cookie, flags),
            Alias::RequestHeaders => return self.write_captures(out, self.req_captures, flags),
            Alias::ResponseHeaders => return self.write_captures(out, self.res_captures, flags),
            Alias::RequestHeaderList => self.write_capture_list(out, self.req_captures, flags),
            Alias::ResponseHeaderList => self.write_capture_list(out, self.res_captures, flags),
            Alias::RequestLine => quoted(out, flags, |out| {
                write_encoded(out, self.request_line.unwrap_or("<BADREQ>"), URL_SPECIAL);
            }),
            Alias::HttpMethod
            | Alias::HttpUri
            | Alias::HttpPath
            | Alias::HttpPathOnly
            | Alias::HttpQuery
            | Alias::HttpVersion => self.write_uri_part(out, alias, flags),
            Alias::UniqueId => write_text(out, self.unique_id, flags),
            Alias::ActConn => write_num(out, u64::from(self.actconn), flags),
            Alias::FeConn => write_num(out, u64::from(self.feconn), flags),
            Alias::BeConn => write_num(out, u64::from(self.beconn), flags),
            Alias::SrvConn => write_num(out, u64::from(self.srv_conn), flags),
            Alias::Retries => {
                if self.redispatched {
                    out.push('+');
                }
                write_num(out, u64::from(self.retries), flags);
            }
            Alias::ServerQueue => write_num(out, self.srv_queue as u64, flags),
            Alias::BackendQueue => write_num(out, self.backend_queue as u64, flags),
            Alias::BackendIp => write_addr_ip(out, self.backend_src, flags),
            Alias::BackendPort => write_port(out, self.backend_src, flags),
            Alias::ServerIp => write_addr_ip(out, self.server_addr, flags),
            Alias::ServerPort => write_port(out, self.server_addr, flags),
            Alias::RequestCounter => {
                let v = self.request_counter;
                let _ = if flags.hexa {
                    write!(out, "{v:04X}")
                } else {
                    write!(out, "{v}")
                };
            }
            Alias::LogCounter => write_num(out, self.log_counter, flags),
            Alias::Hostname => write_text(out, self.hostname, flags),
            _ => return false,
        }
        true
    }
}

#[cfg(test)]
#[path = "log_tests.rs"]
mod tests;
