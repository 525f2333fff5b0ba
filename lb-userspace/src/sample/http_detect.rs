//! Recognises an HTTP/1 request at the start of a TCP stream (`req.proto_http`, the
//! `HTTP` predefined ACL), sans-I/O: the request line and the header block must parse,
//! up to the empty line that ends them, as HAProxy requires before calling the data
//! HTTP.

use crate::sample::tls_hello::Parse;

/// Most header lines accepted (HAProxy's `tune.http.maxhdr` default).
const MAX_HEADERS: usize = 101;

/// HTTP "token" characters (methods and header names).
fn is_tchar(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&c)
}

/// Splits off one line ending in LF (an optional CR before it is removed); `None` when
/// no LF has arrived yet.
fn line(data: &[u8]) -> Option<(&[u8], &[u8])> {
    let lf = data.iter().position(|&c| c == b'\n')?;
    let line = &data[..lf];
    Some((line.strip_suffix(b"\r").unwrap_or(line), &data[lf + 1..]))
}

/// Whether a prefix of a line can still become valid: used to reject garbage early
/// instead of waiting for a line feed that a binary protocol may never send.
fn request_line_prefix_ok(part: &[u8]) -> bool {
    let part = part.strip_suffix(b"\r").unwrap_or(part);
    let method_end = part.iter().position(|&c| c == b' ').unwrap_or(part.len());
    if !part[..method_end].iter().all(|&c| is_tchar(c)) {
        return false;
    }
    let Some(rest) = part.get(method_end + 1..) else {
        return true;
    };
    if method_end == 0 {
        return false;
    }
    let uri_end = rest.iter().position(|&c| c == b' ').unwrap_or(rest.len());
    if !rest[..uri_end].iter().all(|&c| c > b' ' && c != 0x7f) {
        return false;
    }
    let Some(version) = rest.get(uri_end + 1..) else {
        return true;
    };
    if uri_end == 0 {
        return false;
    }
    let want = b"HTTP/1.";
    let n = version.len().min(want.len());
    version[..n] == want[..n] && version.get(7).is_none_or(u8::is_ascii_digit) && version.len() <= 8
}

/// A complete request line: `METHOD SP URI SP HTTP/1.x`.
fn request_line_ok(line: &[u8]) -> bool {
    let mut parts = line.splitn(3, |&c| c == b' ');
    let (Some(method), Some(uri), Some(version)) = (parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    !method.is_empty()
        && method.iter().all(|&c| is_tchar(c))
        && !uri.is_empty()
        && uri.iter().all(|&c| c > b' ' && c != 0x7f)
        && version.len() == 8
        && version.starts_with(b"HTTP/1.")
        && version[7].is_ascii_digit()
}

/// A header line: `name: value`, no control characters but tabs in the value.
fn header_ok(line: &[u8]) -> bool {
    let Some(colon) = line.iter().position(|&c| c == b':') else {
        return false;
    };
    colon > 0
        && line[..colon].iter().all(|&c| is_tchar(c))
        && line[colon + 1..]
            .iter()
            .all(|&c| c == b'\t' || (c >= b' ' && c != 0x7f))
}

/// Reads an HTTP/1 request head at the start of `data`: `Done(())` once the request line
/// and all headers are there and valid, `Incomplete` while they may still become so,
/// `Invalid` as soon as they cannot.
pub fn probe_request(data: &[u8]) -> Parse<()> {
    let Some((first, mut rest)) = line(data) else {
        return if request_line_prefix_ok(data) {
            Parse::Incomplete
        } else {
            Parse::Invalid
        };
    };
    if !request_line_ok(first) {
        return Parse::Invalid;
    }
    for _ in 0..=MAX_HEADERS {
        let Some((header, after)) = line(rest) else {
            // A partial header line: check what is there.
            let part = rest.strip_suffix(b"\r").unwrap_or(rest);
            let ok = match part.iter().position(|&c| c == b':') {
                None => part.iter().all(|&c| is_tchar(c)),
                Some(_) => header_ok(part),
            };
            return if ok {
                Parse::Incomplete
            } else {
                Parse::Invalid
            };
        };
        if header.is_empty() {
            return Parse::Done(());
        }
        if !header_ok(header) {
            return Parse::Invalid;
        }
        rest = after;
    }
    Parse::Invalid
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn complete_requests() {
        for req in [
            &b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"[..],
            b"GET / HTTP/1.0\r\n\r\n",
            b"POST /x?y=1 HTTP/1.1\r\nContent-Length: 3\r\nX-A:\t b \r\n\r\nabc",
            b"OPTIONS * HTTP/1.1\nHost: x\n\n",
            b"custom-METHOD /%20 HTTP/1.1\r\n\r\n",
        ] {
            assert_eq!(probe_request(req), Parse::Done(()), "{req:?}");
        }
    }

    #[test]
    fn every_prefix_of_a_request_is_incomplete() {
        let req = b"GET /index.html HTTP/1.1\r\nHost: www.example.com\r\nAccept: */*\r\n\r\n";
        for cut in 0..req.len() {
            assert_eq!(probe_request(&req[..cut]), Parse::Incomplete, "cut {cut}");
        }
        assert_eq!(probe_request(req), Parse::Done(()));
    }

    #[test]
    fn not_http() {
        for data in [
            &b"SSH-2.0-OpenSSH_9.6\r\n"[..],
            b"\x16\x03\x01\x02\x00",
            b"GET /\r\n\r\n",
            b"GET / HTTP/2.0\r\n\r\n",
            b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
            b"GET  / HTTP/1.1\r\n\r\n",
            b"GET / HTTP/1.1 \r\n\r\n",
            b"G(T / HTTP/1.1\r\n\r\n",
            b"GET / HTTP/1.1\r\nBad Header: x\r\n\r\n",
            b"GET / HTTP/1.1\r\n: x\r\n\r\n",
            b"GET / HTTP/1.1\r\nX: a\x01b\r\n\r\n",
            b"GET / HTTP/1.1\r\n folded\r\n\r\n",
            b"get / http/1.1\r\n",
            b"GET /\x00 HTTP/1.1",
            b"GET / HTTP/1.1\r\nNoColonYet with space",
        ] {
            assert_eq!(probe_request(data), Parse::Invalid, "{data:?}");
        }
    }

    #[test]
    fn too_many_headers() {
        let mut req = b"GET / HTTP/1.1\r\n".to_vec();
        for i in 0..=MAX_HEADERS {
            req.extend_from_slice(format!("X-{i}: v\r\n").as_bytes());
        }
        req.extend_from_slice(b"\r\n");
        assert_eq!(probe_request(&req), Parse::Invalid);
        let mut ok = b"GET / HTTP/1.1\r\n".to_vec();
        for i in 0..MAX_HEADERS {
            ok.extend_from_slice(format!("X-{i}: v\r\n").as_bytes());
        }
        ok.extend_from_slice(b"\r\n");
        assert_eq!(probe_request(&ok), Parse::Done(()));
    }
}
