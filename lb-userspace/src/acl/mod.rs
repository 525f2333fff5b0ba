//! ACLs and conditions (`acl NAME ...`, `if|unless COND`), sans-I/O.
//!
//! [`Condition::parse`] is the one entry point every rule that takes a condition uses
//! (`use_backend`, later `tcp-request`, `http-request`, ...).

use crate::sample::StreamCtx;

/// The named ACLs declared in one proxy section (`acl NAME ...` lines).
#[derive(Debug, Clone, Default)]
pub struct AclSet {}

impl AclSet {
    /// Adds one `acl NAME criterion [flags] [operator] value...` line (`words` starts after
    /// `acl`); lines with the same name are OR-ed.
    pub fn add(&mut self, words: &[String]) -> Result<(), AclError> {
        Err(AclError::Unsupported(words.join(" ")))
    }
}

/// A parsed `if COND` / `unless COND`.
#[derive(Debug, Clone)]
pub struct Condition {
    /// `unless` inverts the result.
    pub unless: bool,
}

impl Condition {
    /// Parses `if|unless COND...` (`words[0]` is `if` or `unless`), resolving ACL names
    /// against `acls` and the predefined ACLs.
    pub fn parse(words: &[String], acls: &AclSet) -> Result<Self, AclError> {
        let _ = acls;
        Err(AclError::Unsupported(words.join(" ")))
    }

    /// Evaluates the condition for a stream.
    pub fn eval(&self, ctx: &StreamCtx<'_>) -> bool {
        let _ = ctx;
        self.unless
    }
}

/// Why an ACL or condition could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AclError {
    /// Not supported yet.
    #[error("unsupported condition '{0}'")]
    Unsupported(String),
}
