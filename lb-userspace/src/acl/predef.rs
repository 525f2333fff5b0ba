//! HAProxy's predefined ACLs (`TRUE`, `LOCALHOST`, `METH_GET`, ...).
//!
//! They are defined with the same syntax as user ACLs, so each one starts working as soon
//! as the fetches it needs exist; until then referencing it is a clear error.

use std::sync::Arc;

use crate::acl::expr::AclExpr;
use crate::acl::{Acl, AclError};
use crate::sample::SampleError;

/// Name and definition (criterion then patterns) of every predefined ACL.
const PREDEFINED: &[(&str, &[&str])] = &[
    ("TRUE", &["always_true"]),
    ("FALSE", &["always_false"]),
    ("LOCALHOST", &["src", "127.0.0.1/8", "::1"]),
    ("HTTP", &["req.proto_http"]),
    ("HTTP_1.0", &["req.ver", "1.0"]),
    ("HTTP_1.1", &["req.ver", "1.1"]),
    ("HTTP_2.0", &["req.ver", "2.0"]),
    ("HTTP_3.0", &["req.ver", "3.0"]),
    ("METH_CONNECT", &["method", "CONNECT"]),
    ("METH_DELETE", &["method", "DELETE"]),
    ("METH_GET", &["method", "GET", "HEAD"]),
    ("METH_HEAD", &["method", "HEAD"]),
    ("METH_OPTIONS", &["method", "OPTIONS"]),
    ("METH_POST", &["method", "POST"]),
    ("METH_PUT", &["method", "PUT"]),
    ("METH_TRACE", &["method", "TRACE"]),
    ("HTTP_URL_ABS", &["url_reg", "^[^/:]*://"]),
    ("HTTP_URL_SLASH", &["url_beg", "/"]),
    ("HTTP_URL_STAR", &["url", "*"]),
    ("HTTP_CONTENT", &["req.hdr_val(content-length)", "gt", "0"]),
    ("RDP_COOKIE", &["req.rdp_cookie_cnt", "gt", "0"]),
    ("REQ_CONTENT", &["req.len", "gt", "0"]),
    ("WAIT_END", &["wait_end"]),
];

/// The predefined ACL called `name`: `Ok(None)` if there is none by that name, an error
/// if it exists but needs something not supported yet.
pub fn lookup(name: &str) -> Result<Option<Arc<Acl>>, AclError> {
    let Some((_, def)) = PREDEFINED.iter().find(|(n, _)| *n == name) else {
        return Ok(None);
    };
    let words: Vec<String> = def.iter().map(|w| (*w).to_owned()).collect();
    let expr = AclExpr::parse(&words).map_err(|e| match e {
        AclError::Sample {
            source: SampleError::UnknownFetch(fetch),
            ..
        } => AclError::PredefinedUnsupported {
            name: name.to_owned(),
            fetch,
        },
        other => other,
    })?;
    Ok(Some(Arc::new(Acl {
        name: name.to_owned(),
        exprs: vec![expr],
    })))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::acl::Tristate;
    use crate::sample::StreamCtx;

    fn ctx(src: &str) -> StreamCtx<'static> {
        StreamCtx::new(src.parse().unwrap(), "127.0.0.1:80".parse().unwrap(), "fe")
    }

    #[test]
    fn true_false_localhost() {
        let t = lookup("TRUE").unwrap().unwrap();
        let f = lookup("FALSE").unwrap().unwrap();
        let lo = lookup("LOCALHOST").unwrap().unwrap();
        let c = ctx("127.3.4.5:1000");
        assert!(t.eval(&c));
        assert!(!f.eval(&c));
        assert!(lo.eval(&c));
        assert!(lo.eval(&ctx("[::1]:1000")));
        assert!(lo.eval(&ctx("[::ffff:127.0.0.1]:1000")));
        assert!(!lo.eval(&ctx("10.0.0.1:1000")));
        assert!(!lo.eval(&ctx("[::2]:1000")));
    }

    fn with_payload(payload: &[u8], fin: bool) -> StreamCtx<'_> {
        let mut c = ctx("10.0.0.1:1000");
        c.payload = payload;
        c.payload_final = fin;
        c
    }

    fn partial(name: &str, payload: &[u8], fin: bool) -> Tristate {
        lookup(name)
            .unwrap()
            .unwrap()
            .eval_partial(&with_payload(payload, fin))
    }

    #[test]
    fn layer6_predefined_acls() {
        use Tristate::{False, True, Undecided};
        assert_eq!(partial("REQ_CONTENT", b"", false), Undecided);
        assert_eq!(partial("REQ_CONTENT", b"x", false), True);
        assert_eq!(partial("REQ_CONTENT", b"", true), False);
        assert_eq!(partial("WAIT_END", b"abc", false), Undecided);
        assert_eq!(partial("WAIT_END", b"abc", true), True);
        let http = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n";
        assert_eq!(partial("HTTP", http, false), True);
        assert_eq!(partial("HTTP", &http[..5], false), Undecided);
        assert_eq!(partial("HTTP", &http[..5], true), False);
        assert_eq!(partial("HTTP", b"\x16\x03\x01", false), False);
        let mut rdp = vec![3, 0, 0, 0, 0, 0xe0, 0, 0, 0, 0, 0];
        rdp.extend_from_slice(b"Cookie: mstshash=bob\r\n");
        assert_eq!(partial("RDP_COOKIE", &rdp, false), True);
        assert_eq!(partial("RDP_COOKIE", &rdp[..14], false), Undecided);
        assert_eq!(partial("RDP_COOKIE", &rdp[..14], true), False);
        assert_eq!(
            partial("RDP_COOKIE", b"SSH-2.0-x\r\n...........", false),
            False
        );
        // Final evaluation never waits.
        let acl = lookup("WAIT_END").unwrap().unwrap();
        assert!(acl.eval(&with_payload(b"", false)));
    }

    #[test]
    fn http_layer_ones_are_rejected_clearly() {
        for name in ["METH_GET", "HTTP_1.1", "HTTP_URL_ABS", "HTTP_CONTENT"] {
            let err = lookup(name).unwrap_err();
            assert!(
                matches!(&err, AclError::PredefinedUnsupported { name: n, .. } if n == name),
                "{name}: {err}"
            );
            assert!(err.to_string().contains(name));
        }
        assert!(lookup("NOPE").unwrap().is_none());
    }
}
