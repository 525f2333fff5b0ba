//! `balance ALGORITHM [ARGS]` and `hash-type METHOD [FUNCTION] [avalanche]`.

use super::error::{ConfigError, ErrorKind, did_you_mean};
use super::line::Line;
use super::model::{BackendRef, Balance, Config, Frontend, HashFunction, HashMethod, HashType};
use crate::sample::SampleExpr;

const ALGORITHMS: &[&str] = &[
    "roundrobin",
    "static-rr",
    "leastconn",
    "first",
    "source",
    "random",
    "hash",
    "uri",
    "url_param",
    "hdr",
    "rdp-cookie",
];

/// Parses a `balance` line.
pub(crate) fn parse_balance(line: &Line) -> Result<Balance, ConfigError> {
    let algo = line.required(1, "balance", "an algorithm")?;
    let simple = |b: Balance| line.max_args(1, &format!("balance {algo}")).map(|()| b);
    match algo {
        "roundrobin" => simple(Balance::RoundRobin),
        "static-rr" => simple(Balance::StaticRr),
        "leastconn" => simple(Balance::LeastConn),
        "first" => simple(Balance::First),
        "source" => simple(Balance::Source),
        "hash" => parse_hash(line),
        _ if algo == "random" || algo.starts_with("random(") => simple(parse_random(line, algo)?),
        "uri" => parse_uri(line),
        "url_param" => parse_url_param(line),
        _ if algo.starts_with("hdr(") || algo == "hdr" => parse_hdr(line, algo),
        _ if algo.starts_with("rdp-cookie") => simple(parse_rdp_cookie(line, algo)?),
        _ => {
            let reason = "only supports 'roundrobin', 'static-rr', 'leastconn', 'source', 'uri', 'url_param', \
                          'hdr(name)', 'rdp-cookie(name)', 'random', 'hash' and 'first' options";
            let e = line.err(ErrorKind::Invalid {
                keyword: "balance".into(),
                reason: reason.into(),
            });
            Err(e.with_suggestion(did_you_mean(algo, ALGORITHMS.iter().copied())))
        }
    }
}

/// `uri [len N] [depth N] [whole] [path-only]`.
fn parse_uri(line: &Line) -> Result<Balance, ConfigError> {
    let mut u = crate::backend::balance::http::UriHash::default();
    let mut i = 2;
    while let Some(w) = line.arg(i) {
        match w {
            "whole" => u.whole = true,
            "path-only" => u.path_only = true,
            "len" | "depth" => {
                let kw = format!("balance uri {w}");
                let v = line.required(i + 1, &kw, "a positive integer")?;
                let n = line.u32_in(&kw, v, 1, i32::MAX.unsigned_abs())?;
                if w == "len" {
                    u.len = Some(n);
                } else {
                    u.depth = Some(n);
                }
                i += 1;
            }
            other => {
                let reason = format!(
                    "'balance uri' only accepts parameters 'len', 'depth', 'path-only' and 'whole' (got '{other}')"
                );
                return Err(line.invalid("balance", reason));
            }
        }
        i += 1;
    }
    Ok(Balance::Uri(u))
}

/// `url_param NAME [check_post]`.
fn parse_url_param(line: &Line) -> Result<Balance, ConfigError> {
    let Some(name) = line.arg(2).filter(|n| !n.is_empty()) else {
        return Err(line.invalid(
            "balance",
            "'balance url_param' requires an URL parameter name.",
        ));
    };
    let check_post = match line.arg(3) {
        None => false,
        Some("check_post") => {
            // HAProxy 1.x took a byte count after it; it is now ignored.
            line.max_args(4, "balance url_param")?;
            true
        }
        Some(other) => {
            let reason = format!(
                "'balance url_param' only accepts 'check_post' after the name (got '{other}')"
            );
            return Err(line.invalid("balance", reason));
        }
    };
    Ok(Balance::UrlParam {
        name: name.to_owned(),
        check_post,
    })
}

/// `hdr(NAME) [use_domain_only]`.
fn parse_hdr(line: &Line, algo: &str) -> Result<Balance, ConfigError> {
    let name = algo
        .strip_prefix("hdr(")
        .and_then(|r| r.strip_suffix(')'))
        .filter(|n| !n.is_empty())
        .ok_or_else(|| {
            line.invalid(
                "balance",
                "'balance hdr(name)' requires an http header field name.",
            )
        })?;
    let use_domain_only = match line.arg(2) {
        None => false,
        Some("use_domain_only") => {
            line.max_args(2, "balance hdr")?;
            true
        }
        Some(other) => {
            let reason =
                format!("'balance hdr(name)' only accepts 'use_domain_only' (got '{other}')");
            return Err(line.invalid("balance", reason));
        }
    };
    Ok(Balance::Hdr {
        name: name.to_ascii_lowercase(),
        use_domain_only,
    })
}

/// HAProxy's fallback for HTTP algorithms in a backend that is not in `mode http`:
/// a warning, and round robin.
pub(crate) fn http_algo_fallback(config: &mut Config) -> Vec<ConfigError> {
    let mut out = Vec::new();
    for be in &mut config.backends {
        if be.balance.needs_http() && be.mode != super::model::Mode::Http {
            let reason = format!(
                "Layer 7 hash not possible for backend '{}' (needs 'mode http'). Falling back to round robin.",
                be.name
            );
            let loc = be.balance_location.as_ref().unwrap_or(&be.location).clone();
            out.push(ConfigError::new(loc, ErrorKind::Consistency(reason)));
            be.balance = Balance::RoundRobin;
        }
    }
    out
}

/// `random` or `random(N)`.
fn parse_random(line: &Line, algo: &str) -> Result<Balance, ConfigError> {
    let Some(inner) = algo.strip_prefix("random(") else {
        return Ok(Balance::Random { draws: 2 });
    };
    let Some(draws) = inner.strip_suffix(')') else {
        return Err(line.bad_value("balance", algo, "missing ')' after the number of draws"));
    };
    let draws = line.u32_in("balance random", draws, 1, 1000)?;
    Ok(Balance::Random { draws })
}

/// `rdp-cookie` or `rdp-cookie(NAME)`.
fn parse_rdp_cookie(line: &Line, algo: &str) -> Result<Balance, ConfigError> {
    let name = match algo.strip_prefix("rdp-cookie").unwrap_or_default() {
        "" => "mstshash",
        rest => match rest.strip_prefix('(').map(|r| r.split_once(')')) {
            Some(Some((name, ""))) if !name.is_empty() => name,
            _ => {
                return Err(line.err(ErrorKind::Invalid {
                    keyword: "balance".into(),
                    reason: "'balance rdp-cookie(name)' requires an rdp cookie name".into(),
                }));
            }
        },
    };
    let key = SampleExpr::parse(&format!("req.rdp_cookie({name})")).map_err(|source| {
        line.err(ErrorKind::Sample {
            keyword: "balance rdp-cookie".into(),
            source,
        })
    })?;
    Ok(Balance::RdpCookie {
        name: name.to_owned(),
        key,
    })
}

/// Warns about `balance rdp-cookie` backends that no `tcp-request inspect-delay` serves:
/// the cookie is only in the buffer if content rules waited for it (HAProxy's documented
/// setup is `tcp-request inspect-delay` with `tcp-request content accept if RDP_COOKIE`),
/// otherwise most connections are balanced by round robin.
pub(crate) fn rdp_cookie_warnings(config: &Config) -> Vec<ConfigError> {
    let mut out = Vec::new();
    for be in &config.backends {
        let Balance::RdpCookie { name, .. } = &be.balance else {
            continue;
        };
        let routes_here = |fe: &Frontend| {
            fe.name == be.name
                || fe.default_backend.as_deref() == Some(be.name.as_str())
                || fe.use_backends.iter().any(|u| match &u.backend {
                    BackendRef::Static(n) => *n == be.name,
                    BackendRef::Dynamic(_) => true,
                })
        };
        let waits = be.rules.inspect_delay.is_some()
            || config
                .frontends
                .iter()
                .any(|fe| routes_here(fe) && fe.rules.inspect_delay.is_some());
        if !waits {
            let reason = format!(
                "backend '{}' : 'balance rdp-cookie({name})' needs the RDP cookie in the request \
                 buffer, but no 'tcp-request inspect-delay' applies to its connections: they will \
                 be balanced by round robin. Add 'tcp-request inspect-delay' and 'tcp-request \
                 content accept if RDP_COOKIE'",
                be.name
            );
            let location = be.balance_location.as_ref().unwrap_or(&be.location);
            out.push(ConfigError::new(
                location.clone(),
                ErrorKind::Consistency(reason),
            ));
        }
    }
    out
}

/// `hash <expr>`.
fn parse_hash(line: &Line) -> Result<Balance, ConfigError> {
    let expr = line.required(2, "balance hash", "a sample expression")?;
    line.max_args(2, "balance hash")?;
    let expr = SampleExpr::parse(expr).map_err(|source| {
        line.err(ErrorKind::Sample {
            keyword: "balance hash".into(),
            source,
        })
    })?;
    Ok(Balance::Hash(expr))
}

/// Parses a `hash-type` line.
pub(crate) fn parse_hash_type(line: &Line) -> Result<HashType, ConfigError> {
    let kw = "hash-type";
    let method = line.required(1, kw, "'map-based' or 'consistent'")?;
    line.max_args(3, kw)?;
    let method = match method {
        "map-based" => HashMethod::MapBased,
        "consistent" => HashMethod::Consistent,
        other => return Err(line.bad_value(kw, other, "expects 'map-based' or 'consistent'")),
    };
    let mut hash = HashType {
        method,
        // Kept from HAProxy 1.4 for compatibility: a bare `hash-type consistent` means sdbm
        // with avalanche; naming a function drops the implicit avalanche.
        avalanche: method == HashMethod::Consistent && line.arg(2).is_none(),
        ..HashType::default()
    };
    let mut i = 2;
    if let Some(function) = line.arg(2).filter(|f| *f != "avalanche") {
        hash.function = match function {
            "sdbm" => HashFunction::Sdbm,
            "djb2" => HashFunction::Djb2,
            "wt6" => HashFunction::Wt6,
            "crc32" => HashFunction::Crc32,
            "none" => HashFunction::None,
            other => {
                return Err(line.bad_value(
                    kw,
                    other,
                    "expects 'sdbm', 'djb2', 'wt6', 'crc32' or 'none'",
                ));
            }
        };
        i = 3;
    }
    match line.arg(i) {
        None => {}
        Some("avalanche") => {
            hash.avalanche = true;
            line.max_args(i, kw)?;
        }
        Some(other) => {
            return Err(line.bad_value(kw, other, "expects 'avalanche' as the modifier"));
        }
    }
    Ok(hash)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rdp_cookie_without_inspect_delay_warns() {
        let parse = |extra: &str| {
            let text = format!(
                "listen rdp\n    bind :13389\n    balance rdp-cookie\n{extra}    server a 127.0.0.1:13390\n"
            );
            crate::config::parse_str(&text, std::path::Path::new("t.cfg")).unwrap()
        };
        let warned = parse("");
        assert_eq!(warned.warnings.len(), 1, "{:?}", warned.warnings);
        assert_eq!(warned.warnings[0].location.line, 3);
        assert!(
            warned.warnings[0]
                .message()
                .contains("'balance rdp-cookie(mstshash)' needs the RDP cookie")
        );
        let quiet = parse(
            "    tcp-request inspect-delay 5s\n    tcp-request content accept if RDP_COOKIE\n",
        );
        assert!(quiet.warnings.is_empty(), "{:?}", quiet.warnings);
    }

    #[test]
    fn bare_consistent_means_sdbm_with_avalanche() {
        let h = hash_type("hash-type consistent").unwrap();
        assert_eq!((h.function, h.avalanche), (HashFunction::Sdbm, true));
        let h = hash_type("hash-type consistent sdbm").unwrap();
        assert!(!h.avalanche);
        let h = hash_type("hash-type map-based").unwrap();
        assert!(!h.avalanche);
    }
    use crate::config::model::Location;

    fn line(text: &str) -> Line {
        Line::new(
            Location::default(),
            text.split_whitespace().map(str::to_owned).collect(),
        )
    }

    fn balance(text: &str) -> Result<Balance, String> {
        parse_balance(&line(text)).map_err(|e| e.message())
    }

    fn hash_type(text: &str) -> Result<HashType, String> {
        parse_hash_type(&line(text)).map_err(|e| e.message())
    }

    #[test]
    fn algorithms() {
        assert_eq!(balance("balance roundrobin"), Ok(Balance::RoundRobin));
        assert_eq!(balance("balance static-rr"), Ok(Balance::StaticRr));
        assert_eq!(balance("balance leastconn"), Ok(Balance::LeastConn));
        assert_eq!(balance("balance first"), Ok(Balance::First));
        assert_eq!(balance("balance source"), Ok(Balance::Source));
        assert_eq!(balance("balance random"), Ok(Balance::Random { draws: 2 }));
        assert_eq!(
            balance("balance random(5)"),
            Ok(Balance::Random { draws: 5 })
        );
        let src = SampleExpr::parse("src").unwrap();
        assert_eq!(balance("balance hash src"), Ok(Balance::Hash(src)));
    }

    #[test]
    fn algorithm_errors() {
        assert_eq!(
            balance("balance").unwrap_err(),
            "'balance' expects an algorithm"
        );
        assert_eq!(
            balance("balance roundrobin x").unwrap_err(),
            "'balance roundrobin' cannot handle unexpected argument 'x'"
        );
        assert_eq!(
            balance("balance random(0)").unwrap_err(),
            "'balance random' : invalid value '0' : must be between 1 and 1000"
        );
        assert_eq!(
            balance("balance random(3").unwrap_err(),
            "'balance' : invalid value 'random(3' : missing ')' after the number of draws"
        );
        assert_eq!(
            balance("balance hash").unwrap_err(),
            "'balance hash' expects a sample expression"
        );
        assert_eq!(
            balance("balance hash nope").unwrap_err(),
            "'balance hash' : unknown fetch method 'nope'"
        );
        assert_eq!(
            balance("balance uri").unwrap_err(),
            "keyword 'balance uri' is not supported yet (comes with HTTP mode); this algorithm requires 'mode http'"
        );
        assert!(
            balance("balance hdr(host)")
                .unwrap_err()
                .contains("requires 'mode http'")
        );
        assert!(
            balance("balance url_param id")
                .unwrap_err()
                .contains("requires 'mode http'")
        );
        let rdp = |name: &str| {
            Ok(Balance::RdpCookie {
                name: name.into(),
                key: SampleExpr::parse(&format!("req.rdp_cookie({name})")).unwrap(),
            })
        };
        assert_eq!(balance("balance rdp-cookie"), rdp("mstshash"));
        assert_eq!(balance("balance rdp-cookie(user)"), rdp("user"));
        for bad in [
            "rdp-cookie()",
            "rdp-cookie(x",
            "rdp-cookie(x)y",
            "rdp-cookiex",
        ] {
            assert!(
                balance(&format!("balance {bad}"))
                    .unwrap_err()
                    .contains("'balance rdp-cookie(name)' requires an rdp cookie name"),
                "{bad}"
            );
        }
        assert!(balance("balance rdp-cookie extra").is_err());
        assert!(
            balance("balance leastcon")
                .unwrap_err()
                .ends_with("did you mean 'leastconn' maybe ?")
        );
    }

    #[test]
    fn hash_types() {
        let ht = |m, f, a| {
            Ok(HashType {
                method: m,
                function: f,
                avalanche: a,
            })
        };
        assert_eq!(
            hash_type("hash-type map-based"),
            ht(HashMethod::MapBased, HashFunction::Sdbm, false)
        );
        assert_eq!(
            hash_type("hash-type consistent"),
            ht(HashMethod::Consistent, HashFunction::Sdbm, true)
        );
        assert_eq!(
            hash_type("hash-type consistent djb2"),
            ht(HashMethod::Consistent, HashFunction::Djb2, false)
        );
        assert_eq!(
            hash_type("hash-type consistent wt6 avalanche"),
            ht(HashMethod::Consistent, HashFunction::Wt6, true)
        );
        assert_eq!(
            hash_type("hash-type map-based avalanche"),
            ht(HashMethod::MapBased, HashFunction::Sdbm, true)
        );
        assert_eq!(
            hash_type("hash-type consistent crc32"),
            ht(HashMethod::Consistent, HashFunction::Crc32, false)
        );
        assert_eq!(
            hash_type("hash-type consistent none"),
            ht(HashMethod::Consistent, HashFunction::None, false)
        );
        assert_eq!(
            hash_type("hash-type ring").unwrap_err(),
            "'hash-type' : invalid value 'ring' : expects 'map-based' or 'consistent'"
        );
        assert_eq!(
            hash_type("hash-type consistent md5").unwrap_err(),
            "'hash-type' : invalid value 'md5' : expects 'sdbm', 'djb2', 'wt6', 'crc32' or 'none'"
        );
        assert_eq!(
            hash_type("hash-type consistent sdbm fast").unwrap_err(),
            "'hash-type' : invalid value 'fast' : expects 'avalanche' as the modifier"
        );
        assert_eq!(
            hash_type("hash-type consistent sdbm avalanche x").unwrap_err(),
            "'hash-type' cannot handle unexpected argument 'x'"
        );
    }
}
