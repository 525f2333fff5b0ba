//! Request-target pieces with HAProxy's rules: `path`, `query`, `url_param`, `base`,
//! and the `base32`/`url32` hashes.

use std::borrow::Cow;

use http::Uri;

/// The request target as received: the origin form (`/p?q`) borrowed, or the absolute
/// or authority form rebuilt.
pub fn url(uri: &Uri) -> Cow<'_, str> {
    if uri.scheme().is_none()
        && uri.authority().is_none()
        && let Some(pq) = uri.path_and_query()
    {
        return Cow::Borrowed(pq.as_str());
    }
    Cow::Owned(uri.to_string())
}

/// The path (from the first `/` to before `?`); `None` for `*` and authority forms.
pub fn path(uri: &Uri) -> Option<&str> {
    Some(uri.path()).filter(|p| p.starts_with('/'))
}

/// The path and the query (the origin form of the target).
pub fn pathq(uri: &Uri) -> Option<&str> {
    uri.path_and_query()
        .map(|pq| pq.as_str())
        .filter(|p| p.starts_with('/'))
}

/// The query string after the first `?`, when there is one.
pub fn query(uri: &Uri) -> Option<&str> {
    uri.query()
}

/// Finds parameter `name` (the first parameter when `None`) in a parameter list
/// `a=1&b=2`, where `&`, `;` and `delim` separate parameters.
pub fn find_param<'a>(params: &'a str, name: Option<&str>, delim: u8) -> Option<&'a str> {
    params
        .split(|c: char| c == '&' || c == ';' || c as u32 == u32::from(delim))
        .find_map(|p| match name {
            None if p.is_empty() => None,
            None => Some(p.split_once('=').map_or("", |(_, v)| v)),
            Some(n) => p.strip_prefix(n).and_then(|r| r.strip_prefix('=')),
        })
}

/// `url_param(name[,delim])`: the parameters start after the first `?` or `delim`.
pub fn url_param<'a>(target: &'a str, name: Option<&str>, delim: Option<u8>) -> Option<&'a str> {
    let d = delim.unwrap_or(b'?');
    let start = target.bytes().position(|c| c == b'?' || c == d)?;
    find_param(&target[start + 1..], name, d)
}

/// HAProxy's `sdbm` step used by `base32` and `url32`.
fn sdbm_feed(mut hash: u32, bytes: &[u8]) -> u32 {
    for &c in bytes {
        hash = u32::from(c)
            .wrapping_add(hash << 6)
            .wrapping_add(hash << 16)
            .wrapping_sub(hash);
    }
    hash
}

/// `base32` (`whole_query` false: host then path) or `url32` (host then path and
/// query): sdbm over both, then HAProxy's `full_hash`.
pub fn host_path_hash(host: Option<&[u8]>, target: &Uri, whole_query: bool) -> u32 {
    let mut hash = sdbm_feed(0, host.unwrap_or_default());
    let part = if whole_query {
        pathq(target)
    } else {
        path(target)
    };
    if let Some(p) = part {
        hash = sdbm_feed(hash, p.as_bytes());
    }
    crate::backend::balance::hash::full_hash(hash)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_pieces() {
        let u: Uri = "/a/b?x=1&y=2".parse().unwrap();
        assert_eq!(url(&u), "/a/b?x=1&y=2");
        assert!(matches!(url(&u), Cow::Borrowed(_)));
        assert_eq!(path(&u), Some("/a/b"));
        assert_eq!(pathq(&u), Some("/a/b?x=1&y=2"));
        assert_eq!(query(&u), Some("x=1&y=2"));
        let abs: Uri = "http://h:8080/p?q".parse().unwrap();
        assert_eq!(url(&abs), "http://h:8080/p?q");
        assert_eq!(path(&abs), Some("/p"));
        let star: Uri = "*".parse().unwrap();
        assert_eq!(path(&star), None);
        let auth: Uri = "h:443".parse().unwrap();
        assert_eq!(path(&auth), None);
        assert_eq!(query(&"/p".parse().unwrap()), None);
    }

    #[test]
    fn url_params() {
        assert_eq!(url_param("/p?a=1&b=2;c=3", Some("b"), None), Some("2"));
        assert_eq!(url_param("/p?a=1&b=2;c=3", Some("c"), None), Some("3"));
        assert_eq!(url_param("/p?a=1&ab=2", Some("b"), None), None);
        assert_eq!(url_param("/p?a=1&a=2", Some("a"), None), Some("1"));
        assert_eq!(url_param("/p?a=1", None, None), Some("1"));
        assert_eq!(url_param("/p?a", Some("a"), None), None);
        assert_eq!(url_param("/p?e=", Some("e"), None), Some(""));
        assert_eq!(url_param("/p;s=9", Some("s"), Some(b';')), Some("9"));
        assert_eq!(url_param("/p;s=9", Some("s"), None), None);
        assert_eq!(find_param("a=1&b=2", Some("b"), b'&'), Some("2"));
    }

    #[test]
    fn base32_is_stable() {
        let u: Uri = "/a?x".parse().unwrap();
        let h1 = host_path_hash(Some(b"example.com"), &u, false);
        let u2: Uri = "/a?y".parse().unwrap();
        assert_eq!(h1, host_path_hash(Some(b"example.com"), &u2, false));
        assert_ne!(h1, host_path_hash(Some(b"example.com"), &u2, true));
        assert_ne!(h1, host_path_hash(Some(b"example.org"), &u, false));
    }
}
