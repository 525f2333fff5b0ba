//! Error responses: HAProxy's built-in pages and `errorfile` contents.
//!
//! An error page is a complete HTTP/1 response (status line, headers, body), as HAProxy
//! keeps them; [`parse_message`] turns the raw text into an [`ErrorMessage`] once at load,
//! so answering an error at run time only clones reference-counted parts.

use bytes::Bytes;
use http::{HeaderName, HeaderValue};

/// Status codes `errorfile` and `errorfiles` accept, as in HAProxy 2.6.
pub const HANDLED_CODES: &[u16] = &[
    200, 400, 401, 403, 404, 405, 407, 408, 410, 413, 421, 422, 425, 429, 500, 501, 502, 503, 504,
];

/// A ready-to-send response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorMessage {
    /// Status code.
    pub status: u16,
    /// Reason phrase of the status line (HAProxy's own, e.g. `Request Time-out`).
    pub reason: Bytes,
    /// Header fields, in order (`content-length` is dropped: the body gives it).
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// The body.
    pub body: Bytes,
}

impl ErrorMessage {
    /// The message as HTTP/1.1 bytes (for answers written below hyper).
    pub fn to_http1(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(128 + self.body.len());
        out.extend_from_slice(format!("HTTP/1.1 {} ", self.status).as_bytes());
        out.extend_from_slice(&self.reason);
        out.extend_from_slice(format!("\r\ncontent-length: {}\r\n", self.body.len()).as_bytes());
        for (n, v) in &self.headers {
            out.extend_from_slice(n.as_str().as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(v.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        if !self
            .headers
            .iter()
            .any(|(n, _)| n == http::header::CONNECTION)
        {
            out.extend_from_slice(b"connection: close\r\n");
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(&self.body);
        out
    }
}

/// Why a message (an `errorfile`) is not a usable HTTP response.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MessageError {
    /// No complete status line and header block.
    #[error("incomplete HTTP response head")]
    Incomplete,
    /// The status line is not `HTTP/1.x CODE [REASON]`.
    #[error("invalid status line")]
    StatusLine,
    /// A header line is not `name: value` with valid characters.
    #[error("invalid header line")]
    Header,
}

/// Parses a raw HTTP/1 response (the content of an `errorfile`). Lines may end with CRLF
/// or LF; the body is everything after the empty line, cut to `Content-Length` if given.
pub fn parse_message(raw: &[u8]) -> Result<ErrorMessage, MessageError> {
    let mut lines = Lines { rest: raw };
    let status_line = lines.next_line().ok_or(MessageError::Incomplete)?;
    let (status, reason) = parse_status_line(status_line)?;
    let mut headers = Vec::new();
    let mut content_length = None;
    loop {
        let line = lines.next_line().ok_or(MessageError::Incomplete)?;
        if line.is_empty() {
            break;
        }
        let colon = line
            .iter()
            .position(|&b| b == b':')
            .ok_or(MessageError::Header)?;
        let name = HeaderName::from_bytes(&line[..colon]).map_err(|_| MessageError::Header)?;
        let value = HeaderValue::from_bytes(line[colon + 1..].trim_ascii())
            .map_err(|_| MessageError::Header)?;
        if name == http::header::CONTENT_LENGTH {
            let n = value.to_str().ok().and_then(|v| v.parse::<usize>().ok());
            content_length = Some(n.ok_or(MessageError::Header)?);
            continue;
        }
        headers.push((name, value));
    }
    let mut body = lines.rest;
    if let Some(n) = content_length {
        body = &body[..n.min(body.len())];
    }
    Ok(ErrorMessage {
        status,
        reason: Bytes::copy_from_slice(reason),
        headers,
        body: Bytes::copy_from_slice(body),
    })
}

fn parse_status_line(line: &[u8]) -> Result<(u16, &[u8]), MessageError> {
    let rest = line
        .strip_prefix(b"HTTP/1.1 ")
        .or_else(|| line.strip_prefix(b"HTTP/1.0 "))
        .ok_or(MessageError::StatusLine)?;
    let (code, reason) = match rest.iter().position(|&b| b == b' ') {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => (rest, &b""[..]),
    };
    let status = std::str::from_utf8(code)
        .ok()
        .and_then(|c| c.parse::<u16>().ok())
        .filter(|c| (100..600).contains(c))
        .ok_or(MessageError::StatusLine)?;
    Ok((status, reason))
}

struct Lines<'a> {
    rest: &'a [u8],
}

impl<'a> Lines<'a> {
    fn next_line(&mut self) -> Option<&'a [u8]> {
        let nl = self.rest.iter().position(|&b| b == b'\n')?;
        let line = &self.rest[..nl];
        self.rest = &self.rest[nl + 1..];
        Some(line.strip_suffix(b"\r").unwrap_or(line))
    }
}

/// HAProxy's built-in page for `status` (HAProxy 2.6 texts); unknown codes get the 500 page
/// with their own status.
pub fn default_message(status: u16) -> ErrorMessage {
    let (reason, text, close) = match status {
        200 => ("OK", "Service ready.", false),
        400 => ("Bad request", "Your browser sent an invalid request.", true),
        401 => (
            "Unauthorized",
            "You need a valid user and password to access this content.",
            false,
        ),
        403 => (
            "Forbidden",
            "Request forbidden by administrative rules.",
            false,
        ),
        404 => ("Not Found", "The resource could not be found.", false),
        405 => (
            "Method Not Allowed",
            "A request was made of a resource using a request method not supported by that resource",
            false,
        ),
        407 => (
            "Unauthorized",
            "You need a valid user and password to access this content.",
            false,
        ),
        408 => (
            "Request Time-out",
            "Your browser didn't send a complete request in time.",
            true,
        ),
        410 => (
            "Gone",
            "The resource is no longer available and will not be available again.",
            false,
        ),
        413 => (
            "Payload Too Large",
            "The request entity exceeds the maximum allowed.",
            false,
        ),
        421 => (
            "Misdirected Request",
            "Request sent to a non-authoritative server.",
            false,
        ),
        422 => (
            "Unprocessable Content",
            "The server cannot process the contained instructions.",
            false,
        ),
        425 => ("Too Early", "Your browser sent early data.", false),
        429 => (
            "Too Many Requests",
            "You have sent too many requests in a given amount of time.",
            false,
        ),
        501 => (
            "Not Implemented",
            ".The server does not support the functionality required to fulfill the request.",
            false,
        ),
        502 => (
            "Bad Gateway",
            "The server returned an invalid or incomplete response.",
            false,
        ),
        503 => (
            "Service Unavailable",
            "No server is available to handle this request.",
            false,
        ),
        504 => (
            "Gateway Time-out",
            "The server didn't respond in time.",
            false,
        ),
        // 414 and 431 have no page in HAProxy: they come from the parser (see the session).
        _ => (
            "Internal Server Error",
            "An internal server error occurred.",
            false,
        ),
    };
    let code = if reason == "Internal Server Error" {
        500
    } else {
        status
    };
    let body = format!("<html><body><h1>{code} {reason}</h1>\n{text}\n</body></html>\n");
    let mut headers = vec![(
        http::header::CACHE_CONTROL,
        HeaderValue::from_static("no-cache"),
    )];
    if close {
        headers.push((http::header::CONNECTION, HeaderValue::from_static("close")));
    }
    headers.push((
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("text/html"),
    ));
    ErrorMessage {
        status: code,
        reason: Bytes::from_static(reason.as_bytes()),
        headers,
        body: Bytes::from(body),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_pages_have_haproxy_lengths() {
        // Content-Length values printed by HAProxy 2.6 for its built-in pages.
        for (code, len) in [
            (200, 58),
            (400, 90),
            (403, 93),
            (404, 83),
            (408, 110),
            (500, 97),
            (502, 107),
            (503, 107),
            (504, 92),
        ] {
            let m = default_message(code);
            assert_eq!(m.status, code);
            assert_eq!(m.body.len(), len, "{code}");
        }
        assert!(
            default_message(408)
                .headers
                .iter()
                .any(|(n, v)| n == "connection" && v == "close")
        );
    }

    #[test]
    fn errorfile_parse() {
        let raw = b"HTTP/1.0 503 Maintenance\r\nCache-Control: no-cache\r\nContent-Length: 4\r\n\r\ndown and more";
        let m = parse_message(raw).unwrap();
        assert_eq!(m.status, 503);
        assert_eq!(&m.reason[..], b"Maintenance");
        assert_eq!(m.headers.len(), 1);
        assert_eq!(&m.body[..], b"down");
        let lf = parse_message(b"HTTP/1.1 200\nX-A: b\n\nok").unwrap();
        assert_eq!((lf.status, &lf.body[..]), (200, &b"ok"[..]));
        assert_eq!(
            parse_message(b"HTTP/1.1 200 OK\r\n"),
            Err(MessageError::Incomplete)
        );
        assert_eq!(
            parse_message(b"HTTX 200\r\n\r\n"),
            Err(MessageError::StatusLine)
        );
        assert_eq!(
            parse_message(b"HTTP/1.1 200 OK\r\nbad line\r\n\r\n"),
            Err(MessageError::Header)
        );
    }
}
