//! The maps of the L4 fast path (layouts and sizes in `lb_common::l4`).

use aya_ebpf::{
    bindings::{BPF_ANY, BPF_F_NO_COMMON_LRU},
    btf_maps::{Array, HashMap, LruHashMap, PerCpuArray, ProgramArray},
    macros::btf_map,
};
use lb_common::l4::{
    FlowKey, FlowValue, L4_FLOW_ENTRIES, L4_MAGLEV_ENTRIES, L4_MAX_REALS, L4_MAX_SERVICES,
    L4_MAX_VIPS, L4Config, L4Counter, L4Name, NatReverse, Real, ServiceState, VipInfo, VipKey,
};

/// VIP:port -> service.
#[btf_map(name = "LB_L4_VIPS")]
pub static LB_L4_VIPS: HashMap<VipKey, VipInfo, { L4_MAX_VIPS as usize }> = HashMap::new();

/// Which ring half is live, per service.
#[btf_map(name = "LB_L4_SERVICES")]
pub static LB_L4_SERVICES: Array<ServiceState, { L4_MAX_SERVICES as usize }> = Array::new();

/// Servers.
#[btf_map(name = "LB_L4_REALS")]
pub static LB_L4_REALS: Array<Real, { L4_MAX_REALS as usize }> = Array::new();

/// Maglev rings, two halves per service.
#[btf_map(name = "LB_L4_MAGLEV")]
pub static LB_L4_MAGLEV: Array<u32, { L4_MAGLEV_ENTRIES as usize }> = Array::new();

/// Connection table. `BPF_F_NO_COMMON_LRU` gives each CPU its own LRU list (no shared lock
/// on the hot path, Katran's per-CPU LRU) while a flow stays visible from every CPU, so a
/// flow whose packets change CPU keeps its server.
#[btf_map(name = "LB_L4_FLOWS")]
pub static LB_L4_FLOWS: LruHashMap<
    FlowKey,
    FlowValue,
    { L4_FLOW_ENTRIES as usize },
    { BPF_F_NO_COMMON_LRU as usize },
> = LruHashMap::new();

/// NAT reverse entries, keyed by the reply's 5-tuple.
#[btf_map(name = "LB_L4_NAT")]
pub static LB_L4_NAT: LruHashMap<FlowKey, NatReverse, { L4_FLOW_ENTRIES as usize }> =
    LruHashMap::new();

/// Global settings at index 0.
#[btf_map(name = "LB_L4_CONFIG")]
pub static LB_L4_CONFIG: Array<L4Config, 1> = Array::new();

/// Counters per service.
#[btf_map(name = "LB_L4_SERVICE_STATS")]
pub static LB_L4_SERVICE_STATS: PerCpuArray<L4Counter, { L4_MAX_SERVICES as usize }> =
    PerCpuArray::new();

/// Counters per server.
#[btf_map(name = "LB_L4_REAL_STATS")]
pub static LB_L4_REAL_STATS: PerCpuArray<L4Counter, { L4_MAX_REALS as usize }> = PerCpuArray::new();

/// Names for `lb xdp stats` (user space only).
#[btf_map(name = "LB_L4_NAMES")]
pub static LB_L4_NAMES: Array<L4Name, { (L4_MAX_SERVICES + L4_MAX_REALS) as usize }> = Array::new();

/// Slot 0: the program for packets that are not for a VIP (the guard), if any.
#[btf_map(name = "LB_L4_CHAIN")]
pub static LB_L4_CHAIN: ProgramArray<1> = ProgramArray::new();

/// What to add to a counter.
#[derive(Clone, Copy)]
pub struct Count {
    /// Bytes of the packet.
    pub bytes: u64,
    /// The packet created a flow.
    pub new_flow: bool,
    /// The packet was dropped.
    pub dropped: bool,
}

/// Counts one packet for `service` and, when known, `real`.
#[inline(always)]
pub fn count(service: u32, real: Option<u32>, c: Count) {
    if let Some(slot) = LB_L4_SERVICE_STATS.get_ptr_mut(service) {
        // SAFETY: this CPU's copy of a per-CPU array slot, found by lookup.
        add(unsafe { &mut *slot }, c);
    }
    if let Some(real) = real
        && let Some(slot) = LB_L4_REAL_STATS.get_ptr_mut(real)
    {
        // SAFETY: as above.
        add(unsafe { &mut *slot }, c);
    }
}

#[inline(always)]
fn add(slot: &mut L4Counter, c: Count) {
    if c.dropped {
        slot.dropped += 1;
        return;
    }
    slot.packets += 1;
    slot.bytes += c.bytes;
    if c.new_flow {
        slot.new_flows += 1;
    }
}

/// The global settings (zero until user space writes them).
#[inline(always)]
pub fn config() -> L4Config {
    LB_L4_CONFIG.get(0).copied().unwrap_or_default()
}

/// Records `flow` for `key` (best effort: a full table evicts its least recently used).
#[inline(always)]
pub fn remember(key: &FlowKey, flow: &FlowValue) {
    let _ = LB_L4_FLOWS.insert(key, flow, u64::from(BPF_ANY));
}
