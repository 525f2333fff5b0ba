//! Steering new connections to workers: the `sk_reuseport` program on every bind address's
//! group of per-worker sockets, and the `sk_lookup` program for address/port ranges.
//!
//! [`SteerBuilder`] loads the `lb-steer` object and registers groups and ranges as the
//! listeners are bound; [`SteerBuilder::finish`] attaches `sk_lookup` to this network namespace
//! and returns the [`Steering`] the workers keep, through which they publish their load.

use std::fs::File;
use std::net::{IpAddr, SocketAddr, TcpListener};
use std::os::fd::AsFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use aya::maps::{Array, HashMap, Map, MapData, ReusePortSockArray, SockMap};
use aya::programs::{SkLookup, SkReuseport};
use aya::{Ebpf, EbpfLoader};
use lb_common::steer::{
    FAMILY_INET, FAMILY_INET6, GROUPS_MAP, GroupInfo, GroupKey, LOAD_MAP, MAX_GROUPS, MAX_RANGES,
    MAX_SOCKETS, MAX_WORKERS, POLICY_CPU, POLICY_HASH, POLICY_LEAST_LOADED, RANGE_SOCKETS_MAP,
    RANGES_MAP, REUSEPORT_PROGRAM, RangeRule, SK_LOOKUP_PROGRAM, SOCKETS_MAP,
};

use super::{EbpfError, Unavailable};
use crate::config::model::{BindRange, SteerPolicy};
use crate::sys::shared_counters::SharedCounters;

/// The network namespace `sk_lookup` attaches to: the one `lb` runs in.
const NETNS: &str = "/proc/self/ns/net";

/// The embedded steering object.
fn object() -> Option<&'static [u8]> {
    #[cfg(lb_ebpf)]
    return Some(aya::include_bytes_aligned!(concat!(
        env!("OUT_DIR"),
        "/lb-steer"
    )));
    #[cfg(not(lb_ebpf))]
    None
}

/// Why steering can't be set up; the caller falls back to the kernel's own reuseport hashing.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SteerError {
    /// eBPF is unavailable or the object did not load.
    #[error(transparent)]
    Ebpf(#[from] EbpfError),
    /// The kernel refused a program (the verifier's last words are in the message; the full
    /// log is at debug level).
    #[error("the kernel refused the {program} program: {summary}")]
    Program {
        /// Program name.
        program: &'static str,
        /// The error and the verifier's conclusion.
        summary: String,
    },
    /// The object's maps or programs could not be created (not root, old kernel...).
    #[error("cannot load the steering programs: {0}")]
    Load(String),
    /// `sk_lookup` is not attached.
    #[error("sk_lookup unavailable: {0}")]
    NoLookup(String),
    /// `LB_NO_EBPF=1` is set in the environment.
    #[error("LB_NO_EBPF is set")]
    Disabled,
    /// More workers, groups or ranges than the maps hold.
    #[error("too many {what} for eBPF steering (at most {max})")]
    Capacity {
        /// Workers, sockets or ranges.
        what: &'static str,
        /// The limit.
        max: u32,
    },
    /// A socket could not be registered or the program attached.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The OS error.
        source: std::io::Error,
    },
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> SteerError {
    let what = what.into();
    move |source| SteerError::Io { what, source }
}

fn io_other(
    what: impl Into<String>,
    e: impl std::error::Error + Send + Sync + 'static,
) -> SteerError {
    SteerError::Io {
        what: what.into(),
        source: std::io::Error::other(e),
    }
}

/// Loads the programs and fills the maps while the listeners are being bound.
pub struct SteerBuilder {
    ebpf: Ebpf,
    workers: u32,
    next_socket: u32,
    groups: u32,
    next_range_socket: u32,
    ranges: u32,
    keys: std::collections::HashSet<GroupKey>,
    load: SharedCounters,
    /// Why `sk_lookup` is not attached (not wanted, or refused): ranges are then expanded.
    no_lookup: Option<String>,
}

impl std::fmt::Debug for SteerBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SteerBuilder")
            .field("workers", &self.workers)
            .field("groups", &self.groups)
            .field("ranges", &self.ranges)
            .finish_non_exhaustive()
    }
}

/// Whether the environment disables eBPF at run time (`LB_NO_EBPF=1`).
pub fn disabled_by_env() -> bool {
    std::env::var("LB_NO_EBPF").is_ok_and(|v| v == "1" || v.eq_ignore_ascii_case("true"))
}

impl SteerBuilder {
    /// Loads the steering programs for `workers` workers; with `ranges`, also attaches
    /// `sk_lookup` to this network namespace (when that fails, [`Self::add_range`] says
    /// why and the caller expands the ranges).
    pub fn load(workers: usize, ranges: bool) -> Result<Self, SteerError> {
        if disabled_by_env() {
            return Err(SteerError::Disabled);
        }
        let workers = u32::try_from(workers)
            .ok()
            .filter(|w| *w <= MAX_WORKERS)
            .ok_or(SteerError::Capacity {
                what: "workers",
                max: MAX_WORKERS,
            })?;
        let object = object().ok_or(EbpfError::Unavailable(Unavailable::NotBuiltIn(
            super::build_info(),
        )))?;
        let mut ebpf = EbpfLoader::new()
            .load(object)
            .map_err(|e| SteerError::Load(with_sources(&e)))?;
        let reuseport: &mut SkReuseport = program(&mut ebpf, REUSEPORT_PROGRAM)?;
        reuseport
            .load()
            .map_err(|e| refused(REUSEPORT_PROGRAM, &e))?;
        let lookup: &mut SkLookup = program(&mut ebpf, SK_LOOKUP_PROGRAM)?;
        lookup.load().map_err(|e| refused(SK_LOOKUP_PROGRAM, &e))?;
        let no_lookup = if ranges {
            attach_lookup(lookup).err().map(|e| e.to_string())
        } else {
            Some("no range to serve".to_owned())
        };
        let load = match ebpf.map(LOAD_MAP) {
            Some(Map::Array(data)) => SharedCounters::map(data.fd().as_fd(), MAX_WORKERS as usize)
                .map_err(io(format!("mmap of {LOAD_MAP}")))?,
            _ => return Err(EbpfError::Missing(LOAD_MAP).into()),
        };
        Ok(Self {
            load,
            no_lookup,
            ebpf,
            workers,
            next_socket: 0,
            groups: 0,
            next_range_socket: 0,
            ranges: 0,
            keys: std::collections::HashSet::new(),
        })
    }

    /// Steers the group of `sockets` (worker `w`'s socket at `w`, all bound to the same
    /// address with `SO_REUSEPORT`) by `policy`.
    pub fn add_group(
        &mut self,
        sockets: &[TcpListener],
        policy: SteerPolicy,
    ) -> Result<(), SteerError> {
        let Some(first) = sockets.first() else {
            return Ok(());
        };
        let count = u32::try_from(sockets.len()).unwrap_or(u32::MAX);
        let base = self.next_socket;
        if self.groups >= MAX_GROUPS || base.saturating_add(count) > MAX_SOCKETS {
            return Err(SteerError::Capacity {
                what: "listening sockets",
                max: MAX_SOCKETS,
            });
        }
        let local = first.local_addr().map_err(io("getsockname"))?;
        {
            let mut array: ReusePortSockArray<&mut MapData> = map_mut(&mut self.ebpf, SOCKETS_MAP)?;
            for (i, socket) in (0u32..).zip(sockets) {
                array
                    .set(base + i, socket, 0)
                    .map_err(|e| io_other(format!("{SOCKETS_MAP}[{}] ({local})", base + i), e))?;
            }
        }
        self.insert_group(local, base, count, policy_value(policy))?;
        self.next_socket += count;
        self.attach_reuseport(first, local)
    }

    /// Serves `range` on `sockets` (one per worker, each bound to [`BindRange::first`]):
    /// `sk_lookup` hands them every matching connection, the worker chosen by `policy`.
    pub fn add_range(
        &mut self,
        range: &BindRange,
        sockets: &[TcpListener],
        policy: SteerPolicy,
    ) -> Result<(), SteerError> {
        if let Some(why) = &self.no_lookup {
            return Err(SteerError::NoLookup(why.clone()));
        }
        let Some(first) = sockets.first() else {
            return Ok(());
        };
        let count = u32::try_from(sockets.len()).unwrap_or(u32::MAX);
        let base = self.next_range_socket;
        if self.ranges >= MAX_RANGES {
            return Err(SteerError::Capacity {
                what: "address/port ranges",
                max: MAX_RANGES,
            });
        }
        if base.saturating_add(count) > MAX_SOCKETS || self.groups >= MAX_GROUPS {
            return Err(SteerError::Capacity {
                what: "listening sockets",
                max: MAX_SOCKETS,
            });
        }
        let local = first.local_addr().map_err(io("getsockname"))?;
        {
            let mut map: SockMap<&mut MapData> = map_mut(&mut self.ebpf, RANGE_SOCKETS_MAP)?;
            for (i, socket) in (0u32..).zip(sockets) {
                map.set(base + i, socket, 0).map_err(|e| {
                    io_other(format!("{RANGE_SOCKETS_MAP}[{}] ({local})", base + i), e)
                })?;
            }
        }
        let rule = range_rule(range, base, count, policy_value(policy));
        {
            let mut rules: Array<&mut MapData, RangeRule> = map_mut(&mut self.ebpf, RANGES_MAP)?;
            rules
                .set(self.ranges, rule, 0)
                .map_err(|e| io_other(format!("{RANGES_MAP}[{}]", self.ranges), e))?;
        }
        self.ranges += 1;
        self.next_range_socket += count;
        // The group itself (connections to exactly the first address and port) is left to
        // the kernel's hash, but the program still moves queued connections on close.
        self.insert_group(local, 0, 0, POLICY_HASH)?;
        self.attach_reuseport(first, local)
    }

    fn insert_group(
        &mut self,
        local: SocketAddr,
        base: u32,
        workers: u32,
        policy: u32,
    ) -> Result<(), SteerError> {
        let mut groups: HashMap<&mut MapData, GroupKey, GroupInfo> =
            map_mut(&mut self.ebpf, GROUPS_MAP)?;
        let info = GroupInfo {
            base,
            workers,
            policy,
            reserved: 0,
        };
        let key = group_key(local);
        if !self.keys.insert(key) {
            // Both binds' sockets share one reuseport group; the program sees one policy.
            tracing::warn!("{local} is bound twice: steering follows the last bind's policy");
        }
        groups
            .insert(key, info, 0)
            .map_err(|e| io_other(format!("{GROUPS_MAP} ({local})"), e))?;
        self.groups += 1;
        Ok(())
    }

    fn attach_reuseport(
        &mut self,
        socket: &TcpListener,
        local: SocketAddr,
    ) -> Result<(), SteerError> {
        let program: &mut SkReuseport = program(&mut self.ebpf, REUSEPORT_PROGRAM)?;
        program
            .attach(socket)
            .map_err(|e| io_other(format!("SO_ATTACH_REUSEPORT_EBPF ({local})"), e))
    }

    /// Hands the loaded programs over to the workers.
    pub fn finish(self) -> Steering {
        Steering {
            inner: Arc::new(Inner {
                _ebpf: std::sync::Mutex::new(self.ebpf),
                load: self.load,
                ranges: self.ranges,
            }),
        }
    }
}

/// Attaches `sk_lookup` to the network namespace `lb` runs in.
fn attach_lookup(lookup: &mut SkLookup) -> Result<(), SteerError> {
    let netns = File::open(NETNS).map_err(io(NETNS))?;
    lookup
        .attach(netns.as_fd())
        .map(drop)
        .map_err(|e| io_other(format!("attaching sk_lookup to {NETNS}"), e))
}

/// The loaded steering programs; they stay attached while any clone lives.
#[derive(Debug, Clone)]
pub struct Steering {
    inner: Arc<Inner>,
}

struct Inner {
    // Never locked: only here to own the programs and the sk_lookup link (Ebpf is not Sync).
    _ebpf: std::sync::Mutex<Ebpf>,
    load: SharedCounters,
    ranges: u32,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Steering")
            .field("ranges", &self.ranges)
            .finish_non_exhaustive()
    }
}

impl Steering {
    /// How many address/port ranges `sk_lookup` serves.
    pub fn ranges(&self) -> u32 {
        self.inner.ranges
    }

    /// Worker `worker`'s load counter.
    pub fn worker_load(&self, worker: usize) -> Option<WorkerLoad> {
        self.inner.load.get(worker)?;
        Some(WorkerLoad {
            steering: self.clone(),
            worker,
        })
    }
}

/// One worker's published count of active connections.
#[derive(Debug, Clone)]
pub struct WorkerLoad {
    steering: Steering,
    worker: usize,
}

impl WorkerLoad {
    fn counter(&self) -> Option<&AtomicU64> {
        self.steering.inner.load.get(self.worker)
    }

    /// Counts one more connection until the returned guard drops.
    pub fn enter(&self) -> LoadGuard {
        if let Some(c) = self.counter() {
            c.fetch_add(1, Ordering::Relaxed);
        }
        LoadGuard { load: self.clone() }
    }

    /// The published count.
    pub fn current(&self) -> u64 {
        self.counter().map_or(0, |c| c.load(Ordering::Relaxed))
    }
}

/// One connection counted in its worker's load.
#[derive(Debug)]
pub struct LoadGuard {
    load: WorkerLoad,
}

impl Drop for LoadGuard {
    fn drop(&mut self) {
        if let Some(c) = self.load.counter() {
            c.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

/// `e` and every error under it, for a one-line message (aya's errors keep the OS error in
/// their source).
fn with_sources(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut next = e.source();
    while let Some(cause) = next {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text = format!("{text}: {cause_text}");
        }
        next = cause.source();
    }
    text
}

/// A short account of a refused program: the error and the verifier's last line before its
/// statistics.
fn refused(program: &'static str, e: &aya::programs::ProgramError) -> SteerError {
    let summary = match e {
        aya::programs::ProgramError::LoadError {
            io_error,
            verifier_log,
        } => {
            let log = verifier_log.to_string();
            tracing::debug!("verifier log of {program}:\n{log}");
            let last = log
                .lines()
                .take_while(|l| !l.starts_with("verification time"))
                .last()
                .unwrap_or_default()
                .trim()
                .to_owned();
            format!("{io_error}: {last}")
        }
        other => other.to_string(),
    };
    SteerError::Program { program, summary }
}

fn program<'a, T>(ebpf: &'a mut Ebpf, name: &'static str) -> Result<&'a mut T, EbpfError>
where
    &'a mut T: TryFrom<&'a mut aya::programs::Program, Error = aya::programs::ProgramError>,
{
    ebpf.program_mut(name)
        .ok_or(EbpfError::Missing(name))?
        .try_into()
        .map_err(EbpfError::Program)
}

fn map_mut<'a, T>(ebpf: &'a mut Ebpf, name: &'static str) -> Result<T, SteerError>
where
    T: TryFrom<&'a mut Map, Error = aya::maps::MapError>,
{
    let map = ebpf.map_mut(name).ok_or(EbpfError::Missing(name))?;
    T::try_from(map).map_err(|e| io_other(format!("map {name}"), e))
}

const fn policy_value(policy: SteerPolicy) -> u32 {
    match policy {
        SteerPolicy::Hash => POLICY_HASH,
        SteerPolicy::LeastLoaded => POLICY_LEAST_LOADED,
        SteerPolicy::Cpu => POLICY_CPU,
    }
}

/// The key the reuseport program builds from the listener's `bpf_sock`.
fn group_key(local: SocketAddr) -> GroupKey {
    let (family, addr) = ip_words(local.ip());
    GroupKey {
        family,
        port: u32::from(local.port()),
        addr,
    }
}

/// Family and address as the kernel's BPF contexts show them: network byte order words.
fn ip_words(ip: IpAddr) -> (u32, [u32; 4]) {
    match ip {
        IpAddr::V4(v4) => (FAMILY_INET, [u32::from_ne_bytes(v4.octets()), 0, 0, 0]),
        IpAddr::V6(v6) => {
            let o = v6.octets();
            let word = |i: usize| u32::from_ne_bytes([o[i], o[i + 1], o[i + 2], o[i + 3]]);
            (FAMILY_INET6, [word(0), word(4), word(8), word(12)])
        }
    }
}

fn range_rule(range: &BindRange, base: u32, workers: u32, policy: u32) -> RangeRule {
    let (family, addr) = ip_words(range.addr);
    let full = if range.addr.is_ipv4() { 32 } else { 128 };
    // `:8000-8999` binds the wildcard address: every local address matches.
    let len = if range.is_wildcard() {
        0
    } else {
        u32::from(range.prefix_len).min(full)
    };
    let mask_ip = match range.addr {
        IpAddr::V4(_) => IpAddr::V4(u32::MAX.checked_shl(32 - len).unwrap_or(0).into()),
        IpAddr::V6(_) => IpAddr::V6(u128::MAX.checked_shl(128 - len).unwrap_or(0).into()),
    };
    let (_, mask) = ip_words(mask_ip);
    RangeRule {
        family,
        port_first: u32::from(range.first_port),
        port_last: u32::from(range.last_port),
        base,
        workers,
        policy,
        addr: std::array::from_fn(|i| addr[i] & mask[i]),
        mask,
    }
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, Ipv6Addr};

    use super::*;

    #[test]
    fn group_keys_are_in_network_order() {
        let k = group_key(SocketAddr::from((Ipv4Addr::new(127, 0, 0, 1), 8080)));
        assert_eq!(k.family, FAMILY_INET);
        assert_eq!(k.port, 8080);
        assert_eq!(k.addr[0].to_ne_bytes(), [127, 0, 0, 1]);
        let k6 = group_key(SocketAddr::from((Ipv6Addr::LOCALHOST, 1)));
        assert_eq!(k6.family, FAMILY_INET6);
        assert_eq!(k6.addr[3].to_ne_bytes(), [0, 0, 0, 1]);
    }

    #[test]
    fn range_rules_match_what_the_program_sees() {
        let range = BindRange {
            addr: IpAddr::V4(Ipv4Addr::new(127, 0, 0, 0)),
            prefix_len: 24,
            first_port: 20000,
            last_port: 20999,
        };
        let rule = range_rule(&range, 4, 2, POLICY_HASH);
        let (fam, inside) = ip_words(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 77)));
        assert!(rule.matches(fam, &inside, 20500));
        assert!(!rule.matches(fam, &inside, 21000));
        let (_, outside) = ip_words(IpAddr::V4(Ipv4Addr::new(127, 0, 1, 77)));
        assert!(!rule.matches(fam, &outside, 20500));
        let wildcard = BindRange {
            addr: IpAddr::V6(Ipv6Addr::UNSPECIFIED),
            prefix_len: 128,
            first_port: 1,
            last_port: 2,
        };
        let rule = range_rule(&wildcard, 0, 1, POLICY_HASH);
        let (fam, any) = ip_words(IpAddr::V6(Ipv6Addr::LOCALHOST));
        assert!(rule.matches(fam, &any, 2));
    }
}
