//! Header work between the two sides: connection-specific headers, `X-Forwarded-For`,
//! and the HTTP/1 <-> HTTP/2 translation of request targets.

use std::net::IpAddr;

use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, Uri, Version};

use crate::config::http::ForwardFor;

/// Headers HTTP/2 forbids (RFC 9113 8.2.2), removed toward an HTTP/2 peer.
const H2_FORBIDDEN: [HeaderName; 5] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
    header::TRANSFER_ENCODING,
    header::UPGRADE,
];

/// Edits the `Connection` header between two HTTP/1 hops as HAProxy does: the
/// `keep-alive` and `close` tokens are this hop's business and go (each side states its own
/// persistence), other tokens and every other header are forwarded. `Transfer-Encoding`
/// is dropped: the next hop's framing is chosen when the message is written.
pub fn connection_h1(headers: &mut HeaderMap) {
    headers.remove(header::TRANSFER_ENCODING);
    let Some(conn) = headers.get(header::CONNECTION) else {
        return;
    };
    let text = conn.to_str().unwrap_or("");
    let persistence =
        |t: &str| t.eq_ignore_ascii_case("keep-alive") || t.eq_ignore_ascii_case("close");
    let mut tokens = text.split(',').map(str::trim).filter(|t| !t.is_empty());
    if !text.split(',').map(str::trim).any(persistence)
        && headers.get_all(header::CONNECTION).iter().count() == 1
    {
        return;
    }
    let kept: Vec<&str> = tokens.by_ref().filter(|t| !persistence(t)).collect();
    let joined = kept.join(", ");
    let others: Vec<HeaderValue> = headers
        .get_all(header::CONNECTION)
        .iter()
        .skip(1)
        .cloned()
        .collect();
    headers.remove(header::CONNECTION);
    if !joined.is_empty()
        && let Ok(v) = HeaderValue::from_str(&joined)
    {
        headers.append(header::CONNECTION, v);
    }
    for v in others {
        headers.append(header::CONNECTION, v);
    }
}

/// Removes what HTTP/2 forbids before a message goes to an HTTP/2 peer (`te` survives only
/// as `trailers`).
pub fn connection_h2(headers: &mut HeaderMap) {
    for h in &H2_FORBIDDEN {
        headers.remove(h);
    }
    if headers
        .get(header::TE)
        .is_some_and(|v| !v.as_bytes().eq_ignore_ascii_case(b"trailers"))
    {
        headers.remove(header::TE);
    }
}

/// Whether a request asks to switch protocols (HTTP/1 `Upgrade` with `Connection:
/// upgrade`).
pub fn wants_upgrade(headers: &HeaderMap, version: Version) -> bool {
    version == Version::HTTP_11
        && headers.contains_key(header::UPGRADE)
        && headers.get_all(header::CONNECTION).iter().any(|v| {
            v.to_str()
                .unwrap_or("")
                .split(',')
                .any(|t| t.trim().eq_ignore_ascii_case("upgrade"))
        })
}

/// Whether `Connection: close` is among the headers.
pub fn asks_close(headers: &HeaderMap) -> bool {
    headers.get_all(header::CONNECTION).iter().any(|v| {
        v.to_str()
            .unwrap_or("")
            .split(',')
            .any(|t| t.trim().eq_ignore_ascii_case("close"))
    })
}

/// Applies `option forwardfor` for a client at `src`: `fe` and `be` are the frontend's and
/// backend's settings (the backend's header name wins, either `except` network exempts,
/// `if-none` applies when both agree, as in HAProxy).
pub fn forwardfor(
    headers: &mut HeaderMap,
    fe: Option<&ForwardFor>,
    be: Option<&ForwardFor>,
    src: IpAddr,
) {
    let Some(main) = be.or(fe) else {
        return;
    };
    if [fe, be]
        .into_iter()
        .flatten()
        .any(|f| f.except.is_some_and(|n| n.contains(src)))
    {
        return;
    }
    let if_none = [fe, be].into_iter().flatten().all(|f| f.if_none);
    if if_none && headers.contains_key(&main.header) {
        return;
    }
    let ip = match src {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(src, IpAddr::V4),
        v4 => v4,
    };
    let mut buf = [0u8; 64];
    let text = {
        use std::io::Write as _;
        let mut cur = std::io::Cursor::new(&mut buf[..]);
        let _ = write!(cur, "{ip}");
        let n = usize::try_from(cur.position()).unwrap_or(0);
        &buf[..n]
    };
    if let Ok(v) = HeaderValue::from_bytes(text) {
        headers.append(main.header.clone(), v);
    }
}

/// Prepares the request target and version for a server speaking `to_h2` or HTTP/1.1:
/// HTTP/2 needs an absolute URI (scheme and authority from `Host`); HTTP/1 gets the
/// origin form (the `Host` header carries the authority), except an HTTP/1 client's
/// absolute-form which is kept as HAProxy does.
pub fn target_for_server(
    uri: &mut Uri,
    version: &mut Version,
    headers: &HeaderMap,
    method: &Method,
    to_h2: bool,
) {
    let from_h2 = *version == Version::HTTP_2;
    if to_h2 {
        *version = Version::HTTP_2;
        if uri.scheme().is_none() && *method != Method::CONNECT {
            let host = headers
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
                .unwrap_or("localhost");
            let pq = uri.path_and_query().map_or("/", |p| p.as_str());
            if let Ok(abs) = Uri::builder()
                .scheme("http")
                .authority(host)
                .path_and_query(pq)
                .build()
            {
                *uri = abs;
            }
        }
        return;
    }
    if *version != Version::HTTP_10 {
        *version = Version::HTTP_11;
    }
    if from_h2
        && *method != Method::CONNECT
        && uri.scheme().is_some()
        && let Some(pq) = uri.path_and_query()
        && let Ok(origin) = Uri::try_from(pq.as_str())
    {
        *uri = origin;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::http::Network;

    fn ff(header: &str, except: Option<&str>, if_none: bool) -> ForwardFor {
        ForwardFor {
            except: except.and_then(Network::parse),
            header: HeaderName::from_bytes(header.as_bytes()).unwrap(),
            if_none,
        }
    }

    #[test]
    fn forwardfor_rules() {
        let src: IpAddr = "192.0.2.7".parse().unwrap();
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", HeaderValue::from_static("1.1.1.1"));
        forwardfor(&mut h, Some(&ff("x-forwarded-for", None, false)), None, src);
        let all: Vec<_> = h.get_all("x-forwarded-for").iter().collect();
        assert_eq!(all, ["1.1.1.1", "192.0.2.7"]);
        let mut h = HeaderMap::new();
        forwardfor(
            &mut h,
            None,
            Some(&ff("x-real-ip", Some("192.0.2.0/24"), false)),
            src,
        );
        assert!(h.is_empty());
        let mut h = HeaderMap::new();
        h.insert("x-client", HeaderValue::from_static("keep"));
        forwardfor(&mut h, None, Some(&ff("x-client", None, true)), src);
        assert_eq!(h.get_all("x-client").iter().count(), 1);
        let mut h = HeaderMap::new();
        let mapped: IpAddr = "::ffff:10.0.0.1".parse().unwrap();
        forwardfor(
            &mut h,
            Some(&ff("x-forwarded-for", None, false)),
            None,
            mapped,
        );
        assert_eq!(h["x-forwarded-for"], "10.0.0.1");
    }

    #[test]
    fn connection_headers() {
        let mut h = HeaderMap::new();
        h.insert(
            "connection",
            HeaderValue::from_static("keep-alive, x-secret"),
        );
        h.insert("x-secret", HeaderValue::from_static("1"));
        h.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        h.insert("transfer-encoding", HeaderValue::from_static("chunked"));
        let mut h2 = h.clone();
        connection_h1(&mut h);
        assert_eq!(h["connection"], "x-secret");
        assert_eq!(h["keep-alive"], "timeout=5");
        assert!(h.get("transfer-encoding").is_none());
        let mut close = HeaderMap::new();
        close.insert("connection", HeaderValue::from_static("close"));
        connection_h1(&mut close);
        assert!(close.is_empty());
        h2.insert("te", HeaderValue::from_static("trailers"));
        connection_h2(&mut h2);
        assert_eq!(h2.len(), 2, "{h2:?}");
        assert!(h2.contains_key("x-secret") && h2.contains_key("te"));
    }

    #[test]
    fn targets() {
        let mut h = HeaderMap::new();
        h.insert("host", HeaderValue::from_static("a.example:8080"));
        let mut uri: Uri = "/p?q".parse().unwrap();
        let mut v = Version::HTTP_11;
        target_for_server(&mut uri, &mut v, &h, &Method::GET, true);
        assert_eq!(
            (uri.to_string().as_str(), v),
            ("http://a.example:8080/p?q", Version::HTTP_2)
        );
        let mut uri: Uri = "http://a.example/p".parse().unwrap();
        let mut v = Version::HTTP_2;
        target_for_server(&mut uri, &mut v, &h, &Method::GET, false);
        assert_eq!((uri.to_string().as_str(), v), ("/p", Version::HTTP_11));
    }
}
