//! `compression algo|type|offload` in proxy sections (HAProxy 2.6 semantics, plus the
//! `br` and `zstd` algorithms).
//!
//! `algo` and `type` lines accumulate; a backend's settings win over the frontend's
//! (the runtime picks the backend's algorithm list if it has one, else the frontend's,
//! and the same for types), as HAProxy does.

use super::draft::{ProxyDraft, ProxyKind};
use super::error::ConfigError;
use super::line::Line;

/// A compression algorithm (`compression algo NAME`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CompAlgo {
    /// `identity`: no change to the body (debugging); ignores `Accept-Encoding`.
    Identity,
    /// `gzip`.
    Gzip,
    /// `deflate`: zlib-wrapped deflate.
    Deflate,
    /// `raw-deflate`: deflate without the zlib wrapper, announced as `deflate`.
    RawDeflate,
    /// `br` (brotli, beyond HAProxy).
    Brotli,
    /// `zstd` (Zstandard, beyond HAProxy).
    Zstd,
}

impl CompAlgo {
    /// The configuration name.
    pub fn cfg_name(self) -> &'static str {
        match self {
            Self::Identity => "identity",
            Self::Gzip => "gzip",
            Self::Deflate => "deflate",
            Self::RawDeflate => "raw-deflate",
            Self::Brotli => "br",
            Self::Zstd => "zstd",
        }
    }

    /// The content-coding token in `Accept-Encoding` / `Content-Encoding`.
    pub fn token(self) -> &'static str {
        match self {
            Self::Identity => "identity",
            Self::Gzip => "gzip",
            Self::Deflate | Self::RawDeflate => "deflate",
            Self::Brotli => "br",
            Self::Zstd => "zstd",
        }
    }

    /// The algorithm called `name` in the configuration.
    pub fn from_cfg_name(name: &str) -> Option<Self> {
        [
            Self::Identity,
            Self::Gzip,
            Self::Deflate,
            Self::RawDeflate,
            Self::Brotli,
            Self::Zstd,
        ]
        .into_iter()
        .find(|a| a.cfg_name() == name)
    }
}

/// The `compression` settings of one proxy.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CompressionCfg {
    /// `compression algo ...`, in configuration order (earlier lines first).
    pub algos: Vec<CompAlgo>,
    /// `compression type ...`: MIME type prefixes (case-insensitive); empty means every
    /// type.
    pub types: Vec<String>,
    /// `compression offload`: remove `Accept-Encoding` from requests we compress for.
    pub offload: bool,
}

/// Parses one `compression ...` line.
pub(crate) fn parse_compression(px: &mut ProxyDraft, line: &Line) -> Result<(), ConfigError> {
    let expected = "'algo', 'type' or 'offload'";
    let what = line.required(1, "compression", expected)?;
    let cfg = px.compression.get_or_insert_with(CompressionCfg::default);
    match what {
        "algo" => {
            if line.arg(2).is_none() {
                return Err(line.invalid("compression", "'algo' expects <algorithm>"));
            }
            for name in line.words.iter().skip(2) {
                let Some(algo) = CompAlgo::from_cfg_name(name) else {
                    return Err(line.invalid(
                        "compression",
                        format!(
                            "'algo' : '{name}' is not a supported algorithm (identity, gzip, \
                             deflate, raw-deflate, br, zstd)"
                        ),
                    ));
                };
                if !cfg.algos.contains(&algo) {
                    cfg.algos.push(algo);
                }
            }
            Ok(())
        }
        "type" => {
            if line.arg(2).is_none() {
                return Err(line.invalid("compression", "'type' expects <type>"));
            }
            cfg.types
                .extend(line.words.iter().skip(2).map(|t| t.to_ascii_lowercase()));
            Ok(())
        }
        "offload" => {
            line.max_args(1, "compression offload")?;
            // HAProxy warns and ignores it in a defaults section.
            if px.kind != ProxyKind::Defaults {
                cfg.offload = true;
            }
            Ok(())
        }
        other => Err(line.invalid("compression", format!("expects {expected}, got '{other}'"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for n in ["identity", "gzip", "deflate", "raw-deflate", "br", "zstd"] {
            assert_eq!(CompAlgo::from_cfg_name(n).map(CompAlgo::cfg_name), Some(n));
        }
        assert_eq!(CompAlgo::RawDeflate.token(), "deflate");
        assert_eq!(CompAlgo::from_cfg_name("lz4"), None);
    }
}
