//! Check outcomes with HAProxy's status words (`check_statuses[]` in HAProxy's `check.c`).
//!
//! A [`CheckResult`] is what one health check produced: a [`CheckStatus`], the HTTP code
//! when there is one, a free-text `info` and the time the check took. Its [`Display`]
//! gives the `, reason: ..., code: ..., info: "...", check duration: Nms` part of HAProxy's
//! state-change log lines.
//!
//! [`Display`]: std::fmt::Display

use std::fmt;
use std::time::Duration;

/// Longest `info` HAProxy keeps (`HCHK_DESC_LEN - 1` bytes).
pub const INFO_MAX_LEN: usize = 127;

/// The status of a finished check, as HAProxy names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CheckStatus {
    /// `SOCKERR`: an I/O error after the connection was established, or before any attempt.
    SockErr,
    /// `L4OK`: the TCP connection was established (plain check).
    L4Ok,
    /// `L4TOUT`: the TCP connection did not complete in time.
    L4Tout,
    /// `L4CON`: the TCP connection failed (refused, unreachable...).
    L4Con,
    /// `L6OK`: the TLS handshake succeeded.
    L6Ok,
    /// `L6TOUT`: the TLS handshake did not complete in time.
    L6Tout,
    /// `L6RSP`: the TLS handshake failed.
    L6Rsp,
    /// `L7TOUT`: connected, but no conclusive answer in time.
    L7Tout,
    /// `L7RSP`: the answer was invalid or did not match.
    L7Rsp,
    /// `L7OK`: the answer was as expected.
    L7Ok,
    /// `L7STS`: the HTTP status was not the expected one.
    L7Sts,
}

impl CheckStatus {
    /// HAProxy's long description, used in logs (`Layer4 connection problem`, ...).
    pub fn description(self) -> &'static str {
        match self {
            Self::SockErr => "Socket error",
            Self::L4Ok => "Layer4 check passed",
            Self::L4Tout => "Layer4 timeout",
            Self::L4Con => "Layer4 connection problem",
            Self::L6Ok => "Layer6 check passed",
            Self::L6Tout => "Layer6 timeout",
            Self::L6Rsp => "Layer6 invalid response",
            Self::L7Tout => "Layer7 timeout",
            Self::L7Rsp => "Layer7 invalid response",
            Self::L7Ok => "Layer7 check passed",
            Self::L7Sts => "Layer7 wrong status",
        }
    }

    /// HAProxy's short name, used on the stats page (`L4CON`, `L7OK`, ...).
    pub fn short_name(self) -> &'static str {
        match self {
            Self::SockErr => "SOCKERR",
            Self::L4Ok => "L4OK",
            Self::L4Tout => "L4TOUT",
            Self::L4Con => "L4CON",
            Self::L6Ok => "L6OK",
            Self::L6Tout => "L6TOUT",
            Self::L6Rsp => "L6RSP",
            Self::L7Tout => "L7TOUT",
            Self::L7Rsp => "L7RSP",
            Self::L7Ok => "L7OK",
            Self::L7Sts => "L7STS",
        }
    }

    /// `true` for the statuses that count as a successful check.
    pub fn passed(self) -> bool {
        matches!(self, Self::L4Ok | Self::L6Ok | Self::L7Ok)
    }

    /// `true` when logs show the response code (HAProxy: statuses after `L57DATA`).
    pub fn shows_code(self) -> bool {
        matches!(self, Self::L7Ok | Self::L7Sts)
    }
}

/// The outcome of one health check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckResult {
    /// What happened.
    pub status: CheckStatus,
    /// The response code (HTTP status; 0 for tcp-check), shown for `L7OK`/`L7STS`.
    pub code: u16,
    /// Extra detail (`Connection refused`, the HTTP reason, a tcp-check step...), possibly
    /// empty.
    pub info: String,
    /// How long the check took.
    pub duration: Duration,
}

impl CheckResult {
    /// A result with `status` and `info` (truncated like HAProxy does), code 0, no duration.
    pub fn new(status: CheckStatus, info: impl Into<String>) -> Self {
        let mut info = info.into();
        truncate_at_char_boundary(&mut info, INFO_MAX_LEN);
        Self {
            status,
            code: 0,
            info,
            duration: Duration::ZERO,
        }
    }

    /// Sets the response code.
    #[must_use]
    pub fn with_code(mut self, code: u16) -> Self {
        self.code = code;
        self
    }

    /// Sets the check duration.
    #[must_use]
    pub fn with_duration(mut self, duration: Duration) -> Self {
        self.duration = duration;
        self
    }

    /// `true` if the check passed.
    pub fn passed(&self) -> bool {
        self.status.passed()
    }
}

impl fmt::Display for CheckResult {
    /// `, reason: DESC[, code: N][, info: "INFO"], check duration: Nms`, as HAProxy's
    /// `srv_append_status()`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, ", reason: {}", self.status.description())?;
        if self.status.shows_code() {
            write!(f, ", code: {}", self.code)?;
        }
        if !self.info.is_empty() {
            write!(
                f,
                ", info: \"{}\"",
                ascii_encode(self.info.as_bytes(), b'"')
            )?;
        }
        write!(f, ", check duration: {}ms", self.duration.as_millis())
    }
}

/// Renders bytes for a log line as HAProxy's `chunk_asciiencode()`: non-printable bytes,
/// `<`, `>` and `quote` become `<XX>`.
pub fn ascii_encode(bytes: &[u8], quote: u8) -> String {
    let mut out = String::with_capacity(bytes.len());
    for &b in bytes {
        let printable = b.is_ascii_graphic() || b == b' ';
        if !printable || b == b'<' || b == b'>' || b == quote {
            out.push_str(&format!("<{b:02X}>"));
        } else {
            out.push(char::from(b));
        }
    }
    out
}

/// The system's text for an I/O error (`Connection refused`), like C's `strerror()`.
pub fn strerror(err: &std::io::Error) -> String {
    let text = err.to_string();
    match err.raw_os_error() {
        // std renders OS errors as "<strerror text> (os error N)".
        Some(code) => text
            .strip_suffix(&format!(" (os error {code})"))
            .map_or_else(|| text.clone(), str::to_owned),
        None => text,
    }
}

fn truncate_at_char_boundary(s: &mut String, max: usize) {
    if s.len() <= max {
        return;
    }
    let mut cut = max;
    while !s.is_char_boundary(cut) {
        cut -= 1;
    }
    s.truncate(cut);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptions_are_haproxys() {
        assert_eq!(
            CheckStatus::L4Con.description(),
            "Layer4 connection problem"
        );
        assert_eq!(CheckStatus::L4Tout.description(), "Layer4 timeout");
        assert_eq!(CheckStatus::L4Ok.description(), "Layer4 check passed");
        assert_eq!(CheckStatus::L6Rsp.description(), "Layer6 invalid response");
        assert_eq!(CheckStatus::L7Sts.description(), "Layer7 wrong status");
        assert_eq!(CheckStatus::L7Rsp.description(), "Layer7 invalid response");
        assert_eq!(CheckStatus::L7Tout.description(), "Layer7 timeout");
        assert_eq!(CheckStatus::L7Ok.description(), "Layer7 check passed");
        assert_eq!(CheckStatus::SockErr.description(), "Socket error");
        assert_eq!(CheckStatus::L7Sts.short_name(), "L7STS");
    }

    #[test]
    fn only_ok_statuses_pass() {
        assert!(CheckStatus::L4Ok.passed());
        assert!(CheckStatus::L6Ok.passed());
        assert!(CheckStatus::L7Ok.passed());
        for s in [
            CheckStatus::SockErr,
            CheckStatus::L4Tout,
            CheckStatus::L4Con,
            CheckStatus::L6Tout,
            CheckStatus::L6Rsp,
            CheckStatus::L7Tout,
            CheckStatus::L7Rsp,
            CheckStatus::L7Sts,
        ] {
            assert!(!s.passed(), "{s:?}");
        }
    }

    #[test]
    fn display_l4_with_info() {
        let r = CheckResult::new(CheckStatus::L4Con, "Connection refused")
            .with_duration(Duration::from_micros(400));
        assert_eq!(
            r.to_string(),
            ", reason: Layer4 connection problem, info: \"Connection refused\", check duration: 0ms"
        );
    }

    #[test]
    fn display_code_only_for_l7ok_and_l7sts() {
        let ok = CheckResult::new(CheckStatus::L7Ok, "")
            .with_code(200)
            .with_duration(Duration::from_millis(1));
        assert_eq!(
            ok.to_string(),
            ", reason: Layer7 check passed, code: 200, check duration: 1ms"
        );
        let sts = CheckResult::new(CheckStatus::L7Sts, "Service Unavailable").with_code(503);
        assert_eq!(
            sts.to_string(),
            ", reason: Layer7 wrong status, code: 503, info: \"Service Unavailable\", check duration: 0ms"
        );
        let rsp = CheckResult::new(CheckStatus::L7Rsp, "x").with_code(200);
        assert_eq!(
            rsp.to_string(),
            ", reason: Layer7 invalid response, info: \"x\", check duration: 0ms"
        );
        let tcp = CheckResult::new(CheckStatus::L7Ok, "(tcp-check)");
        assert_eq!(
            tcp.to_string(),
            ", reason: Layer7 check passed, code: 0, info: \"(tcp-check)\", check duration: 0ms"
        );
    }

    #[test]
    fn info_is_ascii_encoded() {
        assert_eq!(
            ascii_encode(b"a\"b<c>\r\n\xff ok", b'"'),
            "a<22>b<3C>c<3E><0D><0A><FF> ok"
        );
        let r = CheckResult::new(CheckStatus::L7Rsp, "say \"hi\"\r\n");
        assert!(r.to_string().contains("info: \"say <22>hi<22><0D><0A>\""));
    }

    #[test]
    fn info_is_truncated_like_haproxy() {
        let r = CheckResult::new(CheckStatus::L7Rsp, "é".repeat(100));
        assert!(r.info.len() <= INFO_MAX_LEN);
        assert_eq!(r.info.len(), 126);
    }

    #[test]
    fn strerror_drops_os_error_suffix() {
        let e = std::io::Error::from_raw_os_error(libc::ECONNREFUSED);
        assert_eq!(strerror(&e), "Connection refused");
        let custom = std::io::Error::other("boom");
        assert_eq!(strerror(&custom), "boom");
    }
}
