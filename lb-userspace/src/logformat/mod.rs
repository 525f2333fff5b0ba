//! HAProxy log-format strings: literal text, `%[expr]` sample interpolation, `%xx`
//! aliases (`%ci`, `%b`, `%Tw`, ...), `%{+Q,-E}` flags and `%%`, sans-I/O.
//!
//! A [`LogFormat`] is parsed once from the config ([`LogFormat::parse`]) and rendered
//! per stream ([`LogFormat::render`]). Aliases that a [`StreamCtx`] knows (addresses,
//! names, connection counts) are rendered from it; the others (timers, byte counts,
//! termination state, HTTP facts) come from an [`AliasSource`] supplied by the caller
//! that has them (the logger, later the HTTP layer). Dynamic `use_backend %[...]` names
//! use the same type with [`ParseOptions::default`].
//!
//! [`StreamCtx`]: crate::sample::StreamCtx

mod alias;
pub mod render;

pub use alias::Alias;
pub use render::{AliasSource, NoAliases, write_text};

use crate::sample::{SampleError, SampleExpr, parse};

/// How a node is printed (`%{+Q}`, `%{-M}`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Flags {
    /// `Q`: surround with double quotes.
    pub quote: bool,
    /// `X`: numbers in hexadecimal.
    pub hexa: bool,
    /// `E`: escape `"`, `\` and `]` with a backslash (RFC 5424 structured data).
    pub escape: bool,
    /// `M`: print `-` for an empty or missing value.
    pub mandatory: bool,
}

impl Flags {
    /// Applies a flag list such as `+Q,-M` (unknown names are ignored, as HAProxy
    /// does).
    fn apply(mut self, list: &str) -> Self {
        for item in list.split(',') {
            let (on, name) = match item.as_bytes().first() {
                Some(b'+') => (true, &item[1..]),
                Some(b'-') => (false, &item[1..]),
                _ => continue,
            };
            match name {
                "Q" => self.quote = on,
                "X" => self.hexa = on,
                "E" => self.escape = on,
                "M" => self.mandatory = on,
                _ => {}
            }
        }
        self
    }
}

/// One element of a log-format string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    /// Literal text.
    Text(String),
    /// A space, when spaces are merged: consecutive ones print once.
    Separator,
    /// `%[expr]`.
    Expr {
        /// The expression.
        expr: SampleExpr,
        /// How it prints.
        flags: Flags,
    },
    /// `%xx`.
    Alias {
        /// Which alias.
        alias: Alias,
        /// How it prints.
        flags: Flags,
    },
}

/// Where the string is used, which changes parsing as in HAProxy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ParseOptions {
    /// The proxy is in HTTP mode: HTTP-only aliases are allowed.
    pub http: bool,
    /// Missing values print `-` (`log-format` sets it; `use_backend` does not).
    pub mandatory: bool,
    /// Runs of spaces print as one space, and leading spaces are dropped (`log-format`).
    pub merge_spaces: bool,
}

impl ParseOptions {
    /// The options of `log-format` lines in a proxy of the given mode.
    pub fn log_format(http: bool) -> Self {
        Self {
            http,
            mandatory: true,
            merge_spaces: true,
        }
    }
}

/// Why a log-format string was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LogFormatError {
    /// `%` followed by a digit or a blank.
    #[error(
        "unexpected variable name near '{ch}' at position {pos} line : '{text}'. Maybe you want \
         to write a single '%', use the syntax '%%'"
    )]
    UnexpectedChar {
        /// The character after `%`.
        ch: char,
        /// Its byte position.
        pos: usize,
        /// The whole string.
        text: String,
    },
    /// `%{...}` not followed by a name or `[`.
    #[error("parse argument modifier without variable name near '%{{{0}}}'")]
    FlagsWithoutVariable(String),
    /// An unknown `%name`.
    #[error(
        "no such format variable '{0}'. If you wanted to emit the '%' character verbatim, you \
         need to use '%%'"
    )]
    UnknownVariable(String),
    /// An HTTP-only alias outside HTTP mode.
    #[error("format variable '{0}' is reserved for HTTP mode")]
    HttpOnly(String),
    /// `%[expr` not closed by `]`.
    #[error("missing ']' after '{0}'")]
    MissingBracket(String),
    /// The expression is invalid.
    #[error("failed to parse sample expression <{text}> : {source}")]
    Expr {
        /// The expression text.
        text: String,
        /// What is wrong.
        source: SampleError,
    },
    /// The string ends inside `%`, `%{` or `%[`.
    #[error("truncated line after '{0}'")]
    Truncated(String),
}

/// A parsed log-format string.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LogFormat {
    /// The elements, in order.
    pub nodes: Vec<Node>,
}

impl LogFormat {
    /// The text, when the string has no variable part (a `use_backend` name that needs no
    /// evaluation).
    pub fn as_static(&self) -> Option<String> {
        let mut out = String::new();
        for node in &self.nodes {
            match node {
                Node::Text(t) => out.push_str(t),
                Node::Separator => out.push(' '),
                Node::Expr { .. } | Node::Alias { .. } => return None,
            }
        }
        Some(out)
    }

    /// The `%[expr]` expressions of the string, for configuration checks.
    pub fn exprs(&self) -> impl Iterator<Item = &SampleExpr> {
        self.nodes.iter().filter_map(|n| match n {
            Node::Expr { expr, .. } => Some(expr),
            _ => None,
        })
    }

    /// Parses a log-format string (after the config's own quoting and escaping).
    pub fn parse(text: &str, opts: ParseOptions) -> Result<Self, LogFormatError> {
        let mut nodes = Vec::new();
        let mut defaults = Flags {
            mandatory: opts.mandatory,
            ..Flags::default()
        };
        let mut literal = String::new();
        let bytes = text.as_bytes();
        let mut i = 0;
        let flush = |literal: &mut String, nodes: &mut Vec<Node>| {
            if !literal.is_empty() {
                nodes.push(Node::Text(std::mem::take(literal)));
            }
        };
        while i < bytes.len() {
            let c = bytes[i];
            if c == b' ' && opts.merge_spaces {
                flush(&mut literal, &mut nodes);
                nodes.push(Node::Separator);
                i += 1;
                continue;
            }
            if c != b'%' {
                let next = text[i..]
                    .find(['%', ' '])
                    .map_or(text.len(), |n| i + n.max(1));
                literal.push_str(&text[i..next]);
                i = next;
                continue;
            }
            // After '%'.
            i += 1;
            let Some(&next) = bytes.get(i) else {
                return Err(LogFormatError::Truncated("%".into()));
            };
            let mut flags = defaults;
            let mut arg: Option<&str> = None;
            if next == b'%' {
                literal.push('%');
                i += 1;
                continue;
            }
            if next.is_ascii_digit() || next == b' ' || next == b'\t' {
                return Err(LogFormatError::UnexpectedChar {
                    ch: char::from(next),
                    pos: i,
                    text: text.to_owned(),
                });
            }
            if next == b'{' {
                let close = text[i + 1..]
                    .find('}')
                    .ok_or_else(|| LogFormatError::Truncated(text[i + 1..].to_owned()))?;
                let list = &text[i + 1..i + 1 + close];
                flags = flags.apply(list);
                arg = Some(list);
                i += close + 2;
                match bytes.get(i) {
                    Some(b'[') => {}
                    Some(c) if c.is_ascii_alphanumeric() => {}
                    _ => return Err(LogFormatError::FlagsWithoutVariable(list.to_owned())),
                }
            }
            match bytes[i] {
                b'[' => {
                    let body = &text[i + 1..];
                    let (calls, rest) = parse::split_chain_prefix(body).map_err(|source| {
                        if body.is_empty() {
                            LogFormatError::Truncated(body.to_owned())
                        } else {
                            LogFormatError::Expr {
                                text: body.to_owned(),
                                source,
                            }
                        }
                    })?;
                    let expr_text = &body[..body.len() - rest.len()];
                    if !rest.starts_with(']') {
                        return Err(LogFormatError::MissingBracket(expr_text.to_owned()));
                    }
                    let expr = SampleExpr::from_calls(expr_text, &calls).map_err(|source| {
                        LogFormatError::Expr {
                            text: expr_text.to_owned(),
                            source,
                        }
                    })?;
                    flush(&mut literal, &mut nodes);
                    nodes.push(Node::Expr { expr, flags });
                    i += 1 + expr_text.len() + 1;
                }
                c if c.is_ascii_alphabetic() || (arg.is_some() && c.is_ascii_digit()) => {
                    let len = text[i..]
                        .find(|c: char| !c.is_ascii_alphanumeric())
                        .unwrap_or(text.len() - i);
                    let name = &text[i..i + len];
                    i += len;
                    if name == "o" {
                        // `%{...}o` only changes the defaults of what follows.
                        defaults = flags;
                        continue;
                    }
                    let alias = Alias::from_name(name)
                        .ok_or_else(|| LogFormatError::UnknownVariable(name.to_owned()))?;
                    if alias.http_only() && !opts.http {
                        return Err(LogFormatError::HttpOnly(name.to_owned()));
                    }
                    flush(&mut literal, &mut nodes);
                    nodes.push(Node::Alias { alias, flags });
                }
                // Any other character: the '%' is dropped and the character kept, as
                // HAProxy does.
                _ => {}
            }
        }
        flush(&mut literal, &mut nodes);
        Ok(Self { nodes })
    }

    /// Whether the string has no `%` element (its text never changes).
    pub fn is_constant(&self) -> bool {
        self.nodes
            .iter()
            .all(|n| matches!(n, Node::Text(_) | Node::Separator))
    }
}

#[cfg(test)]
mod tests;
