//! `bind ADDR[,ADDR...] [name NAME]`: listening addresses, port ranges expanded.

use std::net::SocketAddr;
use std::path::PathBuf;

use super::addr::{self, Prefix};
use super::error::{ConfigError, did_you_mean};
use super::keywords;
use super::line::Line;
use super::model::{Bind, BindAddr};

/// Longest unix socket path: `sun_path` holds 108 bytes including the trailing NUL.
pub(crate) const MAX_UNIX_PATH: usize = 107;

/// The bind options we implement.
const SUPPORTED: &[&str] = &["accept-proxy", "name"];

/// Parses a whole `bind` line.
pub(crate) fn parse_bind(line: &Line) -> Result<Bind, ConfigError> {
    let spec = line.required(
        1,
        "bind",
        "{<path>|[addr1]:port1[-end1]}{,[addr]:port[-end]}... as arguments",
    )?;
    let mut addrs = Vec::new();
    for one in spec.split(',') {
        addrs.extend(parse_one(one).map_err(|reason| line.invalid("bind", reason))?);
    }
    let mut bind = Bind {
        addrs,
        name: None,
        accept_proxy: false,
        location: line.loc.clone(),
    };
    parse_options(line, spec, &mut bind)?;
    Ok(bind)
}

fn parse_options(line: &Line, spec: &str, bind: &mut Bind) -> Result<(), ConfigError> {
    let context = format!("bind {spec}");
    let mut i = 2;
    while let Some(opt) = line.arg(i) {
        i += match opt {
            "name" => {
                bind.name = Some(
                    line.required(i + 1, &format!("{context} name"), "a name")?
                        .to_owned(),
                );
                2
            }
            // Connections must start with a PROXY protocol v1 or v2 header.
            "accept-proxy" => {
                bind.accept_proxy = true;
                1
            }
            _ => return Err(unknown_option(line, &context, opt)),
        };
    }
    Ok(())
}

fn unknown_option(line: &Line, context: &str, opt: &str) -> ConfigError {
    if let Some(feature) = keywords::feature(keywords::BIND, opt) {
        return line.unsupported(opt, feature);
    }
    let candidates = SUPPORTED
        .iter()
        .copied()
        .chain(keywords::names(keywords::BIND));
    line.invalid(context, format!("unknown keyword '{opt}'"))
        .with_suggestion(did_you_mean(opt, candidates))
}

/// Parses one comma-separated element into one or more addresses.
fn parse_one(text: &str) -> Result<Vec<BindAddr>, String> {
    if text.is_empty() {
        return Err("empty address in the list".into());
    }
    let (prefix, rest) = addr::split_prefix(text)
        .map_err(|p| format!("address family '{p}@' is not supported yet"))?;
    match prefix {
        Prefix::Unix => unix_path(rest).map(|p| vec![p]),
        Prefix::Ip(_) if rest.starts_with('/') => unix_path(rest).map(|p| vec![p]),
        Prefix::Ip(family) => {
            let (host, port) = addr::split_host_port(rest)?;
            let port = port
                .filter(|p| !p.is_empty())
                .ok_or_else(|| format!("missing port number: '{text}'"))?;
            let ip = addr::resolve_host(host, family)?;
            let (first, last) = port_range(port)?;
            Ok((first..=last)
                .map(|p| BindAddr::Tcp(SocketAddr::new(ip, p)))
                .collect())
        }
        Prefix::Udp(_) => Err(format!(
            "'{text}' : UDP addresses cannot be used by a TCP listener"
        )),
    }
}

fn unix_path(path: &str) -> Result<BindAddr, String> {
    if path.is_empty() {
        return Err("empty unix socket path".into());
    }
    if path.len() > MAX_UNIX_PATH {
        return Err(format!(
            "socket path '{path}' too long (max {MAX_UNIX_PATH})"
        ));
    }
    Ok(BindAddr::Unix(PathBuf::from(path)))
}

/// `80` or `8000-8010`.
fn port_range(text: &str) -> Result<(u16, u16), String> {
    let (first, last) = match text.split_once('-') {
        Some((a, b)) => (addr::parse_port(a)?, addr::parse_port(b)?),
        None => {
            let p = addr::parse_port(text)?;
            (p, p)
        }
    };
    if last < first {
        return Err(format!("invalid port range '{text}'"));
    }
    Ok((first, last))
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

    use super::*;
    use crate::config::model::Location;

    fn bind(text: &str) -> Result<Bind, String> {
        let words = text.split_whitespace().map(str::to_owned).collect();
        parse_bind(&Line::new(Location::default(), words)).map_err(|e| e.message())
    }

    fn tcp(ip: IpAddr, port: u16) -> BindAddr {
        BindAddr::Tcp(SocketAddr::new(ip, port))
    }

    const ANY4: IpAddr = IpAddr::V4(Ipv4Addr::UNSPECIFIED);
    const LO4: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
    const LO6: IpAddr = IpAddr::V6(Ipv6Addr::LOCALHOST);
    const ANY6: IpAddr = IpAddr::V6(Ipv6Addr::UNSPECIFIED);

    #[test]
    fn address_forms() {
        let addrs = |t: &str| bind(t).map(|b| b.addrs);
        assert_eq!(addrs("bind 127.0.0.1:80"), Ok(vec![tcp(LO4, 80)]));
        assert_eq!(addrs("bind :80"), Ok(vec![tcp(ANY4, 80)]));
        assert_eq!(addrs("bind *:80"), Ok(vec![tcp(ANY4, 80)]));
        assert_eq!(addrs("bind [::1]:80"), Ok(vec![tcp(LO6, 80)]));
        assert_eq!(addrs("bind :::80"), Ok(vec![tcp(ANY6, 80)]));
        assert_eq!(addrs("bind ipv6@:80"), Ok(vec![tcp(ANY6, 80)]));
        assert_eq!(addrs("bind ipv4@127.0.0.1:80"), Ok(vec![tcp(LO4, 80)]));
        assert_eq!(addrs("bind ipv4@localhost:80"), Ok(vec![tcp(LO4, 80)]));
    }

    #[test]
    fn lists_and_ranges() {
        let b = bind("bind 127.0.0.1:80,[::1]:81,:8000-8002").map(|b| b.addrs);
        let want = vec![
            tcp(LO4, 80),
            tcp(LO6, 81),
            tcp(ANY4, 8000),
            tcp(ANY4, 8001),
            tcp(ANY4, 8002),
        ];
        assert_eq!(b, Ok(want));
        assert_eq!(bind("bind :::9000-9001").map(|b| b.addrs.len()), Ok(2));
    }

    #[test]
    fn unix_sockets() {
        let want = Ok(vec![BindAddr::Unix(PathBuf::from("/run/lb.sock"))]);
        assert_eq!(bind("bind /run/lb.sock").map(|b| b.addrs), want);
        assert_eq!(bind("bind unix@/run/lb.sock").map(|b| b.addrs), want);
        let long = format!("bind /{}", "x".repeat(107));
        assert_eq!(
            bind(&long).unwrap_err(),
            format!(
                "'bind' : socket path '/{}' too long (max 107)",
                "x".repeat(107)
            )
        );
        assert!(bind(&format!("bind /{}", "x".repeat(106))).is_ok());
    }

    #[test]
    fn name_option() {
        let b = bind("bind :80 name web");
        assert_eq!(b.map(|b| b.name), Ok(Some("web".to_owned())));
        assert_eq!(
            bind("bind :80 name").unwrap_err(),
            "'bind :80 name' expects a name"
        );
    }

    #[test]
    fn accept_proxy_option() {
        let flag = |t: &str| bind(t).map(|b| (b.accept_proxy, b.name));
        assert_eq!(flag("bind :80"), Ok((false, None)));
        assert_eq!(flag("bind :80 accept-proxy"), Ok((true, None)));
        assert_eq!(
            flag("bind :80 accept-proxy name web"),
            Ok((true, Some("web".to_owned())))
        );
        assert_eq!(
            flag("bind :80 name web accept-proxy"),
            Ok((true, Some("web".to_owned())))
        );
        assert_eq!(
            bind("bind :80 accept-prxy").unwrap_err(),
            "'bind :80' : unknown keyword 'accept-prxy'; did you mean 'accept-proxy' maybe ?"
        );
    }

    #[test]
    fn errors() {
        assert_eq!(
            bind("bind").unwrap_err(),
            "'bind' expects {<path>|[addr1]:port1[-end1]}{,[addr]:port[-end]}... as arguments"
        );
        assert_eq!(
            bind("bind 127.0.0.1").unwrap_err(),
            "'bind' : missing port number: '127.0.0.1'"
        );
        assert_eq!(bind("bind :0").unwrap_err(), "'bind' : invalid port '0'");
        assert_eq!(
            bind("bind :90-80").unwrap_err(),
            "'bind' : invalid port range '90-80'"
        );
        assert_eq!(
            bind("bind :80,").unwrap_err(),
            "'bind' : empty address in the list"
        );
        assert_eq!(
            bind("bind abns@x").unwrap_err(),
            "'bind' : address family 'abns@' is not supported yet"
        );
        assert_eq!(
            bind("bind :443 ssl crt /x.pem").unwrap_err(),
            "keyword 'ssl' is not supported yet (comes with SSL/TLS)"
        );
        assert_eq!(
            bind("bind :80 nmae x").unwrap_err(),
            "'bind :80' : unknown keyword 'nmae'; did you mean 'name' maybe ?"
        );
    }
}
