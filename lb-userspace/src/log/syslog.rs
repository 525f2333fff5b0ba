//! Syslog framing of log lines, as HAProxy's `log ... format rfc3164|rfc5424|raw|short`.
//!
//! Pure: [`frame`] turns a message and its header fields into the bytes one target receives.
//! Facility and level names are HAProxy's.

use std::fmt::Write as _;

use crate::config::model::LogFormat;

use super::time::LocalTime;

/// HAProxy's facility names, indexed by facility number.
pub const FACILITY_NAMES: [&str; 24] = [
    "kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron", "auth2",
    "ftp", "ntp", "audit", "alert", "cron2", "local0", "local1", "local2", "local3", "local4",
    "local5", "local6", "local7",
];

/// HAProxy's level names, indexed by level number.
pub const LEVEL_NAMES: [&str; 8] = [
    "emerg", "alert", "crit", "err", "warning", "notice", "info", "debug",
];

/// HAProxy's default maximum length of a syslog message sent over the network (`len`),
/// header and trailing newline included.
pub const DEFAULT_MAX_LEN: usize = 1024;

/// A syslog facility (0..=23).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Facility(u8);

impl Facility {
    /// `user`, what syslog(3) uses when none is given.
    pub const USER: Self = Self(1);

    /// The facility called `name` (`local0`, `daemon`, ...).
    pub fn from_name(name: &str) -> Option<Self> {
        FACILITY_NAMES
            .iter()
            .position(|n| *n == name)
            .and_then(|i| u8::try_from(i).ok())
            .map(Self)
    }

    /// The facility number.
    pub fn code(self) -> u8 {
        self.0
    }
}

/// A syslog severity level; lower is more severe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// `emerg` (0).
    Emerg = 0,
    /// `alert` (1).
    Alert = 1,
    /// `crit` (2).
    Crit = 2,
    /// `err` (3).
    Err = 3,
    /// `warning` (4).
    Warning = 4,
    /// `notice` (5).
    Notice = 5,
    /// `info` (6): traffic logs.
    Info = 6,
    /// `debug` (7).
    Debug = 7,
}

impl Level {
    const ALL: [Self; 8] = [
        Self::Emerg,
        Self::Alert,
        Self::Crit,
        Self::Err,
        Self::Warning,
        Self::Notice,
        Self::Info,
        Self::Debug,
    ];

    /// The level called `name` (`emerg` .. `debug`).
    pub fn from_name(name: &str) -> Option<Self> {
        LEVEL_NAMES
            .iter()
            .position(|n| *n == name)
            .and_then(|i| Self::ALL.get(i).copied())
    }

    /// HAProxy's name of the level.
    pub fn name(self) -> &'static str {
        LEVEL_NAMES[self as usize]
    }

    /// The level number.
    pub fn code(self) -> u8 {
        self as u8
    }

    /// Whether a message at this level passes a target's `max` level (HAProxy drops messages
    /// less severe than the target's level).
    pub fn passes(self, max: Option<Self>) -> bool {
        max.is_none_or(|m| self <= m)
    }
}

/// The header fields of one syslog message.
#[derive(Debug, Clone, Copy)]
pub struct Header<'a> {
    /// Facility of the target.
    pub facility: Facility,
    /// Level of the message.
    pub level: Level,
    /// When the message is sent, in local time.
    pub time: &'a LocalTime,
    /// Host name (`log-send-hostname`); `None` omits it in RFC 3164 and prints `-` in RFC 5424.
    pub hostname: Option<&'a str>,
    /// Program tag (`log-tag`, default the program name).
    pub tag: &'a str,
    /// Process id.
    pub pid: u32,
}

/// Frames `msg` for a target: header, message, then a newline as HAProxy ends every log line.
/// With `max_len`, the result (newline included) is truncated to that many bytes, keeping the
/// newline, as HAProxy does for network targets.
pub fn frame(format: LogFormat, hdr: &Header<'_>, msg: &str, max_len: Option<usize>) -> Vec<u8> {
    let mut head = String::with_capacity(64);
    let pri = u16::from(hdr.facility.code()) * 8 + u16::from(hdr.level.code());
    match format {
        LogFormat::Rfc3164 => {
            let _ = write!(head, "<{pri}>");
            hdr.time.write_rfc3164(&mut head);
            head.push(' ');
            if let Some(host) = hdr.hostname {
                head.push_str(host);
                head.push(' ');
            }
            let _ = write!(head, "{}[{}]: ", hdr.tag, hdr.pid);
        }
        LogFormat::Rfc5424 => {
            let _ = write!(head, "<{pri}>1 ");
            hdr.time.write_rfc5424(&mut head);
            let _ = write!(
                head,
                " {} {} {} - - ",
                hdr.hostname.unwrap_or("-"),
                if hdr.tag.is_empty() { "-" } else { hdr.tag },
                hdr.pid
            );
        }
        LogFormat::Short => {
            // `short` carries the level only, not the facility.
            let _ = write!(head, "<{}>", hdr.level.code());
        }
        LogFormat::Raw => {}
    }
    let msg = msg.trim_end_matches('\n').as_bytes();
    let mut out = Vec::with_capacity(head.len() + msg.len() + 1);
    out.extend_from_slice(head.as_bytes());
    out.extend_from_slice(msg);
    if let Some(max) = max_len {
        out.truncate(max.saturating_sub(1));
    }
    out.push(b'\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t() -> LocalTime {
        LocalTime::from_unix(1_793_761_357, 123_456, 0) // 2026-11-04T03:02:37.123456Z
    }

    fn hdr<'a>(time: &'a LocalTime, hostname: Option<&'a str>) -> Header<'a> {
        Header {
            facility: Facility::from_name("local0").unwrap(),
            level: Level::Info,
            time,
            hostname,
            tag: "lb",
            pid: 4242,
        }
    }

    #[test]
    fn names_map_to_numbers() {
        assert_eq!(Facility::from_name("kern").unwrap().code(), 0);
        assert_eq!(Facility::from_name("daemon").unwrap().code(), 3);
        assert_eq!(Facility::from_name("local0").unwrap().code(), 16);
        assert_eq!(Facility::from_name("local7").unwrap().code(), 23);
        assert_eq!(Facility::from_name("local8"), None);
        assert_eq!(Level::from_name("emerg"), Some(Level::Emerg));
        assert_eq!(Level::from_name("warning").unwrap().code(), 4);
        assert_eq!(Level::from_name("debug").unwrap().code(), 7);
        assert_eq!(Level::from_name("warn"), None);
        assert_eq!(Level::Notice.name(), "notice");
    }

    #[test]
    fn max_level_filters_less_severe_messages() {
        let max = Level::from_name("notice");
        assert!(Level::Alert.passes(max));
        assert!(Level::Notice.passes(max));
        assert!(!Level::Info.passes(max));
        assert!(Level::Debug.passes(None));
    }

    #[test]
    fn rfc3164() {
        let time = t();
        let out = frame(LogFormat::Rfc3164, &hdr(&time, None), "hello", None);
        assert_eq!(out, b"<134>Nov  4 03:02:37 lb[4242]: hello\n");
        let out = frame(
            LogFormat::Rfc3164,
            &hdr(&time, Some("lb1")),
            "hello\n",
            None,
        );
        assert_eq!(out, b"<134>Nov  4 03:02:37 lb1 lb[4242]: hello\n");
    }

    #[test]
    fn rfc5424() {
        let time = t();
        let out = frame(LogFormat::Rfc5424, &hdr(&time, None), "hello", None);
        assert_eq!(
            out,
            b"<134>1 2026-11-04T03:02:37.123456+00:00 - lb 4242 - - hello\n"
        );
        let out = frame(LogFormat::Rfc5424, &hdr(&time, Some("h")), "x", None);
        assert_eq!(
            out,
            b"<134>1 2026-11-04T03:02:37.123456+00:00 h lb 4242 - - x\n"
        );
    }

    #[test]
    fn short_and_raw() {
        let time = t();
        let mut h = hdr(&time, None);
        h.level = Level::Alert;
        assert_eq!(frame(LogFormat::Short, &h, "down", None), b"<1>down\n");
        assert_eq!(frame(LogFormat::Raw, &h, "down", None), b"down\n");
    }

    #[test]
    fn truncation_keeps_the_newline() {
        let time = t();
        let long = "x".repeat(5000);
        let out = frame(
            LogFormat::Rfc3164,
            &hdr(&time, None),
            &long,
            Some(DEFAULT_MAX_LEN),
        );
        assert_eq!(out.len(), DEFAULT_MAX_LEN);
        assert_eq!(out.last(), Some(&b'\n'));
        assert!(out.starts_with(b"<134>Nov  4 03:02:37 lb[4242]: xxx"));
    }
}
