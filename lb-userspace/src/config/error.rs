//! Configuration errors, reported like HAProxy: `parsing [FILE:LINE] : message`.
//!
//! The parser keeps going after an error so that `lb -c` lists every problem at once, as
//! `haproxy -c` does; [`ConfigErrors`] is that list.

use std::fmt;

use super::lexer::LexError;
use super::model::Location;
use super::units::UnitError;
use crate::acl::AclError;
use crate::sample::SampleError;

/// What is wrong with a configuration line (or with the configuration as a whole).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ErrorKind {
    /// A file or directory could not be read.
    #[error("could not open configuration file : {reason}")]
    Io {
        /// The operating system's message.
        reason: String,
    },
    /// The line could not be split into words (quotes, escapes, variables).
    #[error("{0}")]
    Syntax(#[from] LexError),
    /// A keyword this section does not know.
    #[error("unknown keyword '{keyword}' in '{section}' section")]
    UnknownKeyword {
        /// The keyword as written.
        keyword: String,
        /// The section kind (`global`, `frontend`...).
        section: String,
    },
    /// A keyword before any section.
    #[error("unknown keyword '{keyword}' out of section")]
    OutOfSection {
        /// The keyword as written.
        keyword: String,
    },
    /// A real HAProxy keyword that `lb` does not implement yet.
    #[error("keyword '{keyword}' is not supported yet{}", comes_with(feature))]
    NotSupportedYet {
        /// The keyword (with its context, e.g. `option httplog`).
        keyword: String,
        /// The feature that will bring it.
        feature: &'static str,
    },
    /// A keyword HAProxy itself removed.
    #[error("keyword '{keyword}' is not supported anymore")]
    Obsolete {
        /// The keyword as written.
        keyword: String,
    },
    /// A keyword valid elsewhere but not in this kind of section.
    #[error("'{keyword}' not allowed in '{section}' section")]
    NotAllowed {
        /// The keyword as written.
        keyword: String,
        /// The section kind.
        section: String,
    },
    /// A keyword that lacks its argument(s).
    #[error("'{keyword}' expects {expected}")]
    MissingArgument {
        /// The keyword (with context).
        keyword: String,
        /// What it expects, in words.
        expected: String,
    },
    /// Extra words after a complete keyword.
    #[error("'{keyword}' cannot handle unexpected argument '{argument}'")]
    UnexpectedArgument {
        /// The keyword (with context).
        keyword: String,
        /// The first extra word.
        argument: String,
    },
    /// An argument with a bad value.
    #[error("'{keyword}' : invalid value '{value}' : {reason}")]
    InvalidValue {
        /// The keyword (with context).
        keyword: String,
        /// The value as written.
        value: String,
        /// Why it is invalid.
        reason: String,
    },
    /// A time or size argument that does not parse.
    #[error("'{keyword}' : invalid value '{value}' : {source}")]
    Unit {
        /// The keyword (with context).
        keyword: String,
        /// The value as written.
        value: String,
        /// Why it is invalid.
        source: UnitError,
    },
    /// Anything else wrong with a keyword, described in words.
    #[error("'{keyword}' : {reason}")]
    Invalid {
        /// The keyword (with context).
        keyword: String,
        /// What is wrong.
        reason: String,
    },
    /// `no`/`default` in front of a keyword that does not take them.
    #[error("negation/default currently supported only for options and log")]
    BadModifier,
    /// Two objects that must have distinct names.
    #[error("{what} '{name}' has the same name as {other} '{name}' declared at {first}")]
    Duplicate {
        /// `frontend`, `backend`, `server`...
        what: &'static str,
        /// The name.
        name: String,
        /// The kind of the first one.
        other: &'static str,
        /// Where the first one is.
        first: Location,
    },
    /// A reference to a backend that does not exist.
    #[error("{proxy_kind} '{proxy}' : unable to find required {rule} '{backend}'")]
    UnknownBackend {
        /// `frontend`, `listen` or `defaults`.
        proxy_kind: &'static str,
        /// The proxy holding the reference.
        proxy: String,
        /// `default_backend` or `use_backend`.
        rule: &'static str,
        /// The missing backend.
        backend: String,
    },
    /// An ACL line rejected by the ACL parser.
    #[error("error detected while parsing ACL '{name}' : {source}")]
    Acl {
        /// The ACL name.
        name: String,
        /// Why.
        source: AclError,
    },
    /// A condition rejected by the condition parser.
    #[error("error detected while parsing {rule} : {source}")]
    Condition {
        /// The rule (`use_backend`...).
        rule: &'static str,
        /// Why.
        source: AclError,
    },
    /// A sample expression rejected by the sample parser.
    #[error("'{keyword}' : {source}")]
    Sample {
        /// The keyword using the expression.
        keyword: String,
        /// Why.
        source: SampleError,
    },
    /// A configuration-wide consistency problem on this line (`track`, check ports...).
    #[error("{0}")]
    Consistency(String),
}

/// One error, with where it is and an optional hint; displays as
/// `parsing [FILE:LINE] : message[; hint]`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("parsing [{}] : {}", where_text(.location), message_text(.kind, .hint.as_deref()))]
#[non_exhaustive]
pub struct ConfigError {
    /// The file and line (line 0 when the error is about a whole file).
    pub location: Location,
    /// What is wrong (boxed: errors travel through every parser's `Result`).
    #[source]
    pub kind: Box<ErrorKind>,
    /// A suggestion (`did you mean 'bind' maybe ?`, `use 'timeout connect'`).
    pub hint: Option<String>,
}

impl ConfigError {
    /// An error without hint.
    pub fn new(location: Location, kind: ErrorKind) -> Self {
        Self {
            location,
            kind: Box::new(kind),
            hint: None,
        }
    }

    /// Adds a hint.
    #[must_use]
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// Adds `did you mean 'X' maybe ?` when `suggestion` is some.
    #[must_use]
    pub fn with_suggestion(self, suggestion: Option<&str>) -> Self {
        match suggestion {
            Some(s) => self.with_hint(format!("did you mean '{s}' maybe ?")),
            None => self,
        }
    }

    /// The message without the `parsing [...]` prefix (for tests and logs).
    pub fn message(&self) -> String {
        message_text(&self.kind, self.hint.as_deref())
    }
}

/// `FILE:LINE`, or just `FILE` for errors about a whole file.
fn where_text(location: &Location) -> String {
    match location.line {
        0 => location.file.display().to_string(),
        _ => location.to_string(),
    }
}

fn message_text(kind: &ErrorKind, hint: Option<&str>) -> String {
    match hint {
        Some(hint) => format!("{kind}; {hint}"),
        None => kind.to_string(),
    }
}

/// Every error found in a configuration, in file order (what `lb -c` prints, one per line).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl ConfigErrors {
    /// The errors.
    pub fn iter(&self) -> std::slice::Iter<'_, ConfigError> {
        self.0.iter()
    }

    /// Number of errors.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when there is no error.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Records one more error.
    pub fn push(&mut self, error: ConfigError) {
        self.0.push(error);
    }
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

impl From<ConfigError> for ConfigErrors {
    fn from(e: ConfigError) -> Self {
        Self(vec![e])
    }
}

impl<'a> IntoIterator for &'a ConfigErrors {
    type Item = &'a ConfigError;
    type IntoIter = std::slice::Iter<'a, ConfigError>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

/// The candidate closest to `word` by edit distance, if it is close enough to be a typo.
pub fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let max = (word.chars().count() / 3).max(1);
    candidates
        .into_iter()
        .map(|c| (edit_distance(word, c), c))
        .filter(|&(d, _)| d <= max)
        .min_by_key(|&(d, _)| d)
        .map(|(_, c)| c)
}

/// Edit distance counting insertions, deletions, substitutions and swaps of two adjacent
/// characters (optimal string alignment), case-sensitive.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    // d[i][j]: distance between the first i chars of a and the first j chars of b.
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = best;
        }
    }
    d[a.len()][b.len()]
}

/// ` (comes with FEATURE)`, or nothing when no feature is named.
fn comes_with(feature: &str) -> String {
    if feature.is_empty() {
        String::new()
    } else {
        format!(" (comes with {feature})")
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    fn loc(line: usize) -> Location {
        Location {
            file: PathBuf::from("lb.cfg"),
            line,
        }
    }

    #[test]
    fn display_is_haproxy_like() {
        let kind = ErrorKind::UnknownKeyword {
            keyword: "bnd".into(),
            section: "frontend".into(),
        };
        let e = ConfigError::new(loc(3), kind).with_suggestion(Some("bind"));
        assert_eq!(
            e.to_string(),
            "parsing [lb.cfg:3] : unknown keyword 'bnd' in 'frontend' section; did you mean 'bind' maybe ?"
        );
        let whole_file = ConfigError::new(
            loc(0),
            ErrorKind::Io {
                reason: "No such file".into(),
            },
        );
        assert_eq!(
            whole_file.to_string(),
            "parsing [lb.cfg] : could not open configuration file : No such file"
        );
    }

    #[test]
    fn error_list_prints_one_per_line() {
        let mut list = ConfigErrors::default();
        list.push(ConfigError::new(loc(1), ErrorKind::BadModifier));
        list.push(ConfigError::new(
            loc(2),
            ErrorKind::OutOfSection {
                keyword: "x".into(),
            },
        ));
        assert_eq!(
            list.to_string(),
            "parsing [lb.cfg:1] : negation/default currently supported only for options and log\n\
             parsing [lb.cfg:2] : unknown keyword 'x' out of section"
        );
        assert_eq!(list.len(), 2);
    }

    #[test]
    fn edit_distances() {
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("bind", "bind"), 0);
        assert_eq!(edit_distance("bnid", "bind"), 1);
        assert_eq!(edit_distance("nmae", "name"), 1);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }

    #[test]
    fn suggestions() {
        let kws = ["bind", "balance", "backlog", "timeout"];
        assert_eq!(did_you_mean("bnd", kws), Some("bind"));
        assert_eq!(did_you_mean("timeotu", kws), Some("timeout"));
        assert_eq!(did_you_mean("zzzzzz", kws), None);
        assert_eq!(did_you_mean("balanse", kws), Some("balance"));
    }
}
