//! Streaming encoders: bytes in, compressed bytes out, memory bounded by each
//! algorithm's window (gzip/deflate 32 KiB + zlib state, brotli and zstd 256 KiB windows).

use std::io::Write;

use bytes::BytesMut;

use super::CompAlgo;

/// Why an encoder failed (only on internal errors of the compression libraries).
#[derive(Debug, thiserror::Error)]
pub enum EncodeError {
    /// The compressor reported an error.
    #[error("compression failed: {0}")]
    Io(#[from] std::io::Error),
    /// `push` or `finish` after `finish`.
    #[error("the compressed stream is already finished")]
    Finished,
}

const BROTLI_LGWIN: u32 = 18;
const BROTLI_BUFFER: usize = 4096;
const ZSTD_WINDOW_LOG: u32 = 18;

enum Inner {
    Identity,
    Gzip(flate2::write::GzEncoder<Vec<u8>>),
    Zlib(flate2::write::ZlibEncoder<Vec<u8>>),
    Raw(flate2::write::DeflateEncoder<Vec<u8>>),
    Brotli(Box<brotli::CompressorWriter<Vec<u8>>>),
    Zstd(zstd::stream::write::Encoder<'static, Vec<u8>>),
    Done,
}

/// A per-response compressor (see the module docs of [`super`]).
pub struct Encoder {
    inner: Inner,
}

impl std::fmt::Debug for Encoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Encoder").finish_non_exhaustive()
    }
}

impl Encoder {
    /// A fresh compressor for `algo` at `level` (`tune.comp.maxlevel`, 1 to 9: zlib's
    /// levels, brotli's quality and zstd's level of the same number).
    pub fn new(algo: CompAlgo, level: u32) -> Result<Self, EncodeError> {
        let level = level.clamp(1, 9);
        let zlevel = flate2::Compression::new(level);
        let inner = match algo {
            CompAlgo::Identity => Inner::Identity,
            CompAlgo::Gzip => Inner::Gzip(flate2::write::GzEncoder::new(Vec::new(), zlevel)),
            CompAlgo::Deflate => Inner::Zlib(flate2::write::ZlibEncoder::new(Vec::new(), zlevel)),
            CompAlgo::RawDeflate => {
                Inner::Raw(flate2::write::DeflateEncoder::new(Vec::new(), zlevel))
            }
            CompAlgo::Brotli => Inner::Brotli(Box::new(brotli::CompressorWriter::new(
                Vec::new(),
                BROTLI_BUFFER,
                level,
                BROTLI_LGWIN,
            ))),
            CompAlgo::Zstd => {
                let mut e = zstd::stream::write::Encoder::new(
                    Vec::new(),
                    i32::try_from(level).unwrap_or(1),
                )?;
                e.window_log(ZSTD_WINDOW_LOG)?;
                Inner::Zstd(e)
            }
        };
        Ok(Self { inner })
    }

    /// Compresses `chunk` and appends a flushed block to `out` (so that what was pushed
    /// so far can be decoded by the client without waiting for more).
    pub fn push(&mut self, chunk: &[u8], out: &mut BytesMut) -> Result<(), EncodeError> {
        fn step<W: Write>(w: &mut W, chunk: &[u8]) -> std::io::Result<()> {
            w.write_all(chunk)?;
            w.flush()
        }
        let sink = match &mut self.inner {
            Inner::Identity => {
                out.extend_from_slice(chunk);
                return Ok(());
            }
            Inner::Gzip(e) => {
                step(e, chunk)?;
                e.get_mut()
            }
            Inner::Zlib(e) => {
                step(e, chunk)?;
                e.get_mut()
            }
            Inner::Raw(e) => {
                step(e, chunk)?;
                e.get_mut()
            }
            Inner::Brotli(e) => {
                step(e.as_mut(), chunk)?;
                e.get_mut()
            }
            Inner::Zstd(e) => {
                step(e, chunk)?;
                e.get_mut()
            }
            Inner::Done => return Err(EncodeError::Finished),
        };
        out.extend_from_slice(sink);
        sink.clear();
        Ok(())
    }

    /// Ends the compressed stream, appending its last bytes (trailer) to `out`.
    pub fn finish(&mut self, out: &mut BytesMut) -> Result<(), EncodeError> {
        let rest = match std::mem::replace(&mut self.inner, Inner::Done) {
            Inner::Identity => Vec::new(),
            Inner::Gzip(e) => e.finish()?,
            Inner::Zlib(e) => e.finish()?,
            Inner::Raw(e) => e.finish()?,
            Inner::Brotli(mut e) => {
                e.flush()?;
                e.into_inner()
            }
            Inner::Zstd(e) => e.finish()?,
            Inner::Done => return Err(EncodeError::Finished),
        };
        out.extend_from_slice(&rest);
        Ok(())
    }

    /// Whether [`Encoder::finish`] was called.
    pub fn is_finished(&self) -> bool {
        matches!(self.inner, Inner::Done)
    }
}
