//! ACLs and conditions (`acl NAME ...`, `if|unless COND`), sans-I/O.
//!
//! [`Condition::parse`] is the one entry point every rule that takes a condition uses
//! (`use_backend`, later `tcp-request`, `http-request`, ...). A condition is a list of
//! OR-ed suites of AND-ed terms; each term is a (possibly negated) named, predefined or
//! anonymous ACL, itself an OR of expressions. Everything is resolved at parse time, so
//! evaluation only walks vectors.
//!
//! # Evaluating while data is still arriving
//!
//! Rules that inspect the client's first bytes (`tcp-request content`) need a third
//! answer besides true and false: "not yet". [`Condition::eval_partial`] returns a
//! [`Tristate`] following HAProxy's `acl_exec_cond`: an expression whose fetch says more
//! data could change its result (HAProxy's `SMP_F_MAY_CHANGE`: too few bytes for
//! `req.payload`, `req.ssl_sni`, `req.len` that may still grow, `WAIT_END` before the
//! end) and that did not match is [`Tristate::Undecided`], unless
//! [`StreamCtx::payload_final`] says no more data will come. Terms combine as HAProxy's
//! three-state logic: an ACL (OR of expressions) is true if one expression is true,
//! else undecided if one is; a suite (AND of terms) stops at the first term that is not
//! true and takes its value; the condition (OR of suites) is true if a suite is true,
//! else undecided if one is. `!` and `unless` swap true and false and keep undecided.
//!
//! A rule engine calls `eval_partial` each time more bytes arrive: on `True`/`False` it
//! applies or skips the rule; on `Undecided` it waits for more data (or for the
//! inspect delay, after which it sets `payload_final` and evaluates again, which always
//! decides). [`Condition::eval`] is the final evaluation for rules that never wait
//! (`use_backend`, `tcp-request connection`): it treats the payload as final.

pub mod expr;
pub mod pattern;
pub mod predef;

use std::collections::HashMap;
use std::sync::Arc;

use crate::map::MapError;
use crate::sample::{SampleError, SampleType, StreamCtx};

pub use expr::AclExpr;
pub use pattern::MatchMethod;

/// One ACL: the expressions of every `acl` line with its name, OR-ed.
#[derive(Debug, Clone)]
pub struct Acl {
    /// The name (empty for an anonymous ACL).
    pub name: String,
    /// The expressions.
    pub exprs: Vec<AclExpr>,
}

impl Acl {
    /// True if any expression matches, the payload being final.
    pub fn eval(&self, ctx: &StreamCtx<'_>) -> bool {
        self.eval_partial(&ctx.finalized()) == Tristate::True
    }

    /// True if any expression is true, else undecided if any is undecided.
    pub fn eval_partial(&self, ctx: &StreamCtx<'_>) -> Tristate {
        let mut result = Tristate::False;
        for expr in &self.exprs {
            result = result.or(expr.eval_partial(ctx));
            if result == Tristate::True {
                break;
            }
        }
        result
    }
}

/// The result of evaluating a condition while data may still arrive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tristate {
    /// The condition does not hold, whatever comes next.
    False,
    /// The condition holds.
    True,
    /// Not decided yet: more client data could change the result (HAProxy's
    /// `ACL_TEST_MISS`). Never returned once the payload is final.
    Undecided,
}

impl Tristate {
    /// `true` → `True`, `false` → `False`.
    pub fn from_bool(b: bool) -> Self {
        if b { Self::True } else { Self::False }
    }

    /// The decision, if there is one.
    pub fn decided(self) -> Option<bool> {
        match self {
            Self::True => Some(true),
            Self::False => Some(false),
            Self::Undecided => None,
        }
    }

    /// Logical OR: true wins, then undecided.
    pub fn or(self, other: Self) -> Self {
        match (self, other) {
            (Self::True, _) | (_, Self::True) => Self::True,
            (Self::Undecided, _) | (_, Self::Undecided) => Self::Undecided,
            _ => Self::False,
        }
    }

    /// Logical AND: false wins, then undecided.
    pub fn and(self, other: Self) -> Self {
        match (self, other) {
            (Self::False, _) | (_, Self::False) => Self::False,
            (Self::Undecided, _) | (_, Self::Undecided) => Self::Undecided,
            _ => Self::True,
        }
    }

    /// Negation; undecided stays undecided.
    #[allow(clippy::should_implement_trait)]
    pub fn not(self) -> Self {
        match self {
            Self::True => Self::False,
            Self::False => Self::True,
            Self::Undecided => Self::Undecided,
        }
    }
}

/// The named ACLs declared in one proxy section (`acl NAME ...` lines).
#[derive(Debug, Clone, Default)]
pub struct AclSet {
    acls: HashMap<String, Arc<Acl>>,
}

impl AclSet {
    /// Adds one `acl NAME criterion [flags] [operator] value...` line (`words` starts after
    /// `acl`); lines with the same name are OR-ed.
    ///
    /// Conditions take a snapshot of the ACLs they name when they are parsed, so every
    /// `acl` line of a section should be added before the section's conditions are parsed.
    pub fn add(&mut self, words: &[String]) -> Result<(), AclError> {
        let Some(name) = words.first() else {
            return Err(AclError::MissingName);
        };
        if let Some(ch) = name
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | ':' | '_' | '-')))
        {
            return Err(AclError::InvalidName {
                name: name.clone(),
                ch,
            });
        }
        if name.eq_ignore_ascii_case("or") {
            return Err(AclError::ReservedName(name.clone()));
        }
        let expr = AclExpr::parse(&words[1..])?;
        let acl = self.acls.entry(name.clone()).or_insert_with(|| {
            Arc::new(Acl {
                name: name.clone(),
                exprs: Vec::new(),
            })
        });
        Arc::make_mut(acl).exprs.push(expr);
        Ok(())
    }

    /// The ACL declared as `name` in this section.
    pub fn get(&self, name: &str) -> Option<&Arc<Acl>> {
        self.acls.get(name)
    }

    /// Resolves a name used in a condition: section ACLs first (they may override
    /// predefined ones, as in HAProxy), then predefined ACLs.
    fn resolve(&self, name: &str) -> Result<Arc<Acl>, AclError> {
        if let Some(acl) = self.acls.get(name) {
            return Ok(Arc::clone(acl));
        }
        predef::lookup(name)?.ok_or_else(|| AclError::UnknownAcl(name.to_owned()))
    }
}

/// A term of a condition: an ACL, possibly negated with `!`.
#[derive(Debug, Clone)]
struct Term {
    negate: bool,
    acl: Arc<Acl>,
}

/// A parsed `if COND` / `unless COND`.
#[derive(Debug, Clone)]
pub struct Condition {
    /// `unless` inverts the result.
    pub unless: bool,
    /// OR-ed suites of AND-ed terms.
    suites: Vec<Vec<Term>>,
}

impl Condition {
    /// Parses `if|unless COND...` (`words[0]` is `if` or `unless`), resolving ACL names
    /// against `acls` and the predefined ACLs. Terms are implicitly AND-ed; `||` or `or`
    /// separates OR-ed suites (AND binds tighter); `!` negates the next term (it may
    /// also prefix a name: `!local`); `{ criterion [flags] values }` is an anonymous ACL.
    pub fn parse(words: &[String], acls: &AclSet) -> Result<Self, AclError> {
        let unless = match words.first().map(String::as_str) {
            Some("if") => false,
            Some("unless") => true,
            Some(other) => return Err(AclError::ExpectedIfUnless(other.to_owned())),
            None => return Err(AclError::ExpectedIfUnless(String::new())),
        };
        if words.len() < 2 {
            return Err(AclError::MissingCondition);
        }
        let mut suites = vec![Vec::new()];
        let mut negate = false;
        let mut i = 1;
        while i < words.len() {
            let mut word = words[i].as_str();
            i += 1;
            while let Some(rest) = word.strip_prefix('!') {
                negate = !negate;
                word = rest;
            }
            if word.is_empty() {
                continue;
            }
            if word == "||" || word.eq_ignore_ascii_case("or") {
                if negate {
                    return Err(AclError::DanglingNegation);
                }
                if suites.last().is_some_and(Vec::is_empty) {
                    return Err(AclError::EmptyTerm);
                }
                suites.push(Vec::new());
                continue;
            }
            let acl = if word == "{" {
                let len = words[i..]
                    .iter()
                    .position(|w| w == "}")
                    .ok_or(AclError::UnclosedBrace)?;
                let expr = AclExpr::parse(&words[i..i + len])?;
                i += len + 1;
                Arc::new(Acl {
                    name: String::new(),
                    exprs: vec![expr],
                })
            } else {
                acls.resolve(word)?
            };
            if let Some(suite) = suites.last_mut() {
                suite.push(Term { negate, acl });
            }
            negate = false;
        }
        if negate {
            return Err(AclError::DanglingNegation);
        }
        if suites.last().is_some_and(Vec::is_empty) {
            return Err(AclError::EmptyTerm);
        }
        Ok(Self { unless, suites })
    }

    /// The criteria of the condition's anonymous ACLs (`{ ... }`), for configuration
    /// checks (named ACLs are checked at their `acl` line).
    pub fn anonymous_exprs(&self) -> impl Iterator<Item = &crate::sample::SampleExpr> {
        self.suites
            .iter()
            .flatten()
            .filter(|t| t.acl.name.is_empty())
            .flat_map(|t| t.acl.exprs.iter().map(|e| &e.sample))
    }

    /// Evaluates the condition for a stream as final (terms short-circuit left to
    /// right): the payload is taken as complete, so the answer is always decided.
    pub fn eval(&self, ctx: &StreamCtx<'_>) -> bool {
        self.eval_partial(&ctx.finalized()) == Tristate::True
    }

    /// Evaluates the condition, `unless` included, saying [`Tristate::Undecided`] when
    /// more client data could change the result (see the module documentation).
    pub fn eval_partial(&self, ctx: &StreamCtx<'_>) -> Tristate {
        let mut result = Tristate::False;
        for suite in &self.suites {
            let mut suite_res = Tristate::True;
            for term in suite {
                let mut acl_res = term.acl.eval_partial(ctx);
                if term.negate {
                    acl_res = acl_res.not();
                }
                suite_res = suite_res.and(acl_res);
                // HAProxy stops at the first term that is not true, undecided included.
                if suite_res != Tristate::True {
                    break;
                }
            }
            result = result.or(suite_res);
            if result == Tristate::True {
                break;
            }
        }
        if self.unless { result.not() } else { result }
    }
}

/// Why an ACL or condition could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AclError {
    /// `acl` without a name.
    #[error("missing ACL name")]
    MissingName,
    /// A character not allowed in ACL names (letters, digits, `.`, `:`, `_`, `-`).
    #[error("character '{ch}' is not permitted in acl name '{name}'")]
    InvalidName {
        /// The name.
        name: String,
        /// The offending character.
        ch: char,
    },
    /// `or` cannot name an ACL.
    #[error("acl name '{0}' will never match: 'or' expresses a logical disjunction")]
    ReservedName(String),
    /// Nothing after the ACL name.
    #[error("missing ACL criterion")]
    MissingCriterion,
    /// The criterion is not a valid sample expression.
    #[error("invalid ACL criterion '{criterion}': {source}")]
    Sample {
        /// The criterion.
        criterion: String,
        /// What is wrong with it.
        source: SampleError,
    },
    /// A word starting with `-` that is not a flag.
    #[error("'{0}' is not a valid ACL option; use '--' before any pattern beginning with '-'")]
    InvalidOption(String),
    /// A flag we know but do not support.
    #[error("ACL option '{0}' is not supported")]
    UnsupportedOption(String),
    /// A flag without its argument.
    #[error("ACL option '{0}' expects an argument")]
    MissingOptionArg(String),
    /// A flag whose argument is invalid.
    #[error("invalid argument '{arg}' to ACL option '{option}'")]
    BadOptionArg {
        /// The flag.
        option: String,
        /// The argument.
        arg: String,
    },
    /// `-m` names no match method.
    #[error("unknown matching method '{0}'")]
    UnknownMatchMethod(String),
    /// `-m` names a method that cannot apply to the criterion's type.
    #[error("matching method '{method}' cannot be used with fetch keyword '{criterion}'")]
    IncompatibleMatchMethod {
        /// The method.
        method: String,
        /// The criterion.
        criterion: String,
    },
    /// The criterion's type has no default match method (`bin`).
    #[error(
        "matching method must be specified first (using '-m') when using a sample fetch \
         of this type ('{criterion}' returns '{ty}')"
    )]
    MissingMatchMethod {
        /// The criterion.
        criterion: String,
        /// Its type.
        ty: SampleType,
    },
    /// `-m` after `-f`.
    #[error("'-m' must only be specified before patterns and files")]
    MatchAfterFile,
    /// A pattern that does not parse for the match method.
    #[error("invalid pattern '{pattern}': {reason}")]
    BadPattern {
        /// The pattern.
        pattern: String,
        /// Why.
        reason: String,
    },
    /// A `-f` file that cannot be read.
    #[error("failed to read pattern file '{path}': {reason}")]
    PatternFile {
        /// The file.
        path: String,
        /// The I/O error.
        reason: String,
    },
    /// A `-f` file that cannot be used (bad pattern, already loaded as a map, ...).
    #[error("{0}")]
    Map(MapError),
    /// A condition that does not start with `if` or `unless`.
    #[error("expected 'if' or 'unless', found '{0}'")]
    ExpectedIfUnless(String),
    /// `if` or `unless` with nothing after.
    #[error("missing condition after 'if' or 'unless'")]
    MissingCondition,
    /// A name that is neither a section ACL nor a predefined one.
    #[error("no such ACL: '{0}'")]
    UnknownAcl(String),
    /// A predefined ACL whose fetch does not exist yet.
    #[error("predefined ACL '{name}' is not supported yet (it needs fetch '{fetch}')")]
    PredefinedUnsupported {
        /// The ACL.
        name: String,
        /// The missing fetch.
        fetch: String,
    },
    /// `{` without `}`.
    #[error("missing closing '}}' in condition")]
    UnclosedBrace,
    /// `||` with nothing on one side.
    #[error("empty term in condition (nothing before or after '||')")]
    EmptyTerm,
    /// `!` with nothing after.
    #[error("'!' must be followed by an ACL")]
    DanglingNegation,
}

impl From<MapError> for AclError {
    fn from(e: MapError) -> Self {
        match e {
            MapError::Io { name, reason } => Self::PatternFile { path: name, reason },
            other => Self::Map(other),
        }
    }
}

#[cfg(test)]
mod tests;
