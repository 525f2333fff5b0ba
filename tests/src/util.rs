//! Small utilities: temporary directories, polling with a deadline, and the deterministic
//! byte pattern used to check large transfers.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// A directory removed (with its content) when dropped.
#[derive(Debug)]
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    /// Creates a fresh, empty directory under the system temp dir.
    pub fn new() -> Self {
        static N: AtomicU32 = AtomicU32::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("lb-tests-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("create temp dir");
        Self { path }
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Default for TempDir {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// Polls `cond` every 10 ms until it holds (returns `true`) or `timeout` passes (`false`).
pub fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A deterministic, position-dependent byte stream: byte `i` is `block[i % block.len()]`.
///
/// The block length is odd and not a power of two, so a dropped, duplicated or reordered
/// chunk of any usual buffer size shows up as a mismatch.
#[derive(Debug, Clone)]
pub struct Pattern {
    block: Vec<u8>,
}

impl Pattern {
    /// A pattern whose block is derived from `seed` (different seeds give different streams).
    pub fn new(seed: u64) -> Self {
        let len = (1 << 20) + 7;
        let mut x = seed | 1;
        let block = (0..len)
            .map(|_| {
                // xorshift64: cheap and good enough to make every region distinct.
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x.to_le_bytes()[3]
            })
            .collect();
        Self { block }
    }

    /// Fills `buf` with the stream's bytes starting at `offset`.
    pub fn fill(&self, offset: u64, buf: &mut [u8]) {
        let mut done = 0;
        let len = self.block.len() as u64;
        while done < buf.len() {
            let start = usize::try_from((offset + done as u64) % len).unwrap_or(0);
            let n = (self.block.len() - start).min(buf.len() - done);
            buf[done..done + n].copy_from_slice(&self.block[start..start + n]);
            done += n;
        }
    }

    /// Whether `data` equals the stream's bytes starting at `offset`.
    pub fn matches(&self, offset: u64, data: &[u8]) -> bool {
        let mut done = 0;
        let len = self.block.len() as u64;
        while done < data.len() {
            let start = usize::try_from((offset + done as u64) % len).unwrap_or(0);
            let n = (self.block.len() - start).min(data.len() - done);
            if data[done..done + n] != self.block[start..start + n] {
                return false;
            }
            done += n;
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pattern_detects_shifts() {
        let p = Pattern::new(7);
        let mut a = vec![0u8; 3 << 20];
        p.fill(0, &mut a);
        assert!(p.matches(0, &a));
        assert!(p.matches(1000, &a[1000..70_000]));
        assert!(!p.matches(1001, &a[1000..70_000]));
        assert!(!p.matches(0, &a[65_536..]));
        assert_ne!(Pattern::new(8).block[..64], p.block[..64]);
    }

    #[test]
    fn wait_until_times_out() {
        let t = Instant::now();
        assert!(!wait_until(Duration::from_millis(50), || false));
        assert!(t.elapsed() >= Duration::from_millis(50));
        assert!(wait_until(Duration::from_secs(5), || true));
    }
}
