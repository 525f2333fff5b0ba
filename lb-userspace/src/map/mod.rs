//! Map files (`key value` per line) used by the `map*` converters, and pattern files used
//! by ACLs (`-f`, `-M -f`), loaded at start and updatable at run time.
//!
//! A file is loaded once per process into a [`PatRef`] (a *pattern reference*, named by
//! the path as written), found through [`Registry::global`]. Each user compiles the
//! reference for its match method into an [`Index`] (a `map_beg` converter and an
//! `acl ... -m beg -M -f` with the same file share one); the CLI issue's commands map to
//! [`PatRef::add`], [`PatRef::del`], [`PatRef::set`], [`PatRef::clear`] and
//! [`PatRef::entries`], which update every index of the reference at once. Readers take
//! an index's read lock for one lookup only.
//!
//! The registry holds references weakly: they live as long as a parsed configuration
//! uses them, so parsing a new configuration after the old one is dropped reads the
//! files again, while a configuration parsed while another one is alive shares its
//! references (and their run-time changes).

pub mod file;
pub mod index;
pub mod registry;
pub(crate) mod store;

pub use index::{Found, Index, IndexSpec, MapValue, OutputType};
pub use registry::{Entry, PatRef, RefKind, Registry};

/// Why a map or pattern file could not be loaded or changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MapError {
    /// The file cannot be read.
    #[error("failed to open pattern file <{name}>: {reason}")]
    Io {
        /// The file.
        name: String,
        /// The I/O error.
        reason: String,
    },
    /// The file is already loaded with the other number of columns.
    #[error(
        "the file '{name}' is already used as {} column file and cannot be used as {} column file",
        if *used_as_map { "two" } else { "one" },
        if *used_as_map { "one" } else { "two" }
    )]
    KindConflict {
        /// The file.
        name: String,
        /// It was loaded as a map (two columns).
        used_as_map: bool,
    },
    /// A key does not parse for the match method of an index.
    #[error("file '{name}'{}: invalid key '{key}': {reason}", line_suffix(*line))]
    BadKey {
        /// The file.
        name: String,
        /// The line, for entries read from the file.
        line: Option<usize>,
        /// The key.
        key: String,
        /// Why.
        reason: String,
    },
    /// A value does not parse for the output type of an index.
    #[error("file '{name}'{}: unable to parse '{value}' as {ty}", line_suffix(*line))]
    BadValue {
        /// The file.
        name: String,
        /// The line, for entries read from the file.
        line: Option<usize>,
        /// The value.
        value: String,
        /// The expected type.
        ty: &'static str,
    },
    /// `add map` without a value.
    #[error("'{0}' is a map: a value is required")]
    MissingValue(String),
    /// A value given for a one-column pattern file.
    #[error("'{0}' is a pattern file: it holds no values")]
    UnexpectedValue(String),
}

fn line_suffix(line: Option<usize>) -> String {
    line.map(|l| format!(" line {l}")).unwrap_or_default()
}

#[cfg(test)]
mod tests;
