//! Password hashes of `userlist` sections, checked with the system's crypt(3)
//! (libxcrypt: `$1$` MD5, `$5$` SHA-256, `$6$` SHA-512, `$2b$`/`$2y$` bcrypt,
//! `$y$` yescrypt, DES), as HAProxy does.

use std::ffi::{CStr, CString};

#[link(name = "crypt")]
unsafe extern "C" {
    /// `char *crypt_rn(const char *phrase, const char *setting, void *data, int size)`.
    fn crypt_rn(
        phrase: *const libc::c_char,
        setting: *const libc::c_char,
        data: *mut libc::c_void,
        size: libc::c_int,
    ) -> *mut libc::c_char;
}

/// `sizeof(struct crypt_data)` in libxcrypt (3 * 256 + 30720 + 767 + 1 + 512 + ...);
/// any size at least as large works, crypt_rn checks it.
const CRYPT_DATA_SIZE: usize = 32768;

/// Hashes `password` with the algorithm and salt of `setting` (an existing hash);
/// `None` when the setting is invalid or a string holds a NUL byte.
pub fn crypt(password: &str, setting: &str) -> Option<String> {
    let phrase = CString::new(password).ok()?;
    let setting = CString::new(setting).ok()?;
    let mut data = vec![0u8; CRYPT_DATA_SIZE];
    let size = libc::c_int::try_from(data.len()).ok()?;
    // SAFETY: both strings are NUL-terminated and live across the call; `data` is a
    // zeroed, writable buffer of `size` bytes that crypt_rn uses as its scratch space
    // and where it writes the result, which we copy out before `data` is dropped.
    let out = unsafe {
        crypt_rn(
            phrase.as_ptr(),
            setting.as_ptr(),
            data.as_mut_ptr().cast(),
            size,
        )
    };
    if out.is_null() {
        return None;
    }
    // SAFETY: a non-null result points to a NUL-terminated string inside `data`.
    let hashed = unsafe { CStr::from_ptr(out) };
    let hashed = hashed.to_str().ok()?;
    // libxcrypt signals failure with a string starting with '*' in some builds.
    (!hashed.starts_with('*')).then(|| hashed.to_owned())
}

/// Whether `password` matches the crypt(3) hash `hash`.
pub fn verify(password: &str, hash: &str) -> bool {
    crypt(password, hash).is_some_and(|h| constant_time_eq(h.as_bytes(), hash.as_bytes()))
}

/// Compares without stopping at the first difference.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_hashes() {
        // Generated with `openssl passwd -1|-5|-6 -salt saltsalt secret`.
        let md5 = crypt("secret", "$1$saltsalt$").unwrap();
        assert_eq!(md5, "$1$saltsalt$9xy1btjgzLYfb7hivXtC//");
        assert!(verify(
            "secret",
            "$6$saltsalt$TVLlQcbpFVof5W3Yz4DTP6gRstiNuHwwTt6GLc1E5n0U0aDehy0S5knV8wiOQSpT0Y77vwPZN.Pq.H91p5hVO1"
        ));
        assert!(verify("secret", &md5));
        assert!(!verify("Secret", &md5));
        for setting in ["$5$saltsalt$", "$6$saltsalt$"] {
            let h = crypt("secret", setting).unwrap();
            assert!(verify("secret", &h), "{h}");
            assert!(!verify("secreT", &h));
        }
        assert!(!verify("secret", "not a hash"));
        assert!(!verify("secret", ""));
        assert!(constant_time_eq(b"ab", b"ab"));
        assert!(!constant_time_eq(b"ab", b"abc"));
    }
}
