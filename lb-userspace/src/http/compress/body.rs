//! A [`http_body::Body`] adapter compressing another body on the fly.

use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::{Buf, Bytes, BytesMut};
use http_body::{Body, Frame, SizeHint};

use super::{CompAlgo, Encoder};

/// The error type of [`CompressBody`]: the inner body's error or a compressor error.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Compresses the data frames of `B`; trailers pass through after the last compressed
/// bytes. Each inner data frame gives one (sync-flushed) compressed frame, so memory
/// stays bounded by one frame plus the compressor's window.
#[derive(Debug)]
pub struct CompressBody<B> {
    inner: B,
    encoder: Encoder,
    /// Trailers read from the inner body, sent after the compressed stream's end.
    trailers: Option<http::HeaderMap>,
    done: bool,
}

impl<B> CompressBody<B> {
    /// Wraps `inner`, compressing with `algo` at `level`.
    pub fn new(inner: B, algo: CompAlgo, level: u32) -> Result<Self, super::EncodeError> {
        Ok(Self {
            inner,
            encoder: Encoder::new(algo, level)?,
            trailers: None,
            done: false,
        })
    }
}

impl<B> Body for CompressBody<B>
where
    B: Body + Unpin,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        loop {
            if this.done {
                return Poll::Ready(this.trailers.take().map(|t| Ok(Frame::trailers(t))));
            }
            match ready!(Pin::new(&mut this.inner).poll_frame(cx)) {
                Some(Ok(frame)) => match frame.into_data() {
                    Ok(mut data) => {
                        let mut out = BytesMut::new();
                        while data.has_remaining() {
                            let chunk = data.chunk();
                            let n = chunk.len();
                            this.encoder.push(chunk, &mut out)?;
                            data.advance(n);
                        }
                        if !out.is_empty() {
                            return Poll::Ready(Some(Ok(Frame::data(out.freeze()))));
                        }
                    }
                    Err(frame) => {
                        if let Ok(t) = frame.into_trailers() {
                            this.trailers = Some(t);
                        }
                    }
                },
                Some(Err(e)) => return Poll::Ready(Some(Err(e.into()))),
                None => {
                    this.done = true;
                    let mut out = BytesMut::new();
                    this.encoder.finish(&mut out)?;
                    if !out.is_empty() {
                        return Poll::Ready(Some(Ok(Frame::data(out.freeze()))));
                    }
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.done && self.trailers.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::default()
    }
}
