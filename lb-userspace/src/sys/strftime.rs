//! `strftime(3)` over the local or UTC calendar (the `ltime` and `utime` converters
//! format dates exactly as HAProxy, which calls the C library).

use std::ffi::CString;

/// Formats `unix_secs` with the C library's `strftime`, in local time (`local`) or
/// UTC; `None` when the format holds a NUL byte, the time does not convert, or the
/// result is longer than 1 KiB.
pub fn strftime(format: &str, unix_secs: i64, local: bool) -> Option<String> {
    let fmt = CString::new(format).ok()?;
    // time_t is 64-bit on every target we build for.
    let t = unix_secs as libc::time_t;
    let mut tm = std::mem::MaybeUninit::<libc::tm>::zeroed();
    // SAFETY: both pointers are valid for the call; the `_r` variants are re-entrant.
    let res = unsafe {
        if local {
            libc::localtime_r(&t, tm.as_mut_ptr())
        } else {
            libc::gmtime_r(&t, tm.as_mut_ptr())
        }
    };
    if res.is_null() {
        return None;
    }
    // SAFETY: the struct was zero-initialised (a valid `tm`) and filled by the call.
    let tm = unsafe { tm.assume_init() };
    let mut buf = vec![0u8; 1024];
    // SAFETY: `buf` is writable for its length, `fmt` is NUL-terminated and `tm` valid;
    // strftime writes at most `buf.len()` bytes and returns how many (0 on overflow).
    let n = unsafe { libc::strftime(buf.as_mut_ptr().cast(), buf.len(), fmt.as_ptr(), &tm) };
    if n == 0 && !format.is_empty() {
        return None;
    }
    buf.truncate(n);
    String::from_utf8(buf).ok()
}

#[cfg(test)]
mod tests {
    use super::strftime;

    #[test]
    fn utc_formats() {
        assert_eq!(
            strftime("%Y-%m-%d %H:%M:%S %a %b %j", 1_000_000_000, false).as_deref(),
            Some("2001-09-09 01:46:40 Sun Sep 252")
        );
        assert_eq!(strftime("", 0, false).as_deref(), Some(""));
        assert!(strftime("%Y", 0, true).is_some());
        assert!(strftime("a\0b", 0, false).is_none());
    }
}
