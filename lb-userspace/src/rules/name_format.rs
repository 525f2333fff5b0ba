//! Names computed per stream: `use_backend %[req.ssl_sni,lower,map(hosts.map,bk_default)]`.
//!
//! HAProxy parses a `use_backend` name as a log-format string: text with `%[expr]`
//! interpolations, `%%` for a percent sign. Only that subset is accepted here; the other
//! log-format tags (`%ci`, `%{+Q}[...]`...) come with custom log formats and are refused.

use crate::sample::{Sample, SampleError, SampleExpr, SampleType, StreamCtx};

/// A string with `%[expr]` interpolations.
#[derive(Debug, Clone)]
pub struct NameFormat {
    /// The text as written (for messages).
    source: String,
    parts: Vec<Part>,
}

#[derive(Debug, Clone)]
enum Part {
    Text(String),
    Expr(SampleExpr),
}

/// Why a name format could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NameFormatError {
    /// `%[` without the closing `]`.
    #[error("missing ']' after '%[' in '{0}'")]
    Unclosed(String),
    /// `%` at the end of the text.
    #[error("'%' must be followed by '[', '%' or a tag in '{0}'")]
    Dangling(String),
    /// A log-format tag other than `%[...]` and `%%`.
    #[error("log-format tag '%{tag}' is not supported yet (comes with custom log formats)")]
    UnsupportedTag {
        /// The tag, without `%`.
        tag: String,
    },
    /// The expression inside `%[...]` does not parse.
    #[error("failed to parse sample expression '{expr}' : {source}")]
    Sample {
        /// The expression.
        expr: String,
        /// Why.
        source: SampleError,
    },
}

impl NameFormat {
    /// Parses a log-format string.
    pub fn parse(text: &str) -> Result<Self, NameFormatError> {
        let mut parts = Vec::new();
        let mut literal = String::new();
        let mut rest = text;
        while let Some(at) = rest.find('%') {
            literal.push_str(&rest[..at]);
            let after = &rest[at + 1..];
            if let Some(more) = after.strip_prefix('%') {
                literal.push('%');
                rest = more;
            } else if let Some(inner) = after.strip_prefix('[') {
                let end = inner
                    .find(']')
                    .ok_or_else(|| NameFormatError::Unclosed(text.to_owned()))?;
                let expr_text = &inner[..end];
                let expr =
                    SampleExpr::parse(expr_text).map_err(|source| NameFormatError::Sample {
                        expr: expr_text.to_owned(),
                        source,
                    })?;
                if !literal.is_empty() {
                    parts.push(Part::Text(std::mem::take(&mut literal)));
                }
                parts.push(Part::Expr(expr));
                rest = &inner[end + 1..];
            } else if after.is_empty() {
                return Err(NameFormatError::Dangling(text.to_owned()));
            } else {
                let len = after
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .unwrap_or(after.len())
                    .max(1);
                let tag = after.get(..len).unwrap_or(after).to_owned();
                return Err(NameFormatError::UnsupportedTag { tag });
            }
        }
        literal.push_str(rest);
        if !literal.is_empty() {
            parts.push(Part::Text(literal));
        }
        Ok(Self {
            source: text.to_owned(),
            parts,
        })
    }

    /// The text as written in the configuration.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The constant value when the string has no interpolation (`%%` already unescaped).
    pub fn as_static(&self) -> Option<String> {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Text(t) => out.push_str(t),
                Part::Expr(_) => return None,
            }
        }
        Some(out)
    }

    /// Builds the string for a stream; a sample that cannot be fetched (or turned into a
    /// string) prints as `-`, as in HAProxy's logs.
    pub fn render(&self, ctx: &StreamCtx<'_>) -> String {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Text(t) => out.push_str(t),
                Part::Expr(e) => match e.eval(ctx).and_then(|s| s.cast(SampleType::Str)) {
                    Some(Sample::Str(s)) => out.push_str(&s),
                    _ => out.push('-'),
                },
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> StreamCtx<'static> {
        StreamCtx::new(
            "10.1.2.3:5555".parse().unwrap(),
            "127.0.0.1:8443".parse().unwrap(),
            "Front",
        )
    }

    #[test]
    fn static_names_stay_static() {
        let f = NameFormat::parse("bk_app").unwrap();
        assert_eq!(f.as_static().as_deref(), Some("bk_app"));
        let f = NameFormat::parse("100%%").unwrap();
        assert_eq!(f.as_static().as_deref(), Some("100%"));
        assert_eq!(f.source(), "100%%");
    }

    #[test]
    fn interpolations_are_rendered() {
        let f = NameFormat::parse("bk_%[fe_name,lower]_%[dst_port]").unwrap();
        assert_eq!(f.as_static(), None);
        assert_eq!(f.render(&ctx()), "bk_front_8443");
        let f = NameFormat::parse("%[src]").unwrap();
        assert_eq!(f.render(&ctx()), "10.1.2.3");
        // A failed conversion prints '-'.
        let f = NameFormat::parse("x%[str(nope),ipmask(8)]").unwrap();
        assert_eq!(f.render(&ctx()), "x-");
    }

    #[test]
    fn errors() {
        assert_eq!(
            NameFormat::parse("a%[src").unwrap_err(),
            NameFormatError::Unclosed("a%[src".into())
        );
        assert_eq!(
            NameFormat::parse("a%").unwrap_err(),
            NameFormatError::Dangling("a%".into())
        );
        let e = NameFormat::parse("bk_%ci").unwrap_err();
        assert_eq!(
            e.to_string(),
            "log-format tag '%ci' is not supported yet (comes with custom log formats)"
        );
        assert!(matches!(
            NameFormat::parse("%{+Q}[src]").unwrap_err(),
            NameFormatError::UnsupportedTag { tag } if tag == "{"
        ));
        let e = NameFormat::parse("%[nope]").unwrap_err();
        assert_eq!(
            e.to_string(),
            "failed to parse sample expression 'nope' : unknown fetch method 'nope'"
        );
    }
}
