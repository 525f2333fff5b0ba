//! The local time zone's offset from UTC, from the C library (logs print local time, as
//! HAProxy's do).

/// Offset east of UTC, in seconds, of the local time zone at `unix_secs` (0 if unknown).
pub fn utc_offset(unix_secs: i64) -> i32 {
    // time_t is 64-bit on every target we build for.
    let t = unix_secs as libc::time_t;
    let mut tm = std::mem::MaybeUninit::<libc::tm>::zeroed();
    // SAFETY: both pointers are valid for the call; localtime_r is the re-entrant variant.
    let res = unsafe { libc::localtime_r(&t, tm.as_mut_ptr()) };
    if res.is_null() {
        return 0;
    }
    // SAFETY: the struct was zero-initialised (a valid `tm`) and localtime_r filled it.
    let tm = unsafe { tm.assume_init() };
    i32::try_from(tm.tm_gmtoff).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    #[test]
    fn offset_is_within_earth_time_zones() {
        let off = super::utc_offset(1_793_761_357);
        assert!((-14 * 3600..=14 * 3600).contains(&off));
    }
}
