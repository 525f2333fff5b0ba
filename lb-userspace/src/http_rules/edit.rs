//! Header and request-target edits, sans-I/O: what the header and URI actions do to a
//! message once their values are rendered.

use http::{HeaderMap, HeaderName, HeaderValue, Uri};
use regex::bytes::{Captures, Regex};

use super::action::{NameMatch, UriPart};
use crate::sample::fetch_http::hdr;

/// Why an edit could not be applied (HAProxy counts a failed rewrite, and answers 500
/// in strict mode).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EditError {
    /// The new header value holds forbidden characters (CR, LF, NUL).
    #[error("invalid header value")]
    HeaderValue,
    /// The new target is not a valid URI.
    #[error("invalid URI '{0}'")]
    Uri(String),
    /// The new method is not a valid token.
    #[error("invalid method '{0}'")]
    Method(String),
    /// A `\xHH` or trailing `\` in a replacement.
    #[error("invalid replacement string")]
    Replacement,
}

fn value(v: &[u8]) -> Result<HeaderValue, EditError> {
    HeaderValue::from_bytes(v).map_err(|_| EditError::HeaderValue)
}

/// `set-header`: every line of `name` is replaced by one with `v`.
pub fn set_header(h: &mut HeaderMap, name: &HeaderName, v: &str) -> Result<(), EditError> {
    let v = value(v.as_bytes())?;
    h.insert(name.clone(), v);
    Ok(())
}

/// `add-header`: a line is appended.
pub fn add_header(h: &mut HeaderMap, name: &HeaderName, v: &str) -> Result<(), EditError> {
    let v = value(v.as_bytes())?;
    h.append(name.clone(), v);
    Ok(())
}

/// `del-header`: every header whose name matches is removed.
pub fn del_header(h: &mut HeaderMap, m: &NameMatch) {
    if let NameMatch::Exact(n) = m {
        if let Ok(name) = HeaderName::from_bytes(n.as_bytes()) {
            h.remove(name);
        }
        return;
    }
    let names: Vec<HeaderName> = h
        .keys()
        .filter(|k| m.matches(k.as_str()))
        .cloned()
        .collect();
    for n in names {
        h.remove(n);
    }
}

/// HAProxy's `exp_replace`: the replacement with `\0`..`\9` replaced by the groups,
/// `\xHH` by a byte, and `\c` by `c`.
pub fn expand(replace: &[u8], caps: &Captures<'_>) -> Result<Vec<u8>, EditError> {
    let mut out = Vec::with_capacity(replace.len());
    let mut i = 0;
    while i < replace.len() {
        let c = replace[i];
        i += 1;
        if c != b'\\' {
            out.push(c);
            continue;
        }
        let Some(&n) = replace.get(i) else {
            return Err(EditError::Replacement);
        };
        i += 1;
        if n.is_ascii_digit() {
            if let Some(m) = caps.get(usize::from(n - b'0')) {
                out.extend_from_slice(m.as_bytes());
            }
        } else if n == b'x' {
            let hex = replace.get(i..i + 2).ok_or(EditError::Replacement)?;
            let hex = std::str::from_utf8(hex).map_err(|_| EditError::Replacement)?;
            out.push(u8::from_str_radix(hex, 16).map_err(|_| EditError::Replacement)?);
            i += 2;
        } else {
            out.push(n);
        }
    }
    Ok(out)
}

/// `replace-header` (`values` false: each line) / `replace-value` (each
/// comma-separated value): a matching line or value is replaced by the expansion of
/// `replace`; the other values and separators are kept.
pub fn replace_header(
    h: &mut HeaderMap,
    name: &HeaderName,
    regex: &Regex,
    replace: &str,
    values: bool,
) -> Result<(), EditError> {
    let old: Vec<HeaderValue> = h.get_all(name).iter().cloned().collect();
    if old.is_empty() {
        return Ok(());
    }
    let mut new = Vec::with_capacity(old.len());
    let mut changed = false;
    for line in &old {
        let bytes = line.as_bytes();
        if !values {
            match regex.captures(bytes) {
                Some(caps) => {
                    new.push(value(&expand(replace.as_bytes(), &caps)?)?);
                    changed = true;
                }
                None => new.push(line.clone()),
            }
            continue;
        }
        let mut out = Vec::with_capacity(bytes.len());
        let mut pos = 0;
        for v in hdr::split_commas(bytes) {
            // `v` borrows from `bytes`: its offset gives the kept separators.
            let start = v.as_ptr() as usize - bytes.as_ptr() as usize;
            match regex.captures(v) {
                Some(caps) => {
                    // As HAProxy, a replaced value takes the blanks before it along.
                    let sep_end = bytes[pos..start]
                        .iter()
                        .position(|&c| c == b',')
                        .map_or(pos, |i| pos + i + 1);
                    out.extend_from_slice(&bytes[pos..sep_end]);
                    out.extend_from_slice(&expand(replace.as_bytes(), &caps)?);
                    changed = true;
                }
                None => {
                    out.extend_from_slice(&bytes[pos..start]);
                    out.extend_from_slice(v);
                }
            }
            pos = start + v.len();
        }
        out.extend_from_slice(&bytes[pos..]);
        new.push(value(&out)?);
    }
    if changed {
        h.remove(name);
        for v in new {
            h.append(name.clone(), v);
        }
    }
    Ok(())
}

/// The part of the target an action sees.
pub fn uri_part(uri: &Uri, part: UriPart) -> String {
    use crate::sample::fetch_http::uri as u;
    match part {
        UriPart::Path => u::path(uri).unwrap_or("").to_owned(),
        UriPart::Pathq => u::pathq(uri).unwrap_or("").to_owned(),
        UriPart::Query => u::query(uri).unwrap_or("").to_owned(),
        UriPart::Uri => u::url(uri).into_owned(),
    }
}

/// The target with `part` replaced by `v` (`set-path`, `set-query`, ...).
pub fn set_uri_part(uri: &Uri, part: UriPart, v: &str) -> Result<Uri, EditError> {
    let scheme_auth = match (uri.scheme_str(), uri.authority()) {
        (Some(s), Some(a)) => format!("{s}://{a}"),
        _ => String::new(),
    };
    let text = match part {
        UriPart::Uri => v.to_owned(),
        UriPart::Path => {
            let mut t = scheme_auth;
            t.push_str(v);
            if let Some(q) = uri.query() {
                t.push('?');
                t.push_str(q);
            }
            t
        }
        UriPart::Pathq => {
            let mut t = scheme_auth;
            t.push_str(v);
            t
        }
        UriPart::Query => {
            let mut t = scheme_auth;
            t.push_str(uri.path());
            // An existing `?` stays even for an empty query; none is added for one.
            if uri.query().is_some() || !v.is_empty() {
                t.push('?');
                t.push_str(v.strip_prefix('?').unwrap_or(v));
            }
            t
        }
    };
    text.parse::<Uri>().map_err(|_| EditError::Uri(text))
}

/// `replace-path`, `replace-pathq`, `replace-uri`: when `regex` matches the part, it is
/// replaced by the expansion of `replace`. Returns `None` when nothing matched.
pub fn replace_uri_part(
    uri: &Uri,
    part: UriPart,
    regex: &Regex,
    replace: &str,
) -> Result<Option<Uri>, EditError> {
    let current = uri_part(uri, part);
    let Some(caps) = regex.captures(current.as_bytes()) else {
        return Ok(None);
    };
    let new = expand(replace.as_bytes(), &caps)?;
    let new = String::from_utf8(new)
        .map_err(|e| EditError::Uri(String::from_utf8_lossy(e.as_bytes()).into_owned()))?;
    set_uri_part(uri, part, &new).map(Some)
}

/// `set-method`.
pub fn method(v: &str) -> Result<http::Method, EditError> {
    http::Method::from_bytes(v.as_bytes()).map_err(|_| EditError::Method(v.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caps<'a>(re: &Regex, s: &'a str) -> Captures<'a> {
        re.captures(s.as_bytes()).unwrap()
    }

    #[test]
    fn expansion() {
        let re = Regex::new("(a+)(b)").unwrap();
        let c = caps(&re, "xaab");
        assert_eq!(expand(br"<\1|\2|\0|\3>", &c).unwrap(), b"<aa|b|aab|>");
        assert_eq!(expand(br"\x41\\\z", &c).unwrap(), b"A\\z");
        assert_eq!(expand(br"bad\", &c), Err(EditError::Replacement));
        assert_eq!(expand(br"\xZZ", &c), Err(EditError::Replacement));
    }

    #[test]
    fn target_parts() {
        let u: Uri = "http://h:81/a/b?q=1".parse().unwrap();
        assert_eq!(
            set_uri_part(&u, UriPart::Path, "/z").unwrap().to_string(),
            "http://h:81/z?q=1"
        );
        assert_eq!(
            set_uri_part(&u, UriPart::Query, "").unwrap().to_string(),
            "http://h:81/a/b?"
        );
        assert_eq!(
            set_uri_part(&u, UriPart::Pathq, "/p?r")
                .unwrap()
                .to_string(),
            "http://h:81/p?r"
        );
        assert!(set_uri_part(&u, UriPart::Uri, "/a b").is_err());
        let o: Uri = "/a".parse().unwrap();
        assert_eq!(set_uri_part(&o, UriPart::Query, "").unwrap(), "/a");
        assert_eq!(set_uri_part(&o, UriPart::Query, "?x").unwrap(), "/a?x");
        let re = Regex::new("^/a/(.*)").unwrap();
        assert_eq!(
            replace_uri_part(&u, UriPart::Path, &re, r"/n/\1")
                .unwrap()
                .unwrap()
                .to_string(),
            "http://h:81/n/b?q=1"
        );
        assert_eq!(
            replace_uri_part(&o, UriPart::Path, &re, "/x").unwrap(),
            None
        );
        assert!(method("GET").is_ok());
        assert!(method("G T").is_err());
    }

    #[test]
    fn header_edits() {
        let mut h = HeaderMap::new();
        let name = HeaderName::from_static("x");
        add_header(&mut h, &name, "1").unwrap();
        add_header(&mut h, &name, "2").unwrap();
        set_header(&mut h, &name, "3").unwrap();
        assert_eq!(h.get_all("x").iter().count(), 1);
        assert_eq!(
            set_header(&mut h, &name, "a\r\nb"),
            Err(EditError::HeaderValue)
        );
        add_header(&mut h, &name, "k=1, k=2,  other").unwrap();
        let re = Regex::new("^k=(.*)").unwrap();
        replace_header(&mut h, &name, &re, r"K\1", true).unwrap();
        let all: Vec<&str> = h.get_all("x").iter().map(|v| v.to_str().unwrap()).collect();
        assert_eq!(all, ["3", "K1,K2,  other"]);
        replace_header(&mut h, &name, &re, "z", false).unwrap();
        let all: Vec<&str> = h.get_all("x").iter().map(|v| v.to_str().unwrap()).collect();
        assert_eq!(
            all,
            ["3", "K1,K2,  other"],
            "no line starts with k= any more"
        );
    }
}
