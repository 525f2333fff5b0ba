use std::io::Read;

use bytes::BytesMut;
use http_body_util::BodyExt;

use super::*;

fn cfg(algos: &[CompAlgo], types: &[&str], offload: bool) -> CompressionCfg {
    CompressionCfg {
        algos: algos.to_vec(),
        types: types.iter().map(|t| (*t).to_owned()).collect(),
        offload,
    }
}

fn req(headers: &[(&str, &str)]) -> http::request::Parts {
    let mut b = http::Request::builder().uri("/");
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    b.body(()).unwrap().into_parts().0
}

fn res(status: u16, headers: &[(&str, &str)]) -> http::response::Parts {
    let mut b = http::Response::builder().status(status);
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    b.body(()).unwrap().into_parts().0
}

use CompAlgo::{Brotli, Deflate, Gzip, Identity, RawDeflate, Zstd};

#[test]
fn negotiation_table() {
    let both = cfg(&[Gzip, Deflate], &[], false);
    let cases: &[(&[CompAlgo], &str, Option<CompAlgo>)] = &[
        (&[Gzip, Deflate], "gzip", Some(Gzip)),
        (&[Gzip, Deflate], "deflate", Some(Deflate)),
        (&[Gzip, Deflate], "gzip, deflate", Some(Gzip)),
        (&[Gzip, Deflate], "deflate, gzip", Some(Deflate)),
        (&[Gzip, Deflate], "gzip;q=0.5, deflate", Some(Deflate)),
        (&[Gzip, Deflate], "gzip;q=0, deflate;q=0", None),
        (&[Gzip, Deflate], "gzip;q=0", None),
        (&[Gzip, Deflate], "GZIP", Some(Gzip)),
        (&[Gzip, Deflate], "br", None),
        (&[Gzip, Deflate], "", None),
        // `*` takes the last configured algorithm (HAProxy prepends to its list).
        (&[Gzip, Deflate], "*", Some(Deflate)),
        (&[Gzip], "*;q=0.1, gzip;q=0", Some(Gzip)),
        (&[Gzip, Deflate], "identity, gzip;q=0.8", Some(Gzip)),
        (
            &[Gzip, Deflate],
            "gzip ; foo=bar ; q=0.2, deflate;q=0.1",
            Some(Gzip),
        ),
        (&[RawDeflate], "deflate", Some(RawDeflate)),
        (&[Gzip, Brotli, Zstd], "gzip, br, zstd", Some(Gzip)),
        (&[Gzip, Brotli, Zstd], "br;q=1.0, gzip;q=0.9", Some(Brotli)),
        (&[Gzip, Brotli, Zstd], "zstd", Some(Zstd)),
        // Identity is chosen without any header.
        (&[Gzip, Identity], "", Some(Identity)),
        (&[Gzip, Identity], "gzip", Some(Gzip)),
    ];
    for (algos, ae, want) in cases {
        let c = cfg(algos, &[], false);
        let mut r = if ae.is_empty() {
            req(&[])
        } else {
            req(&[("accept-encoding", ae)])
        };
        assert_eq!(negotiate(Some(&c), None, &mut r), *want, "{algos:?} {ae:?}");
    }
    // Two Accept-Encoding headers count as one list.
    let mut r = req(&[
        ("accept-encoding", "deflate;q=0.1"),
        ("accept-encoding", "gzip"),
    ]);
    assert_eq!(negotiate(Some(&both), None, &mut r), Some(Gzip));
    // Nothing configured.
    let mut r = req(&[("accept-encoding", "gzip")]);
    assert_eq!(negotiate(None, None, &mut r), None);
}

#[test]
fn backend_wins_and_offload_strips_the_header() {
    let fe = cfg(&[Gzip], &[], false);
    let be = cfg(&[Deflate], &[], true);
    let mut r = req(&[("accept-encoding", "gzip, deflate")]);
    assert_eq!(negotiate(Some(&fe), Some(&be), &mut r), Some(Deflate));
    assert!(r.headers.get("accept-encoding").is_none());
    // No algorithm chosen: the header stays.
    let mut r = req(&[("accept-encoding", "br")]);
    assert_eq!(negotiate(Some(&fe), Some(&be), &mut r), None);
    assert!(r.headers.get("accept-encoding").is_some());
    // Without offload the header stays.
    let mut r = req(&[("accept-encoding", "gzip")]);
    assert_eq!(negotiate(Some(&fe), None, &mut r), Some(Gzip));
    assert!(r.headers.get("accept-encoding").is_some());
}

#[test]
fn old_mozilla_4_agents_get_nothing() {
    let c = cfg(&[Gzip], &[], false);
    for (ua, want) in [
        ("Mozilla/4.0 (compatible; MSIE 5.5; Windows 98)", None),
        ("Mozilla/4.0 (compatible; MSIE 6.0; Windows NT 5.1)", None),
        (
            "Mozilla/4.0 (compatible; MSIE 6.0; Windows NT 5.1; SV1)",
            Some(Gzip),
        ),
        (
            "Mozilla/4.0 (compatible; MSIE 7.0; Windows NT 6.0)",
            Some(Gzip),
        ),
        ("Mozilla/5.0 (X11; Linux x86_64)", Some(Gzip)),
        ("curl/8.0", Some(Gzip)),
    ] {
        let mut r = req(&[("accept-encoding", "gzip"), ("user-agent", ua)]);
        assert_eq!(negotiate(Some(&c), None, &mut r), want, "{ua}");
    }
}

#[test]
fn qvalues() {
    for (s, q) in [
        ("1", 1000),
        ("1.0", 1000),
        ("0", 0),
        ("0.5", 500),
        ("0.25", 250),
        ("0.001", 1),
        ("0.", 0),
        ("x", 0),
    ] {
        assert_eq!(parse_qvalue(s.as_bytes()), q, "{s}");
    }
}

#[test]
fn response_conditions() {
    let any = cfg(&[Gzip], &[], false);
    let html = cfg(&[Gzip], &["text/html", "application/json"], false);
    let get = Method::GET;
    let head = Method::HEAD;
    let r11 = RequestInfo {
        method: &get,
        version: Version::HTTP_11,
    };
    let ok = |c: &CompressionCfg, r: RequestInfo<'_>, p: &http::response::Parts| {
        response_allows(None, Some(c), r, p)
    };
    let cl = ("content-length", "10");
    assert!(ok(&any, r11, &res(200, &[cl])));
    assert!(ok(&any, r11, &res(203, &[cl])));
    assert!(!ok(&any, r11, &res(204, &[cl])));
    assert!(!ok(&any, r11, &res(206, &[cl])));
    assert!(!ok(&any, r11, &res(404, &[cl])));
    assert!(ok(
        &any,
        r11,
        &res(200, &[("transfer-encoding", "chunked")])
    ));
    assert!(!ok(&any, r11, &res(200, &[])), "close-delimited body");
    let mut h2 = res(200, &[]);
    h2.version = Version::HTTP_2;
    assert!(ok(&any, r11, &h2), "HTTP/2 always frames its body");
    let r_head = RequestInfo {
        method: &head,
        ..r11
    };
    assert!(!ok(&any, r_head, &res(200, &[cl])));
    let r10 = RequestInfo {
        version: Version::HTTP_10,
        ..r11
    };
    assert!(!ok(&any, r10, &res(200, &[cl])));
    let mut old = res(200, &[cl]);
    old.version = Version::HTTP_10;
    assert!(!ok(&any, r11, &old));
    assert!(!ok(&any, r11, &res(200, &[cl, ("content-encoding", "br")])));
    assert!(!ok(
        &any,
        r11,
        &res(200, &[cl, ("cache-control", "public, no-transform")])
    ));
    assert!(ok(
        &any,
        r11,
        &res(200, &[cl, ("cache-control", "no-cache")])
    ));
    assert!(ok(&any, r11, &res(200, &[cl, ("etag", "\"abc\"")])));
    assert!(ok(&any, r11, &res(200, &[cl, ("etag", "W/\"abc\"")])));
    assert!(!ok(&any, r11, &res(200, &[cl, ("etag", "abc")])));
    assert!(!ok(
        &any,
        r11,
        &res(200, &[cl, ("etag", "\"a\""), ("etag", "\"b\"")])
    ));
    assert!(!ok(
        &any,
        r11,
        &res(200, &[cl, ("content-type", "multipart/form-data")])
    ));
    assert!(ok(
        &html,
        r11,
        &res(200, &[cl, ("content-type", "text/html; charset=utf-8")])
    ));
    assert!(ok(
        &html,
        r11,
        &res(200, &[cl, ("content-type", "Application/JSON")])
    ));
    assert!(!ok(
        &html,
        r11,
        &res(200, &[cl, ("content-type", "image/png")])
    ));
    assert!(
        !ok(&html, r11, &res(200, &[cl])),
        "a type list requires a Content-Type"
    );
    // The frontend's types apply when the backend has none.
    let fe_types = cfg(&[], &["text/plain"], false);
    let p = res(200, &[cl, ("content-type", "text/html")]);
    assert!(!response_allows(Some(&fe_types), Some(&any), r11, &p));
}

#[test]
fn header_edits() {
    let mut p = res(
        200,
        &[
            ("content-length", "10"),
            ("etag", "\"v1\""),
            ("vary", "Cookie"),
        ],
    );
    apply_headers(Gzip, &mut p);
    assert_eq!(p.headers["content-encoding"], "gzip");
    assert!(p.headers.get("content-length").is_none());
    assert_eq!(p.headers["etag"], "W/\"v1\"");
    let vary: Vec<_> = p.headers.get_all("vary").iter().collect();
    assert_eq!(vary, ["Cookie", "Accept-Encoding"]);
    let mut p = res(200, &[("etag", "W/\"v1\"")]);
    apply_headers(RawDeflate, &mut p);
    assert_eq!(p.headers["content-encoding"], "deflate");
    assert_eq!(p.headers["etag"], "W/\"v1\"");
    let mut p = res(200, &[("content-length", "3")]);
    apply_headers(Identity, &mut p);
    assert!(p.headers.get("content-encoding").is_none());
    assert_eq!(p.headers["vary"], "Accept-Encoding");
}

fn decode(algo: CompAlgo, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    match algo {
        Identity => out.extend_from_slice(data),
        Gzip => {
            flate2::read::GzDecoder::new(data)
                .read_to_end(&mut out)
                .unwrap();
        }
        Deflate => {
            flate2::read::ZlibDecoder::new(data)
                .read_to_end(&mut out)
                .unwrap();
        }
        RawDeflate => {
            flate2::read::DeflateDecoder::new(data)
                .read_to_end(&mut out)
                .unwrap();
        }
        Brotli => {
            brotli::Decompressor::new(data, 4096)
                .read_to_end(&mut out)
                .unwrap();
        }
        Zstd => out = zstd::stream::decode_all(data).unwrap(),
    }
    out
}

fn text(n: usize) -> Vec<u8> {
    let mut s = Vec::with_capacity(n);
    let mut i = 0u64;
    while s.len() < n {
        s.extend_from_slice(format!("line {i} of a fairly repetitive body\n").as_bytes());
        i = i.wrapping_mul(6364136223846793005).wrapping_add(1) % 1000;
    }
    s.truncate(n);
    s
}

#[test]
fn encoders_round_trip_and_flush_each_block() {
    let body = text(300_000);
    for algo in [Identity, Gzip, Deflate, RawDeflate, Brotli, Zstd] {
        let mut e = Encoder::new(algo, 1).unwrap();
        let mut out = BytesMut::new();
        let mut first_block = 0;
        for (i, chunk) in body.chunks(16 * 1024).enumerate() {
            e.push(chunk, &mut out).unwrap();
            if i == 0 {
                first_block = out.len();
            }
        }
        assert!(first_block > 0, "{algo:?}: a push emits data at once");
        e.finish(&mut out).unwrap();
        assert!(e.is_finished());
        assert!(matches!(e.push(b"x", &mut out), Err(EncodeError::Finished)));
        assert_eq!(decode(algo, &out), body, "{algo:?}");
        if algo != Identity {
            assert!(out.len() < body.len() / 4, "{algo:?}: {} bytes", out.len());
        }
    }
    // An empty body is still a valid stream.
    for algo in [Gzip, Deflate, RawDeflate, Brotli, Zstd] {
        let mut e = Encoder::new(algo, 1).unwrap();
        let mut out = BytesMut::new();
        e.finish(&mut out).unwrap();
        assert_eq!(decode(algo, &out), b"", "{algo:?}");
    }
}

/// A body made of ready frames.
struct VecBody(std::collections::VecDeque<http_body::Frame<bytes::Bytes>>);

impl http_body::Body for VecBody {
    type Data = bytes::Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<bytes::Bytes>, Self::Error>>> {
        std::task::Poll::Ready(self.0.pop_front().map(Ok))
    }
}

fn frames(body: &[u8], trailers: bool) -> VecBody {
    let mut f: std::collections::VecDeque<_> = body
        .chunks(10_000)
        .map(|c| http_body::Frame::data(bytes::Bytes::copy_from_slice(c)))
        .collect();
    if trailers {
        let mut t = http::HeaderMap::new();
        t.insert("x-checksum", http::HeaderValue::from_static("42"));
        f.push_back(http_body::Frame::trailers(t));
    }
    VecBody(f)
}

#[test]
fn compress_body_streams_frames_and_keeps_trailers() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let body = text(100_000);
    for algo in [Gzip, Brotli, Zstd, RawDeflate] {
        let b = CompressBody::new(frames(&body, false), algo, 1).unwrap();
        let collected = rt.block_on(b.collect()).unwrap().to_bytes();
        assert_eq!(decode(algo, &collected), body, "{algo:?}");
    }
    let b = CompressBody::new(frames(&body, true), Gzip, 1).unwrap();
    let collected = rt.block_on(b.collect()).unwrap();
    assert_eq!(collected.trailers().unwrap()["x-checksum"], "42");
    assert_eq!(decode(Gzip, &collected.to_bytes()), body);
}

#[test]
fn a_higher_level_compresses_more() {
    let body = text(200_000);
    for algo in [Gzip, Deflate, RawDeflate, Brotli, Zstd] {
        let size = |level| {
            let mut e = Encoder::new(algo, level).unwrap();
            let mut out = BytesMut::new();
            e.push(&body, &mut out).unwrap();
            e.finish(&mut out).unwrap();
            assert_eq!(decode(algo, &out), body, "{algo:?} level {level}");
            out.len()
        };
        let (fast, best) = (size(1), size(9));
        assert!(
            best < fast,
            "{algo:?}: level 9 gives {best} bytes, level 1 {fast}"
        );
    }
}
