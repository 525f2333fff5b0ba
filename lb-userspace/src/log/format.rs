//! Traffic log lines, byte for byte as HAProxy 2.6 writes them.
//!
//! * `option tcplog`: the default TCP log format
//!   `%ci:%cp [%t] %ft %b/%s %Tw/%Tc/%Tt %B %ts %ac/%fc/%bc/%sc/%rc %sq/%bq`, written once when
//!   the connection ends ([`format_tcplog`]).
//! * Without `option tcplog`: the short line written at accept time,
//!   `Connect from CLIENT to FRONTEND_ADDR (NAME/TCP)` ([`format_connect`]).
//!
//! Pure: the runtime fills a [`TcpLogRecord`]; the caller passes the UTC offset to use for
//! the accept date (HAProxy prints local time).

use std::fmt::{self, Write as _};
use std::net::SocketAddr;
use std::time::SystemTime;

use crate::config::model::Mode;

use super::time::LocalTime;

/// Why a connection ended: the first character of the termination state (`%ts`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TermCause {
    /// `-`: normal end, both sides closed.
    #[default]
    None,
    /// `C`: the client aborted (closed or reset) first.
    ClientAbort,
    /// `S`: the server aborted or refused the connection, or a check reported it failing.
    ServerAbort,
    /// `P`: the proxy stopped the session (a rule or a protocol error on our side).
    Proxy,
    /// `R`: a resource ran out (memory, sockets, source ports...).
    Resource,
    /// `I`: an internal error.
    Internal,
    /// `D`: the server was marked DOWN and its sessions were killed (`on-marked-down`).
    Down,
    /// `U`: a server came UP and this backup-server session was killed (`on-marked-up`).
    Up,
    /// `L`: the session was handled locally (no server involved).
    Local,
    /// `K`: the session was killed by an administrator.
    Killed,
    /// `c`: the client-side timeout expired.
    ClientTimeout,
    /// `s`: the server-side timeout expired (including `timeout connect` and `timeout queue`).
    ServerTimeout,
}

impl TermCause {
    /// The log character.
    pub fn as_char(self) -> char {
        match self {
            Self::None => '-',
            Self::ClientAbort => 'C',
            Self::ServerAbort => 'S',
            Self::Proxy => 'P',
            Self::Resource => 'R',
            Self::Internal => 'I',
            Self::Down => 'D',
            Self::Up => 'U',
            Self::Local => 'L',
            Self::Killed => 'K',
            Self::ClientTimeout => 'c',
            Self::ServerTimeout => 's',
        }
    }
}

/// Where the session was when it ended: the second character of the termination state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TermPhase {
    /// `-`: normal end, after all data was transferred.
    #[default]
    None,
    /// `R`: waiting for the client's request (or the first client bytes a rule waits for).
    Request,
    /// `Q`: waiting in a queue for a server slot.
    Queue,
    /// `C`: waiting for the connection to the server to establish.
    Connect,
    /// `H`: waiting for the server's response headers (HTTP).
    Headers,
    /// `D`: during the data phase.
    Data,
    /// `L`: while sending the last data to the client after the server closed.
    LastData,
    /// `T`: tarpitted.
    Tarpit,
}

impl TermPhase {
    /// The log character.
    pub fn as_char(self) -> char {
        match self {
            Self::None => '-',
            Self::Request => 'R',
            Self::Queue => 'Q',
            Self::Connect => 'C',
            Self::Headers => 'H',
            Self::Data => 'D',
            Self::LastData => 'L',
            Self::Tarpit => 'T',
        }
    }
}

/// The two-character termination state (`%ts`), e.g. `--`, `cD`, `sQ`, `SC`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Termination {
    /// First character: the cause.
    pub cause: TermCause,
    /// Second character: the phase.
    pub phase: TermPhase,
}

impl Termination {
    /// `--`: the session ended normally.
    pub const NORMAL: Self = Self {
        cause: TermCause::None,
        phase: TermPhase::None,
    };

    /// A termination state from its two parts.
    pub const fn new(cause: TermCause, phase: TermPhase) -> Self {
        Self { cause, phase }
    }

    /// Parses HAProxy's two characters (e.g. `b"sQ"`); `None` if either is not a known code.
    pub fn from_bytes(b: [u8; 2]) -> Option<Self> {
        let cause = match b[0] {
            b'-' => TermCause::None,
            b'C' => TermCause::ClientAbort,
            b'S' => TermCause::ServerAbort,
            b'P' => TermCause::Proxy,
            b'R' => TermCause::Resource,
            b'I' => TermCause::Internal,
            b'D' => TermCause::Down,
            b'U' => TermCause::Up,
            b'L' => TermCause::Local,
            b'K' => TermCause::Killed,
            b'c' => TermCause::ClientTimeout,
            b's' => TermCause::ServerTimeout,
            _ => return None,
        };
        let phase = match b[1] {
            b'-' => TermPhase::None,
            b'R' => TermPhase::Request,
            b'Q' => TermPhase::Queue,
            b'C' => TermPhase::Connect,
            b'H' => TermPhase::Headers,
            b'D' => TermPhase::Data,
            b'L' => TermPhase::LastData,
            b'T' => TermPhase::Tarpit,
            _ => return None,
        };
        Some(Self { cause, phase })
    }
}

impl fmt::Display for Termination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_char(self.cause.as_char())?;
        f.write_char(self.phase.as_char())
    }
}

/// A connection endpoint as the logs print it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogAddr {
    /// A TCP endpoint: printed `IP:PORT` (IPv6 without brackets, as HAProxy does).
    Inet(SocketAddr),
    /// A connection accepted on a unix stream socket: printed `unix:ID`, `ID` being the
    /// listener's 1-based number in its frontend (HAProxy's `luid`).
    Unix {
        /// The listener number.
        listener_id: u32,
    },
}

impl fmt::Display for LogAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Inet(sa) => write!(f, "{}:{}", sa.ip(), sa.port()),
            Self::Unix { listener_id } => write!(f, "unix:{listener_id}"),
        }
    }
}

/// Everything one `option tcplog` line reports about a finished connection.
///
/// Times are milliseconds measured from the accept; a negative value prints HAProxy's `-1`
/// ("this step never happened").
#[derive(Debug, Clone)]
pub struct TcpLogRecord<'a> {
    /// Client address (`%ci:%cp`).
    pub client: LogAddr,
    /// Wall-clock time of the accept (`%t`).
    pub accept_date: SystemTime,
    /// Frontend name (`%ft`).
    pub frontend: &'a str,
    /// Backend name (`%b`); `None` when no backend was chosen, which prints the frontend's
    /// name as HAProxy does (its stream starts with the frontend as backend).
    pub backend: Option<&'a str>,
    /// Server name (`%s`); `None` prints `<NOSRV>`.
    pub server: Option<&'a str>,
    /// `%Tw`: time spent in queues; -1 when the connection ended before being queued or
    /// dispatched.
    pub tw_ms: i64,
    /// `%Tc`: time to establish the server connection; -1 when it never was.
    pub tc_ms: i64,
    /// `%Tt`: total time from accept to close.
    pub tt_ms: i64,
    /// `%B`: bytes sent from the server to the client.
    pub bytes_read: u64,
    /// `%ts`: how the connection ended.
    pub termination: Termination,
    /// `%ac`: connections open in the whole process when logging.
    pub actconn: u32,
    /// `%fc`: connections open on the frontend.
    pub feconn: u32,
    /// `%bc`: connections open on the backend.
    pub beconn: u32,
    /// `%sc`: connections open on the server.
    pub srv_conn: u32,
    /// `%rc`: connection retries.
    pub retries: u32,
    /// Whether the connection was redispatched to another server (`%rc` gets a `+` prefix).
    pub redispatched: bool,
    /// `%sq`: connections that were ahead in the server queue when this one was queued.
    pub srv_queue: usize,
    /// `%bq`: connections that were ahead in the backend queue when this one was queued.
    pub backend_queue: usize,
}

/// Writes a duration the HAProxy way (`-1` when unknown).
fn write_ms(out: &mut String, ms: i64) {
    let _ = write!(out, "{}", ms.max(-1));
}

/// Formats an `option tcplog` line (no trailing newline). `utc_offset_secs` is the local
/// time zone's offset at `rec.accept_date`.
pub fn format_tcplog(rec: &TcpLogRecord<'_>, utc_offset_secs: i32) -> String {
    let mut out = String::with_capacity(160);
    let _ = write!(out, "{} [", rec.client);
    LocalTime::from_system_time(rec.accept_date, utc_offset_secs).write_accept_date(&mut out);
    let _ = write!(
        out,
        "] {} {}/{} ",
        rec.frontend,
        rec.backend.unwrap_or(rec.frontend),
        rec.server.unwrap_or("<NOSRV>")
    );
    write_ms(&mut out, rec.tw_ms);
    out.push('/');
    write_ms(&mut out, rec.tc_ms);
    out.push('/');
    write_ms(&mut out, rec.tt_ms);
    let _ = write!(
        out,
        " {} {} {}/{}/{}/{}/{}{} {}/{}",
        rec.bytes_read,
        rec.termination,
        rec.actconn,
        rec.feconn,
        rec.beconn,
        rec.srv_conn,
        if rec.redispatched { "+" } else { "" },
        rec.retries,
        rec.srv_queue,
        rec.backend_queue
    );
    out
}

/// Formats the line HAProxy logs at accept time when a proxy has log targets but no log
/// format (`option tcplog` unset): `Connect from 10.0.1.2:33312 to 10.0.3.31:8012 (www/TCP)`,
/// or `Connect to unix:1 (www/TCP)` for a unix-socket listener.
pub fn format_connect(
    client: LogAddr,
    frontend_addr: LogAddr,
    frontend: &str,
    mode: Mode,
) -> String {
    let mode = match mode {
        Mode::Tcp => "TCP",
        Mode::Http => "HTTP",
    };
    match (client, frontend_addr) {
        (LogAddr::Unix { listener_id }, _) | (_, LogAddr::Unix { listener_id }) => {
            format!("Connect to unix:{listener_id} ({frontend}/{mode})")
        }
        (client, local) => format!("Connect from {client} to {local} ({frontend}/{mode})"),
    }
}

/// Formats HAProxy's line for a connection that failed before becoming a stream (bad
/// PROXY header, handshake error): `10.0.1.2:33312 [DATE] fe/1: MESSAGE`, `1` being the
/// listener's number.
pub fn format_connection_error(
    client: LogAddr,
    accept_date: SystemTime,
    utc_offset_secs: i32,
    frontend: &str,
    listener_id: u32,
    msg: &str,
) -> String {
    let mut out = format!("{client} [");
    LocalTime::from_system_time(accept_date, utc_offset_secs).write_accept_date(&mut out);
    let _ = write!(out, "] {frontend}/{listener_id}: {msg}");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn connection_error_line() {
        let date = UNIX_EPOCH + Duration::from_millis(1_795_921_357_123);
        let line = format_connection_error(
            LogAddr::Inet("10.0.1.2:33312".parse().unwrap()),
            date,
            0,
            "fe",
            1,
            "Received something which does not look like a PROXY protocol header",
        );
        assert!(line.starts_with("10.0.1.2:33312 ["), "{line}");
        assert!(
            line.ends_with(
                "] fe/1: Received something which does not look like a PROXY protocol header"
            ),
            "{line}"
        );
    }

    fn record() -> TcpLogRecord<'static> {
        TcpLogRecord {
            client: LogAddr::Inet("10.0.1.2:33313".parse().unwrap()),
            // 2009-02-06 12:12:51.443 UTC
            accept_date: UNIX_EPOCH + Duration::from_millis(1_233_922_371_443),
            frontend: "fnt",
            backend: Some("bck"),
            server: Some("srv1"),
            tw_ms: 0,
            tc_ms: 0,
            tt_ms: 5007,
            bytes_read: 212,
            termination: Termination::NORMAL,
            actconn: 0,
            feconn: 0,
            beconn: 0,
            srv_conn: 0,
            retries: 3,
            redispatched: false,
            srv_queue: 0,
            backend_queue: 0,
        }
    }

    #[test]
    fn matches_the_manual_example() {
        // HAProxy configuration manual, section 8.2.2 (TCP log format).
        assert_eq!(
            format_tcplog(&record(), 0),
            "10.0.1.2:33313 [06/Feb/2009:12:12:51.443] fnt bck/srv1 0/0/5007 212 -- 0/0/0/0/3 0/0"
        );
    }

    #[test]
    fn accept_date_is_local_time() {
        let line = format_tcplog(&record(), 3600);
        assert!(line.contains("[06/Feb/2009:13:12:51.443]"), "{line}");
    }

    #[test]
    fn unknown_times_server_and_backend() {
        let mut r = record();
        r.backend = None;
        r.server = None;
        r.tw_ms = -1;
        r.tc_ms = -1;
        r.tt_ms = 3;
        r.bytes_read = 0;
        r.retries = 0;
        r.termination = Termination::new(TermCause::ClientAbort, TermPhase::Request);
        let line = format_tcplog(&r, 0);
        assert!(
            line.ends_with("] fnt fnt/<NOSRV> -1/-1/3 0 CR 0/0/0/0/0 0/0"),
            "{line}"
        );
    }

    #[test]
    fn queue_timeout_line() {
        let mut r = record();
        r.server = None;
        r.tw_ms = 1001;
        r.tc_ms = -5;
        r.tt_ms = 1001;
        r.bytes_read = 0;
        r.termination = Termination::new(TermCause::ServerTimeout, TermPhase::Queue);
        r.actconn = 4;
        r.feconn = 4;
        r.beconn = 3;
        r.srv_conn = 1;
        r.retries = 0;
        r.srv_queue = 2;
        r.backend_queue = 0;
        let line = format_tcplog(&r, 0);
        assert!(
            line.ends_with(" bck/<NOSRV> 1001/-1/1001 0 sQ 4/4/3/1/0 2/0"),
            "{line}"
        );
    }

    #[test]
    fn redispatch_prefixes_retries_and_ipv6_has_no_brackets() {
        let mut r = record();
        r.client = LogAddr::Inet("[::1]:4242".parse().unwrap());
        r.redispatched = true;
        r.retries = 1;
        let line = format_tcplog(&r, 0);
        assert!(line.starts_with("::1:4242 ["), "{line}");
        assert!(line.contains(" 0/0/0/0/+1 "), "{line}");
    }

    #[test]
    fn termination_chars() {
        let all = [
            (TermCause::None, '-'),
            (TermCause::ClientAbort, 'C'),
            (TermCause::ServerAbort, 'S'),
            (TermCause::Proxy, 'P'),
            (TermCause::Resource, 'R'),
            (TermCause::Internal, 'I'),
            (TermCause::Down, 'D'),
            (TermCause::Up, 'U'),
            (TermCause::Local, 'L'),
            (TermCause::Killed, 'K'),
            (TermCause::ClientTimeout, 'c'),
            (TermCause::ServerTimeout, 's'),
        ];
        for (c, ch) in all {
            assert_eq!(c.as_char(), ch);
        }
        let phases = "-RQCHDLT";
        let got: String = [
            TermPhase::None,
            TermPhase::Request,
            TermPhase::Queue,
            TermPhase::Connect,
            TermPhase::Headers,
            TermPhase::Data,
            TermPhase::LastData,
            TermPhase::Tarpit,
        ]
        .iter()
        .map(|p| p.as_char())
        .collect();
        assert_eq!(got, phases);
        assert_eq!(
            Termination::new(TermCause::ClientTimeout, TermPhase::Data).to_string(),
            "cD"
        );
        for code in ["--", "sQ", "cD", "SC", "CR", "KD", "PR", "UD", "LT"] {
            let b: [u8; 2] = code.as_bytes().try_into().unwrap();
            assert_eq!(Termination::from_bytes(b).unwrap().to_string(), code);
        }
        assert_eq!(Termination::from_bytes(*b"xD"), None);
        assert_eq!(Termination::from_bytes(*b"-x"), None);
    }

    #[test]
    fn connect_lines() {
        let c = LogAddr::Inet("10.0.1.2:33312".parse().unwrap());
        let l = LogAddr::Inet("10.0.3.31:8012".parse().unwrap());
        assert_eq!(
            format_connect(c, l, "www", Mode::Http),
            "Connect from 10.0.1.2:33312 to 10.0.3.31:8012 (www/HTTP)"
        );
        assert_eq!(
            format_connect(LogAddr::Unix { listener_id: 2 }, l, "fe", Mode::Tcp),
            "Connect to unix:2 (fe/TCP)"
        );
    }
}
