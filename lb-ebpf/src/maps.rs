//! Every map of the eBPF programs, in one place (names and sizes come from `lb-common`).
//!
//! BTF maps, so that `bpftool map dump` shows keys and values by field name.

use aya_ebpf::{
    btf_maps::{Array, HashMap, LpmTrie, LruHashMap, PerCpuArray, PerCpuHashMap, lpm_trie::Key},
    macros::btf_map,
};
use lb_common::{
    Counter, StatIndex,
    guard::{
        CIDR_ENTRIES, CidrEntry, CidrHitKey, GuardConfig, Ipv4Prefix, PORT_ENTRIES,
        PORT_STATS_ENTRIES, PortPolicy, PortStatKey, SYN_SOURCE_ENTRIES, SourceKey, TokenBucket,
    },
    stats::XDP_STATS_ENTRIES,
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

/// Protected TCP destination ports.
#[btf_map(name = "LB_XDP_PORTS")]
static LB_XDP_PORTS: HashMap<u16, PortPolicy, { PORT_ENTRIES as usize }> = HashMap::new();

/// Per-source SYN token buckets.
#[btf_map(name = "LB_XDP_SYN_SOURCE")]
pub static LB_XDP_SYN_SOURCE: LruHashMap<SourceKey, TokenBucket, { SYN_SOURCE_ENTRIES as usize }> =
    LruHashMap::new();

/// The global SYN budget, one bucket per CPU.
#[btf_map(name = "LB_XDP_SYN_GLOBAL")]
pub static LB_XDP_SYN_GLOBAL: PerCpuArray<TokenBucket, 1> = PerCpuArray::new();

/// Counters per (protected port, reason).
#[btf_map(name = "LB_XDP_PORT_STATS")]
static LB_XDP_PORT_STATS: PerCpuHashMap<PortStatKey, Counter, { PORT_STATS_ENTRIES as usize }> =
    PerCpuHashMap::new();

/// Hits per deny/allow entry.
#[btf_map(name = "LB_XDP_CIDR_HITS")]
static LB_XDP_CIDR_HITS: PerCpuHashMap<CidrHitKey, u64, { 4 * CIDR_ENTRIES as usize }> =
    PerCpuHashMap::new();

/// Counts one packet of `bytes` bytes for `reason` on this CPU.
#[inline(always)]
pub fn count(reason: StatIndex, bytes: usize) {
    if let Some(slot) = LB_XDP_STATS.get_ptr_mut(reason.index()) {
        // SAFETY: the pointer comes from a successful lookup in a per-CPU array, so it is
        // valid, aligned and only touched by this CPU while the program runs.
        let slot = unsafe { &mut *slot };
        slot.packets += 1;
        slot.bytes += bytes as u64;
    }
}

/// Counts one packet for (`port`, `reason`) on this CPU.
#[inline(always)]
pub fn count_port(port: u16, reason: StatIndex, bytes: usize) {
    let key = PortStatKey {
        port,
        pad: 0,
        reason: reason.index(),
    };
    if let Some(slot) = LB_XDP_PORT_STATS.get_ptr_mut(&key) {
        // SAFETY: a per-CPU hash value found by lookup: valid, aligned, this CPU's copy.
        let slot = unsafe { &mut *slot };
        slot.packets += 1;
        slot.bytes += bytes as u64;
    } else {
        // A new per-CPU element holds this CPU's value and zeros elsewhere; when another CPU
        // inserted the key meanwhile, BPF_ANY only writes this CPU's (still zero) copy, so no
        // count is lost either way.
        let first = Counter {
            packets: 1,
            bytes: bytes as u64,
        };
        let _ = LB_XDP_PORT_STATS.insert(&key, &first, u64::from(aya_ebpf::bindings::BPF_ANY));
    }
}

/// The guard's configuration (all zero until user space writes it).
#[inline(always)]
pub fn config() -> GuardConfig {
    LB_XDP_CONFIG.get(0).copied().unwrap_or_default()
}

/// The policy of a protected port, `None` for an unprotected one.
#[inline(always)]
pub fn port_policy(port: u16) -> Option<PortPolicy> {
    // SAFETY: the value is copied out at once; user space may update it concurrently, which
    // at worst yields the old or the new flags.
    unsafe { LB_XDP_PORTS.get(&port) }.copied()
}

/// Whether `entry` is live now; counts the hit on this CPU if so.
#[inline(always)]
fn hit(entry: &CidrEntry) -> bool {
    let expires = entry.expires_ns;
    if expires != 0 && expires <= crate::xdp::ktime_ns() {
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
