//! `server NAME ADDR[:PORT] [options...]` and `default-server [options...]`.
//!
//! A `server` line starts from the `default-server` settings in effect at that point (the
//! proxy's own `default-server` lines applied over the inherited `defaults` ones), then applies
//! its own options; built-in defaults (`inter 2s`, `rise 2`...) are applied when the backend
//! is finalized.

use std::net::IpAddr;
use std::time::Duration;

use super::addr::{self, Prefix};
use super::error::{ConfigError, ErrorKind, did_you_mean};
use super::keywords;
use super::line::{Line, invalid_name_char};
use super::model::{Location, ServerPort};

/// Options shared by `server` and `default-server`; `None` means "not set here".
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct ServerOpts {
    pub check: Option<bool>,
    pub inter: Option<Duration>,
    pub fastinter: Option<Duration>,
    pub downinter: Option<Duration>,
    pub rise: Option<u32>,
    pub fall: Option<u32>,
    pub weight: Option<u32>,
    pub backup: Option<bool>,
    pub maxconn: Option<u32>,
    pub disabled: Option<bool>,
    pub slowstart: Option<Duration>,
    pub check_addr: Option<IpAddr>,
    pub check_port: Option<u16>,
    /// `send-proxy` / `no-send-proxy`.
    pub send_proxy_v1: Option<bool>,
    /// `send-proxy-v2` / `no-send-proxy-v2`.
    pub send_proxy_v2: Option<bool>,
    /// `cookie VALUE`.
    pub cookie: Option<String>,
    /// `non-stick` / `stick`.
    pub non_stick: Option<bool>,
    /// `proto h2`: talk HTTP/2 to the server (HTTP mode).
    pub proto_h2: Option<bool>,
    /// `pool-max-conn N`: idle connections kept per worker (-1 = no limit).
    pub pool_max_conn: Option<i64>,
    /// `pool-purge-delay T`: how often surplus idle connections are closed.
    pub pool_purge_delay: Option<Duration>,
}

/// A parsed `server` line, before ids, defaults and `track` are resolved.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ServerDraft {
    pub name: String,
    pub addr: IpAddr,
    pub port: ServerPort,
    pub opts: ServerOpts,
    /// `id N`.
    pub id: Option<u32>,
    /// `track [BACKEND/]SERVER`: (backend, server).
    pub track: Option<(Option<String>, String)>,
    pub location: Location,
}

/// Options we implement, for suggestions.
const SUPPORTED: &[&str] = &[
    "addr",
    "backup",
    "check",
    "cookie",
    "disabled",
    "downinter",
    "enabled",
    "fall",
    "fastinter",
    "id",
    "inter",
    "maxconn",
    "no-backup",
    "no-check",
    "no-send-proxy",
    "no-send-proxy-v2",
    "non-stick",
    "pool-max-conn",
    "pool-purge-delay",
    "port",
    "rise",
    "send-proxy",
    "send-proxy-v2",
    "slowstart",
    "stick",
    "track",
    "weight",
];

/// Largest server weight, as in HAProxy.
pub(crate) const MAX_WEIGHT: u32 = 256;

/// Parses a `server` line; `defaults` are the `default-server` settings in effect.
pub(crate) fn parse_server(line: &Line, defaults: &ServerOpts) -> Result<ServerDraft, ConfigError> {
    let expected = "<name> and <addr> as arguments";
    let name = line.required(1, "server", expected)?;
    if let Some(c) = invalid_name_char(name) {
        return Err(line.invalid(
            "server",
            format!("character '{c}' is not permitted in server name '{name}'"),
        ));
    }
    let spec = line.required(2, "server", expected)?;
    let context = format!("server {name}");
    let (addr, port) = parse_address(spec).map_err(|e| match e {
        AddrError::Invalid(reason) => line.invalid(&context, reason),
        AddrError::Unsupported(what, feature) => line.unsupported(what, feature),
    })?;
    let mut draft = ServerDraft {
        name: name.to_owned(),
        addr,
        port,
        opts: defaults.clone(),
        id: None,
        track: None,
        location: line.loc.clone(),
    };
    let mut i = 3;
    while let Some(opt) = line.arg(i) {
        i += match opt {
            "id" => parse_id(line, i, &mut draft)?,
            "track" => parse_track(line, i, &mut draft)?,
            _ => parse_option(line, i, &context, &mut draft.opts)?,
        };
    }
    Ok(draft)
}

/// Applies a `default-server` line to the proxy's current defaults.
pub(crate) fn parse_default_server(line: &Line, opts: &mut ServerOpts) -> Result<(), ConfigError> {
    let mut i = 1;
    while let Some(opt) = line.arg(i) {
        if matches!(opt, "id" | "track") {
            return Err(line.invalid(
                "default-server",
                format!("'{opt}' is not allowed in 'default-server'"),
            ));
        }
        i += parse_option(line, i, "default-server", opts)?;
    }
    Ok(())
}

fn parse_id(line: &Line, i: usize, draft: &mut ServerDraft) -> Result<usize, ConfigError> {
    let value = line.required(i + 1, "id", "a positive integer")?;
    draft.id = Some(line.u32_in("id", value, 1, i32::MAX.unsigned_abs())?);
    Ok(2)
}

fn parse_track(line: &Line, i: usize, draft: &mut ServerDraft) -> Result<usize, ConfigError> {
    let value = line.required(i + 1, "track", "[<backend>/]<server> as argument")?;
    let (backend, server) = match value.split_once('/') {
        Some((b, s)) => (Some(b.to_owned()), s),
        None => (None, value),
    };
    if server.is_empty() || backend.as_deref() == Some("") {
        return Err(line.bad_value("track", value, "expects [<backend>/]<server>"));
    }
    draft.track = Some((backend, server.to_owned()));
    Ok(2)
}

/// Parses option `i`; returns how many words it used.
fn parse_option(
    line: &Line,
    i: usize,
    context: &str,
    o: &mut ServerOpts,
) -> Result<usize, ConfigError> {
    let opt = line.arg(i).unwrap_or_default();
    let flag = |field: &mut Option<bool>, v: bool| {
        *field = Some(v);
        Ok(1)
    };
    match opt {
        "check" => flag(&mut o.check, true),
        "no-check" => flag(&mut o.check, false),
        "backup" => flag(&mut o.backup, true),
        "no-backup" => flag(&mut o.backup, false),
        "disabled" => flag(&mut o.disabled, true),
        "enabled" => flag(&mut o.disabled, false),
        // As HAProxy, v1 and v2 are separate switches (v2 wins when both are on), so
        // `no-send-proxy` does not undo an inherited `send-proxy-v2`.
        "send-proxy" => flag(&mut o.send_proxy_v1, true),
        "no-send-proxy" => flag(&mut o.send_proxy_v1, false),
        "send-proxy-v2" => flag(&mut o.send_proxy_v2, true),
        "no-send-proxy-v2" => flag(&mut o.send_proxy_v2, false),
        "proto" => {
            let value = line.required(i + 1, "proto", "a MUX protocol name as argument")?;
            o.proto_h2 = Some(match value {
                "h2" => true,
                "h1" => false,
                _ => {
                    let reason = format!("'proto' :  unknown MUX protocol '{value}'");
                    return Err(line.invalid(context, reason));
                }
            });
            Ok(2)
        }
        "inter" | "fastinter" | "downinter" | "slowstart" => parse_delay(line, i, o),
        "rise" | "fall" | "weight" | "maxconn" | "port" => parse_count(line, i, o),
        "pool-max-conn" => {
            let value = line.required(i + 1, opt, "an integer as argument")?;
            let n = value
                .parse::<i64>()
                .ok()
                .filter(|n| (-1..=i64::from(i32::MAX)).contains(n))
                .ok_or_else(|| line.bad_value(opt, value, "must be >= -1"))?;
            o.pool_max_conn = Some(n);
            Ok(2)
        }
        "pool-purge-delay" => {
            let value = line.required(i + 1, opt, "a time as argument")?;
            o.pool_purge_delay = Some(line.time(opt, value)?);
            Ok(2)
        }
        "non-stick" => flag(&mut o.non_stick, true),
        "stick" => flag(&mut o.non_stick, false),
        "cookie" => {
            let value = line.required(i + 1, "cookie", "<value> as argument")?;
            o.cookie = Some(value.to_owned());
            Ok(2)
        }
        "addr" => {
            let value = line.required(i + 1, "addr", "an address as argument")?;
            let ip = addr::resolve_host(value, addr::Family::Any)
                .map_err(|e| line.bad_value("addr", value, e))?;
            o.check_addr = Some(ip);
            Ok(2)
        }
        _ => Err(unknown_option(line, context, opt)),
    }
}

fn parse_delay(line: &Line, i: usize, o: &mut ServerOpts) -> Result<usize, ConfigError> {
    let opt = line.arg(i).unwrap_or_default();
    let value = line.required(i + 1, opt, "a time as argument")?;
    let t = line.time(opt, value)?;
    if t.is_zero() && opt != "slowstart" {
        return Err(line.bad_value(opt, value, "must be greater than 0"));
    }
    let field = match opt {
        "inter" => &mut o.inter,
        "fastinter" => &mut o.fastinter,
        "downinter" => &mut o.downinter,
        _ => &mut o.slowstart,
    };
    *field = Some(t);
    Ok(2)
}

fn parse_count(line: &Line, i: usize, o: &mut ServerOpts) -> Result<usize, ConfigError> {
    let opt = line.arg(i).unwrap_or_default();
    let value = line.required(i + 1, opt, "an integer as argument")?;
    let max = i32::MAX.unsigned_abs();
    match opt {
        "rise" => o.rise = Some(line.u32_in(opt, value, 1, max)?),
        "fall" => o.fall = Some(line.u32_in(opt, value, 1, max)?),
        "weight" => o.weight = Some(line.u32_in(opt, value, 0, MAX_WEIGHT)?),
        "maxconn" => o.maxconn = Some(line.u32_in(opt, value, 0, max)?),
        _ => {
            o.check_port = Some(addr::parse_port(value).map_err(|e| line.bad_value(opt, value, e))?)
        }
    }
    Ok(2)
}

fn unknown_option(line: &Line, context: &str, opt: &str) -> ConfigError {
    if let Some(feature) = keywords::feature(keywords::SERVER, opt) {
        return line.unsupported(opt, feature);
    }
    let candidates = SUPPORTED
        .iter()
        .copied()
        .chain(keywords::names(keywords::SERVER));
    let reason = format!("unknown keyword '{opt}'");
    line.err(ErrorKind::Invalid {
        keyword: context.into(),
        reason,
    })
    .with_suggestion(did_you_mean(opt, candidates))
}

enum AddrError {
    Invalid(String),
    Unsupported(String, &'static str),
}

/// `IP[:PORT|:+OFFSET|:-OFFSET]`, a hostname, with optional `ipv4@`/`ipv6@`.
fn parse_address(spec: &str) -> Result<(IpAddr, ServerPort), AddrError> {
    let family = match addr::split_prefix(spec) {
        Ok((Prefix::Ip(family), _)) => family,
        Ok((Prefix::Unix, _)) => {
            return Err(AddrError::Unsupported(spec.into(), "unix socket servers"));
        }
        Ok((Prefix::Udp(_), _)) => {
            return Err(AddrError::Invalid(format!(
                "'{spec}' : UDP servers are not possible"
            )));
        }
        Err(p) => {
            return Err(AddrError::Unsupported(
                format!("{p}@"),
                "more socket families",
            ));
        }
    };
    let rest = spec.split_once('@').map_or(spec, |(_, r)| r);
    if rest.starts_with('/') {
        return Err(AddrError::Unsupported(spec.into(), "unix socket servers"));
    }
    let (host, port) = addr::split_host_port(rest).map_err(AddrError::Invalid)?;
    let ip = addr::resolve_host(host, family).map_err(AddrError::Invalid)?;
    if ip.is_unspecified() {
        let what = format!("server address '{spec}'");
        return Err(AddrError::Unsupported(
            what,
            "transparent proxying (use the client's destination)",
        ));
    }
    let port = parse_server_port(port.unwrap_or("")).map_err(AddrError::Invalid)?;
    Ok((ip, port))
}

fn parse_server_port(text: &str) -> Result<ServerPort, String> {
    let offset = |digits: &str, sign: i32| match digits.parse::<u16>() {
        Ok(n) => Ok(ServerPort::Offset(sign * i32::from(n))),
        Err(_) => Err(format!("invalid port offset '{text}'")),
    };
    match text.as_bytes().first() {
        None => Ok(ServerPort::SameAsClient),
        Some(b'+') => offset(&text[1..], 1),
        Some(b'-') => offset(&text[1..], -1),
        Some(_) => addr::parse_port(text).map(ServerPort::Fixed),
    }
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, Ipv6Addr};

    use super::*;

    fn line(text: &str) -> Line {
        Line::new(
            Location::default(),
            text.split_whitespace().map(str::to_owned).collect(),
        )
    }

    fn server(text: &str) -> Result<ServerDraft, String> {
        parse_server(&line(text), &ServerOpts::default()).map_err(|e| e.message())
    }

    const LO: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

    #[test]
    fn addresses_and_ports() {
        let s = server("server s1 127.0.0.1:8080").unwrap();
        assert_eq!(
            (s.name.as_str(), s.addr, s.port),
            ("s1", LO, ServerPort::Fixed(8080))
        );
        assert_eq!(
            server("server s 127.0.0.1").map(|s| s.port),
            Ok(ServerPort::SameAsClient)
        );
        assert_eq!(
            server("server s 127.0.0.1:+10").map(|s| s.port),
            Ok(ServerPort::Offset(10))
        );
        assert_eq!(
            server("server s 127.0.0.1:-1000").map(|s| s.port),
            Ok(ServerPort::Offset(-1000))
        );
        let v6 = server("server s [::1]:80").unwrap();
        assert_eq!(
            (v6.addr, v6.port),
            (IpAddr::V6(Ipv6Addr::LOCALHOST), ServerPort::Fixed(80))
        );
        assert_eq!(
            server("server s ::1").map(|s| s.port),
            Ok(ServerPort::SameAsClient)
        );
        assert_eq!(
            server("server s ipv6@::1:81").map(|s| s.port),
            Ok(ServerPort::Fixed(81))
        );
        assert!(server("server s localhost:80").is_ok_and(|s| s.addr.is_loopback()));
    }

    #[test]
    fn address_errors() {
        assert_eq!(
            server("server").unwrap_err(),
            "'server' expects <name> and <addr> as arguments"
        );
        assert_eq!(
            server("server s1").unwrap_err(),
            "'server' expects <name> and <addr> as arguments"
        );
        assert_eq!(
            server("server s/1 1.2.3.4").unwrap_err(),
            "'server' : character '/' is not permitted in server name 's/1'"
        );
        assert_eq!(
            server("server s 1.2.3.4:0").unwrap_err(),
            "'server s' : invalid port '0'"
        );
        assert_eq!(
            server("server s 1.2.3.4:+x").unwrap_err(),
            "'server s' : invalid port offset '+x'"
        );
        assert_eq!(
            server("server s /run/app.sock").unwrap_err(),
            "keyword '/run/app.sock' is not supported yet (comes with unix socket servers)"
        );
        assert!(
            server("server s 0.0.0.0:80")
                .unwrap_err()
                .contains("transparent proxying")
        );
    }

    #[test]
    fn options() {
        let s = server(
            "server s 127.0.0.1:80 check inter 3s fastinter 1s downinter 5s rise 4 fall 5 weight 20 backup \
             maxconn 100 disabled slowstart 10s addr 127.0.0.2 port 8081 id 7 track other/t",
        )
        .unwrap();
        let o = &s.opts;
        assert_eq!(o.check, Some(true));
        assert_eq!(o.inter, Some(Duration::from_secs(3)));
        assert_eq!(o.fastinter, Some(Duration::from_secs(1)));
        assert_eq!(o.downinter, Some(Duration::from_secs(5)));
        assert_eq!(
            (o.rise, o.fall, o.weight, o.maxconn),
            (Some(4), Some(5), Some(20), Some(100))
        );
        assert_eq!((o.backup, o.disabled), (Some(true), Some(true)));
        assert_eq!(o.slowstart, Some(Duration::from_secs(10)));
        assert_eq!(o.check_addr, Some(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2))));
        assert_eq!(o.check_port, Some(8081));
        assert_eq!(s.id, Some(7));
        assert_eq!(s.track, Some((Some("other".into()), "t".into())));
        assert_eq!(
            server("server s 1.2.3.4 track t").map(|s| s.track),
            Ok(Some((None, "t".into())))
        );
    }

    #[test]
    fn option_errors() {
        let err = |t| server(t).unwrap_err();
        assert_eq!(
            err("server s 1.2.3.4 weight 257"),
            "'weight' : invalid value '257' : must be between 0 and 256"
        );
        assert_eq!(
            err("server s 1.2.3.4 rise 0"),
            "'rise' : invalid value '0' : must be between 1 and 2147483647"
        );
        assert_eq!(
            err("server s 1.2.3.4 fall 0"),
            "'fall' : invalid value '0' : must be between 1 and 2147483647"
        );
        assert_eq!(
            err("server s 1.2.3.4 inter 0"),
            "'inter' : invalid value '0' : must be greater than 0"
        );
        assert_eq!(
            err("server s 1.2.3.4 inter"),
            "'inter' expects a time as argument"
        );
        assert_eq!(
            err("server s 1.2.3.4 inter 2x"),
            "'inter' : invalid value '2x' : unexpected character 'x' (time units are us, ms, s, m, h, d)"
        );
        assert_eq!(
            err("server s 1.2.3.4 port 70000"),
            "'port' : invalid value '70000' : invalid port '70000'"
        );
        assert_eq!(
            err("server s 1.2.3.4 id 0"),
            "'id' : invalid value '0' : must be between 1 and 2147483647"
        );
        assert_eq!(
            err("server s 1.2.3.4 track a/"),
            "'track' : invalid value 'a/' : expects [<backend>/]<server>"
        );
        assert_eq!(
            err("server s 1.2.3.4 chek"),
            "'server s' : unknown keyword 'chek'; did you mean 'check' maybe ?"
        );
        assert_eq!(
            err("server s 1.2.3.4 ssl"),
            "keyword 'ssl' is not supported yet (comes with SSL/TLS)"
        );
    }

    #[test]
    fn send_proxy_options() {
        let opts = |t| server(t).map(|s| (s.opts.send_proxy_v1, s.opts.send_proxy_v2));
        assert_eq!(opts("server s 1.2.3.4"), Ok((None, None)));
        assert_eq!(opts("server s 1.2.3.4 send-proxy"), Ok((Some(true), None)));
        assert_eq!(
            opts("server s 1.2.3.4 send-proxy-v2"),
            Ok((None, Some(true)))
        );
        assert_eq!(
            opts("server s 1.2.3.4 send-proxy no-send-proxy"),
            Ok((Some(false), None))
        );
        let mut defaults = ServerOpts::default();
        parse_default_server(&line("default-server send-proxy-v2"), &mut defaults).unwrap();
        let s = parse_server(
            &line("server s 1.2.3.4 no-send-proxy-v2 send-proxy"),
            &defaults,
        )
        .unwrap();
        assert_eq!(
            (s.opts.send_proxy_v1, s.opts.send_proxy_v2),
            (Some(true), Some(false))
        );
        assert_eq!(
            server("server s 1.2.3.4 send-proxy-v2-ssl").unwrap_err(),
            "keyword 'send-proxy-v2-ssl' is not supported yet (comes with SSL/TLS)"
        );
        assert_eq!(
            server("server s 1.2.3.4 send-prxy").unwrap_err(),
            "'server s' : unknown keyword 'send-prxy'; did you mean 'send-proxy' maybe ?"
        );
    }

    #[test]
    fn default_server_merges() {
        let mut defaults = ServerOpts::default();
        parse_default_server(
            &line("default-server inter 1s rise 5 check backup"),
            &mut defaults,
        )
        .unwrap();
        let s = parse_server(&line("server s 1.2.3.4:80 rise 1 no-backup"), &defaults).unwrap();
        assert_eq!(s.opts.inter, Some(Duration::from_secs(1)));
        assert_eq!(
            (s.opts.rise, s.opts.check, s.opts.backup),
            (Some(1), Some(true), Some(false))
        );
        let e = parse_default_server(&line("default-server id 3"), &mut defaults).unwrap_err();
        assert_eq!(
            e.message(),
            "'default-server' : 'id' is not allowed in 'default-server'"
        );
    }
}
