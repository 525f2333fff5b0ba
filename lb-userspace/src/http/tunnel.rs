//! Tunnels after a protocol switch (`Upgrade`, WebSocket) or a `CONNECT`: bytes both ways
//! until one side closes or nothing moved for `timeout tunnel`.

use std::cell::Cell;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;

use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Instant;

/// Runs a tunnel between the client's and the server's upgraded connections.
pub async fn run(client: OnUpgrade, server: OnUpgrade, idle: Option<Duration>) {
    let (client, server) = match tokio::join!(client, server) {
        (Ok(c), Ok(s)) => (c, s),
        (c, s) => {
            tracing::debug!(
                "tunnel not established: client {:?}, server {:?}",
                c.err(),
                s.err()
            );
            return;
        }
    };
    let last = Rc::new(Cell::new(Instant::now()));
    let mut client = Activity {
        io: TokioIo::new(client),
        last: Rc::clone(&last),
    };
    let mut server = Activity {
        io: TokioIo::new(server),
        last: Rc::clone(&last),
    };
    let copy = tokio::io::copy_bidirectional(&mut client, &mut server);
    match idle {
        None => {
            let _ = copy.await;
        }
        Some(t) => {
            let watchdog = async {
                loop {
                    let deadline = last.get() + t;
                    tokio::time::sleep_until(deadline).await;
                    if last.get() + t <= Instant::now() {
                        return;
                    }
                }
            };
            tokio::select! {
                _ = copy => {}
                () = watchdog => tracing::debug!("tunnel timeout"),
            }
        }
    }
}

/// An I/O object that records when it last moved bytes.
struct Activity<T> {
    io: T,
    last: Rc<Cell<Instant>>,
}

impl<T: AsyncRead + Unpin> AsyncRead for Activity<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.io).poll_read(cx, buf);
        if r.is_ready() {
            this.last.set(Instant::now());
        }
        r
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Activity<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.io).poll_write(cx, buf);
        if r.is_ready() {
            this.last.set(Instant::now());
        }
        r
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}
