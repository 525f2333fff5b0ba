//! Whether a shared cache may store a response (and its cookie): HAProxy 2.6's
//! `http_check_response_for_cacheability`, used by `option checkcache` and by `cookie ...
//! nocache`.
//!
//! The request method must be safe (`GET`, `HEAD`, `OPTIONS`, `TRACE`) and the status one a
//! cache may store (200 203 204 206 300 301 404 405 410 414 501), unless the server says
//! `Cache-Control: public`; `Pragma: no-cache` and `Cache-Control: private`, `no-cache`,
//! `no-store`, `max-age=0`, `s-maxage=0` make it uncacheable; `no-cache="set-cookie"` makes
//! only its cookie uncacheable. A response is only cacheable with freshness information
//! (`max-age`/`s-maxage`, `Expires`) or a validator (`ETag`, `Last-Modified`).

use http::HeaderMap;
use http::header::{CACHE_CONTROL, ETAG, EXPIRES, LAST_MODIFIED, PRAGMA};

/// Statuses a cache may store by default (RFC 7231 6.1), as HAProxy lists them.
const CACHEABLE_STATUS: [u16; 11] = [200, 203, 204, 206, 300, 301, 404, 405, 410, 414, 501];

/// `no-cache="set-cookie"`, possibly with more field names after it.
const NO_CACHE_COOKIE: &[u8] = b"no-cache=\"set-cookie";

/// What a shared cache may store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cacheability {
    /// The response.
    pub response: bool,
    /// Its `Set-Cookie` headers.
    pub cookie: bool,
}

/// The cacheability of a `status` response with `headers` to a request whose method is
/// `safe_method` or not.
pub fn of(safe_method: bool, status: u16, headers: &HeaderMap) -> Cacheability {
    let mut response = safe_method && CACHEABLE_STATUS.contains(&status);
    let mut cookie = response;
    if headers
        .get(PRAGMA)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"no-cache"))
    {
        return Cacheability {
            response: false,
            cookie: false,
        };
    }
    let mut fresh = false;
    let items = headers
        .get_all(CACHE_CONTROL)
        .iter()
        .flat_map(|v| v.as_bytes().split(|&b| b == b','))
        .map(<[u8]>::trim_ascii);
    for v in items {
        let is = |word: &[u8]| v.eq_ignore_ascii_case(word);
        if is(b"public") {
            response = true;
            cookie = true;
        } else if is(b"private")
            || is(b"no-cache")
            || is(b"no-store")
            || is(b"max-age=0")
            || is(b"s-maxage=0")
        {
            response = false;
            cookie = false;
        } else if starts_with_ci(v, NO_CACHE_COOKIE) {
            cookie = false;
        } else if starts_with_ci(v, b"s-maxage") || starts_with_ci(v, b"max-age") {
            fresh = true;
        }
    }
    let known = fresh
        || headers.contains_key(EXPIRES)
        || headers.contains_key(ETAG)
        || headers.contains_key(LAST_MODIFIED);
    Cacheability {
        response: response && known,
        cookie: cookie && known,
    }
}

fn starts_with_ci(v: &[u8], prefix: &[u8]) -> bool {
    v.get(..prefix.len())
        .is_some_and(|p| p.eq_ignore_ascii_case(prefix))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(list: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (n, v) in list {
            h.append(*n, http::HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn needs_a_safe_method_a_cacheable_status_and_freshness_or_a_validator() {
        let fresh = headers(&[("cache-control", "max-age=60")]);
        assert_eq!(
            of(true, 200, &fresh),
            Cacheability {
                response: true,
                cookie: true
            }
        );
        assert!(!of(false, 200, &fresh).response, "POST");
        assert!(
            !of(true, 302, &fresh).response,
            "302 is not cacheable by default"
        );
        assert!(
            !of(true, 200, &HeaderMap::new()).response,
            "no freshness, no validator"
        );
        assert!(of(true, 200, &headers(&[("etag", "\"x\"")])).response);
        assert!(
            of(
                true,
                200,
                &headers(&[("expires", "Thu, 01 Jan 2099 00:00:00 GMT")])
            )
            .response
        );
    }

    #[test]
    fn directives() {
        let public = headers(&[("cache-control", "public, max-age=5")]);
        assert!(
            of(false, 302, &public).response,
            "public overrides method and status"
        );
        for d in ["private", "no-cache", "no-store", "max-age=0", "s-maxage=0"] {
            let h = headers(&[("cache-control", d), ("etag", "\"x\"")]);
            assert!(!of(true, 200, &h).response, "{d}");
        }
        let cookie_only = headers(&[("cache-control", "no-cache=\"set-cookie\", max-age=9")]);
        assert_eq!(
            of(true, 200, &cookie_only),
            Cacheability {
                response: true,
                cookie: false
            }
        );
        let pragma = headers(&[("pragma", "no-cache"), ("cache-control", "public")]);
        assert!(!of(true, 200, &pragma).response);
    }
}
