//! The I/O edge of logging: a [`Logger`] sends framed lines to its targets without ever
//! blocking the worker that calls it.
//!
//! * UDP syslog: one non-blocking, connected UDP socket per target; a full socket buffer
//!   (`EAGAIN`) or an error drops the line and counts it ([`dropped_logs`]).
//! * Unix datagram sockets (`/dev/log`): one non-blocking unbound socket per target.
//! * `stdout` / `stderr`: lines go through a bounded queue to one writer thread per stream,
//!   so a slow terminal or a full pipe drops lines instead of stalling a worker. Each line is
//!   written with a single `write`, so lines up to `PIPE_BUF` never interleave.
//!
//! Create loggers after daemonizing: the writer threads start on first use.

use std::cell::Cell;
use std::io::{self, Write as _};
use std::net::UdpSocket;
use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{self, SyncSender, TrySendError};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::config::model::{LogDest, LogFormat, LogTarget, Mode};

use super::format::{
    LogAddr, TcpLogRecord, format_connect, format_connection_error, format_tcplog,
};
use super::syslog::{DEFAULT_MAX_LEN, Facility, Header, Level, frame};
use super::time::LocalTime;

/// Lines dropped since start (full socket buffers, full stdio queues, send errors).
static DROPPED: AtomicU64 = AtomicU64::new(0);

/// How many log lines were dropped since the process started (HAProxy's `DroppedLogs`).
pub fn dropped_logs() -> u64 {
    DROPPED.load(Ordering::Relaxed)
}

fn drop_one() {
    DROPPED.fetch_add(1, Ordering::Relaxed);
}

/// Why a [`Logger`] could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LogError {
    /// A facility name that is not one of HAProxy's 24.
    #[error("unknown log facility '{0}'")]
    UnknownFacility(String),
    /// A level name that is not one of `emerg` .. `debug`.
    #[error("unknown log level '{0}'")]
    UnknownLevel(String),
    /// Creating a socket for a network or unix target failed.
    #[error("cannot create a log socket for {target}: {source}")]
    Socket {
        /// The target, as written in the configuration.
        target: String,
        /// The system error.
        source: io::Error,
    },
}

/// Lines queued per stdio stream before new lines are dropped.
const STDIO_QUEUE: usize = 8192;

/// One writer thread per standard stream, started on first use.
struct StdioWriter {
    tx: SyncSender<Vec<u8>>,
    pending: Arc<AtomicUsize>,
}

static STDOUT_WRITER: OnceLock<Option<StdioWriter>> = OnceLock::new();
static STDERR_WRITER: OnceLock<Option<StdioWriter>> = OnceLock::new();

fn stdio_writer(stderr: bool) -> Option<&'static StdioWriter> {
    let cell = if stderr {
        &STDERR_WRITER
    } else {
        &STDOUT_WRITER
    };
    cell.get_or_init(|| {
        let (tx, rx) = mpsc::sync_channel::<Vec<u8>>(STDIO_QUEUE);
        let pending = Arc::new(AtomicUsize::new(0));
        let done = Arc::clone(&pending);
        let name = if stderr {
            "lb-log-stderr"
        } else {
            "lb-log-stdout"
        };
        std::thread::Builder::new()
            .name(name.into())
            .spawn(move || {
                for line in rx {
                    // One write per line: atomic on pipes up to PIPE_BUF, and `write_all`
                    // only loops on a short write of a longer line.
                    let res = if stderr {
                        io::stderr().lock().write_all(&line)
                    } else {
                        io::stdout().lock().write_all(&line)
                    };
                    if res.is_err() {
                        drop_one();
                    }
                    done.fetch_sub(1, Ordering::Release);
                }
            })
            .ok()
            .map(|_| StdioWriter { tx, pending })
    })
    .as_ref()
}

/// Waits (at most `timeout`) until every line queued for stdout/stderr has been written.
/// Call it before exiting so the last traffic logs are not lost.
pub fn flush_stdio(timeout: Duration) {
    let deadline = Instant::now() + timeout;
    for w in [&STDOUT_WRITER, &STDERR_WRITER]
        .into_iter()
        .filter_map(|c| c.get()?.as_ref())
    {
        while w.pending.load(Ordering::Acquire) > 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(2));
        }
    }
}

/// Where one target's lines go.
#[derive(Clone)]
enum Output {
    Stdio(&'static StdioWriter),
    Udp(Arc<UdpSocket>),
    Unix(Arc<UnixDatagram>, Arc<PathBuf>),
}

impl Output {
    fn send(&self, line: Vec<u8>) {
        match self {
            Self::Stdio(w) => {
                w.pending.fetch_add(1, Ordering::AcqRel);
                if let Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) =
                    w.tx.try_send(line)
                {
                    w.pending.fetch_sub(1, Ordering::AcqRel);
                    drop_one();
                }
            }
            // Errors other than EAGAIN (e.g. ECONNREFUSED reported by ICMP when no syslog
            // daemon listens) also just drop the line, as HAProxy does.
            Self::Udp(s) => {
                if s.send(&line).is_err() {
                    drop_one();
                }
            }
            Self::Unix(s, path) => {
                if s.send_to(&line, path.as_path()).is_err() {
                    drop_one();
                }
            }
        }
    }

    /// Network targets are truncated to syslog's classic length; stdio never is.
    fn max_len(&self) -> Option<usize> {
        match self {
            Self::Stdio(_) => None,
            Self::Udp(_) | Self::Unix(..) => Some(DEFAULT_MAX_LEN),
        }
    }
}

#[derive(Clone)]
struct Target {
    facility: Facility,
    max_level: Option<Level>,
    format: LogFormat,
    out: Output,
}

/// Sends log lines to a proxy's (or the global section's) log targets.
///
/// Cheap to clone (sockets are shared, sends on datagram sockets need no lock); meant to be
/// cloned once per worker. Not `Sync`: it caches the local UTC offset without locking.
#[derive(Clone)]
pub struct Logger {
    targets: Vec<Target>,
    tag: Arc<str>,
    hostname: Option<Arc<str>>,
    pid: u32,
    /// (unix minute the cached offset is valid for, offset in seconds).
    tz: Cell<(i64, i32)>,
}

impl std::fmt::Debug for Logger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Logger")
            .field("targets", &self.targets.len())
            .finish()
    }
}

impl Logger {
    /// A logger for `targets`, tagged `lb`, without host name (HAProxy's defaults).
    pub fn new(targets: &[LogTarget]) -> Result<Self, LogError> {
        let mut built = Vec::with_capacity(targets.len());
        for t in targets {
            built.push(build_target(t)?);
        }
        Ok(Self {
            targets: built,
            tag: Arc::from("lb"),
            hostname: None,
            pid: std::process::id(),
            tz: Cell::new((i64::MIN, 0)),
        })
    }

    /// Sets the syslog tag (`log-tag`).
    pub fn with_tag(mut self, tag: &str) -> Self {
        self.tag = Arc::from(tag);
        self
    }

    /// Sets the host name sent in syslog headers (`log-send-hostname`).
    pub fn with_hostname(mut self, hostname: &str) -> Self {
        self.hostname = Some(Arc::from(hostname));
        self
    }

    /// Whether this logger has no target (callers can skip building messages).
    pub fn is_empty(&self) -> bool {
        self.targets.is_empty()
    }

    /// Sends `msg` at `level` to every target whose max level lets it through.
    pub fn log(&self, level: Level, msg: &str) {
        if self.targets.is_empty() {
            return;
        }
        let now =
            LocalTime::from_system_time(SystemTime::now(), self.utc_offset(SystemTime::now()));
        for t in self.targets.iter().filter(|t| level.passes(t.max_level)) {
            let hdr = Header {
                facility: t.facility,
                level,
                time: &now,
                hostname: self.hostname.as_deref(),
                tag: &self.tag,
                pid: self.pid,
            };
            t.out.send(frame(t.format, &hdr, msg, t.out.max_len()));
        }
    }

    /// Logs a finished connection in `option tcplog` format (level `info`).
    pub fn log_tcp(&self, rec: &TcpLogRecord<'_>) {
        if !self.targets.is_empty() {
            self.log(
                Level::Info,
                &format_tcplog(rec, self.utc_offset(rec.accept_date)),
            );
        }
    }

    /// Logs a finished HTTP transaction with the frontend's format (`option httplog`,
    /// `log-format`...), at level `info`, or `err` when `separate_errors` (`option
    /// log-separate-errors`) is set and the transaction failed. The local time zone is
    /// filled in `facts` here.
    pub fn log_http(
        &self,
        format: &crate::logformat::LogFormat,
        ctx: &crate::sample::StreamCtx<'_>,
        facts: &mut crate::http::log::HttpLogFacts<'_>,
        separate_errors: bool,
    ) {
        if self.targets.is_empty() {
            return;
        }
        facts.utc_offset_secs = self.utc_offset(facts.accept_date);
        let level = if separate_errors && facts.is_error() {
            Level::Err
        } else {
            Level::Info
        };
        self.log(level, &format.render(ctx, &*facts));
    }

    /// Logs an accepted connection with HAProxy's default short format (level `info`).
    pub fn log_connect(&self, client: LogAddr, frontend_addr: LogAddr, frontend: &str, mode: Mode) {
        if !self.targets.is_empty() {
            self.log(
                Level::Info,
                &format_connect(client, frontend_addr, frontend, mode),
            );
        }
    }

    /// Logs a connection that failed before becoming a stream (level `info`).
    pub fn log_connection_error(
        &self,
        client: LogAddr,
        frontend: &str,
        listener_id: u32,
        msg: &str,
    ) {
        if !self.targets.is_empty() {
            let now = SystemTime::now();
            let line = format_connection_error(
                client,
                now,
                self.utc_offset(now),
                frontend,
                listener_id,
                msg,
            );
            self.log(Level::Info, &line);
        }
    }

    /// The local zone's UTC offset at `t`, asked from the C library at most once a minute
    /// (its `localtime_r` takes a process-wide lock).
    fn utc_offset(&self, t: SystemTime) -> i32 {
        let secs = t
            .duration_since(UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
            .unwrap_or(0);
        let minute = secs.div_euclid(60);
        let (cached_minute, offset) = self.tz.get();
        if cached_minute == minute {
            return offset;
        }
        let offset = crate::sys::localtime::utc_offset(secs);
        self.tz.set((minute, offset));
        offset
    }
}

fn build_target(t: &LogTarget) -> Result<Target, LogError> {
    let facility = match &t.facility {
        Some(name) => {
            Facility::from_name(name).ok_or_else(|| LogError::UnknownFacility(name.clone()))?
        }
        None => Facility::USER,
    };
    let max_level = match &t.max_level {
        Some(name) => {
            Some(Level::from_name(name).ok_or_else(|| LogError::UnknownLevel(name.clone()))?)
        }
        None => None,
    };
    let sock_err = |source| LogError::Socket {
        target: describe(&t.dest),
        source,
    };
    let out = match &t.dest {
        // A thread that cannot start leaves nowhere to write: drop instead of failing.
        LogDest::Stdout | LogDest::Stderr => match stdio_writer(t.dest == LogDest::Stderr) {
            Some(w) => Output::Stdio(w),
            None => {
                return Err(sock_err(io::Error::other(
                    "cannot start the log writer thread",
                )));
            }
        },
        LogDest::Udp(addr) => {
            let bind: std::net::SocketAddr = if addr.is_ipv4() {
                ([0, 0, 0, 0], 0).into()
            } else {
                (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
            };
            let s = UdpSocket::bind(bind).map_err(sock_err)?;
            s.connect(addr).map_err(sock_err)?;
            s.set_nonblocking(true).map_err(sock_err)?;
            Output::Udp(Arc::new(s))
        }
        LogDest::Unix(path) => {
            let s = UnixDatagram::unbound().map_err(sock_err)?;
            s.set_nonblocking(true).map_err(sock_err)?;
            Output::Unix(Arc::new(s), Arc::new(path.clone()))
        }
    };
    Ok(Target {
        facility,
        max_level,
        format: t.format,
        out,
    })
}

fn describe(dest: &LogDest) -> String {
    match dest {
        LogDest::Stdout => "stdout".into(),
        LogDest::Stderr => "stderr".into(),
        LogDest::Udp(a) => a.to_string(),
        LogDest::Unix(p) => p.display().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::format::Termination;

    fn udp_target(addr: std::net::SocketAddr, format: LogFormat, max: Option<&str>) -> LogTarget {
        LogTarget {
            dest: LogDest::Udp(addr),
            facility: Some("local0".into()),
            max_level: max.map(str::to_owned),
            format,
        }
    }

    fn recv(sock: &UdpSocket) -> Option<String> {
        let mut buf = [0u8; 2048];
        match sock.recv(&mut buf) {
            Ok(n) => Some(String::from_utf8_lossy(&buf[..n]).into_owned()),
            Err(_) => None,
        }
    }

    #[test]
    fn udp_syslog_receives_framed_lines_and_filters_levels() {
        let server = UdpSocket::bind("127.0.0.1:0").unwrap();
        server
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let addr = server.local_addr().unwrap();
        let logger = Logger::new(&[udp_target(addr, LogFormat::Rfc3164, Some("notice"))])
            .unwrap()
            .with_tag("lbtest");
        logger.log(Level::Info, "filtered out");
        logger.log(Level::Alert, "Server be/s1 is DOWN");
        let got = recv(&server).expect("a datagram");
        let pid = std::process::id();
        assert!(got.starts_with("<129>"), "{got}"); // local0 (16) * 8 + alert (1)
        assert!(
            got.ends_with(&format!(" lbtest[{pid}]: Server be/s1 is DOWN\n")),
            "{got}"
        );
        // The info line was filtered: nothing else is waiting.
        server.set_nonblocking(true).unwrap();
        assert_eq!(recv(&server), None);
    }

    #[test]
    fn udp_tcplog_line_in_raw_format() {
        let server = UdpSocket::bind("127.0.0.1:0").unwrap();
        server
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let logger = Logger::new(&[udp_target(
            server.local_addr().unwrap(),
            LogFormat::Raw,
            None,
        )])
        .unwrap();
        let rec = TcpLogRecord {
            client: LogAddr::Inet("127.0.0.1:5000".parse().unwrap()),
            accept_date: SystemTime::now(),
            frontend: "fe",
            backend: Some("be"),
            server: Some("s1"),
            tw_ms: 0,
            tc_ms: 1,
            tt_ms: 12,
            bytes_read: 5,
            termination: Termination::NORMAL,
            actconn: 1,
            feconn: 1,
            beconn: 1,
            srv_conn: 1,
            retries: 0,
            redispatched: false,
            srv_queue: 0,
            backend_queue: 0,
        };
        logger.log_tcp(&rec);
        let got = recv(&server).expect("a datagram");
        assert!(got.starts_with("127.0.0.1:5000 ["), "{got}");
        assert!(
            got.ends_with("] fe be/s1 0/1/12 5 -- 1/1/1/1/0 0/0\n"),
            "{got}"
        );
    }

    #[test]
    fn unix_datagram_target() {
        let dir = std::env::temp_dir().join(format!("lb-log-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("log.sock");
        let _ = std::fs::remove_file(&path);
        let server = UnixDatagram::bind(&path).unwrap();
        server
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let target = LogTarget {
            dest: LogDest::Unix(path.clone()),
            facility: Some("daemon".into()),
            max_level: None,
            format: LogFormat::Short,
        };
        Logger::new(&[target]).unwrap().log(Level::Warning, "hello");
        let mut buf = [0u8; 256];
        let n = server.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"<4>hello\n");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn unknown_names_are_errors() {
        let mut t = udp_target("127.0.0.1:514".parse().unwrap(), LogFormat::Raw, None);
        t.facility = Some("local9".into());
        assert!(matches!(
            Logger::new(&[t.clone()]),
            Err(LogError::UnknownFacility(_))
        ));
        t.facility = None;
        t.max_level = Some("loud".into());
        assert!(matches!(Logger::new(&[t]), Err(LogError::UnknownLevel(_))));
    }

    #[test]
    fn sending_to_a_closed_port_drops_without_blocking() {
        let port = UdpSocket::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap(); // closed now
        let logger = Logger::new(&[udp_target(port, LogFormat::Raw, None)]).unwrap();
        let start = Instant::now();
        for _ in 0..100 {
            logger.log(Level::Info, "nobody listens");
        }
        assert!(start.elapsed() < Duration::from_secs(2));
    }
}
