//! Splits `fetch(args),conv(args),...` into keywords and their raw arguments.

use crate::sample::SampleError;

/// One `keyword(args)` element of an expression, arguments still untyped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    /// The keyword.
    pub name: String,
    /// The arguments, unquoted and unescaped.
    pub args: Vec<String>,
}

/// Characters allowed in fetch and converter names (HAProxy's `is_idchar`).
fn is_idchar(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '+' | ':')
}

/// Splits an expression into its fetch (first) and converters (rest).
pub fn split_chain(text: &str) -> Result<Vec<Call>, SampleError> {
    let (calls, rest) = split_chain_prefix(text)?;
    match (rest.chars().next(), calls.last()) {
        (None, _) => Ok(calls),
        (Some(c), Some(prev)) => Err(SampleError::Syntax(format!(
            "unexpected '{c}' after '{}' in '{text}'",
            prev.name
        ))),
        (Some(_), None) => Err(SampleError::MissingFetch(text.to_owned())),
    }
}

/// Splits the expression at the start of `text` and returns what follows it (for
/// `%[expr]` in log-format strings, where `]` ends the expression).
pub fn split_chain_prefix(text: &str) -> Result<(Vec<Call>, &str), SampleError> {
    let mut calls: Vec<Call> = Vec::new();
    let mut rest = text;
    loop {
        let end = rest.find(|c: char| !is_idchar(c)).unwrap_or(rest.len());
        let name = &rest[..end];
        if name.is_empty() {
            return match calls.last() {
                None => Err(SampleError::MissingFetch(text.to_owned())),
                Some(prev) => Err(SampleError::Syntax(format!(
                    "unexpected '{}' after '{}' in '{text}'",
                    rest.chars().next().unwrap_or(' '),
                    prev.name
                ))),
            };
        }
        rest = &rest[end..];
        let args = match rest.strip_prefix('(') {
            Some(inner) => {
                let (args, after) = split_args(inner)
                    .ok_or_else(|| SampleError::Syntax(format!("missing ')' after '{name}('")))?;
                rest = after;
                args
            }
            None => Vec::new(),
        };
        calls.push(Call {
            name: name.to_owned(),
            args,
        });
        let Some(after) = rest.strip_prefix(',') else {
            return Ok((calls, rest));
        };
        // HAProxy tolerates repeated and trailing commas.
        rest = after.trim_start_matches(',');
        if !rest.starts_with(is_idchar) {
            return Ok((calls, rest));
        }
    }
}

/// Splits the arguments after `(` as HAProxy's `make_arg_list`: commas separate them,
/// `'` and `"` quote (each is literal inside the other), and outside single quotes a
/// backslash escapes `\\`, a space, `"` and `'`, makes `\r`, `\n`, `\t` control
/// characters, and is kept as is before anything else (so `\.` reaches a regex
/// intact). Parentheses do not nest: quote an argument that holds `)` or `,`.
/// Returns the arguments and what follows the closing `)`, or `None` if it is missing.
fn split_args(text: &str) -> Option<(Vec<String>, &str)> {
    let mut args = Vec::new();
    let mut cur = String::new();
    // Whether the current argument was written at all (`''` is an empty argument).
    let mut written = false;
    let (mut squote, mut dquote) = (false, false);
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' if !squote => (dquote, written) = (!dquote, true),
            '\'' if !dquote => (squote, written) = (!squote, true),
            '\\' if !squote && chars.peek().is_some() => {
                written = true;
                match chars.peek().map(|&(_, n)| n) {
                    Some(n @ ('\\' | ' ' | '"' | '\'')) => {
                        cur.push(n);
                        chars.next();
                    }
                    Some('r') => {
                        cur.push('\r');
                        chars.next();
                    }
                    Some('n') => {
                        cur.push('\n');
                        chars.next();
                    }
                    Some('t') => {
                        cur.push('\t');
                        chars.next();
                    }
                    _ => cur.push('\\'),
                }
            }
            ',' if !squote && !dquote => {
                args.push(std::mem::take(&mut cur));
                written = false;
            }
            ')' if !squote && !dquote => {
                // `f()` has no argument at all, `f(a,)` has an empty second one.
                if !args.is_empty() || written {
                    args.push(cur);
                }
                return Some((args, &text[i + 1..]));
            }
            c => {
                cur.push(c);
                written = true;
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(name: &str, args: &[&str]) -> Call {
        Call {
            name: name.into(),
            args: args.iter().map(|a| (*a).to_owned()).collect(),
        }
    }

    #[test]
    fn plain_chains() {
        assert_eq!(split_chain("src").unwrap(), vec![call("src", &[])]);
        assert_eq!(
            split_chain("src,ipmask(24),lower").unwrap(),
            vec![
                call("src", &[]),
                call("ipmask", &["24"]),
                call("lower", &[])
            ]
        );
        assert_eq!(
            split_chain("req.hdr(host,1)").unwrap(),
            vec![call("req.hdr", &["host", "1"])]
        );
        assert_eq!(split_chain("f()").unwrap(), vec![call("f", &[])]);
        assert_eq!(split_chain("f(a,)").unwrap(), vec![call("f", &["a", ""])]);
        assert_eq!(split_chain("f('')").unwrap(), vec![call("f", &[""])]);
    }

    #[test]
    fn quotes_and_escapes() {
        assert_eq!(
            split_chain(r#"str("a,b)c"),lower"#).unwrap(),
            vec![call("str", &["a,b)c"]), call("lower", &[])]
        );
        assert_eq!(
            split_chain(r#"str(a\ b\"c\'d\\e)"#).unwrap(),
            vec![call("str", &["a b\"c'd\\e"])]
        );
        assert_eq!(
            split_chain(r"str(a\.b\1\tc)").unwrap(),
            vec![call("str", &["a\\.b\\1\tc"])]
        );
        // Inside single quotes a backslash is literal; a backslash does not escape a
        // comma or a parenthesis.
        assert_eq!(
            split_chain(r"str('a\ b'),x(a\,b)").unwrap(),
            vec![call("str", &["a\\ b"]), call("x", &["a\\", "b"])]
        );
        assert_eq!(
            split_chain(r#"f("it's",'say "hi"')"#).unwrap(),
            vec![call("f", &["it's", "say \"hi\""])]
        );
        assert!(split_chain(r"str(a\)c)").is_err());
        // A trailing backslash is literal.
        assert!(split_chain(r"str(a\").is_err());
        assert_eq!(
            split_chain("str('x y')").unwrap(),
            vec![call("str", &["x y"])]
        );
    }

    #[test]
    fn prefixes() {
        let (calls, rest) = split_chain_prefix("src,lower]tail").unwrap();
        assert_eq!(calls, vec![call("src", &[]), call("lower", &[])]);
        assert_eq!(rest, "]tail");
        let (calls, rest) = split_chain_prefix("str(']'),upper,] x").unwrap();
        assert_eq!(calls, vec![call("str", &["]"]), call("upper", &[])]);
        assert_eq!(rest, "] x");
        assert!(split_chain_prefix("]").is_err());
    }

    #[test]
    fn tolerated_commas() {
        assert_eq!(
            split_chain("src,,lower,").unwrap(),
            vec![call("src", &[]), call("lower", &[])]
        );
    }

    #[test]
    fn syntax_errors() {
        assert!(matches!(split_chain(""), Err(SampleError::MissingFetch(_))));
        assert!(matches!(
            split_chain("(x)"),
            Err(SampleError::MissingFetch(_))
        ));
        assert!(matches!(split_chain("int(1"), Err(SampleError::Syntax(_))));
        assert!(matches!(
            split_chain("src lower"),
            Err(SampleError::Syntax(_))
        ));
        assert!(matches!(
            split_chain("src,(x)"),
            Err(SampleError::Syntax(_))
        ));
        assert!(matches!(
            split_chain("str(\"abc)"),
            Err(SampleError::Syntax(_))
        ));
    }
}
