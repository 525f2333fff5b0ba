//! One tokenized configuration line and the argument helpers every keyword parser uses.

use std::time::Duration;

use super::error::{ConfigError, ErrorKind};
use super::model::Location;
use super::units::{self, TimeUnit};

/// The `no` / `default` prefix of a line (`no option redispatch`, `no log`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Modifier {
    /// No prefix.
    None,
    /// `no KEYWORD`: disable.
    No,
    /// `default KEYWORD`: back to the built-in default.
    Default,
}

/// A non-empty line split into words, with the `no`/`default` prefix removed.
#[derive(Debug, Clone)]
pub(crate) struct Line {
    /// Where the line is.
    pub loc: Location,
    /// The words; `words[0]` is the keyword.
    pub words: Vec<String>,
    /// The prefix, if any.
    pub modifier: Modifier,
}

impl Line {
    /// Builds a line from its words, detecting the `no`/`default` prefix.
    pub fn new(loc: Location, mut words: Vec<String>) -> Self {
        let modifier = match words.first().map(String::as_str) {
            Some("no") if words.len() > 1 => Modifier::No,
            Some("default") if words.len() > 1 => Modifier::Default,
            _ => Modifier::None,
        };
        if modifier != Modifier::None {
            words.remove(0);
        }
        Self {
            loc,
            words,
            modifier,
        }
    }

    /// The keyword.
    pub fn kw(&self) -> &str {
        self.words.first().map_or("", String::as_str)
    }

    /// Word `i`, if present.
    pub fn arg(&self, i: usize) -> Option<&str> {
        self.words.get(i).map(String::as_str)
    }

    /// An error at this line.
    pub fn err(&self, kind: ErrorKind) -> ConfigError {
        ConfigError::new(self.loc.clone(), kind)
    }

    /// `'KEYWORD' expects EXPECTED`.
    pub fn missing(&self, keyword: &str, expected: &str) -> ConfigError {
        let kind = ErrorKind::MissingArgument {
            keyword: keyword.into(),
            expected: expected.into(),
        };
        self.err(kind)
    }

    /// `'KEYWORD' : REASON`.
    pub fn invalid(&self, keyword: &str, reason: impl Into<String>) -> ConfigError {
        self.err(ErrorKind::Invalid {
            keyword: keyword.into(),
            reason: reason.into(),
        })
    }

    /// `'KEYWORD' : invalid value 'VALUE' : REASON`.
    pub fn bad_value(&self, keyword: &str, value: &str, reason: impl Into<String>) -> ConfigError {
        let kind = ErrorKind::InvalidValue {
            keyword: keyword.into(),
            value: value.into(),
            reason: reason.into(),
        };
        self.err(kind)
    }

    /// Fails when the line has more than `n` arguments after the keyword (as HAProxy's
    /// `alertif_too_many_args`); `keyword` names the keyword in the message.
    pub fn max_args(&self, n: usize, keyword: &str) -> Result<(), ConfigError> {
        match self.words.get(n + 1) {
            Some(extra) => {
                let kind = ErrorKind::UnexpectedArgument {
                    keyword: keyword.into(),
                    argument: extra.clone(),
                };
                Err(self.err(kind))
            }
            None => Ok(()),
        }
    }

    /// Fails when the line carries a `no`/`default` prefix.
    pub fn no_modifier(&self) -> Result<(), ConfigError> {
        match self.modifier {
            Modifier::None => Ok(()),
            _ => Err(self.err(ErrorKind::BadModifier)),
        }
    }

    /// The required argument `i`, or `'keyword' expects EXPECTED`.
    pub fn required(&self, i: usize, keyword: &str, expected: &str) -> Result<&str, ConfigError> {
        match self.arg(i) {
            Some(a) if !a.is_empty() => Ok(a),
            _ => Err(self.missing(keyword, expected)),
        }
    }

    /// Parses `value` as an unsigned integer within `range`.
    pub fn number(
        &self,
        keyword: &str,
        value: &str,
        min: u64,
        max: u64,
    ) -> Result<u64, ConfigError> {
        let n: u64 = value
            .parse()
            .map_err(|_| self.bad_value(keyword, value, "expects an integer"))?;
        if n < min || n > max {
            return Err(self.bad_value(keyword, value, format!("must be between {min} and {max}")));
        }
        Ok(n)
    }

    /// Parses `value` as a `u32` within `min..=max`.
    pub fn u32_in(
        &self,
        keyword: &str,
        value: &str,
        min: u32,
        max: u32,
    ) -> Result<u32, ConfigError> {
        let n = self.number(keyword, value, u64::from(min), u64::from(max))?;
        Ok(u32::try_from(n).unwrap_or(max))
    }

    /// Parses a time (bare numbers in milliseconds).
    pub fn time(&self, keyword: &str, value: &str) -> Result<Duration, ConfigError> {
        units::parse_time(value, TimeUnit::Millis).map_err(|source| {
            self.err(ErrorKind::Unit {
                keyword: keyword.into(),
                value: value.into(),
                source,
            })
        })
    }

    /// Parses a size in bytes.
    pub fn size(&self, keyword: &str, value: &str) -> Result<u64, ConfigError> {
        units::parse_size(value).map_err(|source| {
            self.err(ErrorKind::Unit {
                keyword: keyword.into(),
                value: value.into(),
                source,
            })
        })
    }

    /// `keyword 'X' is not supported yet (comes with FEATURE)`.
    pub fn unsupported(&self, keyword: impl Into<String>, feature: &'static str) -> ConfigError {
        self.err(ErrorKind::NotSupportedYet {
            keyword: keyword.into(),
            feature,
        })
    }
}

/// HAProxy's `invalid_char()`: names may hold letters, digits, `-`, `_`, `.` and `:`.
pub(crate) fn invalid_name_char(name: &str) -> Option<char> {
    name.chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':')))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(words: &[&str]) -> Line {
        Line::new(
            Location::default(),
            words.iter().map(|w| (*w).to_owned()).collect(),
        )
    }

    #[test]
    fn modifiers_are_split_off() {
        let l = line(&["no", "option", "redispatch"]);
        assert_eq!(l.modifier, Modifier::No);
        assert_eq!(l.words, ["option", "redispatch"]);
        let l = line(&["default", "option", "redispatch"]);
        assert_eq!(l.modifier, Modifier::Default);
        let l = line(&["no"]);
        assert_eq!(l.modifier, Modifier::None);
        assert_eq!(l.kw(), "no");
    }

    #[test]
    fn argument_helpers() {
        let l = line(&["retries", "3", "4"]);
        assert_eq!(l.required(1, "retries", "an integer").ok(), Some("3"));
        assert!(l.required(5, "retries", "an integer").is_err());
        let e = l.max_args(1, "retries").unwrap_err();
        assert_eq!(
            e.message(),
            "'retries' cannot handle unexpected argument '4'"
        );
        assert_eq!(l.number("retries", "3", 0, 10).ok(), Some(3));
        let e = l.number("retries", "x", 0, 10).unwrap_err();
        assert_eq!(
            e.message(),
            "'retries' : invalid value 'x' : expects an integer"
        );
        let e = l.u32_in("weight", "300", 0, 256).unwrap_err();
        assert_eq!(
            e.message(),
            "'weight' : invalid value '300' : must be between 0 and 256"
        );
    }

    #[test]
    fn name_characters() {
        assert_eq!(invalid_name_char("be_app-1.v2:x"), None);
        assert_eq!(invalid_name_char("be app"), Some(' '));
        assert_eq!(invalid_name_char("be/app"), Some('/'));
    }
}
