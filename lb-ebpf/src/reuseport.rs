//! `sk_reuseport/migrate`: picks the worker's socket for each new connection of a group, and
//! a live socket for the queued connections of a listener that closes.

use core::ptr::read_volatile;

use aya_ebpf::{bindings::sk_action::SK_PASS, macros::sk_reuseport, programs::SkReuseportContext};
use lb_common::steer::{FAMILY_INET, FAMILY_INET6, GroupKey};

use crate::steer_maps::{LB_STEER_GROUPS, LB_STEER_SOCKETS, pick};

/// How many workers are tried after the chosen one is gone (a worker that stopped).
const RETRIES: u32 = 8;

/// Selects by the group's policy; when nothing can be selected, `SK_PASS` lets the kernel
/// hash among the live listeners, so no connection is ever refused here.
#[sk_reuseport(migrate)]
pub fn lb_reuseport(ctx: SkReuseportContext) -> u32 {
    select(&ctx);
    SK_PASS
}

#[inline(always)]
fn select(ctx: &SkReuseportContext) {
    let Some(key) = group_key(ctx) else {
        return;
    };
    // SAFETY: a plain lookup; the value is copied out at once.
    let Some(group) = (unsafe { LB_STEER_GROUPS.get(&key) }).copied() else {
        return;
    };
    if group.workers == 0 {
        return;
    }
    let first = pick(group.policy, ctx.hash(), group.workers);
    for i in 0..RETRIES {
        let worker = (first + i) % group.workers;
        if LB_STEER_SOCKETS
            .select_reuseport(ctx, group.base + worker)
            .is_ok()
        {
            return;
        }
        if i + 1 >= group.workers {
            return;
        }
    }
}

/// The bound address of the listener the kernel is choosing for (present since Linux 5.14).
#[inline(always)]
fn group_key(ctx: &SkReuseportContext) -> Option<GroupKey> {
    // SAFETY: `md` is the context the kernel passed; `sk` is always set for TCP listeners
    // (the verifier types it as a socket pointer and checks every field read).
    let sk = unsafe { (*ctx.md).__bindgen_anon_3.sk };
    if sk.is_null() {
        return None;
    }
    // The verifier forbids arithmetic on socket pointers: every field is one load at its
    // offset from `sk`, read unconditionally (volatile, so that no shared base is computed).
    // SAFETY: checked non-null above; reads of `bpf_sock` fields are rewritten by the verifier.
    let (family, port, ip4, ip6) = unsafe {
        (
            read_volatile(&raw const (*sk).family),
            read_volatile(&raw const (*sk).src_port),
            read_volatile(&raw const (*sk).src_ip4),
            [
                read_volatile(&raw const (*sk).src_ip6[0]),
                read_volatile(&raw const (*sk).src_ip6[1]),
                read_volatile(&raw const (*sk).src_ip6[2]),
                read_volatile(&raw const (*sk).src_ip6[3]),
            ],
        )
    };
    let addr = match family {
        FAMILY_INET => [ip4, 0, 0, 0],
        FAMILY_INET6 => ip6,
        _ => return None,
    };
    Some(GroupKey { family, port, addr })
}
