//! WebSocket over HTTP/2 (RFC 8441): an HTTP/2 client opens a WebSocket with an extended
//! `CONNECT` (`:protocol websocket`); an HTTP/1.1 server expects a `GET` with `Upgrade:
//! websocket`. As HAProxy (2.4+) does, the request becomes such a `GET` as soon as it is
//! parsed (rules see the `GET`), with a `Sec-WebSocket-Key` of ours, and the server's
//! `101 Switching Protocols` becomes the `200` an HTTP/2 client expects, after its
//! `Sec-WebSocket-Accept` was checked against our key.

use http::header::{self, HeaderName, HeaderValue};
use http::{Method, StatusCode, request, response};

/// The GUID RFC 6455 appends to the key before hashing it.
const WS_GUID: &[u8] = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// `Sec-WebSocket-Key`.
const SEC_KEY: HeaderName = HeaderName::from_static("sec-websocket-key");

/// `Sec-WebSocket-Accept`.
const SEC_ACCEPT: HeaderName = HeaderName::from_static("sec-websocket-accept");

/// An HTTP/2 extended `CONNECT` turned into an HTTP/1.1 upgrade.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtendedConnect {
    /// The `Sec-WebSocket-Key` we generated (the client sends none over HTTP/2), whose
    /// accept value the server must answer with; `None` for another protocol.
    pub key: Option<HeaderValue>,
}

/// Why a server's answer to a translated WebSocket request is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum WsError {
    /// The `101` lacks the `Sec-WebSocket-Accept` matching our key.
    #[error("server answered the WebSocket upgrade without the expected Sec-WebSocket-Accept")]
    BadAccept,
}

/// Turns an HTTP/2 extended `CONNECT` (a request carrying `:protocol`) into the HTTP/1.1
/// upgrade request servers understand: `GET`, `Upgrade: PROTOCOL`, `Connection: upgrade`
/// and, for WebSocket, a fresh `Sec-WebSocket-Key`. Other requests are left alone.
pub fn downgrade_request(parts: &mut request::Parts) -> Option<ExtendedConnect> {
    if parts.method != Method::CONNECT {
        return None;
    }
    let protocol = parts.extensions.remove::<hyper::ext::Protocol>()?;
    let upgrade = HeaderValue::from_bytes(protocol.as_str().as_bytes()).ok()?;
    parts.method = Method::GET;
    let websocket = protocol.as_str().eq_ignore_ascii_case("websocket");
    parts.headers.insert(header::UPGRADE, upgrade);
    parts
        .headers
        .insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    let key = websocket.then(|| {
        let mut raw = [0u8; 16];
        fastrand::fill(&mut raw);
        let key = HeaderValue::from_str(&crate::sample::conv_codec::base64(&raw))
            .unwrap_or_else(|_| HeaderValue::from_static("dGhlIHNhbXBsZSBub25jZQ=="));
        parts.headers.insert(SEC_KEY, key.clone());
        key
    });
    Some(ExtendedConnect { key })
}

/// Turns the server's `101` into the `200` an HTTP/2 client expects (without the
/// HTTP/1-only `Upgrade`, `Connection` and `Sec-WebSocket-Accept` headers), after checking
/// the accept value. Other statuses pass unchanged (the client sees the refusal).
pub fn upgrade_response(parts: &mut response::Parts, x: &ExtendedConnect) -> Result<(), WsError> {
    if parts.status != StatusCode::SWITCHING_PROTOCOLS {
        return Ok(());
    }
    if let Some(key) = &x.key {
        let expected = accept_value(key.as_bytes());
        if parts.headers.get(SEC_ACCEPT).map(HeaderValue::as_bytes) != Some(expected.as_bytes()) {
            return Err(WsError::BadAccept);
        }
    }
    parts.status = StatusCode::OK;
    // The log line keeps the server's status, as HAProxy's does.
    parts
        .extensions
        .insert(crate::http::reply::LoggedStatus(101));
    for h in [header::UPGRADE, header::CONNECTION, SEC_ACCEPT] {
        parts.headers.remove(h);
    }
    Ok(())
}

/// `Sec-WebSocket-Accept` for `key`: base64 of the SHA-1 of the key and the GUID.
pub fn accept_value(key: &[u8]) -> String {
    let mut input = Vec::with_capacity(key.len() + WS_GUID.len());
    input.extend_from_slice(key);
    input.extend_from_slice(WS_GUID);
    crate::sample::conv_codec::base64(&sha1(&input))
}

/// SHA-1 (FIPS 180-4), only for the WebSocket handshake (not a security use).
fn sha1(data: &[u8]) -> [u8; 20] {
    let mut h: [u32; 5] = [
        0x6745_2301,
        0xEFCD_AB89,
        0x98BA_DCFE,
        0x1032_5476,
        0xC3D2_E1F0,
    ];
    let mut msg = data.to_vec();
    let bits = (data.len() as u64).wrapping_mul(8);
    msg.push(0x80);
    while msg.len() % 64 != 56 {
        msg.push(0);
    }
    msg.extend_from_slice(&bits.to_be_bytes());
    for block in msg.chunks_exact(64) {
        let mut w = [0u32; 80];
        for (i, word) in block.chunks_exact(4).enumerate() {
            w[i] = u32::from_be_bytes([word[0], word[1], word[2], word[3]]);
        }
        for i in 16..80 {
            w[i] = (w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16]).rotate_left(1);
        }
        let [mut a, mut b, mut c, mut d, mut e] = h;
        for (i, wi) in w.iter().enumerate() {
            let (f, k) = match i {
                0..=19 => ((b & c) | (!b & d), 0x5A82_7999),
                20..=39 => (b ^ c ^ d, 0x6ED9_EBA1),
                40..=59 => ((b & c) | (b & d) | (c & d), 0x8F1B_BCDC),
                _ => (b ^ c ^ d, 0xCA62_C1D6),
            };
            let t = a
                .rotate_left(5)
                .wrapping_add(f)
                .wrapping_add(e)
                .wrapping_add(k)
                .wrapping_add(*wi);
            e = d;
            d = c;
            c = b.rotate_left(30);
            b = a;
            a = t;
        }
        for (hv, v) in h.iter_mut().zip([a, b, c, d, e]) {
            *hv = hv.wrapping_add(v);
        }
    }
    let mut out = [0u8; 20];
    for (chunk, v) in out.chunks_exact_mut(4).zip(h) {
        chunk.copy_from_slice(&v.to_be_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    #[test]
    fn sha1_vectors() {
        assert_eq!(hex(&sha1(b"")), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
        assert_eq!(
            hex(&sha1(b"abc")),
            "a9993e364706816aba3e25717850c26c9cd0d89d"
        );
        let long = b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
        assert_eq!(hex(&sha1(long)), "84983e441c3bd26ebaae4aa1f95129e5e54670f1");
    }

    #[test]
    fn rfc6455_accept_example() {
        assert_eq!(
            accept_value(b"dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }

    fn extended_connect(protocol: &'static str) -> request::Parts {
        let mut req = http::Request::builder()
            .method(Method::CONNECT)
            .version(http::Version::HTTP_2)
            .uri("http://example.test/chat")
            .header("sec-websocket-version", "13")
            .body(())
            .unwrap();
        req.extensions_mut()
            .insert(hyper::ext::Protocol::from_static(protocol));
        req.into_parts().0
    }

    #[test]
    fn extended_connect_becomes_an_upgrade_get() {
        let mut p = extended_connect("websocket");
        let x = downgrade_request(&mut p).unwrap();
        assert_eq!(p.method, Method::GET);
        assert_eq!(p.headers["upgrade"], "websocket");
        assert_eq!(p.headers["connection"], "upgrade");
        let key = x.key.clone().unwrap();
        assert_eq!(p.headers["sec-websocket-key"], key);
        assert_eq!(
            crate::sample::conv_codec::b64dec(key.as_bytes())
                .unwrap()
                .len(),
            16
        );
        assert!(p.extensions.get::<hyper::ext::Protocol>().is_none());

        let mut ok = http::Response::builder()
            .status(101)
            .header("upgrade", "websocket")
            .header("connection", "Upgrade")
            .header("sec-websocket-accept", accept_value(key.as_bytes()))
            .body(())
            .unwrap()
            .into_parts()
            .0;
        upgrade_response(&mut ok, &x).unwrap();
        assert_eq!(ok.status, StatusCode::OK);
        assert_eq!(
            ok.extensions.get::<crate::http::reply::LoggedStatus>(),
            Some(&crate::http::reply::LoggedStatus(101))
        );
        assert!(ok.headers.is_empty(), "{:?}", ok.headers);

        let mut bad = http::Response::builder()
            .status(101)
            .header("sec-websocket-accept", "nope")
            .body(())
            .unwrap()
            .into_parts()
            .0;
        assert_eq!(upgrade_response(&mut bad, &x), Err(WsError::BadAccept));

        let mut refused = http::Response::builder()
            .status(403)
            .body(())
            .unwrap()
            .into_parts()
            .0;
        upgrade_response(&mut refused, &x).unwrap();
        assert_eq!(refused.status, StatusCode::FORBIDDEN);
    }

    #[test]
    fn other_protocols_and_plain_connect() {
        let mut p = extended_connect("connect-udp");
        let x = downgrade_request(&mut p).unwrap();
        assert_eq!(x.key, None);
        assert_eq!(p.headers["upgrade"], "connect-udp");
        assert!(!p.headers.contains_key("sec-websocket-key"));
        let mut plain = http::Request::builder()
            .method(Method::CONNECT)
            .uri("example.test:443")
            .body(())
            .unwrap()
            .into_parts()
            .0;
        assert_eq!(downgrade_request(&mut plain), None);
        assert_eq!(plain.method, Method::CONNECT);
    }
}
