//! Direct server return: the packet is wrapped in an outer IP header to the server (IPIP, or
//! IPv6-in-IPv6), which unwraps it and answers the client itself from the VIP. Also the
//! server-side program that unwraps, for kernels without `ipip`/`ip6tnl` devices.

use aya_ebpf::{bindings::xdp_action, macros::xdp, programs::XdpContext};
use lb_common::l4::{IPPROTO_IPIP, IPPROTO_IPV6, Real};

use super::{csum, frame, maps, xdp::L3};

const ETH_HLEN: usize = 14;
const IPV4_HLEN: usize = 20;
const IPV6_HLEN: usize = 40;
/// Hop limit of outer headers.
const OUTER_TTL: u8 = 64;

/// Prepends an outer IPv4 header (LB address -> server, protocol 4) to the IPv4 packet
/// whose header is `inner` and total length `tot_len`.
#[inline(always)]
pub fn ipip(ctx: &XdpContext, inner: &[u8; 20], real: &Real, tot_len: u16) -> Option<()> {
    let outer_len = tot_len.checked_add(IPV4_HLEN as u16)?;
    frame::adjust_head(ctx, -(IPV4_HLEN as i32))?;
    let eth = frame::load::<ETH_HLEN>(ctx, IPV4_HLEN)?;
    frame::store(ctx, 0, &eth)?;
    let src = maps::config().src4;
    let [len_hi, len_lo] = outer_len.to_be_bytes();
    // Version/IHL, the inner TOS, length, no ID, no DF (the kernel may fragment the outer
    // packet when the path is too small), TTL, protocol, checksum, addresses.
    let mut outer = [
        0x45,
        inner[1],
        len_hi,
        len_lo,
        0,
        0,
        0,
        0,
        OUTER_TTL,
        IPPROTO_IPIP,
        0,
        0,
        src[0],
        src[1],
        src[2],
        src[3],
        real.addr[0],
        real.addr[1],
        real.addr[2],
        real.addr[3],
    ];
    let [c_hi, c_lo] = csum::ipv4_header(&outer).to_be_bytes();
    outer[10] = c_hi;
    outer[11] = c_lo;
    frame::store(ctx, L3, &outer)
}

/// Prepends an outer IPv6 header (LB address -> server, next header 41) to the IPv6 packet
/// whose header is `inner`; the flow label spreads flows on the server's receive queues.
#[inline(never)]
pub fn ip6ip6(
    ctx: &XdpContext,
    inner: &[u8; 40],
    real: &Real,
    payload_len: u16,
    hash: u32,
) -> Option<()> {
    let outer_payload = payload_len.checked_add(IPV6_HLEN as u16)?;
    frame::adjust_head(ctx, -(IPV6_HLEN as i32))?;
    let eth = frame::load::<ETH_HLEN>(ctx, IPV6_HLEN)?;
    frame::store(ctx, 0, &eth)?;
    let src = maps::config().src6;
    let [p_hi, p_lo] = outer_payload.to_be_bytes();
    let mut outer = [0u8; IPV6_HLEN];
    // Traffic class copied from the inner header, then a 20-bit flow label.
    outer[0] = 0x60 | (inner[0] & 0x0f);
    outer[1] = (inner[1] & 0xf0) | ((hash >> 16) as u8 & 0x0f);
    outer[2] = (hash >> 8) as u8;
    outer[3] = hash as u8;
    outer[4] = p_hi;
    outer[5] = p_lo;
    outer[6] = IPPROTO_IPV6;
    outer[7] = OUTER_TTL;
    outer[8..24].copy_from_slice(&src);
    outer[24..40].copy_from_slice(&real.addr);
    frame::store(ctx, L3, &outer)
}

/// Removes the outer header of IPIP and IPv6-in-IPv6 packets, then passes the inner packet
/// to the kernel (which delivers it to the VIP held on `lo`). Attach it on a server's
/// interface toward the LB; every other frame passes untouched.
#[xdp]
pub fn lb_l4_decap(ctx: XdpContext) -> u32 {
    let _ = decap(&ctx);
    xdp_action::XDP_PASS
}

#[inline(always)]
fn decap(ctx: &XdpContext) -> Option<()> {
    let eth = frame::load::<ETH_HLEN>(ctx, 0)?;
    let strip = match u16::from_be_bytes([eth[12], eth[13]]) {
        0x0800 => {
            let ip = frame::load::<IPV4_HLEN>(ctx, L3)?;
            // Only outer headers as `ipip` builds them: no options, not fragmented.
            if ip[0] != 0x45 || ip[9] != IPPROTO_IPIP || ip[6] & 0x3f != 0 || ip[7] != 0 {
                return None;
            }
            IPV4_HLEN
        }
        0x86dd => {
            let ip = frame::load::<IPV6_HLEN>(ctx, L3)?;
            if ip[0] >> 4 != 6 || ip[6] != IPPROTO_IPV6 {
                return None;
            }
            IPV6_HLEN
        }
        _ => return None,
    };
    // The Ethernet header moves forward over the outer header, which the head then drops.
    if strip == IPV4_HLEN {
        frame::store(ctx, IPV4_HLEN, &eth)?;
        frame::adjust_head(ctx, IPV4_HLEN as i32)
    } else {
        frame::store(ctx, IPV6_HLEN, &eth)?;
        frame::adjust_head(ctx, IPV6_HLEN as i32)
    }
}
