//! ACLs and conditions (`acl NAME ...`, `if|unless COND`), sans-I/O.
//!
//! [`Condition::parse`] is the one entry point every rule that takes a condition uses
//! (`use_backend`, later `tcp-request`, `http-request`, ...). A condition is a list of
//! OR-ed suites of AND-ed terms; each term is a (possibly negated) named, predefined or
//! anonymous ACL, itself an OR of expressions. Everything is resolved at parse time, so
//! evaluation only walks vectors.

pub mod expr;
pub mod pattern;
pub mod predef;

use std::collections::HashMap;
use std::sync::Arc;

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
    /// True if any expression matches.
    pub fn eval(&self, ctx: &StreamCtx<'_>) -> bool {
        self.exprs.iter().any(|e| e.eval(ctx))
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

    /// Evaluates the condition for a stream (terms short-circuit left to right).
    pub fn eval(&self, ctx: &StreamCtx<'_>) -> bool {
        let result = self
            .suites
            .iter()
            .any(|suite| suite.iter().all(|t| t.acl.eval(ctx) != t.negate));
        result != self.unless
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

#[cfg(test)]
mod tests {
    use super::*;

    fn words(text: &str) -> Vec<String> {
        text.split_whitespace().map(str::to_owned).collect()
    }

    fn ctx(src: &str) -> StreamCtx<'static> {
        StreamCtx::new(src.parse().unwrap(), "127.0.0.1:443".parse().unwrap(), "fe")
    }

    fn set(lines: &[&str]) -> AclSet {
        let mut acls = AclSet::default();
        for line in lines {
            acls.add(&words(line)).unwrap();
        }
        acls
    }

    fn cond(acls: &AclSet, text: &str) -> Condition {
        Condition::parse(&words(text), acls).unwrap()
    }

    fn err(acls: &AclSet, text: &str) -> AclError {
        Condition::parse(&words(text), acls).unwrap_err()
    }

    /// ACLs used below: `net10` (src in 10/8), `tls` (dst port 443), `low` (src port < 1024).
    fn sample_set() -> AclSet {
        set(&[
            "net10 src 10.0.0.0/8",
            "tls dst_port 443",
            "low src_port lt 1024",
        ])
    }

    #[test]
    fn same_name_lines_are_ored() {
        let acls = set(&["nets src 10.0.0.0/8", "nets src 192.168.0.0/16"]);
        let c = cond(&acls, "if nets");
        assert!(c.eval(&ctx("10.1.1.1:5000")));
        assert!(c.eval(&ctx("192.168.3.3:5000")));
        assert!(!c.eval(&ctx("172.16.0.1:5000")));
        assert_eq!(acls.get("nets").unwrap().exprs.len(), 2);
    }

    #[test]
    fn and_or_not() {
        let acls = sample_set();
        let and = cond(&acls, "if net10 tls");
        assert!(and.eval(&ctx("10.0.0.1:5000")));
        assert!(!and.eval(&ctx("11.0.0.1:5000")));
        let or = cond(&acls, "if net10 || low");
        assert!(or.eval(&ctx("11.0.0.1:80")));
        assert!(or.eval(&ctx("10.0.0.1:5000")));
        assert!(!or.eval(&ctx("11.0.0.1:5000")));
        let or_word = cond(&acls, "if net10 OR low");
        assert!(or_word.eval(&ctx("11.0.0.1:80")));
        let not = cond(&acls, "if ! net10");
        assert!(not.eval(&ctx("11.0.0.1:5000")));
        assert!(!not.eval(&ctx("10.0.0.1:5000")));
        let glued = cond(&acls, "if !net10");
        assert!(glued.eval(&ctx("11.0.0.1:5000")));
        let double = cond(&acls, "if !!net10");
        assert!(double.eval(&ctx("10.0.0.1:5000")));
        let alone = cond(&acls, "if ! ! net10");
        assert!(alone.eval(&ctx("10.0.0.1:5000")));
    }

    #[test]
    fn and_binds_tighter_than_or() {
        let acls = sample_set();
        // (net10 AND low) OR (NOT tls): the dst port is always 443 here, so only the
        // first suite can match.
        let c = cond(&acls, "if net10 low || !tls");
        assert!(c.eval(&ctx("10.0.0.1:80")));
        assert!(!c.eval(&ctx("10.0.0.1:5000")));
        assert!(!c.eval(&ctx("11.0.0.1:80")));
        // net10 OR (low AND tls)
        let c = cond(&acls, "if net10 || low tls");
        assert!(c.eval(&ctx("10.0.0.1:5000")));
        assert!(c.eval(&ctx("11.0.0.1:80")));
        assert!(!c.eval(&ctx("11.0.0.1:5000")));
    }

    #[test]
    fn unless_inverts() {
        let acls = sample_set();
        let c = cond(&acls, "unless net10");
        assert!(c.unless);
        assert!(c.eval(&ctx("11.0.0.1:5000")));
        assert!(!c.eval(&ctx("10.0.0.1:5000")));
        let c = cond(&acls, "unless net10 || low");
        assert!(!c.eval(&ctx("11.0.0.1:80")));
        assert!(c.eval(&ctx("11.0.0.1:5000")));
    }

    #[test]
    fn anonymous_acls() {
        let acls = sample_set();
        let c = cond(
            &acls,
            "if { src 10.0.0.0/8 192.168.0.0/16 } !{ src_port lt 1024 }",
        );
        assert!(c.eval(&ctx("192.168.1.1:5000")));
        assert!(!c.eval(&ctx("192.168.1.1:80")));
        assert!(!c.eval(&ctx("11.1.1.1:5000")));
        let c = cond(&acls, "if { fe_name -i FE } || net10");
        assert!(c.eval(&ctx("11.1.1.1:5000")));
        let c = cond(&acls, "if tls { src_port -m int 1:100 }");
        assert!(c.eval(&ctx("11.1.1.1:50")));
        assert!(!c.eval(&ctx("11.1.1.1:500")));
    }

    #[test]
    fn predefined_and_overrides() {
        let acls = AclSet::default();
        assert!(cond(&acls, "if TRUE").eval(&ctx("1.1.1.1:1")));
        assert!(!cond(&acls, "if FALSE").eval(&ctx("1.1.1.1:1")));
        assert!(cond(&acls, "if LOCALHOST").eval(&ctx("127.0.0.1:1")));
        assert!(cond(&acls, "unless LOCALHOST").eval(&ctx("10.0.0.1:1")));
        // A section ACL with a predefined name takes precedence.
        let acls = set(&["LOCALHOST src 10.0.0.1"]);
        assert!(cond(&acls, "if LOCALHOST").eval(&ctx("10.0.0.1:1")));
        assert!(!cond(&acls, "if LOCALHOST").eval(&ctx("127.0.0.1:1")));
        assert!(matches!(
            err(&AclSet::default(), "if RDP_COOKIE"),
            AclError::PredefinedUnsupported { .. }
        ));
    }

    #[test]
    fn condition_errors() {
        let acls = sample_set();
        assert_eq!(err(&acls, "if nope"), AclError::UnknownAcl("nope".into()));
        assert_eq!(
            err(&acls, "if net10 nope"),
            AclError::UnknownAcl("nope".into())
        );
        assert_eq!(
            err(&acls, "when net10"),
            AclError::ExpectedIfUnless("when".into())
        );
        assert_eq!(err(&acls, "if"), AclError::MissingCondition);
        assert_eq!(err(&acls, "if { src 1.1.1.1"), AclError::UnclosedBrace);
        assert_eq!(err(&acls, "if || net10"), AclError::EmptyTerm);
        assert_eq!(err(&acls, "if net10 ||"), AclError::EmptyTerm);
        assert_eq!(err(&acls, "if net10 !"), AclError::DanglingNegation);
        assert_eq!(err(&acls, "if ! || net10"), AclError::DanglingNegation);
        assert!(matches!(
            err(&acls, "if { nope 1 }"),
            AclError::Sample { .. }
        ));
        assert!(matches!(err(&acls, "if { }"), AclError::MissingCriterion));
        assert_eq!(err(&acls, "if nope").to_string(), "no such ACL: 'nope'");
    }

    #[test]
    fn acl_line_errors() {
        let mut acls = AclSet::default();
        assert_eq!(acls.add(&[]), Err(AclError::MissingName));
        assert_eq!(
            acls.add(&words("bad/name src 1.1.1.1")),
            Err(AclError::InvalidName {
                name: "bad/name".into(),
                ch: '/'
            })
        );
        assert_eq!(
            acls.add(&words("OR src 1.1.1.1")),
            Err(AclError::ReservedName("OR".into()))
        );
        assert_eq!(acls.add(&words("x")), Err(AclError::MissingCriterion));
        assert!(acls.add(&words("ok.name:1_a-b src 1.1.1.1")).is_ok());
    }

    #[test]
    fn conditions_snapshot_acls() {
        let mut acls = set(&["a src 10.0.0.1"]);
        let c = cond(&acls, "if a");
        acls.add(&words("a src 10.0.0.2")).unwrap();
        assert!(!c.eval(&ctx("10.0.0.2:1")));
        assert!(cond(&acls, "if a").eval(&ctx("10.0.0.2:1")));
    }
}
