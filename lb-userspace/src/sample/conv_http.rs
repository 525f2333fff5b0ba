//! HTTP-oriented converters: `url_dec`, `url_enc`, `http_date`, `ltime`, `utime`.

use std::borrow::Cow;

use crate::sample::parse::Call;
use crate::sample::{Sample, SampleError, SampleType};

/// The unit of `http_date`'s input and offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeUnit {
    /// Seconds (default).
    S,
    /// Milliseconds.
    Ms,
    /// Microseconds.
    Us,
}

/// The HTTP converters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpConv {
    /// `url_dec([in_form])`: `%XX` decoded; `+` becomes a space in a query string
    /// (after `?`), or everywhere with `in_form`.
    UrlDec {
        /// The input is a form body or query string.
        in_form: bool,
    },
    /// `url_enc([query])`: every byte but `A-Za-z0-9-._~` percent-encoded.
    UrlEnc,
    /// `http_date([offset[,unit]])`: a date as an HTTP `Date` header value.
    HttpDate {
        /// Added to the input.
        offset: i64,
        /// Unit of the input and offset.
        unit: TimeUnit,
    },
    /// `ltime(format[,offset])` / `utime(...)`: strftime in local time or UTC.
    Time {
        /// The strftime format.
        format: String,
        /// Seconds added to the input.
        offset: i64,
        /// Local time (`ltime`) or UTC (`utime`).
        local: bool,
    },
}

fn bad(keyword: &str, reason: &str) -> SampleError {
    SampleError::BadArgs {
        keyword: keyword.to_owned(),
        reason: reason.to_owned(),
    }
}

fn int(keyword: &str, v: &str) -> Result<i64, SampleError> {
    v.trim()
        .parse()
        .map_err(|_| bad(keyword, &format!("'{v}' is not an integer")))
}

impl HttpConv {
    /// Builds the converter called `call.name` if it is one of these.
    pub fn parse(call: &Call) -> Result<Option<Self>, SampleError> {
        let name = call.name.as_str();
        let args = call.args.as_slice();
        Ok(Some(match name {
            "url_dec" => Self::UrlDec {
                in_form: match args {
                    [] => false,
                    [a] => int(name, a)? != 0,
                    _ => return Err(bad(name, "too many arguments")),
                },
            },
            "url_enc" => match args {
                [] => Self::UrlEnc,
                [a] if a == "query" => Self::UrlEnc,
                [a] => {
                    return Err(bad(
                        name,
                        &format!("unknown encoding type '{a}' (only 'query' is supported)"),
                    ));
                }
                _ => return Err(bad(name, "too many arguments")),
            },
            "http_date" => {
                let (offset, unit) = match args {
                    [] => (0, TimeUnit::S),
                    [o] => (int(name, o)?, TimeUnit::S),
                    [o, u] => (
                        if o.is_empty() { 0 } else { int(name, o)? },
                        match u.as_str() {
                            "s" => TimeUnit::S,
                            "ms" => TimeUnit::Ms,
                            "us" => TimeUnit::Us,
                            _ => return Err(bad(name, "Invalid unit, expects 's', 'ms' or 'us'")),
                        },
                    ),
                    _ => return Err(bad(name, "too many arguments")),
                };
                Self::HttpDate { offset, unit }
            }
            "ltime" | "utime" => {
                let (format, offset) = match args {
                    [f] => (f.clone(), 0),
                    [f, o] => (f.clone(), int(name, o)?),
                    [] => return Err(bad(name, "missing format argument")),
                    _ => return Err(bad(name, "too many arguments")),
                };
                Self::Time {
                    format,
                    offset,
                    local: name == "ltime",
                }
            }
            _ => return Ok(None),
        }))
    }

    /// The input type.
    pub fn in_type(&self) -> SampleType {
        match self {
            Self::UrlDec { .. } | Self::UrlEnc => SampleType::Str,
            Self::HttpDate { .. } | Self::Time { .. } => SampleType::Int,
        }
    }

    /// The output type.
    pub fn out_type(&self) -> SampleType {
        SampleType::Str
    }

    /// Applies the converter to a value of its input type.
    pub fn apply<'a>(&self, input: Sample<'a>) -> Option<Sample<'a>> {
        match (self, input) {
            (Self::UrlDec { in_form }, Sample::Str(s)) => {
                url_dec(&s, *in_form).map(|d| Sample::Str(Cow::Owned(d)))
            }
            (Self::UrlEnc, Sample::Str(s)) => Some(Sample::Str(Cow::Owned(url_enc(s.as_bytes())))),
            (Self::HttpDate { offset, unit }, Sample::Int(t)) => {
                let t = t.saturating_add(*offset);
                let (secs, frac) = match unit {
                    TimeUnit::S => (t, None),
                    TimeUnit::Ms => (t.div_euclid(1000), Some(t.rem_euclid(1000))),
                    TimeUnit::Us => (t.div_euclid(1_000_000), Some(t.rem_euclid(1_000_000))),
                };
                let mut date = http_date(secs);
                if let Some(f) = frac {
                    // HAProxy appends the fraction as a plain integer (5 ms gives ".5").
                    date.truncate(date.len() - " GMT".len());
                    date.push_str(&format!(".{f} GMT"));
                }
                Some(Sample::Str(Cow::Owned(date)))
            }
            (
                Self::Time {
                    format,
                    offset,
                    local,
                },
                Sample::Int(t),
            ) => crate::sys::strftime::strftime(format, t.saturating_add(*offset), *local)
                .map(|s| Sample::Str(Cow::Owned(s))),
            _ => None,
        }
    }
}

/// Percent-decodes; `+` becomes a space after a `?` (or everywhere with `in_form`).
/// `None` on an invalid `%` sequence, as HAProxy's `url_decode`.
pub fn url_dec(s: &str, in_form: bool) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut in_query = in_form;
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'?' => {
                in_query = true;
                out.push(b'?');
            }
            b'+' if in_query => out.push(b' '),
            b'%' => {
                let hex = b.get(i + 1..i + 3)?;
                let hex = std::str::from_utf8(hex).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 2;
            }
            c => out.push(c),
        }
        i += 1;
    }
    Some(String::from_utf8_lossy(&out).into_owned())
}

/// Percent-encodes every byte outside RFC 3986's unreserved set.
pub fn url_enc(b: &[u8]) -> String {
    let mut out = String::with_capacity(b.len());
    for &c in b {
        if c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(c));
        } else {
            out.push_str(&format!("%{c:02X}"));
        }
    }
    out
}

/// An IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`).
pub fn http_date(secs: i64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    let wd = DAYS[days.rem_euclid(7) as usize];
    format!(
        "{wd}, {d:02} {} {y:04} {:02}:{:02}:{:02} GMT",
        MONTHS[(m - 1) as usize],
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Year, month (1-12), day from days since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample::SampleExpr;
    use crate::sample::StreamCtx;

    fn eval(expr: &str) -> Option<String> {
        let e = SampleExpr::parse(expr).unwrap_or_else(|err| panic!("{expr}: {err}"));
        let c = StreamCtx::new(
            "10.0.0.1:1".parse().unwrap(),
            "10.0.0.2:2".parse().unwrap(),
            "fe",
        );
        match e.eval(&c)? {
            Sample::Str(s) => Some(s.into_owned()),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn url_coding() {
        assert_eq!(
            eval("str(a%20b+c?d+e%2Bf),url_dec").as_deref(),
            Some("a b+c?d e+f")
        );
        assert_eq!(eval("str(a+b),url_dec(1)").as_deref(), Some("a b"));
        assert_eq!(eval("str(a%zz),url_dec"), None);
        assert_eq!(eval("str(a%2),url_dec"), None);
        assert_eq!(
            eval("str(a b/c?d=é~),url_enc").as_deref(),
            Some("a%20b%2Fc%3Fd%3D%C3%A9~")
        );
        assert_eq!(eval("str(x),url_enc(query)").as_deref(), Some("x"));
        assert!(SampleExpr::parse("str(x),url_enc(path)").is_err());
    }

    #[test]
    fn dates() {
        assert_eq!(
            eval("int(784111777),http_date").as_deref(),
            Some("Sun, 06 Nov 1994 08:49:37 GMT")
        );
        assert_eq!(
            eval("int(784111777),http_date(3600)").as_deref(),
            Some("Sun, 06 Nov 1994 09:49:37 GMT")
        );
        assert_eq!(
            eval("int(784111777000),http_date(1000,ms)").as_deref(),
            Some("Sun, 06 Nov 1994 08:49:38.0 GMT")
        );
        // haproxy 2.6's output for these: the fraction is not zero-padded.
        assert_eq!(
            eval("int(784111777005),http_date(0,ms)").as_deref(),
            Some("Sun, 06 Nov 1994 08:49:37.5 GMT")
        );
        assert_eq!(
            eval("int(784111777123456),http_date(0,us)").as_deref(),
            Some("Sun, 06 Nov 1994 08:49:37.123456 GMT")
        );
        assert_eq!(
            eval("int(784111777),http_date(-10)").as_deref(),
            Some("Sun, 06 Nov 1994 08:49:27 GMT")
        );
        assert_eq!(
            eval("int(0),http_date").as_deref(),
            Some("Thu, 01 Jan 1970 00:00:00 GMT")
        );
        assert_eq!(
            eval("int(951782400),http_date").as_deref(),
            Some("Tue, 29 Feb 2000 00:00:00 GMT")
        );
        assert_eq!(
            eval("int(1000000000),utime(%Y-%m-%dT%H:%M:%S)").as_deref(),
            Some("2001-09-09T01:46:40")
        );
        assert_eq!(
            eval("int(1000000000),utime(%H,3600)").as_deref(),
            Some("02")
        );
        assert!(eval("int(1000000000),ltime(%Y)").is_some());
        assert!(SampleExpr::parse("int(1),ltime").is_err());
        assert!(SampleExpr::parse("int(1),http_date(1,h)").is_err());
    }
}
