//! Splits one configuration line into words, exactly as HAProxy 2.6's `parse_line()` does.
//!
//! Rules (configuration manual sections 2.2 and 2.3):
//! - unquoted, unescaped whitespace separates words; `#` starts a comment;
//! - a backslash escapes ` `, `\`, `#`, `'`, `"` (and `$` inside double quotes), and
//!   `\t`, `\n`, `\r`, `\xNN` produce the byte they name; any other combination is kept as
//!   is (so regexes like `\d` survive);
//! - double quotes keep spaces and `#`, and still expand escapes and environment variables;
//! - single quotes keep everything literally;
//! - `$NAME`, `${NAME}`, `${NAME-default}` and `${NAME[*]}` (split into several words) are
//!   expanded inside double quotes only; an unset variable expands to nothing;
//! - a word made of empty quotes (`""`) is an empty word, except at the end of the line.

/// Why a line could not be split into words. Positions are 1-based byte offsets in the line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LexError {
    /// A quote is opened and never closed.
    #[error("unmatched quote at position {0}")]
    UnmatchedQuote(usize),
    /// `${` without its closing brace.
    #[error("unmatched brace in environment variable name at position {0}")]
    UnmatchedBrace(usize),
    /// `$` followed by something that cannot start a variable name.
    #[error("forbidden first char in environment variable name at position {0}")]
    BadVariableName(usize),
    /// `\x` not followed by two hexadecimal digits.
    #[error("truncated or invalid hexadecimal sequence at position {0}")]
    BadHex(usize),
    /// `${NAME[` not followed by `*]`.
    #[error("truncated or invalid word expansion sequence at position {0}")]
    BadExpansion(usize),
    /// `\xNN` escapes produced bytes that are not UTF-8 (use `send-binary` for raw bytes).
    #[error("word {0} is not valid UTF-8 after unescaping (use hexadecimal forms for raw bytes)")]
    NotUtf8(usize),
}

/// Splits `line` into words. `env` looks environment variables up (the real process
/// environment in production, a map in tests); names starting with `.` are HAProxy's
/// pseudo-variables (`.FILE`, `.LINE`, `.SECTION`), and `env` returning `None` for one of
/// them is an error, as in HAProxy.
pub fn split_line(
    line: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<String>, LexError> {
    let mut lx = Lexer {
        input: line.as_bytes(),
        pos: 0,
        words: Vec::new(),
        cur: Vec::new(),
        squote: false,
        dquote: false,
        quote_at: None,
    };
    // Leading spaces are skipped by the caller in HAProxy (readcfgfile); do it here.
    lx.skip_spaces();
    lx.run(env)?;
    lx.finish()
}

struct Lexer<'a> {
    input: &'a [u8],
    pos: usize,
    words: Vec<Vec<u8>>,
    cur: Vec<u8>,
    squote: bool,
    dquote: bool,
    /// Where the currently open quote is, for the error message.
    quote_at: Option<usize>,
}

/// Word separators inside a line (`\n` and `\r` end the line instead).
fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\x0b' | b'\x0c')
}

/// C's `isspace()`, which splits `${VAR[*]}` values.
fn is_c_space(c: u8) -> bool {
    is_space(c) || c == b'\n' || c == b'\r'
}

impl Lexer<'_> {
    fn peek(&self, ahead: usize) -> Option<u8> {
        self.input.get(self.pos + ahead).copied()
    }

    fn skip_spaces(&mut self) {
        while self.peek(0).is_some_and(is_space) {
            self.pos += 1;
        }
    }

    fn end_word(&mut self) {
        self.words.push(std::mem::take(&mut self.cur));
    }

    fn run(&mut self, env: &dyn Fn(&str) -> Option<String>) -> Result<(), LexError> {
        while let Some(c) = self.peek(0) {
            match c {
                b'\n' | b'\r' | b'\0' => break,
                b'#' if !self.squote && !self.dquote => break,
                b'"' if !self.squote => self.toggle_quote(true),
                b'\'' if !self.dquote => self.toggle_quote(false),
                b'\\' if !self.squote => self.escape()?,
                c if is_space(c) && !self.squote && !self.dquote => {
                    self.skip_spaces();
                    self.end_word();
                }
                b'$' if self.dquote => self.variable(env)?,
                c => {
                    self.cur.push(c);
                    self.pos += 1;
                }
            }
        }
        Ok(())
    }

    fn toggle_quote(&mut self, double: bool) {
        let open = if double {
            &mut self.dquote
        } else {
            &mut self.squote
        };
        *open = !*open;
        self.quote_at = if *open { Some(self.pos) } else { None };
        self.pos += 1;
    }

    /// Handles a backslash at `self.pos` (never inside single quotes).
    fn escape(&mut self) -> Result<(), LexError> {
        let (byte, consumed) = match self.peek(1) {
            Some(c @ (b' ' | b'\\' | b'#' | b'\'' | b'"')) => (c, 2),
            Some(b'$') if self.dquote => (b'$', 2),
            Some(b't') => (b'\t', 2),
            Some(b'n') => (b'\n', 2),
            Some(b'r') => (b'\r', 2),
            Some(b'x') => (self.hex_byte()?, 4),
            // Not an escape sequence: the backslash is kept and the next char is handled
            // on its own.
            _ => (b'\\', 1),
        };
        self.cur.push(byte);
        self.pos += consumed;
        Ok(())
    }

    fn hex_byte(&self) -> Result<u8, LexError> {
        let digit = |ahead| self.peek(ahead).and_then(|c| (c as char).to_digit(16));
        match (digit(2), digit(3)) {
            // Both digits are < 16, so the value fits in a byte.
            (Some(hi), Some(lo)) => Ok(u8::try_from(hi * 16 + lo).unwrap_or(0)),
            _ => Err(LexError::BadHex(self.pos + 1)),
        }
    }

    /// Expands `$NAME`, `${NAME}`, `${NAME-default}` or `${NAME[*]}` at `self.pos`.
    fn variable(&mut self, env: &dyn Fn(&str) -> Option<String>) -> Result<(), LexError> {
        self.pos += 1;
        let brace = (self.peek(0) == Some(b'{')).then_some(self.pos);
        if brace.is_some() {
            self.pos += 1;
        }
        let name = self.variable_name()?;
        let value = env(&name);
        if value.is_none() && name.starts_with('.') {
            return Err(LexError::BadVariableName(self.pos - name.len() + 1));
        }
        let split = brace.is_some() && self.word_expansion()?;
        let value = match brace {
            Some(at) => self.close_brace(at, value)?,
            None => value,
        };
        self.emit_value(value.as_deref().unwrap_or(""), split);
        Ok(())
    }

    fn variable_name(&mut self) -> Result<String, LexError> {
        let start = self.pos;
        match self.peek(0) {
            Some(c) if c.is_ascii_alphabetic() || c == b'_' => {}
            Some(b'.') => self.pos += 1,
            _ => return Err(LexError::BadVariableName(self.pos + 1)),
        }
        while self
            .peek(0)
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == b'_')
        {
            self.pos += 1;
        }
        Ok(String::from_utf8_lossy(&self.input[start..self.pos]).into_owned())
    }

    /// Parses an optional `[*]` after a braced variable name.
    fn word_expansion(&mut self) -> Result<bool, LexError> {
        if self.peek(0) != Some(b'[') {
            return Ok(false);
        }
        if self.peek(1) != Some(b'*') || self.peek(2) != Some(b']') {
            return Err(LexError::BadExpansion(self.pos + 1));
        }
        self.pos += 3;
        Ok(true)
    }

    /// Consumes `}` or `-default}`, returning the value to use.
    fn close_brace(
        &mut self,
        brace_at: usize,
        value: Option<String>,
    ) -> Result<Option<String>, LexError> {
        let mut value = value;
        if self.peek(0) == Some(b'-') {
            let start = self.pos + 1;
            let len = self.input[start..].iter().position(|&c| c == b'}');
            let Some(len) = len else {
                return Err(LexError::UnmatchedBrace(brace_at + 1));
            };
            if value.is_none() {
                value = Some(String::from_utf8_lossy(&self.input[start..start + len]).into_owned());
            }
            self.pos = start + len;
        }
        if self.peek(0) != Some(b'}') {
            return Err(LexError::UnmatchedBrace(brace_at + 1));
        }
        self.pos += 1;
        Ok(value)
    }

    fn emit_value(&mut self, value: &str, split: bool) {
        let mut bytes = value.bytes().peekable();
        while let Some(c) = bytes.next() {
            if split && is_c_space(c) {
                self.end_word();
                while bytes.next_if(|&c| is_c_space(c)).is_some() {}
            } else {
                self.cur.push(c);
            }
        }
    }

    fn finish(mut self) -> Result<Vec<String>, LexError> {
        if let Some(at) = self.quote_at {
            return Err(LexError::UnmatchedQuote(at + 1));
        }
        // As in HAProxy, an empty last word (trailing spaces, `""` at the end) is dropped.
        if !self.cur.is_empty() {
            self.end_word();
        }
        let words = self.words.into_iter().enumerate();
        words
            .map(|(i, w)| String::from_utf8(w).map_err(|_| LexError::NotUtf8(i + 1)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "HOST" => Some("10.0.0.1".into()),
            "PORT" => Some("8080".into()),
            "LIST" => Some("a  b\tc".into()),
            "LEADING" => Some(" x".into()),
            "EMPTY" => Some(String::new()),
            ".LINE" => Some("42".into()),
            _ => None,
        }
    }

    fn split(line: &str) -> Vec<String> {
        split_line(line, &env).unwrap_or_else(|e| panic!("{line:?}: {e}"))
    }

    fn fails(line: &str) -> LexError {
        split_line(line, &env).expect_err(line)
    }

    #[test]
    fn whitespace_separates_words() {
        assert_eq!(
            split("  server  s1\t127.0.0.1:80  check  "),
            ["server", "s1", "127.0.0.1:80", "check"]
        );
        assert!(split("").is_empty());
        assert!(split("   \t ").is_empty());
        assert_eq!(split("a\x0bb\x0cc"), ["a", "b", "c"]);
    }

    #[test]
    fn line_ends_at_newline() {
        assert_eq!(split("bind :80\r\n"), ["bind", ":80"]);
        assert_eq!(split("a\nb"), ["a"]);
    }

    #[test]
    fn comments() {
        assert!(split("# a comment").is_empty());
        assert_eq!(split("bind :80 # listen"), ["bind", ":80"]);
        assert_eq!(split("a#b c"), ["a"]);
        assert_eq!(split("a \\#b"), ["a", "#b"]);
        assert_eq!(split("a \"#b\" '#c'"), ["a", "#b", "#c"]);
    }

    #[test]
    fn backslash_escapes() {
        assert_eq!(split(r"a\ b"), ["a b"]);
        assert_eq!(split(r"a\\b"), [r"a\b"]);
        assert_eq!(split(r#"\"q\" \'s\'"#), ["\"q\"", "'s'"]);
        assert_eq!(split(r"\t\n\r"), ["\t\n\r"]);
        assert_eq!(split(r"\x41\x62\x7e"), ["Ab~"]);
        assert_eq!(split(r"\xc3\xa9"), ["é"]);
    }

    #[test]
    fn other_backslash_sequences_are_kept() {
        assert_eq!(split(r"^\d+\.\1$"), [r"^\d+\.\1$"]);
        assert_eq!(split(r"a\$b"), [r"a\$b"]);
        assert_eq!(split("end\\"), ["end\\"]);
    }

    #[test]
    fn bad_hex_escape_is_an_error() {
        assert_eq!(fails(r"ab \x4"), LexError::BadHex(4));
        assert_eq!(fails(r"\xzz"), LexError::BadHex(1));
        assert_eq!(fails(r#""\x""#), LexError::BadHex(2));
    }

    #[test]
    fn non_utf8_bytes_are_an_error() {
        assert_eq!(fails(r"ok \xff"), LexError::NotUtf8(2));
    }

    #[test]
    fn double_quotes() {
        assert_eq!(
            split(r#"log-format "%t %s # x""#),
            ["log-format", "%t %s # x"]
        );
        assert_eq!(split(r#""a\tb\"c\\""#), ["a\tb\"c\\"]);
        assert_eq!(split(r#""it\'s""#), ["it's"]);
        assert_eq!(split(r#""a'b'c""#), ["a'b'c"]);
    }

    #[test]
    fn single_quotes_are_literal() {
        assert_eq!(split(r"'a\tb $HOST \x41'"), [r"a\tb $HOST \x41"]);
        assert_eq!(split(r#"'say "hi"'"#), [r#"say "hi""#]);
    }

    #[test]
    fn quoted_parts_concatenate() {
        assert_eq!(split(r#"a"b c"'d e'\ f"#), ["ab cd e f"]);
        assert_eq!(
            split(r#""%{+Q}o %t"' %s'\ %{-Q}r"#),
            ["%{+Q}o %t %s %{-Q}r"]
        );
    }

    #[test]
    fn empty_quotes() {
        assert_eq!(split(r#"a "" b"#), ["a", "", "b"]);
        assert_eq!(split(r#"a ''"#), ["a"]);
        assert_eq!(split(r#"a "" "#), ["a", ""]);
    }

    #[test]
    fn unterminated_quotes() {
        assert_eq!(fails(r#"bind "127.0.0.1:80"#), LexError::UnmatchedQuote(6));
        assert_eq!(fails("a 'b"), LexError::UnmatchedQuote(3));
        assert_eq!(fails(r#"a "b' c"#), LexError::UnmatchedQuote(3));
    }

    #[test]
    fn env_vars_in_double_quotes() {
        assert_eq!(split(r#"bind "${HOST}:$PORT""#), ["bind", "10.0.0.1:8080"]);
        assert_eq!(split(r#""$HOST.x""#), ["10.0.0.1.x"]);
        assert_eq!(split(r#""x${UNSET}y""#), ["xy"]);
        assert_eq!(split(r#""${UNSET}""#), Vec::<String>::new());
        assert_eq!(split(r#""${UNSET}" b"#), ["", "b"]);
    }

    #[test]
    fn env_vars_outside_double_quotes_are_literal() {
        assert_eq!(split("$HOST ${PORT}"), ["$HOST", "${PORT}"]);
        assert_eq!(split("'$HOST'"), ["$HOST"]);
        assert_eq!(split(r#""\$HOST""#), ["$HOST"]);
    }

    #[test]
    fn env_default_values() {
        assert_eq!(split(r#""${UNSET-127.0.0.1:80}""#), ["127.0.0.1:80"]);
        assert_eq!(split(r#""${PORT-99}""#), ["8080"]);
        assert_eq!(split(r#""${EMPTY-99}""#), Vec::<String>::new());
        assert_eq!(split(r#""${UNSET-}x""#), ["x"]);
        assert_eq!(split(r#""${UNSET-a b}""#), ["a b"]);
    }

    #[test]
    fn env_word_expansion() {
        assert_eq!(
            split(r#"server-list "${LIST[*]}" end"#),
            ["server-list", "a", "b", "c", "end"]
        );
        assert_eq!(split(r#""${LIST}""#), ["a  b\tc"]);
        assert_eq!(split(r#""${UNSET[*]-x y}""#), ["x", "y"]);
        assert_eq!(split(r#"k "${LEADING[*]}""#), ["k", "", "x"]);
        assert_eq!(split(r#"k "${EMPTY[*]}""#), ["k"]);
    }

    #[test]
    fn env_errors() {
        assert_eq!(fails(r#"a "${HOST""#), LexError::UnmatchedBrace(5));
        assert_eq!(fails(r#""${UNSET-abc""#), LexError::UnmatchedBrace(3));
        assert_eq!(fails(r#""$1""#), LexError::BadVariableName(3));
        assert_eq!(fails(r#""price: $""#), LexError::BadVariableName(10));
        assert_eq!(fails(r#""${LIST[x]}""#), LexError::BadExpansion(8));
        assert_eq!(split(r#""$LIST[*]" ok"#), ["a  b\tc[*]", "ok"]);
    }

    #[test]
    fn pseudo_variables() {
        assert_eq!(split(r#""line ${.LINE}""#), ["line 42"]);
        assert_eq!(fails(r#""${.NOPE}""#), LexError::BadVariableName(4));
    }
}
