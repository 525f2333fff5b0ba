//! `option checkcache`: a response a shared cache could store must not carry a server's
//! `Set-Cookie` (one user's cookie would be served to others). HAProxy 2.6's rules: the
//! request method must be safe (`GET`, `HEAD`, `OPTIONS`, `TRACE`) and the status one a
//! cache may store (200 203 204 206 300 301 404 405 410 414 501), unless the server says
//! `Cache-Control: public`; `Pragma: no-cache` and `Cache-Control: private`, `no-cache`,
//! `no-store`, `max-age=0`, `s-maxage=0` make it uncacheable, `no-cache="set-cookie"`
//! makes its cookie uncacheable. As in HAProxy 2.6, a response is only cacheable with
//! freshness information (`Cache-Control: max-age=N`/`s-maxage=N`, or `Expires`) or a
//! validator (`ETag`, `Last-Modified`). A blocked response is replaced by a `502` (as an
//! `http-response deny`), logged `PH--`, and reported as an alert. (HAProxy 2.6 logs the
//! block the same way but answers its `200` page: the status of the denied response is
//! never set there; the manual's `502` is what we send.)

use http::{Method, response};

/// Statuses a cache may store by default (RFC 7231 6.1), as HAProxy lists them.
const CACHEABLE_STATUS: [u16; 11] = [200, 203, 204, 206, 300, 301, 404, 405, 410, 414, 501];

/// `no-cache="set-cookie"`, possibly with more field names after it.
const NO_CACHE_COOKIE: &[u8] = b"no-cache=\"set-cookie";

/// Whether `option checkcache` blocks this response to a `method` request.
pub fn blocks(method: &Method, res: &response::Parts) -> bool {
    if !res.headers.contains_key(http::header::SET_COOKIE) {
        return false;
    }
    let status = res.status.as_u16();
    if status < 200 {
        return false;
    }
    let safe = matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE
    );
    let mut cacheable = safe && CACHEABLE_STATUS.contains(&status);
    let mut cookie_cacheable = cacheable;
    let mut fresh = false;
    if res
        .headers
        .get(http::header::PRAGMA)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"no-cache"))
    {
        return false;
    }
    let values = res
        .headers
        .get_all(http::header::CACHE_CONTROL)
        .iter()
        .flat_map(|v| v.as_bytes().split(|&b| b == b','))
        .map(<[u8]>::trim_ascii);
    for v in values {
        let is = |word: &[u8]| v.eq_ignore_ascii_case(word);
        if is(b"public") {
            cacheable = true;
            cookie_cacheable = true;
        } else if is(b"private")
            || is(b"no-cache")
            || is(b"no-store")
            || is(b"max-age=0")
            || is(b"s-maxage=0")
        {
            cacheable = false;
            cookie_cacheable = false;
        } else if starts_with_ci(v, NO_CACHE_COOKIE) {
            cookie_cacheable = false;
        } else if starts_with_ci(v, b"s-maxage") || starts_with_ci(v, b"max-age") {
            fresh = true;
        }
    }
    let h = &res.headers;
    let known = fresh
        || h.contains_key(http::header::EXPIRES)
        || h.contains_key(http::header::ETAG)
        || h.contains_key(http::header::LAST_MODIFIED);
    cacheable && cookie_cacheable && known
}

fn starts_with_ci(v: &[u8], prefix: &[u8]) -> bool {
    v.get(..prefix.len())
        .is_some_and(|p| p.eq_ignore_ascii_case(prefix))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn res(status: u16, headers: &[(&str, &str)]) -> response::Parts {
        let mut b = http::Response::builder().status(status);
        for (n, v) in headers {
            b = b.header(*n, *v);
        }
        b.body(()).unwrap().into_parts().0
    }

    const COOKIE: (&str, &str) = ("set-cookie", "sid=1");
    const FRESH: (&str, &str) = ("expires", "Thu, 01 Jan 2099 00:00:00 GMT");

    #[test]
    fn cacheable_responses_with_a_cookie_are_blocked() {
        assert!(blocks(&Method::GET, &res(200, &[COOKIE, FRESH])));
        assert!(blocks(
            &Method::HEAD,
            &res(404, &[COOKIE, ("etag", "\"x\"")])
        ));
        assert!(blocks(
            &Method::GET,
            &res(200, &[COOKIE, ("last-modified", "x")])
        ));
        assert!(blocks(
            &Method::GET,
            &res(200, &[COOKIE, ("cache-control", "max-age=60")])
        ));
        assert!(blocks(
            &Method::GET,
            &res(200, &[COOKIE, ("cache-control", "s-maxage=5")])
        ));
    }

    #[test]
    fn what_passes() {
        assert!(
            !blocks(&Method::GET, &res(200, &[COOKIE])),
            "no freshness nor validator"
        );
        assert!(!blocks(&Method::GET, &res(200, &[FRESH])), "no cookie");
        assert!(
            !blocks(&Method::POST, &res(200, &[COOKIE, FRESH])),
            "unsafe method"
        );
        assert!(
            !blocks(&Method::GET, &res(302, &[COOKIE, FRESH])),
            "status not cacheable"
        );
        assert!(!blocks(
            &Method::GET,
            &res(200, &[COOKIE, FRESH, ("pragma", "no-cache")])
        ));
        for cc in ["private", "no-cache", "no-store", "max-age=0", "s-maxage=0"] {
            assert!(
                !blocks(
                    &Method::GET,
                    &res(200, &[COOKIE, FRESH, ("cache-control", cc)])
                ),
                "{cc}"
            );
        }
        let nc = ("cache-control", "max-age=60, no-cache=\"set-cookie\"");
        assert!(!blocks(&Method::GET, &res(200, &[COOKIE, nc])));
        let nc = ("cache-control", "no-cache=\"set-cookie,x-other\"");
        assert!(!blocks(&Method::GET, &res(200, &[COOKIE, nc])));
    }

    #[test]
    fn public_makes_anything_cacheable() {
        let public = ("cache-control", "public, max-age=10");
        assert!(blocks(&Method::POST, &res(200, &[COOKIE, public])));
        assert!(blocks(&Method::GET, &res(302, &[COOKIE, public])));
        // Later directives still count.
        let later = ("cache-control", "public, private");
        assert!(!blocks(&Method::GET, &res(200, &[COOKIE, FRESH, later])));
        // Without freshness nor validator, not even `public` makes it cacheable.
        let bare = ("cache-control", "public");
        assert!(!blocks(&Method::GET, &res(200, &[COOKIE, bare])));
    }
}
