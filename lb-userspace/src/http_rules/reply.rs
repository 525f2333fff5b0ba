//! Responses produced by rules (`deny`, `tarpit`, `return`, `redirect`, `auth`) and
//! HAProxy's built-in error pages.

use bytes::Bytes;
use http::{HeaderName, HeaderValue, StatusCode};

use crate::logformat::{AliasSource, LogFormat};
use crate::sample::StreamCtx;

/// Why the proxy answered by itself (logs, counters, termination state).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyCause {
    /// `deny` (counted as a denied request or response).
    Deny,
    /// `tarpit` (counted as a denied request).
    Tarpit,
    /// `return`.
    Return,
    /// `redirect`.
    Redirect,
    /// `auth`: credentials are required.
    Auth,
    /// A rewrite failed in strict mode (HAProxy answers 500).
    RewriteFailed,
    /// `normalize-uri ... strict` met an invalid sequence (400).
    BadRequest,
}

/// Which error page a reply is based on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErrorPage {
    /// None: the reply's own headers and body.
    None,
    /// The proxy's page for the status (`errorfile`, else the built-in one, see
    /// [`builtin_error`]); the reply's headers are added to it.
    Proxy,
    /// The page for the status in the `http-errors NAME` section (`errorfiles NAME`).
    Section(String),
}

/// A response the runtime must send instead of forwarding (or instead of the
/// server's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The status.
    pub status: StatusCode,
    /// A custom reason phrase for HTTP/1 (the status' canonical one otherwise).
    pub reason: Option<String>,
    /// Headers, in order (no `content-length`: the runtime sets it from the body).
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// The body.
    pub body: Bytes,
    /// Whether the reply is an error page of the proxy (then `body` is empty).
    pub error_page: ErrorPage,
    /// What produced it.
    pub cause: ReplyCause,
}

impl Reply {
    /// The proxy's error page for `status` (HAProxy's `default-errorfiles`).
    pub fn error(status: u16, cause: ReplyCause) -> Self {
        Self {
            status: StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            reason: None,
            headers: Vec::new(),
            body: Bytes::new(),
            error_page: ErrorPage::Proxy,
            cause,
        }
    }

    /// The built-in page when [`Reply::error_page`] is [`ErrorPage::Proxy`] and the
    /// proxy has no `errorfile` for the status; the reply itself otherwise.
    pub fn with_builtin_page(mut self) -> Self {
        if self.error_page == ErrorPage::Proxy
            && let Some((reason, body)) = builtin_error(self.status.as_u16())
        {
            let mut headers = vec![
                (
                    http::header::CACHE_CONTROL,
                    HeaderValue::from_static("no-cache"),
                ),
                (
                    http::header::CONTENT_TYPE,
                    HeaderValue::from_static("text/html"),
                ),
            ];
            if matches!(self.status.as_u16(), 400 | 408) {
                // HAProxy closes after these two (HTTP/1 only: drop it for HTTP/2).
                headers.push((http::header::CONNECTION, HeaderValue::from_static("close")));
            }
            headers.append(&mut self.headers);
            self.headers = headers;
            self.reason = self.reason.or_else(|| Some(reason.to_owned()));
            self.body = Bytes::from_static(body.as_bytes());
            self.error_page = ErrorPage::None;
        }
        self
    }
}

impl Reply {
    /// The response head and body to send for a reply that is not an error page (call
    /// [`Reply::with_builtin_page`] first, or substitute the proxy's `errorfile`): the
    /// headers in order, a custom reason phrase as [`hyper::ext::ReasonPhrase`] (HTTP/1),
    /// no `content-length` (the body's length sets it).
    pub fn into_response(self) -> http::Response<Bytes> {
        let mut res = http::Response::new(self.body);
        *res.status_mut() = self.status;
        let canonical = self.status.canonical_reason();
        if let Some(reason) = self.reason.filter(|r| Some(r.as_str()) != canonical)
            && let Ok(p) = hyper::ext::ReasonPhrase::try_from(reason.into_bytes())
        {
            res.extensions_mut().insert(p);
        }
        let headers = res.headers_mut();
        for (name, value) in self.headers {
            headers.append(name, value);
        }
        res
    }
}

/// What a rule says to answer (`deny`, `tarpit`, `return` arguments).
#[derive(Debug, Clone)]
pub struct ReplySpec {
    /// `status` / `deny_status`.
    pub status: u16,
    /// `content-type`.
    pub content_type: Option<String>,
    /// The payload.
    pub body: BodySpec,
    /// `hdr NAME FMT` arguments.
    pub headers: Vec<(HeaderName, LogFormat)>,
}

/// The payload of a rule's reply.
#[derive(Debug, Clone)]
pub enum BodySpec {
    /// Nothing given: an empty reply (`return`).
    Empty,
    /// `default-errorfiles`, and `deny`/`tarpit` without payload.
    DefaultErrorfile,
    /// `errorfiles NAME`.
    Errorfiles(String),
    /// `errorfile FILE`: a full response read at start-up.
    Raw(Box<RawResponse>),
    /// `string S` / `file F`: a fixed payload.
    Fixed(Bytes),
    /// `lf-string FMT` / `lf-file F`: a payload rendered per request.
    Format(LogFormat),
}

/// A complete HTTP/1 response read from a file (`errorfile`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawResponse {
    /// Status code.
    pub status: u16,
    /// Reason phrase.
    pub reason: String,
    /// Headers in order (`content-length` removed).
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// Body.
    pub body: Bytes,
}

/// Why a raw response file is rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RawResponseError {
    /// The status line is not `HTTP/1.x NNN reason`.
    #[error("invalid status line")]
    StatusLine,
    /// A header line is malformed.
    #[error("invalid header line '{0}'")]
    Header(String),
    /// No empty line ends the headers.
    #[error("missing empty line after the headers")]
    Unterminated,
}

/// Parses a full HTTP/1 response (status line, headers, empty line, body) as an
/// `errorfile` holds one.
pub fn parse_raw_response(data: &[u8]) -> Result<RawResponse, RawResponseError> {
    let text_end = find_head_end(data).ok_or(RawResponseError::Unterminated)?;
    let (head, body) = (&data[..text_end.0], &data[text_end.1..]);
    let head = String::from_utf8_lossy(head);
    let mut lines = head.split('\n').map(|l| l.trim_end_matches('\r'));
    let status_line = lines.next().ok_or(RawResponseError::StatusLine)?;
    let mut parts = status_line.splitn(3, ' ');
    let (Some(ver), Some(code)) = (parts.next(), parts.next()) else {
        return Err(RawResponseError::StatusLine);
    };
    if !ver.starts_with("HTTP/1.") {
        return Err(RawResponseError::StatusLine);
    }
    let status: u16 = code.parse().map_err(|_| RawResponseError::StatusLine)?;
    if !(100..=599).contains(&status) {
        return Err(RawResponseError::StatusLine);
    }
    let reason = parts.next().unwrap_or("").to_owned();
    let mut headers = Vec::new();
    for line in lines.filter(|l| !l.is_empty()) {
        let bad = || RawResponseError::Header(line.to_owned());
        let (n, v) = line.split_once(':').ok_or_else(bad)?;
        let name = HeaderName::from_bytes(n.trim().as_bytes()).map_err(|_| bad())?;
        let value = HeaderValue::from_str(v.trim()).map_err(|_| bad())?;
        if name != http::header::CONTENT_LENGTH {
            headers.push((name, value));
        }
    }
    Ok(RawResponse {
        status,
        reason,
        headers,
        body: Bytes::copy_from_slice(body),
    })
}

/// Where the head ends and the body starts (`\r\n\r\n` or `\n\n`).
fn find_head_end(data: &[u8]) -> Option<(usize, usize)> {
    for i in 0..data.len() {
        if data[i..].starts_with(b"\r\n\r\n") {
            return Some((i, i + 4));
        }
        if data[i..].starts_with(b"\n\n") {
            return Some((i, i + 2));
        }
    }
    None
}

impl ReplySpec {
    /// Builds the reply for one transaction.
    pub fn build(
        &self,
        ctx: &StreamCtx<'_>,
        aliases: &dyn AliasSource,
        cause: ReplyCause,
    ) -> Reply {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut reply = Reply {
            status,
            reason: None,
            headers: Vec::new(),
            body: Bytes::new(),
            error_page: ErrorPage::None,
            cause,
        };
        let with_headers = |reply: &mut Reply| {
            for (name, fmt) in &self.headers {
                let value = fmt.render(ctx, aliases);
                if let Ok(v) = HeaderValue::from_str(&value) {
                    reply.headers.push((name.clone(), v));
                }
            }
        };
        let content_type = |reply: &mut Reply| {
            if let Some(ct) = self
                .content_type
                .as_deref()
                .and_then(|c| HeaderValue::from_str(c).ok())
            {
                reply.headers.push((http::header::CONTENT_TYPE, ct));
            }
        };
        match &self.body {
            BodySpec::Empty => with_headers(&mut reply),
            BodySpec::DefaultErrorfile => reply.error_page = ErrorPage::Proxy,
            BodySpec::Errorfiles(name) => reply.error_page = ErrorPage::Section(name.clone()),
            BodySpec::Raw(raw) => {
                reply.status = StatusCode::from_u16(raw.status).unwrap_or(status);
                reply.reason = Some(raw.reason.clone());
                reply.headers = raw.headers.clone();
                reply.body = raw.body.clone();
            }
            BodySpec::Fixed(body) => {
                if !body.is_empty() {
                    content_type(&mut reply);
                }
                with_headers(&mut reply);
                reply.body = body.clone();
            }
            BodySpec::Format(fmt) => {
                let body = fmt.render(ctx, aliases);
                content_type(&mut reply);
                with_headers(&mut reply);
                reply.body = Bytes::from(body);
            }
        }
        reply
    }
}

/// HAProxy's built-in error message for `status`: the reason phrase and the HTML body
/// (sent with `cache-control: no-cache` and `content-type: text/html`).
pub fn builtin_error(status: u16) -> Option<(&'static str, &'static str)> {
    Some(match status {
        200 => (
            "OK",
            "<html><body><h1>200 OK</h1>\nService ready.\n</body></html>\n",
        ),
        400 => (
            "Bad request",
            "<html><body><h1>400 Bad request</h1>\nYour browser sent an invalid request.\n</body></html>\n",
        ),
        401 => (
            "Unauthorized",
            "<html><body><h1>401 Unauthorized</h1>\nYou need a valid user and password to access this content.\n</body></html>\n",
        ),
        403 => (
            "Forbidden",
            "<html><body><h1>403 Forbidden</h1>\nRequest forbidden by administrative rules.\n</body></html>\n",
        ),
        404 => (
            "Not Found",
            "<html><body><h1>404 Not Found</h1>\nThe resource could not be found.\n</body></html>\n",
        ),
        405 => (
            "Method Not Allowed",
            "<html><body><h1>405 Method Not Allowed</h1>\nA request was made of a resource using a request method not supported by that resource\n</body></html>\n",
        ),
        407 => (
            "Unauthorized",
            "<html><body><h1>407 Unauthorized</h1>\nYou need a valid user and password to access this content.\n</body></html>\n",
        ),
        408 => (
            "Request Time-out",
            "<html><body><h1>408 Request Time-out</h1>\nYour browser didn't send a complete request in time.\n</body></html>\n",
        ),
        410 => (
            "Gone",
            "<html><body><h1>410 Gone</h1>\nThe resource is no longer available and will not be available again.\n</body></html>\n",
        ),
        413 => (
            "Payload Too Large",
            "<html><body><h1>413 Payload Too Large</h1>\nThe request entity exceeds the maximum allowed.\n</body></html>\n",
        ),
        425 => (
            "Too Early",
            "<html><body><h1>425 Too Early</h1>\nYour browser sent early data.\n</body></html>\n",
        ),
        429 => (
            "Too Many Requests",
            "<html><body><h1>429 Too Many Requests</h1>\nYou have sent too many requests in a given amount of time.\n</body></html>\n",
        ),
        500 => (
            "Internal Server Error",
            "<html><body><h1>500 Internal Server Error</h1>\nAn internal server error occurred.\n</body></html>\n",
        ),
        501 => (
            "Not Implemented",
            "<html><body><h1>501 Not Implemented</h1>\n.The server does not support the functionality required to fulfill the request.\n</body></html>\n",
        ),
        502 => (
            "Bad Gateway",
            "<html><body><h1>502 Bad Gateway</h1>\nThe server returned an invalid or incomplete response.\n</body></html>\n",
        ),
        503 => (
            "Service Unavailable",
            "<html><body><h1>503 Service Unavailable</h1>\nNo server is available to handle this request.\n</body></html>\n",
        ),
        504 => (
            "Gateway Time-out",
            "<html><body><h1>504 Gateway Time-out</h1>\nThe server didn't respond in time.\n</body></html>\n",
        ),
        _ => return None,
    })
}

/// Status codes HAProxy has error pages for (what `deny_status` and errorfile-based
/// replies accept).
pub const ERROR_CODES: &[u16] = &[
    200, 400, 401, 403, 404, 405, 407, 408, 410, 413, 425, 429, 500, 501, 502, 503, 504,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_responses() {
        let r = parse_raw_response(
            b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/html\r\nContent-Length: 3\r\nX-A: 1\r\n\r\nbye",
        )
        .unwrap();
        assert_eq!((r.status, r.reason.as_str()), (503, "Service Unavailable"));
        assert_eq!(r.headers.len(), 2, "content-length is recomputed");
        assert_eq!(r.body, "bye");
        assert!(parse_raw_response(b"HTTP/1.0 200 OK\n\n").is_ok());
        assert_eq!(
            parse_raw_response(b"HTTP/1.1 200 OK\r\n"),
            Err(RawResponseError::Unterminated)
        );
        assert_eq!(
            parse_raw_response(b"FTP 200\r\n\r\n"),
            Err(RawResponseError::StatusLine)
        );
        assert_eq!(
            parse_raw_response(b"HTTP/1.1 2000 x\r\n\r\n"),
            Err(RawResponseError::StatusLine)
        );
        assert!(matches!(
            parse_raw_response(b"HTTP/1.1 200 OK\r\nno colon\r\n\r\n"),
            Err(RawResponseError::Header(_))
        ));
    }

    #[test]
    fn replies_become_responses() {
        let r = Reply::error(403, ReplyCause::Deny)
            .with_builtin_page()
            .into_response();
        assert_eq!(r.status(), 403);
        assert_eq!(r.headers()["content-type"], "text/html");
        assert!(r.extensions().get::<hyper::ext::ReasonPhrase>().is_none());
        assert!(r.body().starts_with(b"<html><body><h1>403 Forbidden"));
        let r = Reply::error(400, ReplyCause::BadRequest)
            .with_builtin_page()
            .into_response();
        // HAProxy's 400 page says "Bad request", not the canonical "Bad Request".
        assert_eq!(
            r.extensions()
                .get::<hyper::ext::ReasonPhrase>()
                .map(|p| p.as_bytes().to_vec()),
            Some(b"Bad request".to_vec())
        );
        assert_eq!(r.headers()["connection"], "close");
    }

    #[test]
    fn builtin_pages() {
        for code in ERROR_CODES {
            let (reason, body) = builtin_error(*code).unwrap();
            assert!(
                body.contains(&format!("<h1>{code} {reason}</h1>")),
                "{code}"
            );
        }
        assert!(builtin_error(418).is_none());
        // Content lengths of haproxy 2.6's pages, in ERROR_CODES order.
        let lengths = [
            58, 90, 112, 93, 83, 146, 112, 110, 114, 106, 80, 117, 97, 136, 107, 107, 92,
        ];
        for (code, len) in ERROR_CODES.iter().zip(lengths) {
            assert_eq!(builtin_error(*code).unwrap().1.len(), len, "{code}");
        }
        let r = Reply::error(503, ReplyCause::Deny).with_builtin_page();
        assert_eq!(r.error_page, ErrorPage::None);
        assert_eq!(r.reason.as_deref(), Some("Service Unavailable"));
        assert_eq!(r.headers[1].1, "text/html");
    }
}
