//! The request-smuggling corpus: raw HTTP/1.x requests and raw h2c frames that try to make
//! the proxy and the server disagree on where a request ends, each sent through a real proxy
//! to a real backend whose parser is strict ([`HttpBackend`]: one framing, CRLF only, token
//! names, no control characters), which records every request and every byte it receives.
//!
//! For every case:
//! * the expected outcome holds: refused with one of the listed statuses (nothing complete
//!   reaches the backend), or forwarded in a normalized form the case checks exactly;
//! * the backend never sees more requests than the client meant to send, never a request its
//!   strict parser refuses (the proxy forwarded a framing or a syntax the server could read
//!   differently), never `/smuggled` as a request of its own unless the client sent it as one;
//! * a probe request on a new connection afterwards reaches the backend intact (a poisoned
//!   pooled server connection would prefix it with leftover bytes).
//!
//! `Expect::Reject` and `Expect::Forward` are HAProxy 2.6's behaviour (the file passes with
//! `LB_BIN=tests/reference/haproxy-as-lb`). `Expect::Either` marks where lb may be stricter
//! than HAProxy 2.6, which forwards something RFC 9112 lets a server refuse: refusing and
//! normalizing safely both pass. Set `SMUGGLE_REPORT=1` to print what each case produced.
mod smuggling;

use smuggling::{
    BAD, BAD_OR_CLOSED, BAD_OR_NOT_IMPL, Expect, SMUGGLED, TOO_LONG, b, body_abc, body_is, case,
    cl_and_te, cl_of, count_is, get, nth, one, one_empty, one_hello, post, run_all, targets,
    te_wins, zero_chunk_then_smuggled,
};

// ----- the corpus ------------------------------------------------------------------------

#[test]
fn content_length_and_transfer_encoding_conflicts() {
    let te_cl_body = "3\r\nabc\r\n0\r\n\r\n";
    run_all(&[
        case(
            "CL.TE: Content-Length then chunked",
            cl_and_te("Transfer-Encoding: chunked\r\n"),
            2,
            Expect::Either(BAD, te_wins),
        ),
        case(
            "TE.CL: chunked then a short Content-Length",
            post(
                "Transfer-Encoding: chunked\r\nContent-Length: 3\r\n",
                te_cl_body,
            ),
            1,
            Expect::Either(BAD, body_abc),
        ),
        case(
            "TE.CL: Content-Length 0 with a chunked body",
            post(
                "Content-Length: 0\r\nTransfer-Encoding: chunked\r\n",
                &format!("5\r\nhello\r\n0\r\n\r\n{SMUGGLED}"),
            ),
            2,
            Expect::Either(BAD, |r| {
                body_is(nth(r, 0)?, b"hello")?;
                if r.len() > 1 && nth(r, 1)?.target != "/smuggled" {
                    return Err("second request is not /smuggled".into());
                }
                Ok(())
            }),
        ),
        case(
            "chunked in HTTP/1.0",
            format!(
                "POST / HTTP/1.0\r\nHost: test\r\nTransfer-Encoding: chunked\r\n{}\r\n{}",
                cl_of(&zero_chunk_then_smuggled()),
                zero_chunk_then_smuggled()
            )
            .into_bytes(),
            1,
            Expect::Either(BAD, |r| body_is(nth(r, 0)?, b"")),
        ),
    ]);
}

#[test]
fn transfer_encoding_obfuscations() {
    run_all(&[
        case(
            "TE: xchunked",
            cl_and_te("Transfer-Encoding: xchunked\r\n"),
            1,
            Expect::Reject(BAD_OR_NOT_IMPL),
        ),
        case(
            "TE: extra leading space (plain OWS, still chunked)",
            cl_and_te("Transfer-Encoding:   chunked\r\n"),
            2,
            Expect::Either(BAD, te_wins),
        ),
        case(
            "TE: chunked, identity (chunked not last)",
            cl_and_te("Transfer-Encoding: chunked, identity\r\n"),
            1,
            Expect::Reject(BAD_OR_NOT_IMPL),
        ),
        case(
            "TE: identity, chunked",
            cl_and_te("Transfer-Encoding: identity, chunked\r\n"),
            2,
            Expect::Either(BAD_OR_NOT_IMPL, te_wins),
        ),
        case(
            "TE: space before the colon",
            cl_and_te("Transfer-Encoding : chunked\r\n"),
            1,
            Expect::Reject(BAD),
        ),
        case(
            "TE: tab before the colon",
            cl_and_te("Transfer-Encoding\t: chunked\r\n"),
            1,
            Expect::Reject(BAD),
        ),
        case(
            "TE: duplicate chunked headers",
            cl_and_te("Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n"),
            1,
            Expect::Reject(BAD_OR_NOT_IMPL),
        ),
        case(
            "TE: chunked then identity headers",
            cl_and_te("Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n"),
            1,
            Expect::Reject(BAD_OR_NOT_IMPL),
        ),
        case(
            "TE: vertical tab in the name",
            cl_and_te("Transfer-Encoding\x0b: chunked\r\n"),
            1,
            Expect::Reject(BAD),
        ),
        case(
            "TE: vertical tab before the value",
            cl_and_te("Transfer-Encoding: \x0bchunked\r\n"),
            1,
            Expect::Reject(BAD_OR_NOT_IMPL),
        ),
        case(
            "TE: uppercase (case-insensitive, still chunked)",
            cl_and_te("TRANSFER-ENCODING: CHUNKED\r\n"),
            2,
            Expect::Either(BAD, te_wins),
        ),
        case(
            "TE: quoted \"chunked\"",
            cl_and_te("Transfer-Encoding: \"chunked\"\r\n"),
            1,
            Expect::Reject(BAD_OR_NOT_IMPL),
        ),
        case(
            "TE: obs-folded value",
            cl_and_te("Transfer-Encoding:\r\n chunked\r\n"),
            2,
            Expect::Either(BAD, te_wins),
        ),
        case(
            "TE: gzip, chunked (no CL: a legitimate coding list)",
            post(
                "Transfer-Encoding: gzip, chunked\r\n",
                "3\r\nabc\r\n0\r\n\r\n",
            ),
            1,
            Expect::Either(BAD_OR_NOT_IMPL, body_abc),
        ),
    ]);
}

#[test]
fn content_length_tricks() {
    run_all(&[
        case(
            "CL: 5, 5 in one header",
            post("Content-Length: 5, 5\r\n", "hello"),
            1,
            Expect::Either(BAD, one_hello),
        ),
        case(
            "CL: 5 twice",
            post("Content-Length: 5\r\nContent-Length: 5\r\n", "hello"),
            1,
            Expect::Either(BAD, one_hello),
        ),
        case(
            "CL: 5, 6 in one header",
            post("Content-Length: 5, 6\r\n", "hello!"),
            1,
            Expect::Reject(BAD),
        ),
        case(
            "CL: 5 then 6",
            post("Content-Length: 5\r\nContent-Length: 6\r\n", "hello!"),
            1,
            Expect::Reject(BAD),
        ),
        case(
            "CL: +5",
            post("Content-Length: +5\r\n", "hello"),
            1,
            Expect::Reject(BAD),
        ),
        case(
            "CL: 0x5",
            post("Content-Length: 0x5\r\n", "hello"),
            1,
            Expect::Reject(BAD),
        ),
        case(
            "CL: -1",
            post("Content-Length: -1\r\n", "hello"),
            1,
            Expect::Reject(BAD),
        ),
        case(
            "CL: 20 digits, over 2^64",
            post("Content-Length: 99999999999999999999\r\n", "hello"),
            1,
            Expect::Reject(BAD),
        ),
        case(
            // HAProxy 2.6's overflow check misses 2^64 * 10 and forwards it as is.
            "CL: 21 digits wrapping 2^64",
            post("Content-Length: 184467440737095516160\r\n", "hello"),
            1,
            Expect::Stricter(BAD),
        ),
        case(
            "CL: empty",
            post("Content-Length: \r\n", "hello"),
            1,
            Expect::Reject(BAD),
        ),
        case(
            "CL: 5 5 (space inside)",
            post("Content-Length: 5 5\r\n", "hello"),
            1,
            Expect::Reject(BAD),
        ),
        case(
            "CL: 005 (leading zeros are digits)",
            post("Content-Length: 005\r\n", "hello"),
            1,
            Expect::Either(BAD, one_hello),
        ),
    ]);
}

#[test]
fn chunk_size_tricks() {
    let chunked = |body: &str| post("Transfer-Encoding: chunked\r\n", body);
    run_all(&[
        case(
            "chunk: 0x5",
            chunked("0x5\r\nhello\r\n0\r\n\r\n"),
            1,
            Expect::Reject(BAD_OR_CLOSED),
        ),
        case(
            "chunk: leading space",
            chunked(" 5\r\nhello\r\n0\r\n\r\n"),
            1,
            Expect::Reject(BAD_OR_CLOSED),
        ),
        case(
            "chunk: -5",
            chunked("-5\r\nhello\r\n0\r\n\r\n"),
            1,
            Expect::Reject(BAD_OR_CLOSED),
        ),
        case(
            "chunk: size overflowing 64 bits",
            chunked("1FFFFFFFFFFFFFFFF\r\nhello\r\n0\r\n\r\n"),
            1,
            Expect::Reject(BAD_OR_CLOSED),
        ),
        case(
            "chunk: overlong hex with leading zeros",
            chunked("00000000000000000005\r\nhello\r\n0\r\n\r\n"),
            1,
            Expect::Either(BAD_OR_CLOSED, one_hello),
        ),
        case(
            "chunk: extension with a bare CR",
            chunked("5;a=\rb\r\nhello\r\n0\r\n\r\n"),
            1,
            Expect::Reject(BAD_OR_CLOSED),
        ),
        case(
            // Read leniently (LF ends the line), the client sent two requests.
            "chunk: extension ended by a bare LF",
            chunked(&format!("5;a=b\nhello\r\n0\r\n\r\n{SMUGGLED}")),
            2,
            Expect::Either(BAD_OR_CLOSED, |r| {
                body_is(nth(r, 0)?, b"hello")?;
                match r.get(1) {
                    Some(q) if q.target != "/smuggled" => Err(format!("then {}", q.target)),
                    _ => Ok(()),
                }
            }),
        ),
        case(
            "chunk: valid extension",
            chunked("5;name=value\r\nhello\r\n0\r\n\r\n"),
            1,
            Expect::Forward(one_hello),
        ),
        case(
            "chunk: data not followed by CRLF",
            chunked(&format!("5\r\nhelloXX0\r\n\r\n{SMUGGLED}")),
            1,
            Expect::Reject(BAD_OR_CLOSED),
        ),
        case(
            "chunk: size shorter than the data",
            chunked("3\r\nhello\r\n0\r\n\r\n"),
            1,
            Expect::Reject(BAD_OR_CLOSED),
        ),
        case(
            "chunk: bare LF line endings in the body",
            chunked("5\nhello\n0\n\n"),
            1,
            Expect::Either(BAD_OR_CLOSED, one_hello),
        ),
        case(
            "chunk: trailer section",
            chunked("5\r\nhello\r\n0\r\nX-Trailer: t\r\n\r\n"),
            1,
            Expect::Forward(one_hello),
        ),
    ]);
}

#[test]
fn header_syntax_tricks() {
    run_all(&[
        case(
            "obs-fold in a value",
            get("X-Folded: a\r\n b\r\n"),
            1,
            Expect::Either(BAD, |r| {
                one(r)?;
                match nth(r, 0)?.header("x-folded") {
                    Some(v) if v.replace([' ', '\t'], "") == "ab" => Ok(()),
                    other => Err(format!("x-folded arrived as {other:?}")),
                }
            }),
        ),
        case(
            "obs-fold on the first header line",
            b("GET / HTTP/1.1\r\n Host: test\r\n\r\n"),
            1,
            Expect::Reject(BAD),
        ),
        case(
            "bare CR inside a value",
            get("X-A: a\rb\r\n"),
            1,
            Expect::Reject(BAD),
        ),
        case(
            "bare LF line endings",
            b("GET / HTTP/1.1\nHost: test\nX-A: a\n\n"),
            1,
            Expect::Either(BAD, one),
        ),
        case(
            "bare CR line endings",
            b("GET / HTTP/1.1\rHost: test\rX-A: a\r\r\n"),
            1,
            Expect::Reject(BAD_OR_CLOSED),
        ),
        case(
            // HAProxy 2.6 forwards the NUL to the server.
            "NUL inside a value",
            get("X-A: a\0b\r\n"),
            1,
            Expect::Stricter(BAD),
        ),
        case(
            "DEL inside a value",
            get("X-A: a\x7fb\r\n"),
            1,
            Expect::Stricter(BAD),
        ),
        case(
            "space inside a name",
            get("X A: b\r\n"),
            1,
            Expect::Reject(BAD),
        ),
        case("empty name", get(": b\r\n"), 1, Expect::Reject(BAD)),
        case(
            "non-token character in a name",
            get("X(A): b\r\n"),
            1,
            Expect::Reject(BAD),
        ),
        case(
            "high-bit byte in a name",
            get("X\u{e9}A: b\r\n"),
            1,
            Expect::Reject(BAD),
        ),
        case(
            "line without a colon",
            get("X-A b\r\n"),
            1,
            Expect::Reject(BAD),
        ),
    ]);
}

#[test]
fn request_line_and_host_tricks() {
    run_all(&[
        case(
            "invalid method character",
            b("G(T / HTTP/1.1\r\nHost: test\r\n\r\n"),
            1,
            Expect::Reject(BAD),
        ),
        case(
            "space inside the URI",
            b("GET /a b HTTP/1.1\r\nHost: test\r\n\r\n"),
            1,
            Expect::Reject(BAD),
        ),
        case(
            "control character inside the URI",
            b("GET /a\x01b HTTP/1.1\r\nHost: test\r\n\r\n"),
            1,
            Expect::Reject(BAD),
        ),
        case(
            "fragment in the URI",
            b("GET /a#frag HTTP/1.1\r\nHost: test\r\n\r\n"),
            1,
            Expect::Either(BAD, |r| {
                one(r)?;
                let t = &nth(r, 0)?.target;
                if t == "/a" || t == "/a#frag" {
                    Ok(())
                } else {
                    Err(format!("target arrived as {t}"))
                }
            }),
        ),
        case(
            "absolute-form whose authority differs from Host",
            b("GET http://other.example/x HTTP/1.1\r\nHost: test\r\n\r\n"),
            1,
            Expect::Either(BAD, |r| {
                one(r)?;
                // Forwarded only if the server cannot see two different hosts.
                let q = nth(r, 0)?;
                let host = q.header("host").unwrap_or("");
                if host == "other.example" && !q.target.contains("test") {
                    Ok(())
                } else {
                    Err(format!("host {host:?}, target {}", q.target))
                }
            }),
        ),
        case(
            "absolute-form matching Host",
            b("GET http://test/x HTTP/1.1\r\nHost: test\r\n\r\n"),
            1,
            Expect::Forward(|r| {
                one(r)?;
                let q = nth(r, 0)?;
                if q.header("host") == Some("test") && q.target.ends_with("/x") {
                    Ok(())
                } else {
                    Err(format!("{q:?}"))
                }
            }),
        ),
        case(
            "HTTP/0.9 request",
            b("GET /\r\n\r\n"),
            1,
            Expect::Reject(BAD_OR_CLOSED),
        ),
        case(
            "unknown protocol version token",
            b("GET / HTTX/1.1\r\nHost: test\r\n\r\n"),
            1,
            Expect::Reject(BAD),
        ),
        case(
            "HTTP/1.1 without Host",
            b("GET / HTTP/1.1\r\nX-A: a\r\n\r\n"),
            1,
            Expect::Either(BAD, one),
        ),
        case(
            "two different Host headers",
            b("GET / HTTP/1.1\r\nHost: test\r\nHost: other\r\n\r\n"),
            1,
            Expect::Either(BAD, |r| {
                one(r)?;
                let hosts = nth(r, 0)?.headers_named("host");
                if hosts.len() == 1 {
                    Ok(())
                } else {
                    Err(format!("the server got hosts {hosts:?}"))
                }
            }),
        ),
        case(
            "two spaces after the method",
            b("GET  / HTTP/1.1\r\nHost: test\r\n\r\n"),
            1,
            Expect::Either(BAD, one),
        ),
        case(
            "empty lines before the request line",
            b("\r\n\r\nGET / HTTP/1.1\r\nHost: test\r\n\r\n"),
            1,
            Expect::Either(BAD, one),
        ),
    ]);
}

#[test]
fn size_limits() {
    let long_uri = format!("/{}", "a".repeat(20_000));
    let big_header = format!("X-Big: {}\r\n", "b".repeat(20_000));
    let many = |n: usize| (0..n).map(|i| format!("X-H{i}: v\r\n")).collect::<String>();
    run_all(&[
        case(
            "request line over tune.bufsize",
            format!("GET {long_uri} HTTP/1.1\r\nHost: test\r\n\r\n").into_bytes(),
            1,
            Expect::Reject(TOO_LONG),
        ),
        case(
            "header over tune.bufsize",
            get(&big_header),
            1,
            Expect::Reject(TOO_LONG),
        ),
        case(
            "more headers than tune.http.maxhdr (101)",
            get(&many(150)),
            1,
            Expect::Reject(TOO_LONG),
        ),
        case(
            "8 KiB URI (under the limit)",
            format!("GET /{} HTTP/1.1\r\nHost: test\r\n\r\n", "u".repeat(8000)).into_bytes(),
            1,
            Expect::Forward(|r| {
                one(r)?;
                let len = nth(r, 0)?.target.len();
                if len == 8001 {
                    Ok(())
                } else {
                    Err(format!("target of {len} bytes"))
                }
            }),
        ),
        case(
            "80 headers (under the limit)",
            get(&many(80)),
            1,
            Expect::Forward(|r| {
                one(r)?;
                let n = nth(r, 0)?.headers_named("x-h79").len();
                if n == 1 {
                    Ok(())
                } else {
                    Err("x-h79 missing".into())
                }
            }),
        ),
    ]);
}

#[test]
fn pipelined_requests_arrive_as_sent() {
    let three = "GET /1 HTTP/1.1\r\nHost: test\r\n\r\nGET /2 HTTP/1.1\r\nHost: test\r\n\r\n\
                 GET /3 HTTP/1.1\r\nHost: test\r\n\r\n";
    run_all(&[
        case(
            "three pipelined GETs",
            b(three),
            3,
            Expect::Forward(|r| {
                let t = targets(r);
                if t == ["GET /1", "GET /2", "GET /3"] {
                    Ok(())
                } else {
                    Err(format!("{t:?}"))
                }
            }),
        ),
        case(
            "POST with Content-Length then GET",
            b(
                "POST /p HTTP/1.1\r\nHost: test\r\nContent-Length: 5\r\n\r\nhello\
                 GET /g HTTP/1.1\r\nHost: test\r\n\r\n",
            ),
            2,
            Expect::Forward(|r| {
                count_is(r, 2)?;
                body_is(nth(r, 0)?, b"hello")?;
                if nth(r, 1)?.target == "/g" {
                    Ok(())
                } else {
                    Err(format!("{:?}", targets(r)))
                }
            }),
        ),
        case(
            "chunked POST then GET",
            b(
                "POST /p HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n\
                 5\r\nhello\r\n0\r\n\r\nGET /g HTTP/1.1\r\nHost: test\r\n\r\n",
            ),
            2,
            Expect::Forward(|r| {
                count_is(r, 2)?;
                body_is(nth(r, 0)?, b"hello")?;
                if nth(r, 1)?.target == "/g" {
                    Ok(())
                } else {
                    Err(format!("{:?}", targets(r)))
                }
            }),
        ),
        case(
            "GET with a body then GET",
            b(
                "GET /a HTTP/1.1\r\nHost: test\r\nContent-Length: 5\r\n\r\nhello\
                 GET /b HTTP/1.1\r\nHost: test\r\n\r\n",
            ),
            2,
            Expect::Forward(|r| {
                count_is(r, 2)?;
                body_is(nth(r, 0)?, b"hello")
            }),
        ),
        case("plain GET", get(""), 1, Expect::Forward(one_empty)),
    ]);
}
