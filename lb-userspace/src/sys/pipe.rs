//! Pipes and splice(2), for zero-copy forwarding between two sockets.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// A non-blocking pipe used as the in-kernel buffer between two `splice` calls.
#[derive(Debug)]
pub struct Pipe {
    read: OwnedFd,
    write: OwnedFd,
}

impl Pipe {
    /// Creates a non-blocking, close-on-exec pipe, resized to `size` bytes when given.
    pub fn new(size: Option<usize>) -> io::Result<Self> {
        let mut fds: [libc::c_int; 2] = [-1; 2];
        // SAFETY: `fds` is a valid array of two ints for pipe2 to fill.
        let rc = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_NONBLOCK | libc::O_CLOEXEC) };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: pipe2 succeeded, so both descriptors are open and owned by nobody else.
        let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        if let Some(size) = size {
            let size = libc::c_int::try_from(size).unwrap_or(libc::c_int::MAX);
            // SAFETY: F_SETPIPE_SZ on a pipe we own; failure only means the default size stays.
            let _ = unsafe { libc::fcntl(write.as_raw_fd(), libc::F_SETPIPE_SZ, size) };
        }
        Ok(Self { read, write })
    }

    /// Moves up to `len` bytes from the socket `from` into the pipe.
    /// `Ok(0)` means end of stream; `WouldBlock` means try again when readable.
    pub fn fill_from(&self, from: RawFd, len: usize) -> io::Result<usize> {
        splice(from, self.write.as_raw_fd(), len)
    }

    /// Moves up to `len` bytes from the pipe into the socket `to`.
    pub fn drain_to(&self, to: RawFd, len: usize) -> io::Result<usize> {
        splice(self.read.as_raw_fd(), to, len)
    }
}

fn splice(from: RawFd, to: RawFd, len: usize) -> io::Result<usize> {
    let flags = libc::SPLICE_F_MOVE | libc::SPLICE_F_NONBLOCK;
    // SAFETY: both descriptors are open for the duration of the call (borrowed from owners
    // that outlive it); null offsets are required for pipes and sockets.
    let n = unsafe {
        libc::splice(
            from,
            std::ptr::null_mut(),
            to,
            std::ptr::null_mut(),
            len,
            flags,
        )
    };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(usize::try_from(n).unwrap_or(0))
}

/// A worker's stock of empty pipes, so that a new connection reuses descriptors instead of
/// paying for `pipe2` and `F_SETPIPE_SZ` (HAProxy pools its pipes the same way).
#[derive(Debug)]
pub struct PipePool {
    free: std::cell::RefCell<Vec<Pipe>>,
    max: usize,
    size: Option<usize>,
}

impl PipePool {
    /// A pool keeping at most `max` idle pipes of `size` bytes.
    pub fn new(max: usize, size: Option<usize>) -> Self {
        Self {
            free: std::cell::RefCell::new(Vec::new()),
            max,
            size,
        }
    }

    /// An empty pipe, from the pool or new.
    pub fn get(&self) -> io::Result<Pipe> {
        match self.free.borrow_mut().pop() {
            Some(pipe) => Ok(pipe),
            None => Pipe::new(self.size),
        }
    }

    /// Returns a pipe that holds no data; beyond the pool's size it is closed.
    pub fn put(&self, pipe: Pipe) {
        let mut free = self.free.borrow_mut();
        if free.len() < self.max {
            free.push(pipe);
        }
    }

    /// Idle pipes in the pool.
    pub fn idle(&self) -> usize {
        self.free.borrow().len()
    }
}
