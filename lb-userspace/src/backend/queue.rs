//! Connection queues (`maxconn` on servers, `timeout queue`).
//!
//! A connection that finds no free server slot waits in a queue; a slot released by a
//! finishing connection goes straight to the oldest live waiter. The queue's lock is only
//! taken when somebody actually waits: the hot path reads one atomic.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;

use crate::backend::state::{ServerSlot, ServerState};

/// A FIFO of connections waiting for a server slot.
#[derive(Debug, Default)]
pub struct Queue {
    waiters: Mutex<VecDeque<oneshot::Sender<ServerSlot>>>,
    len: AtomicUsize,
}

impl Queue {
    /// Number of waiters (including ones that already gave up and are not yet removed).
    pub fn len(&self) -> usize {
        self.len.load(Ordering::Acquire)
    }

    /// `true` when nobody waits.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Joins the queue; the receiver yields a slot when one is handed over. Dropping the
    /// receiver leaves the queue (the entry is skipped when reached).
    pub fn join(&self) -> oneshot::Receiver<ServerSlot> {
        let (tx, rx) = oneshot::channel();
        let mut waiters = self.waiters.lock().unwrap_or_else(|p| p.into_inner());
        waiters.push_back(tx);
        self.len.store(waiters.len(), Ordering::Release);
        rx
    }

    /// Passes a slot of `server` (whose count is still held) to the oldest live waiter.
    /// Returns `false` if nobody took it; the caller then frees the slot.
    pub(crate) fn hand_over(&self, server: &Arc<ServerState>) -> bool {
        if self.is_empty() {
            return false;
        }
        loop {
            let next = {
                let mut waiters = self.waiters.lock().unwrap_or_else(|p| p.into_inner());
                let next = waiters.pop_front();
                self.len.store(waiters.len(), Ordering::Release);
                next
            };
            let Some(tx) = next else { return false };
            if tx.is_closed() {
                continue;
            }
            match tx.send(ServerSlot::adopt(Arc::clone(server))) {
                Ok(()) => return true,
                Err(slot) => {
                    // The waiter left between the check and the send: keep the count and
                    // try the next one instead of letting the slot's drop recurse.
                    std::mem::forget(slot);
                    continue;
                }
            }
        }
    }
}
