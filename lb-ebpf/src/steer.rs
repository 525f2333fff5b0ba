//! The steering programs (`lb-steer` object): `sk_reuseport` worker selection and
//! `sk_lookup` address/port ranges. A separate object from the XDP programs, so that
//! loading it creates only its own small maps.
#![cfg_attr(target_arch = "bpf", no_std)]
#![cfg_attr(target_arch = "bpf", no_main)]

#[cfg(target_arch = "bpf")]
mod reuseport;
#[cfg(target_arch = "bpf")]
mod sk_lookup;
#[cfg(target_arch = "bpf")]
mod steer_maps;

#[cfg(not(target_arch = "bpf"))]
fn main() {}

/// `bpf_sk_assign` and the socket maps need a GPL-compatible program.
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
