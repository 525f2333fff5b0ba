//! `http-request normalize-uri` normalizers (HAProxy 2.6), on strings.

/// One normalizer with its option.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Normalizer {
    /// `path-merge-slashes`: `//` becomes `/` in the path.
    MergeSlashes,
    /// `path-strip-dot`: `/./` segments are removed from the path.
    StripDot,
    /// `path-strip-dotdot [full]`: `/x/../` becomes `/`; `full` also drops leading
    /// `/../` segments.
    StripDotDot {
        /// `full`.
        full: bool,
    },
    /// `percent-decode-unreserved [strict]`: `%61` becomes `a` (unreserved characters
    /// only); with `strict`, an invalid `%` sequence answers 400.
    DecodeUnreserved {
        /// `strict`.
        strict: bool,
    },
    /// `percent-to-uppercase [strict]`: `%6f` becomes `%6F`.
    PercentUpper {
        /// `strict`.
        strict: bool,
    },
    /// `query-sort-by-name`: parameters sorted by name (stable).
    SortQuery,
    /// `fragment-strip`: the fragment is removed (hyper never passes one on: no-op).
    FragmentStrip,
    /// `fragment-encode`: `#` becomes `%23` (hyper never passes one on: no-op).
    FragmentEncode,
}

/// An invalid percent sequence met by a `strict` normalizer (the request gets a 400).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("invalid percent-encoded sequence")]
pub struct InvalidPercent;

impl Normalizer {
    /// Parses `NAME [OPTION]`; the error says what is wrong.
    pub fn parse(name: &str, option: Option<&str>) -> Result<Self, String> {
        let no_option = |n: Self| match option {
            None => Ok(n),
            Some(o) => Err(format!("'{name}' does not take option '{o}'")),
        };
        let flag = |word: &str| match option {
            None => Ok(false),
            Some(o) if o == word => Ok(true),
            Some(o) => Err(format!("'{name}' only accepts '{word}' (got '{o}')")),
        };
        match name {
            "path-merge-slashes" => no_option(Self::MergeSlashes),
            "path-strip-dot" => no_option(Self::StripDot),
            "path-strip-dotdot" => Ok(Self::StripDotDot {
                full: flag("full")?,
            }),
            "percent-decode-unreserved" => Ok(Self::DecodeUnreserved {
                strict: flag("strict")?,
            }),
            "percent-to-uppercase" => Ok(Self::PercentUpper {
                strict: flag("strict")?,
            }),
            "query-sort-by-name" => no_option(Self::SortQuery),
            "fragment-strip" => no_option(Self::FragmentStrip),
            "fragment-encode" => no_option(Self::FragmentEncode),
            other => Err(format!(
                "unknown normalizer '{other}' (expects 'fragment-encode', 'fragment-strip', \
                 'path-merge-slashes', 'path-strip-dot', 'path-strip-dotdot', \
                 'percent-decode-unreserved', 'percent-to-uppercase' or 'query-sort-by-name')"
            )),
        }
    }

    /// Applies the normalizer to an origin-form target (`/path?query`).
    pub fn apply(self, target: &str) -> Result<String, InvalidPercent> {
        let (path, query) = match target.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (target, None),
        };
        let join = |p: String, q: Option<&str>| match q {
            Some(q) => format!("{p}?{q}"),
            None => p,
        };
        Ok(match self {
            Self::MergeSlashes => join(merge_slashes(path), query),
            Self::StripDot => join(strip_dot(path), query),
            Self::StripDotDot { full } => join(strip_dotdot(path, full), query),
            Self::DecodeUnreserved { strict } => decode_unreserved(target, strict)?,
            Self::PercentUpper { strict } => percent_upper(target, strict)?,
            Self::SortQuery => join(path.to_owned(), query.map(sort_query).as_deref()),
            Self::FragmentStrip | Self::FragmentEncode => target.to_owned(),
        })
    }
}

fn merge_slashes(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for c in path.chars() {
        if c == '/' && out.ends_with('/') {
            continue;
        }
        out.push(c);
    }
    out
}

fn strip_dot(path: &str) -> String {
    let segs: Vec<&str> = path.split('/').collect();
    let last = segs.len() - 1;
    let mut out: Vec<&str> = Vec::with_capacity(segs.len());
    for (i, s) in segs.iter().enumerate() {
        if i > 0 && *s == "." {
            // A trailing `/.` keeps its slash: `/a/.` becomes `/a/`.
            if i == last {
                out.push("");
            }
            continue;
        }
        out.push(s);
    }
    let joined = out.join("/");
    if joined.is_empty() {
        "/".to_owned()
    } else {
        joined
    }
}

fn strip_dotdot(path: &str, full: bool) -> String {
    let segs: Vec<&str> = path.split('/').skip(1).collect();
    let last = segs.len().saturating_sub(1);
    let mut out: Vec<&str> = Vec::new();
    for (i, s) in segs.iter().enumerate() {
        if *s == ".." {
            match out.last() {
                Some(prev) if *prev != ".." => {
                    out.pop();
                }
                _ if full => {}
                _ => out.push(".."),
            }
            if i == last {
                out.push("");
            }
            continue;
        }
        out.push(s);
    }
    format!("/{}", out.join("/"))
}

fn hex(c: u8) -> Option<u8> {
    char::from(c)
        .to_digit(16)
        .and_then(|d| u8::try_from(d).ok())
}

fn is_unreserved(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_' | b'~')
}

fn decode_unreserved(s: &str, strict: bool) -> Result<String, InvalidPercent> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            match (
                b.get(i + 1).copied().and_then(hex),
                b.get(i + 2).copied().and_then(hex),
            ) {
                (Some(h), Some(l)) => {
                    let c = h * 16 + l;
                    if is_unreserved(c) {
                        out.push(c);
                    } else {
                        out.extend_from_slice(&b[i..i + 3]);
                    }
                    i += 3;
                    continue;
                }
                _ if strict => return Err(InvalidPercent),
                _ => {}
            }
        }
        out.push(b[i]);
        i += 1;
    }
    Ok(String::from_utf8_lossy(&out).into_owned())
}

fn percent_upper(s: &str, strict: bool) -> Result<String, InvalidPercent> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let pair = b.get(i + 1..i + 3);
            match pair {
                Some(p) if p.iter().all(|c| c.is_ascii_hexdigit()) => {
                    out.push(b'%');
                    out.extend(p.iter().map(u8::to_ascii_uppercase));
                    i += 3;
                    continue;
                }
                _ if strict => return Err(InvalidPercent),
                _ => {}
            }
        }
        out.push(b[i]);
        i += 1;
    }
    Ok(String::from_utf8_lossy(&out).into_owned())
}

fn sort_query(q: &str) -> String {
    let mut params: Vec<&str> = q.split('&').collect();
    params.sort_by(|a, b| {
        let name = |p: &str| p.split_once('=').map_or(p, |(n, _)| n).to_owned();
        name(a).cmp(&name(b))
    });
    params.join("&")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(norm: Normalizer, s: &str) -> String {
        norm.apply(s).unwrap()
    }

    #[test]
    fn haproxy_examples() {
        use Normalizer::*;
        assert_eq!(n(MergeSlashes, "//"), "/");
        assert_eq!(n(MergeSlashes, "/foo//bar?a//b"), "/foo/bar?a//b");
        assert_eq!(n(StripDot, "/."), "/");
        assert_eq!(n(StripDot, "/./bar/"), "/bar/");
        assert_eq!(n(StripDot, "/a/./a"), "/a/a");
        assert_eq!(n(StripDot, "/.well-known/"), "/.well-known/");
        let dd = StripDotDot { full: false };
        assert_eq!(n(dd, "/foo/../"), "/");
        assert_eq!(n(dd, "/foo/../bar/"), "/bar/");
        assert_eq!(n(dd, "/foo/bar/../"), "/foo/");
        assert_eq!(n(dd, "/../bar/"), "/../bar/");
        assert_eq!(n(dd, "/bar/../../"), "/../");
        assert_eq!(n(dd, "/foo//../"), "/foo/");
        assert_eq!(n(dd, "/foo/%2E%2E/"), "/foo/%2E%2E/");
        let full = StripDotDot { full: true };
        assert_eq!(n(full, "/../bar/"), "/bar/");
        assert_eq!(n(full, "/bar/../../"), "/");
        let dec = DecodeUnreserved { strict: false };
        assert_eq!(n(dec, "/%61dmin"), "/admin");
        assert_eq!(n(dec, "/foo%3Fbar=baz"), "/foo%3Fbar=baz");
        assert_eq!(n(dec, "/%%36%36"), "/%66");
        assert_eq!(n(dec, "/%zz"), "/%zz");
        assert!(DecodeUnreserved { strict: true }.apply("/%zz").is_err());
        let up = PercentUpper { strict: false };
        assert_eq!(n(up, "/%6f"), "/%6F");
        assert_eq!(n(up, "/%zz"), "/%zz");
        assert!(PercentUpper { strict: true }.apply("/%zz").is_err());
        assert_eq!(n(SortQuery, "/?c=3&a=1&b=2"), "/?a=1&b=2&c=3");
        assert_eq!(n(SortQuery, "/?aaa=3&a=1&aa=2"), "/?a=1&aa=2&aaa=3");
        assert_eq!(
            n(SortQuery, "/?a=3&b=4&a=1&b=5&a=2"),
            "/?a=3&a=1&a=2&b=4&b=5"
        );
    }

    #[test]
    fn parsing() {
        assert_eq!(
            Normalizer::parse("path-strip-dotdot", Some("full")),
            Ok(Normalizer::StripDotDot { full: true })
        );
        assert!(Normalizer::parse("path-strip-dotdot", Some("x")).is_err());
        assert!(Normalizer::parse("path-merge-slashes", Some("full")).is_err());
        assert!(Normalizer::parse("nope", None).is_err());
    }
}
