//! Health checks: TCP connect, `option httpchk`, `tcp-check` scripts, rise/fall, `track`.
//!
//! [`spawn`] starts one OS thread running a current-thread tokio runtime with one task per
//! checked server. Each task runs the backend's check [`Program`] through
//! [`probe::run_check`], feeds the result to the server's [`HealthState`]
//! and applies transitions to the shared [`Backends`] state: `set_up`, a generation bump
//! (workers rebuild their balancers) and, when going up, a queue pump. Servers tracking a
//! server (`track`) have no check of their own and follow it, transitively. Transitions are
//! logged in HAProxy's words (target `lb::checks`) and handed to an optional listener.
//!
//! Servers in maintenance are not checked; when maintenance ends, the server is up at once
//! with its counter at `rise` (a single failure takes it down), as HAProxy does.

pub mod http;
mod http_parse;
pub mod message;
pub mod probe;
pub mod result;
pub mod state;
pub mod tcpcheck;

#[cfg(test)]
mod io_support;
#[cfg(test)]
mod io_tests;

use std::collections::HashMap;
use std::io;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crate::backend::state::{BackendState, Backends};
use crate::checks::message::{Cause, Counts, ServerRef};
use crate::checks::probe::{CheckTarget, CheckTimeouts};
use crate::checks::result::CheckResult;
use crate::checks::state::{HealthState, Transition};
use crate::checks::tcpcheck::Program;

/// Checks with an interval below this do not dictate the start-up spreading of the others
/// (HAProxy's `SRV_CHK_INTER_THRES`).
const SPREAD_INTER_THRESHOLD: Duration = Duration::from_millis(1000);

/// A server state change decided by checks, for traffic logs and statistics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerTransition {
    /// Backend name.
    pub backend: String,
    /// Server name.
    pub server: String,
    /// `true` when the server went up.
    pub up: bool,
    /// The check that decided it; `None` when it follows a tracked server.
    pub result: Option<CheckResult>,
    /// The tracked server (`backend`, `server`) it follows, for `track`.
    pub via: Option<(String, String)>,
    /// The log line, in HAProxy's words.
    pub message: String,
    /// The backend has no usable server left after this change.
    pub backend_down: bool,
}

/// Receives every transition, on the checks thread (keep it short).
pub type TransitionListener = Arc<dyn Fn(&ServerTransition) + Send + Sync>;

/// Keeps the checks thread running; [`CheckHandle::stop`] or dropping it stops it.
#[derive(Debug)]
pub struct CheckHandle {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl CheckHandle {
    /// Stops every check and waits for the thread to end.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for CheckHandle {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Starts health checks of every server with `check` (and no `track`) in `backends`.
pub fn spawn(backends: Arc<Backends>) -> io::Result<CheckHandle> {
    start(backends, None)
}

/// Like [`spawn`], also calling `listener` for every server transition.
pub fn spawn_with_listener(
    backends: Arc<Backends>,
    listener: impl Fn(&ServerTransition) + Send + Sync + 'static,
) -> io::Result<CheckHandle> {
    start(backends, Some(Arc::new(listener)))
}

/// Identifies a server: (backend index, server index).
type SrvIdx = (usize, usize);

/// What every check task shares.
struct Shared {
    backends: Arc<Backends>,
    /// Servers tracking each server.
    trackers: HashMap<SrvIdx, Vec<SrvIdx>>,
    listener: Option<TransitionListener>,
}

/// One server's check, ready to run.
struct CheckJob {
    idx: SrvIdx,
    program: Arc<Program>,
    target: CheckTarget,
    timeouts: CheckTimeouts,
    first_delay: Duration,
}

fn invalid(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg)
}

fn start(backends: Arc<Backends>, listener: Option<TransitionListener>) -> io::Result<CheckHandle> {
    let trackers = track_graph(&backends)?;
    let mut jobs = Vec::new();
    for (bi, be) in backends.list.iter().enumerate() {
        let checked: Vec<usize> = (0..be.servers.len())
            .filter(|&si| be.servers[si].cfg.check && be.servers[si].cfg.track.is_none())
            .collect();
        if checked.is_empty() {
            continue;
        }
        let program = Program::compile(&be.cfg.check)
            .map_err(|e| invalid(format!("backend '{}': {e}", be.cfg.name)))?;
        let program = Arc::new(program);
        for si in checked {
            let cfg = &be.servers[si].cfg;
            let target = CheckTarget::of(cfg);
            if program
                .connects()
                .any(|(a, p)| target.resolve(a, p).is_none())
            {
                return Err(invalid(format!(
                    "config: backend '{}': server '{}' has neither service port nor check port.",
                    be.cfg.name, cfg.name
                )));
            }
            jobs.push(CheckJob {
                idx: (bi, si),
                program: Arc::clone(&program),
                target,
                timeouts: CheckTimeouts::new(cfg, &be.cfg.timeouts),
                first_delay: Duration::ZERO,
            });
        }
    }
    let first_inters: Vec<Duration> = jobs
        .iter()
        .map(|j| {
            HealthState::for_server(&backends.list[j.idx.0].servers[j.idx.1].cfg).next_interval()
        })
        .collect();
    for (job, delay) in jobs.iter_mut().zip(initial_delays(&first_inters)) {
        job.first_delay = delay;
    }
    if jobs.is_empty() {
        return Ok(CheckHandle {
            stop: None,
            thread: None,
        });
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let shared = Arc::new(Shared {
        backends,
        trackers,
        listener,
    });
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let thread = std::thread::Builder::new()
        .name("lb-checks".into())
        .spawn(move || {
            runtime.block_on(async move {
                for job in jobs {
                    tokio::spawn(check_task(Arc::clone(&shared), job));
                }
                // Sender dropped or stop requested: either way, end.
                let _ = stop_rx.await;
            });
            // Dropping the runtime cancels every check task.
            drop(runtime);
        })?;
    Ok(CheckHandle {
        stop: Some(stop_tx),
        thread: Some(thread),
    })
}

/// Maps each tracked server to the servers tracking it.
fn track_graph(backends: &Backends) -> io::Result<HashMap<SrvIdx, Vec<SrvIdx>>> {
    let mut graph: HashMap<SrvIdx, Vec<SrvIdx>> = HashMap::new();
    for (bi, be) in backends.list.iter().enumerate() {
        for (si, srv) in be.servers.iter().enumerate() {
            let Some(track) = &srv.cfg.track else {
                continue;
            };
            let target = backends
                .list
                .iter()
                .position(|b| b.cfg.name == track.backend)
                .and_then(|tb| {
                    let ts = backends.list[tb].servers.iter().position(|s| s.cfg.name == track.server)?;
                    Some((tb, ts))
                })
                .ok_or_else(|| {
                    invalid(format!(
                        "config: backend '{}', server '{}': unable to find required server '{}/{}' for tracking.",
                        be.cfg.name, srv.cfg.name, track.backend, track.server
                    ))
                })?;
            graph.entry(target).or_default().push((bi, si));
        }
    }
    Ok(graph)
}

/// Delays of the first checks, spread over the smallest interval as HAProxy's
/// `start_checks()`: check number `pos` of `n` starts after `max(mininter, own) * pos / n`,
/// `mininter` being the smallest interval of at least one second.
fn initial_delays(inters: &[Duration]) -> Vec<Duration> {
    let n = u32::try_from(inters.len()).unwrap_or(u32::MAX).max(1);
    let mininter = inters
        .iter()
        .copied()
        .filter(|&i| i >= SPREAD_INTER_THRESHOLD)
        .min()
        .unwrap_or(Duration::ZERO);
    inters
        .iter()
        .enumerate()
        .map(|(pos, &own)| {
            let pos = u32::try_from(pos).unwrap_or(u32::MAX);
            mininter.max(own) * pos / n
        })
        .collect()
}

async fn check_task(shared: Arc<Shared>, job: CheckJob) {
    tokio::time::sleep(job.first_delay).await;
    let (bi, si) = job.idx;
    let backend = Arc::clone(&shared.backends.list[bi]);
    let server = Arc::clone(&backend.servers[si]);
    let mut health = HealthState::for_server(&server.cfg);
    loop {
        if server.is_maint() {
            if !health.is_paused() {
                health.pause();
            }
            tokio::time::sleep(health.next_interval()).await;
            continue;
        }
        if health.is_paused() {
            // Leaving maintenance: up at once, then checked.
            health.resume();
            shared.leave_maintenance(job.idx);
        }
        let result = probe::run_check(&job.program, &job.target, &job.timeouts).await;
        // Maintenance may have started while the check ran: its result no longer counts.
        if !server.is_maint() {
            match health.on_result(&result) {
                Some(Transition::Up) => shared.apply(job.idx, true, Cause::Check(&result)),
                Some(Transition::Down) => shared.apply(job.idx, false, Cause::Check(&result)),
                None => {}
            }
        }
        tokio::time::sleep(health.next_interval()).await;
    }
}

/// Usable servers with a non-zero weight, (active, backup), as HAProxy's `srv_act/srv_bck`.
fn usable_counts(be: &BackendState) -> (usize, usize) {
    be.servers
        .iter()
        .filter(|s| s.is_usable() && s.weight() > 0)
        .fold(
            (0, 0),
            |(a, b), s| if s.cfg.backup { (a, b + 1) } else { (a + 1, b) },
        )
}

impl Shared {
    /// Sets a server up or down, logs it, and propagates to the servers tracking it.
    fn apply(&self, idx: SrvIdx, up: bool, cause: Cause<'_>) {
        let be = &self.backends.list[idx.0];
        let srv = &be.servers[idx.1];
        let (act, bck) = usable_counts(be);
        let before = act + bck;
        if !srv.set_up(up) {
            // Already in that state: nothing to say and nothing to propagate (HAProxy's
            // srv_set_running/stopped return early the same way).
            return;
        }
        be.bump_generation();
        let requeued = if up {
            let waiting = be.queue.len();
            be.pump_queue();
            waiting.saturating_sub(be.queue.len())
        } else {
            0
        };
        let (active, backup) = usable_counts(be);
        let counts = Counts {
            active,
            backup,
            sessions: srv.cur_conns(),
            requeued,
            queued: srv.queue.len(),
        };
        let who = ServerRef {
            backend: &be.cfg.name,
            server: &srv.cfg.name,
            backup: srv.cfg.backup,
        };
        let backend_down = !up && before > 0 && active + backup == 0;
        let text = if up {
            let text = message::server_up(who, &cause, &counts);
            tracing::info!(target: "lb::checks", "{text}");
            text
        } else {
            let text = message::server_down(who, &cause, &counts);
            tracing::warn!(target: "lb::checks", "{text}");
            text
        };
        if backend_down {
            tracing::error!(target: "lb::checks", "{}", message::backend_down(&be.cfg.name));
        }
        if let Some(listener) = &self.listener {
            let (result, via) = match cause {
                Cause::Check(r) => (Some(r.clone()), None),
                Cause::Via { backend, server } => {
                    (None, Some((backend.to_owned(), server.to_owned())))
                }
            };
            listener(&ServerTransition {
                backend: be.cfg.name.clone(),
                server: srv.cfg.name.clone(),
                up,
                result,
                via,
                message: text,
                backend_down,
            });
        }
        for &tracker in self.trackers.get(&idx).into_iter().flatten() {
            let t = &self.backends.list[tracker.0].servers[tracker.1];
            // A tracking server in maintenance keeps its state (and so do its own trackers).
            if t.is_maint() {
                continue;
            }
            let via = Cause::Via {
                backend: &be.cfg.name,
                server: &srv.cfg.name,
            };
            self.apply(tracker, up, via);
        }
    }

    /// A checked server left maintenance: up at once, like its trackers, without a check
    /// log line (the administrative change is reported by whoever made it).
    fn leave_maintenance(&self, idx: SrvIdx) {
        let be = &self.backends.list[idx.0];
        if be.servers[idx.1].set_up(true) {
            be.bump_generation();
            be.pump_queue();
        }
        for &tracker in self.trackers.get(&idx).into_iter().flatten() {
            if !self.backends.list[tracker.0].servers[tracker.1].is_maint() {
                self.leave_maintenance(tracker);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn first_checks_are_spread_over_the_smallest_interval() {
        let d = initial_delays(&[ms(2000), ms(2000), ms(2000), ms(2000)]);
        assert_eq!(d, [ms(0), ms(500), ms(1000), ms(1500)]);
        // A larger own interval spreads by its own value.
        let d = initial_delays(&[ms(1000), ms(4000)]);
        assert_eq!(d, [ms(0), ms(2000)]);
        // Short intervals don't set the pace for the others, and start right away.
        let d = initial_delays(&[ms(100), ms(100), ms(3000)]);
        assert_eq!(d, [ms(0), ms(1000), ms(2000)]);
        let d = initial_delays(&[ms(50), ms(50)]);
        assert_eq!(d, [ms(0), ms(25)]);
        assert!(initial_delays(&[]).is_empty());
    }
}
