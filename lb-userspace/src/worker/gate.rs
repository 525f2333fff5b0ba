//! Connection-count gates (`maxconn` of the process and of each frontend).
//!
//! A listener reserves a slot before it accepts, so a full gate leaves new connections in
//! the kernel's backlog as HAProxy does, instead of accepting and dropping them.

use std::sync::atomic::{AtomicU32, Ordering};

use tokio::sync::Notify;

/// A counting gate with an upper bound, shared by all workers.
#[derive(Debug)]
pub struct ConnGate {
    cur: AtomicU32,
    max: u32,
    waiting: AtomicU32,
    freed: Notify,
}

impl ConnGate {
    /// A gate admitting at most `max` at a time.
    pub fn new(max: u32) -> Self {
        Self {
            cur: AtomicU32::new(0),
            max,
            waiting: AtomicU32::new(0),
            freed: Notify::new(),
        }
    }

    /// Slots currently taken.
    pub fn current(&self) -> u32 {
        self.cur.load(Ordering::SeqCst)
    }

    /// The bound.
    pub fn max(&self) -> u32 {
        self.max
    }

    /// Takes a slot if one is free.
    pub fn try_reserve(&self) -> bool {
        let mut cur = self.cur.load(Ordering::SeqCst);
        loop {
            if cur >= self.max {
                return false;
            }
            match self
                .cur
                .compare_exchange_weak(cur, cur + 1, Ordering::SeqCst, Ordering::SeqCst)
            {
                Ok(_) => return true,
                Err(now) => cur = now,
            }
        }
    }

    /// Waits until a slot is free and takes it.
    pub async fn reserve(&self) {
        loop {
            let freed = self.freed.notified();
            tokio::pin!(freed);
            freed.as_mut().enable();
            self.waiting.fetch_add(1, Ordering::SeqCst);
            let got = self.try_reserve();
            if !got {
                freed.await;
            }
            self.waiting.fetch_sub(1, Ordering::SeqCst);
            if got {
                return;
            }
        }
    }

    /// Returns a slot. Only wakes waiters when some exist, so the common path touches
    /// no shared lock.
    pub fn release(&self) {
        self.cur.fetch_sub(1, Ordering::SeqCst);
        if self.waiting.load(Ordering::SeqCst) > 0 {
            self.freed.notify_waiters();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn waits_until_released() {
        let gate = std::sync::Arc::new(ConnGate::new(1));
        assert!(gate.try_reserve());
        assert!(!gate.try_reserve());
        let g2 = std::sync::Arc::clone(&gate);
        let waiter = tokio::spawn(async move { g2.reserve().await });
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        assert!(!waiter.is_finished());
        gate.release();
        tokio::time::timeout(std::time::Duration::from_secs(2), waiter)
            .await
            .expect("waiter woke")
            .expect("no panic");
        assert_eq!(gate.current(), 1);
    }
}
