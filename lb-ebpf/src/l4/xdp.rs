//! `lb_l4`: the balancer. A packet for a VIP:port keeps the server of its flow, or a new flow
//! takes one from the service's Maglev ring; the packet is then encapsulated (DSR) or
//! rewritten (NAT) and sent on. Anything else goes to the chained program (the guard) or to
//! the kernel.
//!
//! Handled: untagged Ethernet, IPv4 without options and not fragmented, IPv6 whose next
//! header is TCP or UDP. Other frames are not ours (a VIP is never local to the LB, so the
//! kernel forwards or drops them): constant header offsets keep the verifier's work small.

use aya_ebpf::{bindings::xdp_action, macros::xdp, programs::XdpContext};
use lb_common::l4::{
    FlowKey, FlowValue, IPPROTO_TCP, IPPROTO_UDP, MAGLEV_RING, NO_REAL, Real, VIP_NAT, VipInfo,
    VipKey, flow_hash, maglev_index,
};

use super::{
    encap, fib, frame,
    maps::{self, Count, LB_L4_CHAIN, LB_L4_FLOWS, LB_L4_MAGLEV, LB_L4_REALS, LB_L4_SERVICES},
    nat,
};

const ETH_P_IP: u16 = 0x0800;
const ETH_P_IPV6: u16 = 0x86dd;
/// Offset of the network header (untagged Ethernet).
pub const L3: usize = 14;
/// Offset of the transport header after an IPv4 header without options.
pub const L4_V4: usize = L3 + 20;
/// Offset of the transport header after an IPv6 header.
pub const L4_V6: usize = L3 + 40;
/// Not for a VIP: chain or pass.
const NOT_MINE: u32 = u32::MAX;

/// Balances packets for VIPs; chains everything else.
#[xdp]
pub fn lb_l4(ctx: XdpContext) -> u32 {
    let action = match frame::load::<2>(&ctx, 12).map(u16::from_be_bytes) {
        Some(ETH_P_IP) => v4(&ctx),
        Some(ETH_P_IPV6) => v6(&ctx),
        _ => NOT_MINE,
    };
    if action != NOT_MINE {
        return action;
    }
    // SAFETY: a tail call either jumps (never returns) or falls through when slot 0 is empty.
    unsafe { LB_L4_CHAIN.tail_call(&ctx, 0) };
    xdp_action::XDP_PASS
}

/// Passes everything. Attached to the far end of a veth that `lb_l4` redirects into: a veth
/// only takes redirected XDP frames in native mode when its peer runs an XDP program.
#[xdp]
pub fn lb_l4_pass(_ctx: XdpContext) -> u32 {
    xdp_action::XDP_PASS
}

/// What a packet of a flow is and where it goes.
struct Decision {
    service: u32,
    real_index: u32,
    real: Real,
    new_flow: bool,
    nat: bool,
}

// Not inlined: each family gets its own 512-byte stack frame.
#[inline(never)]
fn v4(ctx: &XdpContext) -> u32 {
    let Some(ip) = frame::load::<20>(ctx, L3) else {
        return NOT_MINE;
    };
    // Options, or a fragment (MF set or a fragment offset): not ours.
    if ip[0] != 0x45 || ip[6] & 0x3f != 0 || ip[7] != 0 {
        return NOT_MINE;
    }
    let proto = ip[9];
    if proto != IPPROTO_TCP && proto != IPPROTO_UDP {
        return NOT_MINE;
    }
    let Some(ports) = frame::load::<4>(ctx, L4_V4) else {
        return NOT_MINE;
    };
    let mut key = FlowKey {
        sport: u16::from_be_bytes([ports[0], ports[1]]),
        dport: u16::from_be_bytes([ports[2], ports[3]]),
        proto,
        family: 4,
        ..FlowKey::default()
    };
    key.src[..4].copy_from_slice(&ip[12..16]);
    key.dst[..4].copy_from_slice(&ip[16..20]);
    let Some(vip) = vip(&key) else {
        return NOT_MINE;
    };
    let len = frame::len(ctx) as u64;
    let Some(d) = decide(&key, &vip) else {
        return drop(vip.service, None);
    };
    let tot_len = u16::from_be_bytes([ip[2], ip[3]]);
    let done = if d.nat {
        nat::rewrite4(ctx, &ip, &key, &d.real, d.service, d.new_flow)
    } else {
        encap::ipip(ctx, &ip, &d.real, tot_len)
    };
    if done.is_none() {
        return drop(d.service, Some(d.real_index));
    }
    maps::count(
        d.service,
        Some(d.real_index),
        Count {
            bytes: len,
            new_flow: d.new_flow,
            dropped: false,
        },
    );
    let (src, out_len) = if d.nat {
        (key.src, tot_len)
    } else {
        let mut src = [0u8; 16];
        src[..4].copy_from_slice(&maps::config().src4);
        (src, tot_len.wrapping_add(20))
    };
    fib::forward(ctx, 4, &src, &d.real.addr, out_len)
}

#[inline(never)]
fn v6(ctx: &XdpContext) -> u32 {
    let Some(ip) = frame::load::<40>(ctx, L3) else {
        return NOT_MINE;
    };
    let proto = ip[6];
    if ip[0] >> 4 != 6 || (proto != IPPROTO_TCP && proto != IPPROTO_UDP) {
        return NOT_MINE;
    }
    let Some(ports) = frame::load::<4>(ctx, L4_V6) else {
        return NOT_MINE;
    };
    let mut key = FlowKey {
        sport: u16::from_be_bytes([ports[0], ports[1]]),
        dport: u16::from_be_bytes([ports[2], ports[3]]),
        proto,
        family: 6,
        ..FlowKey::default()
    };
    key.src.copy_from_slice(&ip[8..24]);
    key.dst.copy_from_slice(&ip[24..40]);
    let Some(vip) = vip(&key) else {
        return NOT_MINE;
    };
    let len = frame::len(ctx) as u64;
    let Some(d) = decide(&key, &vip) else {
        return drop(vip.service, None);
    };
    let payload_len = u16::from_be_bytes([ip[4], ip[5]]);
    let done = if d.nat {
        nat::rewrite6(ctx, &key, &d.real, d.service, d.new_flow)
    } else {
        encap::ip6ip6(ctx, &ip, &d.real, payload_len, flow_hash(&key))
    };
    if done.is_none() {
        return drop(d.service, Some(d.real_index));
    }
    maps::count(
        d.service,
        Some(d.real_index),
        Count {
            bytes: len,
            new_flow: d.new_flow,
            dropped: false,
        },
    );
    let (src, out_len) = if d.nat {
        (key.src, payload_len.wrapping_add(40))
    } else {
        (maps::config().src6, payload_len.wrapping_add(80))
    };
    fib::forward(ctx, 6, &src, &d.real.addr, out_len)
}

#[inline(always)]
fn vip(key: &FlowKey) -> Option<VipInfo> {
    let vk = VipKey {
        addr: key.dst,
        port: key.dport,
        proto: key.proto,
        family: key.family,
    };
    // SAFETY: copied out at once; user space replaces whole values.
    unsafe { maps::LB_L4_VIPS.get(&vk) }.copied()
}

#[inline(always)]
fn drop(service: u32, real: Option<u32>) -> u32 {
    maps::count(
        service,
        real,
        Count {
            bytes: 0,
            new_flow: false,
            dropped: true,
        },
    );
    xdp_action::XDP_DROP
}

/// The server of the flow: the one it already has (if still configured), else the ring's.
#[inline(always)]
fn decide(key: &FlowKey, vip: &VipInfo) -> Option<Decision> {
    let nat = vip.flags & VIP_NAT != 0;
    // SAFETY: copied out at once; an LRU entry may be recycled later, not during the copy.
    if let Some(flow) = unsafe { LB_L4_FLOWS.get(key) }.copied()
        && flow.service == vip.service
        && let Some(real) = LB_L4_REALS.get(flow.real).copied()
        && real.family == key.family
    {
        return Some(Decision {
            service: vip.service,
            real_index: flow.real,
            real,
            new_flow: false,
            nat,
        });
    }
    let active = LB_L4_SERVICES.get(vip.service)?.active;
    let slot = flow_hash(key) % MAGLEV_RING;
    let index = *LB_L4_MAGLEV.get(maglev_index(vip.service, active, slot))?;
    if index == NO_REAL {
        return None;
    }
    let real = LB_L4_REALS.get(index).copied()?;
    if real.family != key.family {
        return None;
    }
    maps::remember(
        key,
        &FlowValue {
            real: index,
            service: vip.service,
        },
    );
    Some(Decision {
        service: vip.service,
        real_index: index,
        real,
        new_flow: true,
        nat,
    })
}
