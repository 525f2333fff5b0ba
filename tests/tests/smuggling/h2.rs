//! The HTTP/2 -> HTTP/1.1 downgrade cases, sent as raw h2c frames.

use lb_tests::h2raw::H2Request;

use super::{Expect, H2Case, SMUGGLED, nth, one, one_hello, run_all_h2, zero_chunk_then_smuggled};

fn h2(name: &'static str, req: H2Request, expect: Expect) -> H2Case {
    H2Case { name, req, expect }
}

const H2_REFUSED: Expect = Expect::Reject(&[400]);

#[test]
fn h2_downgrade_cases() {
    let get = H2Request::get;
    run_all_h2(&[
        h2(
            "valid GET",
            get("/ok"),
            Expect::Forward(|r| {
                one(r)?;
                let q = nth(r, 0)?;
                if q.target == "/ok" && q.header("host") == Some("test") {
                    Ok(())
                } else {
                    Err(format!("{q:?}"))
                }
            }),
        ),
        h2(
            "valid POST with content-length",
            H2Request::new("POST", "/p")
                .field(b"content-length", b"5")
                .data(b"hello"),
            Expect::Forward(one_hello),
        ),
        h2(
            "POST without content-length, two DATA frames",
            H2Request::new("POST", "/p").data(b"hel").data(b"lo"),
            Expect::Forward(one_hello),
        ),
        h2(
            "te: trailers",
            get("/").field(b"te", b"trailers"),
            Expect::Forward(one),
        ),
        h2(
            "uppercase header name",
            get("/").field(b"X-Upper", b"a"),
            H2_REFUSED,
        ),
        h2(
            "connection header",
            get("/").field(b"connection", b"keep-alive"),
            H2_REFUSED,
        ),
        h2(
            "transfer-encoding: chunked with a smuggled request in DATA",
            H2Request::new("POST", "/")
                .field(b"transfer-encoding", b"chunked")
                .data(zero_chunk_then_smuggled().as_bytes()),
            H2_REFUSED,
        ),
        h2(
            "keep-alive header",
            get("/").field(b"keep-alive", b"timeout=5"),
            H2_REFUSED,
        ),
        h2(
            "proxy-connection header",
            get("/").field(b"proxy-connection", b"keep-alive"),
            Expect::Either(&[400], |r| {
                one(r)?;
                match nth(r, 0)?.header("proxy-connection") {
                    None => Ok(()),
                    Some(v) => Err(format!("proxy-connection: {v} forwarded")),
                }
            }),
        ),
        h2("te: gzip", get("/").field(b"te", b"gzip"), H2_REFUSED),
        h2(
            "upgrade header",
            get("/").field(b"upgrade", b"websocket"),
            H2_REFUSED,
        ),
        h2(
            "pseudo-header after a regular header",
            H2Request {
                fields: vec![
                    (b":method".to_vec(), b"GET".to_vec()),
                    (b":scheme".to_vec(), b"http".to_vec()),
                    (b"x-a".to_vec(), b"a".to_vec()),
                    (b":path".to_vec(), b"/".to_vec()),
                    (b":authority".to_vec(), b"test".to_vec()),
                ],
                data: Vec::new(),
            },
            H2_REFUSED,
        ),
        h2("missing :method", get("/").without(b":method"), H2_REFUSED),
        h2("missing :path", get("/").without(b":path"), H2_REFUSED),
        h2(
            "duplicate :path",
            get("/").field(b":path", b"/other"),
            H2_REFUSED,
        ),
        h2(
            "unknown pseudo-header",
            get("/").field(b":foo", b"bar"),
            H2_REFUSED,
        ),
        h2(
            "content-length larger than DATA",
            H2Request::new("POST", "/")
                .field(b"content-length", b"10")
                .data(b"hello"),
            H2_REFUSED,
        ),
        h2(
            "content-length 0 with a smuggled request in DATA",
            H2Request::new("POST", "/")
                .field(b"content-length", b"0")
                .data(SMUGGLED.as_bytes()),
            H2_REFUSED,
        ),
        h2("CR in a value", get("/").field(b"x-a", b"a\rb"), H2_REFUSED),
        h2(
            "LF in a value (header injection)",
            get("/").field(b"x-a", b"a\r\nTransfer-Encoding: chunked"),
            H2_REFUSED,
        ),
        h2(
            "NUL in a value",
            get("/").field(b"x-a", b"a\0b"),
            H2_REFUSED,
        ),
        h2("space in a name", get("/").field(b"x a", b"b"), H2_REFUSED),
        h2("colon in a name", get("/").field(b"x:a", b"b"), H2_REFUSED),
        h2(
            "space in :path",
            get("/a b HTTP/1.1\r\nX: y"),
            Expect::Reject(&[400]),
        ),
        h2(
            "space in :method",
            H2Request::new("GET /smuggled", "/"),
            Expect::Reject(&[400]),
        ),
    ]);
}
