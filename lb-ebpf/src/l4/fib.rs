//! Sending a rewritten frame on: `bpf_fib_lookup` gives the egress interface and both MAC
//! addresses; anything the lookup cannot settle (no neighbour entry yet, MTU exceeded, no
//! route, forwarding off) goes to the kernel, which routes the already rewritten packet.

use aya_ebpf::{
    bindings::xdp_action,
    helpers::{bpf_fib_lookup, bpf_redirect},
    programs::XdpContext,
};

use super::frame;

const AF_INET: u8 = 2;
const AF_INET6: u8 = 10;

/// `struct bpf_fib_lookup` without its unions (64 bytes, same layout).
#[repr(C)]
struct FibParams {
    family: u8,
    l4_protocol: u8,
    sport: u16,
    dport: u16,
    tot_len: u16,
    ifindex: u32,
    flowinfo: u32,
    src: [u8; 16],
    dst: [u8; 16],
    vlan_proto: u16,
    vlan_tci: u16,
    smac: [u8; 6],
    dmac: [u8; 6],
}

/// Looks up the route to `dst` (from `src`) and redirects the frame there, or passes it.
#[inline(never)]
pub fn forward(ctx: &XdpContext, family: u8, src: &[u8; 16], dst: &[u8; 16], tot_len: u16) -> u32 {
    let ingress = ctx.ingress_ifindex() as u32;
    let mut p = FibParams {
        family: if family == 4 { AF_INET } else { AF_INET6 },
        l4_protocol: 0,
        sport: 0,
        dport: 0,
        tot_len,
        ifindex: ingress,
        flowinfo: 0,
        src: *src,
        dst: *dst,
        vlan_proto: 0,
        vlan_tci: 0,
        smac: [0; 6],
        dmac: [0; 6],
    };
    // SAFETY: `p` has the layout of `struct bpf_fib_lookup` and outlives the call.
    let rc = unsafe {
        bpf_fib_lookup(
            ctx.ctx.cast(),
            (&raw mut p).cast(),
            size_of::<FibParams>() as i32,
            0,
        )
    };
    if rc != 0 {
        return xdp_action::XDP_PASS;
    }
    let mut macs = [0u8; 12];
    macs[..6].copy_from_slice(&p.dmac);
    macs[6..].copy_from_slice(&p.smac);
    if frame::store(ctx, 0, &macs).is_none() {
        return xdp_action::XDP_PASS;
    }
    if p.ifindex == ingress {
        return xdp_action::XDP_TX;
    }
    // SAFETY: plain helper call; it only records the target.
    unsafe { bpf_redirect(p.ifindex, 0) as u32 }
}
