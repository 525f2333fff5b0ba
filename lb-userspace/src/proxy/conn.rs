//! A stream socket of either family (TCP or unix), with the readiness-based primitives the
//! forwarder needs (so one code path serves both, and splice can work on raw fds).

use std::io;
use std::net::Shutdown;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};

use tokio::io::Interest;
use tokio::net::{TcpStream, UnixStream};

/// A connected stream socket.
#[derive(Debug)]
pub enum Conn {
    /// TCP.
    Tcp(TcpStream),
    /// Unix stream socket.
    Unix(UnixStream),
}

impl Conn {
    /// Waits until the socket may be readable.
    pub async fn readable(&self) -> io::Result<()> {
        match self {
            Self::Tcp(s) => s.readable().await,
            Self::Unix(s) => s.readable().await,
        }
    }

    /// Waits until the socket may be writable.
    pub async fn writable(&self) -> io::Result<()> {
        match self {
            Self::Tcp(s) => s.writable().await,
            Self::Unix(s) => s.writable().await,
        }
    }

    /// Runs a non-blocking operation, clearing readiness if it would block.
    pub fn try_io<R>(
        &self,
        interest: Interest,
        f: impl FnOnce() -> io::Result<R>,
    ) -> io::Result<R> {
        match self {
            Self::Tcp(s) => s.try_io(interest, f),
            Self::Unix(s) => s.try_io(interest, f),
        }
    }

    /// Non-blocking read.
    pub fn try_read(&self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Self::Tcp(s) => s.try_read(buf),
            Self::Unix(s) => s.try_read(buf),
        }
    }

    /// Non-blocking read straight from the kernel, whatever tokio's readiness says (for
    /// bytes that were peeked at, which leave the readiness cleared while still queued).
    pub fn read_direct(&self, buf: &mut [u8]) -> io::Result<usize> {
        use std::io::Read as _;
        let sock = socket2::SockRef::from(self);
        (&*sock).read(buf)
    }

    /// Non-blocking write.
    pub fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Self::Tcp(s) => s.try_write(buf),
            Self::Unix(s) => s.try_write(buf),
        }
    }

    /// Peeks at the bytes waiting on the socket without consuming them, into `buf`.
    /// Returns the number of bytes available (0 means the peer shut its side), waiting
    /// until that number differs from `seen` (what the caller already inspected), so that
    /// repeated inspections only wake up on new data.
    pub async fn peek_more(&self, buf: &mut [u8], seen: usize) -> io::Result<usize> {
        // First ask the kernel directly: an earlier peek (PROXY header, a previous rule set)
        // may have cleared tokio's readiness while bytes were already queued.
        match crate::sys::peek::peek(self.as_fd(), buf) {
            Ok(n) if n != seen || n == 0 || n == buf.len() => return Ok(n),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
        loop {
            self.readable().await?;
            let peeked = self.try_io(Interest::READABLE, || {
                let n = crate::sys::peek::peek(self.as_fd(), buf)?;
                // Nothing new: report "would block" so the readiness is cleared for this
                // event only (tokio keeps any event that arrived meanwhile).
                if n == seen && n != 0 && n < buf.len() {
                    return Err(io::ErrorKind::WouldBlock.into());
                }
                Ok(n)
            });
            match peeked {
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Half-closes the write side (sends FIN), propagating a peer's half-close.
    pub fn shutdown_write(&self) -> io::Result<()> {
        match socket2::SockRef::from(self).shutdown(Shutdown::Write) {
            // The peer may already be gone: nothing left to tell it.
            Err(e) if e.kind() == io::ErrorKind::NotConnected => Ok(()),
            other => other,
        }
    }

    /// Sets SO_LINGER to zero so that dropping the socket sends a RST (abort).
    pub fn abort_on_close(&self) {
        let _ = socket2::SockRef::from(self).set_linger(Some(std::time::Duration::ZERO));
    }

    /// Makes the coming close invisible to the peer (`silent-drop`).
    pub fn prepare_silent_drop(&self) {
        crate::sys::sock::prepare_silent_close(self.as_raw_fd());
    }

    /// `true` for TCP sockets (splice is only used between TCP sockets).
    pub fn is_tcp(&self) -> bool {
        matches!(self, Self::Tcp(_))
    }
}

impl tokio::io::AsyncRead for Conn {
    fn poll_read(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Tcp(s) => std::pin::Pin::new(s).poll_read(cx, buf),
            Self::Unix(s) => std::pin::Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl tokio::io::AsyncWrite for Conn {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Tcp(s) => std::pin::Pin::new(s).poll_write(cx, buf),
            Self::Unix(s) => std::pin::Pin::new(s).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> std::task::Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Tcp(s) => std::pin::Pin::new(s).poll_write_vectored(cx, bufs),
            Self::Unix(s) => std::pin::Pin::new(s).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Tcp(s) => std::pin::Pin::new(s).poll_flush(cx),
            Self::Unix(s) => std::pin::Pin::new(s).poll_flush(cx),
        }
    }

    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Tcp(s) => std::pin::Pin::new(s).poll_shutdown(cx),
            Self::Unix(s) => std::pin::Pin::new(s).poll_shutdown(cx),
        }
    }
}

impl AsFd for Conn {
    fn as_fd(&self) -> BorrowedFd<'_> {
        match self {
            Self::Tcp(s) => s.as_fd(),
            Self::Unix(s) => s.as_fd(),
        }
    }
}

impl AsRawFd for Conn {
    fn as_raw_fd(&self) -> RawFd {
        self.as_fd().as_raw_fd()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::io::AsyncWriteExt;
    use tokio::net::{TcpListener, TcpStream};

    use super::*;

    #[tokio::test]
    async fn peek_more_waits_for_new_bytes_and_sees_shutdown() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut client = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (server, _) = listener.accept().await.unwrap();
        let server = Conn::Tcp(server);
        let mut buf = [0u8; 16];
        client.write_all(b"ab").await.unwrap();
        assert_eq!(server.peek_more(&mut buf, 0).await.unwrap(), 2);
        // Nothing new yet: must not return the same two bytes again.
        let again =
            tokio::time::timeout(Duration::from_millis(100), server.peek_more(&mut buf, 2)).await;
        assert!(again.is_err(), "peek_more returned without new data");
        client.write_all(b"c").await.unwrap();
        let n = tokio::time::timeout(Duration::from_secs(2), server.peek_more(&mut buf, 2))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(&buf[..n], b"abc");
        // Peeking consumed nothing: a read still sees everything.
        let mut read = [0u8; 16];
        server.readable().await.unwrap();
        assert_eq!(server.try_read(&mut read).unwrap(), 3);
        client.shutdown().await.unwrap();
        let n = tokio::time::timeout(Duration::from_secs(2), server.peek_more(&mut buf, 0))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(n, 0, "a shut peer reads as 0");
    }
}
