use std::io::{Read, Write};
use std::os::unix::fs::FileTypeExt;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Instant;

use super::*;
use crate::config::model::{CliLevel, Location};
use crate::runtime_api::testutil::TestRt;

/// A fresh directory for socket files, removed on drop.
struct Dir(PathBuf);

impl Dir {
    fn new() -> Self {
        static N: AtomicU32 = AtomicU32::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let p = std::env::temp_dir().join(format!("lb-cli-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        Self(p)
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn socket_cfg(addr: BindAddr, mode: Option<u32>, level: CliLevel) -> StatsSocket {
    StatsSocket {
        addr,
        mode,
        level,
        location: Location::default(),
    }
}

fn global(sockets: Vec<StatsSocket>) -> Global {
    Global {
        stats_sockets: sockets,
        bufsize: 16384,
        ..Global::default()
    }
}

fn settings(timeout_ms: u64, maxconn: u32) -> CliSettings {
    CliSettings {
        timeout: Duration::from_millis(timeout_ms),
        maxconn,
        max_request: 1024,
    }
}

fn start(g: &Global, s: CliSettings) -> CliHandle {
    let sockets = bind_all(g).unwrap();
    let t = TestRt::new("");
    spawn(sockets, Arc::new(t.rt), s).unwrap()
}

fn connect(path: &Path) -> UnixStream {
    let c = UnixStream::connect(path).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    c
}

/// Sends `request` and reads until the server closes.
fn ask(path: &Path, request: &str) -> String {
    let mut c = connect(path);
    c.write_all(request.as_bytes()).unwrap();
    let mut out = String::new();
    c.read_to_string(&mut out).unwrap();
    out
}

/// Reads until `want` was received.
fn read_until(c: &mut UnixStream, want: &str) -> String {
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    while !String::from_utf8_lossy(&got).ends_with(want) {
        let n = c.read(&mut buf).unwrap();
        assert!(n > 0, "closed after {:?}", String::from_utf8_lossy(&got));
        got.extend_from_slice(&buf[..n]);
    }
    String::from_utf8(got).unwrap()
}

#[test]
fn unix_socket_with_mode_and_level() {
    let dir = Dir::new();
    let path = dir.0.join("admin.sock");
    let g = global(vec![socket_cfg(
        BindAddr::Unix(path.clone()),
        Some(0o600),
        CliLevel::Admin,
    )]);
    let handle = start(&g, settings(5000, 10));
    let meta = std::fs::metadata(&path).unwrap();
    assert!(meta.file_type().is_socket());
    assert_eq!(meta.permissions().mode() & 0o7777, 0o600);
    assert_eq!(ask(&path, "show cli level\n"), "admin\n\n");
    assert_eq!(
        ask(&path, "get weight be/s1;get weight be/s2\n"),
        "10 (initial 10)\n\n1 (initial 1)\n\n"
    );
    // No temporary file left behind.
    let names: Vec<_> = std::fs::read_dir(&dir.0)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["admin.sock"]);
    handle.stop();
    assert!(!path.exists(), "the socket file is removed at stop");
}

#[test]
fn interactive_session_over_a_real_socket() {
    let dir = Dir::new();
    let path = dir.0.join("op.sock");
    let g = global(vec![socket_cfg(
        BindAddr::Unix(path.clone()),
        None,
        CliLevel::Operator,
    )]);
    let _handle = start(&g, settings(5000, 10));
    let mut c = connect(&path);
    c.write_all(b"prompt\n").unwrap();
    assert_eq!(read_until(&mut c, "\n> "), "\n> ");
    c.write_all(b"show cli level\n").unwrap();
    assert_eq!(read_until(&mut c, "\n> "), "operator\n\n> ");
    c.write_all(b"set weight be/s1 3\n").unwrap();
    assert_eq!(read_until(&mut c, "\n> "), "Permission denied\n\n> ");
    c.write_all(b"quit\n").unwrap();
    let mut rest = String::new();
    c.read_to_string(&mut rest).unwrap();
    assert_eq!(rest, "");
}

#[test]
fn stale_socket_files_are_replaced_but_live_sockets_fail_the_bind() {
    let dir = Dir::new();
    let path = dir.0.join("lb.sock");
    drop(StdUnixListener::bind(&path).unwrap());
    assert!(path.exists(), "a stale socket file");
    let g = global(vec![socket_cfg(
        BindAddr::Unix(path.clone()),
        None,
        CliLevel::User,
    )]);
    let handle = start(&g, settings(5000, 10));
    assert_eq!(ask(&path, "show cli level\n"), "user\n\n");
    let err = bind_all(&g).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "Starting proxy GLOBAL: cannot bind socket (a live socket is already bound there) [unix@{}]",
            path.display()
        )
    );
    drop(handle);
    // Not a socket: never removed.
    std::fs::write(&path, "data").unwrap();
    assert!(bind_all(&g).is_err());
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "data");
    // A directory that does not exist.
    let g = global(vec![socket_cfg(
        BindAddr::Unix(dir.0.join("nope/lb.sock")),
        None,
        CliLevel::User,
    )]);
    assert!(bind_all(&g).is_err());
}

#[test]
fn tcp_socket() {
    let g = global(vec![socket_cfg(
        BindAddr::Tcp("127.0.0.1:0".parse().unwrap()),
        None,
        CliLevel::User,
    )]);
    let sockets = bind_all(&g).unwrap();
    let addr = sockets[0].local_tcp_addr().unwrap();
    let t = TestRt::new("");
    let _handle = spawn(sockets, Arc::new(t.rt), settings(5000, 10)).unwrap();
    let mut c = std::net::TcpStream::connect(addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    c.write_all(b"show cli level\n").unwrap();
    let mut out = String::new();
    c.read_to_string(&mut out).unwrap();
    assert_eq!(out, "user\n\n");
}

#[test]
fn idle_connections_time_out() {
    let dir = Dir::new();
    let path = dir.0.join("t.sock");
    let g = global(vec![socket_cfg(
        BindAddr::Unix(path.clone()),
        None,
        CliLevel::User,
    )]);
    let _handle = start(&g, settings(300, 10));
    let mut c = connect(&path);
    c.write_all(b"prompt\n").unwrap();
    assert_eq!(read_until(&mut c, "\n> "), "\n> ");
    let t0 = Instant::now();
    let mut rest = Vec::new();
    c.read_to_end(&mut rest).unwrap();
    let waited = t0.elapsed();
    assert!(rest.is_empty());
    assert!(
        waited >= Duration::from_millis(250) && waited < Duration::from_secs(3),
        "{waited:?}"
    );
    // `set timeout cli` lengthens it for this connection only.
    let mut c = connect(&path);
    c.write_all(b"prompt\nset timeout cli 2\n").unwrap();
    assert_eq!(read_until(&mut c, "\n> \n> "), "\n> \n> ");
    std::thread::sleep(Duration::from_millis(600));
    c.write_all(b"show cli level\n").unwrap();
    assert_eq!(read_until(&mut c, "\n> "), "user\n\n> ");
}

#[test]
fn at_most_maxconn_connections_are_served() {
    let dir = Dir::new();
    let path = dir.0.join("m.sock");
    let g = global(vec![socket_cfg(
        BindAddr::Unix(path.clone()),
        None,
        CliLevel::User,
    )]);
    let _handle = start(&g, settings(5000, 1));
    let mut first = connect(&path);
    first.write_all(b"prompt\n").unwrap();
    assert_eq!(read_until(&mut first, "\n> "), "\n> ");
    let mut second = connect(&path);
    second.write_all(b"show cli level\n").unwrap();
    second
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let mut buf = [0u8; 64];
    let e = second.read(&mut buf).unwrap_err();
    assert!(
        matches!(
            e.kind(),
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
        ),
        "{e}"
    );
    first.write_all(b"quit\n").unwrap();
    drop(first);
    second
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut out = String::new();
    second.read_to_string(&mut out).unwrap();
    assert_eq!(out, "user\n\n");
}

#[test]
fn oversized_requests_get_an_error() {
    let dir = Dir::new();
    let path = dir.0.join("o.sock");
    let g = global(vec![socket_cfg(
        BindAddr::Unix(path.clone()),
        None,
        CliLevel::User,
    )]);
    let _handle = start(&g, settings(5000, 10));
    let mut c = connect(&path);
    c.write_all(&[b'a'; 2000]).unwrap();
    let mut out = String::new();
    c.read_to_string(&mut out).unwrap();
    assert_eq!(out, "Request too long (more than 1024 bytes), closing.\n");
}
