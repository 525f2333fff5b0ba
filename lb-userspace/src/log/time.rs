//! Calendar time for log lines: a broken-down local time computed from a [`SystemTime`] and a
//! UTC offset, and the three date layouts HAProxy writes (accept date, RFC 3164, RFC 5424).
//!
//! Pure: the UTC offset is an input, so the I/O edge (`sink`) decides how to learn it.

use std::fmt::Write as _;
use std::time::{SystemTime, UNIX_EPOCH};

/// Month abbreviations used by HAProxy's dates and by RFC 3164.
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// A broken-down civil time in some time zone, with microseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalTime {
    /// Full year (e.g. 2026).
    pub year: i64,
    /// Month, 1..=12.
    pub month: u8,
    /// Day of month, 1..=31.
    pub day: u8,
    /// Hour, 0..=23.
    pub hour: u8,
    /// Minute, 0..=59.
    pub minute: u8,
    /// Second, 0..=59.
    pub second: u8,
    /// Microseconds within the second.
    pub micros: u32,
    /// Offset from UTC in seconds (east positive) that produced these fields.
    pub utc_offset_secs: i32,
}

impl LocalTime {
    /// Breaks `t` down in the zone `utc_offset_secs` east of UTC (times before 1970 clamp to it).
    pub fn from_system_time(t: SystemTime, utc_offset_secs: i32) -> Self {
        let since = t.duration_since(UNIX_EPOCH).unwrap_or_default();
        let secs = i64::try_from(since.as_secs()).unwrap_or(i64::MAX / 2);
        Self::from_unix(secs, since.subsec_micros(), utc_offset_secs)
    }

    /// Breaks down `unix_secs` (+ `micros`) in the zone `utc_offset_secs` east of UTC.
    pub fn from_unix(unix_secs: i64, micros: u32, utc_offset_secs: i32) -> Self {
        let local = unix_secs + i64::from(utc_offset_secs);
        let days = local.div_euclid(86_400);
        let sod = local.rem_euclid(86_400);
        let (year, month, day) = civil_from_days(days);
        // sod < 86400, so these narrowings cannot truncate.
        Self {
            year,
            month,
            day,
            hour: (sod / 3600) as u8,
            minute: (sod % 3600 / 60) as u8,
            second: (sod % 60) as u8,
            micros: micros.min(999_999),
            utc_offset_secs,
        }
    }

    /// Three-letter English month name.
    pub fn month_name(&self) -> &'static str {
        MONTHS[usize::from(self.month.clamp(1, 12) - 1)]
    }

    /// HAProxy's `%t` accept date: `24/Nov/2026:03:02:37.123`.
    pub fn write_accept_date(&self, out: &mut String) {
        let _ = write!(
            out,
            "{:02}/{}/{:04}:{:02}:{:02}:{:02}.{:03}",
            self.day,
            self.month_name(),
            self.year,
            self.hour,
            self.minute,
            self.second,
            self.micros / 1000
        );
    }

    /// RFC 3164 timestamp: `Nov  4 03:02:37` (day padded with a space).
    pub fn write_rfc3164(&self, out: &mut String) {
        let _ = write!(
            out,
            "{} {:2} {:02}:{:02}:{:02}",
            self.month_name(),
            self.day,
            self.hour,
            self.minute,
            self.second
        );
    }

    /// HAProxy's CLF-style date with its zone (`%T`, `%Tl`, `%trg`, `%trl`):
    /// `24/Nov/2026:03:02:37 +0100`.
    pub fn write_clf_date(&self, out: &mut String) {
        let sign = if self.utc_offset_secs < 0 { '-' } else { '+' };
        let off = self.utc_offset_secs.unsigned_abs();
        let _ = write!(
            out,
            "{:02}/{}/{:04}:{:02}:{:02}:{:02} {}{:02}{:02}",
            self.day,
            self.month_name(),
            self.year,
            self.hour,
            self.minute,
            self.second,
            sign,
            off / 3600,
            off % 3600 / 60
        );
    }

    /// RFC 5424 timestamp with microseconds and numeric offset:
    /// `2026-11-24T03:02:37.123456+01:00`.
    pub fn write_rfc5424(&self, out: &mut String) {
        let sign = if self.utc_offset_secs < 0 { '-' } else { '+' };
        let off = self.utc_offset_secs.unsigned_abs();
        let _ = write!(
            out,
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}{}{:02}:{:02}",
            self.year,
            self.month,
            self.day,
            self.hour,
            self.minute,
            self.second,
            self.micros,
            sign,
            off / 3600,
            off % 3600 / 60
        );
    }
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian calendar
/// (Howard Hinnant's era-based algorithm: exact for every representable day).
fn civil_from_days(days: i64) -> (i64, u8, u8) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u8;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u8;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn epoch_and_known_dates() {
        let t = LocalTime::from_unix(0, 0, 0);
        assert_eq!((t.year, t.month, t.day, t.hour), (1970, 1, 1, 0));
        // 2009-02-06 12:12:51 UTC, the date of HAProxy's documentation examples.
        let t = LocalTime::from_unix(1_233_922_371, 443_000, 0);
        let mut s = String::new();
        t.write_accept_date(&mut s);
        assert_eq!(s, "06/Feb/2009:12:12:51.443");
        // 2000-02-29 (leap day of a century leap year) and 2100-03-01 (no leap day).
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(civil_from_days(47_541), (2100, 3, 1));
    }

    #[test]
    fn offsets_move_the_date() {
        // 2026-11-24T00:30:00Z seen from UTC-01:00 is the previous day.
        let secs = 1_795_480_200;
        let utc = LocalTime::from_unix(secs, 0, 0);
        assert_eq!(
            (utc.year, utc.month, utc.day, utc.hour, utc.minute),
            (2026, 11, 24, 0, 30)
        );
        let west = LocalTime::from_unix(secs, 0, -3600);
        assert_eq!((west.day, west.hour), (23, 23));
        let mut s = String::new();
        west.write_rfc5424(&mut s);
        assert_eq!(s, "2026-11-23T23:30:00.000000-01:00");
        let east = LocalTime::from_unix(secs, 123_456, 5 * 3600 + 1800);
        s.clear();
        east.write_rfc5424(&mut s);
        assert_eq!(s, "2026-11-24T06:00:00.123456+05:30");
    }

    #[test]
    fn rfc3164_pads_the_day_with_a_space() {
        let t = LocalTime::from_system_time(UNIX_EPOCH + Duration::from_secs(1_793_761_357), 0);
        let mut s = String::new();
        t.write_rfc3164(&mut s);
        assert_eq!(s, "Nov  4 03:02:37");
    }
}
