//! The `xdp-deny` action: push an L7 verdict down to the XDP deny list.
//!
//! ```text
//! xdp-deny [for <duration>] [prefix <v4len>[,<v6len>]]
//! ```
//!
//! Adds the stream's source (`src`, after `set-src` or a PROXY header) masked to
//! `<v4len>` (default 32) or `<v6len>` (default 64) bits to the deny list of the XDP guard
//! for `<duration>` (HAProxy time, bare numbers in milliseconds; default 60s). The action is
//! not final: the current stream goes on unless a later rule rejects it. Shared by
//! `tcp-request connection|content` and `http-request` rules: [`parse_xdp_deny`] parses the
//! words after the keyword, and the rule host calls [`XdpDenyAction::apply`].

use std::{net::IpAddr, time::Duration};

use crate::config::units::{TimeUnit, UnitError, parse_time};
use crate::ebpf::Cidr;

/// Default lifetime of a pushed-down entry.
pub const DEFAULT_DURATION: Duration = Duration::from_secs(60);
/// Default IPv4 prefix length: the source address.
pub const DEFAULT_V4_PREFIX: u8 = 32;
/// Default IPv6 prefix length: the /64 a host usually gets (the SYN guard's key too).
pub const DEFAULT_V6_PREFIX: u8 = 64;

/// A parsed `xdp-deny` action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct XdpDenyAction {
    /// How long the entry lives.
    pub duration: Duration,
    /// Prefix length applied to IPv4 sources.
    pub v4_prefix: u8,
    /// Prefix length applied to IPv6 sources.
    pub v6_prefix: u8,
}

impl Default for XdpDenyAction {
    fn default() -> Self {
        Self {
            duration: DEFAULT_DURATION,
            v4_prefix: DEFAULT_V4_PREFIX,
            v6_prefix: DEFAULT_V6_PREFIX,
        }
    }
}

impl XdpDenyAction {
    /// The prefix denied for source `ip` (an IPv4-mapped IPv6 source counts as IPv4: its
    /// packets are IPv4 on the wire); `None` only for lengths the parser never produces.
    pub fn cidr_for(&self, ip: IpAddr) -> Option<Cidr> {
        let ip = ip.to_canonical();
        let len = if ip.is_ipv4() {
            self.v4_prefix
        } else {
            self.v6_prefix
        };
        Cidr::new(ip, len)
    }

    /// Runs the action for a stream whose source is `ip`.
    pub fn apply(&self, ip: IpAddr) {
        if let Some(cidr) = self.cidr_for(ip) {
            crate::ebpf::pushdown::deny(cidr, self.duration);
        }
    }
}

/// Why an `xdp-deny` action does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum XdpDenyError {
    /// `for` without a duration, or `prefix` without lengths.
    #[error("'{0}' expects {1}")]
    Missing(&'static str, &'static str),
    /// A duration that does not parse.
    #[error("invalid duration '{value}' : {source}")]
    Duration {
        /// The word.
        value: String,
        /// Why.
        source: UnitError,
    },
    /// A zero duration would deny nothing.
    #[error("the duration must be at least 1ms")]
    ZeroDuration,
    /// A prefix length out of range.
    #[error("invalid prefix '{0}' : expects <v4len>[,<v6len>] with v4len 1-32 and v6len 1-128")]
    Prefix(String),
    /// Something else than `for`, `prefix`, `if` or `unless`.
    #[error(
        "unexpected argument '{0}' (expects 'for <duration>', 'prefix <v4len>[,<v6len>]', 'if' or 'unless')"
    )]
    Unexpected(String),
    /// `for` or `prefix` given twice.
    #[error("'{0}' is given twice")]
    Twice(&'static str),
}

/// Parses the words after `xdp-deny`, up to the end or an `if`/`unless`; returns the
/// action and how many words it used.
pub fn parse_xdp_deny<S: AsRef<str>>(args: &[S]) -> Result<(XdpDenyAction, usize), XdpDenyError> {
    let mut action = XdpDenyAction::default();
    let (mut seen_for, mut seen_prefix) = (false, false);
    let mut i = 0;
    while let Some(word) = args.get(i).map(AsRef::as_ref) {
        match word {
            "if" | "unless" => break,
            "for" => {
                if std::mem::replace(&mut seen_for, true) {
                    return Err(XdpDenyError::Twice("for"));
                }
                let value = args
                    .get(i + 1)
                    .map(AsRef::as_ref)
                    .ok_or(XdpDenyError::Missing("for", "a duration"))?;
                let duration = parse_time(value, TimeUnit::Millis).map_err(|source| {
                    XdpDenyError::Duration {
                        value: value.to_owned(),
                        source,
                    }
                })?;
                if duration.is_zero() {
                    return Err(XdpDenyError::ZeroDuration);
                }
                action.duration = duration;
            }
            "prefix" => {
                if std::mem::replace(&mut seen_prefix, true) {
                    return Err(XdpDenyError::Twice("prefix"));
                }
                let value = args
                    .get(i + 1)
                    .map(AsRef::as_ref)
                    .ok_or(XdpDenyError::Missing("prefix", "<v4len>[,<v6len>]"))?;
                let (v4, v6) =
                    parse_prefixes(value).ok_or_else(|| XdpDenyError::Prefix(value.to_owned()))?;
                action.v4_prefix = v4;
                action.v6_prefix = v6.unwrap_or(action.v6_prefix);
            }
            other => return Err(XdpDenyError::Unexpected(other.to_owned())),
        }
        i += 2;
    }
    Ok((action, i))
}

/// `v4len` or `v4len,v6len`.
fn parse_prefixes(text: &str) -> Option<(u8, Option<u8>)> {
    let len = |s: &str, max: u8| {
        s.bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| s.parse::<u8>().ok())
            .flatten()
            .filter(|&n| (1..=max).contains(&n))
    };
    match text.split_once(',') {
        Some((v4, v6)) => Some((len(v4, 32)?, Some(len(v6, 128)?))),
        None => Some((len(text, 32)?, None)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<(XdpDenyAction, usize), String> {
        let words: Vec<&str> = text.split_whitespace().collect();
        parse_xdp_deny(&words).map_err(|e| e.to_string())
    }

    #[test]
    fn defaults_and_options() {
        assert_eq!(parse(""), Ok((XdpDenyAction::default(), 0)));
        let (a, used) = parse("for 10s prefix 24,48 if { src 10.0.0.1 }").unwrap();
        assert_eq!(used, 4);
        assert_eq!(
            a,
            XdpDenyAction {
                duration: Duration::from_secs(10),
                v4_prefix: 24,
                v6_prefix: 48
            }
        );
        let (a, used) = parse("prefix 16 unless x").unwrap();
        assert_eq!((a.v4_prefix, a.v6_prefix, used), (16, 64, 2));
        assert_eq!(
            parse("for 1500").unwrap().0.duration,
            Duration::from_millis(1500)
        );
    }

    #[test]
    fn errors() {
        assert_eq!(parse("for").unwrap_err(), "'for' expects a duration");
        assert_eq!(
            parse("for 10x").unwrap_err(),
            "invalid duration '10x' : unexpected character 'x' (time units are us, ms, s, m, h, d)"
        );
        assert_eq!(
            parse("for 0s").unwrap_err(),
            "the duration must be at least 1ms"
        );
        assert_eq!(
            parse("prefix 33").unwrap_err(),
            "invalid prefix '33' : expects <v4len>[,<v6len>] with v4len 1-32 and v6len 1-128"
        );
        assert!(parse("prefix 24,129").is_err());
        assert!(parse("prefix 0").is_err());
        assert!(parse("prefix +8").is_err());
        assert_eq!(parse("for 1s for 2s").unwrap_err(), "'for' is given twice");
        assert_eq!(
            parse("forever").unwrap_err(),
            "unexpected argument 'forever' (expects 'for <duration>', 'prefix <v4len>[,<v6len>]', 'if' or 'unless')"
        );
    }

    #[test]
    fn source_prefixes() {
        let a = XdpDenyAction {
            v4_prefix: 24,
            ..XdpDenyAction::default()
        };
        let v4: IpAddr = "192.0.2.77".parse().unwrap();
        assert_eq!(a.cidr_for(v4).unwrap().to_string(), "192.0.2.0/24");
        let mapped: IpAddr = "::ffff:192.0.2.77".parse().unwrap();
        assert_eq!(a.cidr_for(mapped).unwrap().to_string(), "192.0.2.0/24");
        let v6: IpAddr = "2001:db8:1:2:3::9".parse().unwrap();
        assert_eq!(a.cidr_for(v6).unwrap().to_string(), "2001:db8:1:2::/64");
    }

    #[test]
    fn in_tcp_rules() {
        let cfg = |rule: &str| {
            let text = format!(
                "frontend fe\n bind 127.0.0.1:1\n {rule}\n default_backend be\nbackend be\n server s 127.0.0.1:2\n"
            );
            crate::config::parse_str(&text, std::path::Path::new("t.cfg"))
        };
        let config = cfg("tcp-request connection xdp-deny for 10s if { src 10.0.0.1 }").unwrap();
        let rule = &config.frontends[0].rules.connection[0];
        assert!(rule.cond.is_some());
        assert!(matches!(
            rule.action,
            crate::rules::Action::XdpDeny(XdpDenyAction { duration, .. }) if duration == Duration::from_secs(10)
        ));
        let config = cfg("tcp-request content xdp-deny prefix 24").unwrap();
        assert!(matches!(
            config.frontends[0].rules.content[0].action,
            crate::rules::Action::XdpDeny(XdpDenyAction { v4_prefix: 24, .. })
        ));
        let e = cfg("tcp-request connection xdp-deny for").unwrap_err();
        let e = e.iter().next().unwrap();
        assert_eq!(e.location.line, 3);
        assert_eq!(
            e.kind.to_string(),
            "'tcp-request connection xdp-deny' : 'for' expects a duration"
        );
        let e = cfg("tcp-request connection xdp-deny forever").unwrap_err();
        assert!(
            e.iter()
                .next()
                .unwrap()
                .to_string()
                .contains("unexpected argument 'forever'"),
            "{}",
            e.iter().next().unwrap()
        );
    }

    /// Records `xdp_deny` calls; everything else does nothing.
    #[derive(Default)]
    struct Host(Vec<(IpAddr, XdpDenyAction)>);

    impl crate::rules::RuleHost for Host {
        fn track(&mut self, _: u8, _: &str, _: crate::sample::Sample<'_>) {}
        fn inc_gpc(&mut self, _: u8, _: crate::rules::Gpc) {}
        fn set_gpt0(&mut self, _: u8, _: i64) {}
        fn set_src(&mut self, _: std::net::SocketAddr) {}
        fn set_dst(&mut self, _: std::net::SocketAddr) {}
        fn expect_proxy(&mut self) {}
        fn xdp_deny(&mut self, src: IpAddr, action: &XdpDenyAction) {
            self.0.push((src, *action));
        }
    }

    #[test]
    fn the_engine_pushes_the_source_as_rules_see_it_and_goes_on() {
        let text = "frontend fe\n bind 127.0.0.1:1\n\
                    tcp-request connection set-src ipv4(192.0.2.9)\n\
                    tcp-request connection xdp-deny for 5s if { src 192.0.2.9 }\n\
                    tcp-request connection reject\n\
                    default_backend be\nbackend be\n server s 127.0.0.1:2\n";
        let config = crate::config::parse_str(text, std::path::Path::new("t.cfg")).unwrap();
        let rules = &config.frontends[0].rules;
        let src = std::net::SocketAddr::from(([198, 51, 100, 1], 40000));
        let dst = std::net::SocketAddr::from(([127, 0, 0, 1], 1));
        let mut ctx = crate::sample::StreamCtx::new(src, dst, "fe");
        let mut host = Host::default();
        let verdict = rules.eval_connection(&mut ctx, &mut host);
        // Not final: the `reject` after it still runs.
        assert_eq!(verdict, crate::rules::Verdict::Reject);
        let pushed: Vec<(String, Duration)> = host
            .0
            .iter()
            .map(|(ip, a)| (a.cidr_for(*ip).unwrap().to_string(), a.duration))
            .collect();
        assert_eq!(
            pushed,
            [("192.0.2.9/32".to_owned(), Duration::from_secs(5))]
        );
    }
}
