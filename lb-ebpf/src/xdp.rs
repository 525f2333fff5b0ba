//! The XDP entry program: classify, count, pass.

use aya_ebpf::{bindings::xdp_action, macros::xdp, programs::XdpContext};

use crate::{maps, packet::XdpPacket, parse};

/// Counts every frame by the reason of its verdict, then passes it to the kernel stack.
#[xdp]
pub fn lb_xdp(ctx: XdpContext) -> u32 {
    let packet = XdpPacket::new(&ctx);
    let reason = parse::classify(&packet);
    maps::count(reason, parse::Packet::len(&packet));
    xdp_action::XDP_PASS
}
