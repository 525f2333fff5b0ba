//! `option checkcache`: a response a shared cache could store must not carry a server's
//! `Set-Cookie` (one user's cookie would be served to others); what is cacheable follows
//! HAProxy 2.6 (see [`crate::http::cacheability`]). A blocked response is replaced by a `502` (as an
//! `http-response deny`), logged `PH--`, and reported as an alert. (HAProxy 2.6 logs the
//! block the same way but answers its `200` page: the status of the denied response is
//! never set there; the manual's `502` is what we send.)

use http::{Method, response};

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
    let c = crate::http::cacheability::of(safe, status, &res.headers);
    c.response && c.cookie
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
