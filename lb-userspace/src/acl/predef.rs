//! HAProxy's predefined ACLs (`TRUE`, `LOCALHOST`, `METH_GET`, ...).
//!
//! They are defined with the same syntax as user ACLs, so each one starts working as soon
//! as the fetches it needs exist; until then referencing it is a clear error.

use std::sync::Arc;

use crate::acl::expr::AclExpr;
use crate::acl::pattern::MatchMethod;
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

/// HAProxy's ACL-only keywords derived from a fetch (`path_beg` is `path -m beg`), by
/// fetch: the suffixes each one has.
const DERIVED: &[(&str, &[&str])] = &[
    ("base", &["beg", "dir", "dom", "end", "len", "reg", "sub"]),
    ("cook", &["beg", "dir", "dom", "end", "len", "reg", "sub"]),
    ("hdr", &["beg", "dir", "dom", "end", "len", "reg", "sub"]),
    ("path", &["beg", "dir", "dom", "end", "len", "reg", "sub"]),
    ("scook", &["beg", "dir", "dom", "end", "len", "reg", "sub"]),
    ("shdr", &["beg", "dir", "dom", "end", "len", "reg", "sub"]),
    ("url", &["beg", "dir", "dom", "end", "len", "reg", "sub"]),
    ("urlp", &["beg", "dir", "dom", "end", "len", "reg", "sub"]),
    (
        "req.ssl_sni",
        &["beg", "dir", "dom", "end", "len", "reg", "sub"],
    ),
    (
        "req_ssl_sni",
        &["beg", "dir", "dom", "end", "len", "reg", "sub"],
    ),
];

/// Resolves an ACL-only derived keyword: `path_beg` gives `("path", beg)`,
/// `hdr_sub(host)` gives `("hdr(host)", sub)`, `path_end,lower` keeps the converters.
pub fn derivative(criterion: &str) -> Option<(String, MatchMethod)> {
    let end = criterion.find(['(', ',']).unwrap_or(criterion.len());
    let (name, rest) = criterion.split_at(end);
    let (base, suffix) = name.rsplit_once('_')?;
    let (_, suffixes) = DERIVED.iter().find(|(b, _)| *b == base)?;
    if !suffixes.contains(&suffix) {
        return None;
    }
    let method = MatchMethod::from_name(suffix)?;
    Some((format!("{base}{rest}"), method))
}

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

    fn http_eval(name: &str, req: &str) -> bool {
        let txn = crate::http_rules::tests_support::txn(req);
        let mut c = ctx("10.0.0.1:1000");
        c.http = Some(&txn);
        lookup(name).unwrap().unwrap().eval(&c)
    }

    #[test]
    fn derived_keywords() {
        assert_eq!(
            derivative("path_beg"),
            Some(("path".into(), MatchMethod::Beg))
        );
        assert_eq!(
            derivative("hdr_sub(host),lower"),
            Some(("hdr(host),lower".into(), MatchMethod::Sub))
        );
        assert_eq!(
            derivative("url_reg"),
            Some(("url".into(), MatchMethod::Reg))
        );
        assert_eq!(derivative("path_nope"), None);
        assert_eq!(derivative("src_beg"), None);
        assert_eq!(derivative("path"), None);
    }

    #[test]
    fn http_layer_ones() {
        let get = "GET /a HTTP/1.1\r\nHost: x\r\n\r\n";
        let post = "POST http://h/a HTTP/1.0\r\nContent-Length: 3\r\n\r\n";
        assert!(http_eval("METH_GET", get));
        assert!(http_eval("METH_GET", "HEAD / HTTP/1.1\r\n\r\n"));
        assert!(!http_eval("METH_GET", post));
        assert!(http_eval("METH_POST", post));
        assert!(http_eval("HTTP_1.1", get));
        assert!(!http_eval("HTTP_1.0", get));
        assert!(http_eval("HTTP_1.0", post));
        assert!(http_eval("HTTP_URL_ABS", post));
        assert!(!http_eval("HTTP_URL_ABS", get));
        assert!(http_eval("HTTP_URL_SLASH", get));
        assert!(http_eval("HTTP_URL_STAR", "OPTIONS * HTTP/1.1\r\n\r\n"));
        assert!(http_eval("HTTP_CONTENT", post));
        assert!(!http_eval("HTTP_CONTENT", get));
        for name in [
            "METH_CONNECT",
            "METH_DELETE",
            "METH_HEAD",
            "METH_OPTIONS",
            "METH_PUT",
            "METH_TRACE",
        ] {
            let method = name.trim_start_matches("METH_");
            let target = if method == "CONNECT" { "h:443" } else { "/" };
            assert!(
                http_eval(name, &format!("{method} {target} HTTP/1.1\r\n\r\n")),
                "{name}"
            );
            assert!(!http_eval(name, get), "{name}");
        }
        // Outside HTTP mode they never match.
        assert!(
            !lookup("METH_GET")
                .unwrap()
                .unwrap()
                .eval(&ctx("10.0.0.1:1"))
        );
        assert!(lookup("NOPE").unwrap().is_none());
    }
}
