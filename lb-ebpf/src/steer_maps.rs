//! Maps of the steering programs and the worker-choice policies both programs apply.
//!
//! Legacy (non-BTF) map definitions: aya-ebpf 0.2 has socket maps only in that form, and the
//! load array needs `BPF_F_MMAPABLE` so that workers publish their load without a syscall.

use aya_ebpf::{
    bindings::BPF_F_MMAPABLE,
    helpers::{bpf_get_prandom_u32, bpf_get_smp_processor_id},
    macros::map,
    maps::{Array, HashMap, ReusePortSockArray, SockMap},
};
use lb_common::steer::{
    GroupInfo, GroupKey, MAX_GROUPS, MAX_RANGES, MAX_SOCKETS, MAX_WORKERS, POLICY_CPU,
    POLICY_LEAST_LOADED, RangeRule, scale,
};

/// Every steered group's sockets, at `GroupInfo::base + worker`.
#[map(name = "LB_STEER_SOCKETS")]
pub static LB_STEER_SOCKETS: ReusePortSockArray =
    ReusePortSockArray::with_max_entries(MAX_SOCKETS, 0);

/// The groups, by bound address.
#[map(name = "LB_STEER_GROUPS")]
pub static LB_STEER_GROUPS: HashMap<GroupKey, GroupInfo> = HashMap::with_max_entries(MAX_GROUPS, 0);

/// Active connections per worker, written by the workers through a shared mapping.
#[map(name = "LB_STEER_LOAD")]
static LB_STEER_LOAD: Array<u64> = Array::with_max_entries(MAX_WORKERS, BPF_F_MMAPABLE);

/// Address/port ranges served through `sk_lookup`.
#[map(name = "LB_STEER_RANGES")]
pub static LB_STEER_RANGES: Array<RangeRule> = Array::with_max_entries(MAX_RANGES, 0);

/// The ranges' sockets, at `RangeRule::base + worker`.
#[map(name = "LB_STEER_RANGE_SOCKETS")]
pub static LB_STEER_RANGE_SOCKETS: SockMap = SockMap::with_max_entries(MAX_SOCKETS, 0);

/// The worker (`0..workers`) that should get a new connection whose flow hash is `hash`.
#[inline(always)]
pub fn pick(policy: u32, hash: u32, workers: u32) -> u32 {
    match policy {
        POLICY_LEAST_LOADED => {
            // SAFETY: helpers without arguments or memory access.
            let r = unsafe { bpf_get_prandom_u32() };
            if workers < 2 {
                return 0;
            }
            // Two distinct candidates: a worker holding many connections then never wins
            // against any other.
            let a = scale(r, workers);
            let b = (a + 1 + scale(r.rotate_left(16), workers - 1)) % workers;
            if load(b) < load(a) { b } else { a }
        }
        POLICY_CPU => {
            // SAFETY: as above.
            let cpu = unsafe { bpf_get_smp_processor_id() };
            cpu % workers
        }
        _ => scale(hash, workers),
    }
}

/// Published active connections of `worker` (0 when unknown).
#[inline(always)]
fn load(worker: u32) -> u64 {
    LB_STEER_LOAD.get(worker).copied().unwrap_or(0)
}
