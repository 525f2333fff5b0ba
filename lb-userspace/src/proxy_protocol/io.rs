//! The socket edges: read exactly one header off an accepted connection (leaving the
//! stream after it untouched), and write one to a server connection.

use std::io;
use std::os::fd::AsFd;
use std::time::Duration;

use tokio::io::Interest;

use super::{Header, Parse, SIGNATURE, parse};
use crate::proxy::conn::Conn;

/// First peek size: any v1 line (107 bytes) and common v2 headers fit.
const INITIAL_PEEK: usize = 256;
/// Largest v2 header: the fixed 16 bytes plus a 16-bit length.
const MAX_HEADER: usize = 16 + u16::MAX as usize;

/// Why no header could be read from a connection.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReadError {
    /// The peer closed before sending anything.
    #[error("Connection closed while waiting for PROXY protocol header")]
    Closed,
    /// The peer closed in the middle of a header.
    #[error("Truncated PROXY protocol header received ({received} bytes then end of stream)")]
    Truncated {
        /// Bytes received before the end of stream.
        received: usize,
    },
    /// No complete header within the allowed time.
    #[error("Timeout while waiting for PROXY protocol header")]
    Timeout,
    /// A socket error.
    #[error("Connection error while waiting for PROXY protocol header: {0}")]
    Io(#[from] io::Error),
    /// The bytes are not a valid header.
    #[error(transparent)]
    Invalid(#[from] super::ParseError),
}

/// Reads the PROXY protocol header starting `conn` and consumes exactly its bytes, so the
/// data after it stays queued for forwarding. Waits at most `timeout` (HAProxy bounds the
/// handshake by `timeout client`); a header arriving in pieces is fine.
pub async fn read_header(conn: &Conn, timeout: Option<Duration>) -> Result<Header, ReadError> {
    match timeout {
        Some(limit) => tokio::time::timeout(limit, read_untimed(conn))
            .await
            .map_err(|_| ReadError::Timeout)?,
        None => read_untimed(conn).await,
    }
}

async fn read_untimed(conn: &Conn) -> Result<Header, ReadError> {
    let mut buf = vec![0u8; INITIAL_PEEK];
    let mut seen = 0;
    loop {
        // Once the peer has shut down, everything it sent is already queued: a header still
        // incomplete then will never complete.
        let closed = wait_readable(conn).await?;
        let peeked = conn.try_io(Interest::READABLE, || {
            let n = crate::sys::peek::peek(conn.as_fd(), &mut buf)?;
            if n == seen && n > 0 && !closed {
                // Peeking leaves the bytes queued, so the socket stays readable: report
                // "would block" to clear that readiness and sleep until more bytes arrive.
                return Err(io::ErrorKind::WouldBlock.into());
            }
            Ok(n)
        });
        let n = match peeked {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            Err(e) => return Err(ReadError::Io(e)),
        };
        if n == 0 {
            return Err(ReadError::Closed);
        }
        seen = n;
        match parse(&buf[..n]) {
            Parse::Done { header, consumed } => {
                consume(conn, &mut buf[..consumed]).await?;
                return Ok(header);
            }
            Parse::Error(e) => return Err(ReadError::Invalid(e)),
            // A full buffer may hide more queued bytes: look again with room for them.
            Parse::NeedMore if n == buf.len() => {
                let want = wanted_len(&buf[..n]);
                buf.resize(want, 0);
            }
            Parse::NeedMore if closed => return Err(ReadError::Truncated { received: n }),
            Parse::NeedMore => {}
        }
    }
}

/// Waits for readability; `true` when the peer has shut down its side.
async fn wait_readable(conn: &Conn) -> io::Result<bool> {
    let ready = match conn {
        Conn::Tcp(s) => s.ready(Interest::READABLE).await?,
        Conn::Unix(s) => s.ready(Interest::READABLE).await?,
    };
    Ok(ready.is_read_closed())
}

/// How many bytes to peek next when `buf` filled the buffer without completing a header.
fn wanted_len(buf: &[u8]) -> usize {
    let want = match buf.get(..16) {
        Some(fixed) if fixed.starts_with(&SIGNATURE) => {
            16 + usize::from(u16::from_be_bytes([fixed[14], fixed[15]]))
        }
        _ => buf.len() * 2,
    };
    // A complete v2 header is never longer than MAX_HEADER, so a full buffer of that size
    // has been judged already: the cap only keeps the arithmetic honest.
    want.max(buf.len() + 1).min(MAX_HEADER)
}

/// Removes the `buf.len()` header bytes already peeked from the socket.
async fn consume(conn: &Conn, buf: &mut [u8]) -> Result<(), ReadError> {
    let mut got = 0;
    while got < buf.len() {
        match conn.try_read(&mut buf[got..]) {
            Ok(0) => return Err(ReadError::Io(io::ErrorKind::UnexpectedEof.into())),
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => conn.readable().await?,
            Err(e) => return Err(ReadError::Io(e)),
        }
    }
    Ok(())
}

/// Writes a whole header (from [`super::header_for`]) to a freshly connected server, before
/// any client byte.
pub async fn write_header(conn: &Conn, bytes: &[u8]) -> io::Result<()> {
    let mut sent = 0;
    while sent < bytes.len() {
        conn.writable().await?;
        match conn.try_write(&bytes[sent..]) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => sent += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
