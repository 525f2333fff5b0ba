//! Body types crossing the proxy: what the client sent (streamed or buffered) on its way to
//! a server, and what a server (or the proxy itself) answers on its way to the client.
//!
//! Both are enums rather than boxed trait objects: no allocation per request, and the
//! compiler sees every variant. The response body carries the end-of-transaction hook
//! ([`TxnEnd`]) so the server connection returns to the pool, the server slot is released
//! and the log line is written exactly when the last byte went out (or the client left).

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;

/// A request body on its way to a server.
#[derive(Debug)]
pub enum ReqBody {
    /// Streamed from the client as it arrives.
    Stream(Incoming),
    /// Already in memory (`option http-buffer-request`, a retry, a rule's body).
    Full(Option<Bytes>),
    /// A buffered start, then the rest streamed (a body larger than the buffer).
    Prefixed(Option<Bytes>, Incoming),
}

impl ReqBody {
    /// An empty body.
    pub fn empty() -> Self {
        Self::Full(None)
    }

    /// `head` then what remains of `rest` (any other variant is already in memory).
    pub fn prefixed(head: Bytes, rest: Self) -> Self {
        match rest {
            Self::Stream(s) | Self::Prefixed(None, s) => Self::Prefixed(Some(head), s),
            other => other,
        }
    }
}

impl Body for ReqBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        match self.get_mut() {
            Self::Stream(b) => Pin::new(b).poll_frame(cx),
            Self::Full(b) => Poll::Ready(b.take().map(|d| Ok(Frame::data(d)))),
            Self::Prefixed(head, rest) => match head.take() {
                Some(d) => Poll::Ready(Some(Ok(Frame::data(d)))),
                None => Pin::new(rest).poll_frame(cx),
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Self::Stream(b) => b.is_end_stream(),
            Self::Full(b) => b.is_none(),
            Self::Prefixed(head, rest) => head.is_none() && rest.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Self::Stream(b) => b.size_hint(),
            Self::Full(b) => SizeHint::with_exact(b.as_ref().map_or(0, |d| d.len() as u64)),
            Self::Prefixed(head, rest) => {
                let extra = head.as_ref().map_or(0, |d| d.len() as u64);
                let inner = rest.size_hint();
                let mut h = SizeHint::new();
                h.set_lower(inner.lower() + extra);
                if let Some(u) = inner.upper() {
                    h.set_upper(u + extra);
                }
                h
            }
        }
    }
}

/// Called once when a response is over: `complete` says whether the whole body was sent.
pub trait TxnEnd {
    /// The response ended; `bytes` body bytes went to the client.
    fn finish(&mut self, complete: bool, bytes: u64);
}

/// A response body on its way to the client.
pub struct ResBody {
    inner: ResInner,
    bytes: u64,
    end: Option<Box<dyn TxnEnd>>,
}

enum ResInner {
    Stream(Incoming),
    Full(Option<Bytes>),
    Compressed(Box<crate::http::compress::CompressBody<Incoming>>),
}

/// Errors of a response body (the server's, or the compressor's).
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl std::fmt::Debug for ResBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResBody")
            .field("bytes", &self.bytes)
            .finish()
    }
}

impl ResBody {
    /// A body held in memory (error pages, `return`, monitor responses).
    pub fn full(data: Bytes) -> Self {
        let data = (!data.is_empty()).then_some(data);
        Self {
            inner: ResInner::Full(data),
            bytes: 0,
            end: None,
        }
    }

    /// A server's body, streamed.
    pub fn stream(body: Incoming) -> Self {
        Self {
            inner: ResInner::Stream(body),
            bytes: 0,
            end: None,
        }
    }

    /// A server's body compressed on the fly with `algo` at `level` (streamed as it is if
    /// the compressor cannot start).
    pub fn compressed(body: Incoming, algo: crate::http::compress::CompAlgo, level: u32) -> Self {
        let inner = match crate::http::compress::CompressBody::new(body, algo, level) {
            Ok(c) => ResInner::Compressed(Box::new(c)),
            Err(e) => {
                tracing::debug!("compression not started: {e}");
                return Self::full(Bytes::new());
            }
        };
        Self {
            inner,
            bytes: 0,
            end: None,
        }
    }

    /// Runs `end` when the body is over (or dropped unfinished).
    pub fn on_end(mut self, end: Box<dyn TxnEnd>) -> Self {
        self.end = Some(end);
        self.maybe_finish_empty();
        self
    }

    fn maybe_finish_empty(&mut self) {
        if self.is_end_stream()
            && let Some(mut end) = self.end.take()
        {
            end.finish(true, self.bytes);
        }
    }
}

impl Drop for ResBody {
    fn drop(&mut self) {
        if let Some(mut end) = self.end.take() {
            end.finish(false, self.bytes);
        }
    }
}

impl Body for ResBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        let polled: Poll<Option<Result<Frame<Bytes>, BoxError>>> = match &mut this.inner {
            ResInner::Stream(b) => Pin::new(b)
                .poll_frame(cx)
                .map(|f| f.map(|r| r.map_err(BoxError::from))),
            ResInner::Full(b) => Poll::Ready(b.take().map(|d| Ok(Frame::data(d)))),
            ResInner::Compressed(c) => Pin::new(c.as_mut()).poll_frame(cx),
        };
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(d) = frame.data_ref() {
                    this.bytes += d.len() as u64;
                }
                if this.is_end_stream()
                    && let Some(mut end) = this.end.take()
                {
                    end.finish(true, this.bytes);
                }
            }
            Poll::Ready(None) => {
                if let Some(mut end) = this.end.take() {
                    end.finish(true, this.bytes);
                }
            }
            Poll::Ready(Some(Err(_))) => {
                if let Some(mut end) = this.end.take() {
                    end.finish(false, this.bytes);
                }
            }
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        match &self.inner {
            ResInner::Stream(b) => b.is_end_stream(),
            ResInner::Full(b) => b.is_none(),
            ResInner::Compressed(c) => c.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.inner {
            ResInner::Stream(b) => b.size_hint(),
            ResInner::Full(b) => SizeHint::with_exact(b.as_ref().map_or(0, |d| d.len() as u64)),
            ResInner::Compressed(c) => c.size_hint(),
        }
    }
}
