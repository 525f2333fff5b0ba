//! Request normalization and rejection: the request-smuggling defenses applied to every
//! parsed request head before any byte of it reaches a server.
//!
//! hyper's HTTP/1 parser already refuses malformed request lines, invalid header name
//! bytes, control characters in values, obs-fold, bare CR, `Transfer-Encoding` in HTTP/1.0,
//! conflicting `Content-Length` values, and drops `Content-Length` when
//! `Transfer-Encoding` is present (HAProxy's choice for HTTP/1.1). The h2 crate refuses
//! uppercase names, connection-specific headers and misplaced pseudo-headers. This module
//! re-checks what matters on the parsed head for both versions and adds the rest: only
//! `chunked` (once) as transfer coding, one `Content-Length` of digits, one `Host`, and
//! the absolute-form authority agreeing with `Host`. Requests are re-serialized toward the
//! server, so what passes here has exactly one framing.

use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, Version, request::Parts};

/// Why a request is refused (each maps to a `400 Bad Request` and a log reason).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Reject {
    /// `Transfer-Encoding` other than a single `chunked`.
    #[error("invalid Transfer-Encoding (only a single 'chunked' is accepted)")]
    TransferEncoding,
    /// A valid transfer-coding list ending with `chunked` but with other codings: HAProxy
    /// answers 422.
    #[error("unsupported transfer-coding before 'chunked'")]
    UnsupportedCoding,
    /// `Transfer-Encoding` in an HTTP/1.0 request.
    #[error("Transfer-Encoding in an HTTP/1.0 request")]
    TransferEncoding10,
    /// A `Content-Length` that is not a number, or several different ones.
    #[error("invalid or conflicting Content-Length")]
    ContentLength,
    /// Several `Host` headers.
    #[error("multiple Host headers")]
    MultipleHost,
    /// A `Host` value that is not an authority.
    #[error("invalid Host header")]
    InvalidHost,
    /// Absolute-form target whose authority differs from `Host`.
    #[error("absolute-form URI authority does not match the Host header")]
    HostMismatch,
    /// A header value with NUL, CR or LF (HTTP/2 downgrade hazard).
    #[error("forbidden character in a header value")]
    HeaderValue,
    /// An HTTP/2 header name with uppercase letters or invalid bytes.
    #[error("invalid HTTP/2 header name")]
    H2HeaderName,
    /// An HTTP/2 connection-specific header (`connection`, `transfer-encoding`...).
    #[error("connection-specific header in an HTTP/2 request")]
    H2ConnectionHeader,
    /// A request target that is not origin-, absolute-, authority- or asterisk-form as the
    /// method allows.
    #[error("invalid request target")]
    Target,
    /// More header fields than `tune.http.maxhdr`.
    #[error("too many header fields")]
    TooManyHeaders,
}

/// Checks and normalizes a request head in place. `maxhdr` is `tune.http.maxhdr`.
pub fn check_request(parts: &mut Parts, maxhdr: usize) -> Result<(), Reject> {
    if parts.headers.len() > maxhdr {
        return Err(Reject::TooManyHeaders);
    }
    let h2 = parts.version == Version::HTTP_2;
    if h2 {
        check_h2_headers(&parts.headers)?;
    }
    check_target(parts)?;
    check_framing(&mut parts.headers, parts.version)?;
    check_host(parts)?;
    Ok(())
}

fn check_h2_headers(headers: &HeaderMap) -> Result<(), Reject> {
    for (name, value) in headers {
        if name.as_str().bytes().any(|b| b.is_ascii_uppercase()) {
            return Err(Reject::H2HeaderName);
        }
        if matches!(
            name.as_str(),
            "connection" | "keep-alive" | "proxy-connection" | "transfer-encoding" | "upgrade"
        ) {
            return Err(Reject::H2ConnectionHeader);
        }
        if name == header::TE && value.as_bytes() != b"trailers" {
            return Err(Reject::H2ConnectionHeader);
        }
        if value
            .as_bytes()
            .iter()
            .any(|&b| matches!(b, 0 | b'\r' | b'\n'))
        {
            return Err(Reject::HeaderValue);
        }
    }
    Ok(())
}

fn check_target(parts: &Parts) -> Result<(), Reject> {
    let uri = &parts.uri;
    if parts.method == Method::CONNECT && parts.extensions.get::<hyper::ext::Protocol>().is_some() {
        // HTTP/2 extended CONNECT (RFC 8441) carries a path like any request.
        return if uri.path().starts_with('/') && uri.authority().is_some() {
            Ok(())
        } else {
            Err(Reject::Target)
        };
    }
    if parts.method == Method::CONNECT {
        // Authority-form only (HTTP/2 CONNECT carries :authority, which the URI holds).
        return match (uri.authority(), uri.path_and_query()) {
            (Some(a), _) if a.port_u16().is_some() => Ok(()),
            _ => Err(Reject::Target),
        };
    }
    let path = uri.path();
    if path.starts_with('/') || (path == "*" && parts.method == Method::OPTIONS) {
        Ok(())
    } else {
        Err(Reject::Target)
    }
}

fn check_framing(headers: &mut HeaderMap, version: Version) -> Result<(), Reject> {
    let mut chunked = 0usize;
    let mut te = false;
    let mut other = false;
    let mut last_chunked = false;
    for value in headers.get_all(header::TRANSFER_ENCODING) {
        te = true;
        let text = value.to_str().map_err(|_| Reject::TransferEncoding)?;
        for token in text.split(',') {
            let token = token.trim_matches([' ', '\t']);
            last_chunked = token.eq_ignore_ascii_case("chunked");
            if last_chunked {
                chunked += 1;
            } else if token.is_empty() || !token.bytes().all(is_tchar) {
                return Err(Reject::TransferEncoding);
            } else {
                other = true;
            }
        }
    }
    if other {
        return Err(if last_chunked && chunked == 1 {
            Reject::UnsupportedCoding
        } else {
            Reject::TransferEncoding
        });
    }
    if te {
        if version == Version::HTTP_10 {
            return Err(Reject::TransferEncoding10);
        }
        if chunked != 1 {
            return Err(Reject::TransferEncoding);
        }
        // HAProxy's rule for HTTP/1.1: Transfer-Encoding wins, Content-Length goes.
        headers.remove(header::CONTENT_LENGTH);
        headers.insert(
            header::TRANSFER_ENCODING,
            HeaderValue::from_static("chunked"),
        );
        return Ok(());
    }
    let mut length: Option<u64> = None;
    let mut count = 0usize;
    for value in headers.get_all(header::CONTENT_LENGTH) {
        count += 1;
        // A comma list of equal values is one value (RFC 9110 8.6).
        for item in value.as_bytes().split(|&b| b == b',') {
            let item = item.trim_ascii();
            if item.is_empty() || !item.iter().all(u8::is_ascii_digit) || item.len() > 19 {
                return Err(Reject::ContentLength);
            }
            let n = std::str::from_utf8(item)
                .ok()
                .and_then(|s| s.parse::<u64>().ok())
                .ok_or(Reject::ContentLength)?;
            match length {
                Some(prev) if prev != n => return Err(Reject::ContentLength),
                _ => length = Some(n),
            }
        }
    }
    let listed = headers
        .get(header::CONTENT_LENGTH)
        .is_some_and(|v| v.as_bytes().contains(&b','));
    if (count > 1 || listed)
        && let Some(n) = length
    {
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(n));
    }
    Ok(())
}

fn check_host(parts: &mut Parts) -> Result<(), Reject> {
    let mut hosts = parts.headers.get_all(header::HOST).iter();
    let host = hosts.next();
    if hosts.next().is_some() {
        return Err(Reject::MultipleHost);
    }
    if let Some(h) = host
        && !valid_authority(h.as_bytes())
    {
        return Err(Reject::InvalidHost);
    }
    let authority = parts.uri.authority().map(|a| a.as_str());
    match (parts.version, authority, host) {
        // HTTP/2: :authority is the authority; a differing Host is replaced by it, as
        // HAProxy does, and a missing one is added for HTTP/1 servers.
        (Version::HTTP_2, Some(a), _) => {
            let v = HeaderValue::from_str(a).map_err(|_| Reject::InvalidHost)?;
            parts.headers.insert(header::HOST, v);
            Ok(())
        }
        (_, Some(a), Some(h)) => {
            if parts.method != Method::CONNECT && !a.as_bytes().eq_ignore_ascii_case(h.as_bytes()) {
                return Err(Reject::HostMismatch);
            }
            Ok(())
        }
        (_, Some(a), None) => {
            let v = HeaderValue::from_str(a).map_err(|_| Reject::InvalidHost)?;
            parts.headers.insert(header::HOST, v);
            Ok(())
        }
        _ => Ok(()),
    }
}

/// A token character (RFC 9110 5.6.2).
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// `host[:port]` with the characters an authority may hold (no userinfo, path or spaces).
fn valid_authority(v: &[u8]) -> bool {
    !v.is_empty()
        && v.iter().all(|&b| {
            b.is_ascii_alphanumeric()
                || matches!(
                    b,
                    b'.' | b'-' | b'_' | b':' | b'[' | b']' | b'~' | b'%' | b'!'
                )
                || matches!(
                    b,
                    b'$' | b'&' | b'\'' | b'(' | b')' | b'*' | b'+' | b',' | b';' | b'='
                )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(method: &str, uri: &str, version: Version, headers: &[(&str, &str)]) -> Parts {
        let mut b = http::Request::builder()
            .method(method)
            .uri(uri)
            .version(version);
        for (n, v) in headers {
            b = b.header(*n, *v);
        }
        b.body(()).unwrap().into_parts().0
    }

    fn check(p: &mut Parts) -> Result<(), Reject> {
        check_request(p, 101)
    }

    const H11: Version = Version::HTTP_11;

    #[test]
    fn transfer_encoding_rules() {
        let mut ok = parts(
            "POST",
            "/",
            H11,
            &[("host", "a"), ("transfer-encoding", "Chunked")],
        );
        assert_eq!(check(&mut ok), Ok(()));
        assert_eq!(ok.headers["transfer-encoding"], "chunked");
        let mut gz = parts(
            "POST",
            "/",
            H11,
            &[("host", "a"), ("transfer-encoding", "gzip, chunked")],
        );
        assert_eq!(check(&mut gz), Err(Reject::UnsupportedCoding));
        for bad in [
            "chunked, gzip",
            "chunked, chunked",
            "xchunked",
            "chunked;q=1",
            "",
        ] {
            let mut p = parts(
                "POST",
                "/",
                H11,
                &[("host", "a"), ("transfer-encoding", bad)],
            );
            assert_eq!(check(&mut p), Err(Reject::TransferEncoding), "{bad:?}");
        }
        let mut twice = parts(
            "POST",
            "/",
            H11,
            &[
                ("host", "a"),
                ("transfer-encoding", "chunked"),
                ("transfer-encoding", "chunked"),
            ],
        );
        assert_eq!(check(&mut twice), Err(Reject::TransferEncoding));
        let mut with_cl = parts(
            "POST",
            "/",
            H11,
            &[
                ("host", "a"),
                ("content-length", "5"),
                ("transfer-encoding", "chunked"),
            ],
        );
        assert_eq!(check(&mut with_cl), Ok(()));
        assert!(with_cl.headers.get("content-length").is_none());
        let mut te10 = parts(
            "POST",
            "/",
            Version::HTTP_10,
            &[("transfer-encoding", "chunked")],
        );
        assert_eq!(check(&mut te10), Err(Reject::TransferEncoding10));
    }

    #[test]
    fn content_length_rules() {
        let mut dup = parts(
            "POST",
            "/",
            H11,
            &[
                ("host", "a"),
                ("content-length", "5"),
                ("content-length", "5"),
            ],
        );
        assert_eq!(check(&mut dup), Ok(()));
        assert_eq!(dup.headers.get_all("content-length").iter().count(), 1);
        let mut list = parts(
            "POST",
            "/",
            H11,
            &[("host", "a"), ("content-length", "5, 5")],
        );
        assert_eq!(check(&mut list), Ok(()));
        assert_eq!(list.headers["content-length"], "5");
        for bad in [
            &["5", "6"][..],
            &["5, 6"],
            &["+5"],
            &["-1"],
            &["0x5"],
            &["5 5"],
            &[""],
        ] {
            let mut h = vec![("host", "a")];
            h.extend(bad.iter().map(|v| ("content-length", *v)));
            let mut p = parts("POST", "/", H11, &h);
            assert_eq!(check(&mut p), Err(Reject::ContentLength), "{bad:?}");
        }
    }

    #[test]
    fn host_rules() {
        let mut two = parts("GET", "/", H11, &[("host", "a"), ("host", "b")]);
        assert_eq!(check(&mut two), Err(Reject::MultipleHost));
        // HAProxy accepts an HTTP/1.1 request without Host: so do we.
        let mut none = parts("GET", "/", H11, &[]);
        assert_eq!(check(&mut none), Ok(()));
        let mut ten = parts("GET", "/", Version::HTTP_10, &[]);
        assert_eq!(check(&mut ten), Ok(()));
        let mut mismatch = parts("GET", "http://a.example/x", H11, &[("host", "b.example")]);
        assert_eq!(check(&mut mismatch), Err(Reject::HostMismatch));
        let mut same = parts("GET", "http://A.example/x", H11, &[("host", "a.example")]);
        assert_eq!(check(&mut same), Ok(()));
        let mut bad = parts("GET", "/", H11, &[("host", "a b")]);
        assert_eq!(check(&mut bad), Err(Reject::InvalidHost));
        let mut at = parts("GET", "/", H11, &[("host", "user@evil")]);
        assert_eq!(check(&mut at), Err(Reject::InvalidHost));
    }

    #[test]
    fn h2_rules() {
        let h2 = Version::HTTP_2;
        let mut ok = parts("GET", "http://a.example/", h2, &[("te", "trailers")]);
        assert_eq!(check(&mut ok), Ok(()));
        assert_eq!(ok.headers["host"], "a.example");
        let mut replaced = parts("GET", "http://a.example/", h2, &[("host", "b.example")]);
        assert_eq!(check(&mut replaced), Ok(()));
        assert_eq!(replaced.headers["host"], "a.example");
        for (n, v) in [
            ("connection", "close"),
            ("transfer-encoding", "chunked"),
            ("upgrade", "websocket"),
            ("keep-alive", "1"),
            ("te", "gzip"),
        ] {
            let mut p = parts("GET", "http://a/", h2, &[(n, v)]);
            assert_eq!(check(&mut p), Err(Reject::H2ConnectionHeader), "{n}");
        }
    }

    #[test]
    fn targets_and_counts() {
        let mut star = parts("OPTIONS", "*", H11, &[("host", "a")]);
        assert_eq!(check(&mut star), Ok(()));
        let mut star_get = parts("GET", "*", H11, &[("host", "a")]);
        assert_eq!(check(&mut star_get), Err(Reject::Target));
        let mut connect = parts(
            "CONNECT",
            "a.example:443",
            H11,
            &[("host", "a.example:443")],
        );
        assert_eq!(check(&mut connect), Ok(()));
        let mut many = parts("GET", "/", H11, &[("host", "a"), ("x", "1"), ("y", "2")]);
        assert_eq!(check_request(&mut many, 2), Err(Reject::TooManyHeaders));
    }
}
