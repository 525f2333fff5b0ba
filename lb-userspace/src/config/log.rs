//! `log global`, `log TARGET [len N] [format F] [sample R:S] FACILITY [LEVEL [MINLEVEL]]` and
//! `no log`.

use std::net::SocketAddr;
use std::path::PathBuf;

use super::addr::{self, Family, Prefix};
use super::error::ConfigError;
use super::line::Line;
use super::model::{Location, LogDest, LogFormat, LogTarget};

/// Syslog facilities, in HAProxy's order.
pub(crate) const FACILITIES: &[&str] = &[
    "kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron", "auth2",
    "ftp", "ntp", "audit", "alert", "cron2", "local0", "local1", "local2", "local3", "local4",
    "local5", "local6", "local7",
];

/// Syslog levels, most severe first.
pub(crate) const LEVELS: &[&str] = &[
    "emerg", "alert", "crit", "err", "warning", "notice", "info", "debug",
];

/// Default syslog port.
const SYSLOG_PORT: u16 = 514;

/// One `log` line of a proxy: either `log global` or a target.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum LogLine {
    /// `log global`: the global section's targets, expanded when the config is finished.
    Global(Location),
    /// A target of its own.
    Target(LogTarget),
}

/// Parses a `log` line (not `no log`); `log global` is accepted only when `allow_global`.
pub(crate) fn parse_log(line: &Line, allow_global: bool) -> Result<LogLine, ConfigError> {
    let target = line.required(1, "log", "<address> and <facility> as arguments")?;
    if target == "global" {
        if !allow_global {
            return Err(line.invalid(
                "log global",
                "only allowed in proxies ('global' is where it points to)",
            ));
        }
        line.max_args(1, "log global")?;
        return Ok(LogLine::Global(line.loc.clone()));
    }
    let dest = parse_dest(line, target)?;
    let mut format = LogFormat::default();
    let mut i = 2;
    loop {
        match line.arg(i) {
            Some("format") => format = parse_format(line, i + 1)?,
            Some("len") => return Err(line.unsupported("log ... len", "log line length limits")),
            Some("sample") => return Err(line.unsupported("log ... sample", "log sampling")),
            _ => break,
        }
        i += 2;
    }
    let facility = line.required(i, "log", "<address> and <facility> as arguments")?;
    if !FACILITIES.contains(&facility) {
        return Err(line.bad_value("log", facility, "unknown log facility"));
    }
    let max_level = match line.arg(i + 1) {
        Some(l) if LEVELS.contains(&l) => Some(l.to_owned()),
        Some(l) => return Err(line.bad_value("log", l, "unknown optional log level")),
        None => None,
    };
    if line.arg(i + 2).is_some() {
        line.max_args(i + 2, "log")?;
        return Err(line.unsupported("log ... <minlevel>", "minimum log levels"));
    }
    let facility = Some(facility.to_owned());
    Ok(LogLine::Target(LogTarget {
        dest,
        facility,
        max_level,
        format,
    }))
}

fn parse_format(line: &Line, i: usize) -> Result<LogFormat, ConfigError> {
    let name = line.required(i, "log format", "a format name")?;
    match name {
        "rfc3164" => Ok(LogFormat::Rfc3164),
        "rfc5424" => Ok(LogFormat::Rfc5424),
        "raw" => Ok(LogFormat::Raw),
        "short" => Ok(LogFormat::Short),
        "iso" | "local" | "priority" | "timed" => {
            Err(line.unsupported(format!("log format {name}"), "more log formats"))
        }
        _ => Err(line.bad_value("log format", name, "unknown log format")),
    }
}

fn parse_dest(line: &Line, target: &str) -> Result<LogDest, ConfigError> {
    match target {
        "stdout" | "fd@1" => return Ok(LogDest::Stdout),
        "stderr" | "fd@2" => return Ok(LogDest::Stderr),
        _ => {}
    }
    let (prefix, rest) = match addr::split_prefix(target) {
        Ok(split) => split,
        Err("ring") => return Err(line.unsupported(target, "log rings")),
        Err(p) => return Err(line.unsupported(format!("{p}@"), "more log destinations")),
    };
    let family = match prefix {
        Prefix::Unix => return unix_dest(line, rest),
        Prefix::Ip(_) if rest.starts_with('/') => return unix_dest(line, rest),
        Prefix::Ip(f) | Prefix::Udp(f) => f,
    };
    udp_dest(rest, family).map_err(|reason| line.bad_value("log", target, reason))
}

fn unix_dest(line: &Line, path: &str) -> Result<LogDest, ConfigError> {
    if path.is_empty() || path.len() > super::bind::MAX_UNIX_PATH {
        return Err(line.bad_value("log", path, "invalid unix socket path"));
    }
    Ok(LogDest::Unix(PathBuf::from(path)))
}

fn udp_dest(text: &str, family: Family) -> Result<LogDest, String> {
    let (host, port) = addr::split_host_port(text)?;
    let port = match port {
        None | Some("") => SYSLOG_PORT,
        Some(p) => addr::parse_port(p)?,
    };
    let ip = addr::resolve_host(host, family)?;
    if ip.is_unspecified() {
        return Err("a log server needs an address".into());
    }
    Ok(LogDest::Udp(SocketAddr::new(ip, port)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log(text: &str) -> Result<LogLine, String> {
        let l = Line::new(
            Location::default(),
            text.split_whitespace().map(str::to_owned).collect(),
        );
        parse_log(&l, true).map_err(|e| e.message())
    }

    fn target(text: &str) -> LogTarget {
        match log(text) {
            Ok(LogLine::Target(t)) => t,
            other => panic!("{text}: {other:?}"),
        }
    }

    #[test]
    fn destinations() {
        assert_eq!(target("log stdout local0").dest, LogDest::Stdout);
        assert_eq!(target("log fd@2 local0").dest, LogDest::Stderr);
        assert_eq!(
            target("log /dev/log local0").dest,
            LogDest::Unix("/dev/log".into())
        );
        assert_eq!(
            target("log unix@/dev/log local0").dest,
            LogDest::Unix("/dev/log".into())
        );
        assert_eq!(
            target("log 127.0.0.1 local0").dest,
            LogDest::Udp("127.0.0.1:514".parse().unwrap())
        );
        assert_eq!(
            target("log 127.0.0.1:1514 local0").dest,
            LogDest::Udp("127.0.0.1:1514".parse().unwrap())
        );
        assert_eq!(
            target("log udp@[::1]:10514 local0").dest,
            LogDest::Udp("[::1]:10514".parse().unwrap())
        );
        assert_eq!(
            target("log ipv4@localhost local0").dest,
            LogDest::Udp("127.0.0.1:514".parse().unwrap())
        );
    }

    #[test]
    fn facility_levels_and_format() {
        let t = target("log 127.0.0.1 format rfc5424 local3 notice");
        assert_eq!(t.facility.as_deref(), Some("local3"));
        assert_eq!(t.max_level.as_deref(), Some("notice"));
        assert_eq!(t.format, LogFormat::Rfc5424);
        let t = target("log stdout format raw daemon");
        assert_eq!((t.format, t.max_level), (LogFormat::Raw, None));
        assert_eq!(target("log stdout local0").format, LogFormat::Rfc3164);
        assert_eq!(
            target("log stdout format short user").format,
            LogFormat::Short
        );
    }

    #[test]
    fn global() {
        assert!(matches!(log("log global"), Ok(LogLine::Global(_))));
        assert_eq!(
            log("log global x").unwrap_err(),
            "'log global' cannot handle unexpected argument 'x'"
        );
        let l = Line::new(Location::default(), vec!["log".into(), "global".into()]);
        assert!(parse_log(&l, false).is_err());
    }

    #[test]
    fn errors() {
        assert_eq!(
            log("log").unwrap_err(),
            "'log' expects <address> and <facility> as arguments"
        );
        assert_eq!(
            log("log stdout").unwrap_err(),
            "'log' expects <address> and <facility> as arguments"
        );
        assert_eq!(
            log("log stdout local9").unwrap_err(),
            "'log' : invalid value 'local9' : unknown log facility"
        );
        assert_eq!(
            log("log stdout local0 loud").unwrap_err(),
            "'log' : invalid value 'loud' : unknown optional log level"
        );
        assert_eq!(
            log("log stdout format json local0").unwrap_err(),
            "'log format' : invalid value 'json' : unknown log format"
        );
        assert_eq!(
            log("log stdout format iso local0").unwrap_err(),
            "keyword 'log format iso' is not supported yet (comes with more log formats)"
        );
        assert_eq!(
            log("log stdout len 2048 local0").unwrap_err(),
            "keyword 'log ... len' is not supported yet (comes with log line length limits)"
        );
        assert_eq!(
            log("log stdout local0 info err").unwrap_err(),
            "keyword 'log ... <minlevel>' is not supported yet (comes with minimum log levels)"
        );
        assert_eq!(
            log("log stdout local0 info err x").unwrap_err(),
            "'log' cannot handle unexpected argument 'x'"
        );
        assert_eq!(
            log("log ring@buf local0").unwrap_err(),
            "keyword 'ring@buf' is not supported yet (comes with log rings)"
        );
        assert_eq!(
            log("log 127.0.0.1:0 local0").unwrap_err(),
            "'log' : invalid value '127.0.0.1:0' : invalid port '0'"
        );
    }
}
