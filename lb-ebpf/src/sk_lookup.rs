//! `sk_lookup`: hands connections to an address prefix and port range to the range's
//! listening sockets (one per worker), choosing the worker by the range's policy.

use core::ptr::read_volatile;

use aya_ebpf::{
    bindings::{BPF_SK_LOOKUP_F_NO_REUSEPORT, BPF_SK_LOOKUP_F_REPLACE, sk_action::SK_PASS},
    macros::sk_lookup,
    programs::SkLookupContext,
};
use lb_common::steer::{FAMILY_INET, FAMILY_INET6, MAX_RANGES, RangeRule, flow_hash};

use crate::steer_maps::{LB_STEER_RANGE_SOCKETS, LB_STEER_RANGES, pick};

/// Workers tried, in order from the chosen one, when its socket is gone.
const TRIES: u32 = 4;

/// `IPPROTO_TCP`.
const TCP: u32 = 6;

/// Assigns a socket when a range matches; otherwise (or if the socket is gone) the normal
/// lookup goes on, as if this program were not there.
#[sk_lookup]
pub fn lb_sk_lookup(ctx: SkLookupContext) -> u32 {
    assign(&ctx);
    SK_PASS
}

#[inline(always)]
fn assign(ctx: &SkLookupContext) {
    let l = ctx.lookup;
    // The verifier only accepts loads at fixed offsets from the context pointer: each field
    // is read on its own, volatile so that no shared base pointer is computed.
    // SAFETY: the context the kernel passed; the verifier checks each field read.
    let (protocol, family, local_port, remote_port) = unsafe {
        (
            read_volatile(&raw const (*l).protocol),
            read_volatile(&raw const (*l).family),
            read_volatile(&raw const (*l).local_port),
            read_volatile(&raw const (*l).remote_port),
        )
    };
    if protocol != TCP {
        return;
    }
    // SAFETY: as above.
    let (local, remote) = unsafe {
        match family {
            FAMILY_INET => (
                [read_volatile(&raw const (*l).local_ip4), 0, 0, 0],
                [read_volatile(&raw const (*l).remote_ip4), 0, 0, 0],
            ),
            FAMILY_INET6 => (
                [
                    read_volatile(&raw const (*l).local_ip6[0]),
                    read_volatile(&raw const (*l).local_ip6[1]),
                    read_volatile(&raw const (*l).local_ip6[2]),
                    read_volatile(&raw const (*l).local_ip6[3]),
                ],
                [
                    read_volatile(&raw const (*l).remote_ip6[0]),
                    read_volatile(&raw const (*l).remote_ip6[1]),
                    read_volatile(&raw const (*l).remote_ip6[2]),
                    read_volatile(&raw const (*l).remote_ip6[3]),
                ],
            ),
            _ => return,
        }
    };
    let port = local_port;
    let remote_port = u32::from(remote_port);
    let Some(rule) = find(family, &local, port) else {
        return;
    };
    let hash = flow_hash(&remote, remote_port, port);
    let first = pick(rule.policy, hash, rule.workers);
    // The reuseport group would hash again and undo the policy: this is the worker. During a
    // reload the old process's program ran first: the newest process takes over, as it
    // does for reuseport groups.
    let flags = u64::from(BPF_SK_LOOKUP_F_NO_REUSEPORT | BPF_SK_LOOKUP_F_REPLACE);
    // The chosen worker's socket is gone while it stops: the next ones.
    for i in 0..TRIES {
        let worker = (first + i) % rule.workers;
        if LB_STEER_RANGE_SOCKETS
            .redirect_sk_lookup(ctx, rule.base + worker, flags)
            .is_ok()
        {
            return;
        }
    }
}

/// The first range the destination falls in.
#[inline(always)]
fn find(family: u32, local: &[u32; 4], port: u32) -> Option<RangeRule> {
    for i in 0..MAX_RANGES {
        let rule = LB_STEER_RANGES.get(i)?;
        if rule.family == 0 {
            return None;
        }
        if rule.workers != 0 && rule.matches(family, local, port) {
            return Some(*rule);
        }
    }
    None
}
