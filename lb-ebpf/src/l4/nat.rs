//! NAT forwarding: the destination becomes the server (address and port) with incremental
//! checksum updates, and a reverse entry lets `lb_l4_nat_reply` (TC, on the way back) put
//! the VIP back as the source of the server's replies.

use aya_ebpf::{
    bindings::{BPF_ANY, BPF_F_MARK_MANGLED_0, BPF_F_PSEUDO_HDR, TC_ACT_OK},
    macros::classifier,
    programs::{TcContext, XdpContext},
};
use lb_common::l4::{FlowKey, IPPROTO_TCP, IPPROTO_UDP, NatReverse, Real};

use super::{
    csum, frame,
    maps::LB_L4_NAT,
    xdp::{L3, L4_V4, L4_V6},
};

/// Offset of the checksum in the transport header.
#[inline(always)]
const fn csum_offset(proto: u8) -> usize {
    if proto == IPPROTO_TCP { 16 } else { 6 }
}

/// The new checksum of the transport header after `old` became `new` in what it covers.
#[inline(always)]
fn l4_replace<const N: usize>(proto: u8, check: u16, old: &[u8; N], new: &[u8; N]) -> u16 {
    if proto == IPPROTO_UDP {
        csum::replace_udp(check, old, new)
    } else {
        csum::replace(check, old, new)
    }
}

/// Records where replies of this flow must appear to come from.
#[inline(always)]
fn remember(key: &FlowKey, real: &Real, new_port: u16, service: u32) {
    let reply = FlowKey {
        src: real.addr,
        dst: key.src,
        sport: new_port,
        dport: key.sport,
        proto: key.proto,
        family: key.family,
        pad: [0; 2],
    };
    let rev = NatReverse {
        vip: key.dst,
        port: key.dport,
        pad: [0; 2],
        service,
    };
    let _ = LB_L4_NAT.insert(&reply, &rev, u64::from(BPF_ANY));
}

/// Rewrites an IPv4 packet (header `ip`, options-free) to `real`.
#[inline(always)]
pub fn rewrite4(
    ctx: &XdpContext,
    ip: &[u8; 20],
    key: &FlowKey,
    real: &Real,
    service: u32,
    new_flow: bool,
) -> Option<()> {
    let new_port = if real.port == 0 { key.dport } else { real.port };
    let old_dst = [ip[16], ip[17], ip[18], ip[19]];
    let new_dst = [real.addr[0], real.addr[1], real.addr[2], real.addr[3]];
    let mut out = *ip;
    out[16..20].copy_from_slice(&new_dst);
    let check = csum::replace(u16::from_be_bytes([ip[10], ip[11]]), &old_dst, &new_dst);
    out[10..12].copy_from_slice(&check.to_be_bytes());
    let at = L4_V4 + csum_offset(key.proto);
    let l4 = frame::load::<2>(ctx, at)?;
    let l4 = l4_replace(key.proto, u16::from_be_bytes(l4), &old_dst, &new_dst);
    let l4 = l4_replace(
        key.proto,
        l4,
        &key.dport.to_be_bytes(),
        &new_port.to_be_bytes(),
    );
    frame::store(ctx, L3, &out)?;
    frame::store(ctx, L4_V4 + 2, &new_port.to_be_bytes())?;
    frame::store(ctx, at, &l4.to_be_bytes())?;
    if new_flow {
        remember(key, real, new_port, service);
    }
    Some(())
}

/// Rewrites an IPv6 packet (next header TCP/UDP) to `real`.
#[inline(never)]
pub fn rewrite6(
    ctx: &XdpContext,
    key: &FlowKey,
    real: &Real,
    service: u32,
    new_flow: bool,
) -> Option<()> {
    let new_port = if real.port == 0 { key.dport } else { real.port };
    let at = L4_V6 + csum_offset(key.proto);
    let l4 = frame::load::<2>(ctx, at)?;
    // UDP over IPv6 always carries a checksum: no zero special case.
    let l4 = csum::replace(u16::from_be_bytes(l4), &key.dst, &real.addr);
    let l4 = csum::replace(l4, &key.dport.to_be_bytes(), &new_port.to_be_bytes());
    frame::store(ctx, L3 + 24, &real.addr)?;
    frame::store(ctx, L4_V6 + 2, &new_port.to_be_bytes())?;
    frame::store(ctx, at, &l4.to_be_bytes())?;
    if new_flow {
        remember(key, real, new_port, service);
    }
    Some(())
}

/// The return path of NAT services: a reply from a server to a client gets the VIP and
/// port the client reached as its source. Attach on the LB's interfaces toward the servers
/// (TC ingress); everything else passes unchanged.
#[classifier]
pub fn lb_l4_nat_reply(ctx: TcContext) -> i32 {
    let _ = reply(&ctx);
    TC_ACT_OK
}

#[inline(always)]
fn reply(ctx: &TcContext) -> Option<()> {
    let ethertype = ctx.load::<[u8; 2]>(12).ok()?;
    match u16::from_be_bytes(ethertype) {
        0x0800 => reply4(ctx),
        0x86dd => reply6(ctx),
        _ => None,
    }
}

/// Flags of `bpf_l4_csum_replace` for `proto` (a UDP zero checksum stays zero).
#[inline(always)]
const fn l4_flags(proto: u8) -> u64 {
    if proto == IPPROTO_UDP {
        BPF_F_MARK_MANGLED_0 as u64
    } else {
        0
    }
}

#[inline(always)]
fn reply4(ctx: &TcContext) -> Option<()> {
    let ip = ctx.load::<[u8; 20]>(L3).ok()?;
    let proto = ip[9];
    if ip[0] != 0x45 || ip[6] & 0x3f != 0 || ip[7] != 0 {
        return None;
    }
    if proto != IPPROTO_TCP && proto != IPPROTO_UDP {
        return None;
    }
    let ports = ctx.load::<[u8; 4]>(L4_V4).ok()?;
    let mut key = FlowKey {
        sport: u16::from_be_bytes([ports[0], ports[1]]),
        dport: u16::from_be_bytes([ports[2], ports[3]]),
        proto,
        family: 4,
        ..FlowKey::default()
    };
    key.src[..4].copy_from_slice(&ip[12..16]);
    key.dst[..4].copy_from_slice(&ip[16..20]);
    // SAFETY: copied out at once.
    let rev = unsafe { LB_L4_NAT.get(&key) }.copied()?;
    let old_src = u32::from_ne_bytes([ip[12], ip[13], ip[14], ip[15]]);
    let new_src = u32::from_ne_bytes([rev.vip[0], rev.vip[1], rev.vip[2], rev.vip[3]]);
    let at = L4_V4 + csum_offset(proto);
    let flags = l4_flags(proto);
    // The helpers fix checksums the way the skb needs (also CHECKSUM_PARTIAL packets).
    ctx.l4_csum_replace(
        at,
        u64::from(old_src),
        u64::from(new_src),
        flags | BPF_F_PSEUDO_HDR as u64 | 4,
    )
    .ok()?;
    ctx.l3_csum_replace(L3 + 10, u64::from(old_src), u64::from(new_src), 4)
        .ok()?;
    ctx.store(
        L3 + 12,
        &[rev.vip[0], rev.vip[1], rev.vip[2], rev.vip[3]],
        0,
    )
    .ok()?;
    reply_port(ctx, at, flags, [ports[0], ports[1]], rev.port)
}

#[inline(always)]
fn reply6(ctx: &TcContext) -> Option<()> {
    let ip = ctx.load::<[u8; 40]>(L3).ok()?;
    let proto = ip[6];
    if ip[0] >> 4 != 6 || (proto != IPPROTO_TCP && proto != IPPROTO_UDP) {
        return None;
    }
    let ports = ctx.load::<[u8; 4]>(L4_V6).ok()?;
    let mut key = FlowKey {
        sport: u16::from_be_bytes([ports[0], ports[1]]),
        dport: u16::from_be_bytes([ports[2], ports[3]]),
        proto,
        family: 6,
        ..FlowKey::default()
    };
    key.src.copy_from_slice(&ip[8..24]);
    key.dst.copy_from_slice(&ip[24..40]);
    // SAFETY: copied out at once.
    let rev = unsafe { LB_L4_NAT.get(&key) }.copied()?;
    let at = L4_V6 + csum_offset(proto);
    let flags = l4_flags(proto) | BPF_F_PSEUDO_HDR as u64 | 4;
    let mut i = 0;
    while i < 16 {
        let old = u32::from_ne_bytes([ip[8 + i], ip[9 + i], ip[10 + i], ip[11 + i]]);
        let new = u32::from_ne_bytes([rev.vip[i], rev.vip[i + 1], rev.vip[i + 2], rev.vip[i + 3]]);
        ctx.l4_csum_replace(at, u64::from(old), u64::from(new), flags)
            .ok()?;
        i += 4;
    }
    ctx.store(L3 + 8, &rev.vip, 0).ok()?;
    reply_port(ctx, at, l4_flags(proto), [ports[0], ports[1]], rev.port)
}

/// Puts the VIP's port back as the source port.
#[inline(always)]
fn reply_port(ctx: &TcContext, at: usize, flags: u64, old: [u8; 2], port: u16) -> Option<()> {
    let new = port.to_be_bytes();
    if new == old {
        return Some(());
    }
    let old_v = u16::from_ne_bytes(old);
    let new_v = u16::from_ne_bytes(new);
    ctx.l4_csum_replace(at, u64::from(old_v), u64::from(new_v), flags | 2)
        .ok()?;
    let l4 = if at == L4_V4 + 16 || at == L4_V4 + 6 {
        L4_V4
    } else {
        L4_V6
    };
    ctx.store(l4, &new, 0).ok()
}
