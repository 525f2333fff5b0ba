//! Worker side of steering: which worker this thread is (the `thread` fetch), and for
//! `steer cpu`, worker `n` runs on CPU `n` (modulo the CPUs it may use), so that the
//! connections the program hands it by receiving CPU stay local.

use std::cell::Cell;

thread_local! {
    /// The worker number of this thread; `None` outside workers.
    static WORKER_ID: Cell<Option<usize>> = const { Cell::new(None) };
}

/// Marks the calling thread as worker `id`.
pub fn set_current_id(id: usize) {
    WORKER_ID.with(|w| w.set(Some(id)));
}

/// The worker running the calling thread (HAProxy's `thread` fetch: `0..nbthread`).
pub fn current_id() -> Option<usize> {
    WORKER_ID.with(Cell::get)
}

/// Pins the calling worker thread; a failure only costs locality, so it is logged.
pub fn pin_to_cpu(worker: usize) {
    let cpus = crate::sys::affinity::allowed_cpus();
    let Some(cpu) = cpus.get(worker % cpus.len().max(1)).copied() else {
        return;
    };
    match crate::sys::affinity::pin_current_thread(cpu) {
        Ok(()) => tracing::debug!("worker {worker} pinned to CPU {cpu}"),
        Err(e) => tracing::warn!("worker {worker}: cannot pin to CPU {cpu}: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;

    use super::*;
    use crate::sample::{Sample, SampleExpr, StreamCtx};

    fn thread_sample() -> Option<i64> {
        let expr = SampleExpr::parse("thread").unwrap();
        let addr: SocketAddr = "127.0.0.1:80".parse().unwrap();
        let ctx = StreamCtx::new(addr, addr, "fe");
        match expr.eval(&ctx) {
            Some(Sample::Int(i)) => Some(i),
            _ => None,
        }
    }

    #[test]
    fn thread_fetch_is_the_worker_number_and_absent_elsewhere() {
        assert_eq!(thread_sample(), None, "not a worker thread");
        let in_worker = std::thread::spawn(|| {
            set_current_id(3);
            (current_id(), thread_sample())
        })
        .join()
        .unwrap();
        assert_eq!(in_worker, (Some(3), Some(3)));
        assert_eq!(current_id(), None, "per thread");
    }
}
