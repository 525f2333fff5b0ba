//! Address syntax shared by `bind`, `server` and `log` (HAProxy's `str2sa_range()` rules):
//! an optional family prefix (`ipv4@`, `ipv6@`, `unix@`...), then `host[:port]` where an
//! IPv6 host is either bracketed (`[::1]:80`) or split on its last colon (`:::80`), and
//! hostnames are resolved once, at parse time, with the system resolver.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, ToSocketAddrs};

/// The address family forced by a prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Family {
    /// No prefix: whatever the host is.
    Any,
    /// `ipv4@` (or `udp4@`).
    V4,
    /// `ipv6@` (or `udp6@`).
    V6,
}

/// What a prefix says about the address that follows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Prefix {
    /// An IP address (with a family constraint).
    Ip(Family),
    /// `unix@`: a unix socket path.
    Unix,
    /// `udp@`, `udp4@`, `udp6@`: datagrams (only meaningful for `log`).
    Udp(Family),
}

/// Splits a known prefix off `text`; `Err(prefix)` names a real HAProxy prefix we do not
/// support yet.
pub(crate) fn split_prefix(text: &str) -> Result<(Prefix, &str), &str> {
    let Some((prefix, rest)) = text.split_once('@') else {
        return Ok((Prefix::Ip(Family::Any), text));
    };
    let kind = match prefix {
        "ipv4" => Prefix::Ip(Family::V4),
        "ipv6" => Prefix::Ip(Family::V6),
        "unix" => Prefix::Unix,
        "udp" => Prefix::Udp(Family::Any),
        "udp4" => Prefix::Udp(Family::V4),
        "udp6" => Prefix::Udp(Family::V6),
        "abns" | "fd" | "sockpair" | "quic4" | "quic6" | "tcp" | "tcp4" | "tcp6" | "ring"
        | "uxst" | "uxdg" => {
            return Err(prefix);
        }
        // Not a prefix (e.g. an `@` inside a hostname): let the host parser complain.
        _ => return Ok((Prefix::Ip(Family::Any), text)),
    };
    Ok((kind, rest))
}

/// Splits `host[:port]`; the port part is returned raw (it may be a range or an offset).
pub(crate) fn split_host_port(text: &str) -> Result<(&str, Option<&str>), String> {
    if let Some(rest) = text.strip_prefix('[') {
        let Some((host, after)) = rest.split_once(']') else {
            return Err(format!("missing ']' in address '{text}'"));
        };
        return match after {
            "" => Ok((host, None)),
            _ => match after.strip_prefix(':') {
                Some(port) => Ok((host, Some(port))),
                None => Err(format!(
                    "unexpected '{after}' after ']' in address '{text}'"
                )),
            },
        };
    }
    match text.matches(':').count() {
        0 => Ok((text, None)),
        1 => text
            .split_once(':')
            .map(|(h, p)| (h, Some(p)))
            .ok_or_else(String::new),
        _ => split_bare_ipv6(text),
    }
}

/// `::1`, `:::80`, `2001:db8::1:80`: the last colon separates a port when what precedes it
/// is a valid IPv6 address, as in HAProxy.
fn split_bare_ipv6(text: &str) -> Result<(&str, Option<&str>), String> {
    if let Some((host, port)) = text.rsplit_once(':') {
        let port_like = !port.is_empty()
            && port
                .bytes()
                .all(|c| c.is_ascii_digit() || c == b'-' || c == b'+');
        if port_like && host.parse::<Ipv6Addr>().is_ok() {
            return Ok((host, Some(port)));
        }
    }
    if text.parse::<Ipv6Addr>().is_ok() {
        return Ok((text, None));
    }
    Err(format!("invalid address '{text}'"))
}

/// Resolves a host: empty or `*` is the wildcard address, an IP literal is taken as is, and
/// anything else is looked up with the system resolver (first answer of the right family).
pub(crate) fn resolve_host(host: &str, family: Family) -> Result<IpAddr, String> {
    if host.is_empty() || host == "*" {
        return Ok(match family {
            Family::V6 => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
            _ => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        });
    }
    if let Ok(ip) = host.parse::<IpAddr>() {
        return match (family, ip) {
            (Family::V4, IpAddr::V6(_)) => Err(format!("'{host}' is not an IPv4 address")),
            (Family::V6, IpAddr::V4(_)) => Err(format!("'{host}' is not an IPv6 address")),
            _ => Ok(ip),
        };
    }
    let found = (host, 0u16)
        .to_socket_addrs()
        .map_err(|e| format!("could not resolve address '{host}' ({e})"))?;
    found
        .map(|sa| sa.ip())
        .find(|ip| {
            matches!(
                (family, ip),
                (Family::Any, _) | (Family::V4, IpAddr::V4(_)) | (Family::V6, IpAddr::V6(_))
            )
        })
        .ok_or_else(|| format!("could not resolve address '{host}'"))
}

/// Parses a port number 1..=65535.
pub(crate) fn parse_port(text: &str) -> Result<u16, String> {
    match text.parse::<u16>() {
        Ok(p) if p > 0 => Ok(p),
        _ => Err(format!("invalid port '{text}'")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes() {
        assert_eq!(
            split_prefix("ipv4@1.2.3.4:80"),
            Ok((Prefix::Ip(Family::V4), "1.2.3.4:80"))
        );
        assert_eq!(
            split_prefix("ipv6@::1"),
            Ok((Prefix::Ip(Family::V6), "::1"))
        );
        assert_eq!(
            split_prefix("unix@/run/x.sock"),
            Ok((Prefix::Unix, "/run/x.sock"))
        );
        assert_eq!(
            split_prefix("udp6@[::1]:514"),
            Ok((Prefix::Udp(Family::V6), "[::1]:514"))
        );
        assert_eq!(split_prefix("abns@foo"), Err("abns"));
        assert_eq!(
            split_prefix("1.2.3.4:80"),
            Ok((Prefix::Ip(Family::Any), "1.2.3.4:80"))
        );
    }

    #[test]
    fn host_and_port() {
        assert_eq!(
            split_host_port("127.0.0.1:80"),
            Ok(("127.0.0.1", Some("80")))
        );
        assert_eq!(split_host_port("127.0.0.1"), Ok(("127.0.0.1", None)));
        assert_eq!(split_host_port(":80"), Ok(("", Some("80"))));
        assert_eq!(split_host_port("*:80"), Ok(("*", Some("80"))));
        assert_eq!(split_host_port("[::1]:80"), Ok(("::1", Some("80"))));
        assert_eq!(split_host_port("[::1]"), Ok(("::1", None)));
        assert_eq!(split_host_port(":::80"), Ok(("::", Some("80"))));
        assert_eq!(split_host_port("::1"), Ok(("::1", None)));
        assert_eq!(split_host_port("::"), Ok(("::", None)));
        assert_eq!(split_host_port("2001:db8::1"), Ok(("2001:db8::1", None)));
        assert_eq!(
            split_host_port("2001:db8::1:8000-8010"),
            Ok(("2001:db8::1", Some("8000-8010")))
        );
        assert_eq!(split_host_port("::1:+10"), Ok(("::1", Some("+10"))));
        assert_eq!(
            split_host_port("localhost:80"),
            Ok(("localhost", Some("80")))
        );
        assert!(split_host_port("[::1:80").is_err());
        assert!(split_host_port("[::1]x").is_err());
        assert!(split_host_port("a:b:c").is_err());
    }

    #[test]
    fn hosts() {
        assert_eq!(
            resolve_host("", Family::Any),
            Ok(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
        );
        assert_eq!(
            resolve_host("*", Family::V6),
            Ok(IpAddr::V6(Ipv6Addr::UNSPECIFIED))
        );
        assert_eq!(
            resolve_host("10.1.2.3", Family::Any),
            Ok(IpAddr::V4(Ipv4Addr::new(10, 1, 2, 3)))
        );
        assert!(resolve_host("10.1.2.3", Family::V6).is_err());
        assert!(resolve_host("::1", Family::V4).is_err());
        let ip = resolve_host("localhost", Family::Any);
        assert!(ip.is_ok_and(|ip| ip.is_loopback()));
        let v4 = resolve_host("localhost", Family::V4);
        assert_eq!(v4, Ok(IpAddr::V4(Ipv4Addr::LOCALHOST)));
    }

    #[test]
    fn ports() {
        assert_eq!(parse_port("80"), Ok(80));
        assert_eq!(parse_port("65535"), Ok(65535));
        assert!(parse_port("0").is_err());
        assert!(parse_port("65536").is_err());
        assert!(parse_port("http").is_err());
    }
}
