//! Keys of the HTTP hashing algorithms (`balance uri`, `url_param`, `hdr`), computed
//! from the transaction as HAProxy's `get_server_uh`, `get_server_ph(_post)` and
//! `get_server_hh` do. `None` (no key) makes the balancer fall back to round robin.

use crate::config::model::{Balance, HashType};
use crate::http::HttpTxn;
use crate::sample::fetch_http::{hdr, uri};

use super::hash::hash_bytes;

/// `balance uri` options.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UriHash {
    /// `len N`: only the first N characters.
    pub len: Option<u32>,
    /// `depth N`: only the first N directory levels (one per slash).
    pub depth: Option<u32>,
    /// `whole`: include the query string.
    pub whole: bool,
    /// `path-only`: ignore the scheme and authority of absolute targets.
    pub path_only: bool,
}

/// What an HTTP algorithm hashes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpKey {
    /// `uri`.
    Uri(UriHash),
    /// `url_param NAME [check_post]`.
    UrlParam {
        /// The parameter.
        name: String,
        /// Look in a buffered POST body too.
        check_post: bool,
    },
    /// `hdr(NAME) [use_domain_only]`.
    Hdr {
        /// The header (lowercase).
        name: String,
        /// Only the main domain part.
        use_domain_only: bool,
    },
}

impl HttpKey {
    /// The key of an HTTP `balance` setting (`Uri` with defaults for other ones).
    pub fn from_balance(b: &Balance) -> Self {
        match b {
            Balance::UrlParam { name, check_post } => Self::UrlParam {
                name: name.clone(),
                check_post: *check_post,
            },
            Balance::Hdr {
                name,
                use_domain_only,
            } => Self::Hdr {
                name: name.clone(),
                use_domain_only: *use_domain_only,
            },
            Balance::Uri(u) => Self::Uri(*u),
            _ => Self::Uri(UriHash::default()),
        }
    }

    /// The bytes hashed for this transaction; `None` when the key is missing.
    pub fn key<'a>(&self, txn: &'a HttpTxn) -> Option<std::borrow::Cow<'a, [u8]>> {
        use std::borrow::Cow;
        match self {
            Self::Uri(u) => {
                let target = uri::url(&txn.req.uri);
                let bytes = |s: &str| uri_key(s, u).to_vec();
                let full: Cow<'a, str> = if u.path_only {
                    Cow::Borrowed(uri::pathq(&txn.req.uri).unwrap_or(""))
                } else {
                    target
                };
                Some(match full {
                    Cow::Borrowed(s) => Cow::Borrowed(uri_key(s, u)),
                    Cow::Owned(s) => Cow::Owned(bytes(&s)),
                })
            }
            Self::UrlParam { name, check_post } => {
                let target = uri::url(&txn.req.uri);
                if let Some(v) = param_in(target.as_bytes(), name, true) {
                    return Some(Cow::Owned(v.to_vec()));
                }
                if *check_post && txn.req.method == http::Method::POST {
                    let body = txn.req_body.as_deref()?;
                    return post_param(body, name).map(Cow::Borrowed);
                }
                None
            }
            Self::Hdr {
                name,
                use_domain_only,
            } => {
                let v = hdr::values(&txn.req.headers, Some(name)).next()?;
                if v.is_empty() {
                    return None;
                }
                Some(Cow::Borrowed(if *use_domain_only {
                    main_domain(v)
                } else {
                    v
                }))
            }
        }
    }

    /// The hash for this transaction (with the backend's `hash-type`).
    pub fn hash(&self, ht: &HashType, txn: &HttpTxn) -> Option<u32> {
        self.key(txn).map(|k| hash_bytes(ht, &k))
    }
}

/// The part of the target `balance uri` hashes.
fn uri_key<'a>(target: &'a str, u: &UriHash) -> &'a [u8] {
    let b = target.as_bytes();
    let limit = u.len.map_or(b.len(), |l| b.len().min(l as usize));
    // `depth N` stops at slash N+1: one level per slash.
    let stop_slash = u.depth.map(|d| d as usize + 1);
    let mut slashes = 0;
    let mut end = 0;
    while end < limit {
        match b[end] {
            b'/' => {
                slashes += 1;
                if Some(slashes) == stop_slash {
                    break;
                }
            }
            b'?' if !u.whole => break,
            _ => {}
        }
        end += 1;
    }
    &b[..end]
}

/// `name=value` in the query string (after `?`, `&`-separated), as `get_server_ph`.
fn param_in<'a>(target: &'a [u8], name: &str, after_question: bool) -> Option<&'a [u8]> {
    let params = if after_question {
        let q = target.iter().position(|&c| c == b'?')?;
        &target[q + 1..]
    } else {
        target
    };
    params.split(|&c| c == b'&').find_map(|p| {
        p.strip_prefix(name.as_bytes())
            .and_then(|r| r.strip_prefix(b"="))
    })
}

/// `url_param ... check_post`: the parameter in a URL-encoded body; a value with bytes
/// that are not URL-safe means the body is not a form (no key), a blank ends it.
fn post_param<'a>(body: &'a [u8], name: &str) -> Option<&'a [u8]> {
    let v = param_in(body, name, false)?;
    let end = v
        .iter()
        .position(|&c| c == b' ' || c == b'\t' || c == b'\r' || c == b'\n')
        .unwrap_or(v.len());
    let v = &v[..end];
    v.iter().all(|&c| c.is_ascii_graphic()).then_some(v)
}

/// `use_domain_only`: the label before the top-level domain (`1wt` of
/// `haproxy.1wt.eu`), the whole value when there is no dot.
pub fn main_domain(v: &[u8]) -> &[u8] {
    let Some(tld_dot) = v.iter().rposition(|&c| c == b'.') else {
        return v;
    };
    let start = v[..tld_dot]
        .iter()
        .rposition(|&c| c == b'.')
        .map_or(0, |d| d + 1);
    &v[start..tld_dot]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http_rules::tests_support::txn;

    fn key(k: &HttpKey, raw: &str) -> Option<String> {
        let t = txn(raw);
        k.key(&t)
            .map(|b| String::from_utf8(b.into_owned()).unwrap())
    }

    fn uri(len: Option<u32>, depth: Option<u32>, whole: bool, path_only: bool) -> HttpKey {
        HttpKey::Uri(UriHash {
            len,
            depth,
            whole,
            path_only,
        })
    }

    #[test]
    fn uri_keys() {
        let get = "GET /a/b/c?x=1 HTTP/1.1\r\n\r\n";
        assert_eq!(key(&uri(None, None, false, false), get).unwrap(), "/a/b/c");
        assert_eq!(
            key(&uri(None, None, true, false), get).unwrap(),
            "/a/b/c?x=1"
        );
        assert_eq!(key(&uri(Some(4), None, true, false), get).unwrap(), "/a/b");
        assert_eq!(key(&uri(None, Some(1), false, false), get).unwrap(), "/a");
        assert_eq!(key(&uri(None, Some(2), false, false), get).unwrap(), "/a/b");
        let abs = "GET http://h:81/p/q?z HTTP/1.1\r\n\r\n";
        assert_eq!(
            key(&uri(None, None, false, false), abs).unwrap(),
            "http://h:81/p/q"
        );
        assert_eq!(key(&uri(None, None, false, true), abs).unwrap(), "/p/q");
        assert_eq!(key(&uri(None, None, true, true), abs).unwrap(), "/p/q?z");
    }

    #[test]
    fn url_param_keys() {
        let k = HttpKey::UrlParam {
            name: "id".into(),
            check_post: true,
        };
        assert_eq!(
            key(&k, "GET /p?a=1&id=42&b HTTP/1.1\r\n\r\n").unwrap(),
            "42"
        );
        assert_eq!(key(&k, "GET /p?xid=4 HTTP/1.1\r\n\r\n"), None);
        assert_eq!(key(&k, "GET /p?id= HTTP/1.1\r\n\r\n").unwrap(), "");
        assert_eq!(key(&k, "POST /p HTTP/1.1\r\n\r\nq=1&id=77").unwrap(), "77");
        assert_eq!(key(&k, "POST /p HTTP/1.1\r\n\r\nid=\u{1}x"), None);
        assert_eq!(key(&k, "PUT /p HTTP/1.1\r\n\r\nid=77"), None);
        let no_post = HttpKey::UrlParam {
            name: "id".into(),
            check_post: false,
        };
        assert_eq!(key(&no_post, "POST /p HTTP/1.1\r\n\r\nid=77"), None);
    }

    #[test]
    fn header_keys() {
        let k = HttpKey::Hdr {
            name: "host".into(),
            use_domain_only: false,
        };
        assert_eq!(
            key(&k, "GET / HTTP/1.1\r\nHost: a.b.c\r\n\r\n").unwrap(),
            "a.b.c"
        );
        assert_eq!(key(&k, "GET / HTTP/1.1\r\n\r\n"), None);
        assert_eq!(key(&k, "GET / HTTP/1.1\r\nHost:\r\n\r\n"), None);
        assert_eq!(main_domain(b"haproxy.1wt.eu"), b"1wt");
        assert_eq!(main_domain(b"1wt.eu"), b"1wt");
        assert_eq!(main_domain(b"localhost"), b"localhost");
    }
}

/// The balancer's choices for HTTP keys, compared with HAProxy 2.6's (recorded from
/// `tests/tests/http_balance.rs` run against haproxy: four servers of weight 1).
#[cfg(test)]
mod haproxy_choices {
    use super::*;
    use crate::backend::balance::testutil::{backend, balancer, ctx, name, server};
    use crate::http_rules::tests_support::txn;

    const KEYS: &[&str] = &[
        "alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel",
    ];

    fn picks(balance: Balance, raw: impl Fn(&str) -> String) -> Vec<String> {
        let servers = (1..=4).map(|i| server(&format!("s{i}"), 1)).collect();
        let (_state, mut b) = balancer(backend(balance, servers));
        KEYS.iter()
            .map(|k| {
                let t = txn(&raw(k));
                let mut c = ctx("10.0.0.1:1000");
                c.http = Some(&t);
                name(&b.pick_at(0, &c, None))
            })
            .collect()
    }

    #[test]
    fn same_servers_as_haproxy() {
        let uri = picks(Balance::Uri(UriHash::default()), |k| {
            format!("GET /{k}/x?q=1 HTTP/1.1\r\n\r\n")
        });
        assert_eq!(uri, ["s1", "s1", "s1", "s3", "s2", "s1", "s3", "s3"]);
        let param = picks(
            Balance::UrlParam {
                name: "user".into(),
                check_post: true,
            },
            |k| format!("GET /login?x=1&user={k} HTTP/1.1\r\n\r\n"),
        );
        assert_eq!(param, ["s3", "s3", "s3", "s1", "s2", "s3", "s3", "s1"]);
        let hdr = picks(
            Balance::Hdr {
                name: "x-tenant".into(),
                use_domain_only: false,
            },
            |k| format!("GET / HTTP/1.1\r\nx-tenant: {k}\r\n\r\n"),
        );
        assert_eq!(hdr, param);
    }
}
