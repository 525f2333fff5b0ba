//! Every map of the eBPF programs, in one place (names and sizes come from `lb-common`).
//!
//! BTF maps, so that `bpftool map dump` shows keys and values by field name.

use aya_ebpf::{
    btf_maps::{Array, LpmTrie, LruHashMap, PerCpuArray, PerCpuHashMap, lpm_trie::Key},
    helpers::{bpf_jiffies64, bpf_ktime_get_ns},
    macros::btf_map,
};
use lb_common::{
    Counter, StatIndex,
    guard::{
        CIDR_ENTRIES, CidrEntry, CidrHitKey, GuardConfig, Ipv4Prefix, PORT_ENTRIES,
        PORT_STAT_SLOTS, PORT_STATS_ENTRIES, PortPolicy, SYN_SOURCE_ENTRIES, SourceKey,
        TokenBucket,
    },
    stats::{IF_SLOTS, IF_STATS_ENTRIES, IFINDEX_ENTRIES, IfSlot, SLOT_REASONS, XDP_STATS_ENTRIES},
};

/// Per-CPU packet/byte counters indexed by [`StatIndex`]; user space pins it by name.
#[btf_map(name = "LB_XDP_STATS")]
static LB_XDP_STATS: PerCpuArray<Counter, { XDP_STATS_ENTRIES as usize }> = PerCpuArray::new();

/// The guard's configuration, at index 0; user space writes it.
#[btf_map(name = "LB_XDP_CONFIG")]
static LB_XDP_CONFIG: Array<GuardConfig, 1> = Array::new();

/// IPv4 deny list.
#[btf_map(name = "LB_XDP_DENY4")]
pub static LB_XDP_DENY4: LpmTrie<Ipv4Prefix, CidrEntry, { CIDR_ENTRIES as usize }> = LpmTrie::new();

/// IPv6 deny list.
#[btf_map(name = "LB_XDP_DENY6")]
pub static LB_XDP_DENY6: LpmTrie<[u8; 16], CidrEntry, { CIDR_ENTRIES as usize }> = LpmTrie::new();

/// IPv4 allow list.
#[btf_map(name = "LB_XDP_ALLOW4")]
pub static LB_XDP_ALLOW4: LpmTrie<Ipv4Prefix, CidrEntry, { CIDR_ENTRIES as usize }> =
    LpmTrie::new();

/// IPv6 allow list.
#[btf_map(name = "LB_XDP_ALLOW6")]
pub static LB_XDP_ALLOW6: LpmTrie<[u8; 16], CidrEntry, { CIDR_ENTRIES as usize }> = LpmTrie::new();

/// The policy of every TCP destination port, indexed by port.
#[btf_map(name = "LB_XDP_PORTS")]
static LB_XDP_PORTS: Array<PortPolicy, { PORT_ENTRIES as usize }> = Array::new();

/// Which port owns each per-port counter slot (written by user space, read by it only).
#[btf_map(name = "LB_XDP_PORT_SLOTS")]
static LB_XDP_PORT_SLOTS: Array<u32, { PORT_STAT_SLOTS as usize }> = Array::new();

/// The counter slot of each ingress ifindex (0: "other").
#[btf_map(name = "LB_XDP_IFINDEX")]
static LB_XDP_IFINDEX: Array<u32, { IFINDEX_ENTRIES as usize }> = Array::new();

/// Which ifindex owns each interface slot (written by user space, read by it only).
#[btf_map(name = "LB_XDP_IF_SLOTS")]
static LB_XDP_IF_SLOTS: Array<IfSlot, { IF_SLOTS as usize }> = Array::new();

/// Counters per (interface slot, reason).
#[btf_map(name = "LB_XDP_IF_STATS")]
static LB_XDP_IF_STATS: PerCpuArray<Counter, { IF_STATS_ENTRIES as usize }> = PerCpuArray::new();

/// This CPU's clock: `[jiffies, ktime_ns]` of the first packet seen in that jiffy.
#[btf_map(name = "LB_XDP_CLOCK")]
static LB_XDP_CLOCK: PerCpuArray<[u64; 2], 1> = PerCpuArray::new();

/// Per-source SYN token buckets.
#[btf_map(name = "LB_XDP_SYN_SOURCE")]
pub static LB_XDP_SYN_SOURCE: LruHashMap<SourceKey, TokenBucket, { SYN_SOURCE_ENTRIES as usize }> =
    LruHashMap::new();

/// The global SYN budget, one bucket per CPU.
#[btf_map(name = "LB_XDP_SYN_GLOBAL")]
pub static LB_XDP_SYN_GLOBAL: PerCpuArray<TokenBucket, 1> = PerCpuArray::new();

/// Counters per (protected port slot, reason).
#[btf_map(name = "LB_XDP_PORT_STATS")]
static LB_XDP_PORT_STATS: PerCpuArray<Counter, { PORT_STATS_ENTRIES as usize }> =
    PerCpuArray::new();

/// Hits per deny/allow entry.
#[btf_map(name = "LB_XDP_CIDR_HITS")]
static LB_XDP_CIDR_HITS: PerCpuHashMap<CidrHitKey, u64, { 4 * CIDR_ENTRIES as usize }> =
    PerCpuHashMap::new();

/// Adds one packet of `bytes` bytes to this CPU's slot `index` of `map`.
#[inline(always)]
fn bump<const N: usize>(map: &PerCpuArray<Counter, N>, index: u32, bytes: u64) {
    if let Some(slot) = map.get_ptr_mut(index) {
        // SAFETY: the pointer comes from a successful lookup in a per-CPU array, so it is
        // valid, aligned and only touched by this CPU while the program runs.
        let slot = unsafe { &mut *slot };
        slot.packets += 1;
        slot.bytes += bytes;
    }
}

/// Counts one packet of `bytes` bytes for `reason` on this CPU: in the totals, under the
/// interface's slot and, when `port_slot` is not 0, under the port's. Three array slots, no
/// hashing: the verifier inlines per-CPU array lookups.
#[inline(always)]
pub fn count(reason: StatIndex, bytes: usize, ifindex: u32, port_slot: u32) {
    let bytes = bytes as u64;
    let reason = reason.index();
    bump(&LB_XDP_STATS, reason, bytes);
    if reason >= SLOT_REASONS {
        return;
    }
    let if_slot = LB_XDP_IFINDEX.get(ifindex).copied().unwrap_or(0);
    bump(&LB_XDP_IF_STATS, if_slot * SLOT_REASONS + reason, bytes);
    if port_slot != 0 {
        bump(&LB_XDP_PORT_STATS, port_slot * SLOT_REASONS + reason, bytes);
    }
}

/// `CLOCK_MONOTONIC` in nanoseconds as of this CPU's first packet in the current jiffy.
///
/// `bpf_ktime_get_ns` costs as much as three map lookups here (a clocksource read through
/// an indirect call), while `bpf_jiffies64` is inlined: reading the real clock once per jiffy
/// per CPU leaves token buckets and expiries one jiffy (1-10 ms) coarse, which they tolerate.
#[inline(always)]
pub fn now_ns() -> u64 {
    // SAFETY: bpf_jiffies64 has no preconditions.
    let jiffies = unsafe { bpf_jiffies64() };
    let Some(clock) = LB_XDP_CLOCK.get_ptr_mut(0) else {
        // SAFETY: bpf_ktime_get_ns has no preconditions.
        return unsafe { bpf_ktime_get_ns() };
    };
    // SAFETY: this CPU's copy of a per-CPU array slot; nothing else touches it now.
    let clock = unsafe { &mut *clock };
    if clock[0] != jiffies || clock[1] == 0 {
        clock[0] = jiffies;
        // SAFETY: as above.
        clock[1] = unsafe { bpf_ktime_get_ns() };
    }
    clock[1]
}

/// The guard's configuration (all zero until user space writes it).
#[inline(always)]
pub fn config() -> GuardConfig {
    LB_XDP_CONFIG.get(0).copied().unwrap_or_default()
}

/// The policy of a port, `None` for an unprotected one.
#[inline(always)]
pub fn port_policy(port: u16) -> Option<PortPolicy> {
    // The value is copied out at once; user space may update it concurrently, which at
    // worst yields the old or the new policy.
    LB_XDP_PORTS
        .get(u32::from(port))
        .copied()
        .filter(|p| p.flags != 0)
}

/// Whether `entry` is live now; counts the hit on this CPU if so.
#[inline(always)]
fn hit(entry: &CidrEntry) -> bool {
    let expires = entry.expires_ns;
    if expires != 0 && expires <= now_ns() {
        return false;
    }
    let key = entry.hit_key;
    if let Some(hits) = LB_XDP_CIDR_HITS.get_ptr_mut(&key) {
        // SAFETY: this CPU's copy of a per-CPU hash value found by lookup.
        unsafe { *hits += 1 };
    } else {
        // BPF_ANY: on a concurrent first insert only this CPU's (zero) copy is written.
        let _ = LB_XDP_CIDR_HITS.insert(&key, &1u64, u64::from(aya_ebpf::bindings::BPF_ANY));
    }
    true
}

/// Whether an IPv4 source matches a live entry of `list`, counting the hit.
#[inline(always)]
pub fn match4(
    list: &LpmTrie<Ipv4Prefix, CidrEntry, { CIDR_ENTRIES as usize }>,
    addr: [u8; 4],
) -> bool {
    let key = Key::new(32, Ipv4Prefix { addr, pad: [0; 4] });
    match list.get(&key) {
        Some(entry) => hit(entry),
        None => false,
    }
}

/// Whether an IPv6 source matches a live entry of `list`, counting the hit.
#[inline(always)]
pub fn match6(
    list: &LpmTrie<[u8; 16], CidrEntry, { CIDR_ENTRIES as usize }>,
    addr: [u8; 16],
) -> bool {
    let key = Key::new(128, addr);
    match list.get(&key) {
        Some(entry) => hit(entry),
        None => false,
    }
}
