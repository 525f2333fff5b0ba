//! The XDP L4 fast path (Katran's model): Maglev balancing with a connection table in XDP,
//! forwarding by IPIP / IPv6-in-IPv6 encapsulation (direct server return) or by NAT, whose
//! replies a TC program rewrites. Layouts live in `lb_common::l4`.
//!
//! Programs: `lb_l4` (XDP, the balancer), `lb_l4_nat_reply` (TC, NAT return path),
//! `lb_l4_decap` (XDP, for servers without tunnel devices), `lb_l4_pass` (XDP, for veth
//! peers that receive redirected frames).

#[cfg_attr(
    not(target_arch = "bpf"),
    allow(dead_code, reason = "used by the programs; tested on the host")
)]
pub mod csum;
#[cfg(target_arch = "bpf")]
mod encap;
#[cfg(target_arch = "bpf")]
mod fib;
#[cfg(target_arch = "bpf")]
mod frame;
#[cfg(target_arch = "bpf")]
mod maps;
#[cfg(target_arch = "bpf")]
mod nat;
#[cfg(target_arch = "bpf")]
mod xdp;
