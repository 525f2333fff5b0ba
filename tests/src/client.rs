//! Test clients: blocking std sockets, always with timeouts.

use std::collections::BTreeMap;
use std::io::{self, ErrorKind, Read};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// Default bound on a single read or write of a test client.
pub const IO_TIMEOUT: Duration = Duration::from_secs(10);

/// Connects to `127.0.0.1:port` (5 s connect timeout) with [`IO_TIMEOUT`] read/write timeouts.
pub fn connect(port: u16) -> io::Result<TcpStream> {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    s.set_read_timeout(Some(IO_TIMEOUT))?;
    s.set_write_timeout(Some(IO_TIMEOUT))?;
    s.set_nodelay(true)?;
    Ok(s)
}

/// Connects to `127.0.0.1:port` from the source address `src` (any 127.0.0.0/8 address works
/// on loopback), to exercise source-address balancing.
pub fn connect_from(src: Ipv4Addr, port: u16) -> io::Result<TcpStream> {
    use socket2::{Domain, Socket, Type};
    let sock = Socket::new(Domain::IPV4, Type::STREAM, None)?;
    sock.bind(&SocketAddr::from((src, 0)).into())?;
    sock.connect_timeout(
        &SocketAddr::from((Ipv4Addr::LOCALHOST, port)).into(),
        Duration::from_secs(5),
    )?;
    let s: TcpStream = sock.into();
    s.set_read_timeout(Some(IO_TIMEOUT))?;
    s.set_write_timeout(Some(IO_TIMEOUT))?;
    s.set_nodelay(true)?;
    Ok(s)
}

/// Reads one `\n`-terminated line (without the newline), at most 4 KiB, honouring the
/// stream's read timeout. EOF before a newline is an `UnexpectedEof` error.
pub fn read_line(s: &mut TcpStream) -> io::Result<String> {
    let mut line = Vec::new();
    let mut b = [0u8; 1];
    while line.len() < 4096 {
        match s.read(&mut b)? {
            0 => {
                return Err(io::Error::new(
                    ErrorKind::UnexpectedEof,
                    format!("EOF after {:?}", String::from_utf8_lossy(&line)),
                ));
            }
            _ if b[0] == b'\n' => return Ok(String::from_utf8_lossy(&line).into_owned()),
            _ => line.push(b[0]),
        }
    }
    Err(io::Error::new(ErrorKind::InvalidData, "line too long"))
}

/// Reads exactly `n` bytes.
pub fn read_exact_vec(s: &mut TcpStream, n: usize) -> io::Result<Vec<u8>> {
    let mut buf = vec![0u8; n];
    s.read_exact(&mut buf)?;
    Ok(buf)
}

/// Connects through the balancer and returns the name the identity server wrote, or the
/// error that prevented it.
pub fn ask_name(port: u16) -> io::Result<String> {
    let mut s = connect(port)?;
    read_line(&mut s)
}

/// Like [`ask_name`], from source address `src`.
pub fn ask_name_from(src: Ipv4Addr, port: u16) -> io::Result<String> {
    let mut s = connect_from(src, port)?;
    read_line(&mut s)
}

/// Makes `n` sequential connections and counts which server answered each; failures are
/// counted under `"<error>"`.
pub fn tally(port: u16, n: usize) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for _ in 0..n {
        let name = ask_name(port).unwrap_or_else(|_| "<error>".into());
        *counts.entry(name).or_insert(0) += 1;
    }
    counts
}

/// How a connection ended while a client waited on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// The peer closed (read returned 0).
    Eof,
    /// The connection was reset or failed.
    Error,
    /// Nothing happened before the deadline.
    StillOpen,
}

/// Reads and discards until EOF, an error, or `timeout`; returns how it ended, after how long,
/// and how many bytes were read.
pub fn wait_end(s: &mut TcpStream, timeout: Duration) -> (End, Duration, usize) {
    let start = Instant::now();
    let deadline = start + timeout;
    let mut total = 0;
    let mut buf = [0u8; 16 * 1024];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return (End::StillOpen, start.elapsed(), total);
        }
        let _ = s.set_read_timeout(Some(left.max(Duration::from_millis(1))));
        match s.read(&mut buf) {
            Ok(0) => return (End::Eof, start.elapsed(), total),
            Ok(n) => total += n,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => return (End::Error, start.elapsed(), total),
        }
    }
}

/// Whether the connection is still open and silent for `d`: no data, no EOF, no error.
pub fn stays_silent(s: &mut TcpStream, d: Duration) -> bool {
    let (end, _, n) = wait_end(s, d);
    let _ = s.set_read_timeout(Some(IO_TIMEOUT));
    end == End::StillOpen && n == 0
}
