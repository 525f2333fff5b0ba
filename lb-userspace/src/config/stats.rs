//! `stats socket|timeout|maxconn` in the global section: where the runtime API listens.

use std::net::SocketAddr;
use std::path::PathBuf;

use super::addr::{self, Prefix};
use super::bind::MAX_UNIX_PATH;
use super::error::{ConfigError, did_you_mean};
use super::keywords;
use super::line::Line;
use super::model::{BindAddr, CliLevel, Global, StatsSocket};

/// The `stats socket` options we implement.
const SUPPORTED: &[&str] = &["expose-fd", "level", "mode", "name"];

/// Largest `stats maxconn`.
const MAX_CONN: u32 = i32::MAX.unsigned_abs();

/// Parses one `stats ...` line of the global section.
pub(crate) fn parse_stats(g: &mut Global, line: &Line) -> Result<(), ConfigError> {
    match line.arg(1).unwrap_or("") {
        "socket" => g.stats_sockets.push(parse_socket(line)?),
        "timeout" => {
            let kw = "stats timeout";
            let t = line.required(2, kw, "a time argument")?;
            line.max_args(2, kw)?;
            let t = line.time(kw, t)?;
            if t.is_zero() {
                return Err(line.missing(kw, "a positive value"));
            }
            g.stats_timeout = Some(t);
        }
        "maxconn" => {
            let kw = "stats maxconn";
            let n = line.required(2, kw, "a positive value")?;
            line.max_args(2, kw)?;
            g.stats_maxconn = Some(line.u32_in(kw, n, 1, MAX_CONN)?);
        }
        other => {
            return Err(line.invalid(
                "stats",
                format!("only supports 'socket', 'maxconn' and 'timeout' (got '{other}')"),
            ));
        }
    }
    Ok(())
}

fn parse_socket(line: &Line) -> Result<StatsSocket, ConfigError> {
    let kw = "stats socket";
    let spec = line.required(2, kw, "an address or a path to a UNIX socket")?;
    let addr = socket_addr(spec).map_err(|reason| line.invalid(kw, reason))?;
    let mut socket = StatsSocket {
        addr,
        mode: None,
        level: CliLevel::default(),
        location: line.loc.clone(),
    };
    let mut i = 3;
    while let Some(opt) = line.arg(i) {
        let value = line.arg(i + 1);
        match opt {
            "mode" => socket.mode = Some(parse_mode(line, value)?),
            "level" => socket.level = parse_level(line, value)?,
            "name" => {
                line.required(i + 1, &format!("{kw} name"), "a name")?;
            }
            "expose-fd" => {
                return match value {
                    Some("listeners") => Err(line.unsupported("expose-fd listeners", "hot reload")),
                    Some(v) => Err(line.invalid(
                        kw,
                        format!("'expose-fd' only supports 'listeners' (got '{v}')"),
                    )),
                    None => Err(line.invalid(kw, "'expose-fd' : missing argument")),
                };
            }
            _ => return Err(unknown_option(line, opt)),
        }
        i += 2;
    }
    Ok(socket)
}

/// A unix socket path (bare or `unix@`) or `[ipv4@|ipv6@]host:port`.
fn socket_addr(text: &str) -> Result<BindAddr, String> {
    let (prefix, rest) = addr::split_prefix(text)
        .map_err(|p| format!("address family '{p}@' is not supported yet"))?;
    match prefix {
        Prefix::Unix => unix_path(rest),
        Prefix::Ip(_) if rest.starts_with('/') => unix_path(rest),
        Prefix::Ip(family) => {
            let (host, port) = addr::split_host_port(rest)?;
            let port = port
                .filter(|p| !p.is_empty())
                .ok_or_else(|| format!("missing port number: '{text}'"))?;
            let ip = addr::resolve_host(host, family)?;
            Ok(BindAddr::Tcp(SocketAddr::new(ip, addr::parse_port(port)?)))
        }
        Prefix::Udp(_) => Err(format!(
            "'{text}' : UDP addresses cannot be used by a stats socket"
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

fn parse_mode(line: &Line, value: Option<&str>) -> Result<u32, ConfigError> {
    let kw = "stats socket";
    let Some(v) = value else {
        return Err(line.invalid(kw, "'mode' : missing mode (octal integer expected)"));
    };
    match u32::from_str_radix(v, 8) {
        Ok(m) if m <= 0o7777 => Ok(m),
        _ => Err(line.bad_value(
            "stats socket mode",
            v,
            "expects an octal permission mask (e.g. 600)",
        )),
    }
}

fn parse_level(line: &Line, value: Option<&str>) -> Result<CliLevel, ConfigError> {
    let kw = "stats socket";
    match value {
        Some("user") => Ok(CliLevel::User),
        Some("operator") => Ok(CliLevel::Operator),
        Some("admin") => Ok(CliLevel::Admin),
        Some(v) => Err(line.invalid(
            kw,
            format!("'level' only supports 'user', 'operator', and 'admin' (got '{v}')"),
        )),
        None => Err(line.invalid(kw, "'level' : missing level")),
    }
}

fn unknown_option(line: &Line, opt: &str) -> ConfigError {
    if opt == "severity-output" {
        return line.unsupported(opt, "more runtime API commands");
    }
    if let Some(feature) = keywords::feature(keywords::BIND, opt) {
        return line.unsupported(opt, feature);
    }
    line.invalid("stats socket", format!("unknown keyword '{opt}'"))
        .with_suggestion(did_you_mean(opt, SUPPORTED.iter().copied()))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::config::model::Location;

    fn apply(g: &mut Global, text: &str) -> Result<(), String> {
        let l = Line::new(
            Location::default(),
            text.split_whitespace().map(str::to_owned).collect(),
        );
        parse_stats(g, &l).map_err(|e| e.message())
    }

    #[test]
    fn sockets_timeout_and_maxconn() {
        let mut g = Global::default();
        for l in [
            "stats socket /run/lb.sock mode 660 level admin",
            "stats socket unix@/run/lb-user.sock level user name ro",
            "stats socket ipv4@127.0.0.1:9999",
            "stats socket ipv6@[::1]:9998 level operator",
            "stats socket 127.0.0.1:9997",
            "stats timeout 2m",
            "stats maxconn 20",
        ] {
            apply(&mut g, l).unwrap();
        }
        let s = &g.stats_sockets;
        assert_eq!(s.len(), 5);
        assert_eq!(s[0].addr, BindAddr::Unix("/run/lb.sock".into()));
        assert_eq!((s[0].mode, s[0].level), (Some(0o660), CliLevel::Admin));
        assert_eq!(s[1].addr, BindAddr::Unix("/run/lb-user.sock".into()));
        assert_eq!((s[1].mode, s[1].level), (None, CliLevel::User));
        assert_eq!(s[2].addr, BindAddr::Tcp("127.0.0.1:9999".parse().unwrap()));
        assert_eq!(s[2].level, CliLevel::Operator, "HAProxy's default level");
        assert_eq!(s[3].addr, BindAddr::Tcp("[::1]:9998".parse().unwrap()));
        assert_eq!(s[4].addr, BindAddr::Tcp("127.0.0.1:9997".parse().unwrap()));
        assert_eq!(g.stats_timeout, Some(Duration::from_secs(120)));
        assert_eq!(g.stats_maxconn, Some(20));
        assert!(CliLevel::User < CliLevel::Operator && CliLevel::Operator < CliLevel::Admin);
    }

    #[test]
    fn errors() {
        let mut g = Global::default();
        let mut err = |t: &str| apply(&mut g, t).unwrap_err();
        assert_eq!(
            err("stats socket"),
            "'stats socket' expects an address or a path to a UNIX socket"
        );
        assert_eq!(
            err("stats socket /run/lb.sock expose-fd listeners"),
            "keyword 'expose-fd listeners' is not supported yet (comes with hot reload)"
        );
        assert_eq!(
            err("stats socket /run/lb.sock expose-fd all"),
            "'stats socket' : 'expose-fd' only supports 'listeners' (got 'all')"
        );
        assert_eq!(
            err("stats socket /run/lb.sock level root"),
            "'stats socket' : 'level' only supports 'user', 'operator', and 'admin' (got 'root')"
        );
        assert_eq!(
            err("stats socket /run/lb.sock level"),
            "'stats socket' : 'level' : missing level"
        );
        assert_eq!(
            err("stats socket /run/lb.sock mode 800"),
            "'stats socket mode' : invalid value '800' : expects an octal permission mask (e.g. 600)"
        );
        assert_eq!(
            err("stats socket /run/lb.sock mode"),
            "'stats socket' : 'mode' : missing mode (octal integer expected)"
        );
        assert_eq!(
            err("stats socket /run/lb.sock user haproxy"),
            "keyword 'user' is not supported yet (comes with unix socket permissions)"
        );
        assert_eq!(
            err("stats socket /run/lb.sock levle admin"),
            "'stats socket' : unknown keyword 'levle'; did you mean 'level' maybe ?"
        );
        assert_eq!(
            err("stats socket 127.0.0.1"),
            "'stats socket' : missing port number: '127.0.0.1'"
        );
        assert_eq!(
            err("stats socket abns@lb"),
            "'stats socket' : address family 'abns@' is not supported yet"
        );
        let long = format!("stats socket /{}", "x".repeat(120));
        assert!(err(&long).contains("too long (max 107)"), "{}", err(&long));
        assert_eq!(
            err("stats timeout 0"),
            "'stats timeout' expects a positive value"
        );
        assert_eq!(
            err("stats timeout 1x"),
            "'stats timeout' : invalid value '1x' : unexpected character 'x' (time units are us, ms, s, m, h, d)"
        );
        assert_eq!(
            err("stats maxconn 0"),
            "'stats maxconn' : invalid value '0' : must be between 1 and 2147483647"
        );
        assert_eq!(
            err("stats bind-process all"),
            "'stats' : only supports 'socket', 'maxconn' and 'timeout' (got 'bind-process')"
        );
        assert_eq!(
            err("stats"),
            "'stats' : only supports 'socket', 'maxconn' and 'timeout' (got '')"
        );
    }
}
