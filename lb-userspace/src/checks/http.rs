//! `option httpchk`: the request HAProxy sends and the `http-check expect` matcher, sans-I/O.
//!
//! The request follows what HAProxy 2.6's H1 mux puts on the wire for a check: the request
//! line as configured, the `http-check send hdr` headers (names lower-cased, as HTX does),
//! a `host` header only when configured or when the URI is in absolute form, `connection:
//! close` for HTTP/1.1 (close is implicit in HTTP/1.0), and `content-length` only when there
//! is a body. No `Host` is invented: HTTP/1.1 checks need `http-check send hdr Host ...`,
//! exactly as with HAProxy.

use regex::Regex;
use regex::bytes::Regex as BytesRegex;

use crate::checks::http_parse::{Framing, Head, ResponseHead, decode_body, parse_head};
use crate::checks::result::{CheckResult, CheckStatus};
use crate::config::model::{HttpCheck, HttpExpect, HttpExpectMatch};

/// Builds the check request bytes for `check`.
pub fn build_request(check: &HttpCheck) -> Vec<u8> {
    let uri = if check.uri.is_empty() {
        "/"
    } else {
        &check.uri
    };
    let version = if check.version.is_empty() {
        "HTTP/1.0"
    } else {
        &check.version
    };
    let mut out = format!("{} {uri} {version}\r\n", check.method).into_bytes();
    let mut has_host = false;
    let mut has_connection = false;
    for (name, value) in &check.headers {
        // HAProxy skips headers whose value evaluates to nothing.
        if value.is_empty() {
            continue;
        }
        let name = name.to_ascii_lowercase();
        has_host |= name == "host";
        has_connection |= name == "connection";
        push_header(&mut out, &name, value);
    }
    if !has_host && let Some(authority) = absolute_uri_authority(uri) {
        push_header(&mut out, "host", authority);
    }
    if !has_connection && is_http11_or_later(version) {
        push_header(&mut out, "connection", "close");
    }
    let body = check.body.as_deref().unwrap_or("");
    if !body.is_empty() {
        push_header(&mut out, "content-length", &body.len().to_string());
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body.as_bytes());
    out
}

fn push_header(out: &mut Vec<u8>, name: &str, value: &str) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b": ");
    out.extend_from_slice(value.as_bytes());
    out.extend_from_slice(b"\r\n");
}

fn is_http11_or_later(version: &str) -> bool {
    let Some(v) = version.strip_prefix("HTTP/") else {
        return false;
    };
    let mut parts = v.splitn(2, '.');
    let major: u32 = parts.next().and_then(|m| m.parse().ok()).unwrap_or(0);
    let minor: u32 = parts.next().and_then(|m| m.parse().ok()).unwrap_or(0);
    major > 1 || (major == 1 && minor >= 1)
}

/// The authority of an absolute-form URI (`http://host:port/path`), without user info.
fn absolute_uri_authority(uri: &str) -> Option<&str> {
    let (scheme, rest) = uri.split_once("://")?;
    if scheme.is_empty()
        || !scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'+')
    {
        return None;
    }
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..end];
    let authority = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    (!authority.is_empty()).then_some(authority)
}

/// A compiled `http-check expect` rule.
#[derive(Debug, Clone)]
pub struct HttpExpectRule {
    inverted: bool,
    matcher: Matcher,
}

#[derive(Debug, Clone)]
enum Matcher {
    Status(Vec<(u16, u16)>),
    RStatus(Regex),
    String(Vec<u8>),
    RString(BytesRegex),
}

impl HttpExpectRule {
    /// Compiles `expect`; `None` is HAProxy's implicit `http-check expect status 200-399`.
    pub fn compile(expect: Option<&HttpExpect>) -> Result<Self, regex::Error> {
        let Some(expect) = expect else {
            return Ok(Self {
                inverted: false,
                matcher: Matcher::Status(vec![(200, 399)]),
            });
        };
        let matcher = match &expect.matcher {
            HttpExpectMatch::Status(ranges) => Matcher::Status(ranges.clone()),
            HttpExpectMatch::RStatus(re) => Matcher::RStatus(Regex::new(re)?),
            HttpExpectMatch::String(s) => Matcher::String(s.as_bytes().to_vec()),
            HttpExpectMatch::RString(re) => Matcher::RString(BytesRegex::new(re)?),
        };
        Ok(Self {
            inverted: expect.inverted,
            matcher,
        })
    }

    /// Judges the response received so far. `last_read` means no more bytes will come (the
    /// peer closed, the buffer is full, or an error occurred); `head_request` means the
    /// response has no body whatever its headers say.
    pub fn evaluate(&self, buf: &[u8], last_read: bool, head_request: bool) -> HttpVerdict {
        let invalid = || HttpVerdict::Done(CheckResult::new(CheckStatus::L7Rsp, ""));
        let head = match parse_head(buf) {
            Head::Partial if last_read => return invalid(),
            Head::Partial => return HttpVerdict::NeedMore,
            Head::Invalid => return invalid(),
            Head::Complete(head) => head,
        };
        let code = head.status;
        let (matched, failure) = match &self.matcher {
            Matcher::Status(ranges) => (
                ranges.iter().any(|&(lo, hi)| (lo..=hi).contains(&code)),
                wrong_status(&head),
            ),
            Matcher::RStatus(re) => (re.is_match(&head.code_text), wrong_status(&head)),
            Matcher::String(_) | Matcher::RString(_) => {
                let framing = if head_request {
                    Framing::None
                } else {
                    head.framing
                };
                let body = match decode_body(framing, &buf[head.len..], last_read) {
                    Some(body) => body,
                    None => return invalid(),
                };
                let last_read = last_read || body.complete;
                if body.data.is_empty() {
                    if !last_read {
                        return HttpVerdict::NeedMore;
                    }
                    return HttpVerdict::Done(CheckResult::new(
                        CheckStatus::L7Rsp,
                        "HTTP content check could not find a response body",
                    ));
                }
                let matched = match &self.matcher {
                    Matcher::String(pat) => {
                        if !last_read && body.data.len() < pat.len() {
                            return HttpVerdict::NeedMore;
                        }
                        contains(&body.data, pat)
                    }
                    Matcher::RString(re) => re.is_match(&body.data),
                    _ => false,
                };
                // A mismatch may still turn into a match with more data.
                if !matched && !last_read {
                    return HttpVerdict::NeedMore;
                }
                let info = if self.inverted {
                    "HTTP check matched unwanted content"
                } else {
                    "HTTP content check did not match"
                };
                (matched, CheckResult::new(CheckStatus::L7Rsp, info))
            }
        };
        if matched != self.inverted {
            HttpVerdict::Done(CheckResult::new(CheckStatus::L7Ok, "").with_code(code))
        } else {
            HttpVerdict::Done(failure.with_code(code))
        }
    }
}

fn wrong_status(head: &ResponseHead) -> CheckResult {
    CheckResult::new(CheckStatus::L7Sts, head.reason.clone())
}

/// Whether an HTTP check is decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpVerdict {
    /// More bytes are needed.
    NeedMore,
    /// The check is over with this result.
    Done(CheckResult),
}

/// `true` if `needle` occurs in `hay` (an empty needle always does).
pub fn contains(hay: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || hay.windows(needle.len()).any(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(method: &str, uri: &str, version: &str) -> HttpCheck {
        HttpCheck {
            method: method.into(),
            uri: uri.into(),
            version: version.into(),
            ..HttpCheck::default()
        }
    }

    fn text(bytes: &[u8]) -> &str {
        std::str::from_utf8(bytes).unwrap()
    }

    #[test]
    fn default_request_is_options_http10_without_headers() {
        assert_eq!(
            text(&build_request(&HttpCheck::default())),
            "OPTIONS / HTTP/1.0\r\n\r\n"
        );
    }

    #[test]
    fn http11_request_gets_connection_close_but_no_invented_host() {
        assert_eq!(
            text(&build_request(&check("GET", "/health", "HTTP/1.1"))),
            "GET /health HTTP/1.1\r\nconnection: close\r\n\r\n"
        );
    }

    #[test]
    fn configured_headers_are_sent_lowercased_in_order() {
        let mut c = check("GET", "/h", "HTTP/1.1");
        c.headers = vec![
            ("Host".into(), "www.example.com".into()),
            ("X-Empty".into(), String::new()),
            ("User-Agent".into(), "lb".into()),
        ];
        assert_eq!(
            text(&build_request(&c)),
            "GET /h HTTP/1.1\r\nhost: www.example.com\r\nuser-agent: lb\r\nconnection: close\r\n\r\n"
        );
    }

    #[test]
    fn user_connection_header_replaces_the_default() {
        let mut c = check("GET", "/ws", "HTTP/1.1");
        c.headers = vec![("Connection".into(), "Upgrade".into())];
        assert_eq!(
            text(&build_request(&c)),
            "GET /ws HTTP/1.1\r\nconnection: Upgrade\r\n\r\n"
        );
    }

    #[test]
    fn body_gets_content_length() {
        let mut c = check("POST", "/api", "HTTP/1.1");
        c.body = Some("{\"a\":1}".into());
        assert_eq!(
            text(&build_request(&c)),
            "POST /api HTTP/1.1\r\nconnection: close\r\ncontent-length: 7\r\n\r\n{\"a\":1}"
        );
    }

    #[test]
    fn absolute_uri_sets_host() {
        let c = check("GET", "http://user@svc.local:8080/ping?x=1", "HTTP/1.1");
        assert_eq!(
            text(&build_request(&c)),
            "GET http://user@svc.local:8080/ping?x=1 HTTP/1.1\r\nhost: svc.local:8080\r\nconnection: close\r\n\r\n"
        );
        assert_eq!(absolute_uri_authority("/relative"), None);
    }

    #[test]
    fn version_comparison() {
        assert!(!is_http11_or_later("HTTP/1.0"));
        assert!(is_http11_or_later("HTTP/1.1"));
        assert!(is_http11_or_later("HTTP/2"));
        assert!(!is_http11_or_later("garbage"));
    }

    fn rule(inverted: bool, matcher: HttpExpectMatch) -> HttpExpectRule {
        HttpExpectRule::compile(Some(&HttpExpect { inverted, matcher })).unwrap()
    }

    fn done(v: HttpVerdict) -> CheckResult {
        match v {
            HttpVerdict::Done(r) => r,
            HttpVerdict::NeedMore => panic!("need more"),
        }
    }

    const OK: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nalive";
    const UNAVAIL: &[u8] = b"HTTP/1.0 503 Service Unavailable\r\n\r\nmaintenance";

    #[test]
    fn default_expect_is_2xx_3xx() {
        let r = HttpExpectRule::compile(None).unwrap();
        let ok = done(r.evaluate(OK, false, false));
        assert_eq!(
            (ok.status, ok.code, ok.info.as_str()),
            (CheckStatus::L7Ok, 200, "")
        );
        let redirect = done(r.evaluate(b"HTTP/1.1 302 Found\r\n\r\n", false, false));
        assert_eq!(redirect.status, CheckStatus::L7Ok);
        let bad = done(r.evaluate(UNAVAIL, false, false));
        assert_eq!(bad.status, CheckStatus::L7Sts);
        assert_eq!(bad.code, 503);
        assert_eq!(bad.info, "Service Unavailable");
        assert_eq!(
            done(r.evaluate(b"HTTP/1.1 404 Not Found\r\n\r\n", true, false)).code,
            404
        );
    }

    #[test]
    fn status_ranges_and_inversion() {
        let r = rule(false, HttpExpectMatch::Status(vec![(200, 200), (503, 503)]));
        assert!(done(r.evaluate(UNAVAIL, false, false)).passed());
        assert!(!done(r.evaluate(b"HTTP/1.1 204 No Content\r\n\r\n", false, false)).passed());
        let inv = rule(true, HttpExpectMatch::Status(vec![(500, 599)]));
        let r503 = done(inv.evaluate(UNAVAIL, false, false));
        assert_eq!(r503.status, CheckStatus::L7Sts);
        assert!(done(inv.evaluate(OK, false, false)).passed());
    }

    #[test]
    fn rstatus_matches_the_code_text() {
        let r = rule(false, HttpExpectMatch::RStatus("^2".into()));
        assert!(done(r.evaluate(OK, false, false)).passed());
        let fail = done(r.evaluate(UNAVAIL, false, false));
        assert_eq!((fail.status, fail.code), (CheckStatus::L7Sts, 503));
    }

    #[test]
    fn string_waits_for_the_body_then_matches() {
        let r = rule(false, HttpExpectMatch::String("alive".into()));
        assert_eq!(
            r.evaluate(&OK[..OK.len() - 2], false, false),
            HttpVerdict::NeedMore
        );
        let ok = done(r.evaluate(OK, false, false));
        assert_eq!((ok.status, ok.code), (CheckStatus::L7Ok, 200));
        // Close-delimited body: waits for EOF before concluding a mismatch.
        let other = b"HTTP/1.0 200 OK\r\n\r\nsomething else";
        assert_eq!(r.evaluate(other, false, false), HttpVerdict::NeedMore);
        let fail = done(r.evaluate(other, true, false));
        assert_eq!(fail.status, CheckStatus::L7Rsp);
        assert_eq!(fail.info, "HTTP content check did not match");
    }

    #[test]
    fn inverted_string_reports_unwanted_content() {
        let r = rule(true, HttpExpectMatch::String("maintenance".into()));
        let fail = done(r.evaluate(UNAVAIL, true, false));
        assert_eq!(fail.status, CheckStatus::L7Rsp);
        assert_eq!(fail.info, "HTTP check matched unwanted content");
        assert!(done(r.evaluate(OK, false, false)).passed());
    }

    #[test]
    fn rstring_on_chunked_body() {
        let r = rule(false, HttpExpectMatch::RString("^al+ive$".into()));
        let chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nall\r\n3\r\nive\r\n0\r\n\r\n";
        assert!(done(r.evaluate(chunked, false, false)).passed());
        let partial = &chunked[..chunked.len() - 12];
        assert_eq!(r.evaluate(partial, false, false), HttpVerdict::NeedMore);
        let bad = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n";
        assert_eq!(
            done(r.evaluate(bad, false, false)).status,
            CheckStatus::L7Rsp
        );
    }

    #[test]
    fn missing_body_is_reported() {
        let r = rule(false, HttpExpectMatch::String("x".into()));
        let empty = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
        let fail = done(r.evaluate(empty, false, false));
        assert_eq!(
            fail.info,
            "HTTP content check could not find a response body"
        );
        // A HEAD response has no body whatever Content-Length says.
        let head = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n";
        assert_eq!(
            done(r.evaluate(head, false, true)).info,
            "HTTP content check could not find a response body"
        );
    }

    #[test]
    fn interim_responses_are_skipped() {
        let r = HttpExpectRule::compile(None).unwrap();
        let resp = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n\r\n";
        assert_eq!(done(r.evaluate(resp, false, false)).code, 200);
    }

    #[test]
    fn invalid_and_truncated_responses() {
        let r = HttpExpectRule::compile(None).unwrap();
        for bad in [
            &b"SSH-2.0-OpenSSH\r\n\r\n"[..],
            b"HTTP/1.1 20 OK\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
        ] {
            let res = done(r.evaluate(bad, false, false));
            assert_eq!(
                (res.status, res.info.as_str()),
                (CheckStatus::L7Rsp, ""),
                "{bad:?}"
            );
        }
        assert_eq!(
            r.evaluate(b"HTTP/1.1 200 OK\r\n", false, false),
            HttpVerdict::NeedMore
        );
        assert_eq!(
            done(r.evaluate(b"HTTP/1.1 200 OK\r\n", true, false)).status,
            CheckStatus::L7Rsp
        );
    }

    #[test]
    fn bare_lf_and_missing_reason_are_accepted() {
        let r = HttpExpectRule::compile(None).unwrap();
        let res = done(r.evaluate(b"HTTP/1.1 200\nServer: x\n\n", false, false));
        assert_eq!((res.status, res.code), (CheckStatus::L7Ok, 200));
    }

    #[test]
    fn bad_regex_is_an_error() {
        assert!(
            HttpExpectRule::compile(Some(&HttpExpect {
                inverted: false,
                matcher: HttpExpectMatch::RString("(".into()),
            }))
            .is_err()
        );
    }
}
