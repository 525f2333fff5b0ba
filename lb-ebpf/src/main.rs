//! eBPF programs of the load balancer.
//!
//! One thin entry per hook; parsing lives in [`parse`], maps in [`maps`]. On the host this
//! crate builds as an empty binary so that workspace-wide `cargo clippy`/`cargo test` work and
//! the parsers run their unit tests.
#![cfg_attr(target_arch = "bpf", no_std)]
#![cfg_attr(target_arch = "bpf", no_main)]

#[cfg(any(target_arch = "bpf", test))]
mod l4;
#[cfg(target_arch = "bpf")]
mod maps;
#[cfg(target_arch = "bpf")]
mod packet;
#[cfg(any(target_arch = "bpf", test))]
mod parse;
#[cfg(target_arch = "bpf")]
mod xdp;

#[cfg(not(target_arch = "bpf"))]
fn main() {}

/// The kernel only lets GPL-compatible programs call some helpers (e.g. SYN cookies).
#[cfg(target_arch = "bpf")]
#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 13] = *b"Dual MIT/GPL\0";

#[cfg(target_arch = "bpf")]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo<'_>) -> ! {
    // The verifier rejects any path that could reach here, so it is never taken.
    loop {}
}
