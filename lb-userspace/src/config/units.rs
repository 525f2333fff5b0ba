//! HAProxy's time and size units (configuration manual section 2.5).
//!
//! Times: a decimal integer optionally followed by `us`, `ms`, `s`, `m`, `h` or `d`; a bare
//! number is in the keyword's default unit (milliseconds almost everywhere). As in HAProxy the
//! value is rounded up to the default unit and must stay below 2^31 of that unit.
//! Sizes: a decimal integer optionally followed by `k`, `m` or `g` (powers of 1024, any case);
//! the result must fit in 32 bits, like HAProxy's `parse_size_err()`.

use std::time::Duration;

/// The unit a bare number is expressed in, and the granularity of the result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeUnit {
    /// Milliseconds (timeouts, check intervals...).
    Millis,
    /// Seconds.
    Seconds,
}

/// Why a time or size value was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UnitError {
    /// Empty, or does not start with a digit.
    #[error("expects a positive integer, optionally followed by a unit")]
    NotANumber,
    /// An unknown unit or trailing characters.
    #[error("unexpected character '{0}' (time units are us, ms, s, m, h, d)")]
    BadTimeUnit(char),
    /// An unknown size suffix or trailing characters.
    #[error("unexpected character '{0}' (size units are k, m, g)")]
    BadSizeUnit(char),
    /// The time does not fit.
    #[error("timer overflow, maximum value is 2147483647 {0}")]
    TimeOverflow(&'static str),
    /// The size does not fit.
    #[error("size overflow, maximum value is 4294967295 bytes")]
    SizeOverflow,
}

/// Splits `text` into its leading decimal number and the rest.
fn leading_number(text: &str) -> Result<(u128, &str), UnitError> {
    let digits = text.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return Err(UnitError::NotANumber);
    }
    let (num, rest) = text.split_at(digits);
    // Hundreds of digits would overflow u128: saturate, the range checks reject it anyway.
    Ok((num.parse::<u128>().unwrap_or(u128::MAX), rest))
}

/// Parses a HAProxy time; bare numbers are in `unit`.
pub fn parse_time(text: &str, unit: TimeUnit) -> Result<Duration, UnitError> {
    let (value, suffix) = leading_number(text)?;
    // Microseconds per input unit.
    let per_unit_us: u128 = match suffix {
        "" => match unit {
            TimeUnit::Millis => 1_000,
            TimeUnit::Seconds => 1_000_000,
        },
        "us" => 1,
        "ms" => 1_000,
        "s" => 1_000_000,
        "m" => 60_000_000,
        "h" => 3_600_000_000,
        "d" => 86_400_000_000,
        other => return Err(UnitError::BadTimeUnit(bad_time_char(other))),
    };
    let (granularity_us, name) = match unit {
        TimeUnit::Millis => (1_000u128, "ms (~24.8 days)"),
        TimeUnit::Seconds => (1_000_000u128, "s (~68 years)"),
    };
    let total_us = value.saturating_mul(per_unit_us);
    let in_unit = total_us.div_ceil(granularity_us);
    if in_unit >= 1 << 31 {
        return Err(UnitError::TimeOverflow(name));
    }
    let in_unit = u64::try_from(in_unit).map_err(|_| UnitError::TimeOverflow(name))?;
    Ok(match unit {
        TimeUnit::Millis => Duration::from_millis(in_unit),
        TimeUnit::Seconds => Duration::from_secs(in_unit),
    })
}

/// The first character of a time suffix that is not a valid unit.
fn bad_time_char(suffix: &str) -> char {
    let valid_prefix = ["us", "ms", "s", "m", "h", "d"]
        .iter()
        .filter(|u| suffix.starts_with(**u))
        .map(|u| u.len())
        .max()
        .unwrap_or(0);
    suffix[valid_prefix..].chars().next().unwrap_or('?')
}

/// Parses a HAProxy size in bytes (`16384`, `16k`, `1m`, `1G`).
pub fn parse_size(text: &str) -> Result<u64, UnitError> {
    let (value, suffix) = leading_number(text)?;
    let mult: u128 = match suffix {
        "" => 1,
        "k" | "K" => 1 << 10,
        "m" | "M" => 1 << 20,
        "g" | "G" => 1 << 30,
        other => {
            let skip = usize::from(matches!(
                other.as_bytes()[0],
                b'k' | b'K' | b'm' | b'M' | b'g' | b'G'
            ));
            return Err(UnitError::BadSizeUnit(
                other[skip..].chars().next().unwrap_or('?'),
            ));
        }
    };
    let bytes = value.saturating_mul(mult);
    if bytes > u128::from(u32::MAX) {
        return Err(UnitError::SizeOverflow);
    }
    u64::try_from(bytes).map_err(|_| UnitError::SizeOverflow)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(text: &str) -> Result<Duration, UnitError> {
        parse_time(text, TimeUnit::Millis)
    }

    #[test]
    fn time_units() {
        assert_eq!(ms("250"), Ok(Duration::from_millis(250)));
        assert_eq!(ms("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(ms("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(ms("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(ms("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(ms("1d"), Ok(Duration::from_secs(86400)));
        assert_eq!(ms("0"), Ok(Duration::ZERO));
        assert_eq!(
            parse_time("3", TimeUnit::Seconds),
            Ok(Duration::from_secs(3))
        );
    }

    #[test]
    fn microseconds_round_up_to_the_unit() {
        assert_eq!(ms("1500us"), Ok(Duration::from_millis(2)));
        assert_eq!(ms("1us"), Ok(Duration::from_millis(1)));
        assert_eq!(ms("2000us"), Ok(Duration::from_millis(2)));
        assert_eq!(
            parse_time("1ms", TimeUnit::Seconds),
            Ok(Duration::from_secs(1))
        );
    }

    #[test]
    fn time_overflow() {
        assert_eq!(ms("2147483647"), Ok(Duration::from_millis(2_147_483_647)));
        assert_eq!(
            ms("2147483648"),
            Err(UnitError::TimeOverflow("ms (~24.8 days)"))
        );
        assert_eq!(ms("25d"), Err(UnitError::TimeOverflow("ms (~24.8 days)")));
        assert_eq!(ms("24d"), Ok(Duration::from_secs(24 * 86400)));
        assert!(ms("99999999999999999999999999999999999999999999999").is_err());
    }

    #[test]
    fn time_syntax_errors() {
        assert_eq!(ms(""), Err(UnitError::NotANumber));
        assert_eq!(ms("s"), Err(UnitError::NotANumber));
        assert_eq!(ms("-1"), Err(UnitError::NotANumber));
        assert_eq!(ms("10x"), Err(UnitError::BadTimeUnit('x')));
        assert_eq!(ms("10sec"), Err(UnitError::BadTimeUnit('e')));
        assert_eq!(ms("1.5s"), Err(UnitError::BadTimeUnit('.')));
        assert_eq!(ms("10 s"), Err(UnitError::BadTimeUnit(' ')));
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("16384"), Ok(16384));
        assert_eq!(parse_size("16k"), Ok(16384));
        assert_eq!(parse_size("16K"), Ok(16384));
        assert_eq!(parse_size("1m"), Ok(1 << 20));
        assert_eq!(parse_size("3G"), Ok(3 << 30));
        assert_eq!(parse_size("4294967295"), Ok(u64::from(u32::MAX)));
    }

    #[test]
    fn size_errors() {
        assert_eq!(parse_size("4G"), Err(UnitError::SizeOverflow));
        assert_eq!(parse_size("4294967296"), Err(UnitError::SizeOverflow));
        assert_eq!(parse_size(""), Err(UnitError::NotANumber));
        assert_eq!(parse_size("k"), Err(UnitError::NotANumber));
        assert_eq!(parse_size("16kb"), Err(UnitError::BadSizeUnit('b')));
        assert_eq!(parse_size("16t"), Err(UnitError::BadSizeUnit('t')));
    }
}
