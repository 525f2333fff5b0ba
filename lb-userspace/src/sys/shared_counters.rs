//! Counters shared with eBPF programs through a memory-mapped `BPF_F_MMAPABLE` array map:
//! user space updates them with plain atomics, no system call per update.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::ptr::NonNull;
use std::sync::atomic::AtomicU64;

/// A shared mapping of an array map of `u64` values.
#[derive(Debug)]
pub struct SharedCounters {
    base: NonNull<AtomicU64>,
    len: usize,
}

// SAFETY: the mapping is only ever accessed through `AtomicU64`s, which are Sync, and it
// stays valid until drop.
unsafe impl Send for SharedCounters {}
// SAFETY: as above.
unsafe impl Sync for SharedCounters {}

impl SharedCounters {
    /// Maps the `len` first values of the mmapable array map `fd` (its value size must be 8).
    pub fn map(fd: BorrowedFd<'_>, len: usize) -> io::Result<Self> {
        let bytes = len
            .checked_mul(size_of::<u64>())
            .filter(|b| *b > 0)
            .ok_or_else(|| io::Error::from(io::ErrorKind::InvalidInput))?;
        // SAFETY: a fresh shared mapping of `bytes` from a valid descriptor; the kernel checks
        // that the map is mmapable and at least that large.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                bytes,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                fd.as_raw_fd(),
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let base = NonNull::new(ptr.cast::<AtomicU64>())
            .ok_or_else(|| io::Error::from(io::ErrorKind::InvalidData))?;
        Ok(Self { base, len })
    }

    /// The counter at `index`, if within the mapping.
    pub fn get(&self, index: usize) -> Option<&AtomicU64> {
        if index >= self.len {
            return None;
        }
        // SAFETY: in bounds of a page-aligned mapping of `len` u64 values, which lives as
        // long as `self`; AtomicU64 has the layout of u64.
        Some(unsafe { &*self.base.as_ptr().add(index) })
    }
}

impl Drop for SharedCounters {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly what `map` mapped; no reference outlives `self`.
        unsafe {
            libc::munmap(self.base.as_ptr().cast(), self.len * size_of::<u64>());
        }
    }
}
