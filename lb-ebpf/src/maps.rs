//! Every map of the eBPF programs, in one place (names and sizes come from `lb-common`).

use aya_ebpf::{btf_maps::PerCpuArray, macros::btf_map};
use lb_common::{Counter, StatIndex, stats::XDP_STATS_ENTRIES};

/// Per-CPU packet/byte counters indexed by [`StatIndex`]; user space pins it by name.
///
/// A BTF map, so that `bpftool map dump` shows `packets` and `bytes` by name.
#[btf_map(name = "LB_XDP_STATS")]
static LB_XDP_STATS: PerCpuArray<Counter, { XDP_STATS_ENTRIES as usize }> = PerCpuArray::new();

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
