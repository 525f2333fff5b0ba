//! The XDP entry program: parse, apply the guard, count the verdict by reason.
//!
//! Order of checks, as in Katran/Cilium: frames whose link or network layer is malformed
//! first (the configured policy), then the allow list (skips everything else), the deny list,
//! a malformed transport header (policy again), then the TCP checks for protected ports
//! (fragments, data offset, flags, SYN budgets: the global one first, then the source's).
//!
//! Cost: every map the common paths touch is an array (inlined by the verifier) except the
//! CIDR lists (LPM tries) and the per-source SYN buckets (LRU hash); the clock is read at most
//! once per jiffy per CPU (see [`maps::now_ns`]).

use aya_ebpf::{bindings::xdp_action, macros::xdp, programs::XdpContext};
use lb_common::{
    StatIndex,
    guard::{GuardConfig, MALFORMED_DROP, PORT_SYN_GUARD, PORT_TCP_SANITY, SourceKey, TokenBucket},
};

use crate::{
    maps,
    packet::XdpPacket,
    parse::{self, Headers, L4, Packet as _},
};

/// Counts every frame by the reason of its verdict and drops what the guard rejects.
#[xdp]
pub fn lb_xdp(ctx: XdpContext) -> u32 {
    let packet = XdpPacket::new(&ctx);
    let len = packet.len();
    let config = maps::config();
    let (reason, port_slot) = match parse::headers(&packet) {
        Ok(headers) => guard(&headers, &config),
        Err(reason) => (reason, 0),
    };
    // ifindexes are 32-bit in the kernel; the conversion never truncates.
    maps::count(reason, len, ctx.ingress_ifindex() as u32, port_slot);
    verdict(reason, &config)
}

/// Drops every frame and does nothing else: what the benchmark compares `lb_xdp` against.
#[xdp]
pub fn lb_xdp_baseline(_ctx: XdpContext) -> u32 {
    xdp_action::XDP_DROP
}

#[inline(always)]
fn verdict(reason: StatIndex, config: &GuardConfig) -> u32 {
    match reason.verdict() {
        lb_common::Verdict::Pass => xdp_action::XDP_PASS,
        lb_common::Verdict::Drop => xdp_action::XDP_DROP,
        lb_common::Verdict::Aborted => xdp_action::XDP_ABORTED,
        lb_common::Verdict::Policy if config.malformed == MALFORMED_DROP => xdp_action::XDP_DROP,
        lb_common::Verdict::Policy => xdp_action::XDP_PASS,
    }
}

/// The reason for a well-formed frame, and the counter slot of the protected port it targets
/// (0: none).
#[inline(always)]
fn guard(h: &Headers, config: &GuardConfig) -> (StatIndex, u32) {
    if h.family == 0 {
        return (StatIndex::PassOther, 0);
    }
    if source_listed(h, true) {
        return (StatIndex::AllowList, 0);
    }
    if source_listed(h, false) {
        return (StatIndex::DenyList, 0);
    }
    if h.l4_malformed {
        return (h.l4_error, 0);
    }
    let pass = parse::pass_reason(h.family);
    match h.l4 {
        L4::Tcp => {
            let Some(policy) = maps::port_policy(h.dst_port) else {
                let reason = if h.tcp_offset_ok {
                    pass
                } else {
                    StatIndex::MalformedTcp
                };
                return (reason, 0);
            };
            let slot = policy.slot;
            if policy.flags & PORT_TCP_SANITY != 0 {
                if !h.tcp_offset_ok {
                    return (StatIndex::TcpBadOffset, slot);
                }
                if parse::bad_tcp_flags(h.tcp_flags) {
                    return (StatIndex::TcpBadFlags, slot);
                }
            } else if !h.tcp_offset_ok {
                return (StatIndex::MalformedTcp, slot);
            }
            if policy.flags & PORT_SYN_GUARD != 0 && parse::is_syn(h.tcp_flags) {
                return (syn_budget(h, config), slot);
            }
            (pass, slot)
        }
        L4::TcpFragment if h.port_known => match maps::port_policy(h.dst_port) {
            Some(p) if config.drop_fragments != 0 => (StatIndex::Fragment, p.slot),
            Some(p) => (pass, p.slot),
            None => (pass, 0),
        },
        // A later fragment (or a first one too short to hold the port) cannot be tied to a
        // port: with fragments dropped, every such TCP fragment goes.
        L4::TcpFragment if config.drop_fragments != 0 => (StatIndex::Fragment, 0),
        L4::TcpFragment | L4::Udp | L4::Other => (pass, 0),
    }
}

/// Spends a SYN's tokens: the global (per-CPU) budget first, an array slot, so that a flood
/// of spoofed sources past the global budget is dropped before it churns the per-source LRU
/// map; then the source's own bucket, which gives the global token back when it refuses.
#[inline(always)]
fn syn_budget(h: &Headers, config: &GuardConfig) -> StatIndex {
    let now = maps::now_ns();
    if !global_budget(config, now) {
        return StatIndex::SynOverGlobal;
    }
    if source_budget(h, config, now) {
        return parse::pass_reason(h.family);
    }
    global_refund(config);
    StatIndex::SynOverSource
}

/// Takes a token from this CPU's share of the global budget.
#[inline(always)]
fn global_budget(config: &GuardConfig, now: u64) -> bool {
    if config.syn_cpu_burst == 0 {
        return true;
    }
    match maps::LB_XDP_SYN_GLOBAL.get_ptr_mut(0) {
        // SAFETY: this CPU's copy of a per-CPU array slot; nothing else touches it now.
        Some(bucket) => {
            unsafe { &mut *bucket }.take(now, config.syn_cpu_rate, config.syn_cpu_burst)
        }
        None => true,
    }
}

/// Gives back the token [`global_budget`] took. A second lookup rather than a pointer kept
/// in an `Option`: LLVM spills the undefined bytes of a `None`, which the verifier rejects.
#[inline(always)]
fn global_refund(config: &GuardConfig) {
    if config.syn_cpu_burst == 0 {
        return;
    }
    if let Some(bucket) = maps::LB_XDP_SYN_GLOBAL.get_ptr_mut(0) {
        // SAFETY: as in global_budget.
        unsafe { &mut *bucket }.refund(config.syn_cpu_burst);
    }
}

/// Whether the source is on the allow (`allow`) or deny list, counting the entry's hit.
#[inline(always)]
fn source_listed(h: &Headers, allow: bool) -> bool {
    if h.family == 4 {
        let addr = [h.src[0], h.src[1], h.src[2], h.src[3]];
        let list = if allow {
            &maps::LB_XDP_ALLOW4
        } else {
            &maps::LB_XDP_DENY4
        };
        maps::match4(list, addr)
    } else {
        let list = if allow {
            &maps::LB_XDP_ALLOW6
        } else {
            &maps::LB_XDP_DENY6
        };
        maps::match6(list, h.src)
    }
}

/// Takes a token from the source's bucket (/32 or /64); `false` when it is empty.
#[inline(always)]
fn source_budget(h: &Headers, config: &GuardConfig, now: u64) -> bool {
    if config.syn_source_burst == 0 {
        return true;
    }
    // Spelled out: a copy of a variable width becomes a call to `memcpy`.
    let s = &h.src;
    let addr = if h.family == 4 {
        [s[0], s[1], s[2], s[3], 0, 0, 0, 0]
    } else {
        [s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7]]
    };
    let key = SourceKey {
        family: u32::from(h.family),
        pad: 0,
        addr,
    };
    match maps::LB_XDP_SYN_SOURCE.get_ptr_mut(&key) {
        Some(bucket) => {
            // SAFETY: a value found by lookup stays valid during the program. CPUs updating
            // the same source race benignly: the budget is approximate by a few tokens.
            let bucket = unsafe { &mut *bucket };
            bucket.take(now, config.syn_source_rate, config.syn_source_burst)
        }
        None => {
            let first = TokenBucket::first(now, config.syn_source_burst);
            let _ = maps::LB_XDP_SYN_SOURCE.insert(&key, &first, 0);
            true
        }
    }
}
