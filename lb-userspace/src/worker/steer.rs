//! Worker side of `steer cpu`: worker `n` runs on CPU `n` (modulo the CPUs it may use), so
//! that the connections the program hands it by receiving CPU stay local.

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
