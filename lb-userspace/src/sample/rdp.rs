//! The RDP cookie of a Remote Desktop connection request (`req.rdp_cookie`,
//! `req.rdp_cookie_cnt`, the `RDP_COOKIE` predefined ACL), sans-I/O.
//!
//! An RDP client starts with a TPKT header (4 bytes) and an X.224 Connection Request
//! header (7 bytes), optionally followed by `Cookie: NAME=VALUE\r\n` (e.g.
//! `mstshash=user`), which is what load balancers stick on.

use crate::sample::tls_hello::Parse;

/// TPKT and X.224 headers before the cookie line.
const HEADERS: usize = 11;

/// Finds the cookie `name` (any cookie when `None` or empty) and returns its value.
/// `Invalid` when the request carries no such cookie, `Incomplete` while it may still.
pub fn rdp_cookie<'a>(data: &'a [u8], name: Option<&str>) -> Parse<&'a [u8]> {
    if data.len() <= HEADERS {
        return Parse::Incomplete;
    }
    let rest = &data[HEADERS..];
    if rest.len() <= 7 {
        return Parse::Incomplete;
    }
    if !rest[..7].eq_ignore_ascii_case(b"Cookie:") {
        return Parse::Invalid;
    }
    let mut rest = &rest[7..];
    while let Some((b' ', after)) = rest.split_first() {
        rest = after;
    }
    match name.filter(|n| !n.is_empty()) {
        Some(name) => {
            let name = name.as_bytes();
            if rest.len() <= name.len() {
                return Parse::Incomplete;
            }
            if rest[name.len()] != b'=' || !rest[..name.len()].eq_ignore_ascii_case(name) {
                return Parse::Invalid;
            }
            rest = &rest[name.len() + 1..];
        }
        None => {
            let Some(eq) = rest.iter().position(|&c| matches!(c, b'=' | b'\r' | b'\n')) else {
                return Parse::Incomplete;
            };
            if rest[eq] != b'=' {
                return Parse::Invalid;
            }
            rest = &rest[eq + 1..];
        }
    }
    let Some(cr) = rest.iter().position(|&c| c == b'\r') else {
        return Parse::Incomplete;
    };
    match rest.get(cr + 1) {
        None => Parse::Incomplete,
        Some(b'\n') => Parse::Done(&rest[..cr]),
        Some(_) => Parse::Invalid,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A connection request as mstsc sends it, with a cookie line.
    fn request(cookie: &[u8]) -> Vec<u8> {
        let mut pdu = vec![
            0x03, 0x00, 0x00, 0x00, 0x00, 0xe0, 0x00, 0x00, 0x00, 0x00, 0x00,
        ];
        pdu.extend_from_slice(cookie);
        // RDP negotiation request.
        pdu.extend_from_slice(&[0x01, 0x00, 0x08, 0x00, 0x03, 0x00, 0x00, 0x00]);
        let len = u16::try_from(pdu.len()).unwrap().to_be_bytes();
        pdu[2..4].copy_from_slice(&len);
        pdu[4] = u8::try_from(pdu.len() - 5).unwrap();
        pdu
    }

    #[test]
    fn finds_cookies() {
        let req = request(b"Cookie: mstshash=alice\r\n");
        assert_eq!(rdp_cookie(&req, None), Parse::Done(&b"alice"[..]));
        assert_eq!(rdp_cookie(&req, Some("")), Parse::Done(&b"alice"[..]));
        assert_eq!(
            rdp_cookie(&req, Some("mstshash")),
            Parse::Done(&b"alice"[..])
        );
        assert_eq!(
            rdp_cookie(&req, Some("MSTSHASH")),
            Parse::Done(&b"alice"[..])
        );
        assert_eq!(rdp_cookie(&req, Some("msts")), Parse::Invalid);
        assert_eq!(rdp_cookie(&req, Some("other")), Parse::Invalid);
        let lower = request(b"cookie:msts=1\r\n");
        assert_eq!(rdp_cookie(&lower, Some("msts")), Parse::Done(&b"1"[..]));
        let empty = request(b"Cookie: a=\r\n");
        assert_eq!(rdp_cookie(&empty, None), Parse::Done(&b""[..]));
    }

    #[test]
    fn truncations_wait() {
        let req = request(b"Cookie: mstshash=alice\r\n");
        let end = 11 + b"Cookie: mstshash=alice\r\n".len();
        for cut in 0..end {
            assert_eq!(rdp_cookie(&req[..cut], None), Parse::Incomplete, "{cut}");
            assert_eq!(
                rdp_cookie(&req[..cut], Some("mstshash")),
                Parse::Incomplete,
                "{cut}"
            );
        }
    }

    #[test]
    fn no_cookie() {
        assert_eq!(rdp_cookie(&request(b""), None), Parse::Invalid);
        assert_eq!(
            rdp_cookie(&request(b"Cookie: nameonly\r\n"), None),
            Parse::Invalid
        );
        assert_eq!(
            rdp_cookie(&request(b"Cookie: a=b\rX"), None),
            Parse::Invalid
        );
        assert_eq!(
            rdp_cookie(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", None),
            Parse::Invalid
        );
    }
}
