//! L7 verdicts pushed down to XDP: the `xdp-deny` rule action adds a source prefix to the
//! pinned deny list for a while.
//!
//! Each worker thread opens the pinned lists once, on its first push-down, and keeps the
//! prefixes it pushed recently, so that a source hitting the rule on many connections costs
//! one map update per half lifetime of its entry, and no lock is shared between workers
//! (the map update itself is one `bpf(2)` call).

use std::{
    cell::RefCell,
    collections::HashMap,
    path::{Path, PathBuf},
    sync::{
        OnceLock,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use super::{Cidr, CidrLists, ListKind, guard::monotonic_ns};

/// The pin directory of the running guard; unset while the guard is off.
static PIN_DIR: OnceLock<PathBuf> = OnceLock::new();
/// The "does nothing" warning was logged.
static WARNED_OFF: AtomicBool = AtomicBool::new(false);

/// Prefixes a worker remembers; past this it forgets them all (they are only a cache).
const RECENT_MAX: usize = 4096;

/// Lets `xdp-deny` actions write to the lists pinned under `pin_dir` (once per process).
pub fn enable(pin_dir: &Path) {
    let _ = PIN_DIR.set(pin_dir.to_path_buf());
}

/// Whether `xdp-deny` actions reach a running guard.
pub fn enabled() -> bool {
    PIN_DIR.get().is_some()
}

/// The pin directory of the running guard, if it runs.
pub fn pin_dir() -> Option<&'static Path> {
    PIN_DIR.get().map(PathBuf::as_path)
}

struct Worker {
    lists: Option<CidrLists>,
    /// Prefix -> when our entry for it expires.
    recent: HashMap<Cidr, Instant>,
    /// Opening the lists failed: logged once, not retried on every connection.
    broken: bool,
}

thread_local! {
    static WORKER: RefCell<Worker> = RefCell::new(Worker {
        lists: None,
        recent: HashMap::new(),
        broken: false,
    });
}

/// Denies `cidr` in XDP for `ttl` (from now), unless it is already denied at least that
/// long; without a running guard, logs once that the action does nothing.
pub fn deny(cidr: Cidr, ttl: Duration) {
    let Some(pin_dir) = PIN_DIR.get() else {
        if !WARNED_OFF.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                "xdp-deny: the XDP guard is not running, so 'xdp-deny' rules do nothing (first source: {cidr})"
            );
        }
        return;
    };
    deny_in(pin_dir, cidr, ttl);
}

/// [`deny`] on the lists pinned under `pin_dir` (this thread opens them on first use).
pub(super) fn deny_in(pin_dir: &Path, cidr: Cidr, ttl: Duration) {
    WORKER.with_borrow_mut(|w| w.deny(pin_dir, cidr, ttl));
}

impl Worker {
    fn deny(&mut self, pin_dir: &Path, cidr: Cidr, ttl: Duration) {
        let now = Instant::now();
        let until = now + ttl;
        // Already pushed, and it still has more than half its time to live.
        if let Some(&expires) = self.recent.get(&cidr)
            && expires > now + ttl / 2
        {
            return;
        }
        if self.broken {
            return;
        }
        if self.lists.is_none() {
            match CidrLists::open(pin_dir) {
                Ok(lists) => self.lists = Some(lists),
                Err(e) => {
                    self.broken = true;
                    tracing::warn!("xdp-deny: cannot open the deny list, rules do nothing: {e}");
                    return;
                }
            }
        }
        let Some(lists) = self.lists.as_mut() else {
            return;
        };
        let ttl_ns = u64::try_from(ttl.as_nanos()).unwrap_or(u64::MAX);
        let wanted_ns = monotonic_ns().saturating_add(ttl_ns);
        // Never shorten a longer or permanent entry (a config `deny` or an operator's).
        let longer = match lists.expiry(ListKind::Deny, cidr) {
            Ok(Some(None)) => true,
            Ok(Some(Some(expires))) => expires >= wanted_ns,
            Ok(None) => false,
            Err(e) => {
                tracing::warn!("xdp-deny: cannot read the deny list: {e}");
                return;
            }
        };
        if !longer {
            if let Err(e) = lists.add(ListKind::Deny, cidr, Some(ttl)) {
                tracing::warn!("xdp-deny: cannot deny {cidr}: {e}");
                return;
            }
            tracing::info!("xdp-deny: {cidr} denied in XDP for {}s", ttl.as_secs_f64());
        }
        if self.recent.len() >= RECENT_MAX {
            self.recent.clear();
        }
        self.recent.insert(cidr, until);
    }
}
